package server_test

import (
	"net/http"
	"testing"

	"github.com/stormcreds/storm/internal/server/servertest"
)

// TestProxiedAnswersCarryStormsHeaders: a proxied answer carries the
// headers every API answer does (nosniff, no-store, the request id),
// whether the hot router or the mux routed the request — the two must
// not drift apart.
func TestProxiedAnswersCarryStormsHeaders(t *testing.T) {
	env := servertest.Start(t, servertest.Options{})
	up := servertest.NewUpstream(t, "key-one-aaaaaaaaaaaa")
	id := env.CustomIntegration("Acme", up)
	env.Must(http.StatusOK, "PUT", "/v1/integrations/"+id+"/credentials", "", map[string]any{"api_key": "key-one-aaaaaaaaaaaa"})
	worker := env.NewToken("worker", "default")
	for _, path := range []string{
		"/proxy/echo/x",   // plain: the hot router
		"/proxy/echo/%78", // escaped: the mux
	} {
		req, _ := http.NewRequest("GET", env.URL+"/v1/integrations/"+id+path, nil)
		req.Header.Set("Authorization", "Bearer "+worker)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		h := res.Header
		if res.StatusCode != http.StatusOK || h.Get("X-Content-Type-Options") != "nosniff" ||
			h.Get("Cache-Control") != "no-store" || h.Get("X-Request-Id") == "" {
			t.Errorf("GET …%s: %d, headers %v", path, res.StatusCode, h)
		}
	}
}
