package servertest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/creds"
	"github.com/stormcreds/storm/internal/keys"
	"github.com/stormcreds/storm/internal/server"
	"github.com/stormcreds/storm/internal/tokens"
	"github.com/stormcreds/storm/internal/webhooks"
)

// Env is a running Storm for one test.
type Env struct {
	T          testing.TB
	Server     *server.Server
	HTTP       *httptest.Server
	URL        string
	AdminToken string
	DataDir    string
	Logs       *SyncBuffer

	mu         sync.Mutex
	transcript []Exchange
}

// Exchange is one API call as Do saw it, kept for tests that scan every
// answer (the secrets canary).
type Exchange struct {
	Method, Path string
	Response
}

// Transcript returns every exchange made through Do so far.
func (e *Env) Transcript() []Exchange {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Exchange(nil), e.transcript...)
}

// Options adjust Start.
type Options struct {
	DataDir  string // default t.TempDir()
	Database string // default SQLite in DataDir
	KEKURL   string
	// DenyPrivateUpstreams keeps the egress guard's default (refuse
	// loopback); tests usually need loopback upstreams allowed.
	DenyPrivateUpstreams bool
	// CredentialCacheTTL is passed to the server (zero: its default).
	CredentialCacheTTL time.Duration
	// PublicURL, Tokens and NoBackground are passed to the server.
	PublicURL    string
	Tokens       tokens.Config
	NoBackground bool
	// Keys is passed to the server (key management: keyring poll and
	// re-wrap job timings).
	Keys keys.Config
	// Verify schedules health verification (off when zero).
	Verify creds.VerifySchedule
	// Webhooks tunes webhook delivery (zero: the server's defaults).
	Webhooks webhooks.Tuning
}

// SyncBuffer is a goroutine-safe log sink.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Start opens a server as `storm serve` would and serves it on a
// loopback httptest server. Logs go to Env.Logs at debug level.
func Start(t testing.TB, opts Options) *Env {
	t.Helper()
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	logs := &SyncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// Listen first: the public URL (OAuth redirect URI) is the test
	// server's own address.
	hs := httptest.NewUnstartedServer(nil)
	if opts.PublicURL == "" {
		opts.PublicURL = "http://" + hs.Listener.Addr().String()
	}
	srv, err := server.Open(context.Background(), server.Config{
		DataDir: opts.DataDir, Database: opts.Database, KEKURL: opts.KEKURL,
		AllowPrivateUpstreams: !opts.DenyPrivateUpstreams, Logger: logger, CredentialCacheTTL: opts.CredentialCacheTTL,
		PublicURL: opts.PublicURL, Tokens: opts.Tokens, NoBackground: opts.NoBackground, Keys: opts.Keys, Verify: opts.Verify,
		Webhooks: opts.Webhooks,
	})
	if err != nil {
		hs.Close()
		t.Fatalf("open server: %v", err)
	}
	hs.Config.Handler = srv.Handler()
	hs.Start()
	stopBackground := srv.StartBackground(context.Background())
	t.Cleanup(func() {
		stopBackground()
		hs.Close()
		srv.Close()
		if t.Failed() {
			t.Logf("server logs:\n%s", logs.String())
		}
	})
	tok, err := os.ReadFile(filepath.Join(opts.DataDir, server.AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	return &Env{T: t, Server: srv, HTTP: hs, URL: hs.URL, AdminToken: strings.TrimSpace(string(tok)), DataDir: opts.DataDir, Logs: logs}
}

// Response is a completed API call.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a map (fails the test if it is not JSON).
func (r Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response %d is not a JSON object: %v: %s", r.Status, err, r.Body)
	}
	return m
}

// Do sends an API request with token (admin when empty) and a JSON body
// (any value, or a string/[]byte sent as is).
func (e *Env) Do(method, path, token string, body any) Response {
	e.T.Helper()
	if token == "" {
		token = e.AdminToken
	}
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		js, err := json.Marshal(b)
		if err != nil {
			e.T.Fatal(err)
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, e.URL+path, rd)
	if err != nil {
		e.T.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.T.Fatal(err)
	}
	out := Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	e.mu.Lock()
	e.transcript = append(e.transcript, Exchange{Method: method, Path: path, Response: out})
	e.mu.Unlock()
	return out
}

// Must is Do that fails the test unless the status is want, and returns
// the decoded body (nil for an empty one).
func (e *Env) Must(want int, method, path, token string, body any) map[string]any {
	e.T.Helper()
	r := e.Do(method, path, token, body)
	if r.Status != want {
		e.T.Fatalf("%s %s: status %d, want %d: %s", method, path, r.Status, want, r.Body)
	}
	if len(r.Body) == 0 {
		return nil
	}
	return r.JSON(e.T)
}

// CustomIntegration creates a `custom` API-key integration pointing at
// upstream (Authorization: Bearer <key>, verified with GET /me) and
// returns its id.
func (e *Env) CustomIntegration(name string, upstream *Upstream) string {
	e.T.Helper()
	in := e.Must(http.StatusCreated, "POST", "/v1/integrations", "", map[string]any{
		"name": name, "provider": "custom", "auth_method": "api_key",
		"config": map[string]any{
			"base_url": upstream.URL,
			"api_key":  map[string]any{"in": "header", "name": "Authorization", "prefix": "Bearer "},
			"verify":   map[string]any{"method": "GET", "path": "/me"},
		},
	})
	return in["id"].(string)
}

// NewToken creates an API token with role in workspace and returns it.
func (e *Env) NewToken(role, workspace string) string {
	e.T.Helper()
	r := e.Must(http.StatusCreated, "POST", "/v1/tokens", "", map[string]any{"name": role + " token", "role": role, "workspace": workspace})
	return r["token"].(string)
}
