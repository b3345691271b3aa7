package server_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/server/servertest"
)

// TestMetricsAndRequestIDs: /metrics reports token refreshes by outcome,
// proxied requests by integration class and verifications; every answer
// carries a request id (the caller's when plain).
func TestMetricsAndRequestIDs(t *testing.T) {
	const ttl = 2 * time.Second
	o := startOAuth(t, servertest.Options{NoBackground: true}, oauthtest.Options{AccessTokenTTL: ttl})
	id := o.integration("Observed")
	o.connect(id)
	expireSoon(ttl)
	o.Must(200, "GET", "/v1/integrations/"+id+"/access", "", nil) // one refresh
	o.Must(200, "GET", "/v1/integrations/"+id+"/proxy/userinfo", "", nil)
	o.Must(200, "POST", "/v1/integrations/"+id+"/verify", "", nil)
	r := o.Do("GET", "/metrics", "", nil)
	for _, want := range []string{
		`storm_token_refreshes_total{outcome="ok"} 1`,
		`storm_proxy_requests_total{auth_method="oauth2",code="2xx",provider="custom"} 1`,
		`storm_proxy_request_duration_seconds_count{auth_method="oauth2",provider="custom"} 1`,
		`storm_proxy_request_duration_seconds_bucket{auth_method="oauth2",provider="custom",le="+Inf"} 1`,
		`storm_http_request_duration_seconds_count{route="/v1/integrations/{id}/access"} 1`,
		`storm_verifications_total{ok="true"} 1`,
		`storm_token_refresh_duration_seconds_count 1`,
		`storm_tokens_due 0`,
		`storm_key_active_term 1`,
	} {
		if !strings.Contains(string(r.Body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	req, _ := http.NewRequest("GET", o.URL+"/healthz", nil)
	req.Header.Set("X-Request-Id", "sync-42.a")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Header.Get("X-Request-Id") != "sync-42.a" {
		t.Fatalf("request id not echoed: %q", resp.Header.Get("X-Request-Id"))
	}
	req.Header.Set("X-Request-Id", "bad id <script>")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Request-Id"); !strings.HasPrefix(got, "req_") {
		t.Fatalf("unsafe request id not replaced: %q", got)
	}
}

// TestReadBatchMetrics: on SQLite every secret read goes through the
// audit journal, and storm_secret_read_batch_size counts the journal's
// folds, each with the reads it committed: their sum is the reads
// recorded.
func TestReadBatchMetrics(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	id := env.CustomIntegration("Read", servertest.NewUpstream(t, "key-1"))
	env.Must(200, "PUT", "/v1/integrations/"+id+"/credentials", "", map[string]any{"api_key": "key-1"})
	for range 5 {
		env.Must(200, "GET", "/v1/integrations/"+id+"/access", "", nil)
	}
	env.Must(200, "GET", "/v1/audit", "", nil) // folds the journal
	metric := func(body, name string) float64 {
		for _, line := range strings.Split(body, "\n") {
			if v, ok := strings.CutPrefix(line, name+" "); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatal(err)
				}
				return f
			}
		}
		t.Fatalf("no %s in /metrics", name)
		return 0
	}
	body := string(env.Do("GET", "/metrics", "", nil).Body)
	reads := metric(body, `storm_secret_reads_recorded_total{outcome="ok"}`)
	commits, sum := metric(body, "storm_secret_read_batch_size_count"), metric(body, "storm_secret_read_batch_size_sum")
	if reads < 5 || sum != reads || commits < 1 || commits >= reads {
		t.Fatalf("%v reads recorded; batch sizes: %v commits summing to %v (want folds, fewer than the reads, summing to them)", reads, commits, sum)
	}
}
