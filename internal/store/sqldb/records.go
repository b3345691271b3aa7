package sqldb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

// CreateWorkspace stores w; a taken id or name is ErrConflict.
func (q *Queries) CreateWorkspace(ctx context.Context, w store.Workspace) error {
	_, err := q.exec(ctx, `INSERT INTO workspaces (id, name, created_at) VALUES ($1, $2, $3)`,
		w.ID, w.Name, q.d.Time(w.CreatedAt))
	if err != nil {
		return fmt.Errorf("create workspace %s: %w", w.Name, q.d.Err(err))
	}
	return nil
}

// GetWorkspace finds a workspace by id or, failing that, by name.
func (q *Queries) GetWorkspace(ctx context.Context, idOrName string) (store.Workspace, error) {
	// The id match wins should a name ever equal another workspace's id.
	w, err := q.d.Scan.Workspace(q.read.QueryRow(ctx,
		`SELECT `+store.WorkspaceColumns+` FROM workspaces WHERE id = $1 OR name = $1 ORDER BY id = $1 DESC LIMIT 1`, idOrName))
	if err != nil {
		return store.Workspace{}, fmt.Errorf("get workspace %s: %w", idOrName, q.d.Err(err))
	}
	return w, nil
}

// ListWorkspaces lists every workspace in creation order.
func (q *Queries) ListWorkspaces(ctx context.Context) ([]store.Workspace, error) {
	ws, err := QueryAll(ctx, q.read, q.d.Scan.Workspace, q.listWorkspacesSQL)
	if err != nil {
		return nil, fmt.Errorf("list workspaces: %w", err)
	}
	return ws, nil
}

// CreateAPIToken stores t; a taken id or hash is ErrConflict.
func (q *Queries) CreateAPIToken(ctx context.Context, t store.APIToken) error {
	_, err := q.exec(ctx, `INSERT INTO api_tokens (id, name, workspace_id, role, hash, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		t.ID, t.Name, t.WorkspaceID, t.Role, t.Hash, q.d.Time(t.CreatedAt))
	if err != nil {
		return fmt.Errorf("create api token %s: %w", t.ID, q.d.Err(err))
	}
	return nil
}

// GetAPITokenByHash finds the token whose hash is hash.
func (q *Queries) GetAPITokenByHash(ctx context.Context, hash []byte) (store.APIToken, error) {
	t, err := q.d.Scan.APIToken(q.read.QueryRow(ctx, `SELECT `+store.APITokenColumns+` FROM api_tokens WHERE hash = $1`, hash))
	if err != nil {
		// Never echo the hash: it identifies a live credential.
		return store.APIToken{}, fmt.Errorf("get api token by hash: %w", q.d.Err(err))
	}
	return t, nil
}

// GetAPIToken finds a token by id.
func (q *Queries) GetAPIToken(ctx context.Context, id string) (store.APIToken, error) {
	t, err := q.d.Scan.APIToken(q.read.QueryRow(ctx, `SELECT `+store.APITokenColumns+` FROM api_tokens WHERE id = $1`, id))
	if err != nil {
		return store.APIToken{}, fmt.Errorf("get api token %s: %w", id, q.d.Err(err))
	}
	return t, nil
}

// DeleteAPIToken removes a token; an unknown id is ErrNotFound.
func (q *Queries) DeleteAPIToken(ctx context.Context, id string) error {
	n, err := q.exec(ctx, `DELETE FROM api_tokens WHERE id = $1`, id)
	if err := affected(n, err, store.ErrNotFound); err != nil {
		return fmt.Errorf("delete api token %s: %w", id, err)
	}
	return nil
}

// CreateIntegration stores in with revision 1. A taken id, or a name
// taken in the workspace, is ErrConflict; an unknown workspace is
// ErrNotFound.
func (q *Queries) CreateIntegration(ctx context.Context, in store.Integration) error {
	tm := q.d.Time
	_, err := q.exec(ctx, `INSERT INTO integrations (id, workspace_id, name, provider, auth_method,
			config, secret_config, status, status_reason, created_at, updated_at, last_verified_at,
			last_used_at, revision, app_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 1, $14)`,
		in.ID, in.WorkspaceID, in.Name, in.Provider, in.AuthMethod, in.Config, in.SecretConfig,
		in.Status, in.StatusReason, tm(in.CreatedAt), tm(in.UpdatedAt),
		tm(in.LastVerifiedAt), tm(in.LastUsedAt), store.NullString(in.AppID))
	if err != nil {
		return fmt.Errorf("create integration %s: %w", in.ID, q.d.Err(err))
	}
	return nil
}

// getIntegration reads an integration; lock is appended to the query
// (ForUpdate or nothing).
func (q *Queries) getIntegration(ctx context.Context, c Conn, id, lock string) (store.Integration, error) {
	in, err := q.d.Scan.Integration(c.QueryRow(ctx, GetIntegrationSQL+lock, id))
	if err != nil {
		return store.Integration{}, fmt.Errorf("get integration %s: %w", id, q.d.Err(err))
	}
	return in, nil
}

// IntegrationNameSQL probes the (workspace_id, name) unique index.
const IntegrationNameSQL = `SELECT 1 FROM integrations WHERE workspace_id = $1 AND name = $2`

// IntegrationNameTaken reports whether workspaceID has an integration
// named name.
func (q *Queries) IntegrationNameTaken(ctx context.Context, workspaceID, name string) (bool, error) {
	var one int
	err := q.read.QueryRow(ctx, IntegrationNameSQL, workspaceID, name).Scan(&one)
	switch err = q.d.Err(err); {
	case errors.Is(err, store.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("look up integration name: %w", err)
	}
	return true, nil
}

// GetIntegration finds an integration by id.
func (q *Queries) GetIntegration(ctx context.Context, id string) (store.Integration, error) {
	return q.getIntegration(ctx, q.read, id, "")
}

// GetIntegration implements store.Tx.
func (t Tx) GetIntegration(ctx context.Context, id string) (store.Integration, error) {
	return t.q.getIntegration(ctx, t.conn, id, "")
}

// LockIntegration implements store.Tx with the dialect's row lock
// (SQLite's write transaction holds the database's write lock already).
// Every Mutate, UpdateIntegration and UpdateCredential of the
// integration takes this lock first.
func (t Tx) LockIntegration(ctx context.Context, id string) (store.Integration, error) {
	return t.q.getIntegration(ctx, t.conn, id, t.q.d.ForUpdate)
}

// ListIntegrations lists a workspace's integrations (all when workspaceID
// is empty) in creation order.
func (q *Queries) ListIntegrations(ctx context.Context, workspaceID string) ([]store.Integration, error) {
	ins, err := QueryAll(ctx, q.read, q.d.Scan.Integration, q.listIntegrationsSQL, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("list integrations: %w", err)
	}
	return ins, nil
}

// UpdateIntegration implements store.Tx: it writes in over the row at
// revision old.
func (t Tx) UpdateIntegration(ctx context.Context, in store.Integration, old int64) error {
	tm := t.q.d.Time
	n, err := t.conn.Exec(ctx, `UPDATE integrations SET name = $1, provider = $2, auth_method = $3,
			config = $4, secret_config = $5, status = $6, status_reason = $7, updated_at = $8,
			last_verified_at = $9, last_used_at = $10, app_id = $11, revision = revision + 1
		WHERE id = $12 AND revision = $13`,
		in.Name, in.Provider, in.AuthMethod, in.Config, in.SecretConfig, in.Status, in.StatusReason,
		tm(in.UpdatedAt), tm(in.LastVerifiedAt), tm(in.LastUsedAt), store.NullString(in.AppID), in.ID, old)
	if err := affected(n, t.q.d.Err(err), store.ErrConflict); err != nil {
		return fmt.Errorf("update integration %s: %w", in.ID, err)
	}
	return nil
}

// TouchIntegration sets LastUsedAt without a revision change.
func (q *Queries) TouchIntegration(ctx context.Context, id string, at time.Time) error {
	n, err := q.exec(ctx, `UPDATE integrations SET last_used_at = $1 WHERE id = $2`, q.d.Time(at), id)
	if err := affected(n, err, store.ErrNotFound); err != nil {
		return fmt.Errorf("touch integration %s: %w", id, err)
	}
	return nil
}

// DeleteIntegration removes the integration and, by foreign-key cascade,
// its credentials. Events and audit records stay.
func (q *Queries) DeleteIntegration(ctx context.Context, id string) error {
	n, err := q.exec(ctx, `DELETE FROM integrations WHERE id = $1`, id)
	if err := affected(n, err, store.ErrNotFound); err != nil {
		return fmt.Errorf("delete integration %s: %w", id, err)
	}
	return nil
}
