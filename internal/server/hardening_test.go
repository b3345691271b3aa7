package server_test

import (
	"net/http"
	"testing"

	"github.com/stormcreds/storm/internal/server/servertest"
)

// TestAuthSchemeIsCaseInsensitive: the Authorization scheme is matched
// without regard to case (RFC 7235 §2.1) and extra spaces around the
// token are tolerated; anything that is not a Bearer token is still 401.
func TestAuthSchemeIsCaseInsensitive(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	get := func(header string) int {
		t.Helper()
		req, err := http.NewRequest("GET", env.URL+"/v1/workspaces", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", header)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tok := env.AdminToken
	for _, h := range []string{"Bearer " + tok, "bearer " + tok, "BEARER " + tok, "BeArEr " + tok,
		"Bearer  " + tok, "Bearer " + tok + "  ", "  Bearer   " + tok} {
		if got := get(h); got != http.StatusOK {
			t.Errorf("Authorization %q…: %d, want 200", h[:min(len(h), 12)], got)
		}
	}
	for _, h := range []string{"", "Bearer", "Bearer ", "Bearer    ", "Basic " + tok, "Bearertoken" + tok, tok,
		"Bearer " + tok + "x", "Bearer " + tok + " " + tok} {
		if got := get(h); got != http.StatusUnauthorized {
			t.Errorf("Authorization %q…: %d, want 401", h[:min(len(h), 14)], got)
		}
	}
}
