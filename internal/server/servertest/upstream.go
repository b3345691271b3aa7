package servertest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Upstream is a fake provider API that only checks keys: it accepts
// "Authorization: Bearer <key>" for the keys it currently knows, like a
// provider where keys are generated and revoked, and HTTP Basic with a
// user name and password known as the key "user:password".
//
//	GET /me      → 200 {"ok":true} or 401
//	ANY /echo/…  → 200 with the request as JSON (method, path, query,
//	               headers but Authorization, body length)
//	GET /echo-key-on-401 → 401 whose body repeats the key it was sent
type Upstream struct {
	*httptest.Server
	mu       sync.Mutex
	keys     map[string]bool
	lastAuth []string
	Requests atomic.Int64
	Rejected atomic.Int64
}

// LastAuthorization is every Authorization header of the last /echo
// request.
func (u *Upstream) LastAuthorization() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.lastAuth...)
}

// NewUpstream starts an upstream that accepts keys.
func NewUpstream(t testing.TB, keys ...string) *Upstream {
	u := &Upstream{keys: map[string]bool{}}
	for _, k := range keys {
		u.keys[k] = true
	}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	return u
}

// AddKey makes key valid ("generate a new key at the provider").
func (u *Upstream) AddKey(key string) {
	u.mu.Lock()
	u.keys[key] = true
	u.mu.Unlock()
}

// RevokeKey makes key invalid ("revoke the old key at the provider").
func (u *Upstream) RevokeKey(key string) {
	u.mu.Lock()
	delete(u.keys, key)
	u.mu.Unlock()
}

func (u *Upstream) valid(r *http.Request) (string, bool) {
	key, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if user, pass, ok := r.BasicAuth(); ok {
		key = user + ":" + pass
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return key, u.keys[key]
}

func (u *Upstream) serve(w http.ResponseWriter, r *http.Request) {
	u.Requests.Add(1)
	key, ok := u.valid(r)
	if !ok {
		u.Rejected.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		msg := "invalid api key"
		if r.URL.Path == "/echo-key-on-401" || r.URL.Path == "/me" {
			// Some providers repeat the rejected key; Storm must not pass
			// it on in errors.
			msg = "invalid api key: " + key
		}
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg}})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/me":
		json.NewEncoder(w).Encode(map[string]any{"ok": true})
	case strings.HasPrefix(r.URL.Path, "/echo"):
		n := 0
		if r.Body != nil {
			buf := make([]byte, 32<<10)
			for {
				m, err := r.Body.Read(buf)
				n += m
				if err != nil {
					break
				}
			}
		}
		// The echo leaves out Authorization so that proxied answers
		// never carry the key; tests read it from LastAuthorization.
		headers := map[string]string{}
		for k := range r.Header {
			if k != "Authorization" {
				headers[k] = r.Header.Get(k)
			}
		}
		u.mu.Lock()
		u.lastAuth = r.Header.Values("Authorization")
		u.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"method": r.Method, "path": r.URL.EscapedPath(), "query": r.URL.RawQuery, "headers": headers, "body_len": n})
	default:
		http.NotFound(w, r)
	}
}
