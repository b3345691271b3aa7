package githubapptest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// APIVersion is the X-GitHub-Api-Version the server accepts (others get
// a 400, as at GitHub; the header may also be left out).
const APIVersion = "2022-11-28"

// Options configures a Server; the zero value is a sensible default.
type Options struct {
	// Prefix is the REST API's path prefix: "" as at api.github.com,
	// "/api/v3" as at a GitHub Enterprise Server.
	Prefix string
	// TokenTTL is an installation token's lifetime; default 1 h.
	TokenTTL time.Duration
	// Skew is the clock drift allowed for iat; default 60 s.
	Skew time.Duration
	// Now defaults to time.Now.
	Now func() time.Time
}

// Server is a GitHub-like REST API for GitHub Apps. Its methods are
// safe for concurrent use.
type Server struct {
	URL string

	opts Options
	srv  *httptest.Server

	mu            sync.Mutex
	apps          map[string]*rsa.PublicKey // app id → public key
	installations map[string]string         // installation id → app id
	tokens        map[string]issued
	failN         int
	failStatus    int
	lastJWT       string

	mints, refusals, apiCalls atomic.Int64
}

type issued struct {
	installation string
	expires      time.Time
}

// New starts a Server; it is closed when the test ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = time.Hour
	}
	if opts.Skew <= 0 {
		opts.Skew = 60 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, apps: map[string]*rsa.PublicKey{}, installations: map[string]string{}, tokens: map[string]issued{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+opts.Prefix+"/app/installations/{id}/access_tokens", s.handleMint)
	mux.HandleFunc("GET "+opts.Prefix+"/installation/repositories", s.handleRepositories)
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// BaseURL is what a client configures as base_url (URL + Prefix).
func (s *Server) BaseURL() string { return s.URL + s.opts.Prefix }

// RepositoriesURL is a resource that takes an installation token.
func (s *Server) RepositoriesURL() string { return s.BaseURL() + "/installation/repositories" }

// AddApp registers an app and the public key of its private key.
func (s *Server) AddApp(appID string, pub *rsa.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apps[appID] = pub
}

// AddInstallation installs app appID as installationID.
func (s *Server) AddInstallation(appID, installationID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.installations[installationID] = appID
}

// FailNext makes the next n mint requests answer status.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failStatus = n, status
}

// Mints counts installation tokens issued; Refusals counts refused mint
// requests; APICalls counts resource calls.
func (s *Server) Mints() int64    { return s.mints.Load() }
func (s *Server) Refusals() int64 { return s.refusals.Load() }
func (s *Server) APICalls() int64 { return s.apiCalls.Load() }

// LastJWT is the app JWT of the last mint request.
func (s *Server) LastJWT() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastJWT
}

// Valid reports whether token is a live installation token.
func (s *Server) Valid(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[token]
	return ok && s.opts.Now().Before(t.expires)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) refuse(w http.ResponseWriter, status int, message string) {
	s.refusals.Add(1)
	writeJSON(w, status, map[string]string{"message": message, "documentation_url": "https://docs.github.com/rest"})
}

func (s *Server) handleMint(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("User-Agent") == "" {
		s.refuse(w, http.StatusForbidden, "Request forbidden by administrative rules. Please make sure your request has a User-Agent header")
		return
	}
	if v := r.Header.Get("X-GitHub-Api-Version"); v != "" && v != APIVersion {
		s.refuse(w, http.StatusBadRequest, "API version "+v+" is not supported.")
		return
	}
	s.mu.Lock()
	if s.failN > 0 {
		s.failN--
		status := s.failStatus
		s.mu.Unlock()
		s.refuse(w, status, "injected failure")
		return
	}
	s.mu.Unlock()

	const bearer = "Bearer "
	h := r.Header.Get("Authorization")
	if !strings.HasPrefix(h, bearer) {
		s.refuse(w, http.StatusUnauthorized, "A JSON web token could not be decoded")
		return
	}
	jwt := h[len(bearer):]
	s.mu.Lock()
	s.lastJWT = jwt
	s.mu.Unlock()
	appID, problem := s.verifyJWT(jwt)
	if problem != "" {
		s.refuse(w, http.StatusUnauthorized, problem)
		return
	}
	inst := r.PathValue("id")
	s.mu.Lock()
	owner, ok := s.installations[inst]
	s.mu.Unlock()
	if !ok || owner != appID {
		s.refuse(w, http.StatusNotFound, "Not Found")
		return
	}
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	token := "ghs_" + hex.EncodeToString(b)
	expires := s.opts.Now().Add(s.opts.TokenTTL).UTC().Truncate(time.Second)
	s.mu.Lock()
	s.tokens[token] = issued{inst, expires}
	s.mu.Unlock()
	s.mints.Add(1)
	writeJSON(w, http.StatusCreated, map[string]any{
		"token": token, "expires_at": expires.Format(time.RFC3339),
		"permissions": map[string]string{"contents": "read", "metadata": "read"}, "repository_selection": "all",
	})
}

// verifyJWT checks an app JWT as GitHub does: RS256 only, signed by the
// key of the app named in iss, iat not in the future (beyond the skew),
// exp in the future and at most 10 minutes after now and after iat.
// It returns the app id, or GitHub's message for the refusal.
func (s *Server) verifyJWT(jwt string) (appID, problem string) {
	const undecodable = "A JSON web token could not be decoded"
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "", undecodable
	}
	var header struct {
		Alg string `json:"alg"`
	}
	var claims struct {
		Iss json.RawMessage `json:"iss"`
		Iat *json.Number    `json:"iat"`
		Exp *json.Number    `json:"exp"`
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &header) != nil || json.Unmarshal(cb, &claims) != nil {
		return "", undecodable
	}
	if header.Alg != "RS256" {
		return "", undecodable
	}
	// iss may be a number (app id) or a string (app id or client id).
	var iss string
	if json.Unmarshal(claims.Iss, &iss) != nil {
		var n json.Number
		if json.Unmarshal(claims.Iss, &n) != nil {
			return "", "'Issuer' claim ('iss') must be an Integer"
		}
		iss = n.String()
	}
	s.mu.Lock()
	pub, ok := s.apps[iss]
	s.mu.Unlock()
	if !ok {
		return "", undecodable
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) != nil {
		return "", undecodable
	}
	if claims.Iat == nil || claims.Exp == nil {
		return "", "Missing 'issued at' or 'expiration time' claim"
	}
	iat, err1 := claims.Iat.Int64()
	exp, err2 := claims.Exp.Int64()
	if err1 != nil || err2 != nil {
		return "", undecodable
	}
	now := s.opts.Now()
	switch {
	case time.Unix(iat, 0).After(now.Add(s.opts.Skew)):
		return "", "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
	case !time.Unix(exp, 0).After(now):
		return "", "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
	case time.Unix(exp, 0).After(now.Add(10 * time.Minute)), exp-iat > 600:
		return "", "'Expiration time' claim ('exp') is too far in the future"
	}
	return iss, ""
}

func (s *Server) handleRepositories(w http.ResponseWriter, r *http.Request) {
	s.apiCalls.Add(1)
	h := r.Header.Get("Authorization")
	var tok string
	for _, scheme := range []string{"Bearer ", "token "} {
		if strings.HasPrefix(h, scheme) {
			tok = h[len(scheme):]
		}
	}
	s.mu.Lock()
	t, ok := s.tokens[tok]
	live := ok && s.opts.Now().Before(t.expires)
	s.mu.Unlock()
	if !live {
		s.refuse(w, http.StatusUnauthorized, "Bad credentials")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": 1, "installation": t.installation,
		"repositories": []map[string]string{{"full_name": "octo-org/hello-world"}}})
}
