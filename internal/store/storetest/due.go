package storetest

import (
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

// CheckDueCredentials lists the credentials of s due by before, 100 at
// most, and fails t unless there are 100, active, due and earliest first.
// It logs how long the listing took among n credentials, with the
// query's plan: the backends' plan tests share it.
func CheckDueCredentials(t *testing.T, s store.Store, before time.Time, n int, plan string) {
	t.Helper()
	start := time.Now()
	got, err := s.ListDueCredentials(t.Context(), before, 100)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ListDueCredentials(limit 100) over %d credentials: %v\n%s", n, elapsed, plan)
	if len(got) != 100 {
		t.Fatalf("%d due credentials, want 100", len(got))
	}
	for i, c := range got {
		if c.State != store.StateActive || c.RefreshAt.IsZero() || c.RefreshAt.After(before) ||
			(i > 0 && c.RefreshAt.Before(got[i-1].RefreshAt)) {
			t.Fatalf("due credential %d: %+v", i, c)
		}
	}
}

// CheckDueVerifications lists the verifications of s due at now, 500 at
// most, and fails t unless there are n/1000 (one in a thousand of n
// integrations is due), each connected, due and earliest first. It logs
// how long the listing took, with the query's plan.
func CheckDueVerifications(t *testing.T, s store.Store, now time.Time, n int, plan string) {
	t.Helper()
	start := time.Now()
	got, err := s.ListDueVerifications(t.Context(), now, store.VerifyCursor{}, 500)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ListDueVerifications(limit 500) over %d integrations, %d due: %v\n%s", n, n/1000, elapsed, plan)
	if len(got) != n/1000 {
		t.Fatalf("%d due verifications, want %d", len(got), n/1000)
	}
	for i, d := range got {
		if d.Integration.Status != store.StatusConnected || d.NextVerifyAt.After(now) ||
			(i > 0 && d.NextVerifyAt.Before(got[i-1].NextVerifyAt)) {
			t.Fatalf("due verification %d: %+v", i, d)
		}
	}
}
