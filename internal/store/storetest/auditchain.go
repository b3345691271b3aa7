package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/audit"
	"github.com/stormcreds/storm/internal/store"
)

// ChainDB is one database for RunAuditChain: a store on it, a way to
// tamper with it behind the store's back, and a way to open a second
// store on the same database (another instance or process).
type ChainDB struct {
	Store store.Store
	// Exec runs statements (no arguments) on the database directly, as
	// someone with write access to it would.
	Exec func(t *testing.T, sql string)
	// Another opens another Store on the same database, closed when t ends.
	Another func(t *testing.T) store.Store
}

// RunAuditChain checks that a store keeps one valid audit hash chain and
// that tampering with the database is found and the first bad entry
// named. newDB must return a fresh, empty database.
func RunAuditChain(t *testing.T, newDB func(t *testing.T) ChainDB) {
	t.Run("DetectsChangedEntry", func(t *testing.T) {
		db := newDB(t)
		ids := appendEntries(t, db.Store, 6)
		wantVerify(t, db.Store, audit.Result{OK: true, Entries: 6})
		db.Exec(t, `UPDATE audit SET target = 'int_other' WHERE id = '`+ids[2]+`'`)
		wantVerify(t, db.Store, audit.Result{Entries: 6, FirstBad: ids[2], Reason: audit.ReasonChanged})
	})
	t.Run("DetectsChangedTime", func(t *testing.T) {
		db := newDB(t)
		ids := appendEntries(t, db.Store, 4)
		db.Exec(t, `UPDATE audit SET at = (SELECT at FROM audit WHERE id = '`+ids[0]+`') WHERE id = '`+ids[3]+`'`)
		wantVerify(t, db.Store, audit.Result{Entries: 4, FirstBad: ids[3], Reason: audit.ReasonChanged})
	})
	t.Run("DetectsDeletedEntry", func(t *testing.T) {
		db := newDB(t)
		ids := appendEntries(t, db.Store, 6)
		db.Exec(t, `DELETE FROM audit WHERE id = '`+ids[2]+`'`)
		wantVerify(t, db.Store, audit.Result{Entries: 5, FirstBad: ids[3], Reason: audit.ReasonMissing})
	})
	t.Run("DetectsReorderedEntry", func(t *testing.T) {
		db := newDB(t)
		ids := appendEntries(t, db.Store, 6)
		// Move the fifth entry to the end, intact: 1 2 3 4 6 5.
		db.Exec(t, `CREATE TEMP TABLE moved AS SELECT * FROM audit WHERE id = '`+ids[4]+`';
			DELETE FROM audit WHERE id = '`+ids[4]+`';
			INSERT INTO audit (`+store.AuditColumns+`) SELECT `+store.AuditColumns+` FROM moved;
			DROP TABLE moved`)
		wantVerify(t, db.Store, audit.Result{Entries: 6, FirstBad: ids[5], Reason: audit.ReasonReordered})
	})
	t.Run("FoldOnce", func(t *testing.T) {
		db := newDB(t)
		appendEntries(t, db.Store, 2)
		fold := store.AuditFold{Segment: "seg-a", Records: []store.AuditRecord{entry(1), entry(2)}}
		folded, err := db.Store.FoldAudit(t.Context(), fold)
		must(t, err, "FoldAudit")
		if !folded {
			t.Fatal("first fold of a segment appended nothing")
		}
		// The same segment again (a crash before its file was removed)
		// appends nothing, from this store or another on the database.
		for _, s := range []store.Store{db.Store, db.Another(t)} {
			again := store.AuditFold{Segment: "seg-a", Records: []store.AuditRecord{entry(1), entry(2)}}
			folded, err = s.FoldAudit(t.Context(), again)
			must(t, err, "FoldAudit again")
			if folded {
				t.Fatal("a segment folded twice")
			}
		}
		wantVerify(t, db.Store, audit.Result{OK: true, Entries: 4})
		// Forgetting the mark (the file is gone) happens with the next
		// fold; then the name is free again.
		folded, err = db.Store.FoldAudit(t.Context(), store.AuditFold{Segment: "seg-b", Forget: []string{"seg-a"}, Records: []store.AuditRecord{entry(3)}})
		must(t, err, "FoldAudit forgetting")
		if !folded {
			t.Fatal("fold of seg-b appended nothing")
		}
		folded, err = db.Store.FoldAudit(t.Context(), store.AuditFold{Segment: "seg-a", Forget: []string{"seg-b"}})
		must(t, err, "FoldAudit after forgetting")
		if !folded {
			t.Fatal("a forgotten segment's mark was kept")
		}
		_, err = db.Store.FoldAudit(t.Context(), store.AuditFold{Forget: []string{"seg-a"}})
		must(t, err, "FoldAudit that only forgets")
		wantVerify(t, db.Store, audit.Result{OK: true, Entries: 5})
	})
	t.Run("FailedFoldLeavesNoMark", func(t *testing.T) {
		db := newDB(t)
		dup := entry(2)
		dup.ID = "aud_dup"
		must(t, db.Store.AppendAudit(t.Context(), dup), "AppendAudit")
		_, err := db.Store.FoldAudit(t.Context(), store.AuditFold{Segment: "seg-x", Records: []store.AuditRecord{entry(3), dup}})
		if err == nil {
			t.Fatal("fold with a duplicate id succeeded")
		}
		folded, err := db.Store.FoldAudit(t.Context(), store.AuditFold{Segment: "seg-x", Records: []store.AuditRecord{entry(3)}})
		must(t, err, "FoldAudit after a failed one")
		if !folded {
			t.Fatal("a failed fold left its segment marked")
		}
		wantVerify(t, db.Store, audit.Result{OK: true, Entries: 2})
	})
	t.Run("ConcurrentAppendsOneChain", func(t *testing.T) {
		db := newDB(t)
		stores := []store.Store{db.Store, db.Another(t)}
		const workers, each = 8, 15
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := stores[w%len(stores)]
				for i := range each {
					// Batches of one and of three, as the API and the
					// group-committed reads append them.
					recs := []store.AuditRecord{entry(i)}
					if i%4 == 0 {
						recs = append(recs, entry(i), entry(i))
					}
					if err := s.AppendAudit(t.Context(), recs...); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		n := int64(workers * (each + 2*((each+3)/4)))
		wantVerify(t, db.Store, audit.Result{OK: true, Entries: n})
		wantVerify(t, stores[1], audit.Result{OK: true, Entries: n})
	})
}

func entry(i int) store.AuditRecord {
	return store.AuditRecord{
		WorkspaceID: "ws_chain", Actor: "tok_chain", Action: "credential.access",
		Target: fmt.Sprintf("int_%d", i), At: time.Now(), IP: "192.0.2.9",
		Detail: []byte(`{"count": 2}`),
	}
}

// appendEntries appends n entries, in batches of one and two, and
// returns their ids in log order.
func appendEntries(t *testing.T, s store.Store, n int) []string {
	t.Helper()
	var ids []string
	for i := 0; i < n; {
		recs := []store.AuditRecord{entry(i)}
		if i%3 == 1 && i+1 < n {
			recs = append(recs, entry(i+1))
		}
		must(t, s.AppendAudit(t.Context(), recs...), "AppendAudit")
		for _, r := range recs {
			ids = append(ids, r.ID)
		}
		i += len(recs)
	}
	return ids
}

func wantVerify(t *testing.T, s store.Store, want audit.Result) {
	t.Helper()
	got, err := audit.Verify(t.Context(), s.ListAudit)
	must(t, err, "Verify")
	if got != want {
		t.Errorf("Verify = %+v, want %+v", got, want)
	}
}
