package sqldb

import (
	"context"
	"fmt"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

// CreateApp stores a and its first secrets in one transaction.
func (q *Queries) CreateApp(ctx context.Context, a store.App, secrets []store.AppSecret) error {
	tm := q.d.Time
	err := q.write(ctx, func(c Conn) error {
		_, err := c.Exec(ctx, `INSERT INTO apps (id, workspace_id, name, provider, auth_method, config,
				secret_config, origin, created_at, updated_at, revision, issuer, redirect_uri)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $11, $12)`,
			a.ID, a.WorkspaceID, a.Name, a.Provider, a.AuthMethod, a.Config, a.SecretConfig, a.Origin,
			tm(a.CreatedAt), tm(a.UpdatedAt), store.NullString(a.Issuer), store.NullString(a.RedirectURI))
		if err != nil {
			return q.d.Err(err)
		}
		t := q.Tx(c)
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

// getApp reads an app; lock is appended to the query (ForUpdate or
// nothing).
func (q *Queries) getApp(ctx context.Context, c Conn, id, lock string) (store.App, error) {
	a, err := q.d.Scan.App(c.QueryRow(ctx, `SELECT `+store.AppColumns+` FROM apps WHERE id = $1`+lock, id))
	if err != nil {
		return store.App{}, fmt.Errorf("get app %s: %w", id, q.d.Err(err))
	}
	return a, nil
}

// GetApp finds an app by id.
func (q *Queries) GetApp(ctx context.Context, id string) (store.App, error) {
	return q.getApp(ctx, q.read, id, "")
}

// GetRegisteredApp finds the client Storm registered at issuer for
// redirectURI in a workspace.
func (q *Queries) GetRegisteredApp(ctx context.Context, workspaceID, issuer, redirectURI string) (store.App, error) {
	a, err := q.d.Scan.App(q.read.QueryRow(ctx, `SELECT `+store.AppColumns+` FROM apps
		WHERE workspace_id = $1 AND issuer = $2 AND redirect_uri = $3`, workspaceID, issuer, redirectURI))
	if err != nil {
		return store.App{}, fmt.Errorf("get registered app: %w", q.d.Err(err))
	}
	return a, nil
}

// ListApps returns page p of the apps in id order.
func (q *Queries) ListApps(ctx context.Context, p store.AppPage) ([]store.App, error) {
	as, err := pageByWorkspace(ctx, q, q.d.Scan.App, PageAppsSQL, PageWorkspaceAppsSQL,
		p.WorkspaceID, p.After, store.AppPageLimit(p))
	if err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	return as, nil
}

// DeleteApp removes an app and its secrets unless an integration uses
// it. It first reads the app with the dialect's row lock: on PostgreSQL
// that lock conflicts with the key-share lock an integration insert or
// update naming the app takes, so the count cannot miss one; SQLite's
// write transaction holds the database's write lock already.
func (q *Queries) DeleteApp(ctx context.Context, id string) error {
	err := q.write(ctx, func(c Conn) error {
		var one int
		if err := c.QueryRow(ctx, `SELECT 1 FROM apps WHERE id = $1`+q.d.ForUpdate, id).Scan(&one); err != nil {
			return q.d.Err(err)
		}
		var uses int
		if err := c.QueryRow(ctx, `SELECT count(*) FROM integrations WHERE app_id = $1`, id).Scan(&uses); err != nil {
			return q.d.Err(err)
		}
		if uses > 0 {
			return fmt.Errorf("%w: %d integrations use the app", store.ErrConflict, uses)
		}
		n, err := c.Exec(ctx, `DELETE FROM apps WHERE id = $1`, id)
		if err != nil {
			return q.d.Err(err)
		}
		return affected(n, nil, store.ErrNotFound)
	})
	if err != nil {
		return fmt.Errorf("delete app %s: %w", id, err)
	}
	return nil
}

func (q *Queries) listAppSecrets(ctx context.Context, c Conn, appID string) ([]store.AppSecret, error) {
	xs, err := QueryAll(ctx, c, q.d.Scan.AppSecret, `SELECT `+store.AppSecretColumns+` FROM app_secrets
		WHERE app_id = $1 ORDER BY version`, appID)
	if err != nil {
		return nil, fmt.Errorf("list secrets of app %s: %w", appID, err)
	}
	return xs, nil
}

// ListAppSecrets returns an app's secret versions ordered by Version; an
// unknown app has none.
func (q *Queries) ListAppSecrets(ctx context.Context, appID string) ([]store.AppSecret, error) {
	return q.listAppSecrets(ctx, q.read, appID)
}

// TouchAppSecret records the latest use or rejection of a secret; a zero
// time, or one before the stored one, leaves that column as it is.
func (q *Queries) TouchAppSecret(ctx context.Context, id string, used, rejected time.Time) error {
	// CASE rather than GREATEST or max(): of the two databases only
	// PostgreSQL has the one, and SQLite's many-argument max() is NULL
	// when an argument is.
	n, err := q.exec(ctx, `UPDATE app_secrets SET
			last_used_at = CASE WHEN last_used_at >= $1 THEN last_used_at ELSE COALESCE($1, last_used_at) END,
			last_rejected_at = CASE WHEN last_rejected_at >= $2 THEN last_rejected_at ELSE COALESCE($2, last_rejected_at) END
		WHERE id = $3`, q.d.Time(used), q.d.Time(rejected), id)
	if err := affected(n, err, store.ErrNotFound); err != nil {
		return fmt.Errorf("touch app secret %s: %w", id, q.d.Err(err))
	}
	return nil
}

// ListAppIntegrations lists the integrations that use an app, in
// creation order.
func (q *Queries) ListAppIntegrations(ctx context.Context, appID string) ([]store.Integration, error) {
	ins, err := QueryAll(ctx, q.read, q.d.Scan.Integration, `SELECT `+store.IntegrationColumns+` FROM integrations
		WHERE app_id = $1 ORDER BY `+q.d.InsertOrder, appID)
	if err != nil {
		return nil, fmt.Errorf("list integrations of app %s: %w", appID, err)
	}
	return ins, nil
}

// ScanAppSecrets returns up to limit app secrets after the id after, in
// id order.
func (q *Queries) ScanAppSecrets(ctx context.Context, after string, limit int) ([]store.AppSecret, error) {
	xs, err := QueryAll(ctx, q.read, q.d.Scan.AppSecret, `SELECT `+store.AppSecretColumns+` FROM app_secrets
		WHERE id > $1 ORDER BY id LIMIT $2`, after, store.DueLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("scan app secrets: %w", err)
	}
	return xs, nil
}

// LockApp implements store.AppTx with the dialect's row lock (SQLite's
// write transaction holds the database's write lock already).
func (t Tx) LockApp(ctx context.Context, id string) (store.App, error) {
	return t.q.getApp(ctx, t.conn, id, t.q.d.ForUpdate)
}

// GetApp implements store.AppTx.
func (t Tx) GetApp(ctx context.Context, id string) (store.App, error) {
	return t.q.getApp(ctx, t.conn, id, "")
}

// ListAppSecrets implements store.AppTx.
func (t Tx) ListAppSecrets(ctx context.Context, appID string) ([]store.AppSecret, error) {
	return t.q.listAppSecrets(ctx, t.conn, appID)
}

// UpdateApp implements store.AppTx.
func (t Tx) UpdateApp(ctx context.Context, a store.App, old int64) error {
	n, err := t.conn.Exec(ctx, `UPDATE apps SET name = $1, provider = $2, auth_method = $3, config = $4,
			secret_config = $5, origin = $6, updated_at = $7, revision = revision + 1
		WHERE id = $8 AND revision = $9`,
		a.Name, a.Provider, a.AuthMethod, a.Config, a.SecretConfig, a.Origin, t.q.d.Time(a.UpdatedAt), a.ID, old)
	if err := affected(n, t.q.d.Err(err), store.ErrConflict); err != nil {
		return fmt.Errorf("update app %s: %w", a.ID, err)
	}
	return nil
}

// InsertAppSecret implements store.AppTx.
func (t Tx) InsertAppSecret(ctx context.Context, x store.AppSecret) error {
	tm := t.q.d.Time
	_, err := t.conn.Exec(ctx, `INSERT INTO app_secrets (id, app_id, workspace_id, version, state, hint,
			fingerprint, secret, created_at, last_used_at, last_rejected_at, revoked_at, revision)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 1)`,
		x.ID, x.AppID, x.WorkspaceID, x.Version, x.State, x.Hint, x.Fingerprint, x.Secret, tm(x.CreatedAt),
		tm(x.LastUsedAt), tm(x.LastRejectedAt), tm(x.RevokedAt))
	if err != nil {
		return fmt.Errorf("insert app secret %s: %w", x.ID, t.q.d.Err(err))
	}
	return nil
}

// UpdateAppSecret implements store.AppTx. Use times only move forward
// (as in TouchAppSecret): a touch committed since the secret was read is
// never undone.
func (t Tx) UpdateAppSecret(ctx context.Context, x store.AppSecret, old int64) error {
	tm := t.q.d.Time
	n, err := t.conn.Exec(ctx, `UPDATE app_secrets SET version = $1, state = $2, hint = $3, fingerprint = $4,
			secret = $5, revoked_at = $6,
			last_used_at = CASE WHEN last_used_at >= $7 THEN last_used_at ELSE COALESCE($7, last_used_at) END,
			last_rejected_at = CASE WHEN last_rejected_at >= $8 THEN last_rejected_at ELSE COALESCE($8, last_rejected_at) END,
			revision = revision + 1
		WHERE id = $9 AND revision = $10`,
		x.Version, x.State, x.Hint, x.Fingerprint, x.Secret, tm(x.RevokedAt),
		tm(x.LastUsedAt), tm(x.LastRejectedAt), x.ID, old)
	if err := affected(n, t.q.d.Err(err), store.ErrConflict); err != nil {
		return fmt.Errorf("update app secret %s: %w", x.ID, err)
	}
	return nil
}
