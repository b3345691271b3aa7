package sqlite

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/sqldb"
	"github.com/stormcreds/storm/internal/store/storetest"
)

// ListDueCredentials runs every few seconds on every instance: with
// 100,000 credentials it must remain one ordered range scan of
// credentials_due, never a table scan or a sort, and take milliseconds.
func TestListDueCredentialsPlan(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "storm.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	// SQLite keeps no statistics unless ANALYZE runs, so the plan does
	// not depend on the row count; -race builds, which run the engine
	// instrumented, check it over fewer rows.
	n := 100_000
	if raceEnabled || testing.Short() {
		n = 10_000
	}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	// Every tenth version is previous, every seventh never refreshes; the
	// rest are due one second apart.
	for _, q := range []string{
		`INSERT INTO workspaces (id, name, created_at) VALUES ('ws_bulk', 'bulk', 0)`,
		`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?1 - 1)
		INSERT INTO integrations (id, workspace_id, name, provider, auth_method, status, status_reason, revision)
		SELECT 'int_' || i, 'ws_bulk', 'n' || i, 'github', 'oauth2', 'connected', '', 1 FROM n`,
		`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?1 - 1)
		INSERT INTO credentials (id, integration_id, workspace_id, version, state, hint, fingerprint,
			refresh_at, revision)
		SELECT printf('cred_%06d', i), 'int_' || i, 'ws_bulk', 1,
			CASE WHEN i % 10 = 0 THEN 'previous' ELSE 'active' END, '', '',
			CASE WHEN i % 7 = 0 THEN NULL ELSE ?2 + i * 1000000000 END, 1 FROM n`,
	} {
		if _, err := s.rw.ExecContext(ctx, q, n, base.UnixNano()); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	for _, before := range []time.Time{base.Add(time.Duration(n/2) * time.Second), base.Add(1000 * time.Hour)} {
		p := strings.Join(queryPlan(t, s, sqldb.DueCredentialsSQL, store.StateActive, dbTime(before), 100), "; ")
		if !strings.Contains(p, "USING INDEX credentials_due") || strings.Contains(p, "TEMP B-TREE") {
			t.Errorf("plan for ListDueCredentials: %s", p)
		}

		storetest.CheckDueCredentials(t, s, before, n, p)
	}
}

// ListDueVerifications runs every scan of the verification schedule on
// every instance: with 100,000 integrations of which 100 are due it must
// remain one ordered range of integrations_verify_due, reading neither
// the integrations whose turn is later nor the pending and disabled ones
// (all "due" here: the index leaves them out).
func TestListDueVerificationsPlan(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "storm.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	n := 100_000
	if raceEnabled || testing.Short() {
		n = 10_000
	}
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	// Every tenth integration is pending and the next disabled, both
	// never scheduled; every thousandth was due i seconds ago; the rest
	// are due i seconds from now.
	for _, q := range []string{
		`INSERT INTO workspaces (id, name, created_at) VALUES ('ws_bulk', 'bulk', 0)`,
		`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?1 - 1)
		INSERT INTO integrations (id, workspace_id, name, provider, auth_method, status, status_reason,
			revision, next_verify_at)
		SELECT printf('int_%06d', i), 'ws_bulk', 'n' || i, 'github', 'api_key',
			CASE i % 10 WHEN 1 THEN 'pending' WHEN 2 THEN 'disabled' ELSE 'connected' END, '', 1,
			CASE WHEN i % 10 IN (1, 2) THEN 0
				WHEN i % 1000 = 0 THEN ?2 - i * 1000000000
				ELSE ?2 + i * 1000000000 END FROM n`,
	} {
		if _, err := s.rw.ExecContext(ctx, q, n, now.UnixNano()); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	p := strings.Join(queryPlan(t, s, sqldb.DueVerificationsSQL, dbTime(now), 500), "; ")
	if !strings.Contains(p, "USING INDEX integrations_verify_due") || strings.Contains(p, "TEMP B-TREE") {
		t.Errorf("plan for ListDueVerifications: %s", p)
	}

	storetest.CheckDueVerifications(t, s, now, n, p)
}
