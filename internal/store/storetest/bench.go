package storetest

import (
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/audit"
	"github.com/stormcreds/storm/internal/store"
)

// BenchAudit measures one-record appends to the hash-chained audit log
// against a baseline of one-event appends to the (unchained) event log of
// the same store, and the cost of verifying the log afterwards.
func BenchAudit(b *testing.B, s store.Store) {
	ctx := b.Context()
	// Interleaved, so that both see the same load on a shared machine.
	b.Run("append", func(b *testing.B) {
		var event, chained time.Duration
		for b.Loop() {
			t0 := time.Now()
			if err := s.AppendEvent(ctx, store.Event{WorkspaceID: "ws_b", IntegrationID: "int_b", Type: "credential.saved", At: time.Now(), Data: []byte(`{"count":1}`)}); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if err := s.AppendAudit(ctx, store.AuditRecord{WorkspaceID: "ws_b", Actor: "tok_b", Action: "credential.access", Target: "int_b", At: time.Now(), IP: "192.0.2.1", Detail: []byte(`{"count":1}`)}); err != nil {
				b.Fatal(err)
			}
			event, chained = event+t1.Sub(t0), chained+time.Since(t1)
		}
		b.ReportMetric(float64(event.Nanoseconds())/float64(b.N), "ns/event")
		b.ReportMetric(float64(chained.Nanoseconds())/float64(b.N), "ns/audit")
		b.ReportMetric(float64(chained)/float64(event), "audit/event")
	})
	// Verifying a log of 10,000 entries (more once append has run).
	b.Run("verify", func(b *testing.B) {
		batch := make([]store.AuditRecord, 100)
		for range 100 {
			for i := range batch {
				batch[i] = store.AuditRecord{WorkspaceID: "ws_b", Actor: "tok_b", Action: "credential.access", Target: "int_b", At: time.Now(), IP: "192.0.2.1", Detail: []byte(`{"count":1}`)}
			}
			if err := s.AppendAudit(ctx, batch...); err != nil {
				b.Fatal(err)
			}
		}
		var n int64
		for b.Loop() {
			res, err := audit.Verify(ctx, s.ListAudit)
			if err != nil || !res.OK {
				b.Fatal(res, err)
			}
			n = res.Entries
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(int64(b.N)*n), "ns/entry")
	})
}
