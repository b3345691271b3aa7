package tokens

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/oauth"
	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/secret"
	"github.com/stormcreds/storm/internal/store"
)

func TestBackoff(t *testing.T) {
	const limit = 10 * time.Minute
	cases := []struct {
		n        int
		min, max time.Duration
	}{
		{-3, time.Second, 2 * time.Second}, // counts as the first retry
		{0, time.Second, 2 * time.Second},
		{1, time.Second, 2 * time.Second},
		{2, 2 * time.Second, 4 * time.Second},
		{5, 16 * time.Second, 32 * time.Second},
		{9, 256 * time.Second, 512 * time.Second},
		{10, limit / 2, limit},
		{1000, limit / 2, limit}, // no overflow however many failures
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			for range 200 {
				d := Backoff(tc.n, limit)
				if d < tc.min || d > tc.max {
					t.Fatalf("Backoff(%d) = %v, want within [%v, %v]", tc.n, d, tc.min, tc.max)
				}
			}
		})
	}
	if d := Backoff(3, 0); d != 0 {
		t.Errorf("Backoff with a zero cap = %v, want 0", d)
	}
}

// TestBackoffZeroDoesNotPanic is the regression test for issue 9 item
// 13: a zero (or negative) failure count shifted by a negative amount.
func TestBackoffZeroDoesNotPanic(t *testing.T) {
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Backoff(0) panicked: %v", r)
		}
	}()
	Backoff(0, time.Minute)
	Backoff(-1, time.Minute)
}

func TestNextRefresh(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ts := func(life time.Duration, rt string) oauth.TokenSet {
		return oauth.TokenSet{AccessToken: "a", RefreshToken: secret.String(rt), ObtainedAt: now, Expiry: now.Add(life)}
	}
	cases := []struct {
		name      string
		ts        oauth.TokenSet
		margin    time.Duration
		renewable bool
		// the refresh is due within [expiry-hi, expiry-lo]; zero lo and
		// hi: never.
		lo, hi time.Duration
	}{
		{"no expiry", oauth.TokenSet{AccessToken: "a", RefreshToken: "r"}, 0, false, 0, 0},
		{"nothing to refresh with", ts(time.Hour, ""), 0, false, 0, 0},
		{"minted tokens renew without a refresh token", ts(time.Hour, ""), 0, true, 5 * time.Minute, 5*time.Minute + 30*time.Second},
		{"an hour: five minutes ahead", ts(time.Hour, "r"), 0, false, 5 * time.Minute, 5*time.Minute + 30*time.Second},
		{"short lifetimes: half of it", ts(4*time.Second, "r"), 0, false, 2 * time.Second, 2200 * time.Millisecond},
		{"a larger provider margin wins", ts(time.Hour, "r"), 20 * time.Minute, false, 20 * time.Minute, 22 * time.Minute},
		{"a smaller provider margin does not", ts(time.Hour, "r"), time.Minute, false, 5 * time.Minute, 5*time.Minute + 30*time.Second},
		{"already expired: a minute ahead", oauth.TokenSet{AccessToken: "a", RefreshToken: "r", ObtainedAt: now, Expiry: now.Add(-time.Hour)}, 0, false, time.Minute, time.Minute + 6*time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for range 100 {
				at := NextRefresh(tc.ts, tc.margin, tc.renewable)
				if tc.hi == 0 {
					if !at.IsZero() {
						t.Fatalf("NextRefresh = %v, want never", at)
					}
					return
				}
				ahead := tc.ts.Expiry.Sub(at)
				if ahead < tc.lo || ahead > tc.hi {
					t.Fatalf("refresh %v before expiry, want within [%v, %v]", ahead, tc.lo, tc.hi)
				}
			}
		})
	}
}

func TestFlightsShareOneCall(t *testing.T) {
	var g flights[int]
	var calls atomic.Int64
	release := make(chan struct{})
	fn := func() (int, error) {
		calls.Add(1)
		<-release
		return 42, nil
	}
	const callers = 64
	var wg sync.WaitGroup
	results := make(chan int, callers)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := g.do(context.Background(), "cred_1", fn)
			if err != nil {
				t.Error(err)
			}
			results <- v
		}()
	}
	// An impatient caller leaves; the call goes on for the others.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := g.do(ctx, "cred_1", fn); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("impatient caller: %v", err)
	}
	// Another key is another call.
	other, err := g.do(context.Background(), "cred_2", func() (int, error) { return 7, nil })
	if err != nil || other != 7 {
		t.Fatalf("other key: %v %v", other, err)
	}
	close(release)
	wg.Wait()
	close(results)
	for v := range results {
		if v != 42 {
			t.Fatalf("a caller got %d", v)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d calls for one key, want 1", n)
	}
}

func TestFlightsCloseWaitsAndRefuses(t *testing.T) {
	var g flights[int]
	started, release := make(chan struct{}), make(chan struct{})
	var finished atomic.Bool
	go g.do(context.Background(), "k", func() (int, error) {
		close(started)
		<-release
		finished.Store(true)
		return 1, nil
	})
	<-started
	closed := make(chan struct{})
	go func() { g.close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("close returned while a call was running")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	<-closed
	if !finished.Load() {
		t.Fatal("close returned before the call finished")
	}
	if _, err := g.do(context.Background(), "k", func() (int, error) { return 0, nil }); !errors.Is(err, errClosed) {
		t.Fatalf("a call after close: %v, want errClosed", err)
	}
}

func TestTurnSerialisesThisProcess(t *testing.T) {
	e := &Engine{}
	done, err := e.turn(context.Background(), "cred_1", true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.turn(context.Background(), "cred_1", false); !errors.Is(err, errBusy) {
		t.Fatalf("second turn without waiting: %v, want errBusy", err)
	}
	other, err := e.turn(context.Background(), "cred_2", false)
	if err != nil {
		t.Fatalf("another credential's turn: %v", err)
	}
	other()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := e.turn(ctx, "cred_1", true); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("waiting past the deadline: %v, want ErrUnavailable", err)
	}
	got := make(chan error, 1)
	go func() {
		d, err := e.turn(context.Background(), "cred_1", true)
		if err == nil {
			d()
		}
		got <- err
	}()
	select {
	case <-got:
		t.Fatal("a waiting turn started while the first was held")
	case <-time.After(50 * time.Millisecond):
	}
	done()
	if err := <-got; err != nil {
		t.Fatalf("the waiting turn: %v", err)
	}
}

// TestConcurrentTokenOneRefresh: 64 callers on each of two engines (two
// instances) want a token that is no longer fresh: the provider sees one
// refresh, and every caller gets its result.
func TestConcurrentTokenOneRefresh(t *testing.T) {
	w := newWorld(t)
	p := newProvider(t, oauthtest.Options{AccessTokenTTL: 2 * time.Second})
	c := w.connect("concurrent", p.grant(t))
	time.Sleep(1100 * time.Millisecond) // less than half the lifetime left: not fresh
	engines := []*Engine{w.engine(Config{}, p.sources), w.engine(Config{}, p.sources)}
	before := p.as.RefreshRequests()
	var wg sync.WaitGroup
	tokens := make(chan string, 128)
	for i := range 128 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ts, err := engines[i%2].Token(context.Background(), c)
			if err != nil {
				t.Error(err)
				return
			}
			tokens <- ts.AccessToken.Reveal()
		}()
	}
	wg.Wait()
	close(tokens)
	seen := map[string]bool{}
	for tok := range tokens {
		seen[tok] = true
	}
	if n := p.as.RefreshRequests() - before; n != 1 {
		t.Fatalf("%d refresh requests, want 1", n)
	}
	if len(seen) != 1 {
		t.Fatalf("callers got %d different tokens, want 1", len(seen))
	}
	for tok := range seen {
		if !p.as.Valid(tok) {
			t.Fatal("the token handed out is not valid at the provider")
		}
	}
}

// TestCommitSurvivesExhaustedWaitBudget is the regression test for issue
// 9 item 9: the wait for another instance's lease and a slow step after
// the provider answered used up the one context the commit shared, and
// the rotated refresh token was dropped. The commit now has a budget of
// its own.
func TestCommitSurvivesExhaustedWaitBudget(t *testing.T) {
	w := newWorld(t)
	p := newProvider(t, oauthtest.Options{AccessTokenTTL: 2 * time.Second})
	c := w.connect("slow", p.grant(t))
	const leaseTTL = 1500 * time.Millisecond
	e := w.engine(Config{CallTimeout: time.Second, LeaseTTL: leaseTTL, Hook: func(step string) error {
		if step == "refreshed" {
			time.Sleep(800 * time.Millisecond) // slow after the provider answered
		}
		return nil
	}}, p.sources)
	time.Sleep(1100 * time.Millisecond) // not fresh any more
	// Another instance holds the lease for most of the old budget.
	now := time.Now()
	if ok, err := w.st.AcquireLease(context.Background(), leaseName(c.ID), "other-instance", now.Add(900*time.Millisecond), now); err != nil || !ok {
		t.Fatalf("hold the lease: %v %v", ok, err)
	}
	ts, err := e.Token(context.Background(), c)
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	_, stored := w.stored(c.ID)
	if stored.RefreshToken != ts.RefreshToken || !p.as.ValidRefreshToken(stored.RefreshToken.Reveal()) {
		t.Fatal("the rotated refresh token was not committed")
	}
	// And the grant lives on: the stored refresh token refreshes again.
	next, err := e.RefreshAfter401(context.Background(), c, ts.AccessToken, time.Time{})
	if err != nil || !p.as.Valid(next.AccessToken.Reveal()) {
		t.Fatalf("refreshing with the committed refresh token: %v", err)
	}
}

// TestStaleInvalidGrantKeepsIntegration: while this refresh waited for
// the provider, a newer token set was stored; the provider's refusal of
// the refresh token this refresh sent is stale and must not mark the
// integration reconnect_required (issue 9 item 9). The engine checks the
// newer set with one more refresh (a provider that revokes the whole
// grant on reuse would have killed it), which the provider grants.
func TestStaleInvalidGrantKeepsIntegration(t *testing.T) {
	w := newWorld(t)
	c := w.connect("stale", tokenSet("old", time.Second))
	g := newGate("source")
	src := &scripted{answer: func(old oauth.TokenSet) (oauth.TokenSet, error) {
		if old.RefreshToken == "rt-old" {
			return oauth.TokenSet{}, errInvalidGrant
		}
		return tokenSet("checked", time.Hour), nil
	}, gate: g}
	e := w.engine(Config{}, src.sources)
	got := make(chan error, 1)
	var ts oauth.TokenSet
	go func() {
		var err error
		ts, err = e.RefreshAfter401(context.Background(), c, "at-old", time.Time{})
		got <- err
	}()
	g.await(t)
	newer := tokenSet("newer", time.Hour)
	w.replace(c.ID, newer)
	close(g.open)
	if err := <-got; err != nil {
		t.Fatalf("RefreshAfter401: %v", err)
	}
	if ts.AccessToken != "at-checked" {
		t.Fatalf("the caller got %q, want the token refreshed from the newer set", ts.AccessToken.Reveal())
	}
	in := w.integration(c.IntegrationID)
	if in.Status != store.StatusConnected {
		t.Fatalf("status %s (%s) after a stale invalid_grant, want connected", in.Status, in.StatusReason)
	}
	if types := w.eventTypes(c.IntegrationID); hasEvent(types, events.IntegrationReconnectRequired) {
		t.Fatalf("events %v include reconnect_required", types)
	}
}

// TestNewerTokenSetNotOverwritten: a refresh whose starting token set was
// replaced meanwhile keeps the newer one (issue 9 item 9).
func TestNewerTokenSetNotOverwritten(t *testing.T) {
	w := newWorld(t)
	c := w.connect("overwrite", tokenSet("old", time.Second))
	g := newGate("source")
	src := &scripted{answer: func(oauth.TokenSet) (oauth.TokenSet, error) { return tokenSet("mine", time.Hour), nil }, gate: g}
	e := w.engine(Config{}, src.sources)
	got := make(chan error, 1)
	go func() {
		_, err := e.RefreshAfter401(context.Background(), c, "at-old", time.Time{})
		got <- err
	}()
	g.await(t)
	newer := tokenSet("newer", time.Hour)
	w.replace(c.ID, newer)
	close(g.open)
	if err := <-got; err != nil {
		t.Fatalf("RefreshAfter401: %v", err)
	}
	if _, stored := w.stored(c.ID); stored.RefreshToken != newer.RefreshToken {
		t.Fatalf("stored refresh token %q, want the newer one kept", stored.RefreshToken.Reveal())
	}
}

// TestSkewedClockCannotStealLease: an instance whose clock runs ten
// minutes ahead must not judge another instance's live lease expired
// (issue 9 item 9: leases are judged by the database's clock).
func TestSkewedClockCannotStealLease(t *testing.T) {
	w := newWorld(t)
	c := w.connect("skew", tokenSet("old", time.Minute))
	if ok, err := w.st.HoldLease(context.Background(), leaseName(c.ID), "other-instance", 30*time.Second); err != nil || !ok {
		t.Fatalf("hold the lease: %v %v", ok, err)
	}
	src := &scripted{answer: func(oauth.TokenSet) (oauth.TokenSet, error) { return tokenSet("new", time.Hour), nil }}
	ahead := func() time.Time { return time.Now().Add(10 * time.Minute) }
	e := w.engine(Config{Now: ahead}, src.sources)
	_, err := e.refreshLeased(context.Background(), c.IntegrationID, c.ID, refusal{}, false)
	if !errors.Is(err, errBusy) {
		t.Fatalf("refresh with another instance's live lease: %v, want errBusy", err)
	}
	if n := src.calls.Load(); n != 0 {
		t.Fatalf("the provider was called %d times while another instance held the lease", n)
	}
}

// failingLeases is a store whose lease renewals for one owner fail (a
// slow or unreachable database), so that owner's lease can lapse.
type failingLeases struct {
	store.Store
	owner string
	fail  atomic.Bool
}

func (f *failingLeases) HoldLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	if owner == f.owner && f.fail.Load() {
		return false, errors.New("database unreachable")
	}
	return f.Store.HoldLease(ctx, name, owner, ttl)
}

// TestLeaseLostBeforeCallIsNotCalled: a holder whose renewals failed
// until its lease lapsed and another instance took it must not call the
// provider with the same refresh token.
func TestLeaseLostBeforeCallIsNotCalled(t *testing.T) {
	w := newWorld(t)
	c := w.connect("lost", tokenSet("old", time.Second))
	g := newGate("source")
	src := &scripted{answer: func(oauth.TokenSet) (oauth.TokenSet, error) { return tokenSet("new", time.Hour), nil }, gate: g}
	fl := &failingLeases{Store: w.st, owner: "slow-instance"}
	e, err := New(Config{Store: fl, Vault: w.v, Sources: src.sources, Owner: "slow-instance", LeaseTTL: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	got := make(chan error, 1)
	go func() {
		_, err := e.RefreshAfter401(context.Background(), c, "at-old", time.Time{})
		got <- err
	}()
	g.await(t)
	fl.fail.Store(true) // renewals fail from now on
	time.Sleep(400 * time.Millisecond)
	if ok, err := w.st.HoldLease(context.Background(), leaseName(c.ID), "other-instance", time.Minute); err != nil || !ok {
		t.Fatalf("another instance could not take the lapsed lease: %v %v", ok, err)
	}
	fl.fail.Store(false)
	close(g.open)
	if err := <-got; !errors.Is(err, ErrUnavailable) {
		t.Fatalf("refresh after losing the lease: %v, want ErrUnavailable", err)
	}
	if n := src.calls.Load(); n != 0 {
		t.Fatalf("the provider was called %d times after the lease was lost", n)
	}
}

// TestLeaseRenewedWhileProviderIsSlow (issue 16 part 1): leases are
// short, and a live holder keeps its lease however long the provider
// takes, so nobody else presents the same refresh token meanwhile.
func TestLeaseRenewedWhileProviderIsSlow(t *testing.T) {
	w := newWorld(t)
	c := w.connect("slow provider", tokenSet("old", time.Second))
	calling := make(chan struct{})
	src := &scripted{answer: func(oauth.TokenSet) (oauth.TokenSet, error) {
		close(calling)
		time.Sleep(4 * time.Second) // four lease lifetimes
		return tokenSet("new", time.Hour), nil
	}}
	// A second's lease, renewed every third of it: at half a second a
	// loaded CI run (-race, every package at once) once delayed a renewal
	// past the lease's end.
	e := w.engine(Config{LeaseTTL: time.Second, CallTimeout: 10 * time.Second}, src.sources)
	done := make(chan error, 1)
	go func() {
		_, err := e.RefreshAfter401(context.Background(), c, "at-old", time.Time{})
		done <- err
	}()
	<-calling
	stolen := 0
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			if stolen > 0 {
				t.Fatalf("another instance took the lease %d times during the call", stolen)
			}
			// Released at the end: another instance gets it at once.
			if ok, err := w.st.HoldLease(context.Background(), leaseName(c.ID), "other-instance", time.Minute); err != nil || !ok {
				t.Fatalf("lease not released after the refresh: %v %v", ok, err)
			}
			return
		case <-time.After(50 * time.Millisecond):
			if ok, _ := w.st.HoldLease(context.Background(), leaseName(c.ID), "other-instance", 10*time.Millisecond); ok {
				stolen++
			}
		}
	}
}

// TestValidTokenServedWhileAnotherInstanceRefreshes (issue 16 part 1):
// while another instance holds the lease, a caller whose token is no
// longer fresh but still valid gets it after a short grace (the holder
// did not commit); one whose token expired waits at most WaitTimeout and
// gets ErrUnavailable with a retry time.
func TestValidTokenServedWhileAnotherInstanceRefreshes(t *testing.T) {
	w := newWorld(t)
	src := &scripted{answer: func(oauth.TokenSet) (oauth.TokenSet, error) { return tokenSet("new", time.Hour), nil }}
	e := w.engine(Config{WaitTimeout: 300 * time.Millisecond}, src.sources)

	valid := w.connect("valid", tokenSet("valid", 30*time.Second)) // fresh needs 60s or half of 30s: not fresh
	if ok, _ := w.st.HoldLease(context.Background(), leaseName(valid.ID), "other-instance", time.Minute); !ok {
		t.Fatal("hold the lease")
	}
	start := time.Now()
	ts, err := e.Token(context.Background(), valid)
	if err != nil || ts.AccessToken != "at-valid" {
		t.Fatalf("Token = %v, %v; want the current token", ts.AccessToken, err)
	}
	if took := time.Since(start); took >= 300*time.Millisecond {
		t.Fatalf("waited %v (the whole WaitTimeout) for another instance although the token was valid", took)
	}

	expired := w.connect("expired", tokenSet("expired", -time.Second))
	if ok, _ := w.st.HoldLease(context.Background(), leaseName(expired.ID), "other-instance", time.Minute); !ok {
		t.Fatal("hold the lease")
	}
	_, err = e.Token(context.Background(), expired)
	var u *Unavailable
	if !errors.As(err, &u) || !errors.Is(err, ErrUnavailable) || u.RetryAfter <= 0 {
		t.Fatalf("Token of an expired token while another instance holds the lease: %v", err)
	}
	if n := src.calls.Load(); n != 0 {
		t.Fatalf("%d provider calls while another instance held the leases", n)
	}
}

// TestRevokedGrantNeedsReconnect: the provider refuses the refresh token
// for good: reconnect_required with its events, and no further calls.
func TestRevokedGrantNeedsReconnect(t *testing.T) {
	w := newWorld(t)
	p := newProvider(t, oauthtest.Options{AccessTokenTTL: 2 * time.Second})
	c := w.connect("revoked", p.grant(t))
	e := w.engine(Config{}, p.sources)
	p.as.RevokeAll()
	cur, ts := w.stored(c.ID)
	_, err := e.RefreshAfter401(context.Background(), cur, ts.AccessToken, time.Time{})
	if err == nil {
		t.Fatal("a revoked grant refreshed")
	}
	in := w.integration(c.IntegrationID)
	if in.Status != store.StatusReconnectRequired {
		t.Fatalf("status %s, want reconnect_required", in.Status)
	}
	types := w.eventTypes(c.IntegrationID)
	if !hasEvent(types, events.TokenRefreshFailed) || !hasEvent(types, events.IntegrationReconnectRequired) {
		t.Fatalf("events %v", types)
	}
	after, _ := w.stored(c.ID)
	if !after.RefreshAt.IsZero() {
		t.Fatal("a revoked grant is still scheduled for refresh")
	}
}

// TestOutageBacksOffAndRecovers: temporary failures back off (no call
// before the next attempt time), keep the still-valid token in use,
// degrade the integration, and the first success recovers it.
func TestOutageBacksOffAndRecovers(t *testing.T) {
	w := newWorld(t)
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	c := w.connect("outage", tokenSet("old", 10*time.Minute))
	var failing atomic.Bool
	failing.Store(true)
	src := &scripted{answer: func(oauth.TokenSet) (oauth.TokenSet, error) {
		if failing.Load() {
			return oauth.TokenSet{}, &oauth.Error{Op: "refresh", Status: 503, Temporary: true}
		}
		return tokenSet("new", time.Hour), nil
	}}
	e := w.engine(Config{Now: now}, src.sources)
	// Nine minutes on: the token is not fresh but still valid.
	clock.Add(int64(9*time.Minute + 30*time.Second))
	cur, _ := w.stored(c.ID)
	ts, err := e.Token(context.Background(), cur)
	if err != nil || ts.AccessToken != "at-old" {
		t.Fatalf("during the outage: %v %v, want the old token", ts.AccessToken, err)
	}
	cur, _ = w.stored(c.ID)
	if cur.Failures != 1 || !cur.RefreshAt.After(now()) {
		t.Fatalf("failures %d, next attempt %v", cur.Failures, cur.RefreshAt)
	}
	if in := w.integration(c.IntegrationID); in.Status != store.StatusDegraded {
		t.Fatalf("status %s, want degraded", in.Status)
	}
	for range 5 {
		if _, err := e.Token(context.Background(), cur); err != nil {
			t.Fatal(err)
		}
	}
	if n := src.calls.Load(); n != 1 {
		t.Fatalf("%d provider calls during the backoff, want 1", n)
	}
	failing.Store(false)
	clock.Add(int64(time.Minute))
	cur, _ = w.stored(c.ID)
	ts, err = e.Token(context.Background(), cur)
	if err != nil || ts.AccessToken != "at-new" {
		t.Fatalf("after the outage: %v %v", ts.AccessToken, err)
	}
	if in := w.integration(c.IntegrationID); in.Status != store.StatusConnected {
		t.Fatalf("status %s after recovery", in.Status)
	}
	if !hasEvent(w.eventTypes(c.IntegrationID), events.IntegrationRecovered) {
		t.Fatal("no integration.recovered event")
	}
}

// TestCloseWaitsForInFlightRefresh: Close returns only after a refresh
// in flight committed, and later refreshes are refused (issue 9 item 11).
func TestCloseWaitsForInFlightRefresh(t *testing.T) {
	w := newWorld(t)
	c := w.connect("close", tokenSet("old", time.Second))
	g := newGate("source")
	src := &scripted{answer: func(oauth.TokenSet) (oauth.TokenSet, error) { return tokenSet("new", time.Hour), nil }, gate: g}
	e := w.engine(Config{}, src.sources)
	ctx, cancel := context.WithCancel(context.Background())
	go e.RefreshAfter401(ctx, c, "at-old", time.Time{})
	g.await(t)
	cancel() // the caller goes away; the refresh goes on
	closed := make(chan struct{})
	go func() { e.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while a refresh was in flight")
	case <-time.After(100 * time.Millisecond):
	}
	close(g.open)
	<-closed
	if _, stored := w.stored(c.ID); stored.AccessToken != "at-new" {
		t.Fatal("Close returned before the refresh committed")
	}
	if _, err := e.RefreshAfter401(context.Background(), c, "at-new", time.Time{}); !errors.Is(err, errClosed) {
		t.Fatalf("refresh after Close: %v, want errClosed", err)
	}
}

// TestStaleRefusalWithDeadReplacementNeedsReconnect: the crash trials'
// finding. A refresh presented a refresh token another instance had
// already replaced; a provider that revokes the whole grant on reuse
// refuses it and kills the replacement too. Calling the refusal stale
// and keeping the replacement would leave a dead grant marked
// connected: the engine checks the replacement, and marks the
// integration reconnect_required when it is refused as well.
func TestStaleRefusalWithDeadReplacementNeedsReconnect(t *testing.T) {
	w := newWorld(t)
	c := w.connect("dead replacement", tokenSet("old", time.Second))
	g := newGate("source")
	src := &scripted{answer: func(oauth.TokenSet) (oauth.TokenSet, error) { return oauth.TokenSet{}, errInvalidGrant }, gate: g}
	e := w.engine(Config{}, src.sources)
	got := make(chan error, 1)
	go func() {
		_, err := e.RefreshAfter401(context.Background(), c, "at-old", time.Time{})
		got <- err
	}()
	g.await(t)
	w.replace(c.ID, tokenSet("replacement", time.Hour))
	close(g.open)
	if err := <-got; err == nil {
		t.Fatal("a refresh whose grant is dead succeeded")
	}
	if n := src.calls.Load(); n != 2 {
		t.Fatalf("%d provider calls, want 2 (the stale one and the check of the replacement)", n)
	}
	if in := w.integration(c.IntegrationID); in.Status != store.StatusReconnectRequired {
		t.Fatalf("status %s, want reconnect_required", in.Status)
	}
}

// TestRefreshAfter401SkipsTokensOlderThanTheRequest: a 401 retry takes
// a newer stored token without a provider call only when that token was
// obtained after the refused request picked its own; one obtained before
// (a provider that dropped every session dropped it too) is refreshed.
func TestRefreshAfter401SkipsTokensOlderThanTheRequest(t *testing.T) {
	w := newWorld(t)
	c := w.connect("sessions", tokenSet("old", time.Hour))
	src := &scripted{answer: func(oauth.TokenSet) (oauth.TokenSet, error) { return tokenSet("fresh", time.Hour), nil }}
	e := w.engine(Config{}, src.sources)

	w.replace(c.ID, tokenSet("renewed", time.Hour)) // stored before the request picked "old"
	picked := time.Now()
	ts, err := e.RefreshAfter401(context.Background(), c, "at-old", picked)
	if err != nil {
		t.Fatal(err)
	}
	if ts.AccessToken != "at-fresh" || src.calls.Load() != 1 {
		t.Fatalf("got %q after %d provider calls; want a fresh token from one call", ts.AccessToken.Reveal(), src.calls.Load())
	}

	// A token obtained after the request picked its own is taken as is.
	picked = time.Now()
	time.Sleep(time.Millisecond)
	w.replace(c.ID, tokenSet("newer", time.Hour))
	if ts, err = e.RefreshAfter401(context.Background(), c, "at-fresh", picked); err != nil || ts.AccessToken != "at-newer" || src.calls.Load() != 1 {
		t.Fatalf("got %q (%v) after %d provider calls; want the newer stored token, no call", ts.AccessToken.Reveal(), err, src.calls.Load())
	}
}
