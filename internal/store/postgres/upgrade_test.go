package postgres

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stormcreds/storm/internal/audit"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/storetest"
)

// A database created before 0002_oauth keeps its credentials, which
// read back with no refresh scheduled and no failures.
func TestUpgradeFrom0001(t *testing.T) {
	ctx := t.Context()
	url, conn, exec := migratedTo(t, "0002")
	exec(`INSERT INTO workspaces (id, name) VALUES ('ws_1', 'default')`)
	exec(`INSERT INTO integrations (id, workspace_id, name, provider, auth_method, status, status_reason, revision)
		VALUES ('int_1', 'ws_1', 'github', 'github', 'oauth2', 'connected', '', 1)`)
	exec(`INSERT INTO credentials (id, integration_id, workspace_id, version, state, hint, fingerprint, secret, revision)
		VALUES ('cred_1', 'int_1', 'ws_1', 1, 'active', '', '', '\x00', 1)`)
	conn.Close(ctx)

	s, err := Open(ctx, url)
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
		url := TestURL(t)
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			t.Fatal(err)
		}
		names, _ := fs.Glob(migrations, "migrations/*.sql")
		sort.Strings(names)
		for _, name := range names {
			version := strings.TrimSuffix(strings.TrimPrefix(name, "migrations/"), ".sql")
			if version >= "0012" {
				break
			}
			body, _ := migrations.ReadFile(name)
			if _, err := conn.Exec(ctx, string(body)); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, version); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := conn.Exec(ctx, `INSERT INTO workspaces (id, name) VALUES ('ws_1', 'default')`); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO oauth_registrations (id, workspace_id, issuer, redirect_uri, client_id, auth_method, secret, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, g.ID, g.WorkspaceID, g.Issuer, g.RedirectURI, g.ClientID, g.AuthMethod, g.Secret,
			g.CreatedAt, g.ExpiresAt); err != nil {
			t.Fatal(err)
		}
		s, err := Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_name = 'oauth_registrations' AND table_schema = current_schema()`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("oauth_registrations after 0012: %d, %v", n, err)
		}
		return s
	})
}

// migratedTo applies the migrations before version to a fresh test
// database, as a release of that time left it. It returns the
// database's URL, a connection to it and a function running one
// statement on that connection.
func migratedTo(t *testing.T, version string) (string, *pgx.Conn, func(q string, args ...any)) {
	t.Helper()
	ctx := t.Context()
	url := TestURL(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%.60s: %v", q, err)
		}
	}
	exec(`CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`)
	names, _ := fs.Glob(migrations, "migrations/*.sql")
	for _, name := range names {
		v := strings.TrimSuffix(strings.TrimPrefix(name, "migrations/"), ".sql")
		if v >= version {
			break
		}
		body, _ := migrations.ReadFile(name)
		exec(string(body))
		exec(`INSERT INTO schema_migrations (version) VALUES ($1)`, v)
	}
	return url, conn, exec
}

// Audit entries written before 0011_audit_chain are chained once, in log
// order, however many instances start together; an instance from before
// 0011 can no longer append unchained entries.
func TestUpgradeChainsExistingAudit(t *testing.T) {
	ctx := t.Context()
	url, conn, exec := migratedTo(t, "0011")
	// Identity values with a gap, as rolled-back appends leave them.
	exec(`SELECT setval(pg_get_serial_sequence('audit', 'seq'), 40)`)
	const n = 1203 // more than a page of chainExisting
	for i := range n {
		exec(`INSERT INTO audit (id, workspace_id, actor, action, target, at, ip, detail)
			VALUES ($1, 'ws_1', 'tok_1', 'credential.save', 'int_1', $2, '192.0.2.1', $3)`,
			fmt.Sprintf("aud_old%04d", i), time.Date(2025, 1, 1, 0, 0, i, 1234000, time.UTC), []byte(`{"i": 1}`))
	}

	var wg sync.WaitGroup
	stores := make([]*Store, 3)
	errs := make([]error, len(stores))
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = Open(ctx, url)
			if errs[i] == nil {
				// Appends may race the others' migrations.
				errs[i] = stores[i].AppendAudit(ctx, store.AuditRecord{Actor: "system", Action: "startup"})
			}
		}()
	}
	wg.Wait()
	for i, s := range stores {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		defer s.Close()
	}
	res, err := audit.Verify(ctx, stores[0].ListAudit)
	if err != nil || res != (audit.Result{OK: true, Entries: n + 3}) {
		t.Fatalf("Verify after upgrade = %+v, %v", res, err)
	}
	first, err := stores[1].ListAudit(ctx, store.Page{Limit: 1})
	if err != nil || first[0].ID != "aud_old0000" || first[0].Seq != 1 || first[0].PrevHash != audit.Genesis {
		t.Fatalf("first entry = %+v, %v", first, err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO audit (id, workspace_id, actor, action, target, ip) VALUES ('aud_x', '', 'a', 'b', 'c', '')`); err == nil {
		t.Error("an unchained insert was accepted")
	}
}

// TestUpgradeSchedulesVerification: integrations stored before
// 0018_verify_schedule are due for verification at once (those with
// something to verify), and the leases that were their turns are gone;
// other leases stay.
func TestUpgradeSchedulesVerification(t *testing.T) {
	ctx := t.Context()
	url, conn, exec := migratedTo(t, "0018")
	exec(`INSERT INTO workspaces (id, name) VALUES ('ws_1', 'default')`)
	exec(`INSERT INTO integrations (id, workspace_id, name, provider, auth_method, status, status_reason, revision)
		VALUES ('int_1', 'ws_1', 'one', 'github', 'api_key', 'connected', '', 1),
		('int_2', 'ws_1', 'two', 'github', 'api_key', 'pending', '', 1)`)
	exec(`INSERT INTO leases (name, owner, expires_at) VALUES ('verify:int_1', 'old', now() + interval '1 hour'),
		('refresh:cred_1', 'old', now() + interval '1 hour')`)

	s, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	due, err := s.ListDueVerifications(ctx, time.Now(), store.VerifyCursor{}, 10)
	if err != nil || len(due) != 1 || due[0].Integration.ID != "int_1" || !due[0].NextVerifyAt.IsZero() {
		t.Errorf("due verifications after upgrade = %+v, %v; want int_1, never scheduled", due, err)
	}
	rows, err := conn.Query(ctx, `SELECT name FROM leases ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	leases, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || strings.Join(leases, ",") != "refresh:cred_1" {
		t.Errorf("leases after upgrade: %v, %v; want only refresh:cred_1", leases, err)
	}
}
