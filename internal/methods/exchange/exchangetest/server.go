package exchangetest

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Options configures a Server; the zero value is a sensible default.
type Options struct {
	// SessionTTL is a session token's lifetime; default 2 s.
	SessionTTL time.Duration
	// Now defaults to time.Now.
	Now func() time.Time
	// EchoCredential makes refusals quote the credential they refused,
	// as careless providers do, to test that clients scrub it.
	EchoCredential bool
}

// Server is a session-token API: exchange endpoints that check a key (or
// a username and password) and answer a session token, and a protected
// resource that accepts only live session tokens. Its methods are safe
// for concurrent use.
//
// Exchange endpoints (each answers the same document, see Answer):
//
//	POST /auth/session   JSON {"key"} or {"username","password"}
//	POST /auth/form      form key=… or username=…&password=…
//	GET  /auth/query     ?key=…
//	POST /auth/header    header X-Api-Key
//
// The resource is any path under /api/; it takes the session token as
// "Authorization: Bearer …", as header X-Session-Token, or as query
// parameter session_token.
type Server struct {
	URL string

	opts Options
	srv  *httptest.Server

	mu       sync.Mutex
	keys     map[string]bool
	users    map[string]string
	sessions map[string]time.Time
	failN    int
	status   int

	exchanges, refusals, served, rejected atomic.Int64
}

// New starts a Server; it is closed when the test ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = 2 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, keys: map[string]bool{}, users: map[string]string{}, sessions: map[string]time.Time{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /auth/session", s.handleExchange)
	mux.HandleFunc("PUT /auth/session", s.handleExchange)
	mux.HandleFunc("POST /auth/form", s.handleExchange)
	mux.HandleFunc("GET /auth/query", s.handleExchange)
	mux.HandleFunc("POST /auth/header", s.handleExchange)
	mux.HandleFunc("/api/", s.handleResource)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// AddKey accepts an API key; AddUser a username and password.
func (s *Server) AddKey(key string) { s.mu.Lock(); s.keys[key] = true; s.mu.Unlock() }

// RevokeKey stops accepting key (sessions already issued stay live).
func (s *Server) RevokeKey(key string) { s.mu.Lock(); delete(s.keys, key); s.mu.Unlock() }

// AddUser accepts username with password.
func (s *Server) AddUser(username, password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[username] = password
}

// EndAllSessions invalidates every session token at once (a provider
// restart), so the next resource calls are answered 401.
func (s *Server) EndAllSessions() { s.mu.Lock(); clear(s.sessions); s.mu.Unlock() }

// FailNext makes the next n exchanges answer status.
func (s *Server) FailNext(n, status int) { s.mu.Lock(); s.failN, s.status = n, status; s.mu.Unlock() }

// Exchanges counts sessions issued; Refusals refused exchanges; Served
// and Rejected resource calls answered 200 and 401.
func (s *Server) Exchanges() int64 { return s.exchanges.Load() }
func (s *Server) Refusals() int64  { return s.refusals.Load() }
func (s *Server) Served() int64    { return s.served.Load() }
func (s *Server) Rejected() int64  { return s.rejected.Load() }

// ResourceURL is a protected resource.
func (s *Server) ResourceURL() string { return s.URL + "/api/items" }

// Answer is an exchange's answer: the session token in several places
// and the lifetime in several spellings, so a test picks its pointers.
type Answer struct {
	Token        string         `json:"token"`
	ExpiresIn    int64          `json:"expires_in"`
	ExpiresInStr string         `json:"expires_in_str"`
	ExpiresAt    string         `json:"expires_at"`
	ExpiresAtNum int64          `json:"expires_at_unix"`
	ExpiresAtMs  int64          `json:"expires_at_ms"`
	Data         map[string]any `json:"data"`
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) handleExchange(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.failN > 0 {
		s.failN--
		status := s.status
		s.mu.Unlock()
		w.Header().Set("Retry-After", "3")
		s.writeJSON(w, status, map[string]string{"message": "injected failure"})
		return
	}
	s.mu.Unlock()

	var key, user, pass string
	switch r.URL.Path {
	case "/auth/session":
		var body struct{ Key, Username, Password string }
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&body); err != nil || r.Header.Get("Content-Type") != "application/json" {
			s.writeJSON(w, http.StatusBadRequest, map[string]string{"message": "send JSON"})
			return
		}
		key, user, pass = body.Key, body.Username, body.Password
	case "/auth/form":
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			s.writeJSON(w, http.StatusBadRequest, map[string]string{"message": "send a form"})
			return
		}
		key, user, pass = r.PostForm.Get("key"), r.PostForm.Get("username"), r.PostForm.Get("password")
	case "/auth/query":
		key = r.URL.Query().Get("key")
	case "/auth/header":
		key = r.Header.Get("X-Api-Key")
	}

	s.mu.Lock()
	ok := key != "" && s.keys[key]
	if !ok && user != "" {
		want, known := s.users[user]
		ok = known && subtle.ConstantTimeCompare([]byte(want), []byte(pass)) == 1
	}
	var tok string
	var expires time.Time
	if ok {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		tok = "sess_" + hex.EncodeToString(b)
		expires = s.opts.Now().Add(s.opts.SessionTTL)
		s.sessions[tok] = expires
	}
	s.mu.Unlock()
	if !ok {
		s.refusals.Add(1)
		msg := "invalid credentials"
		if s.opts.EchoCredential {
			msg += ": " + key + pass
		}
		s.writeJSON(w, http.StatusUnauthorized, map[string]string{"message": msg})
		return
	}
	s.exchanges.Add(1)
	secs := int64(s.opts.SessionTTL / time.Second)
	s.writeJSON(w, http.StatusOK, Answer{
		Token: tok, ExpiresIn: secs, ExpiresInStr: strconv.FormatInt(secs, 10),
		ExpiresAt: expires.UTC().Format(time.RFC3339Nano), ExpiresAtNum: expires.Unix(), ExpiresAtMs: expires.UnixMilli(),
		Data: map[string]any{"session": map[string]any{"id": tok}, "list": []any{map[string]any{"t": tok}}},
	})
}

func (s *Server) handleResource(w http.ResponseWriter, r *http.Request) {
	tok := r.Header.Get("X-Session-Token")
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		tok = h[len("Bearer "):]
	}
	if q := r.URL.Query().Get("session_token"); q != "" {
		tok = q
	}
	s.mu.Lock()
	exp, ok := s.sessions[tok]
	live := ok && s.opts.Now().Before(exp)
	s.mu.Unlock()
	if !live {
		s.rejected.Add(1)
		s.writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "session expired or unknown"})
		return
	}
	s.served.Add(1)
	s.writeJSON(w, http.StatusOK, map[string]any{"items": []string{"a", "b"}})
}
