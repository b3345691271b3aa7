package api

import (
	"path"
	"strings"
	"testing"
)

// TestLogPathRedactsConnectSecrets: every path under /connect/ that
// carries a link's secret is logged without it; other paths as they are.
func TestLogPathRedactsConnectSecrets(t *testing.T) {
	const secret = "Zm9vYmFyLXNlY3JldC1vZi1hLWxpbmstMTIzNDU2Nzg"
	for _, tc := range []struct{ in, want string }{
		{"/connect/" + secret, "/connect/[secret]"},
		{"/connect/" + secret + "/credentials", "/connect/[secret]/credentials"},
		{"/connect/" + secret + "/authorize", "/connect/[secret]/authorize"},
		{"/connect/return", "/connect/return"},
		{"/connect/", "/connect/"},
		{"/integrations/int_x", "/integrations/int_x"},
		{"/v1/connect/cnl_x", "/v1/connect/cnl_x"},
	} {
		got := LogPath(tc.in)
		if got != tc.want || strings.Contains(got, secret) {
			t.Errorf("LogPath(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzLogPath: for any path a handler can see (the mux redirects paths
// that are not clean before routing), a connect link's secret — the
// segment after /connect/ — is not in the logged path, and only that
// segment changes.
func FuzzLogPath(f *testing.F) {
	for _, s := range []string{"/connect/Zm9vYmFyLXNlY3JldA", "/connect/Zm9vYmFyLXNlY3JldA/authorize", "/connect/return", "/connect/",
		"/v1/connect/cnl_x", "/connect//abcdefgh", "/connect/./abcdefgh", "/x/../connect/abcdefgh"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got := LogPath(p)
		if p == "" || path.Clean(p) != p && path.Clean(p)+"/" != p {
			return
		}
		rest, ok := strings.CutPrefix(p, "/connect/")
		secret, tail, _ := strings.Cut(rest, "/")
		if !ok || secret == "" || secret == "return" {
			if got != p {
				t.Fatalf("LogPath(%q) = %q; only link paths change", p, got)
			}
			return
		}
		if want := strings.Replace(p, "/connect/"+secret, "/connect/[secret]", 1); got != want {
			t.Fatalf("LogPath(%q) = %q, want %q", p, got, want)
		}
		if len(secret) >= 8 && strings.Contains(got, secret) && !strings.Contains(tail, secret) {
			t.Fatalf("LogPath(%q) = %q keeps the secret", p, got)
		}
	})
}
