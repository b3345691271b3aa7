package proxy

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// seen is what an upstream recorded about one request.
type seen struct {
	Method     string
	RequestURI string
	Host       string
	Header     http.Header
	Body       []byte
}

// upstream is a fake API that records every request and answers with
// handle (or 200 "ok").
type upstream struct {
	*httptest.Server
	hits   atomic.Int64
	mu     sync.Mutex
	reqs   []seen
	handle http.HandlerFunc
}

func newUpstream(t *testing.T, handle http.HandlerFunc) *upstream {
	t.Helper()
	u := &upstream{handle: handle}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		s := seen{Method: r.Method, RequestURI: r.RequestURI, Host: r.Host, Header: r.Header.Clone()}
		if u.handle == nil {
			s.Body, _ = io.ReadAll(r.Body)
		}
		u.mu.Lock()
		u.reqs = append(u.reqs, s)
		u.mu.Unlock()
		if u.handle != nil {
			u.handle(w, r)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) last(t *testing.T) seen {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("upstream received no request")
	}
	return u.reqs[len(u.reqs)-1]
}

func (u *upstream) base(t *testing.T, path string) *url.URL {
	t.Helper()
	b, err := url.Parse(u.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newTestProxy builds a Proxy whose log goes to the returned buffer.
func newTestProxy(t *testing.T, cfg Config) (*Proxy, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p, logs
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// bearer is a Credential that sets Authorization: Bearer token.
func bearer(token string) Credential {
	return CredentialFunc(func(r *http.Request) error {
		r.Header.Set("Authorization", "Bearer "+token)
		return nil
	})
}

// counted is a Fallback that counts the retries it answered.
type counted struct {
	Credential
	n *atomic.Int64
}

func (c counted) Answered() { c.n.Add(1) }

// queryKey is a Credential that sets the query parameter name=key.
func queryKey(name, key string) Credential {
	return CredentialFunc(func(r *http.Request) error {
		q := r.URL.Query()
		q.Set(name, key)
		r.URL.RawQuery = q.Encode()
		return nil
	})
}

// front is a Storm-like server: /proxy/{path...} goes to the target that
// mk builds, with the path taken from EscapedPath as the API layer does.
func front(t *testing.T, p *Proxy, mk func(r *http.Request) Target) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/proxy/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		tg := mk(r)
		tg.Path, tg.RawQuery = rest, r.URL.RawQuery
		if tg.ProxyPrefix == "" {
			tg.ProxyPrefix = "/proxy"
		}
		p.ServeTarget(w, r, tg)
	}))
	t.Cleanup(s.Close)
	return s
}

// serve runs one ServeTarget call in-process.
func serve(p *Proxy, method string, body io.Reader, hdr http.Header, tg Target) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "http://storm.test/proxy/x", body)
	for k, vs := range hdr {
		r.Header[k] = vs
	}
	w := httptest.NewRecorder()
	p.ServeTarget(w, r, tg)
	return w
}

// wantProblem checks that w is an application/problem+json with status.
func wantProblem(t *testing.T, w *httptest.ResponseRecorder, status int) map[string]any {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status = %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json", ct)
	}
	var pb map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &pb); err != nil {
		t.Fatalf("problem body: %v", err)
	}
	if pb["status"] != float64(status) || pb["title"] == "" || pb["type"] == nil {
		t.Fatalf("problem body %v lacks type/title/status", pb)
	}
	return pb
}
