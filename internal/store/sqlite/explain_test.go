package sqlite

import (
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/sqldb"
)

// planCase is one query whose plan must read an index range: want names
// the index, and no step may scan a table or sort in a temporary B-tree.
type planCase struct {
	name string
	sql  string
	args []any
	want string
}

// listPlanCases are every listing's queries (the log pages included), the
// lookups each /access request makes and the reads of every Mutate.
func listPlanCases() []planCase {
	logPage := func(p store.Page) (string, []any) {
		clause, args := store.PageClause(p, 7, func(int) string { return "?" })
		return `SELECT ` + store.EventColumns + ` FROM events` + clause, args
	}
	cases := []planCase{
		{"PageWorkspaces", sqldb.PageWorkspacesSQL, []any{"ws_a", 101}, "sqlite_autoindex_workspaces_1"},
		{"PageIntegrations", sqldb.PageIntegrationsSQL, []any{"int_a", 101}, "sqlite_autoindex_integrations_1"},
		{"PageIntegrations(workspace)", sqldb.PageWorkspaceIntegrationsSQL, []any{"ws_a", "int_a", 101}, "integrations_workspace_id"},
		{"PageIntegrations(status)", sqldb.PageStatusIntegrationsSQL, []any{"ws_a", "degraded", "int_a", 101}, "integrations_workspace_status"},
		{"PageWebhooks", sqldb.PageWebhooksSQL, []any{"wh_a", 101}, "sqlite_autoindex_webhooks_1"},
		{"PageWebhooks(workspace)", sqldb.PageWorkspaceWebhooksSQL, []any{"ws_a", "wh_a", 101}, "webhooks_workspace_id"},
		{"PageCredentials(cursor)", sqldb.CredentialVersionSQL, []any{"cred_a", "int_a"}, "sqlite_autoindex_credentials_1"},
		{"PageCredentials", sqldb.PageCredentialsSQL, []any{"int_a", 3, 101}, "sqlite_autoindex_credentials_2"},
		{"PageCredentials(newest)", sqldb.PageCredentialsNewestSQL, []any{"int_a", 1<<31 - 1, 21}, "sqlite_autoindex_credentials_2"},
		{"ListWebhookDeliveries(cursor)", sqldb.DeliveryNumberSQL, []any{"whd_a", "wh_a"}, "sqlite_autoindex_webhook_deliveries_1"},
		{"ListWebhookDeliveries", sqldb.PageDeliveriesSQL, []any{"wh_a", 9, 101}, "sqlite_autoindex_webhook_deliveries_2"},
		{"ListAPITokens", sqldb.PageTokensSQL, []any{"tok_a", 101}, "sqlite_autoindex_api_tokens_1"},
		{"ListAPITokens(workspace)", sqldb.PageWorkspaceTokensSQL, []any{"ws_a", "tok_a", 101}, "api_tokens_workspace"},
		{"ListApps", sqldb.PageAppsSQL, []any{"app_a", 101}, "sqlite_autoindex_apps_1"},
		{"ListApps(workspace)", sqldb.PageWorkspaceAppsSQL, []any{"ws_a", "app_a", 101}, "apps_workspace"},
		{"ListConnectLinks", sqldb.PageConnectLinksSQL, []any{"ws_a", "cnl_a", 101}, "connect_links_workspace"},
		{"ListConnectLinks(integration)", sqldb.PageIntegrationConnectLinksSQL, []any{"int_a", "ws_a", "cnl_a", 101}, "connect_links_integration"},
		{"ListEvents(cursor)", `SELECT seq FROM events WHERE id = ?`, []any{"evt_a"}, "sqlite_autoindex_events_1"},
		{"PageIntegrations(app)", sqldb.PageAppIntegrationsSQL, []any{"app_a", "int_a", 101}, "integrations_app_id"},
		{"PageAppSecrets(cursor)", sqldb.AppSecretVersionSQL, []any{"aps_a", "app_a"}, "sqlite_autoindex_app_secrets_1"},
		{"PageAppSecrets", sqldb.PageAppSecretsSQL, []any{"app_a", 3, 101}, "sqlite_autoindex_app_secrets_2"},
		{"ActiveCredentials", activeCredentialsSQL, []any{"int_a", "int_z"}, "credentials_one_active"},
		{"Mutate: live versions", sqldb.LiveCredentialsSQL, []any{"int_a"}, "credentials_live"},
		{"Mutate: highest version", sqldb.MaxVersionSQL, []any{"int_a"}, "sqlite_autoindex_credentials_2"},
		{"ListDueVerifications", sqldb.DueVerificationsSQL, []any{1_700_000_000_000_000_000, 501}, "integrations_verify_due"},
		{"ListDueVerifications(cursor)", sqldb.DueVerificationsAfterSQL, []any{1_700_000_000_000_000_000, 1_600_000_000_000_000_000, "int_a", 501}, "integrations_verify_due"},
		{"access: integration by id", sqldb.GetIntegrationSQL, []any{"int_a"}, "sqlite_autoindex_integrations_1"},
		{"connect link: name taken", sqldb.IntegrationNameSQL, []any{"ws_a", "Stripe"}, "sqlite_autoindex_integrations_2"},
		{"access: credentials of an integration", sqldb.ListCredentialsSQL, []any{"int_a"}, "sqlite_autoindex_credentials_2"},
	}
	cases = append(cases, planCase{"ListAudit(cursor)", `SELECT seq FROM audit WHERE id = ?`, []any{"aud_a"}, "sqlite_autoindex_audit_1"})
	for _, c := range []struct {
		name string
		p    store.Page
		want string
	}{
		{"ListAudit", store.Page{After: "aud_a", Limit: 101}, "INTEGER PRIMARY KEY"},
		{"ListAudit(workspace)", store.Page{WorkspaceID: "ws_a", After: "aud_a", Limit: 101}, "audit_workspace"},
		{"ListAudit(workspace, newest)", store.Page{WorkspaceID: "ws_a", Newest: true, Limit: 500}, "audit_workspace"},
		{"ListAudit(workspace, newest, after)", store.Page{WorkspaceID: "ws_a", After: "aud_a", Newest: true, Limit: 500}, "audit_workspace"},
	} {
		clause, args := store.PageClause(c.p, 7, func(int) string { return "?" })
		cases = append(cases, planCase{c.name, `SELECT ` + store.AuditColumns + ` FROM audit` + clause, args, c.want})
	}
	for _, c := range []struct {
		name string
		p    store.Page
		want string
	}{
		{"ListEvents", store.Page{After: "evt_a", Limit: 101}, "INTEGER PRIMARY KEY"},
		{"ListEvents(workspace)", store.Page{WorkspaceID: "ws_a", After: "evt_a", Limit: 101}, "events_workspace"},
		{"ListEvents(integration)", store.Page{IntegrationID: "int_a", After: "evt_a", Limit: 101}, "events_"},
		{"ListEvents(first page)", store.Page{WorkspaceID: "ws_a", Limit: 101}, "events_workspace"},
		{"ListEvents(workspace, integration)", store.Page{WorkspaceID: "ws_a", IntegrationID: "int_a", Limit: 11}, "events_integration"},
		{"ListEvents(workspace, integration, newest)", store.Page{WorkspaceID: "ws_a", IntegrationID: "int_a", Newest: true, Limit: 20}, "events_integration"},
	} {
		sql, args := logPage(c.p)
		cases = append(cases, planCase{c.name, sql, args, c.want})
	}
	return cases
}

// TestListQueriesUseIndexes: every listing reads one index range in the
// order it answers, so its first page costs the same however many rows
// exist; a full scan or a sort would grow with the table.
// queryPlan returns the steps of SQLite's plan for q.
func queryPlan(t *testing.T, s *Store, q string, args ...any) []string {
	t.Helper()
	rows, err := s.ro.QueryContext(t.Context(), `EXPLAIN QUERY PLAN `+q, args...)
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}

func TestListQueriesUseIndexes(t *testing.T) {
	s := OpenTest(t)
	for _, c := range listPlanCases() {
		t.Run(c.name, func(t *testing.T) {
			plan := queryPlan(t, s, c.sql, c.args...)
			text := strings.Join(plan, "; ")
			t.Log(text)
			for _, step := range plan {
				if strings.HasPrefix(step, "SCAN ") || strings.Contains(step, "TEMP B-TREE") {
					t.Errorf("plan has %q: %s", step, text)
				}
			}
			if !strings.Contains(text, c.want) {
				t.Errorf("plan does not use %s: %s", c.want, text)
			}
		})
	}
}
