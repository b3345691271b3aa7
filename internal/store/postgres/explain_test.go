package postgres

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/sqldb"
)

// planCase is one query whose plan must read an index range: want names
// the index (alternatives separated by "|"), and no node may scan the table sequentially or sort.
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
		clause, args := store.PageClause(p, 7, func(n int) string { return "$" + strconv.Itoa(n) })
		return `SELECT ` + store.EventColumns + ` FROM events` + clause, args
	}
	cases := []planCase{
		{"PageWorkspaces", sqldb.PageWorkspacesSQL, []any{"ws_a", 101}, "workspaces_pkey"},
		{"PageIntegrations", sqldb.PageIntegrationsSQL, []any{"int_a", 101}, "integrations_pkey"},
		{"PageIntegrations(workspace)", sqldb.PageWorkspaceIntegrationsSQL, []any{"ws_a", "int_a", 101}, "integrations_workspace_id"},
		{"PageIntegrations(status)", sqldb.PageStatusIntegrationsSQL, []any{"ws_a", "degraded", "int_a", 101}, "integrations_workspace_status"},
		{"PageWebhooks", sqldb.PageWebhooksSQL, []any{"wh_a", 101}, "webhooks_pkey"},
		{"PageWebhooks(workspace)", sqldb.PageWorkspaceWebhooksSQL, []any{"ws_a", "wh_a", 101}, "webhooks_workspace_id"},
		{"PageCredentials(cursor)", sqldb.CredentialVersionSQL, []any{"cred_a", "int_a"}, "credentials_pkey|credentials_integration_id_version_key"},
		{"PageCredentials", sqldb.PageCredentialsSQL, []any{"int_a", 3, 101}, "credentials_integration_id_version_key"},
		{"PageCredentials(newest)", sqldb.PageCredentialsNewestSQL, []any{"int_a", 1<<31 - 1, 21}, "credentials_integration_id_version_key"},
		{"ListWebhookDeliveries(cursor)", sqldb.DeliveryNumberSQL, []any{"whd_a", "wh_a"}, "webhook_deliveries_id_key"},
		{"ListWebhookDeliveries", sqldb.PageDeliveriesSQL, []any{"wh_a", 9, 101}, "webhook_deliveries_pkey"},
		{"ListAPITokens", sqldb.PageTokensSQL, []any{"tok_a", 101}, "api_tokens_pkey"},
		{"ListAPITokens(workspace)", sqldb.PageWorkspaceTokensSQL, []any{"ws_a", "tok_a", 101}, "api_tokens_workspace"},
		{"ListApps", sqldb.PageAppsSQL, []any{"app_a", 101}, "apps_pkey"},
		{"ListApps(workspace)", sqldb.PageWorkspaceAppsSQL, []any{"ws_a", "app_a", 101}, "apps_workspace"},
		{"ListConnectLinks", sqldb.PageConnectLinksSQL, []any{"ws_a", "cnl_a", 101}, "connect_links_workspace"},
		{"ListConnectLinks(integration)", sqldb.PageIntegrationConnectLinksSQL, []any{"int_a", "ws_a", "cnl_a", 101}, "connect_links_integration"},
		{"ListEvents(cursor)", `SELECT seq FROM events WHERE id = $1`, []any{"evt_a"}, "events_id_key"},
		{"PageIntegrations(app)", sqldb.PageAppIntegrationsSQL, []any{"app_a", "int_a", 101}, "integrations_app_id"},
		{"PageAppSecrets(cursor)", sqldb.AppSecretVersionSQL, []any{"aps_a", "app_a"}, "app_secrets_pkey|app_secrets_app_id_version_key"},
		{"PageAppSecrets", sqldb.PageAppSecretsSQL, []any{"app_a", 3, 101}, "app_secrets_app_id_version_key"},
		{"ActiveCredentials", activeCredentialsSQL, []any{"int_a", "int_z"}, "credentials_one_active"},
		{"Mutate: live versions", sqldb.LiveCredentialsSQL, []any{"int_a"}, "credentials_live"},
		{"Mutate: highest version", sqldb.MaxVersionSQL, []any{"int_a"}, "credentials_integration_id_version_key"},
		{"ListDueVerifications", sqldb.DueVerificationsSQL, []any{dbTime(time.Unix(1_700_000_000, 0)), 501}, "integrations_verify_due"},
		{"ListDueVerifications(cursor)", sqldb.DueVerificationsAfterSQL, []any{dbTime(time.Unix(1_700_000_000, 0)), dbTime(time.Unix(1_600_000_000, 0)), "int_a", 501}, "integrations_verify_due"},
		{"access: integration by id", sqldb.GetIntegrationSQL, []any{"int_a"}, "integrations_pkey"},
		// On the test's empty table the planner may take either index that
		// starts with the workspace; with rows, the unique one is cheaper.
		{"connect link: name taken", sqldb.IntegrationNameSQL, []any{"ws_a", "Stripe"}, "integrations_workspace_id_name_key|integrations_workspace_status"},
		{"access: credentials of an integration", sqldb.ListCredentialsSQL, []any{"int_a"}, "credentials_integration_id_version_key"},
	}
	cases = append(cases, planCase{"ListAudit(cursor)", `SELECT seq FROM audit WHERE id = $1`, []any{"aud_a"}, "audit_id_key"})
	for _, c := range []struct {
		name string
		p    store.Page
		want string
	}{
		{"ListAudit", store.Page{After: "aud_a", Limit: 101}, "audit_pkey"},
		{"ListAudit(workspace)", store.Page{WorkspaceID: "ws_a", After: "aud_a", Limit: 101}, "audit_workspace"},
		{"ListAudit(workspace, newest)", store.Page{WorkspaceID: "ws_a", Newest: true, Limit: 500}, "audit_workspace"},
		{"ListAudit(workspace, newest, after)", store.Page{WorkspaceID: "ws_a", After: "aud_a", Newest: true, Limit: 500}, "audit_workspace"},
	} {
		clause, args := store.PageClause(c.p, 7, func(n int) string { return "$" + strconv.Itoa(n) })
		cases = append(cases, planCase{c.name, `SELECT ` + store.AuditColumns + ` FROM audit` + clause, args, c.want})
	}
	for _, c := range []struct {
		name string
		p    store.Page
		want string
	}{
		{"ListEvents", store.Page{After: "evt_a", Limit: 101}, "events_pkey"},
		{"ListEvents(workspace)", store.Page{WorkspaceID: "ws_a", After: "evt_a", Limit: 101}, "events_workspace"},
		{"ListEvents(integration)", store.Page{IntegrationID: "int_a", After: "evt_a", Limit: 101}, "events_integration"},
		{"ListEvents(first page)", store.Page{WorkspaceID: "ws_a", Limit: 101}, "events_workspace"},
		{"ListEvents(workspace, integration)", store.Page{WorkspaceID: "ws_a", IntegrationID: "int_a", Limit: 11}, "events_integration"},
		{"ListEvents(workspace, integration, newest)", store.Page{WorkspaceID: "ws_a", IntegrationID: "int_a", Newest: true, Limit: 20}, "events_integration"},
	} {
		sql, args := logPage(c.p)
		cases = append(cases, planCase{c.name, sql, args, c.want})
	}
	return cases
}

// planNode is the part of EXPLAIN (FORMAT JSON) the test reads.
type planNode struct {
	NodeType  string     `json:"Node Type"`
	IndexName string     `json:"Index Name"`
	Plans     []planNode `json:"Plans"`
}

func (n planNode) walk(visit func(planNode)) {
	visit(n)
	for _, c := range n.Plans {
		c.walk(visit)
	}
}

// TestListQueriesUseIndexes: every listing reads one index range in the
// order it answers, so its first page costs the same however many rows
// exist; a sequential scan or a sort would grow with the table. The
// tables are nearly empty, where a sequential scan is cheapest, so
// sequential and bitmap scans are priced out (not forbidden): the plan
// must then show an index that answers the query in its order, and a
// Sort node still appears when none does.
func TestListQueriesUseIndexes(t *testing.T) {
	s := OpenTest(t)
	ctx := t.Context()
	for _, c := range listPlanCases() {
		t.Run(c.name, func(t *testing.T) {
			tx, err := s.pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			for _, set := range []string{"SET LOCAL enable_seqscan = off", "SET LOCAL enable_bitmapscan = off"} {
				if _, err := tx.Exec(ctx, set); err != nil {
					t.Fatal(err)
				}
			}
			var raw []byte
			if err := tx.QueryRow(ctx, `EXPLAIN (FORMAT JSON) `+c.sql, c.args...).Scan(&raw); err != nil {
				t.Fatalf("explain: %v", err)
			}
			var out []struct {
				Plan planNode `json:"Plan"`
			}
			if err := json.Unmarshal(raw, &out); err != nil || len(out) != 1 {
				t.Fatalf("explain output %s: %v", raw, err)
			}
			var steps []string
			used := false
			out[0].Plan.walk(func(n planNode) {
				steps = append(steps, strings.TrimSpace(n.NodeType+" "+n.IndexName))
				switch n.NodeType {
				case "Seq Scan", "Sort", "Incremental Sort", "Bitmap Heap Scan":
					t.Errorf("plan has a %s", n.NodeType)
				}
				used = used || (n.IndexName != "" && slices.Contains(strings.Split(c.want, "|"), n.IndexName))
			})
			t.Log(strings.Join(steps, "; "))
			if !used {
				t.Errorf("plan does not use %s: %s", c.want, strings.Join(steps, "; "))
			}
		})
	}
}
