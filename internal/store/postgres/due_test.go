package postgres

import (
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/sqldb"
	"github.com/stormcreds/storm/internal/store/storetest"
)

// textPlan returns PostgreSQL's plan for q, as EXPLAIN prints it.
func textPlan(t *testing.T, s *Store, q string, args ...any) string {
	t.Helper()
	rows, err := s.pool.Query(t.Context(), `EXPLAIN `+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "\n")
}

// ListDueCredentials runs every few seconds on every instance: with
// 100,000 credentials it must remain one ordered range scan of
// credentials_due, never a sequential scan or a sort.
func TestListDueCredentialsPlan(t *testing.T) {
	ctx := t.Context()
	s := OpenTest(t)

	const n = 100_000
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	// Every tenth version is previous, every seventh never refreshes; the
	// rest are due one second apart.
	for _, q := range []string{
		`INSERT INTO workspaces (id, name) VALUES ('ws_bulk', 'bulk')`,
		`INSERT INTO integrations (id, workspace_id, name, provider, auth_method, status, status_reason, revision)
		SELECT 'int_' || i, 'ws_bulk', 'n' || i, 'github', 'oauth2', 'connected', '', 1
		FROM generate_series(0, 100000 - 1) AS i`,
		`INSERT INTO credentials (id, integration_id, workspace_id, version, state, hint, fingerprint,
			refresh_at, revision)
		SELECT 'cred_' || lpad(i::text, 6, '0'), 'int_' || i, 'ws_bulk', 1,
			CASE WHEN i % 10 = 0 THEN 'previous' ELSE 'active' END, '', '',
			CASE WHEN i % 7 = 0 THEN NULL ELSE timestamptz '2025-01-01 00:00:00+00' + i * interval '1 second' END, 1
		FROM generate_series(0, 100000 - 1) AS i`,
		`ANALYZE credentials`,
	} {
		if _, err := s.pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	for _, before := range []time.Time{base.Add(n / 2 * time.Second), base.Add(1000 * time.Hour)} {
		p := textPlan(t, s, sqldb.DueCredentialsSQL, store.StateActive, dbTime(before), 100)
		if !strings.Contains(p, "credentials_due") || strings.Contains(p, "Seq Scan") || strings.Contains(p, "Sort") {
			t.Errorf("plan for ListDueCredentials:\n%s", p)
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
	s := OpenTest(t)

	const n = 100_000
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	// Every tenth integration is pending and the next disabled, both
	// never scheduled; every thousandth was due i seconds ago; the rest
	// are due i seconds from now.
	for _, q := range []string{
		`INSERT INTO workspaces (id, name) VALUES ('ws_bulk', 'bulk')`,
		`INSERT INTO integrations (id, workspace_id, name, provider, auth_method, status, status_reason,
			revision, next_verify_at)
		SELECT 'int_' || lpad(i::text, 6, '0'), 'ws_bulk', 'n' || i, 'github', 'api_key',
			CASE i % 10 WHEN 1 THEN 'pending' WHEN 2 THEN 'disabled' ELSE 'connected' END, '', 1,
			CASE WHEN i % 10 IN (1, 2) THEN timestamptz '1970-01-01 00:00:00+00'
				WHEN i % 1000 = 0 THEN timestamptz '2025-01-01 00:00:00+00' - i * interval '1 second'
				ELSE timestamptz '2025-01-01 00:00:00+00' + i * interval '1 second' END
		FROM generate_series(0, 100000 - 1) AS i`,
		`ANALYZE integrations`,
	} {
		if _, err := s.pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}

	p := textPlan(t, s, sqldb.DueVerificationsSQL, dbTime(now), 500)
	if !strings.Contains(p, "integrations_verify_due") || strings.Contains(p, "Seq Scan") || strings.Contains(p, "Sort") {
		t.Errorf("plan for ListDueVerifications:\n%s", p)
	}

	storetest.CheckDueVerifications(t, s, now, n, p)
}
