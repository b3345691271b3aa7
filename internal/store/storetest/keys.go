package storetest

import (
	"errors"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

// testScan: ScanCredentials and ScanIntegrations walk every row of every
// workspace in id order, page by page, and the counts match.
func testScan(t *testing.T, s store.Store) {
	ctx := t.Context()
	cs, err := s.ScanCredentials(ctx, "", 10)
	must(t, err, "ScanCredentials when empty")
	ins, err := s.ScanIntegrations(ctx, "", 10)
	must(t, err, "ScanIntegrations when empty")
	if len(cs) != 0 || len(ins) != 0 {
		t.Fatalf("empty store scanned %d credentials, %d integrations", len(cs), len(ins))
	}
	n, err := s.CountCredentials(ctx)
	must(t, err, "CountCredentials")
	if n != 0 {
		t.Errorf("CountCredentials when empty = %d", n)
	}

	var wantCreds, wantInts []string
	for _, ws := range []string{"scan-a", "scan-b"} {
		w := newWorkspace(t, s, ws)
		for i := range 4 {
			in := newIntegration(t, s, w.ID, ws+"-"+string(rune('a'+i)))
			wantInts = append(wantInts, in.ID)
			for range i {
				wantCreds = append(wantCreds, newCredential(t, s, in.ID, []byte("sealed")).ID)
			}
		}
	}
	sort.Strings(wantCreds)
	sort.Strings(wantInts)

	var gotCreds []string
	for after := ""; ; {
		page, err := s.ScanCredentials(ctx, after, 4)
		must(t, err, "ScanCredentials")
		if len(page) > 4 {
			t.Fatalf("ScanCredentials returned %d rows, limit 4", len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, c := range page {
			gotCreds = append(gotCreds, c.ID)
		}
		after = page[len(page)-1].ID
	}
	if !slices.Equal(gotCreds, wantCreds) {
		t.Errorf("ScanCredentials walked %v, want %v", gotCreds, wantCreds)
	}
	var gotInts []string
	for after := ""; ; {
		page, err := s.ScanIntegrations(ctx, after, 3)
		must(t, err, "ScanIntegrations")
		if len(page) == 0 {
			break
		}
		for _, in := range page {
			gotInts = append(gotInts, in.ID)
		}
		after = page[len(page)-1].ID
	}
	if !slices.Equal(gotInts, wantInts) {
		t.Errorf("ScanIntegrations walked %v, want %v", gotInts, wantInts)
	}

	// Rows read back whole.
	page, err := s.ScanCredentials(ctx, "", 0)
	must(t, err, "ScanCredentials default limit")
	if len(page) != len(wantCreds) {
		t.Fatalf("ScanCredentials default limit: %d rows, want %d", len(page), len(wantCreds))
	}
	got, err := s.GetCredential(ctx, page[0].ID)
	must(t, err, "GetCredential")
	wantEqual(t, page[0], got, "scanned credential")
	ipage, err := s.ScanIntegrations(ctx, wantInts[0], 1)
	must(t, err, "ScanIntegrations after the first")
	gotIn, err := s.GetIntegration(ctx, wantInts[1])
	must(t, err, "GetIntegration")
	if len(ipage) != 1 {
		t.Fatalf("ScanIntegrations after the first: %d rows", len(ipage))
	}
	wantEqual(t, ipage[0], gotIn, "scanned integration")

	n, err = s.CountCredentials(ctx)
	must(t, err, "CountCredentials")
	if n != int64(len(wantCreds)) {
		t.Errorf("CountCredentials = %d, want %d", n, len(wantCreds))
	}
	n, err = s.CountIntegrations(ctx)
	must(t, err, "CountIntegrations")
	if n != int64(len(wantInts)) {
		t.Errorf("CountIntegrations = %d, want %d", n, len(wantInts))
	}
}

// testJobs: PutJob is a compare-and-swap on the revision.
func testJobs(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.GetJob(ctx, "rewrap")
	wantErr(t, err, store.ErrNotFound, "GetJob when none")
	_, err = s.PutJob(ctx, store.Job{Name: "rewrap", State: "running", Revision: 3})
	wantErr(t, err, store.ErrConflict, "PutJob at a revision when none")

	j := store.Job{Name: "rewrap", State: "running", Data: []byte(`{"cursor":""}`), StartedAt: t0, UpdatedAt: t0}
	stored, err := s.PutJob(ctx, j)
	must(t, err, "PutJob new")
	if stored.Revision != 1 {
		t.Errorf("new job revision = %d, want 1", stored.Revision)
	}
	j.Revision = 1
	wantEqual(t, stored, j, "PutJob new returns")
	got, err := s.GetJob(ctx, "rewrap")
	must(t, err, "GetJob")
	wantEqual(t, got, j, "GetJob")

	_, err = s.PutJob(ctx, store.Job{Name: "rewrap", State: "running"})
	wantErr(t, err, store.ErrConflict, "PutJob new when one exists")

	next := got
	next.State, next.Data, next.UpdatedAt, next.FinishedAt = "done", []byte(`{"cursor":"cred_z"}`), t1, t2
	stored, err = s.PutJob(ctx, next)
	must(t, err, "PutJob update")
	next.Revision = 2
	wantEqual(t, stored, next, "PutJob update returns")
	_, err = s.PutJob(ctx, got) // stale revision 1
	wantErr(t, err, store.ErrConflict, "PutJob at a stale revision")
	got, err = s.GetJob(ctx, "rewrap")
	must(t, err, "GetJob")
	wantEqual(t, got, next, "GetJob after a lost swap")

	// Another name is another job.
	other, err := s.PutJob(ctx, store.Job{Name: "other", State: "x"})
	must(t, err, "PutJob other")
	if other.Revision != 1 || !other.StartedAt.IsZero() || other.Data != nil {
		t.Errorf("other job = %+v", other)
	}
}

// testKeyUsage: counts add up per term.
func testKeyUsage(t *testing.T, s store.Store) {
	ctx := t.Context()
	u, err := s.KeyUsage(ctx)
	must(t, err, "KeyUsage when empty")
	if len(u) != 0 {
		t.Errorf("KeyUsage when empty = %v", u)
	}
	for _, step := range []struct {
		term uint32
		n    int64
		want int64
	}{{1, 1024, 1024}, {1, 2048, 3072}, {2, 5, 5}, {1 << 31, 1 << 40, 1 << 40}, {2, 0, 5}} {
		got, err := s.AddKeyUsage(ctx, step.term, step.n)
		must(t, err, "AddKeyUsage")
		if got != step.want {
			t.Errorf("AddKeyUsage(%d, %d) = %d, want %d", step.term, step.n, got, step.want)
		}
	}
	u, err = s.KeyUsage(ctx)
	must(t, err, "KeyUsage")
	want := map[uint32]int64{1: 3072, 2: 5, 1 << 31: 1 << 40}
	if len(u) != len(want) {
		t.Errorf("KeyUsage = %v, want %v", u, want)
	}
	for k, v := range want {
		if u[k] != v {
			t.Errorf("KeyUsage[%d] = %d, want %d", k, u[k], v)
		}
	}
}

// runKeysConcurrency: concurrent AddKeyUsage calls lose no count, and of
// concurrent PutJob calls at one revision exactly one wins.
func runKeysConcurrency(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("KeyUsage", func(t *testing.T) {
		s := newStore(t)
		const workers, each = 8, 25
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range each {
					if _, err := s.AddKeyUsage(t.Context(), 7, 3); err != nil {
						t.Errorf("AddKeyUsage: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		u, err := s.KeyUsage(t.Context())
		must(t, err, "KeyUsage")
		if u[7] != workers*each*3 {
			t.Errorf("KeyUsage[7] = %d, want %d", u[7], workers*each*3)
		}
	})
	t.Run("PutJob", func(t *testing.T) {
		s := newStore(t)
		j, err := s.PutJob(t.Context(), store.Job{Name: "rewrap", State: "running", StartedAt: time.Now()})
		must(t, err, "PutJob")
		for round := range 5 {
			winners := race(t, 6, func(i int) (string, bool, error) {
				next := j
				next.Data = []byte{byte(i)}
				_, err := s.PutJob(t.Context(), next)
				if err != nil && !errors.Is(err, store.ErrConflict) {
					return "", false, err
				}
				return "", err == nil, nil
			})
			if len(winners) != 1 {
				t.Fatalf("round %d: %d PutJob calls won at one revision, want 1", round, len(winners))
			}
			j, err = s.GetJob(t.Context(), "rewrap")
			must(t, err, "GetJob")
		}
	})
}
