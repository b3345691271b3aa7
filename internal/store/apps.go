package store

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// App origins: how the client registration came to be.
const (
	// AppOriginManual: a person registered the client at the provider
	// and entered it.
	AppOriginManual = "manual"
	// AppOriginRegistered: Storm registered it itself (RFC 7591 dynamic
	// client registration, as remote MCP servers offer).
	AppOriginRegistered = "registered"
)

// App is one OAuth client registration (a client id, or an OAuth 1.0a
// consumer key, with versioned secrets) that the integrations of its
// workspace reference instead of holding a client of their own.
type App struct {
	ID          string
	WorkspaceID string
	Name        string
	Provider    string
	AuthMethod  string // oauth2 or oauth1
	// Config is the non-secret configuration as a flat JSON object:
	// client_id (consumer_key), scopes, and the endpoints of a custom
	// provider. Secrets live in AppSecret rows and SecretConfig.
	Config []byte
	// SecretConfig is the vault ciphertext of secrets that are not
	// client secrets (an RFC 7592 registration access token); nil when
	// there are none.
	SecretConfig []byte
	Origin       string
	// Issuer and RedirectURI are where Storm registered a client itself
	// (origin registered): the authorization server's issuer and the
	// redirect URI registered. With the workspace they are unique (one
	// registration shared by the workspace's integrations of that
	// server); both are empty for other apps.
	Issuer      string
	RedirectURI string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// Revision increases with every update (compare-and-swap); callers
	// must not set it.
	Revision int64
	// Integrations counts the integrations that reference the app. It is
	// computed on every read and never written.
	Integrations int
}

// AppSecret is one version of an app's client secret (consumer secret).
// At most one is active (the newest, which refreshes use first); an
// older unrevoked one is previous (the fallback while the provider
// switches).
type AppSecret struct {
	ID          string
	AppID       string
	WorkspaceID string
	Version     int // 1, 2, … per app
	State       string
	Hint        string // masked, at most 4 characters of the secret
	Fingerprint string
	// Secret is vault ciphertext bound to this row; emptied on revocation.
	Secret         []byte
	CreatedAt      time.Time
	LastUsedAt     time.Time // zero: never; the provider accepted it then
	LastRejectedAt time.Time // zero: never; the provider answered invalid_client
	RevokedAt      time.Time // zero: not revoked
	Revision       int64
}

// AppPage selects a page of apps: those of WorkspaceID (every workspace
// when empty) whose id sorts after After, ordered by id, at most Limit
// (DefaultPageLimit when not positive).
type AppPage struct {
	WorkspaceID string
	After       string
	Limit       int
}

// AppChange is what an UpdateApp function edits: the locked app and its
// secrets (ordered by Version; append new ones without an id or with a
// new one), plus events appended in the same transaction.
type AppChange struct {
	App     App
	Secrets []AppSecret
	Events  []Event
}

// Columns that backends select for apps and their secrets. AppColumns
// ends with the integrations count, a subquery on integrations.app_id.
const (
	AppColumns = `id, workspace_id, name, provider, auth_method, config, secret_config, origin,
	COALESCE(issuer, ''), COALESCE(redirect_uri, ''), created_at, updated_at, revision,
	(SELECT count(*) FROM integrations i WHERE i.app_id = apps.id)`
	AppSecretColumns = `id, app_id, workspace_id, version, state, hint, fingerprint, secret, created_at,
	last_used_at, last_rejected_at, revoked_at, revision`
)

// App reads a row of AppColumns.
func (s Scanner) App(r Row) (App, error) {
	var a App
	var n int64
	err := r.Scan(&a.ID, &a.WorkspaceID, &a.Name, &a.Provider, &a.AuthMethod, &a.Config, &a.SecretConfig,
		&a.Origin, &a.Issuer, &a.RedirectURI, s.Time(&a.CreatedAt), s.Time(&a.UpdatedAt), &a.Revision, &n)
	a.Integrations = int(n)
	return a, err
}

// AppSecret reads a row of AppSecretColumns.
func (s Scanner) AppSecret(r Row) (AppSecret, error) {
	var x AppSecret
	err := r.Scan(&x.ID, &x.AppID, &x.WorkspaceID, &x.Version, &x.State, &x.Hint, &x.Fingerprint, &x.Secret,
		s.Time(&x.CreatedAt), s.Time(&x.LastUsedAt), s.Time(&x.LastRejectedAt), s.Time(&x.RevokedAt), &x.Revision)
	return x, err
}

// AppPageLimit is the limit ListApps uses: p.Limit, or DefaultPageLimit
// when it is not positive.
func AppPageLimit(p AppPage) int { return DueLimit(p.Limit) }

// AppTx is one write transaction of a backend, as RunUpdateApp uses it;
// its errors are already translated into the sentinels.
type AppTx interface {
	// LockApp loads an app and holds it against every other UpdateApp
	// and DeleteApp of it until the transaction ends.
	LockApp(ctx context.Context, id string) (App, error)
	GetApp(ctx context.Context, id string) (App, error)
	ListAppSecrets(ctx context.Context, appID string) ([]AppSecret, error)
	// UpdateApp writes a's mutable fields over the row at revision old,
	// else returns ErrConflict.
	UpdateApp(ctx context.Context, a App, old int64) error
	// InsertAppSecret inserts x with revision 1.
	InsertAppSecret(ctx context.Context, x AppSecret) error
	// UpdateAppSecret writes x over the row at revision old, else
	// returns ErrConflict.
	UpdateAppSecret(ctx context.Context, x AppSecret, old int64) error
	// AppendEvents is Tx.AppendEvents.
	AppendEvents(ctx context.Context, es []Event) ([]Event, error)
}

// AppInTx runs fn in one write transaction of a backend and commits
// unless fn fails. fn's error is returned as is.
type AppInTx func(ctx context.Context, fn func(AppTx) error) error

// RunUpdateApp is Store.UpdateApp for every backend: in one transaction
// of inTx it locks the app, loads its secrets, applies fn, and stores the
// app, every secret (new ones inserted) and the change's Events
// (workspace defaulting to the app's). It returns what was stored. fn's
// error is returned unchanged and nothing is stored.
func RunUpdateApp(ctx context.Context, inTx AppInTx, id string, fn func(*AppChange) error) (AppChange, error) {
	var out AppChange
	var fnErr error
	err := inTx(ctx, func(tx AppTx) error {
		old, err := tx.LockApp(ctx, id)
		if err != nil {
			return err
		}
		secrets, err := tx.ListAppSecrets(ctx, id)
		if err != nil {
			return err
		}
		revisions := make(map[string]int64, len(secrets))
		for _, x := range secrets {
			revisions[x.ID] = x.Revision
		}
		ch := AppChange{App: old, Secrets: secrets}
		if err := fn(&ch); err != nil {
			fnErr = err
			return err
		}
		a := ch.App
		a.ID, a.WorkspaceID, a.CreatedAt = old.ID, old.WorkspaceID, old.CreatedAt
		if err := tx.UpdateApp(ctx, a, old.Revision); err != nil {
			return err
		}
		// Demotions before the promotion that replaces them, so the
		// one-active index never sees two.
		ordered := append([]AppSecret(nil), ch.Secrets...)
		sort.SliceStable(ordered, func(i, j int) bool {
			return ordered[i].State != StateActive && ordered[j].State == StateActive
		})
		for _, x := range ordered {
			if x.ID == "" {
				x.ID = NewID("asec")
			}
			x.AppID, x.WorkspaceID = old.ID, old.WorkspaceID
			if rev, ok := revisions[x.ID]; ok {
				err = tx.UpdateAppSecret(ctx, x, rev)
			} else {
				err = tx.InsertAppSecret(ctx, x)
			}
			if err != nil {
				return err
			}
		}
		if out.App, err = tx.GetApp(ctx, id); err != nil {
			return err
		}
		if out.Secrets, err = tx.ListAppSecrets(ctx, id); err != nil {
			return err
		}
		if len(ch.Events) == 0 {
			return nil
		}
		// Events last: a backend may hold a log lock until commit.
		events := make([]Event, len(ch.Events))
		for i, e := range ch.Events {
			if e.WorkspaceID == "" {
				e.WorkspaceID = old.WorkspaceID
			}
			events[i] = e
		}
		out.Events, err = tx.AppendEvents(ctx, events)
		return err
	})
	if fnErr != nil {
		return AppChange{}, fnErr
	}
	if err != nil {
		return AppChange{}, fmt.Errorf("update app %s: %w", id, err)
	}
	return out, nil
}
