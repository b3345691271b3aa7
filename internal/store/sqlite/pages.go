package sqlite

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
		WHERE id > ? ORDER BY id LIMIT ?`
	pageIntegrationsSQL = `SELECT ` + store.IntegrationColumns + ` FROM integrations
		WHERE id > ? ORDER BY id LIMIT ?`
	pageWorkspaceIntegrationsSQL = `SELECT ` + store.IntegrationColumns + ` FROM integrations
		WHERE workspace_id = ? AND id > ? ORDER BY id LIMIT ?`
	pageStatusIntegrationsSQL = `SELECT ` + store.IntegrationColumns + ` FROM integrations
		WHERE workspace_id = ? AND status = ? AND id > ? ORDER BY id LIMIT ?`
	pageAppIntegrationsSQL = `SELECT ` + store.IntegrationColumns + ` FROM integrations
		WHERE app_id = ? AND id > ? ORDER BY id LIMIT ?`
	appSecretVersionSQL = `SELECT version FROM app_secrets WHERE id = ? AND app_id = ?`
	pageAppSecretsSQL   = `SELECT ` + store.AppSecretColumns + ` FROM app_secrets
		WHERE app_id = ? AND version > ? ORDER BY version LIMIT ?`
	pageWebhooksSQL = `SELECT ` + store.WebhookColumns + ` FROM webhooks
		WHERE id > ? ORDER BY id LIMIT ?`
	pageWorkspaceWebhooksSQL = `SELECT ` + store.WebhookColumns + ` FROM webhooks
		WHERE workspace_id = ? AND id > ? ORDER BY id LIMIT ?`
	credentialVersionSQL = `SELECT version FROM credentials WHERE id = ? AND integration_id = ?`
	pageCredentialsSQL   = `SELECT ` + store.CredentialColumns + ` FROM credentials
		WHERE integration_id = ? AND version > ? ORDER BY version LIMIT ?`
	pageCredentialsNewestSQL = `SELECT ` + store.CredentialColumns + ` FROM credentials
		WHERE integration_id = ? AND version < ? ORDER BY version DESC LIMIT ?`
	deliveryNumberSQL = `SELECT number FROM webhook_deliveries WHERE id = ? AND webhook_id = ?`
	pageDeliveriesSQL = `SELECT ` + store.WebhookDeliveryColumns + ` FROM webhook_deliveries
		WHERE webhook_id = ? AND number < ? ORDER BY number DESC LIMIT ?`
	pageTokensSQL = `SELECT ` + store.APITokenColumns + ` FROM api_tokens
		WHERE id > ? ORDER BY id LIMIT ?`
	pageWorkspaceTokensSQL = `SELECT ` + store.APITokenColumns + ` FROM api_tokens
		WHERE workspace_id = ? AND id > ? ORDER BY id LIMIT ?`
	pageAppsSQL = `SELECT ` + store.AppColumns + ` FROM apps
		WHERE id > ? ORDER BY id LIMIT ?`
	pageWorkspaceAppsSQL = `SELECT ` + store.AppColumns + ` FROM apps
		WHERE workspace_id = ? AND id > ? ORDER BY id LIMIT ?`
	pageConnectLinksSQL = `SELECT ` + store.ConnectLinkColumns + ` FROM connect_links
		WHERE workspace_id = ? AND deleted_at IS NULL AND id > ? ORDER BY id LIMIT ?`
	pageIntegrationConnectLinksSQL = `SELECT ` + store.ConnectLinkColumns + ` FROM connect_links
		WHERE integration_id = ? AND workspace_id = ? AND deleted_at IS NULL AND id > ?
		ORDER BY id LIMIT ?`

	// The lookups of every /access and proxied request (creds.Service.load).
	getIntegrationSQL  = `SELECT ` + store.IntegrationColumns + ` FROM integrations WHERE id = ?`
	listCredentialsSQL = `SELECT ` + store.CredentialColumns + ` FROM credentials
		WHERE integration_id = ? ORDER BY version`
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
		if err := s.ro.QueryRowContext(ctx, credentialVersionSQL, p.After, p.Parent).Scan(&after); err != nil {
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
		if err := s.ro.QueryRowContext(ctx, deliveryNumberSQL, p.After, p.Parent).Scan(&before); err != nil {
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
		if err := s.ro.QueryRowContext(ctx, appSecretVersionSQL, p.After, p.Parent).Scan(&after); err != nil {
			return nil, fmt.Errorf("page secrets of app %s after %s: %w", p.Parent, p.After, dbErr(err))
		}
	}
	xs, err := queryAll(ctx, s, scan.AppSecret, pageAppSecretsSQL, p.Parent, after, store.VersionPageLimit(p))
	if err != nil {
		return nil, fmt.Errorf("page secrets of app %s: %w", p.Parent, err)
	}
	return xs, nil
}
