package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/stormcreds/storm/internal/store"
)

// The keyset queries behind listings (store.ListPage, store.VersionPage):
// each reads one index range in the order it returns, so a page costs
// the same however many rows the table holds. explain_test.go checks
// their plans; keep every listing's SQL here.
const (
	pageWorkspacesSQL = `SELECT ` + store.WorkspaceColumns + ` FROM workspaces
		WHERE id > $1 ORDER BY id LIMIT $2`
	pageIntegrationsSQL = `SELECT ` + store.IntegrationColumns + ` FROM integrations
		WHERE id > $1 ORDER BY id LIMIT $2`
	pageWorkspaceIntegrationsSQL = `SELECT ` + store.IntegrationColumns + ` FROM integrations
		WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3`
	pageStatusIntegrationsSQL = `SELECT ` + store.IntegrationColumns + ` FROM integrations
		WHERE workspace_id = $1 AND status = $2 AND id > $3 ORDER BY id LIMIT $4`
	pageAppIntegrationsSQL = `SELECT ` + store.IntegrationColumns + ` FROM integrations
		WHERE app_id = $1 AND id > $2 ORDER BY id LIMIT $3`
	appSecretVersionSQL = `SELECT version FROM app_secrets WHERE id = $1 AND app_id = $2`
	pageAppSecretsSQL   = `SELECT ` + store.AppSecretColumns + ` FROM app_secrets
		WHERE app_id = $1 AND version > $2 ORDER BY version LIMIT $3`
	pageWebhooksSQL = `SELECT ` + store.WebhookColumns + ` FROM webhooks
		WHERE id > $1 ORDER BY id LIMIT $2`
	pageWorkspaceWebhooksSQL = `SELECT ` + store.WebhookColumns + ` FROM webhooks
		WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3`
	credentialVersionSQL = `SELECT version FROM credentials WHERE id = $1 AND integration_id = $2`
	pageCredentialsSQL   = `SELECT ` + store.CredentialColumns + ` FROM credentials
		WHERE integration_id = $1 AND version > $2 ORDER BY version LIMIT $3`
	pageCredentialsNewestSQL = `SELECT ` + store.CredentialColumns + ` FROM credentials
		WHERE integration_id = $1 AND version < $2 ORDER BY version DESC LIMIT $3`
	deliveryNumberSQL = `SELECT number FROM webhook_deliveries WHERE id = $1 AND webhook_id = $2`
	pageDeliveriesSQL = `SELECT ` + store.WebhookDeliveryColumns + ` FROM webhook_deliveries
		WHERE webhook_id = $1 AND number < $2 ORDER BY number DESC LIMIT $3`
	pageTokensSQL = `SELECT ` + store.APITokenColumns + ` FROM api_tokens
		WHERE id > $1 ORDER BY id LIMIT $2`
	pageWorkspaceTokensSQL = `SELECT ` + store.APITokenColumns + ` FROM api_tokens
		WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3`
	pageAppsSQL = `SELECT ` + store.AppColumns + ` FROM apps
		WHERE id > $1 ORDER BY id LIMIT $2`
	pageWorkspaceAppsSQL = `SELECT ` + store.AppColumns + ` FROM apps
		WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3`
	pageConnectLinksSQL = `SELECT ` + store.ConnectLinkColumns + ` FROM connect_links
		WHERE workspace_id = $1 AND deleted_at IS NULL AND id > $2 ORDER BY id LIMIT $3`
	pageIntegrationConnectLinksSQL = `SELECT ` + store.ConnectLinkColumns + ` FROM connect_links
		WHERE integration_id = $1 AND workspace_id = $2 AND deleted_at IS NULL AND id > $3
		ORDER BY id LIMIT $4`

	// The lookups of every /access and proxied request (creds.Service.load).
	getIntegrationSQL  = `SELECT ` + store.IntegrationColumns + ` FROM integrations WHERE id = $1`
	listCredentialsSQL = `SELECT ` + store.CredentialColumns + ` FROM credentials
		WHERE integration_id = $1 ORDER BY version`
)

// PageWorkspaces returns page p of the workspaces in id order.
func (s *Store) PageWorkspaces(ctx context.Context, p store.ListPage) ([]store.Workspace, error) {
	ws, err := queryAll(ctx, s, scan.Workspace, pageWorkspacesSQL, p.After, store.ListPageLimit(p))
	if err != nil {
		return nil, fmt.Errorf("page workspaces: %w", err)
	}
	return ws, nil
}

// PageIntegrations returns page p of the integrations in id order (of
// one status when p.Status is set).
func (s *Store) PageIntegrations(ctx context.Context, p store.ListPage) ([]store.Integration, error) {
	q, args := pageIntegrationsSQL, []any{p.After, store.ListPageLimit(p)}
	switch {
	case p.AppID != "":
		q, args = pageAppIntegrationsSQL, append([]any{p.AppID}, args...)
	case p.Status != "" && p.WorkspaceID == "":
		return nil, errors.New("page integrations: a status filter needs a workspace")
	case p.Status != "":
		q, args = pageStatusIntegrationsSQL, append([]any{p.WorkspaceID, p.Status}, args...)
	case p.WorkspaceID != "":
		q, args = pageWorkspaceIntegrationsSQL, append([]any{p.WorkspaceID}, args...)
	}
	ins, err := queryAll(ctx, s, scan.Integration, q, args...)
	if err != nil {
		return nil, fmt.Errorf("page integrations: %w", err)
	}
	return ins, nil
}

// PageWebhooks returns page p of the webhooks in id order.
func (s *Store) PageWebhooks(ctx context.Context, p store.ListPage) ([]store.Webhook, error) {
	q, args := pageWebhooksSQL, []any{p.After, store.ListPageLimit(p)}
	if p.WorkspaceID != "" {
		q, args = pageWorkspaceWebhooksSQL, append([]any{p.WorkspaceID}, args...)
	}
	ws, err := queryAll(ctx, s, scan.Webhook, q, args...)
	if err != nil {
		return nil, fmt.Errorf("page webhooks: %w", err)
	}
	return ws, nil
}

// PageCredentials returns page p of an integration's versions in
// version order, or newest first when p.Newest.
func (s *Store) PageCredentials(ctx context.Context, p store.VersionPage) ([]store.Credential, error) {
	var after int64
	q := pageCredentialsSQL
	if p.Newest {
		after, q = math.MaxInt32, pageCredentialsNewestSQL
	}
	if p.After != "" {
		if err := s.pool.QueryRow(ctx, credentialVersionSQL, p.After, p.Parent).Scan(&after); err != nil {
			return nil, fmt.Errorf("page credentials of %s after %s: %w", p.Parent, p.After, dbErr(err))
		}
	}
	cs, err := queryAll(ctx, s, scan.Credential, q, p.Parent, after, store.VersionPageLimit(p))
	if err != nil {
		return nil, fmt.Errorf("page credentials of %s: %w", p.Parent, err)
	}
	return cs, nil
}

// ListWebhookDeliveries returns page p of a webhook's delivery log,
// newest first.
func (s *Store) ListWebhookDeliveries(ctx context.Context, p store.VersionPage) ([]store.WebhookDelivery, error) {
	before := int64(math.MaxInt64)
	if p.After != "" {
		if err := s.pool.QueryRow(ctx, deliveryNumberSQL, p.After, p.Parent).Scan(&before); err != nil {
			return nil, fmt.Errorf("list webhook deliveries after %s: %w", p.After, dbErr(err))
		}
	}
	ds, err := queryAll(ctx, s, scan.WebhookDelivery, pageDeliveriesSQL, p.Parent, before, store.VersionPageLimit(p))
	if err != nil {
		return nil, fmt.Errorf("list webhook deliveries: %w", err)
	}
	return ds, nil
}

// PageAppSecrets returns page p of an app's secret versions in version
// order.
func (s *Store) PageAppSecrets(ctx context.Context, p store.VersionPage) ([]store.AppSecret, error) {
	var after int64
	if p.After != "" {
		if err := s.pool.QueryRow(ctx, appSecretVersionSQL, p.After, p.Parent).Scan(&after); err != nil {
			return nil, fmt.Errorf("page secrets of app %s after %s: %w", p.Parent, p.After, dbErr(err))
		}
	}
	xs, err := queryAll(ctx, s, scan.AppSecret, pageAppSecretsSQL, p.Parent, after, store.VersionPageLimit(p))
	if err != nil {
		return nil, fmt.Errorf("page secrets of app %s: %w", p.Parent, err)
	}
	return xs, nil
}
