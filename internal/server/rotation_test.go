package server_test

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/server/servertest"
)

// TestRotationWithoutFailedSyncs rotates an API key exactly as the seed
// describes (generate a new key at the provider → Save in Storm → verify →
// revoke the old key at the provider and in Storm) three times, while
// sync workers send a continuous stream of proxied requests through two
// Storm instances sharing one database. The rotation is done through the
// first; the second keeps its cached credential until the provider
// refuses it, so its requests meet the revoked key and must be retried
// with the new one. Not one request may fail.
func TestRotationWithoutFailedSyncs(t *testing.T) { backends(t, testRotationWithoutFailedSyncs) }

func testRotationWithoutFailedSyncs(t *testing.T, opts servertest.Options) {
	env := servertest.Start(t, opts)
	stale := opts
	stale.DataDir, stale.CredentialCacheTTL = env.DataDir, time.Hour
	other := servertest.Start(t, stale)
	instances := []*servertest.Env{env, other}
	keys := []string{"rot-key-0-aaaaaaaaaaaa", "rot-key-1-bbbbbbbbbbbb", "rot-key-2-cccccccccccc", "rot-key-3-dddddddddddd"}
	up := servertest.NewUpstream(t, keys[0])
	id := env.CustomIntegration("Rotating", up)
	base := "/v1/integrations/" + id
	cred := env.Must(200, "PUT", base+"/credentials", "", map[string]any{"api_key": keys[0]})["id"].(string)
	worker := env.NewToken("worker", "default")

	const workers = 8
	var (
		total, failed atomic.Int64
		stop          atomic.Bool
		wg            sync.WaitGroup
		mu            sync.Mutex
		failures      []string
	)
	client := &http.Client{Timeout: 10 * time.Second}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				via := instances[w%len(instances)]
				req, _ := http.NewRequest("GET", fmt.Sprintf("%s%s/proxy/echo/sync?worker=%d&i=%d", via.URL, base, w, i), nil)
				req.Header.Set("Authorization", "Bearer "+worker)
				resp, err := client.Do(req)
				total.Add(1)
				if err != nil {
					failed.Add(1)
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%d %s", resp.StatusCode, body))
					mu.Unlock()
				}
			}
		}()
	}
	// progress waits until the workers have sent n more requests, so each
	// step of the procedure happens under traffic.
	progress := func(n int64) {
		target := total.Load() + n
		deadline := time.Now().Add(30 * time.Second)
		for total.Load() < target && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}

	progress(100)
	for i := 1; i < len(keys); i++ {
		up.AddKey(keys[i]) // 1. generate a new key at the provider
		progress(50)
		next := env.Must(200, "PUT", base+"/credentials", "", map[string]any{"api_key": keys[i]})["id"].(string) // 2–3. paste and Save
		progress(50)
		if v := env.Must(200, "POST", base+"/verify", "", nil); v["ok"] != true { // 4. verify
			t.Fatalf("verify after save: %v", v)
		}
		progress(50)
		up.RevokeKey(keys[i-1]) // 4. revoke the old key at the provider …
		progress(50)
		env.Must(200, "POST", base+"/credentials/"+cred+"/revoke", "", nil) // … and in Storm
		progress(50)
		cred = next
	}
	stop.Store(true)
	wg.Wait()

	t.Logf("%d proxied requests during 3 rotations, %d failed, %d answered 401 upstream (and retried)", total.Load(), failed.Load(), up.Rejected.Load())
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed; first: %v", failed.Load(), total.Load(), failures[:min(5, len(failures))])
	}
	if total.Load() < 700 {
		t.Fatalf("only %d requests: the traffic did not overlap the rotation", total.Load())
	}
	if up.Rejected.Load() == 0 {
		t.Fatal("no request met a revoked key: the retry path was not exercised")
	}
	// The end state: only the newest key is usable.
	states := map[string]int{}
	for _, c := range env.Must(200, "GET", base+"/credentials", "", nil)["credentials"].([]any) {
		states[c.(map[string]any)["state"].(string)]++
	}
	if states["active"] != 1 || states["revoked"] != 3 || states["previous"] != 0 {
		t.Fatalf("states = %v", states)
	}
}
