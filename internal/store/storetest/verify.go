package storetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

// verifiable creates an integration with status (a credential or not,
// the schedule looks only at the status).
func verifiable(t *testing.T, s store.Store, workspaceID, name, status string) store.Integration {
	t.Helper()
	in := integration(workspaceID, name)
	in.Status = status
	must(t, s.CreateIntegration(t.Context(), in), "CreateIntegration "+name)
	got, err := s.GetIntegration(t.Context(), in.ID)
	must(t, err, "GetIntegration "+name)
	return got
}

func schedule(t *testing.T, s store.Store, id string, next, now time.Time) bool {
	t.Helper()
	ok, err := s.ScheduleVerification(t.Context(), id, next, now)
	must(t, err, "ScheduleVerification")
	return ok
}

func testListDueVerifications(t *testing.T, s store.Store) {
	ctx := t.Context()
	ws := newWorkspace(t, s, "default")
	other := newWorkspace(t, s, "other")
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	a := verifiable(t, s, ws.ID, "a", store.StatusConnected)
	b := verifiable(t, s, ws.ID, "b", store.StatusDegraded)
	c := verifiable(t, s, other.ID, "c", store.StatusReconnectRequired) // every workspace
	d := verifiable(t, s, ws.ID, "d", store.StatusConnected)
	late := verifiable(t, s, ws.ID, "late", store.StatusConnected)
	// Nothing to verify: never due, whenever their turn.
	verifiable(t, s, ws.ID, "pending", store.StatusPending)
	disabled := verifiable(t, s, ws.ID, "disabled", store.StatusDisabled)

	// A new integration is due at once (the zero time), in id order.
	fresh := []store.Integration{a, b, c, d, late}
	slices.SortFunc(fresh, func(x, y store.Integration) int { return strings.Compare(x.ID, y.ID) })
	var want []store.DueVerification
	for _, in := range fresh {
		want = append(want, store.DueVerification{Integration: in})
	}
	got, err := s.ListDueVerifications(ctx, t0, store.VerifyCursor{}, 10)
	must(t, err, "ListDueVerifications (new)")
	wantEqual(t, got, want, "ListDueVerifications (new)")

	// Taking a turn moves it once: the second claim of the same turn
	// finds it no longer due.
	if !schedule(t, s, a.ID, at(3*time.Minute), t0) {
		t.Fatal("ScheduleVerification of a due turn did not take it")
	}
	if schedule(t, s, a.ID, at(5*time.Minute), t0) {
		t.Error("ScheduleVerification took a turn that is not due")
	}
	schedule(t, s, b.ID, at(time.Minute), t0)
	schedule(t, s, c.ID, at(2*time.Minute), t0)
	schedule(t, s, late.ID, at(10*time.Minute+time.Microsecond), t0)
	schedule(t, s, disabled.ID, at(-time.Hour), t0)
	if ok, err := s.ScheduleVerification(ctx, "int_unknown", at(time.Minute), t0); ok || err != nil {
		t.Errorf("ScheduleVerification of an unknown integration: %v, %v", ok, err)
	}
	if _, err := s.ScheduleVerification(ctx, a.ID, time.Time{}, t0); err == nil {
		t.Error("ScheduleVerification to the zero time succeeded")
	}

	due := func(in store.Integration, next time.Time) store.DueVerification {
		return store.DueVerification{Integration: in, NextVerifyAt: next}
	}
	dd, bd, cd, ad := due(d, time.Time{}), due(b, at(time.Minute)), due(c, at(2*time.Minute)), due(a, at(3*time.Minute))
	now := at(10 * time.Minute)
	for _, tc := range []struct {
		name  string
		now   time.Time
		after store.VerifyCursor
		limit int
		want  []store.DueVerification
	}{
		{"all due", now, store.VerifyCursor{}, 10, []store.DueVerification{dd, bd, cd, ad}},
		{"default limit", now, store.VerifyCursor{}, 0, []store.DueVerification{dd, bd, cd, ad}},
		{"limit", now, store.VerifyCursor{}, 2, []store.DueVerification{dd, bd}},
		{"after a never scheduled one", now, dd.Cursor(), 2, []store.DueVerification{bd, cd}},
		{"after a scheduled one", now, bd.Cursor(), 10, []store.DueVerification{cd, ad}},
		{"after the last", now, ad.Cursor(), 10, nil},
		{"the bound is inclusive", at(2 * time.Minute), store.VerifyCursor{}, 10, []store.DueVerification{dd, bd, cd}},
		{"before any turn", t0.Add(-time.Hour), store.VerifyCursor{}, 10, []store.DueVerification{dd}},
		{"later bound", at(time.Hour), store.VerifyCursor{}, 10, []store.DueVerification{dd, bd, cd, ad,
			due(late, at(10*time.Minute+time.Microsecond))}},
	} {
		got, err := s.ListDueVerifications(ctx, tc.now, tc.after, tc.limit)
		must(t, err, "ListDueVerifications "+tc.name)
		wantEqual(t, got, tc.want, "ListDueVerifications "+tc.name)
	}

	// Updates leave the schedule alone; a status with nothing to verify
	// takes an integration off it, and back again keeps its turn.
	setStatus := func(in store.Integration, status string) store.Integration {
		t.Helper()
		up, err := s.UpdateIntegration(ctx, in.ID, func(in store.Integration) (store.Integration, error) {
			in.Status, in.LastVerifiedAt = status, t1
			return in, nil
		})
		must(t, err, "UpdateIntegration")
		return up
	}
	setStatus(c, store.StatusDisabled)
	b = setStatus(b, store.StatusConnected)
	_, err = s.Mutate(ctx, a.ID, func(set *store.CredentialSet) error {
		rotate(set, []byte("ct-a"), t1)
		return nil
	})
	must(t, err, "Mutate")
	a, err = s.GetIntegration(ctx, a.ID)
	must(t, err, "GetIntegration")
	got, err = s.ListDueVerifications(ctx, now, store.VerifyCursor{}, 10)
	must(t, err, "ListDueVerifications after updates")
	wantEqual(t, got, []store.DueVerification{dd, due(b, at(time.Minute)), due(a, at(3*time.Minute))}, "ListDueVerifications after updates")
	c = setStatus(c, store.StatusDegraded)
	got, err = s.ListDueVerifications(ctx, now, bd.Cursor(), 10)
	must(t, err, "ListDueVerifications after re-enabling")
	wantEqual(t, got, []store.DueVerification{due(c, at(2*time.Minute)), due(a, at(3*time.Minute))}, "ListDueVerifications after re-enabling")
}

// testScheduleVerificationRace: instances that find the same turn due
// race to take it; exactly one does, so the integration is verified once.
func testScheduleVerificationRace(t *testing.T, s store.Store) {
	ws := newWorkspace(t, s, "default")
	in := verifiable(t, s, ws.ID, "raced", store.StatusConnected)
	for turn := range 3 {
		now := t0.Add(time.Duration(turn) * time.Hour)
		winners := race(t, 8, func(i int) (string, bool, error) {
			ok, err := s.ScheduleVerification(t.Context(), in.ID, now.Add(time.Hour-time.Minute), now)
			return fmt.Sprint(i), ok, err
		})
		if len(winners) != 1 {
			t.Fatalf("turn %d taken by %v, want exactly one instance", turn, winners)
		}
	}
}

// testScheduleVerifications: a page of turns moves in one call, each as
// ScheduleVerification would move it alone; instances racing with the
// same page take each turn exactly once between them; a zero time
// refuses the whole page.
func testScheduleVerifications(t *testing.T, s store.Store) {
	ctx := t.Context()
	ws := newWorkspace(t, s, "default")
	a := verifiable(t, s, ws.ID, "a", store.StatusConnected)
	b := verifiable(t, s, ws.ID, "b", store.StatusConnected)
	later := verifiable(t, s, ws.ID, "later", store.StatusConnected)
	schedule(t, s, later.ID, t0.Add(time.Hour), t0)

	took, err := s.ScheduleVerifications(ctx, []store.VerifyTurn{
		{ID: a.ID, Next: t0.Add(time.Minute), Now: t0},
		{ID: later.ID, Next: t0.Add(time.Minute), Now: t0}, // not due yet
		{ID: "int_unknown", Next: t0.Add(time.Minute), Now: t0},
		{ID: b.ID, Next: t0.Add(2 * time.Minute), Now: t0},
	})
	must(t, err, "ScheduleVerifications")
	wantEqual(t, took, []bool{true, false, false, true}, "ScheduleVerifications took")
	got, err := s.ListDueVerifications(ctx, t0.Add(time.Hour), store.VerifyCursor{}, 10)
	must(t, err, "ListDueVerifications")
	wantEqual(t, got, []store.DueVerification{
		{Integration: a, NextVerifyAt: t0.Add(time.Minute)},
		{Integration: b, NextVerifyAt: t0.Add(2 * time.Minute)},
		{Integration: later, NextVerifyAt: t0.Add(time.Hour)},
	}, "ListDueVerifications after ScheduleVerifications")

	if _, err := s.ScheduleVerifications(ctx, []store.VerifyTurn{
		{ID: a.ID, Next: t0.Add(3 * time.Hour), Now: t0.Add(2 * time.Hour)},
		{ID: b.ID, Next: time.Time{}, Now: t0.Add(2 * time.Hour)},
	}); err == nil {
		t.Error("ScheduleVerifications with a zero time succeeded")
	}
	if !schedule(t, s, a.ID, t0.Add(3*time.Hour), t0.Add(2*time.Hour)) {
		t.Error("a page refused for its zero time moved a turn anyway")
	}

	// Instances racing with the same page: each turn once.
	now := t0.Add(4 * time.Hour)
	page := []store.VerifyTurn{{ID: a.ID, Next: now.Add(time.Hour), Now: now}, {ID: b.ID, Next: now.Add(time.Hour), Now: now},
		{ID: later.ID, Next: now.Add(time.Hour), Now: now}}
	var mu sync.Mutex
	taken := map[string]int{}
	race(t, 8, func(i int) (string, bool, error) {
		took, err := s.ScheduleVerifications(t.Context(), page)
		mu.Lock()
		defer mu.Unlock()
		for j, ok := range took {
			if ok {
				taken[page[j].ID]++
			}
		}
		return fmt.Sprint(i), err == nil, err
	})
	for _, turn := range page {
		if taken[turn.ID] != 1 {
			t.Errorf("turn of %s taken %d times by racing pages, want once", turn.ID, taken[turn.ID])
		}
	}
}
