package storetest

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

func stateHash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// oauthState returns a pending authorization for state parameter param,
// created at now and expiring at expires.
func oauthState(param string, now, expires time.Time) store.OAuthState {
	return store.OAuthState{
		Hash:          stateHash(param),
		IntegrationID: store.NewID("int"),
		WorkspaceID:   store.NewID("ws"),
		Verifier:      []byte("ciphertext-of-verifier-" + param),
		ReturnTo:      "/ui/integrations",
		Actor:         store.NewID("tok"),
		CreatedAt:     now,
		ExpiresAt:     expires,
	}
}

func testOAuthStates(t *testing.T, s store.Store) {
	ctx := t.Context()
	// Purging is relative to the store's clock: use real time.
	now := time.Now()

	plain := oauthState("plain", now, now.Add(10*time.Minute))
	bound := oauthState("bound", now, now.Add(10*time.Minute))
	bound.Binding = stateHash("browser-cookie")
	bound.ReturnTo = "https://storm.example.com/ui/integrations/int_x?tab=auth"
	bound.LinkID, bound.Pending = store.NewID("cnl"), []byte(`{"provider":"github","auth_method":"oauth2"}`)
	must(t, s.CreateOAuthState(ctx, plain), "CreateOAuthState(plain)")
	must(t, s.CreateOAuthState(ctx, bound), "CreateOAuthState(bound)")

	dup := oauthState("plain", now, now.Add(time.Minute))
	wantErr(t, s.CreateOAuthState(ctx, dup), store.ErrConflict, "CreateOAuthState with a taken hash")

	got, err := s.ConsumeOAuthState(ctx, plain.Hash)
	must(t, err, "ConsumeOAuthState(plain)")
	wantEqual(t, got, plain, "ConsumeOAuthState(plain)")
	if got.Binding != nil {
		t.Errorf("ConsumeOAuthState(plain): binding %x, want nil", got.Binding)
	}
	_, err = s.ConsumeOAuthState(ctx, plain.Hash)
	wantErr(t, err, store.ErrNotFound, "ConsumeOAuthState twice")

	got, err = s.ConsumeOAuthState(ctx, bound.Hash)
	must(t, err, "ConsumeOAuthState(bound)")
	wantEqual(t, got, bound, "ConsumeOAuthState(bound)")

	_, err = s.ConsumeOAuthState(ctx, stateHash("unknown"))
	wantErr(t, err, store.ErrNotFound, "ConsumeOAuthState(unknown)")

	// The hash is free again once consumed.
	again := oauthState("plain", now, now.Add(time.Minute))
	must(t, s.CreateOAuthState(ctx, again), "CreateOAuthState after consuming the hash")
	got, err = s.ConsumeOAuthState(ctx, again.Hash)
	must(t, err, "ConsumeOAuthState(again)")
	wantEqual(t, got, again, "ConsumeOAuthState(again)")

	// An expired state is still returned: the caller rejects it.
	expired := oauthState("expired", now.Add(-time.Hour), now.Add(-time.Minute))
	must(t, s.CreateOAuthState(ctx, expired), "CreateOAuthState(expired)")
	got, err = s.ConsumeOAuthState(ctx, expired.Hash)
	must(t, err, "ConsumeOAuthState(expired)")
	wantEqual(t, got, expired, "ConsumeOAuthState(expired)")
}

// States expired for more than a day are purged by any consumption.
func testOAuthStatePurge(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := time.Now()
	ancient := oauthState("ancient", now.Add(-30*24*time.Hour), now.Add(-29*24*time.Hour))
	old := oauthState("old", now.Add(-26*time.Hour), now.Add(-25*time.Hour))
	recent := oauthState("recent", now.Add(-24*time.Hour), now.Add(-23*time.Hour))
	live := oauthState("live", now, now.Add(10*time.Minute))
	trigger := oauthState("trigger", now, now.Add(10*time.Minute))
	for _, st := range []store.OAuthState{ancient, old, recent, live, trigger} {
		must(t, s.CreateOAuthState(ctx, st), "CreateOAuthState")
	}

	_, err := s.ConsumeOAuthState(ctx, trigger.Hash)
	must(t, err, "ConsumeOAuthState(trigger)")
	_, err = s.ConsumeOAuthState(ctx, ancient.Hash)
	wantErr(t, err, store.ErrNotFound, "ConsumeOAuthState of a state expired for 29 days")
	_, err = s.ConsumeOAuthState(ctx, old.Hash)
	wantErr(t, err, store.ErrNotFound, "ConsumeOAuthState of a state expired for 25 hours")
	for _, st := range []store.OAuthState{recent, live} {
		got, err := s.ConsumeOAuthState(ctx, st.Hash)
		must(t, err, "ConsumeOAuthState of a state that must not be purged")
		wantEqual(t, got, st, "ConsumeOAuthState of a state that must not be purged")
	}

	// A consumption that finds nothing purges too.
	stale := oauthState("stale", now.Add(-50*time.Hour), now.Add(-49*time.Hour))
	must(t, s.CreateOAuthState(ctx, stale), "CreateOAuthState(stale)")
	_, err = s.ConsumeOAuthState(ctx, stateHash("unknown"))
	wantErr(t, err, store.ErrNotFound, "ConsumeOAuthState(unknown)")
	_, err = s.ConsumeOAuthState(ctx, stale.Hash)
	wantErr(t, err, store.ErrNotFound, "ConsumeOAuthState of a stale state after a failed consumption")
}

func testLeases(t *testing.T, s store.Store) {
	ctx := t.Context()
	const name = "refresh:cred_1"
	acquire := func(owner string, until, now time.Time, want bool, what string) {
		t.Helper()
		held, err := s.AcquireLease(ctx, name, owner, until, now)
		must(t, err, "AcquireLease "+what)
		if held != want {
			t.Errorf("AcquireLease %s = %v, want %v", what, held, want)
		}
	}
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	acquire("a", at(time.Minute), at(0), true, "of a free lease")
	acquire("b", at(time.Minute), at(30*time.Second), false, "held by another owner")
	acquire("a", at(2*time.Minute), at(30*time.Second), true, "by its owner (extend)")
	// Had a's lease not been extended, it would have expired by now.
	acquire("b", at(3*time.Minute), at(90*time.Second), false, "after its owner extended it")
	// Expired exactly at now: free.
	acquire("b", at(3*time.Minute), at(2*time.Minute), true, "after expiry by another owner")
	acquire("a", at(4*time.Minute), at(2*time.Minute+time.Second), false, "taken over by another owner")

	// Another name is another lease.
	held, err := s.AcquireLease(ctx, "refresh:cred_2", "a", at(4*time.Minute), at(2*time.Minute))
	must(t, err, "AcquireLease of another name")
	if !held {
		t.Error("AcquireLease of another name = false, want true")
	}

	must(t, s.ReleaseLease(ctx, name, "a"), "ReleaseLease by a non-owner")
	acquire("a", at(4*time.Minute), at(2*time.Minute+time.Second), false, "after a release by a non-owner")
	must(t, s.ReleaseLease(ctx, "refresh:unknown", "a"), "ReleaseLease of an unknown lease")

	must(t, s.ReleaseLease(ctx, name, "b"), "ReleaseLease by its owner")
	acquire("a", at(5*time.Minute), at(2*time.Minute+time.Second), true, "after release")
	must(t, s.ReleaseLease(ctx, name, "a"), "ReleaseLease")
	must(t, s.ReleaseLease(ctx, name, "a"), "ReleaseLease twice")
	acquire("b", at(5*time.Minute), at(2*time.Minute+time.Second), true, "after a second release")

	// The other name was untouched throughout.
	held, err = s.AcquireLease(ctx, "refresh:cred_2", "b", at(5*time.Minute), at(3*time.Minute))
	must(t, err, "AcquireLease of another name")
	if held {
		t.Error("AcquireLease of another name held by a = true, want false")
	}
}

// testHoldLease checks leases judged by the database's clock: taken,
// refused to others while live, renewed by their owner, free again once
// ttl has passed in real time, released.
func testHoldLease(t *testing.T, s store.Store) {
	ctx := t.Context()
	const name, ttl = "refresh:cred_db_clock", 400 * time.Millisecond
	hold := func(owner string, want bool, what string) {
		t.Helper()
		held, err := s.HoldLease(ctx, name, owner, ttl)
		must(t, err, "HoldLease "+what)
		if held != want {
			t.Errorf("HoldLease %s = %v, want %v", what, held, want)
		}
	}
	if _, err := s.HoldLease(ctx, name, "a", 0); err == nil {
		t.Error("HoldLease with a zero ttl succeeded")
	}
	hold("a", true, "of a free lease")
	hold("b", false, "held by another owner")
	time.Sleep(ttl / 2)
	hold("a", true, "by its owner (renew)")
	time.Sleep(ttl/2 + 50*time.Millisecond)
	// Past the first expiry, but the renewal holds.
	hold("b", false, "after its owner renewed it")
	time.Sleep(ttl)
	hold("b", true, "after it expired")
	hold("a", false, "taken over by another owner")
	must(t, s.ReleaseLease(ctx, name, "a"), "ReleaseLease by a non-owner")
	hold("a", false, "after a release by a non-owner")
	must(t, s.ReleaseLease(ctx, name, "b"), "ReleaseLease by its owner")
	hold("a", true, "after release")

	// A lease written with AcquireLease far in the future (a caller whose
	// clock runs ahead) is still live by the database's clock, and one
	// written as expired by a caller's clock is free.
	now := time.Now()
	held, err := s.AcquireLease(ctx, "refresh:skewed", "fast", now.Add(time.Hour), now)
	must(t, err, "AcquireLease")
	if !held {
		t.Fatal("AcquireLease of a free lease = false")
	}
	hold2, err := s.HoldLease(ctx, "refresh:skewed", "other", ttl)
	must(t, err, "HoldLease")
	if hold2 {
		t.Error("HoldLease took a lease that is live by the database's clock")
	}
}

// setRefresh sets a credential's RefreshAt and returns it as stored.
func setRefresh(t *testing.T, s store.Store, id string, at time.Time) store.Credential {
	t.Helper()
	c, err := s.UpdateCredential(t.Context(), id, func(c store.Credential) (store.Credential, error) {
		c.RefreshAt = at
		return c, nil
	})
	must(t, err, "UpdateCredential (RefreshAt)")
	return c
}

func testRefreshFields(t *testing.T, s store.Store) {
	ctx := t.Context()
	ws := newWorkspace(t, s, "default")
	in := newIntegration(t, s, ws.ID, "github")

	// Mutate inserts them.
	set, err := s.Mutate(ctx, in.ID, func(set *store.CredentialSet) error {
		rotate(set, []byte("ct1"), t0)
		set.Credentials[0].RefreshAt = t1
		set.Credentials[0].Failures = 2
		return nil
	})
	must(t, err, "Mutate")
	c := active(t, set.Credentials)
	if !c.RefreshAt.Equal(t1.Truncate(time.Microsecond)) || c.Failures != 2 {
		t.Errorf("Mutate stored RefreshAt %v Failures %d, want %v 2", c.RefreshAt, c.Failures, t1)
	}
	got, err := s.GetCredential(ctx, c.ID)
	must(t, err, "GetCredential")
	wantEqual(t, got, c, "GetCredential after Mutate")
	creds, err := s.ListCredentials(ctx, in.ID)
	must(t, err, "ListCredentials")
	wantEqual(t, creds, set.Credentials, "ListCredentials after Mutate")

	// Mutate updates them.
	set, err = s.Mutate(ctx, in.ID, func(set *store.CredentialSet) error {
		wantEqual(t, set.Credentials[0], c, "Mutate fn credential")
		set.Credentials[0].RefreshAt = t2
		set.Credentials[0].Failures = 7
		return nil
	})
	must(t, err, "Mutate (update)")
	want := c
	want.RefreshAt, want.Failures, want.Revision = t2, 7, c.Revision+1
	wantEqual(t, set.Credentials, []store.Credential{want}, "Mutate (update) credentials")
	got, err = s.GetCredential(ctx, c.ID)
	must(t, err, "GetCredential")
	wantEqual(t, got, want, "GetCredential after Mutate (update)")

	// UpdateCredential updates and clears them.
	want.RefreshAt, want.Failures, want.Revision = t1, 0, want.Revision+1
	got, err = s.UpdateCredential(ctx, c.ID, func(old store.Credential) (store.Credential, error) {
		old.RefreshAt, old.Failures = t1, 0
		return old, nil
	})
	must(t, err, "UpdateCredential")
	wantEqual(t, got, want, "UpdateCredential result")
	want.RefreshAt, want.Failures, want.Revision = time.Time{}, 3, want.Revision+1
	got, err = s.UpdateCredential(ctx, c.ID, func(old store.Credential) (store.Credential, error) {
		old.RefreshAt, old.Failures = time.Time{}, 3
		return old, nil
	})
	must(t, err, "UpdateCredential (clear RefreshAt)")
	wantEqual(t, got, want, "UpdateCredential (clear RefreshAt) result")
	got, err = s.GetCredential(ctx, c.ID)
	must(t, err, "GetCredential")
	wantEqual(t, got, want, "GetCredential after clearing RefreshAt")
	if !got.RefreshAt.IsZero() {
		t.Errorf("cleared RefreshAt reads %v, want the zero time", got.RefreshAt)
	}

	// A rotation keeps the demoted version's fields; the new one starts
	// without either.
	set, err = s.Mutate(ctx, in.ID, func(set *store.CredentialSet) error {
		set.Credentials[0].RefreshAt = t1
		rotate(set, []byte("ct2"), t1)
		return nil
	})
	must(t, err, "Mutate (rotate)")
	if len(set.Credentials) != 2 {
		t.Fatalf("after rotation, %d credentials, want 2", len(set.Credentials))
	}
	prev, next := set.Credentials[0], set.Credentials[1]
	if prev.State != store.StatePrevious || !prev.RefreshAt.Equal(t1.Truncate(time.Microsecond)) || prev.Failures != 3 {
		t.Errorf("demoted credential %s RefreshAt %v Failures %d, want previous %v 3", prev.State, prev.RefreshAt,
			prev.Failures, t1)
	}
	if !next.RefreshAt.IsZero() || next.Failures != 0 {
		t.Errorf("new credential RefreshAt %v Failures %d, want zero", next.RefreshAt, next.Failures)
	}
}

func testListDueCredentials(t *testing.T, s store.Store) {
	ctx := t.Context()
	ws := newWorkspace(t, s, "default")
	other := newWorkspace(t, s, "other")
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	before := at(10 * time.Minute)

	due := func(wsID, name string, refresh time.Time) store.Credential {
		t.Helper()
		in := newIntegration(t, s, wsID, name)
		c := newCredential(t, s, in.ID, []byte("ct-"+name))
		if refresh.IsZero() {
			return c
		}
		return setRefresh(t, s, c.ID, refresh)
	}
	a := due(ws.ID, "a", at(3*time.Minute))
	b := due(ws.ID, "b", at(time.Minute))
	c := due(other.ID, "c", at(2*time.Minute)) // every workspace
	d := due(ws.ID, "d", before)               // the bound is inclusive
	due(ws.ID, "late", before.Add(time.Microsecond))
	due(ws.ID, "never", time.Time{})

	// Versions that are not active are never due, whatever their RefreshAt.
	old := newIntegration(t, s, ws.ID, "rotated")
	for i := range 3 {
		_, err := s.Mutate(ctx, old.ID, func(set *store.CredentialSet) error {
			rotate(set, fmt.Appendf(nil, "ct-rotated-%d", i), t0)
			return nil
		})
		must(t, err, "Mutate (rotate)")
	}
	creds, err := s.ListCredentials(ctx, old.ID)
	must(t, err, "ListCredentials")
	for _, cr := range creds {
		if cr.State != store.StateActive {
			setRefresh(t, s, cr.ID, at(-time.Hour))
		}
	}

	for _, tc := range []struct {
		name   string
		before time.Time
		limit  int
		want   []store.Credential
	}{
		{"all due", before, 10, []store.Credential{b, c, a, d}},
		{"default limit", before, 0, []store.Credential{b, c, a, d}},
		{"limit", before, 2, []store.Credential{b, c}},
		{"limit 1", before, 1, []store.Credential{b}},
		{"earlier bound", at(2 * time.Minute), 10, []store.Credential{b, c}},
		{"bound just before the first", at(time.Minute - time.Microsecond), 10, nil},
		{"later bound", at(time.Hour), 10, []store.Credential{b, c, a, d,
			mustGet(t, s, "late")}},
	} {
		got, err := s.ListDueCredentials(ctx, tc.before, tc.limit)
		must(t, err, "ListDueCredentials "+tc.name)
		wantEqual(t, got, tc.want, "ListDueCredentials "+tc.name)
	}

	// Revoking or demoting takes a version off the list.
	_, err = s.UpdateCredential(ctx, b.ID, func(c store.Credential) (store.Credential, error) {
		c.State, c.RevokedAt = store.StateRevoked, t1
		return c, nil
	})
	must(t, err, "UpdateCredential (revoke)")
	got, err := s.ListDueCredentials(ctx, before, 10)
	must(t, err, "ListDueCredentials")
	if len(got) != 3 || got[0].ID != c.ID || got[1].ID != a.ID || got[2].ID != d.ID {
		t.Errorf("ListDueCredentials after revoking %s: %v", b.ID, ids(got))
	}
}

// mustGet returns the active credential of the integration named name in
// any workspace.
func mustGet(t *testing.T, s store.Store, name string) store.Credential {
	t.Helper()
	ins, err := s.ListIntegrations(t.Context(), "")
	must(t, err, "ListIntegrations")
	for _, in := range ins {
		if in.Name == name {
			creds, err := s.ListCredentials(t.Context(), in.ID)
			must(t, err, "ListCredentials")
			return active(t, creds)
		}
	}
	t.Fatalf("no integration %s", name)
	return store.Credential{}
}

func ids(cs []store.Credential) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}
