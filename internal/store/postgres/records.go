package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/sqldb"
)

// CreateWorkspace stores w; a taken id or name is ErrConflict.
func (s *Store) CreateWorkspace(ctx context.Context, w store.Workspace) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO workspaces (id, name, created_at) VALUES ($1, $2, $3)`,
		w.ID, w.Name, dbTime(w.CreatedAt))
	if err != nil {
		return fmt.Errorf("create workspace %s: %w", w.Name, dbErr(err))
	}
	return nil
}

// GetWorkspace finds a workspace by id or, failing that, by name.
func (s *Store) GetWorkspace(ctx context.Context, idOrName string) (store.Workspace, error) {
	// The id match wins should a name ever equal another workspace's id.
	w, err := scan.Workspace(s.pool.QueryRow(ctx,
		`SELECT `+store.WorkspaceColumns+` FROM workspaces WHERE id = $1 OR name = $1 ORDER BY id = $1 DESC LIMIT 1`, idOrName))
	if err != nil {
		return store.Workspace{}, fmt.Errorf("get workspace %s: %w", idOrName, dbErr(err))
	}
	return w, nil
}

// ListWorkspaces lists every workspace in creation order.
func (s *Store) ListWorkspaces(ctx context.Context) ([]store.Workspace, error) {
	ws, err := queryAll(ctx, s, scan.Workspace, `SELECT `+store.WorkspaceColumns+` FROM workspaces ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("list workspaces: %w", err)
	}
	return ws, nil
}

// CreateAPIToken stores t; a taken id or hash is ErrConflict.
func (s *Store) CreateAPIToken(ctx context.Context, t store.APIToken) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO api_tokens (id, name, workspace_id, role, hash, created_at)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		t.ID, t.Name, t.WorkspaceID, t.Role, t.Hash, dbTime(t.CreatedAt))
	if err != nil {
		return fmt.Errorf("create api token %s: %w", t.ID, dbErr(err))
	}
	return nil
}

// GetAPITokenByHash finds the token whose hash is hash.
func (s *Store) GetAPITokenByHash(ctx context.Context, hash []byte) (store.APIToken, error) {
	t, err := scan.APIToken(s.pool.QueryRow(ctx, `SELECT `+store.APITokenColumns+` FROM api_tokens WHERE hash = $1`, hash))
	if err != nil {
		// Never echo the hash: it identifies a live credential.
		return store.APIToken{}, fmt.Errorf("get api token by hash: %w", dbErr(err))
	}
	return t, nil
}

// GetAPIToken finds a token by id.
func (s *Store) GetAPIToken(ctx context.Context, id string) (store.APIToken, error) {
	t, err := scan.APIToken(s.pool.QueryRow(ctx, `SELECT `+store.APITokenColumns+` FROM api_tokens WHERE id = $1`, id))
	if err != nil {
		return store.APIToken{}, fmt.Errorf("get api token %s: %w", id, dbErr(err))
	}
	return t, nil
}

// DeleteAPIToken removes a token; an unknown id is ErrNotFound.
func (s *Store) DeleteAPIToken(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM api_tokens WHERE id = $1`, id)
	if err == nil {
		err = affected(tag, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete api token %s: %w", id, err)
	}
	return nil
}

// CreateIntegration stores in with revision 1. A taken id, or a name
// taken in the workspace, is ErrConflict; an unknown workspace is
// ErrNotFound.
func (s *Store) CreateIntegration(ctx context.Context, in store.Integration) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO integrations (id, workspace_id, name, provider, auth_method,
			config, secret_config, status, status_reason, created_at, updated_at, last_verified_at,
			last_used_at, revision, app_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 1, $14)`,
		in.ID, in.WorkspaceID, in.Name, in.Provider, in.AuthMethod, in.Config, in.SecretConfig,
		in.Status, in.StatusReason, dbTime(in.CreatedAt), dbTime(in.UpdatedAt),
		dbTime(in.LastVerifiedAt), dbTime(in.LastUsedAt), store.NullString(in.AppID))
	if err != nil {
		return fmt.Errorf("create integration %s: %w", in.ID, dbErr(err))
	}
	return nil
}

func getIntegration(ctx context.Context, q querier, id string) (store.Integration, error) {
	in, err := scan.Integration(q.QueryRow(ctx, sqldb.GetIntegrationSQL, id))
	if err != nil {
		return store.Integration{}, fmt.Errorf("get integration %s: %w", id, dbErr(err))
	}
	return in, nil
}

// LockIntegration implements store.Tx: it loads an integration and locks
// its row until the transaction ends. Every Mutate, UpdateIntegration and
// UpdateCredential of the integration takes this lock first, which
// serialises them across all instances.
func (t txn) LockIntegration(ctx context.Context, id string) (store.Integration, error) {
	in, err := scan.Integration(t.tx.QueryRow(ctx, `SELECT `+store.IntegrationColumns+` FROM integrations WHERE id = $1 FOR UPDATE`, id))
	if err != nil {
		return store.Integration{}, fmt.Errorf("lock integration %s: %w", id, dbErr(err))
	}
	return in, nil
}

func (t txn) GetIntegration(ctx context.Context, id string) (store.Integration, error) {
	return getIntegration(ctx, t.tx, id)
}

// GetIntegration finds an integration by id.
func (s *Store) GetIntegration(ctx context.Context, id string) (store.Integration, error) {
	return getIntegration(ctx, s.pool, id)
}

// ListIntegrations lists a workspace's integrations (all when workspaceID
// is empty) in creation order.
func (s *Store) ListIntegrations(ctx context.Context, workspaceID string) ([]store.Integration, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+store.IntegrationColumns+` FROM integrations
		WHERE $1 = '' OR workspace_id = $1 ORDER BY seq`, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("list integrations: %w", err)
	}
	ins, err := collect(rows, scan.Integration)
	if err != nil {
		return nil, fmt.Errorf("list integrations: %w", err)
	}
	return ins, nil
}

// UpdateIntegration implements store.Tx: it writes in over the row at
// revision old.
func (t txn) UpdateIntegration(ctx context.Context, in store.Integration, old int64) error {
	tag, err := t.tx.Exec(ctx, `UPDATE integrations SET name = $1, provider = $2, auth_method = $3,
			config = $4, secret_config = $5, status = $6, status_reason = $7, updated_at = $8,
			last_verified_at = $9, last_used_at = $10, app_id = $11, revision = revision + 1
		WHERE id = $12 AND revision = $13`,
		in.Name, in.Provider, in.AuthMethod, in.Config, in.SecretConfig, in.Status, in.StatusReason,
		dbTime(in.UpdatedAt), dbTime(in.LastVerifiedAt), dbTime(in.LastUsedAt), store.NullString(in.AppID), in.ID, old)
	if err != nil {
		return fmt.Errorf("update integration %s: %w", in.ID, dbErr(err))
	}
	if err := affected(tag, store.ErrConflict); err != nil {
		return fmt.Errorf("update integration %s: %w", in.ID, err)
	}
	return nil
}

// UpdateIntegration applies fn to the current integration, holding its
// row lock, and stores the result unless fn fails, whose error is
// returned unchanged.
func (s *Store) UpdateIntegration(ctx context.Context, id string, fn func(store.Integration) (store.Integration, error)) (store.Integration, error) {
	return store.RunUpdateIntegration(ctx, s.writeTx, id, fn)
}

// TouchIntegration sets LastUsedAt without a revision change.
func (s *Store) TouchIntegration(ctx context.Context, id string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE integrations SET last_used_at = $1 WHERE id = $2`, dbTime(at), id)
	if err == nil {
		err = affected(tag, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("touch integration %s: %w", id, err)
	}
	return nil
}

// DeleteIntegration removes the integration and, by foreign-key cascade,
// its credentials. Events and audit records stay.
func (s *Store) DeleteIntegration(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM integrations WHERE id = $1`, id)
	if err == nil {
		err = affected(tag, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete integration %s: %w", id, err)
	}
	return nil
}
