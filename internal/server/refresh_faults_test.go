package server_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/server/servertest"
)

// TestRefreshSurvivesDeathAtEveryStep kills the refresh (the process
// "dies" holding the lease: nothing after that step happens) at each step
// of the refresh path, then lets another instance take over once the
// lease has expired. Afterwards either the newest refresh token is stored
// and refreshing keeps working, or the integration is marked
// reconnect_required — never a silently dead grant.
func TestRefreshSurvivesDeathAtEveryStep(t *testing.T) {
	for _, step := range []string{"leased", "refreshed", "committed"} {
		t.Run(step, func(t *testing.T) {
			const ttl = 2 * time.Second
			var died atomic.Bool
			opts := servertest.Options{NoBackground: true}
			opts.Tokens.CallTimeout = time.Second
			opts.Tokens.LeaseTTL = 1500 * time.Millisecond
			opts.Tokens.Hook = func(s string) error {
				if s == step && died.CompareAndSwap(false, true) {
					return errors.New("killed")
				}
				return nil
			}
			o := startOAuth(t, opts, oauthtest.Options{AccessTokenTTL: ttl})
			id := o.integration("Faults " + step)
			base := "/v1/integrations/" + id
			o.connect(id)
			expireSoon(ttl)
			if r := o.Do("GET", base+"/access", "", nil); r.Status == 200 && step != "committed" {
				t.Fatalf("the dying refresh answered 200")
			}
			if !died.Load() {
				t.Fatal("the hook never fired")
			}
			// Another instance (same database and key), after the lease
			// expired.
			restart := servertest.Options{NoBackground: true, DataDir: o.DataDir}
			restart.Tokens.CallTimeout, restart.Tokens.LeaseTTL = opts.Tokens.CallTimeout, opts.Tokens.LeaseTTL
			b := servertest.Start(t, restart)
			time.Sleep(opts.Tokens.LeaseTTL + 100*time.Millisecond)

			r := b.Do("GET", base+"/access", "", nil)
			status := b.Must(200, "GET", base, "", nil)["status"]
			switch {
			case r.Status == 200 && status == "connected":
				// The grant must really be alive: refresh once more.
				expireSoon(ttl)
				before := o.AS.RefreshRequests()
				a := b.Must(200, "GET", base+"/access", "", nil)
				if o.AS.RefreshRequests() != before+1 || !o.AS.Valid(a["access_token"].(string)) {
					t.Fatalf("after %s: connected, but refreshing no longer works", step)
				}
			case r.Status == 409 && status == "reconnect_required":
				if step != "refreshed" {
					t.Fatalf("after %s: reconnect needed although nothing was lost", step)
				}
			default:
				t.Fatalf("after %s: access %d %s, status %v", step, r.Status, r.Body, status)
			}
			t.Logf("killed at %s: access %d, status %v", step, r.Status, status)
		})
	}
}

// TestBackgroundRefreshBeforeExpiry: with nobody asking, tokens are
// refreshed ahead of expiry, so callers rarely wait.
func TestBackgroundRefreshBeforeExpiry(t *testing.T) {
	// 4s tokens are refreshed ~2s before expiry; at 2.6s the first was
	// replaced and the second is neither stale nor due yet, so /access
	// must not wait for (or race with) a refresh.
	const ttl = 4 * time.Second
	opts := servertest.Options{}
	opts.Tokens.Interval = 100 * time.Millisecond
	o := startOAuth(t, opts, oauthtest.Options{AccessTokenTTL: ttl})
	id := o.integration("Background")
	base := "/v1/integrations/" + id
	o.connect(id)
	first := o.Must(200, "GET", base+"/credentials", "", nil)["credentials"].([]any)[0].(map[string]any)["expires_at"].(string)
	before := o.AS.RefreshRequests()
	time.Sleep(ttl*2/3 - 100*time.Millisecond)
	if n := o.AS.RefreshRequests() - before; n < 1 {
		t.Fatal("no background refresh within the token's lifetime")
	}
	cur := o.Must(200, "GET", base+"/credentials", "", nil)["credentials"].([]any)[0].(map[string]any)["expires_at"].(string)
	if cur <= first {
		t.Fatalf("expires_at did not move: %s → %s", first, cur)
	}
	// The caller does not wait for a refresh: the token is fresh.
	before = o.AS.RefreshRequests()
	a := o.Must(200, "GET", base+"/access", "", nil)
	if o.AS.RefreshRequests() != before || !o.AS.Valid(a["access_token"].(string)) {
		t.Fatal("the caller had to wait for a refresh, or got a dead token")
	}
	if types := eventTypes(t, o.Env, id); !strings.Contains(types, "token.refreshed") {
		t.Fatalf("events = %s", types)
	}
}
