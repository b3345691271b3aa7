package proxy

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"
	"time"
)

// TestHostileTargets is security invariant 5: whatever path a caller sends,
// the request goes to the base URL's host and under its path prefix, or
// nowhere.
func TestHostileTargets(t *testing.T) {
	good := newUpstream(t, nil)
	evil := newUpstream(t, nil)
	e := strings.TrimPrefix(evil.URL, "http://") // 127.0.0.1:port
	base := good.base(t, "/api/v2")
	p, _ := newTestProxy(t, Config{AllowPrivate: true})

	rejected := []string{
		// dot segments, plain and encoded
		"..", "../", "../x", "../v1/admin", "a/..", "a/../../b", "a/./b", ".", "./x",
		"%2e%2e/", "%2E%2e/admin", "%2e", ".%2e/admin", "%2e./admin", "a/%2e%2e", "%2e%2e/%2e%2e/admin",
		// encoded slashes and backslashes
		"%2E%2e%2f", "..%2f", "..%2F..%2Fadmin", "a%2fb", "%2f" + e,
		"..\\", "..\\admin", "a\\b", "%5c", "..%5c", "%5C..%5Cadmin", "a/%5c/b",
		// absolute and scheme-relative URLs, authority tricks
		"//" + e + "/x", "/" + e + "/x", "/x", "http://" + e + "/x", "HTTP://" + e, "http:" + e,
		"https:" + e, "https:evil.com", "http://evil.com", "https:%2f%2f" + e, "http%3a//" + e,
		"http%3A" + e, "ws://" + e, "file:///etc/passwd",
		"@" + e, "@evil.com", "%40" + e, "user:pw@" + e + "/x", "a@" + e,
		// control characters and header injection
		"%00", "a%00b", "%00/../x", "a%0d%0aHost:%20" + e, "a%0aX:1", "a%09b", "%7f", "%c2%85",
		"%e2%80%a8", "a\x00b", "a\r\nHost: evil", "a\tb",
		// invalid UTF-8 and overlong encodings of '.' and '/'
		"%c0%ae%c0%ae/admin", "%c0%af", "%e0%80%ae", "%ff", "%80",
		// Unicode look-alikes that NFKC or best-fit mapping turn into . / \
		"%ef%bc%8e%ef%bc%8e/admin", "%e2%80%a5/admin", "%e2%80%a4%e2%80%a4/admin", "..%ef%bc%8fadmin",
		"%ef%bc%8f%ef%bc%8f" + e, "..%ef%bc%bcadmin", "%e2%88%95admin", "%e3%80%82%e3%80%82/admin",
		"%ef%bd%a1%ef%bd%a1/admin", "%ef%b9%92%ef%b9%92/admin", "%ef%bc%a0evil.com",
		// ';' path-parameter tricks (servlet containers strip ";..." first)
		"..;/admin", "..;x/admin", ".;/admin", "%2e%2e;/admin", "a/..;/..;/b", ";/admin", "..%3b/admin",
		"%2e%2e%3bfoo/admin",
		// trailing dot and space tricks (Windows/IIS trim them)
		"...", "..%20", ".%20.", "%20", "a/%20/b", "..%2e",
		// empty segments
		"a//b", "a///", "//",
		// characters that must be escaped, query and fragment smuggling
		"a b", "a?b", "a#b", "a\"b", "a<b", "a|b", "a{b", "caf\u00e9",
		// malformed escapes
		"%zz", "%2", "a%", "%%32%65",
		// very long paths
		strings.Repeat("a/", 5000), strings.Repeat("x", maxPathLen+1),
	}
	for _, raw := range rejected {
		t.Run("reject/"+safeName(raw), func(t *testing.T) {
			before := good.hits.Load()
			w := serve(p, http.MethodGet, nil, nil, Target{Base: base, Path: raw, Active: bearer("k")})
			wantProblem(t, w, http.StatusBadRequest)
			if good.hits.Load() != before {
				t.Fatal("the upstream received a rejected request")
			}
			if _, err := JoinPath(base, raw, ""); !errors.Is(err, ErrBadPath) {
				t.Fatalf("JoinPath error = %v, want ErrBadPath", err)
			}
		})
	}

	// These pass, but only ever to the base host under the prefix, and
	// escapes are forwarded as given (decoded once for checking only).
	passed := []struct{ path, wantURI string }{
		{"%252e%252e", "/api/v2/%252e%252e"},
		{"%252e%252e%252fadmin", "/api/v2/%252e%252e%252fadmin"},
		{"%252e%252e/%252e%252e/admin", "/api/v2/%252e%252e/%252e%252e/admin"},
		{"%25%32%65%25%32%65", "/api/v2/%25%32%65%25%32%65"},
		{"users/@me", "/api/v2/users/@me"},
		{"a/" + e, "/api/v2/a/" + e},
		{"a/@" + e, "/api/v2/a/@" + e},
		{e, "/api/v2/" + e},
		{"evil.com:443/x", "/api/v2/evil.com:443/x"},
		{"projects:search", "/api/v2/projects:search"},
		{"items;v=1", "/api/v2/items;v=1"},
		{"..x/y", "/api/v2/..x/y"},
		{"a/b/", "/api/v2/a/b/"},
		{"", "/api/v2/"},
		{"caf%C3%A9", "/api/v2/caf%C3%A9"},
		{"a%20b", "/api/v2/a%20b"},
		{"a%3Fb%23c", "/api/v2/a%3Fb%23c"},
		{"a%3bb", "/api/v2/a%3bb"},
	}
	for _, c := range passed {
		t.Run("pass/"+safeName(c.path), func(t *testing.T) {
			w := serve(p, http.MethodGet, nil, nil, Target{Base: base, Path: c.path, RawQuery: "q=1", Active: bearer("k")})
			if w.Code != http.StatusOK {
				t.Fatalf("status = %d; body %s", w.Code, w.Body)
			}
			got := good.last(t)
			if want := c.wantURI + "?q=1"; got.RequestURI != want {
				t.Fatalf("upstream saw %q, want %q", got.RequestURI, want)
			}
			if got.Host != base.Host {
				t.Fatalf("upstream Host = %q, want %q", got.Host, base.Host)
			}
		})
	}

	if n := evil.hits.Load(); n != 0 {
		t.Fatalf("the evil upstream received %d requests", n)
	}
}

// TestHostileTargetsOverTheWire sends hostile request lines to a Storm-like
// front server that takes the path from EscapedPath, as the API layer does.
func TestHostileTargetsOverTheWire(t *testing.T) {
	good := newUpstream(t, nil)
	evil := newUpstream(t, nil)
	e := strings.TrimPrefix(evil.URL, "http://")
	p, _ := newTestProxy(t, Config{AllowPrivate: true})
	fs := front(t, p, func(*http.Request) Target {
		return Target{Base: good.base(t, "/api/v2"), Active: bearer("k")}
	})
	cases := []struct {
		target  string
		status  int
		wantURI string // upstream request URI when status is 200
	}{
		{"/proxy/../admin", 400, ""},
		{"/proxy/a/../../admin", 400, ""},
		{"/proxy/%2e%2e/admin", 400, ""},
		{"/proxy/..%2fadmin", 400, ""},
		{"/proxy/a\\..\\..\\admin", 400, ""},
		{"/proxy//" + e + "/x", 400, ""},
		{"/proxy/http://" + e + "/x", 400, ""},
		{"/proxy/@" + e, 400, ""},
		{"/proxy/%00", 400, ""},
		{"/proxy/..;/admin", 400, ""},
		{"/proxy/%ef%bc%8e%ef%bc%8e/admin", 400, ""},
		{"/proxy/a%7Cb", 200, "/api/v2/a%7Cb"},
		{"/proxy/%252e%252e/admin?x=1", 200, "/api/v2/%252e%252e/admin?x=1"},
		{"/proxy/users/@me", 200, "/api/v2/users/@me"},
	}
	addr := strings.TrimPrefix(fs.URL, "http://")
	for _, c := range cases {
		t.Run(safeName(c.target), func(t *testing.T) {
			before := good.hits.Load()
			status := rawGet(t, addr, c.target)
			if status != c.status {
				t.Fatalf("status = %d, want %d", status, c.status)
			}
			if c.status != 200 {
				if good.hits.Load() != before {
					t.Fatal("the upstream received a rejected request")
				}
				return
			}
			if got := good.last(t); got.RequestURI != c.wantURI || got.Host != strings.TrimPrefix(good.URL, "http://") {
				t.Fatalf("upstream saw %q on host %q, want %q", got.RequestURI, got.Host, c.wantURI)
			}
		})
	}
	if n := evil.hits.Load(); n != 0 {
		t.Fatalf("the evil upstream received %d requests", n)
	}
}

// rawGet writes a request line verbatim, bypassing client-side URL cleaning.
func rawGet(t *testing.T, addr, target string) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("GET " + target + " HTTP/1.1\r\nHost: storm.test\r\nConnection: close\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func safeName(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return strings.NewReplacer("/", "∕", "\x00", "NUL", "\r", "CR", "\n", "LF", "\t", "TAB", " ", "SP").Replace(s)
}

func TestJoinPath(t *testing.T) {
	cases := []struct {
		base, path, query, want string
	}{
		{"https://api.example.com", "v1/users", "", "https://api.example.com/v1/users"},
		{"https://api.example.com/", "v1/users", "a=1", "https://api.example.com/v1/users?a=1"},
		{"https://api.example.com/api/v2/", "users", "", "https://api.example.com/api/v2/users"},
		{"https://api.example.com/api/v2", "", "", "https://api.example.com/api/v2/"},
		{"HTTPS://API.example.com:8443/api", "x%20y", "", "https://API.example.com:8443/api/x%20y"},
		{"https://api.example.com/api?api-version=1", "x", "b=2", "https://api.example.com/api/x?api-version=1&b=2"},
		{"https://api.example.com/api?api-version=1", "x", "", "https://api.example.com/api/x?api-version=1"},
		{"https://api.example.com/a%20b", "c", "", "https://api.example.com/a%20b/c"},
	}
	for _, c := range cases {
		b, err := url.Parse(c.base)
		if err != nil {
			t.Fatal(err)
		}
		u, err := JoinPath(b, c.path, c.query)
		if err != nil {
			t.Fatalf("JoinPath(%q, %q): %v", c.base, c.path, err)
		}
		if u.String() != c.want {
			t.Errorf("JoinPath(%q, %q, %q) = %q, want %q", c.base, c.path, c.query, u, c.want)
		}
	}

	badBases := []string{
		"ftp://api.example.com", "api.example.com/x", "/relative", "https://", "https://user:pw@api.example.com",
		"https://api.example.com/#frag", "https://api.example.com/a/../b", "https://api.example.com/a//b",
		"mailto:x@example.com",
	}
	for _, s := range badBases {
		b, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := JoinPath(b, "x", ""); !errors.Is(err, ErrBadBase) {
			t.Errorf("JoinPath(base %q) error = %v, want ErrBadBase", s, err)
		}
	}
	if _, err := JoinPath(nil, "x", ""); !errors.Is(err, ErrBadBase) {
		t.Errorf("nil base: %v", err)
	}
	b, _ := url.Parse("https://api.example.com")
	for _, q := range []string{"a=1#frag", "a=\x00", "a=1 b", "a=\r\nX: y"} {
		if _, err := JoinPath(b, "x", q); !errors.Is(err, ErrBadPath) {
			t.Errorf("query %q: error = %v, want ErrBadPath", q, err)
		}
	}
}

// FuzzJoinPath checks the containment property for arbitrary paths: an
// accepted path keeps the base's scheme and host, stays under its prefix
// after any amount of normalization, and is forwarded exactly as given.
func FuzzJoinPath(f *testing.F) {
	for _, s := range []string{
		"users/1", "../x", "%2e%2e/x", "..%2f", "..;/x", "%252e%252e", "//evil.com", "http://evil.com",
		"@evil.com", "%c0%ae%c0%ae/", "%ef%bc%8e%ef%bc%8e/", "a/b/", "", "projects:search", "users/@me",
	} {
		f.Add(s, "a=1")
	}
	base, _ := url.Parse("https://api.example.com:8443/api/v2")
	f.Fuzz(func(t *testing.T, p, q string) {
		u, err := JoinPath(base, p, q)
		if err != nil {
			if !errors.Is(err, ErrBadPath) {
				t.Fatalf("error %v does not wrap ErrBadPath", err)
			}
			if p != "" && len(p) > 3 && strings.Contains(err.Error(), p) {
				t.Fatalf("error quotes the path: %v", err)
			}
			return
		}
		if u.Scheme != "https" || u.Host != base.Host || u.User != nil {
			t.Fatalf("destination changed: %q", u.Redacted())
		}
		if got := u.EscapedPath(); got != "/api/v2/"+p {
			t.Fatalf("escaped path = %q, want %q", got, "/api/v2/"+p)
		}
		if c := path.Clean(u.Path); c != "/api/v2" && !strings.HasPrefix(c, "/api/v2/") {
			t.Fatalf("path %q escapes the prefix", u.Path)
		}
		for seg := range strings.SplitSeq(strings.TrimPrefix(u.Path, "/api/v2/"), "/") {
			name, _, _ := strings.Cut(seg, ";")
			if strings.Trim(name, ". ") == "" && seg != "" {
				t.Fatalf("dot segment %q accepted", seg)
			}
		}
		// Re-parsing what goes on the wire must give the same origin.
		again, err := url.Parse(u.String())
		if err != nil || again.Host != base.Host || again.Scheme != "https" {
			t.Fatalf("re-parsed %q: host %q err %v", u.Redacted(), again.Host, err)
		}
	})
}
