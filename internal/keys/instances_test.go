package keys_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/keys"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/postgres"
	"github.com/stormcreds/storm/internal/vault"
)

// TestRewrapWaitsForLiveInstancesOnly (issue 13): the re-wrap job's last
// sweep waits for every live instance to report the new term, not for a
// fixed time. With one instance it ends as soon as its passes are done
// (the poll interval here is 10 s: the old fixed wait was 20 s); a live
// instance still on the old term holds it until that instance reloads;
// an instance that stopped reporting holds nothing.
func TestRewrapWaitsForLiveInstancesOnly(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { waitsForLiveInstances(t, openSQLite(t, filepath.Join(t.TempDir(), "storm.db"))) })
	t.Run("postgres", func(t *testing.T) { waitsForLiveInstances(t, postgres.OpenTest(t)) })
}

func waitsForLiveInstances(t *testing.T, st store.Store) {
	ctx := t.Context()
	slow := keys.Config{Interval: 10 * time.Second, Live: 2 * time.Second, Settle: 30 * time.Second}
	a := openVault(t, st, vault.Options{})
	seed(t, st, a, 10, 2)
	ma := newManager(t, st, a, slow)

	// One instance: done at once.
	start := time.Now()
	if _, err := ma.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	p, err := ma.RunJob(ctx)
	if err != nil || p.Pass < 2 {
		t.Fatalf("one instance: %+v, %v", p, err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("one instance: the job took %v; it should not wait for a poll interval", took)
	}
	t.Logf("one instance: rotation and re-wrap done in %v", time.Since(start).Round(time.Millisecond))
	if got := terms(t, st, a); got[1] != 0 {
		t.Fatalf("terms: %v", got)
	}

	// A second instance, running, still on the old term until it polls.
	b := openVault(t, st, vault.Options{})
	mb := newManager(t, st, b, slow)
	runFor(t, mb)                             // one poll and heartbeat: term 2
	if _, err := ma.Rotate(ctx); err != nil { // term 3; b does not know yet
		t.Fatal(err)
	}
	done := make(chan keys.Progress, 1)
	go func() {
		p, err := ma.RunJob(ctx)
		if err != nil {
			t.Errorf("RunJob: %v", err)
		}
		done <- p
	}()
	select {
	case p := <-done:
		t.Fatalf("the job ended while a live instance was on an older term: %+v", p)
	case <-time.After(time.Second):
	}
	reloaded := time.Now()
	runFor(t, mb) // b polls: term 3
	select {
	case p := <-done:
		if p.TargetTerm != 3 {
			t.Fatalf("job: %+v", p)
		}
		t.Logf("two instances: done %v after the second one reloaded", time.Since(reloaded).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("the job did not end after every live instance had the new term")
	}

	// b stops; once its heartbeat is older than Live it holds nothing up.
	time.Sleep(slow.Live + 200*time.Millisecond)
	start = time.Now()
	if _, err := ma.Rotate(ctx); err != nil { // term 4; b last said 3
		t.Fatal(err)
	}
	if p, err := ma.RunJob(ctx); err != nil || p.TargetTerm != 4 {
		t.Fatalf("after b stopped: %+v, %v", p, err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("a stopped instance held the job for %v", took)
	}
	if got := terms(t, st, a); got[4] == 0 || len(got) != 1 {
		t.Fatalf("terms: %v", got)
	}
}

// runFor runs m's poll loop once: a keyring reload and a heartbeat.
func runFor(t *testing.T, m *keys.Manager) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	m.Run(ctx)
}
