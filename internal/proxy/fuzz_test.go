package proxy

import (
	"errors"
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"
)

// FuzzJoinPathBase is FuzzJoinPath with the base URL's path prefix and
// query fuzzed too (an operator or a custom integration sets them): an
// accepted base and path give a URL on the base's origin whose cleaned
// path stays under the base's cleaned prefix, with the base's query first.
func FuzzJoinPathBase(f *testing.F) {
	for _, s := range [][3]string{
		{"/api/v2", "users/1", "a=1"}, {"", "x", ""}, {"/", "x", ""}, {"/a/../b", "c", ""}, {"/a%2fb", "c", ""},
		{"/v1/", "..", ""}, {"/v1;x=1", "y", ""}, {"/%2e%2e", "x", ""}, {"/a b", "x", ""}, {"/v1?k=v", "x", "q=1"},
		{"//evil.com/x", "y", ""}, {"/x#frag", "y", ""}, {"/tenant/%7Bid%7D", "z", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, basePath, p, q string) {
		base, err := url.Parse("https://api.example.com:8443" + basePath)
		if err != nil || base.Host != "api.example.com:8443" {
			return
		}
		u, err := JoinPath(base, p, q)
		if err != nil {
			if !errors.Is(err, ErrBadPath) && !errors.Is(err, ErrBadBase) {
				t.Fatalf("error %v wraps neither ErrBadPath nor ErrBadBase", err)
			}
			return
		}
		if u.Scheme != "https" || u.Host != base.Host || u.User != nil || u.Fragment != "" {
			t.Fatalf("destination changed: %q", u.Redacted())
		}
		prefix := path.Clean("/" + base.Path)
		if c := path.Clean(u.Path); c != prefix && !strings.HasPrefix(c, strings.TrimSuffix(prefix, "/")+"/") {
			t.Fatalf("path %q escapes the prefix %q", u.Path, prefix)
		}
		if !strings.HasSuffix(u.EscapedPath(), "/"+p) {
			t.Fatalf("escaped path %q does not end with the caller's %q", u.EscapedPath(), p)
		}
		if base.RawQuery != "" && !strings.HasPrefix(u.RawQuery, base.RawQuery) {
			t.Fatalf("query %q lost the base's %q", u.RawQuery, base.RawQuery)
		}
		again, err := url.Parse(u.String())
		if err != nil || again.Host != base.Host || again.Scheme != "https" || again.EscapedPath() != u.EscapedPath() {
			t.Fatalf("re-parsed %q: %v", u.Redacted(), err)
		}
	})
}

// FuzzRewriteLocation checks the Location rewrite on arbitrary upstream
// answers: a rewritten Location points under the caller's proxy prefix,
// at a path the proxy would take back to the same place inside the base
// URL, and never carries the query parameter the credential added.
func FuzzRewriteLocation(f *testing.F) {
	for _, s := range []string{"/c?d=1", "https://API.EXAMPLE.COM:443/v2/c", "http://api.example.com/v2/c", "/v2", "/v2x/c", "c",
		"../../../etc", "/v2/x%2f..%2fy", "?key=secret&p=2", "javascript:alert(1)", "%zz", "/v2/a?k%65y=secret", "//api.example.com/v2/x",
		"/v2/a#frag?key=1", "/v2/a?key=s;key=t", "https://u:p@api.example.com/v2", "/v2/%2e%2e/x"} {
		f.Add(s, "a/b")
	}
	f.Fuzz(func(t *testing.T, loc, callerPath string) {
		b, _ := url.Parse("https://api.example.com/v2")
		target, err := JoinPath(b, callerPath, "")
		if err != nil {
			return
		}
		prefix, _ := basePrefix(b)
		sent := &http.Request{URL: &url.URL{Scheme: target.Scheme, Host: target.Host, Path: target.Path, RawQuery: "key=secret"}}
		x := &exchange{t: Target{ProxyPrefix: "/px/"}, target: *target, prefix: prefix, sent: sent}
		out, ok := x.rewriteLocation(loc)
		if !ok {
			if out != "" {
				t.Fatalf("refused rewrite returned %q", out)
			}
			return
		}
		rest, found := strings.CutPrefix(out, "/px/")
		if !found {
			t.Fatalf("rewritten %q to %q, outside the proxy prefix", loc, out)
		}
		ru, err := url.Parse("/px/" + rest)
		if err != nil {
			t.Fatalf("rewritten Location %q does not parse: %v", out, err)
		}
		for pair := range strings.SplitSeq(ru.RawQuery, "&") {
			name, _, _ := strings.Cut(pair, "=")
			if n, err := url.QueryUnescape(name); err == nil && n == "key" {
				t.Fatalf("rewritten %q to %q, which carries the credential's parameter", loc, out)
			}
		}
		// Following it through the proxy lands inside the base URL.
		back, err := JoinPath(b, strings.TrimPrefix(ru.EscapedPath(), "/px/"), "")
		if err != nil {
			t.Fatalf("the proxy refuses its own rewritten Location %q: %v", out, err)
		}
		if c := path.Clean(back.Path); c != "/v2" && !strings.HasPrefix(c, "/v2/") {
			t.Fatalf("rewritten %q leads to %q", out, back.Path)
		}
	})
}
