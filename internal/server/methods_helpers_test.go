package server_test

// Helpers shared by the end-to-end tests of the auth methods added with
// issue 10 (basic, oauth1, github_app, exchange, mcp).

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/server/servertest"
)

// traffic is continuous proxied traffic from sync workers, spread over
// one or more Storm instances.
type traffic struct {
	total, failed atomic.Int64
	stop          atomic.Bool
	wg            sync.WaitGroup
	mu            sync.Mutex
	failures      []string
}

// startTraffic sends GET requests to path (under each instance) from
// workers goroutines until Stop.
func startTraffic(t *testing.T, instances []*servertest.Env, path, token string, workers int) *traffic {
	t.Helper()
	tr := &traffic{}
	client := &http.Client{Timeout: 15 * time.Second}
	for w := range workers {
		tr.wg.Add(1)
		go func() {
			defer tr.wg.Done()
			for i := 0; !tr.stop.Load(); i++ {
				via := instances[w%len(instances)]
				sep := "?"
				if strings.Contains(path, "?") {
					sep = "&"
				}
				req, _ := http.NewRequest("GET", fmt.Sprintf("%s%s%sworker=%d&i=%d", via.URL, path, sep, w, i), nil)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := client.Do(req)
				tr.total.Add(1)
				if err != nil {
					tr.fail(err.Error())
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					tr.fail(fmt.Sprintf("%d %s", resp.StatusCode, body))
				}
			}
		}()
	}
	return tr
}

func (tr *traffic) fail(msg string) {
	tr.failed.Add(1)
	tr.mu.Lock()
	if len(tr.failures) < 10 {
		tr.failures = append(tr.failures, msg)
	}
	tr.mu.Unlock()
}

// progress waits until n more requests were sent (at most 30 s).
func (tr *traffic) progress(n int64) {
	target := tr.total.Load() + n
	deadline := time.Now().Add(30 * time.Second)
	for tr.total.Load() < target && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
}

// during lets the traffic run for d.
func (tr *traffic) during(d time.Duration) { time.Sleep(d) }

// finish stops the traffic and fails the test if any request failed.
func (tr *traffic) finish(t *testing.T, what string) (total int64) {
	t.Helper()
	tr.stop.Store(true)
	tr.wg.Wait()
	if n := tr.failed.Load(); n != 0 {
		t.Fatalf("%s: %d of %d proxied requests failed; first: %v", what, n, tr.total.Load(), tr.failures)
	}
	return tr.total.Load()
}

// auditActions lists the actions of the default workspace's audit log.
func auditActions(t *testing.T, env *servertest.Env) []string {
	t.Helper()
	var out []string
	for _, a := range env.Must(200, "GET", "/v1/audit?limit=1000", "", nil)["audit"].([]any) {
		out = append(out, a.(map[string]any)["action"].(string))
	}
	return out
}

// noSecretsOutsideAccess fails if a secret appears in any answer Storm
// gave (other than /access), in its events, audit or logs.
func noSecretsOutsideAccess(t *testing.T, env *servertest.Env, secrets ...string) {
	t.Helper()
	var texts []string
	for _, x := range env.Transcript() {
		if strings.HasSuffix(x.Path, "/access") {
			continue
		}
		texts = append(texts, string(x.Body))
	}
	for _, p := range []string{"/v1/events?limit=1000", "/v1/audit?limit=1000"} {
		texts = append(texts, string(env.Do("GET", p, "", nil).Body))
	}
	texts = append(texts, env.Logs.String())
	for _, s := range secrets {
		if len(s) < 6 {
			t.Fatalf("test secret %q is too short to search for", s)
		}
		for _, text := range texts {
			if strings.Contains(text, s) {
				t.Fatalf("secret %q leaked into %.300s", s[:4]+"…", text)
			}
		}
	}
}

// stateCounts counts an integration's versions by state.
func stateCounts(t *testing.T, env *servertest.Env, id string) map[string]int {
	t.Helper()
	states := map[string]int{}
	for _, c := range env.Must(200, "GET", "/v1/integrations/"+id+"/credentials", "", nil)["credentials"].([]any) {
		states[c.(map[string]any)["state"].(string)]++
	}
	return states
}
