package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// The server here imitates transport only (status codes, headers, body
// shapes from API.md); end-to-end behaviour is tested against the real
// server elsewhere.

const testToken = "stk_test_0123456789"

// seen is what the fake server received.
type seen struct {
	Method     string
	RequestURI string // escaped path and query, as sent on the wire
	Header     http.Header
	Body       []byte
}

type fake struct {
	mu   sync.Mutex
	reqs []seen
}

func (f *fake) last(t *testing.T) seen {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		t.Fatal("server received no request")
	}
	return f.reqs[len(f.reqs)-1]
}

func (f *fake) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

// newFake starts a server that records each request and answers with
// status, content type and body.
func newFake(t *testing.T, status int, ctype, body string, opts ...Option) (*Client, *fake) {
	t.Helper()
	f := &fake{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, seen{r.Method, r.RequestURI, r.Header.Clone(), b})
		f.mu.Unlock()
		if ctype != "" {
			w.Header().Set("Content-Type", ctype)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, testToken, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c, f
}

func TestNewRejectsBadInput(t *testing.T) {
	for _, tc := range []struct{ url, token, want string }{
		{"127.0.0.1:8080", "", "invalid server URL"},
		{"localhost:8080", "", "must start with http"},
		{"ftp://host", "", "must start with http"},
		{"http://", "", "no host"},
		{"http://user:pw@host", "", "user info"},
		{"http://host/?x=1", "", "query or fragment"},
		{"http://host", "secret token", "not allowed in an HTTP header"},
		{"http://host", "secret\r\nX-Evil: 1", "not allowed in an HTTP header"},
	} {
		_, err := New(tc.url, tc.token)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%q): err = %v, want %q", tc.url, err, tc.want)
		}
		if err != nil && tc.token != "" && strings.Contains(err.Error(), "secret") {
			t.Errorf("New error repeats the token: %v", err)
		}
	}
	c, err := New("https://storm.example/prefix/", "")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.BaseURL(); got != "https://storm.example/prefix" {
		t.Errorf("BaseURL = %q", got)
	}
}

func TestHeadersSent(t *testing.T) {
	c, f := newFake(t, 200, "application/json", `{"providers":[]}`)
	if _, err := c.Providers(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := f.last(t).Header
	if got := h.Get("Authorization"); got != "Bearer "+testToken {
		t.Errorf("Authorization = %q", got)
	}
	if got := h.Get("User-Agent"); got != DefaultUserAgent {
		t.Errorf("User-Agent = %q", got)
	}

	c, f = newFake(t, 200, "application/json", `{"status":"ok"}`, WithUserAgent("sync/2"), WithHTTPClient(&http.Client{Timeout: 5 * time.Second}))
	if err := c.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := f.last(t).Header.Get("User-Agent"); got != "sync/2" {
		t.Errorf("User-Agent = %q", got)
	}

	// Without a token no Authorization header is sent at all.
	srvClient, f := newFake(t, 200, "application/json", `{"status":"ok"}`)
	anon, _ := New(srvClient.BaseURL(), "")
	if err := anon.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, ok := f.last(t).Header["Authorization"]; ok {
		t.Errorf("Authorization sent without a token: %q", got)
	}
}

func TestProblemDetails(t *testing.T) {
	for _, tc := range []struct {
		name, ctype, body string
		status            int
		want              string
		fields            int
	}{
		{"not found", "application/problem+json",
			`{"type":"about:blank","title":"Not Found","status":404,"detail":"integration int_x not found"}`,
			404, "404 Not Found: integration int_x not found", 0},
		{"field errors", "application/problem+json; charset=utf-8",
			`{"title":"Bad Request","status":400,"detail":"invalid request","errors":[{"field":"name","message":"required"},{"field":"role","message":"unknown role"}]}`,
			400, "400 Bad Request: invalid request (name: required; role: unknown role)", 2},
		{"http status wins", "application/problem+json",
			`{"title":"Conflict","status":200,"detail":"name taken"}`,
			409, "409 Conflict: name taken", 0},
		{"no title", "application/problem+json", `{"status":422,"detail":"verification failed: upstream 401"}`,
			422, "422 Unprocessable Entity: verification failed: upstream 401", 0},
		{"plain text", "text/plain; charset=utf-8", "upstream timed out\nsecond line", 504,
			"504 Gateway Timeout: upstream timed out", 0},
		{"html", "text/html", "<html>bad gateway</html>", 502, "502 Bad Gateway", 0},
		{"broken json", "application/problem+json", `{"title":`, 500, "500 Internal Server Error", 0},
		{"control characters", "application/problem+json",
			"{\"title\":\"Forbidden\",\"detail\":\"role \\u001b[31mviewer\\nmay not\"}", 403,
			"403 Forbidden: role  [31mviewer may not", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newFake(t, tc.status, tc.ctype, tc.body)
			_, err := c.Integration(context.Background(), "int_x")
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %T %v, want *Error", err, err)
			}
			if e.Error() != tc.want {
				t.Errorf("Error() = %q\nwant      %q", e.Error(), tc.want)
			}
			if e.Status != tc.status || StatusCode(err) != tc.status {
				t.Errorf("status = %d, StatusCode = %d, want %d", e.Status, StatusCode(err), tc.status)
			}
			if len(e.Errors) != tc.fields {
				t.Errorf("field errors = %v", e.Errors)
			}
		})
	}
	if StatusCode(errors.New("x")) != 0 {
		t.Error("StatusCode of a non-*Error")
	}
}

func TestQueryParameters(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		body string
		call func(c *Client) error
		want string
	}{
		{"events filter", `{"events":[]}`, func(c *Client) error {
			_, err := c.Events(ctx, EventFilter{Workspace: "ws a", Integration: "int_1", After: "evt_9", Limit: 50})
			return err
		}, "/v1/events?after=evt_9&integration=int_1&limit=50&workspace=ws+a"},
		{"events no filter", `{"events":[]}`, func(c *Client) error {
			_, err := c.Events(ctx, EventFilter{})
			return err
		}, "/v1/events"},
		{"audit", `{"audit":[]}`, func(c *Client) error {
			_, err := c.Audit(ctx, AuditFilter{After: "aud_1", Limit: 10})
			return err
		}, "/v1/audit?after=aud_1&limit=10"},
		{"integrations workspace", `{"integrations":[]}`, func(c *Client) error {
			_, err := c.Integrations(ctx, "acme&x=1")
			return err
		}, "/v1/integrations?limit=1000&workspace=acme%26x%3D1"},
		{"save verifies by default", `{"id":"cred_1"}`, func(c *Client) error {
			_, err := c.SaveCredential(ctx, "int_1", map[string]any{"api_key": "k"}, true)
			return err
		}, "/v1/integrations/int_1/credentials"},
		{"save without verification", `{"id":"cred_1"}`, func(c *Client) error {
			_, err := c.SaveCredential(ctx, "int_1", map[string]any{"api_key": "k"}, false)
			return err
		}, "/v1/integrations/int_1/credentials?verify=false"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, f := newFake(t, 200, "application/json", tc.body)
			if err := tc.call(c); err != nil {
				t.Fatal(err)
			}
			if got := f.last(t).RequestURI; got != tc.want {
				t.Errorf("request URI = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestIDsAreEscapedAndConfined(t *testing.T) {
	ctx := context.Background()
	c, f := newFake(t, 200, "application/json", `{"id":"x"}`)
	for _, tc := range []struct{ id, want string }{
		{"int_abc", "/v1/integrations/int_abc"},
		{"int a?b#c", "/v1/integrations/int%20a%3Fb%23c"},
		{"int_%2e%2e", "/v1/integrations/int_%252e%252e"},
	} {
		if _, err := c.Integration(ctx, tc.id); err != nil {
			t.Fatal(err)
		}
		if got := f.last(t).RequestURI; got != tc.want {
			t.Errorf("Integration(%q) sent %q, want %q", tc.id, got, tc.want)
		}
	}
	if _, err := c.RevokeCredential(ctx, "int_1", "cred 2"); err != nil {
		t.Fatal(err)
	}
	if got := f.last(t).RequestURI; got != "/v1/integrations/int_1/credentials/cred%202/revoke" {
		t.Errorf("revoke sent %q", got)
	}

	before := f.count()
	for _, id := range []string{"", ".", "..", "../tokens", `..\tokens`} {
		if _, err := c.Integration(ctx, id); err == nil {
			t.Errorf("Integration(%q) accepted", id)
		}
		if err := c.DeleteToken(ctx, id); err == nil {
			t.Errorf("DeleteToken(%q) accepted", id)
		}
		if _, err := c.Proxy(ctx, id, "GET", "/x", nil, nil); err == nil {
			t.Errorf("Proxy(%q) accepted", id)
		}
		if _, err := c.RevokeCredential(ctx, "int_1", id); err == nil {
			t.Errorf("RevokeCredential(cred %q) accepted", id)
		}
	}
	if f.count() != before {
		t.Errorf("refused ids still sent %d requests", f.count()-before)
	}
}

func TestRequestBodies(t *testing.T) {
	ctx := context.Background()
	c, f := newFake(t, 201, "application/json", `{"id":"int_1","workspace":"default","name":"GitHub","provider":"github","auth_method":"api_key","config":{"org":"acme"},"status":"pending","status_reason":"","created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z","last_verified_at":null}`)
	in, err := c.CreateIntegration(ctx, IntegrationRequest{Name: "GitHub", Provider: "github", AuthMethod: AuthAPIKey, Config: map[string]any{"org": "acme"}})
	if err != nil {
		t.Fatal(err)
	}
	r := f.last(t)
	if r.Method != "POST" || r.RequestURI != "/v1/integrations" || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("sent %s %s %q", r.Method, r.RequestURI, r.Header.Get("Content-Type"))
	}
	if got, want := string(r.Body), `{"name":"GitHub","provider":"github","auth_method":"api_key","config":{"org":"acme"}}`; got != want {
		t.Errorf("body = %s, want %s", got, want)
	}
	if in.ID != "int_1" || in.Status != StatusPending || in.Config["org"] != "acme" ||
		!in.CreatedAt.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) || !in.LastVerifiedAt.IsZero() {
		t.Errorf("decoded %+v", in)
	}

	c, f = newFake(t, 201, "application/json", `{"id":"tok_1","token":"stk_new","role":"worker","workspace":"acme"}`)
	tok, err := c.CreateToken(ctx, TokenRequest{Name: "sync", Role: RoleWorker, Workspace: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(f.last(t).Body), `{"name":"sync","workspace":"acme","role":"worker"}`; got != want {
		t.Errorf("body = %s, want %s", got, want)
	}
	if tok.Token != "stk_new" || tok.ID != "tok_1" {
		t.Errorf("decoded %+v", tok)
	}
}

func TestSaveCredentialFileIsMultipart(t *testing.T) {
	c, f := newFake(t, 200, "application/json", `{"id":"cred_1","version":2,"state":"active","hint":"…a1b2"}`)
	v, err := c.SaveCredentialFile(context.Background(), "int_1", "key.json", strings.NewReader(`{"type":"service_account"}`), true)
	if err != nil {
		t.Fatal(err)
	}
	if v.Version != 2 || v.State != StateActive {
		t.Errorf("decoded %+v", v)
	}
	r := f.last(t)
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.Method != "PUT" || mt != "multipart/form-data" {
		t.Fatalf("sent %s with %q", r.Method, mt)
	}
	part, err := multipart.NewReader(strings.NewReader(string(r.Body)), params["boundary"]).NextPart()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(part)
	if part.FormName() != "file" || part.FileName() != "key.json" || string(b) != `{"type":"service_account"}` {
		t.Errorf("part %q %q %q", part.FormName(), part.FileName(), b)
	}
}

func TestListEnvelopes(t *testing.T) {
	ctx := context.Background()
	for _, body := range []string{`{"workspaces":[{"id":"ws_1","name":"default"}]}`, `[{"id":"ws_1","name":"default"}]`} {
		c, _ := newFake(t, 200, "application/json", body)
		ws, err := c.Workspaces(ctx)
		if err != nil || len(ws) != 1 || ws[0].Name != "default" {
			t.Errorf("Workspaces from %s = %v, %v", body, ws, err)
		}
	}
}

func TestUpdateIntegration(t *testing.T) {
	ctx := context.Background()
	c, f := newFake(t, 204, "", "")
	in, err := c.UpdateIntegration(ctx, "int_1", map[string]any{"name": "new"})
	if err != nil || in != nil {
		t.Errorf("204: %v, %v", in, err)
	}
	if r := f.last(t); r.Method != "PATCH" || string(r.Body) != `{"name":"new"}` {
		t.Errorf("sent %s %s", r.Method, r.Body)
	}
	c, _ = newFake(t, 200, "application/json", "")
	if in, err := c.UpdateIntegration(ctx, "int_1", map[string]any{"name": "new"}); err != nil || in != nil {
		t.Errorf("200 without body: %v, %v", in, err)
	}
	// Elsewhere a missing body is an error, not a zero value.
	if w, err := c.CreateWorkspace(ctx, "acme"); err == nil {
		t.Errorf("CreateWorkspace with an empty answer = %+v", w)
	}
	c, _ = newFake(t, 200, "application/json", `{"id":"int_1","name":"new"}`)
	in, err = c.UpdateIntegration(ctx, "int_1", map[string]any{"name": "new"})
	if err != nil || in == nil || in.Name != "new" {
		t.Errorf("200: %v, %v", in, err)
	}
}

func TestAccessDecodes(t *testing.T) {
	for _, body := range []string{
		`{"type":"bearer","access_token":"at","expires_at":"2026-01-01T00:00:00Z"}`,
		`{"type":"api_key","api_key":"k","in":"header","name":"Authorization","prefix":"Bearer "}`,
		`{"type":"aws","access_key_id":"AKIA","secret_access_key":"sk","session_token":"st"}`,
	} {
		c, _ := newFake(t, 200, "application/json", body)
		a, err := c.Access(context.Background(), "int_1")
		if err != nil {
			t.Fatal(err)
		}
		// Encoding on purpose gives back exactly what the server sent.
		b, _ := json.Marshal(a)
		if string(b) != body {
			t.Errorf("round trip:\n got %s\nwant %s", b, body)
		}
	}
}

// TestConnectLinkRequests: the connect link calls' paths, bodies and the
// listing's filter (an integration's links, or the workspace's).
func TestConnectLinkRequests(t *testing.T) {
	const link = `{"id":"cnl_1","workspace":"ws_1","integration":"int_1","url":"http://s/connect/abc","state":"open","failed_attempts":0,"created_by":"tok_1","expires_at":"2026-01-02T03:04:05Z"}`
	c, f := newFake(t, 201, "application/json", link)
	l, err := c.CreateConnectLink(context.Background(), "int_1", ConnectLinkRequest{ExpiresIn: "2h", ReturnURL: "https://app/x"})
	if err != nil || l.URL != "http://s/connect/abc" || l.ExpiresAt.IsZero() {
		t.Fatalf("create: %+v %v", l, err)
	}
	if got := f.last(t); got.Method != "POST" || got.RequestURI != "/v1/integrations/int_1/connect" || string(got.Body) != `{"expires_in":"2h","return_url":"https://app/x"}` {
		t.Fatalf("sent %s %s %s", got.Method, got.RequestURI, got.Body)
	}
	if _, err := c.CreateNewConnectLink(context.Background(), NewConnectLinkRequest{Providers: []string{"stripe"}, Name: "N"}); err != nil {
		t.Fatal(err)
	}
	if got := f.last(t); got.RequestURI != "/v1/connect" || string(got.Body) != `{"providers":["stripe"],"name":"N"}` {
		t.Fatalf("sent %s %s", got.RequestURI, got.Body)
	}
	c, f = newFake(t, 200, "application/json", `{"links":[`+link+`]}`)
	for _, tc := range []struct {
		f    ConnectLinkFilter
		want string
	}{
		{ConnectLinkFilter{Integration: "int_1", Workspace: "ignored", Limit: 5}, "/v1/integrations/int_1/connect?limit=5"},
		{ConnectLinkFilter{Workspace: "acme", After: "cnl_0"}, "/v1/connect?after=cnl_0&workspace=acme"},
	} {
		page, err := c.ConnectLinks(context.Background(), tc.f)
		if err != nil || len(page.Links) != 1 {
			t.Fatalf("list: %v %v", page, err)
		}
		if got := f.last(t).RequestURI; got != tc.want {
			t.Errorf("list %+v: sent %s, want %s", tc.f, got, tc.want)
		}
	}
	if _, err := c.ConnectLinks(context.Background(), ConnectLinkFilter{Integration: "../x"}); err == nil {
		t.Error("an id with a slash was sent")
	}
	c, f = newFake(t, 204, "", "")
	if err := c.DeleteConnectLink(context.Background(), "cnl_1"); err != nil || f.last(t).RequestURI != "/v1/connect/cnl_1" || f.last(t).Method != "DELETE" {
		t.Fatalf("delete: %v %+v", err, f.last(t))
	}
}
