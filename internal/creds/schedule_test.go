package creds

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/store"
)

// testClock is a clock the test moves by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// requests is how many requests the API was sent.
func (k *keyAPI) requests() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.seen)
}

// count is how many requests carried key.
func (k *keyAPI) count(key string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for _, s := range k.seen {
		if s == key {
			n++
		}
	}
	return n
}

// scheduleWorld is a world with a hand-moved clock, an upstream API that
// accepts every key it is given, and integrations made at given times.
type scheduleWorld struct {
	*world
	clock *testClock
	api   *keyAPI
	s     *Service
}

func newScheduleWorld(t testing.TB, start time.Time) *scheduleWorld {
	w := &scheduleWorld{world: newWorld(t), clock: &testClock{t: start}}
	w.api = newKeyAPI(t)
	w.s = w.service(func(c *Config) { c.Now = w.clock.now })
	return w
}

// connected creates an integration and saves key at the given time (the
// save verifies it then).
func (w *scheduleWorld) connected(name, key string, at time.Time) store.Integration {
	w.t.Helper()
	w.clock.set(at)
	w.api.accept(key, true)
	in := w.create(w.s, name, catalog.MethodAPIKey, apiKeyConfig(w.api.URL))
	save(w.t, w.s, in, key)
	return w.integration(in.ID)
}

// turns returns every integration's next turn due by until.
func (w *scheduleWorld) turns(until time.Time) map[string]time.Time {
	w.t.Helper()
	due, err := w.st.ListDueVerifications(context.Background(), until, store.VerifyCursor{}, 100)
	if err != nil {
		w.t.Fatal(err)
	}
	out := map[string]time.Time{}
	for _, d := range due {
		out[d.Integration.ID] = d.NextVerifyAt
	}
	return out
}

func within(t *testing.T, what string, got, from, to time.Time) {
	t.Helper()
	if got.Before(from) || got.After(to) {
		t.Errorf("%s at %v, want within [%v, %v]", what, got, from, to)
	}
}

// TestVerifyScheduleTakesDueTurns: a scan verifies the integrations whose
// turn has come, leaves the others alone, and moves each turn it takes an
// interval on; one verified lately has its turn moved without a request.
func TestVerifyScheduleTakesDueTurns(t *testing.T) {
	const every = time.Hour
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	w := newScheduleWorld(t, now)
	due := w.connected("due", "key-due-000000000001", now.Add(-2*time.Hour))
	lately := w.connected("lately", "key-lately-00000001", now.Add(-10*time.Minute))
	later := w.connected("later", "key-later-000000001", now.Add(-2*time.Hour))
	if ok, err := w.st.ScheduleVerification(context.Background(), later.ID, now.Add(20*time.Minute), now.Add(-2*time.Hour)); !ok || err != nil {
		t.Fatalf("schedule later: %v %v", ok, err)
	}
	pending := w.create(w.s, "pending", catalog.MethodAPIKey, apiKeyConfig(w.api.URL))

	cfg := VerifySchedule{Interval: every, PerProviderPerMinute: 30}
	limits := &providerLimits{per: cfg.PerProviderPerMinute, now: w.clock.now}
	w.clock.set(now)
	w.s.verifyDue(t.Context(), cfg, limits)

	for key, want := range map[string]int{"key-due-000000000001": 2, "key-lately-00000001": 1, "key-later-000000001": 1} {
		if got := w.api.count(key); got != want {
			t.Errorf("%s sent %d times (the save included), want %d", key, got, want)
		}
	}
	if got := w.integration(due.ID).LastVerifiedAt; !got.Equal(now) {
		t.Errorf("due integration last verified at %v, want %v", got, now)
	}
	turns := w.turns(now.Add(3 * every))
	within(t, "the verified integration's next turn", turns[due.ID], now.Add(every*9/10), now.Add(every*11/10))
	within(t, "the lately verified integration's next turn", turns[lately.ID], lately.LastVerifiedAt.Add(every*9/10), lately.LastVerifiedAt.Add(every*11/10))
	if got := turns[later.ID]; !got.Equal(now.Add(20 * time.Minute)) {
		t.Errorf("the later integration's turn moved to %v", got)
	}
	if _, ok := turns[pending.ID]; ok {
		t.Error("a pending integration has a turn")
	}

	// Nothing is due now: a second scan sends nothing.
	sent := w.api.requests()
	w.s.verifyDue(t.Context(), cfg, limits)
	if n := w.api.requests() - sent; n != 0 {
		t.Errorf("a scan with nothing due sent %d requests", n)
	}

	// An interval and a bit later every turn has come again.
	w.clock.set(now.Add(every * 12 / 10))
	w.s.verifyDue(t.Context(), cfg, limits)
	for key, want := range map[string]int{"key-due-000000000001": 3, "key-lately-00000001": 2, "key-later-000000001": 2} {
		if got := w.api.count(key); got != want {
			t.Errorf("after an interval, %s sent %d times, want %d", key, got, want)
		}
	}
}

// TestVerifyScheduleOneInstancePerTurn: instances scanning at the same
// moment verify each due integration once between them.
func TestVerifyScheduleOneInstancePerTurn(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	w := newScheduleWorld(t, now)
	keys := []string{"key-one-00000000001", "key-two-00000000002", "key-three-000000003", "key-four-0000000004"}
	for i, key := range keys {
		w.connected(key[:8], key, now.Add(-2*time.Hour-time.Duration(i)*time.Minute))
	}
	w.clock.set(now)
	cfg := VerifySchedule{Interval: time.Hour, PerProviderPerMinute: 30}
	instances := []*Service{w.s, w.service(func(c *Config) { c.Now = w.clock.now }), w.service(func(c *Config) { c.Now = w.clock.now })}
	var wg sync.WaitGroup
	for _, s := range instances {
		wg.Go(func() {
			s.verifyDue(t.Context(), cfg, &providerLimits{per: cfg.PerProviderPerMinute, now: w.clock.now})
		})
	}
	wg.Wait()
	for _, key := range keys {
		if got := w.api.count(key); got != 2 {
			t.Errorf("%s sent %d times (the save included) by %d instances, want 2", key, got, len(instances))
		}
	}
}

// TestVerifyScheduleBudget: turns over the provider's budget move to the
// minutes the budget has room in, in the order they were due, and are
// taken then.
func TestVerifyScheduleBudget(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	w := newScheduleWorld(t, now)
	var ids []string
	for i := range 5 {
		in := w.connected(fmt.Sprint("budget ", i), fmt.Sprintf("key-budget-%09d", i), now.Add(-2*time.Hour))
		// Due one after another, in the order made.
		if ok, err := w.st.ScheduleVerification(t.Context(), in.ID, now.Add(time.Duration(i-10)*time.Minute), now); !ok || err != nil {
			t.Fatal(ok, err)
		}
		ids = append(ids, in.ID)
	}
	w.clock.set(now)
	cfg := VerifySchedule{Interval: time.Hour, PerProviderPerMinute: 2}
	limits := &providerLimits{per: cfg.PerProviderPerMinute, now: w.clock.now}
	sent := w.api.requests()
	w.s.verifyDue(t.Context(), cfg, limits)
	if n := w.api.requests() - sent; n != 2 {
		t.Fatalf("%d verifications with a budget of 2 a minute, want 2", n)
	}
	// The first two were verified.
	turns := w.turns(now.Add(3 * time.Minute))
	for i, want := range map[int]time.Time{2: now.Add(time.Minute), 3: now.Add(time.Minute), 4: now.Add(2 * time.Minute)} {
		if got := turns[ids[i]]; !got.Equal(want) {
			t.Errorf("held-back turn %d moved to %v, want %v", i, got, want)
		}
	}
	if n := len(w.turns(now)); n != 0 {
		t.Errorf("%d turns still due after the scan, want none", n)
	}
	for minute, want := range []int{4, 5} {
		w.clock.set(now.Add(time.Duration(minute+1) * time.Minute))
		w.s.verifyDue(t.Context(), cfg, limits)
		if n := w.api.requests() - sent; n != want {
			t.Errorf("%d verifications after minute %d's scan, want %d", n, minute+1, want)
		}
	}
}
