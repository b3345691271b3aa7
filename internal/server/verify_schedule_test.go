package server_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/creds"
	"github.com/stormcreds/storm/internal/server/servertest"
)

// TestScheduledVerification: with two instances verifying on a schedule,
// a key revoked at the provider turns the integration reconnect_required,
// a working key again turns it connected with a recovered event, and each
// period costs one verification cluster-wide, not one per instance.
func TestScheduledVerification(t *testing.T) {
	const every = 400 * time.Millisecond
	opts := servertest.Options{Verify: creds.VerifySchedule{Interval: every, Scan: 50 * time.Millisecond}}
	a := servertest.Start(t, opts)
	opts.DataDir = a.DataDir
	b := servertest.Start(t, opts)
	up := servertest.NewUpstream(t, "sched-key-aaaaaaaaaaaa")
	id := a.CustomIntegration("Scheduled", up)
	base := "/v1/integrations/" + id
	a.Must(200, "PUT", base+"/credentials", "", map[string]any{"api_key": "sched-key-aaaaaaaaaaaa"})

	waitStatus := func(want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if a.Must(200, "GET", base, "", nil)["status"] == want {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("status never became %s", want)
	}
	up.RevokeKey("sched-key-aaaaaaaaaaaa")
	waitStatus("reconnect_required")
	up.AddKey("sched-key-aaaaaaaaaaaa")
	waitStatus("connected")
	if types := eventTypes(t, b, id); !strings.Contains(types, "integration.reconnect_required") || !strings.Contains(types, "integration.recovered") {
		t.Fatalf("events = %s", types)
	}
	// Count verification calls over a few periods: about one per period
	// (jitter ±10%), never one per instance.
	before := up.Requests.Load()
	time.Sleep(5 * every)
	if n := up.Requests.Load() - before; n < 2 || n > 8 {
		t.Fatalf("%d verifications in 5 periods with 2 instances, want about 5", n)
	}
}
