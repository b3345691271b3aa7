package sqlite

import (
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

// A database created before 0002_oauth keeps its credentials, which
// read back with no refresh scheduled and no failures.
func TestUpgradeFrom0001(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "storm.db")
	db, err := sql.Open("sqlite", "file:"+path+"?"+pragmas)
	if err != nil {
		t.Fatal(err)
	}
	body, err := migrations.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`,
		string(body),
		`INSERT INTO schema_migrations (version, applied_at) VALUES ('0001_init', 0)`,
		`INSERT INTO workspaces (id, name) VALUES ('ws_1', 'default')`,
		`INSERT INTO integrations (id, workspace_id, name, provider, auth_method, status, status_reason, revision)
			VALUES ('int_1', 'ws_1', 'github', 'github', 'oauth2', 'connected', '', 1)`,
		`INSERT INTO credentials (id, integration_id, workspace_id, version, state, hint, fingerprint, secret, revision)
			VALUES ('cred_1', 'int_1', 'ws_1', 1, 'active', '', '', x'00', 1)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := s.GetCredential(ctx, "cred_1")
	if err != nil {
		t.Fatal(err)
	}
	if !c.RefreshAt.IsZero() || c.Failures != 0 || c.State != store.StateActive {
		t.Errorf("upgraded credential: %+v", c)
	}
	due, err := s.ListDueCredentials(ctx, time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC), 10)
	if err != nil || len(due) != 0 {
		t.Errorf("ListDueCredentials after upgrade = %v, %v; want none", due, err)
	}
}
