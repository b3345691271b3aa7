package journal

import (
	"fmt"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

// BenchmarkRecordARead compares the two ways a secret read can be
// recorded before it is answered: one journal append (a framed batch
// copied into the mapped segment; folds every 200 ms, merging, included)
// and one SQLite audit transaction, what every read batch cost before the
// journal.
// bench/RESULTS.md records the ratio.
func BenchmarkRecordARead(b *testing.B) {
	b.Run("journal", func(b *testing.B) {
		db := newDB(b)
		j, err := Open(b.Context(), Config{Dir: b.TempDir(), Store: db, Interval: 200 * time.Millisecond, Merge: onePerTarget})
		if err != nil {
			b.Fatal(err)
		}
		defer j.Close(b.Context())
		for b.Loop() {
			if err := j.Append(b.Context(), read("int_b", 1)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sqlite-transaction", func(b *testing.B) {
		db := newDB(b)
		for b.Loop() {
			if err := db.AppendAudit(b.Context(), read("int_b", 1)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// onePerTarget merges records of one read each, as the server's
// MergeReads does, without parsing their details.
func onePerTarget(recs []store.AuditRecord) []store.AuditRecord {
	n := map[string]int{}
	var out []store.AuditRecord
	for _, r := range recs {
		if n[r.Target] == 0 {
			out = append(out, r)
		}
		n[r.Target]++
	}
	for i := range out {
		out[i].Detail = fmt.Appendf(nil, `{"count":%d}`, n[out[i].Target])
	}
	return out
}
