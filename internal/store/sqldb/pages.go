package sqldb

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/stormcreds/storm/internal/store"
)

// The keyset queries behind listings (store.ListPage, store.VersionPage):
// each reads one index range in the order it returns, so a page costs
// the same however many rows the table holds. The explain tests of both
// backends check their plans; keep every listing's SQL here.
const (
	PageWorkspacesSQL = `SELECT ` + store.WorkspaceColumns + ` FROM workspaces
		WHERE id > $1 ORDER BY id LIMIT $2`
	PageIntegrationsSQL = `SELECT ` + store.IntegrationColumns + ` FROM integrations
		WHERE id > $1 ORDER BY id LIMIT $2`
	PageWorkspaceIntegrationsSQL = `SELECT ` + store.IntegrationColumns + ` FROM integrations
		WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3`
	PageStatusIntegrationsSQL = `SELECT ` + store.IntegrationColumns + ` FROM integrations
		WHERE workspace_id = $1 AND status = $2 AND id > $3 ORDER BY id LIMIT $4`
	PageAppIntegrationsSQL = `SELECT ` + store.IntegrationColumns + ` FROM integrations
		WHERE app_id = $1 AND id > $2 ORDER BY id LIMIT $3`
	AppSecretVersionSQL = `SELECT version FROM app_secrets WHERE id = $1 AND app_id = $2`
	PageAppSecretsSQL   = `SELECT ` + store.AppSecretColumns + ` FROM app_secrets
		WHERE app_id = $1 AND version > $2 ORDER BY version LIMIT $3`
	PageWebhooksSQL = `SELECT ` + store.WebhookColumns + ` FROM webhooks
		WHERE id > $1 ORDER BY id LIMIT $2`
	PageWorkspaceWebhooksSQL = `SELECT ` + store.WebhookColumns + ` FROM webhooks
		WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3`
	CredentialVersionSQL = `SELECT version FROM credentials WHERE id = $1 AND integration_id = $2`
	PageCredentialsSQL   = `SELECT ` + store.CredentialColumns + ` FROM credentials
		WHERE integration_id = $1 AND version > $2 ORDER BY version LIMIT $3`
	PageCredentialsNewestSQL = `SELECT ` + store.CredentialColumns + ` FROM credentials
		WHERE integration_id = $1 AND version < $2 ORDER BY version DESC LIMIT $3`
	DeliveryNumberSQL = `SELECT number FROM webhook_deliveries WHERE id = $1 AND webhook_id = $2`
	PageDeliveriesSQL = `SELECT ` + store.WebhookDeliveryColumns + ` FROM webhook_deliveries
		WHERE webhook_id = $1 AND number < $2 ORDER BY number DESC LIMIT $3`
	PageTokensSQL = `SELECT ` + store.APITokenColumns + ` FROM api_tokens
		WHERE id > $1 ORDER BY id LIMIT $2`
	PageWorkspaceTokensSQL = `SELECT ` + store.APITokenColumns + ` FROM api_tokens
		WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3`
	PageAppsSQL = `SELECT ` + store.AppColumns + ` FROM apps
		WHERE id > $1 ORDER BY id LIMIT $2`
	PageWorkspaceAppsSQL = `SELECT ` + store.AppColumns + ` FROM apps
		WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3`
	PageConnectLinksSQL = `SELECT ` + store.ConnectLinkColumns + ` FROM connect_links
		WHERE workspace_id = $1 AND deleted_at IS NULL AND id > $2 ORDER BY id LIMIT $3`
	PageIntegrationConnectLinksSQL = `SELECT ` + store.ConnectLinkColumns + ` FROM connect_links
		WHERE integration_id = $1 AND workspace_id = $2 AND deleted_at IS NULL AND id > $3
		ORDER BY id LIMIT $4`

	// The lookups of every /access and proxied request (creds.Service.load).
	GetIntegrationSQL  = `SELECT ` + store.IntegrationColumns + ` FROM integrations WHERE id = $1`
	ListCredentialsSQL = `SELECT ` + store.CredentialColumns + ` FROM credentials
		WHERE integration_id = $1 ORDER BY version`
)

// PageWorkspaces returns page p of the workspaces in id order.
func (s *Queries) PageWorkspaces(ctx context.Context, p store.ListPage) ([]store.Workspace, error) {
	ws, err := QueryAll(ctx, s.read, s.d.Scan.Workspace, PageWorkspacesSQL, p.After, store.ListPageLimit(p))
	if err != nil {
		return nil, fmt.Errorf("page workspaces: %w", err)
	}
	return ws, nil
}

// PageIntegrations returns page p of the integrations in id order (of
// one status when p.Status is set, of one app when p.AppID is).
func (s *Queries) PageIntegrations(ctx context.Context, p store.ListPage) ([]store.Integration, error) {
	q, args := PageIntegrationsSQL, []any{p.After, store.ListPageLimit(p)}
	switch {
	case p.AppID != "":
		q, args = PageAppIntegrationsSQL, append([]any{p.AppID}, args...)
	case p.Status != "" && p.WorkspaceID == "":
		return nil, errors.New("page integrations: a status filter needs a workspace")
	case p.Status != "":
		q, args = PageStatusIntegrationsSQL, append([]any{p.WorkspaceID, p.Status}, args...)
	case p.WorkspaceID != "":
		q, args = PageWorkspaceIntegrationsSQL, append([]any{p.WorkspaceID}, args...)
	}
	ins, err := QueryAll(ctx, s.read, s.d.Scan.Integration, q, args...)
	if err != nil {
		return nil, fmt.Errorf("page integrations: %w", err)
	}
	return ins, nil
}

// PageWebhooks returns page p of the webhooks in id order.
func (s *Queries) PageWebhooks(ctx context.Context, p store.ListPage) ([]store.Webhook, error) {
	ws, err := pageByWorkspace(ctx, s, s.d.Scan.Webhook, PageWebhooksSQL, PageWorkspaceWebhooksSQL,
		p.WorkspaceID, p.After, store.ListPageLimit(p))
	if err != nil {
		return nil, fmt.Errorf("page webhooks: %w", err)
	}
	return ws, nil
}

// pageByWorkspace reads the keyset page all (after, limit), or
// inWorkspace (workspaceID, after, limit) when workspaceID is set.
func pageByWorkspace[T any](ctx context.Context, q *Queries, scan func(store.Row) (T, error),
	all, inWorkspace, workspaceID, after string, limit int) ([]T, error) {
	if workspaceID == "" {
		return QueryAll(ctx, q.read, scan, all, after, limit)
	}
	return QueryAll(ctx, q.read, scan, inWorkspace, workspaceID, after, limit)
}

// PageCredentials returns page p of an integration's versions in
// version order, or newest first when p.Newest.
func (s *Queries) PageCredentials(ctx context.Context, p store.VersionPage) ([]store.Credential, error) {
	var after int64
	q := PageCredentialsSQL
	if p.Newest {
		after, q = math.MaxInt32, PageCredentialsNewestSQL
	}
	if p.After != "" {
		if err := s.read.QueryRow(ctx, CredentialVersionSQL, p.After, p.Parent).Scan(&after); err != nil {
			return nil, fmt.Errorf("page credentials of %s after %s: %w", p.Parent, p.After, s.d.Err(err))
		}
	}
	cs, err := QueryAll(ctx, s.read, s.d.Scan.Credential, q, p.Parent, after, store.VersionPageLimit(p))
	if err != nil {
		return nil, fmt.Errorf("page credentials of %s: %w", p.Parent, err)
	}
	return cs, nil
}

// ListWebhookDeliveries returns page p of a webhook's delivery log,
// newest first.
func (s *Queries) ListWebhookDeliveries(ctx context.Context, p store.VersionPage) ([]store.WebhookDelivery, error) {
	before := int64(math.MaxInt64)
	if p.After != "" {
		if err := s.read.QueryRow(ctx, DeliveryNumberSQL, p.After, p.Parent).Scan(&before); err != nil {
			return nil, fmt.Errorf("list webhook deliveries after %s: %w", p.After, s.d.Err(err))
		}
	}
	ds, err := QueryAll(ctx, s.read, s.d.Scan.WebhookDelivery, PageDeliveriesSQL, p.Parent, before, store.VersionPageLimit(p))
	if err != nil {
		return nil, fmt.Errorf("list webhook deliveries: %w", err)
	}
	return ds, nil
}

// PageAppSecrets returns page p of an app's secret versions in version
// order.
func (s *Queries) PageAppSecrets(ctx context.Context, p store.VersionPage) ([]store.AppSecret, error) {
	var after int64
	if p.After != "" {
		if err := s.read.QueryRow(ctx, AppSecretVersionSQL, p.After, p.Parent).Scan(&after); err != nil {
			return nil, fmt.Errorf("page secrets of app %s after %s: %w", p.Parent, p.After, s.d.Err(err))
		}
	}
	xs, err := QueryAll(ctx, s.read, s.d.Scan.AppSecret, PageAppSecretsSQL, p.Parent, after, store.VersionPageLimit(p))
	if err != nil {
		return nil, fmt.Errorf("page secrets of app %s: %w", p.Parent, err)
	}
	return xs, nil
}
