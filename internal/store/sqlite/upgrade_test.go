package sqlite

import (
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/audit"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/storetest"
)

// A database created before 0002_oauth keeps its credentials, which
// read back with no refresh scheduled and no failures.
func TestUpgradeFrom0001(t *testing.T) {
	ctx := t.Context()
	path, db := migratedTo(t, "0002")
	for _, q := range []string{
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

// TestUpgradeMovesRegistrationsIntoApps (issue 15): a dynamic client
// registration stored before 0012 becomes an app of its workspace, and
// the old table is gone.
func TestUpgradeMovesRegistrationsIntoApps(t *testing.T) {
	storetest.RegistrationUpgrade(t, func(t *testing.T, g storetest.Legacy) store.Store {
		ctx := t.Context()
		path, db := migratedTo(t, "0012")
		for _, q := range []struct {
			sql  string
			args []any
		}{
			{`INSERT INTO workspaces (id, name) VALUES ('ws_1', 'default')`, nil},
			{`INSERT INTO oauth_registrations (id, workspace_id, issuer, redirect_uri, client_id, auth_method, secret, created_at, expires_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, []any{g.ID, g.WorkspaceID, g.Issuer, g.RedirectURI, g.ClientID, g.AuthMethod, g.Secret,
				g.CreatedAt.UnixNano(), g.ExpiresAt.UnixNano()}},
		} {
			if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
				t.Fatalf("%.60s: %v", q.sql, err)
			}
		}
		db.Close()
		s, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		var n int
		if err := s.ro.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name = 'oauth_registrations'`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("oauth_registrations after 0012: %d, %v", n, err)
		}
		return s
	})
}

// migratedTo returns a new database file with the migrations before
// version applied, as a release of that time left it, and a handle on it.
func migratedTo(t *testing.T, version string) (string, *sql.DB) {
	t.Helper()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "storm.db")
	db, err := sql.Open("sqlite", "file:"+path+"?"+pragmas)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.ExecContext(ctx, `CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	names, _ := fs.Glob(migrations, "migrations/*.sql")
	sort.Strings(names)
	for _, name := range names {
		v := strings.TrimSuffix(strings.TrimPrefix(name, "migrations/"), ".sql")
		if v >= version {
			break
		}
		body, _ := migrations.ReadFile(name)
		if _, err := db.ExecContext(ctx, string(body)); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO schema_migrations VALUES (?, 0)`, v); err != nil {
			t.Fatal(err)
		}
	}
	return path, db
}

// Audit entries written before 0011_audit_chain are chained at the first
// open, in log order, once: the log verifies and appends extend it.
func TestUpgradeChainsExistingAudit(t *testing.T) {
	ctx := t.Context()
	path, db := migratedTo(t, "0011")
	var ids []string
	for i := range 1203 { // more than a page of chainExisting
		id := fmt.Sprintf("aud_old%04d", i)
		ids = append(ids, id)
		if _, err := db.ExecContext(ctx, `INSERT INTO audit (id, workspace_id, actor, action, target, at, ip, detail)
			VALUES (?, 'ws_1', 'tok_1', 'credential.save', 'int_1', ?, '192.0.2.1', ?)`,
			id, time.Date(2025, 1, 1, 0, 0, i, 1234567, time.UTC).UnixNano(), []byte(`{"i": 1}`)); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	for range 2 { // the second open changes nothing
		s, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		res, err := audit.Verify(ctx, s.ListAudit)
		if err != nil || res != (audit.Result{OK: true, Entries: 1203}) {
			t.Fatalf("Verify after upgrade = %+v, %v", res, err)
		}
		first, err := s.ListAudit(ctx, store.Page{Limit: 1})
		if err != nil || first[0].ID != ids[0] || first[0].Seq != 1 || first[0].PrevHash != audit.Genesis {
			t.Fatalf("first entry = %+v, %v", first, err)
		}
		s.Close()
	}
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.AppendAudit(ctx, store.AuditRecord{Actor: "system", Action: "startup"}); err != nil {
		t.Fatal(err)
	}
	if res, err := audit.Verify(ctx, s.ListAudit); err != nil || res != (audit.Result{OK: true, Entries: 1204}) {
		t.Fatalf("Verify after append = %+v, %v", res, err)
	}
	// A writer that does not chain (a binary from before 0011) is refused.
	db, _ = sql.Open("sqlite", "file:"+path+"?"+pragmas)
	defer db.Close()
	if _, err := db.ExecContext(ctx, `INSERT INTO audit (id, workspace_id, actor, action, target, at, ip) VALUES ('aud_x', '', 'a', 'b', 'c', 0, '')`); err == nil {
		t.Error("an unchained insert was accepted")
	}
}

// TestUpgradeSchedulesVerification: integrations stored before
// 0018_verify_schedule are due for verification at once (those with
// something to verify), and the leases that were their turns are gone;
// other leases stay.
func TestUpgradeSchedulesVerification(t *testing.T) {
	ctx := t.Context()
	path, db := migratedTo(t, "0018")
	later := time.Now().Add(time.Hour).UnixNano()
	for _, q := range []string{
		`INSERT INTO workspaces (id, name) VALUES ('ws_1', 'default')`,
		`INSERT INTO integrations (id, workspace_id, name, provider, auth_method, status, status_reason, revision)
			VALUES ('int_1', 'ws_1', 'one', 'github', 'api_key', 'connected', '', 1),
			('int_2', 'ws_1', 'two', 'github', 'api_key', 'pending', '', 1)`,
		fmt.Sprintf(`INSERT INTO leases (name, owner, expires_at) VALUES ('verify:int_1', 'old', %d), ('refresh:cred_1', 'old', %d)`, later, later),
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
	due, err := s.ListDueVerifications(ctx, time.Now(), store.VerifyCursor{}, 10)
	if err != nil || len(due) != 1 || due[0].Integration.ID != "int_1" || !due[0].NextVerifyAt.IsZero() {
		t.Errorf("due verifications after upgrade = %+v, %v; want int_1, never scheduled", due, err)
	}
	var leases []string
	rows, err := s.ro.QueryContext(ctx, `SELECT name FROM leases ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		leases = append(leases, name)
	}
	if strings.Join(leases, ",") != "refresh:cred_1" {
		t.Errorf("leases after upgrade: %v, want only refresh:cred_1", leases)
	}
}
