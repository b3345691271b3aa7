package api

import (
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
