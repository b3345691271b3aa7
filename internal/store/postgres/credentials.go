package postgres

import (
	"context"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"

	"github.com/stormcreds/storm/internal/store"
)

const credentialColumns = `id, integration_id, workspace_id, version, state, hint, fingerprint, secret,
	created_at, verified_at, expires_at, revoked_at, revision`

func scanCredential(r pgx.Row) (store.Credential, error) {
	var c store.Credential
	err := r.Scan(&c.ID, &c.IntegrationID, &c.WorkspaceID, &c.Version, &c.State, &c.Hint, &c.Fingerprint,
		&c.Secret, scanTime{&c.CreatedAt}, scanTime{&c.VerifiedAt}, scanTime{&c.ExpiresAt},
		scanTime{&c.RevokedAt}, &c.Revision)
	return c, err
}

func getCredential(ctx context.Context, q querier, id string) (store.Credential, error) {
	c, err := scanCredential(q.QueryRow(ctx, `SELECT `+credentialColumns+` FROM credentials WHERE id = $1`, id))
	if err != nil {
		return store.Credential{}, fmt.Errorf("get credential %s: %w", id, dbErr(err))
	}
	return c, nil
}

func listCredentials(ctx context.Context, q querier, integrationID string) ([]store.Credential, error) {
	rows, err := q.Query(ctx, `SELECT `+credentialColumns+` FROM credentials
		WHERE integration_id = $1 ORDER BY version`, integrationID)
	if err != nil {
		return nil, fmt.Errorf("list credentials of %s: %w", integrationID, err)
	}
	cs, err := collect(rows, scanCredential)
	if err != nil {
		return nil, fmt.Errorf("list credentials of %s: %w", integrationID, err)
	}
	return cs, nil
}

// GetCredential finds a credential version by id.
func (s *Store) GetCredential(ctx context.Context, id string) (store.Credential, error) {
	return getCredential(ctx, s.pool, id)
}

// ListCredentials returns an integration's versions ordered by Version;
// an unknown integration has none.
func (s *Store) ListCredentials(ctx context.Context, integrationID string) ([]store.Credential, error) {
	return listCredentials(ctx, s.pool, integrationID)
}

func insertCredential(ctx context.Context, tx pgx.Tx, c store.Credential) error {
	_, err := tx.Exec(ctx, `INSERT INTO credentials (id, integration_id, workspace_id, version, state,
			hint, fingerprint, secret, created_at, verified_at, expires_at, revoked_at, revision)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 1)`,
		c.ID, c.IntegrationID, c.WorkspaceID, c.Version, c.State, c.Hint, c.Fingerprint, c.Secret,
		dbTime(c.CreatedAt), dbTime(c.VerifiedAt), dbTime(c.ExpiresAt), dbTime(c.RevokedAt))
	if err != nil {
		return fmt.Errorf("insert credential %s: %w", c.ID, dbErr(err))
	}
	return nil
}

// updateCredential writes c over the row at revision old. Id, owners and
// creation time never change.
func updateCredential(ctx context.Context, tx pgx.Tx, c store.Credential, old int64) error {
	tag, err := tx.Exec(ctx, `UPDATE credentials SET version = $1, state = $2, hint = $3, fingerprint = $4,
			secret = $5, verified_at = $6, expires_at = $7, revoked_at = $8, revision = revision + 1
		WHERE id = $9 AND revision = $10`,
		c.Version, c.State, c.Hint, c.Fingerprint, c.Secret, dbTime(c.VerifiedAt), dbTime(c.ExpiresAt),
		dbTime(c.RevokedAt), c.ID, old)
	if err != nil {
		return fmt.Errorf("update credential %s: %w", c.ID, dbErr(err))
	}
	if err := affected(tag, store.ErrConflict); err != nil {
		return fmt.Errorf("update credential %s: %w", c.ID, err)
	}
	return nil
}

// Mutate locks the integration's row, loads it and its credentials,
// applies fn and stores the result in the same transaction. fn's error is
// returned unchanged and nothing is stored. fn must not call the store for
// the same integration: it would wait for the lock fn's caller holds.
func (s *Store) Mutate(ctx context.Context, integrationID string, fn func(*store.CredentialSet) error) (store.CredentialSet, error) {
	var out store.CredentialSet
	var fnErr error
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		in, err := lockIntegration(ctx, tx, integrationID)
		if err != nil {
			return err
		}
		creds, err := listCredentials(ctx, tx, integrationID)
		if err != nil {
			return err
		}
		revisions := make(map[string]int64, len(creds))
		for _, c := range creds {
			revisions[c.ID] = c.Revision
		}
		set := store.CredentialSet{Integration: in, Credentials: creds}
		if err := fn(&set); err != nil {
			fnErr = err
			return err
		}

		set.Integration.ID = in.ID
		if err := updateIntegration(ctx, tx, set.Integration, in.Revision); err != nil {
			return err
		}
		for _, c := range writeOrder(set.Credentials) {
			if c.ID == "" {
				c.ID = store.NewID("cred")
			}
			c.IntegrationID, c.WorkspaceID = in.ID, in.WorkspaceID
			if rev, ok := revisions[c.ID]; ok {
				err = updateCredential(ctx, tx, c, rev)
			} else {
				err = insertCredential(ctx, tx, c)
			}
			if err != nil {
				return err
			}
		}
		// Read back what was stored, so revisions and times are exact.
		if out.Integration, err = getIntegration(ctx, tx, in.ID); err != nil {
			return err
		}
		if out.Credentials, err = listCredentials(ctx, tx, in.ID); err != nil {
			return err
		}

		// Events last: their lock is held until commit and serialises
		// every event append in the database.
		if len(set.Events) > 0 {
			if err := lockLog(ctx, tx, eventsLockKey); err != nil {
				return err
			}
		}
		out.Events = make([]store.Event, len(set.Events))
		for i, e := range set.Events {
			if e.WorkspaceID == "" {
				e.WorkspaceID = in.WorkspaceID
			}
			if e.IntegrationID == "" {
				e.IntegrationID = in.ID
			}
			if out.Events[i], err = insertEvent(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	})
	if fnErr != nil {
		return store.CredentialSet{}, fnErr
	}
	if err != nil {
		return store.CredentialSet{}, fmt.Errorf("mutate integration %s: %w", integrationID, err)
	}
	return out, nil
}

// writeOrder returns creds with the versions that end up active last, so
// that a demotion is written before the promotion replacing it and the
// one-active index never sees two at once.
func writeOrder(creds []store.Credential) []store.Credential {
	out := append([]store.Credential(nil), creds...)
	sort.SliceStable(out, func(i, j int) bool {
		return out[i].State != store.StateActive && out[j].State == store.StateActive
	})
	return out
}

// UpdateCredential applies fn to the current credential and stores the
// result unless fn fails, whose error is returned unchanged. It holds the
// lock of the credential's integration, so it is serialised with Mutate.
func (s *Store) UpdateCredential(ctx context.Context, id string, fn func(store.Credential) (store.Credential, error)) (store.Credential, error) {
	var out store.Credential
	var fnErr error
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var integrationID string
		err := tx.QueryRow(ctx, `SELECT integration_id FROM credentials WHERE id = $1`, id).Scan(&integrationID)
		if err != nil {
			return fmt.Errorf("get credential %s: %w", id, dbErr(err))
		}
		if _, err := lockIntegration(ctx, tx, integrationID); err != nil {
			return err
		}
		// Load after locking: READ COMMITTED gives this statement a fresh
		// snapshot, so it sees the last committed write.
		old, err := getCredential(ctx, tx, id)
		if err != nil {
			return err
		}
		c, err := fn(old)
		if err != nil {
			fnErr = err
			return err
		}
		c.ID = old.ID
		if err := updateCredential(ctx, tx, c, old.Revision); err != nil {
			return err
		}
		out, err = getCredential(ctx, tx, id)
		return err
	})
	if fnErr != nil {
		return store.Credential{}, fnErr
	}
	if err != nil {
		return store.Credential{}, err
	}
	return out, nil
}
