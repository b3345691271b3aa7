package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/sqldb"
)

// CreateApp stores a and its first secrets in one transaction.
func (s *Store) CreateApp(ctx context.Context, a store.App, secrets []store.AppSecret) error {
	err := s.writePrepared(ctx, func(tx *prepTx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO apps (id, workspace_id, name, provider, auth_method, config,
				secret_config, origin, created_at, updated_at, revision, issuer, redirect_uri)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)`,
			a.ID, a.WorkspaceID, a.Name, a.Provider, a.AuthMethod, a.Config, a.SecretConfig, a.Origin,
			dbTime(a.CreatedAt), dbTime(a.UpdatedAt), store.NullString(a.Issuer), store.NullString(a.RedirectURI))
		if err != nil {
			return dbErr(err)
		}
		t := s.txn(tx)
		for _, x := range secrets {
			x.AppID, x.WorkspaceID = a.ID, a.WorkspaceID
			if err := t.InsertAppSecret(ctx, x); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create app %s: %w", a.ID, err)
	}
	return nil
}

func getApp(ctx context.Context, q querier, id string) (store.App, error) {
	a, err := scan.App(q.QueryRowContext(ctx, `SELECT `+store.AppColumns+` FROM apps WHERE id = ?`, id))
	if err != nil {
		return store.App{}, fmt.Errorf("get app %s: %w", id, dbErr(err))
	}
	return a, nil
}

// GetApp finds an app by id.
func (s *Store) GetApp(ctx context.Context, id string) (store.App, error) {
	return getApp(ctx, s.ro, id)
}

// GetRegisteredApp finds the client Storm registered at issuer for
// redirectURI in a workspace.
func (s *Store) GetRegisteredApp(ctx context.Context, workspaceID, issuer, redirectURI string) (store.App, error) {
	a, err := scan.App(s.ro.QueryRowContext(ctx, `SELECT `+store.AppColumns+` FROM apps
		WHERE workspace_id = ? AND issuer = ? AND redirect_uri = ?`, workspaceID, issuer, redirectURI))
	if err != nil {
		return store.App{}, fmt.Errorf("get registered app: %w", dbErr(err))
	}
	return a, nil
}

// ListApps returns page p of the apps in id order.
func (s *Store) ListApps(ctx context.Context, p store.AppPage) ([]store.App, error) {
	q, args := sqldb.PageAppsSQL, []any{p.After, store.AppPageLimit(p)}
	if p.WorkspaceID != "" {
		q, args = sqldb.PageWorkspaceAppsSQL, append([]any{p.WorkspaceID}, args...)
	}
	as, err := queryAll(ctx, s, scan.App, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	return as, nil
}

// UpdateApp is store.RunUpdateApp over an immediate transaction, which
// holds the database's write lock: updates are serialised across every
// process sharing the file.
func (s *Store) UpdateApp(ctx context.Context, id string, fn func(*store.AppChange) error) (store.AppChange, error) {
	return store.RunUpdateApp(ctx, func(ctx context.Context, fn func(store.AppTx) error) error {
		return s.writePrepared(ctx, func(tx *prepTx) error { return fn(s.txn(tx)) })
	}, id, fn)
}

// DeleteApp removes an app and its secrets unless an integration uses it.
// Writes are serialised, so no integration can start using it between
// the count and the delete.
func (s *Store) DeleteApp(ctx context.Context, id string) error {
	err := s.writePrepared(ctx, func(tx *prepTx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM integrations WHERE app_id = ?`, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: %d integrations use the app", store.ErrConflict, n)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM apps WHERE id = ?`, id)
		if err != nil {
			return dbErr(err)
		}
		return affected(res, store.ErrNotFound)
	})
	if err != nil {
		return fmt.Errorf("delete app %s: %w", id, err)
	}
	return nil
}

func listAppSecrets(ctx context.Context, q querier, appID string) ([]store.AppSecret, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+store.AppSecretColumns+` FROM app_secrets
		WHERE app_id = ? ORDER BY version`, appID)
	if err != nil {
		return nil, fmt.Errorf("list secrets of app %s: %w", appID, err)
	}
	xs, err := collect(rows, scan.AppSecret)
	if err != nil {
		return nil, fmt.Errorf("list secrets of app %s: %w", appID, err)
	}
	return xs, nil
}

// ListAppSecrets returns an app's secret versions ordered by Version; an
// unknown app has none.
func (s *Store) ListAppSecrets(ctx context.Context, appID string) ([]store.AppSecret, error) {
	return listAppSecrets(ctx, s.ro, appID)
}

// TouchAppSecret records the latest use or rejection of a secret.
func (s *Store) TouchAppSecret(ctx context.Context, id string, used, rejected time.Time) error {
	err := s.writePrepared(ctx, func(tx *prepTx) error {
		res, err := tx.ExecContext(ctx, `UPDATE app_secrets SET
				last_used_at = CASE WHEN ?1 IS NOT NULL AND (last_used_at IS NULL OR last_used_at < ?1) THEN ?1 ELSE last_used_at END,
				last_rejected_at = CASE WHEN ?2 IS NOT NULL AND (last_rejected_at IS NULL OR last_rejected_at < ?2) THEN ?2 ELSE last_rejected_at END
			WHERE id = ?3`, dbTime(used), dbTime(rejected), id)
		if err != nil {
			return err
		}
		return affected(res, store.ErrNotFound)
	})
	if err != nil {
		return fmt.Errorf("touch app secret %s: %w", id, err)
	}
	return nil
}

// ListAppIntegrations lists the integrations that use an app, in
// creation order.
func (s *Store) ListAppIntegrations(ctx context.Context, appID string) ([]store.Integration, error) {
	rows, err := s.ro.QueryContext(ctx, `SELECT `+store.IntegrationColumns+` FROM integrations
		WHERE app_id = ? ORDER BY rowid`, appID)
	if err != nil {
		return nil, fmt.Errorf("list integrations of app %s: %w", appID, err)
	}
	ins, err := collect(rows, scan.Integration)
	if err != nil {
		return nil, fmt.Errorf("list integrations of app %s: %w", appID, err)
	}
	return ins, nil
}

// ScanAppSecrets returns up to limit app secrets after the id after, in
// id order.
func (s *Store) ScanAppSecrets(ctx context.Context, after string, limit int) ([]store.AppSecret, error) {
	rows, err := s.ro.QueryContext(ctx, `SELECT `+store.AppSecretColumns+` FROM app_secrets
		WHERE id > ? ORDER BY id LIMIT ?`, after, store.DueLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("scan app secrets: %w", err)
	}
	xs, err := collect(rows, scan.AppSecret)
	if err != nil {
		return nil, fmt.Errorf("scan app secrets: %w", err)
	}
	return xs, nil
}

// LockApp implements store.AppTx; the transaction holds the write lock
// already.
func (t txn) LockApp(ctx context.Context, id string) (store.App, error) { return getApp(ctx, t.tx, id) }

// GetApp implements store.AppTx.
func (t txn) GetApp(ctx context.Context, id string) (store.App, error) { return getApp(ctx, t.tx, id) }

// ListAppSecrets implements store.AppTx.
func (t txn) ListAppSecrets(ctx context.Context, appID string) ([]store.AppSecret, error) {
	return listAppSecrets(ctx, t.tx, appID)
}

// UpdateApp implements store.AppTx.
func (t txn) UpdateApp(ctx context.Context, a store.App, old int64) error {
	res, err := t.tx.ExecContext(ctx, `UPDATE apps SET name = ?, provider = ?, auth_method = ?, config = ?,
			secret_config = ?, origin = ?, updated_at = ?, revision = revision + 1
		WHERE id = ? AND revision = ?`,
		a.Name, a.Provider, a.AuthMethod, a.Config, a.SecretConfig, a.Origin, dbTime(a.UpdatedAt), a.ID, old)
	if err != nil {
		return fmt.Errorf("update app %s: %w", a.ID, dbErr(err))
	}
	if err := affected(res, store.ErrConflict); err != nil {
		return fmt.Errorf("update app %s: %w", a.ID, err)
	}
	return nil
}

// InsertAppSecret implements store.AppTx.
func (t txn) InsertAppSecret(ctx context.Context, x store.AppSecret) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO app_secrets (id, app_id, workspace_id, version, state, hint,
			fingerprint, secret, created_at, last_used_at, last_rejected_at, revoked_at, revision)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
		x.ID, x.AppID, x.WorkspaceID, x.Version, x.State, x.Hint, x.Fingerprint, x.Secret, dbTime(x.CreatedAt),
		dbTime(x.LastUsedAt), dbTime(x.LastRejectedAt), dbTime(x.RevokedAt))
	if err != nil {
		return fmt.Errorf("insert app secret %s: %w", x.ID, dbErr(err))
	}
	return nil
}

// UpdateAppSecret implements store.AppTx. Use times only move forward:
// a touch committed since the secret was read is never undone.
func (t txn) UpdateAppSecret(ctx context.Context, x store.AppSecret, old int64) error {
	res, err := t.tx.ExecContext(ctx, `UPDATE app_secrets SET version = ?, state = ?, hint = ?, fingerprint = ?,
			secret = ?, revoked_at = ?,
			last_used_at = max(COALESCE(last_used_at, 0), COALESCE(?, 0)),
			last_rejected_at = max(COALESCE(last_rejected_at, 0), COALESCE(?, 0)),
			revision = revision + 1
		WHERE id = ? AND revision = ?`,
		x.Version, x.State, x.Hint, x.Fingerprint, x.Secret, dbTime(x.RevokedAt),
		dbTime(x.LastUsedAt), dbTime(x.LastRejectedAt), x.ID, old)
	if err != nil {
		return fmt.Errorf("update app secret %s: %w", x.ID, dbErr(err))
	}
	if err := affected(res, store.ErrConflict); err != nil {
		return fmt.Errorf("update app secret %s: %w", x.ID, err)
	}
	return nil
}
