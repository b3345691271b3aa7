//go:build unix

package server_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/server/servertest"
	"github.com/stormcreds/storm/internal/store/postgres"
)

// TestTakeoverAfterSIGKILLMidRefresh is issue 16 part 1: two `storm
// serve` processes on one PostgreSQL database with the default refresh
// lease; one is SIGKILLed while its refresh of a token is on the way to
// the provider. The other takes the refresh over seconds later (once the
// dead holder's lease expires), and meanwhile every /access it answers
// is a 200 with the current, still valid token: callers never wait for
// a dead instance while their token works. The figures (seconds to
// takeover, answers and non-200 answers meanwhile) are logged and kept
// in bench/RESULTS.md.
func TestTakeoverAfterSIGKILLMidRefresh(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs storm processes")
	}
	dbURL := postgres.TestURL(t)
	bin := buildStorm(t)
	ctx := context.Background()
	adminToken := "storm_takeover_" + randHex(16)
	kek := base64.URLEncoding.EncodeToString([]byte(randHex(16)))
	clientID, clientSecret := "storm-takeover", "takeover-secret-"+randHex(12)
	// 20s tokens are refreshed ~10s before they expire: the takeover
	// happens while the old token is still valid.
	as := oauthtest.New(t, oauthtest.Options{AccessTokenTTL: 20 * time.Second, Clients: []oauthtest.Client{{ID: clientID, Secret: clientSecret}}})
	gate := newTokenGate(t, as)

	env := []string{"STORM_ADMIN_TOKEN=" + adminToken, "STORM_ALLOW_PRIVATE_UPSTREAMS=true"}
	var procs [2]*stormProc
	var apis [2]*servertest.Env
	for i := range procs {
		procs[i] = startStorm(t, bin, []string{"doomed", "survivor"}[i], env,
			"--data-dir", t.TempDir(), "--database", dbURL, "--kek-url", "base64key://"+kek, "--verify-interval", "0")
	}
	for i, p := range procs {
		p.waitReady(t, 30*time.Second)
		as.AddRedirectURI(clientID, p.URL+"/oauth/callback")
		apis[i] = &servertest.Env{T: t, URL: p.URL, AdminToken: adminToken}
	}
	doomed, survivor := procs[0], procs[1]

	in := apis[0].Must(201, "POST", "/v1/integrations", "", map[string]any{
		"name": "Takeover", "provider": "custom", "auth_method": "oauth2",
		"config": map[string]any{"base_url": as.URL, "oauth2": map[string]any{
			"issuer": as.Issuer, "token_url": gate.URL + "/token", "client_id": clientID, "client_secret": clientSecret,
			"scopes": []string{"offline", "openid"}, "pkce": true}},
	})
	id := in["id"].(string)
	// Only the doomed instance may take the refresh when it falls due:
	// the survivor is stopped until the refresh is on its way.
	survivor.signal(t, syscall.SIGSTOP)
	release := gate.hold()
	u := apis[0].Must(200, "POST", "/v1/integrations/"+id+"/authorize", "", map[string]any{})["authorize_url"].(string)
	back, err := as.Approve(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := noRedirect.Get(back.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	first := apis[0].Must(200, "GET", "/v1/integrations/"+id+"/access", "", nil)["access_token"].(string)

	deadline := time.Now().Add(20 * time.Second)
	for gate.holding() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the doomed instance never started the refresh")
		}
		time.Sleep(20 * time.Millisecond)
	}
	killAt := doomed.kill(t)
	// The held request dies with its instance and never reaches the
	// provider (a request that did would have rotated the refresh token
	// with nobody left to store it).
	for gate.droppedCount() == 0 {
		if time.Since(killAt) > 5*time.Second {
			t.Fatal("the dead instance's refresh was not dropped")
		}
		time.Sleep(5 * time.Millisecond)
	}
	survivor.signal(t, syscall.SIGCONT)
	release()

	// Workers call the survivor's /access until it has refreshed.
	var answers, failures, stale atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				r := apis[1].Do("GET", "/v1/integrations/"+id+"/access", "", nil)
				answers.Add(1)
				if r.Status != http.StatusOK {
					failures.Add(1)
				} else if tok, _ := r.JSON(t)["access_token"].(string); !as.Valid(tok) {
					stale.Add(1)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	var tookOver time.Duration
	for tookOver == 0 {
		if time.Since(killAt) > 30*time.Second {
			close(stop)
			wg.Wait()
			t.Fatal("the survivor never took the refresh over")
		}
		for _, c := range gate.snapshot() {
			if c.Grant == "refresh_token" && c.Status == http.StatusOK && c.Start.After(killAt) {
				tookOver = c.End.Sub(killAt)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // and a moment with the new token
	close(stop)
	wg.Wait()

	after := apis[1].Must(200, "GET", "/v1/integrations/"+id+"/access", "", nil)["access_token"].(string)
	if after == first || !as.Valid(after) {
		t.Fatal("the survivor does not hand out the refreshed token")
	}
	refreshes := 0
	for _, c := range gate.snapshot() {
		if c.Grant == "refresh_token" && c.Status == http.StatusOK {
			refreshes++
		}
	}
	if refreshes != 1 || gate.droppedCount() != 1 {
		t.Fatalf("%d refreshes answered, %d dropped with the dead instance; want 1 and 1", refreshes, gate.droppedCount())
	}
	t.Logf("takeover %.1fs after SIGKILL (lease %v); survivor answered %d /access meanwhile: %d non-200, %d with a token the provider refused",
		tookOver.Seconds(), "5s default", answers.Load(), failures.Load(), stale.Load())
	if failures.Load() != 0 || stale.Load() != 0 {
		t.Fatalf("%d non-200 and %d stale answers while the old token was still valid", failures.Load(), stale.Load())
	}
	if tookOver > 12*time.Second {
		t.Fatalf("takeover took %v", tookOver)
	}
}
