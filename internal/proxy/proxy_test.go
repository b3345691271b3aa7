package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"
)

// noRedirects is a caller that, like a sync worker inspecting redirects,
// does not follow them.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func do(t *testing.T, c *http.Client, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	if c == nil {
		c = http.DefaultClient
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

// TestHeadersStripped: the caller's credentials, forwarding, hop-by-hop and
// Storm headers never reach the upstream; the credential's Authorization
// does. Upstream cookies and hop-by-hop headers never reach the caller.
func TestHeadersStripped(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Set-Cookie", "session=upstream")
		h.Add("Set-Cookie", "other=1")
		h.Set("X-Upstream", "1")
		h.Set("Connection", "X-Resp-Hop")
		h.Set("X-Resp-Hop", "hop")
		h.Set("Alt-Svc", `h3=":443"`)
		io.WriteString(w, "ok")
	})
	p, _ := newTestProxy(t, Config{AllowPrivate: true})
	fs := front(t, p, func(*http.Request) Target {
		return Target{Base: up.base(t, "/api"), Active: bearer("cred-token")}
	})

	req, _ := http.NewRequest(http.MethodGet, fs.URL+"/proxy/items?x=1", nil)
	req.Host = "evil.example"
	for k, v := range map[string]string{
		"Authorization":       "Bearer caller-token",
		"Cookie":              "sid=caller",
		"Proxy-Authorization": "Basic Y2FsbGVyOnB3",
		"Proxy-Connection":    "keep-alive",
		"X-Forwarded-For":     "203.0.113.1",
		"X-Forwarded-Host":    "evil.example",
		"X-Forwarded-Proto":   "https",
		"X-Forwarded-Port":    "443",
		"Forwarded":           "for=203.0.113.1",
		"X-Real-Ip":           "203.0.113.1",
		"Storm-Workspace":     "ws_1",
		"Storm-Signature":     "t=1,v1=00",
		"Connection":          "X-Custom-Hop",
		"X-Custom-Hop":        "1",
		"Keep-Alive":          "timeout=5",
		"Accept":              "application/json",
		"X-Keep":              "yes",
		"User-Agent":          "sync/1.0",
	} {
		req.Header.Set(k, v)
	}
	res, body := do(t, nil, req)
	if res.StatusCode != http.StatusOK || string(body) != "ok" {
		t.Fatalf("status %d body %q", res.StatusCode, body)
	}

	got := up.last(t)
	if a := got.Header.Values("Authorization"); len(a) != 1 || a[0] != "Bearer cred-token" {
		t.Errorf("upstream Authorization = %q, want the credential's only", a)
	}
	for _, k := range []string{"Cookie", "Proxy-Authorization", "Proxy-Connection", "X-Forwarded-For",
		"X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Port", "Forwarded", "X-Real-Ip",
		"Storm-Workspace", "Storm-Signature", "X-Custom-Hop", "Keep-Alive"} {
		if v, ok := got.Header[k]; ok {
			t.Errorf("upstream received %s: %q", k, v)
		}
	}
	for k, want := range map[string]string{"Accept": "application/json", "X-Keep": "yes", "User-Agent": "sync/1.0"} {
		if v := got.Header.Get(k); v != want {
			t.Errorf("upstream %s = %q, want %q", k, v, want)
		}
	}
	if want := up.base(t, "").Host; got.Host != want {
		t.Errorf("upstream Host = %q, want %q", got.Host, want)
	}
	if got.RequestURI != "/api/items?x=1" {
		t.Errorf("upstream request URI = %q", got.RequestURI)
	}

	if v := res.Header.Values("Set-Cookie"); len(v) != 0 {
		t.Errorf("caller received Set-Cookie %q", v)
	}
	for _, k := range []string{"X-Resp-Hop", "Alt-Svc"} {
		if v := res.Header.Get(k); v != "" {
			t.Errorf("caller received %s: %q", k, v)
		}
	}
	if res.Header.Get("X-Upstream") != "1" {
		t.Error("caller did not receive the upstream's own header")
	}
}

// TestQueryCredentialWins: a credential in the query replaces a caller's
// parameter of the same name; the caller's other parameters pass.
func TestQueryCredentialWins(t *testing.T) {
	up := newUpstream(t, nil)
	p, _ := newTestProxy(t, Config{AllowPrivate: true})
	w := serve(p, http.MethodGet, nil, nil, Target{
		Base: up.base(t, "/v1"), Path: "search", RawQuery: "api_key=caller&b=2&b=3",
		Active: queryKey("api_key", "the-key"),
	})
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	u, _ := url.Parse(up.last(t).RequestURI)
	q := u.Query()
	if u.Path != "/v1/search" || len(q["api_key"]) != 1 || q.Get("api_key") != "the-key" || len(q["b"]) != 2 {
		t.Fatalf("upstream saw %q", up.last(t).RequestURI)
	}
}

// pattern is a deterministic stream of n pseudo-random bytes.
func pattern(seed uint64, n int64) io.Reader {
	var s [32]byte
	s[0] = byte(seed)
	return io.LimitReader(rand.NewChaCha8(s), n)
}

// sum reads r to its end: its SHA-256, its length, and why it stopped
// early (nil at io.EOF).
func sum(r io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

// TestLargeBodies: 10 MiB up and 10 MiB down pass intact, with or without a
// fallback, with known or unknown length.
func TestLargeBodies(t *testing.T) {
	const size = 10 << 20
	wantDown, _, _ := sum(pattern(2, size))
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		s, n, _ := sum(r.Body)
		w.Header().Set("X-Up-Sum", s)
		w.Header().Set("X-Up-Len", strconv.FormatInt(n, 10))
		io.Copy(w, pattern(2, size))
	})
	p, logs := newTestProxy(t, Config{AllowPrivate: true})
	for _, c := range []struct {
		name     string
		fallback bool
		chunked  bool
	}{
		{"plain", false, false},
		{"fallback-streams", true, false},
		{"fallback-chunked-streams", true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs := front(t, p, func(*http.Request) Target {
				tg := Target{Base: up.base(t, ""), Active: bearer("k")}
				if c.fallback {
					tg.Fallback = bearer("old")
				}
				return tg
			})
			var body io.Reader = pattern(1, size)
			if c.chunked {
				body = io.MultiReader(body) // hides the length
			}
			wantUp, _, _ := sum(pattern(1, size))
			req, _ := http.NewRequest(http.MethodPut, fs.URL+"/proxy/blob", body)
			if !c.chunked {
				req.ContentLength = size
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			gotDown, n, err := sum(res.Body)
			if res.StatusCode != http.StatusOK || n != size || gotDown != wantDown {
				t.Fatalf("download: status %d, %d bytes, sum match %v, err %v; logs %s", res.StatusCode, n, gotDown == wantDown, err, logs)
			}
			if res.Header.Get("X-Up-Len") != strconv.Itoa(size) || res.Header.Get("X-Up-Sum") != wantUp {
				t.Fatalf("upload: upstream got %s bytes, sum match %v", res.Header.Get("X-Up-Len"), res.Header.Get("X-Up-Sum") == wantUp)
			}
		})
	}
}

// closingBody is a caller's request body as net/http's server hands it
// over once the response headers have gone out: everything was read, and
// the server has since closed it, so any further read fails.
type closingBody struct {
	r     io.Reader
	ended bool
}

func (b *closingBody) Read(p []byte) (int, error) {
	if b.ended {
		return 0, http.ErrBodyReadAfterClose
	}
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.ended = true
	}
	return n, err
}

func (b *closingBody) Close() error { return nil }

// TestBodyReadAfterItEnded: the transport's extra read past Content-Length
// happens after the body ended; if it reached the caller's body, which the
// server may have closed by then, the upstream exchange would fail (in a
// real server: the response would be cut off midway, golang/go#40747).
func TestBodyReadAfterItEnded(t *testing.T) {
	up := newUpstream(t, nil)
	p, _ := newTestProxy(t, Config{AllowPrivate: true})
	for _, fallback := range []bool{false, true} {
		payload := strings.Repeat("x", DefaultMaxRetryBody+1)
		r := httptest.NewRequest(http.MethodPut, "http://storm.test/proxy/x", nil)
		r.Body = &closingBody{r: iotest.DataErrReader(strings.NewReader(payload))}
		r.ContentLength = int64(len(payload))
		tg := Target{Base: up.base(t, ""), Active: bearer("k")}
		if fallback {
			tg.Fallback = bearer("old") // the body is too big to buffer: it streams
		}
		w := httptest.NewRecorder()
		p.ServeTarget(w, r, tg)
		if w.Code != http.StatusOK || w.Body.String() != "ok" {
			t.Fatalf("fallback %v: status %d, body %q", fallback, w.Code, w.Body)
		}
		if got := up.last(t).Body; string(got) != payload {
			t.Fatalf("fallback %v: upstream got %d bytes, want %d", fallback, len(got), len(payload))
		}
	}
}

// TestStreaming: bodies are streamed, not buffered whole, in both
// directions: the upstream sees the start of an upload before the caller
// has sent the rest, and the caller sees the start of a download before
// the upstream has written the rest.
func TestStreaming(t *testing.T) {
	const wait = 10 * time.Second
	t.Run("download", func(t *testing.T) {
		release := make(chan struct{})
		up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "first")
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
			io.WriteString(w, "-rest")
		})
		p, _ := newTestProxy(t, Config{AllowPrivate: true})
		fs := front(t, p, func(*http.Request) Target { return Target{Base: up.base(t, ""), Active: bearer("k")} })
		res, err := http.Get(fs.URL + "/proxy/events")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		first := make(chan string, 1)
		go func() {
			b := make([]byte, 5)
			io.ReadFull(res.Body, b)
			first <- string(b)
		}()
		select {
		case s := <-first:
			if s != "first" {
				t.Fatalf("first chunk %q", s)
			}
		case <-time.After(wait):
			close(release)
			t.Fatal("the first chunk did not arrive before the upstream finished: response buffered")
		}
		close(release)
		rest, _ := io.ReadAll(res.Body)
		if string(rest) != "-rest" {
			t.Fatalf("rest %q", rest)
		}
	})

	for _, c := range []struct {
		name     string
		fallback bool
	}{{"upload", false}, {"upload-with-fallback-over-limit", true}} {
		t.Run(c.name, func(t *testing.T) {
			gotFirst := make(chan struct{})
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				b := make([]byte, 8)
				if _, err := io.ReadFull(r.Body, b); err != nil || string(b) != "12345678" {
					http.Error(w, "bad start", http.StatusBadRequest)
					return
				}
				close(gotFirst)
				rest, _ := io.ReadAll(r.Body)
				fmt.Fprintf(w, "%s|%s", b, rest)
			})
			p, _ := newTestProxy(t, Config{AllowPrivate: true, MaxRetryBody: 4})
			fs := front(t, p, func(*http.Request) Target {
				tg := Target{Base: up.base(t, ""), Active: bearer("k")}
				if c.fallback {
					tg.Fallback = bearer("old")
				}
				return tg
			})
			pr, pw := io.Pipe()
			streamed := make(chan bool, 1)
			go func() {
				pw.Write([]byte("12345678"))
				select {
				case <-gotFirst:
					streamed <- true
				case <-time.After(wait):
					streamed <- false
				}
				pw.Write([]byte("tail"))
				pw.Close()
			}()
			req, _ := http.NewRequest(http.MethodPost, fs.URL+"/proxy/upload", pr)
			res, body := do(t, nil, req)
			if !<-streamed {
				t.Fatal("the upstream did not see the start of the body before the caller finished: request buffered")
			}
			if res.StatusCode != http.StatusOK || string(body) != "12345678|tail" {
				t.Fatalf("status %d body %q", res.StatusCode, body)
			}
		})
	}
}

// TestFallbackRetry covers the rotation overlap: a 401 with the active
// version is retried once with the previous one when the body can be
// replayed, and never otherwise.
func TestFallbackRetry(t *testing.T) {
	type rec struct{ auth, body string }
	var (
		mu   sync.Mutex
		reqs []rec
	)
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, rec{r.Header.Get("Authorization"), string(b)})
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer valid" {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			http.Error(w, "revoked", http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "ok:%s", b)
	})
	big := strings.Repeat("b", 4096)
	cases := []struct {
		name          string
		active        string
		fallback      string // "" means nil
		body          string
		hideLength    bool
		wantStatus    int
		wantAttempts  int
		wantCallbacks int
	}{
		{"retried with body", "revoked", "valid", "hello", false, 200, 2, 1},
		{"retried chunked small body", "revoked", "valid", "hello", true, 200, 2, 1},
		{"retried without body", "revoked", "valid", "", false, 200, 2, 1},
		{"active works", "valid", "other", "hello", false, 200, 1, 0},
		{"no fallback", "revoked", "", "hello", false, 401, 1, 0},
		{"fallback also rejected", "revoked", "revoked-too", "hello", false, 401, 2, 0},
		{"body over limit", "revoked", "valid", big, false, 401, 1, 0},
		{"chunked body over limit", "revoked", "valid", big, true, 401, 1, 0},
		{"fallback decides it has none", "revoked", "none", "hello", false, 401, 1, 0},
	}
	p, _ := newTestProxy(t, Config{AllowPrivate: true, MaxRetryBody: 1024})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mu.Lock()
			reqs = nil
			mu.Unlock()
			var calls atomic.Int64
			tg := Target{Base: up.base(t, ""), Path: "items", Active: bearer(c.active)}
			switch c.fallback {
			case "":
			case "none":
				tg.Fallback = counted{CredentialFunc(func(*http.Request) error { return fmt.Errorf("decided late: %w", ErrNoFallback) }), &calls}
			default:
				tg.Fallback = counted{bearer(c.fallback), &calls}
			}
			var body io.Reader = strings.NewReader(c.body)
			if c.hideLength {
				body = io.MultiReader(body)
			}
			w := serve(p, http.MethodPost, body, nil, tg)
			if w.Code != c.wantStatus {
				t.Fatalf("status %d, want %d; body %q", w.Code, c.wantStatus, w.Body)
			}
			if c.wantStatus == 200 && w.Body.String() != "ok:"+c.body {
				t.Fatalf("body %q", w.Body)
			}
			if c.wantStatus == 401 && !strings.Contains(w.Body.String(), "revoked") {
				t.Fatalf("the upstream's 401 body was not passed on: %q", w.Body)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(reqs) != c.wantAttempts {
				t.Fatalf("upstream got %d requests, want %d", len(reqs), c.wantAttempts)
			}
			for i, r := range reqs {
				if r.body != c.body {
					t.Fatalf("attempt %d carried a %d-byte body, want %d bytes", i, len(r.body), len(c.body))
				}
			}
			if c.wantAttempts == 2 && (reqs[0].auth != "Bearer "+c.active || reqs[1].auth != "Bearer "+c.fallback) {
				t.Fatalf("attempts used %q then %q", reqs[0].auth, reqs[1].auth)
			}
			if n := calls.Load(); n != int64(c.wantCallbacks) {
				t.Fatalf("Answered called %d times, want %d", n, c.wantCallbacks)
			}
		})
	}
}

// TestRetryStartsFromTheCallersRequest: the fallback is applied to the
// request as it was before the active credential changed it — headers the
// credential set, extended or removed, and its query parameter, are as the
// caller sent them — and the active credential's values are not in it.
func TestRetryStartsFromTheCallersRequest(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer fallback" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	})
	active := CredentialFunc(func(r *http.Request) error {
		r.Header.Set("Authorization", "Bearer active")
		r.Header.Set("X-Over", "active")
		r.Header.Add("X-Keep", "active")
		r.Header.Del("X-Gone")
		r.Header.Set("X-New", "active")
		q := r.URL.Query()
		q.Set("key", "active")
		r.URL.RawQuery = q.Encode()
		return nil
	})
	p, _ := newTestProxy(t, Config{AllowPrivate: true})
	hdr := http.Header{"X-Keep": {"caller"}, "X-Over": {"caller"}, "X-Gone": {"caller"}}
	w := serve(p, http.MethodGet, nil, hdr, Target{Base: up.base(t, ""), Path: "items", RawQuery: "a=1", Active: active, Fallback: bearer("fallback")})
	if w.Code != http.StatusOK {
		t.Fatalf("status %d", w.Code)
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	if len(up.reqs) != 2 {
		t.Fatalf("%d attempts, want 2", len(up.reqs))
	}
	first, retry := up.reqs[0], up.reqs[1]
	if first.Header.Get("X-New") != "active" || first.RequestURI != "/items?a=1&key=active" || len(first.Header["X-Keep"]) != 2 {
		t.Fatalf("first attempt %v %v: the active credential was not applied", first.RequestURI, first.Header)
	}
	want := map[string][]string{"X-Keep": {"caller"}, "X-Over": {"caller"}, "X-Gone": {"caller"}, "X-New": nil, "Authorization": {"Bearer fallback"}}
	for k, vs := range want {
		if !slices.Equal(retry.Header[k], vs) {
			t.Errorf("retry %s = %q, want %q", k, retry.Header[k], vs)
		}
	}
	if retry.RequestURI != "/items?a=1" {
		t.Errorf("retry went to %q, want /items?a=1", retry.RequestURI)
	}
}

// TestRedirects: redirects are returned to the caller, never followed;
// same-origin ones inside the base are rewritten to the proxy path, without
// the credential; others are left alone.
func TestRedirects(t *testing.T) {
	evil := newUpstream(t, nil)
	var up *upstream
	up = newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		locs := map[string]string{
			"/api/v2/cross":     evil.URL + "/steal",
			"/api/v2/cross-rel": "//" + strings.TrimPrefix(evil.URL, "http://") + "/steal",
			"/api/v2/same-abs":  up.URL + "/api/v2/next?page=2",
			"/api/v2/same-rel":  "next?page=3",
			"/api/v2/same-root": "/api/v2/items/1#frag",
			"/api/v2/outside":   "/admin",
			"/api/v2/dotdot":    "/api/v2/../admin",
			"/api/v2/keyleak":   "/api/v2/next?api_key=the-key&page=4",
			"/api/v2/frag":      "#x",
			"/api/v2/other-prt": "http://" + up.base(t, "").Hostname() + ":1/api/v2/x",
			"/api/v2/https":     "https://" + up.base(t, "").Host + "/api/v2/x",
		}
		status := http.StatusFound
		if r.URL.Path == "/api/v2/created" {
			w.Header().Set("Location", "/api/v2/items/9")
			w.WriteHeader(http.StatusCreated)
			return
		}
		w.Header().Set("Location", locs[r.URL.Path])
		w.WriteHeader(status)
	})
	p, _ := newTestProxy(t, Config{AllowPrivate: true})
	fs := front(t, p, func(*http.Request) Target {
		return Target{Base: up.base(t, "/api/v2"), Active: queryKey("api_key", "the-key")}
	})
	cases := []struct{ path, want string }{
		{"cross", evil.URL + "/steal"},
		{"cross-rel", "//" + strings.TrimPrefix(evil.URL, "http://") + "/steal"},
		{"same-abs", "/proxy/next?page=2"},
		{"same-rel", "/proxy/next?page=3"},
		{"same-root", "/proxy/items/1#frag"},
		{"outside", "/admin"},
		{"dotdot", "/api/v2/../admin"},
		{"keyleak", "/proxy/next?page=4"},
		{"frag", "/proxy/frag#x"},
		{"other-prt", "http://" + up.base(t, "").Hostname() + ":1/api/v2/x"},
		{"https", "https://" + up.base(t, "").Host + "/api/v2/x"},
		{"created", "/proxy/items/9"},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, fs.URL+"/proxy/"+c.path+"?mine=1", nil)
			res, _ := do(t, noRedirects, req)
			if res.StatusCode != http.StatusFound && res.StatusCode != http.StatusCreated {
				t.Fatalf("status %d", res.StatusCode)
			}
			if got := res.Header.Get("Location"); got != c.want {
				t.Fatalf("Location = %q, want %q", got, c.want)
			}
		})
	}

	// Client(), used for verification, does not follow redirects either.
	res, err := p.Client().Get(up.URL + "/api/v2/cross")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound {
		t.Fatalf("Client() status %d", res.StatusCode)
	}
	if n := evil.hits.Load(); n != 0 {
		t.Fatalf("the redirect target received %d requests", n)
	}
}

func TestTimeout(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	p, logs := newTestProxy(t, Config{AllowPrivate: true, Timeout: 200 * time.Millisecond})
	start := time.Now()
	w := serve(p, http.MethodGet, nil, nil, Target{Base: up.base(t, "/api"), Path: "slow", RawQuery: "q=1", Active: queryKey("key", "secret-in-query")})
	wantProblem(t, w, http.StatusGatewayTimeout)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v", d)
	}
	if l := logs.String(); !strings.Contains(l, "/api/slow") || strings.Contains(l, "secret-in-query") || strings.Contains(l, "q=1") {
		t.Fatalf("log line should name the path and nothing of the query: %s", l)
	}
}

func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p, _ := newTestProxy(t, Config{AllowPrivate: true, resolve: func(_ context.Context, host string) ([]netip.Addr, error) {
		if host == "127.0.0.1" {
			return []netip.Addr{netip.MustParseAddr(host)}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}})
	for _, base := range []string{"http://" + addr, "http://nxdomain.invalid"} {
		b, _ := url.Parse(base)
		w := serve(p, http.MethodGet, nil, nil, Target{Base: b, Path: "x", Active: bearer("k")})
		wantProblem(t, w, http.StatusBadGateway)
	}
}

// TestRefusedMethods: TRACE would echo the applied credential back.
func TestRefusedMethods(t *testing.T) {
	up := newUpstream(t, nil)
	p, _ := newTestProxy(t, Config{AllowPrivate: true})
	for _, m := range []string{http.MethodTrace, http.MethodConnect} {
		w := serve(p, m, nil, nil, Target{Base: up.base(t, ""), Path: "x", Active: bearer("k")})
		wantProblem(t, w, http.StatusMethodNotAllowed)
	}
	if up.hits.Load() != 0 {
		t.Fatal("upstream contacted")
	}
}

// TestCredentialCannotMoveRequest: a Credential that changes the host (a
// bug) does not get the request sent elsewhere.
func TestCredentialCannotMoveRequest(t *testing.T) {
	up := newUpstream(t, nil)
	evil := newUpstream(t, nil)
	eh := strings.TrimPrefix(evil.URL, "http://")
	p, _ := newTestProxy(t, Config{AllowPrivate: true})
	for _, c := range []CredentialFunc{
		func(r *http.Request) error { r.URL.Host = eh; return nil },
		func(r *http.Request) error { r.Host = eh; return nil },
		func(r *http.Request) error { r.URL.Scheme = "https"; return nil },
		func(r *http.Request) error { r.URL.User = url.UserPassword("a", "b"); return nil },
	} {
		w := serve(p, http.MethodGet, nil, nil, Target{Base: up.base(t, ""), Path: "x", Active: c})
		wantProblem(t, w, http.StatusInternalServerError)
	}
	w := serve(p, http.MethodGet, nil, nil, Target{Base: up.base(t, ""), Path: "x", Active: CredentialFunc(func(*http.Request) error {
		return errors.New("token unavailable")
	})})
	wantProblem(t, w, http.StatusBadGateway)
	if up.hits.Load()+evil.hits.Load() != 0 {
		t.Fatal("a request was sent")
	}
}

// TestNoSecretsInLogsOrErrors is security invariant 1 for the proxy: the
// credential's values never appear in a log line, a problem body or an
// error from Client() once redacted.
func TestNoSecretsInLogsOrErrors(t *testing.T) {
	const secret = "sk_live_SUPERSECRET"
	cred := CredentialFunc(func(r *http.Request) error {
		q := r.URL.Query()
		q.Set("api_key", secret)
		r.URL.RawQuery = q.Encode()
		r.Header.Set("X-Api-Key", secret)
		r.Header.Set("Authorization", "Bearer "+secret)
		return nil
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	slow := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})

	for _, c := range []struct {
		name   string
		cfg    Config
		base   string
		status int
	}{
		{"unreachable", Config{AllowPrivate: true}, dead, http.StatusBadGateway},
		{"timeout", Config{AllowPrivate: true, Timeout: 200 * time.Millisecond}, slow.URL, http.StatusGatewayTimeout},
		{"forbidden", Config{}, slow.URL, http.StatusForbidden},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, logs := newTestProxy(t, c.cfg)
			b, _ := url.Parse(c.base)
			w := serve(p, http.MethodGet, nil, nil, Target{Base: b, Path: "v1/x", RawQuery: "a=1", Active: cred})
			wantProblem(t, w, c.status)
			if strings.Contains(w.Body.String(), secret) || strings.Contains(w.Body.String(), "api_key") {
				t.Errorf("problem body leaks: %s", w.Body)
			}
			l := logs.String()
			if !strings.Contains(l, "/v1/x") {
				t.Errorf("log does not name the path: %s", l)
			}
			if strings.Contains(l, secret) || strings.Contains(l, "api_key") {
				t.Errorf("log leaks: %s", l)
			}

			res, err := p.Client().Get(c.base + "/v1/x?api_key=" + secret)
			if err == nil {
				res.Body.Close()
				t.Fatal("expected an error")
			}
			red := RedactError(err)
			if strings.Contains(red.Error(), secret) || !strings.Contains(red.Error(), "/v1/x") {
				t.Errorf("RedactError = %q", red)
			}
			if c.name == "forbidden" && !errors.Is(red, ErrForbiddenDestination) {
				t.Errorf("RedactError lost the cause: %v", red)
			}
		})
	}
}

func TestRewriteLocation(t *testing.T) {
	cases := []struct {
		base, path, loc, want string
		ok                    bool
	}{
		{"https://api.example.com", "a/b", "/c?d=1", "/px/c?d=1", true},
		{"https://api.example.com", "a/b", "https://API.EXAMPLE.COM:443/c", "/px/c", true},
		{"https://api.example.com", "a/b", "http://api.example.com/c", "", false},
		{"https://api.example.com", "a/b", "https://api.example.com:8443/c", "", false},
		{"https://api.example.com", "a/b", "https://u:p@api.example.com/c", "", false},
		{"https://api.example.com/v2", "a/b", "/v2", "/px/", true},
		{"https://api.example.com/v2", "a/b", "/v2x/c", "", false},
		{"https://api.example.com/v2", "a/b", "c", "/px/a/c", true},
		{"https://api.example.com/v2", "a/b", "../../../etc", "", false},
		{"https://api.example.com/v2", "a/b", "/v2/x%2f..%2fy", "", false},
		{"https://api.example.com/v2", "a/b", "?key=secret&p=2", "/px/a/b?p=2", true},
		{"https://api.example.com/v2", "a/b", "javascript:alert(1)", "", false},
		{"https://api.example.com/v2", "a/b", "%zz", "", false},
	}
	for _, c := range cases {
		b, _ := url.Parse(c.base)
		target, err := JoinPath(b, c.path, "")
		if err != nil {
			t.Fatal(err)
		}
		prefix, _ := basePrefix(b)
		sent := &http.Request{URL: &url.URL{Scheme: target.Scheme, Host: target.Host, Path: target.Path, RawQuery: "key=secret"}}
		x := &exchange{t: Target{ProxyPrefix: "/px/"}, target: *target, prefix: prefix, sent: sent}
		got, ok := x.rewriteLocation(c.loc)
		if ok != c.ok || got != c.want {
			t.Errorf("base %s path %s: rewriteLocation(%q) = %q, %v; want %q, %v", c.base, c.path, c.loc, got, ok, c.want, c.ok)
		}
	}
}

// TestConcurrent runs mixed requests in parallel (for -race).
func TestConcurrent(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("Authorization") != "Bearer valid" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Write(b)
	})
	p, _ := newTestProxy(t, Config{AllowPrivate: true})
	var fallbacks atomic.Int64
	fs := front(t, p, func(r *http.Request) Target {
		tg := Target{Base: up.base(t, "/api"), Active: bearer("valid")}
		if r.Header.Get("X-Rotate") != "" {
			tg.Active, tg.Fallback = bearer("revoked"), counted{bearer("valid"), &fallbacks}
		}
		return tg
	})
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Go(func() {
			body := bytes.Repeat([]byte{byte('a' + i%26)}, 1000+i)
			req, _ := http.NewRequest(http.MethodPost, fs.URL+"/proxy/echo", bytes.NewReader(body))
			if i%2 == 0 {
				req.Header.Set("X-Rotate", "1")
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err
				return
			}
			got, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || !bytes.Equal(got, body) {
				errs <- fmt.Errorf("request %d: status %d, %d bytes", i, res.StatusCode, len(got))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := fallbacks.Load(); n != 20 {
		t.Errorf("Answered called %d times, want 20", n)
	}
}

func TestNew(t *testing.T) {
	if _, err := New(Config{Timeout: -time.Second}); err == nil {
		t.Error("negative Timeout accepted")
	}
	p, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if p.timeout != DefaultTimeout || p.maxRetryBody != DefaultMaxRetryBody {
		t.Errorf("defaults: timeout %v, max retry body %d", p.timeout, p.maxRetryBody)
	}
	tr := p.transport.(*http.Transport)
	if tr.ResponseHeaderTimeout != 30*time.Second || tr.TLSHandshakeTimeout != 10*time.Second {
		t.Errorf("transport timeouts %v %v", tr.ResponseHeaderTimeout, tr.TLSHandshakeTimeout)
	}
	if w := serve(p, http.MethodGet, nil, nil, Target{Path: "x", Active: bearer("k")}); w.Code != http.StatusInternalServerError {
		t.Errorf("nil Base: status %d", w.Code)
	}
	b, _ := url.Parse("https://api.example.com")
	if w := serve(p, http.MethodGet, nil, nil, Target{Base: b, Path: "x"}); w.Code != http.StatusInternalServerError {
		t.Errorf("nil Active: status %d", w.Code)
	}
}
