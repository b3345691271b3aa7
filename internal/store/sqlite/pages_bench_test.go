package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

// fillIntegrations gives workspace ws n integrations in one transaction
// (a fixture: CreateIntegration's one transaction per row would take
// minutes for the large sizes).
func fillIntegrations(b *testing.B, s *Store, ws string, n int) {
	b.Helper()
	now := time.Now()
	err := s.write(context.Background(), func(tx *sql.Tx) error {
		for i := range n {
			_, err := tx.Exec(`INSERT INTO integrations (id, workspace_id, name, provider, auth_method, config, status,
				status_reason, created_at, updated_at, revision) VALUES (?, ?, ?, 'github', 'api_key', '{}', 'pending', '', ?, ?, 1)`,
				store.NewID("int"), ws, fmt.Sprintf("integration %d", i), dbTime(now), dbTime(now))
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkIntegrationsFirstPage: the first page of 100 of a workspace's
// integrations, by the keyset query (PageIntegrations) and by reading the
// whole list (ListIntegrations, what GET /v1/integrations did before), at
// 100 and at 20,000 integrations. bench/RESULTS.md records the ratios.
func BenchmarkIntegrationsFirstPage(b *testing.B) {
	for _, n := range []int{100, 2000, 20000} {
		s, err := Open(context.Background(), b.TempDir()+"/storm.db")
		if err != nil {
			b.Fatal(err)
		}
		ws := store.Workspace{ID: store.NewID("ws"), Name: "bench"}
		if err := s.CreateWorkspace(context.Background(), ws); err != nil {
			b.Fatal(err)
		}
		other := store.Workspace{ID: store.NewID("ws"), Name: "other"}
		if err := s.CreateWorkspace(context.Background(), other); err != nil {
			b.Fatal(err)
		}
		fillIntegrations(b, s, ws.ID, n)
		fillIntegrations(b, s, other.ID, n) // another workspace's rows must not cost either
		b.Run(fmt.Sprintf("page/n=%d", n), func(b *testing.B) {
			for b.Loop() {
				list, err := s.PageIntegrations(b.Context(), store.ListPage{WorkspaceID: ws.ID, Limit: 101})
				if err != nil || len(list) != 101 && n > 100 {
					b.Fatal(len(list), err)
				}
			}
		})
		b.Run(fmt.Sprintf("whole/n=%d", n), func(b *testing.B) {
			for b.Loop() {
				list, err := s.ListIntegrations(b.Context(), ws.ID)
				if err != nil || len(list) != n {
					b.Fatal(len(list), err)
				}
			}
		})
		s.Close()
	}
}
