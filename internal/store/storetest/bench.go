package storetest

import (
	"fmt"
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

// BenchQueries measures the store calls behind the hot requests, each on
// its own: the lookups of an /access or proxied request whose cache
// missed (GetAPITokenByHash, GetIntegration, ListCredentials), a first
// page of a listing (PageIntegrations), and the transaction of
// PUT …/credentials (Mutate writing the integration, a credential and an
// event). Run it from two builds to compare them; it has no baseline of
// its own. Besides ns/op each reports cpu-ns/op, the CPU time of this
// process per call (a database server's own CPU is not in it), which
// other work on the machine disturbs less than the wall clock.
func BenchQueries(b *testing.B, s store.Store) {
	ctx := b.Context()
	at := time.Now()
	ws := store.Workspace{ID: store.NewID("ws"), Name: "bench", CreatedAt: at}
	if err := s.CreateWorkspace(ctx, ws); err != nil {
		b.Fatal(err)
	}
	tok := store.APIToken{ID: store.NewID("tok"), Name: "bench", WorkspaceID: ws.ID, Role: "admin", Hash: []byte("0123456789abcdef0123456789abcdef"), CreatedAt: at}
	if err := s.CreateAPIToken(ctx, tok); err != nil {
		b.Fatal(err)
	}
	var in store.Integration
	for i := range 50 {
		in = integration(ws.ID, fmt.Sprint("bench ", i))
		if err := s.CreateIntegration(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	// Three versions, as an integration rotated twice holds.
	for i := range 3 {
		if _, err := s.Mutate(ctx, in.ID, func(set *store.CredentialSet) error {
			rotate(set, []byte(fmt.Sprint("secret ", i)), at)
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}

	b.Run("token-by-hash", func(b *testing.B) {
		defer ReportCPU(b)()
		for b.Loop() {
			if _, err := s.GetAPITokenByHash(ctx, tok.Hash); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get-integration", func(b *testing.B) {
		defer ReportCPU(b)()
		for b.Loop() {
			if _, err := s.GetIntegration(ctx, in.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("list-credentials", func(b *testing.B) {
		defer ReportCPU(b)()
		for b.Loop() {
			if cs, err := s.ListCredentials(ctx, in.ID); err != nil || len(cs) != 3 {
				b.Fatal(len(cs), err)
			}
		}
	})
	b.Run("page-integrations", func(b *testing.B) {
		defer ReportCPU(b)()
		for b.Loop() {
			if list, err := s.PageIntegrations(ctx, store.ListPage{WorkspaceID: ws.ID, Limit: 21}); err != nil || len(list) != 21 {
				b.Fatal(len(list), err)
			}
		}
	})
	b.Run("mutate", func(b *testing.B) {
		defer ReportCPU(b)()
		n := 0
		for b.Loop() {
			n++
			_, err := s.Mutate(ctx, in.ID, func(set *store.CredentialSet) error {
				// Replace the active version's secret in place, so the
				// set does not grow with b.N.
				for i := range set.Credentials {
					if set.Credentials[i].State == store.StateActive {
						set.Credentials[i].Secret = []byte(fmt.Sprint("secret ", n))
					}
				}
				set.Integration.UpdatedAt = at
				set.Events = append(set.Events, store.Event{Type: "credential.saved", At: at, Data: []byte(`{}`)})
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// ReportCPU starts measuring b's CPU time; the function it returns
// reports it as cpu-ns/op.
func ReportCPU(b *testing.B) func() {
	cpu0 := CPUTime()
	return func() {
		b.ReportMetric(float64((CPUTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
