package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/stormcreds/storm/internal/store"
)

// CreateOAuthRegistration stores a dynamic client registration.
func (s *Store) CreateOAuthRegistration(ctx context.Context, g store.OAuthRegistration) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO oauth_registrations (`+store.OAuthRegistrationColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			g.ID, g.WorkspaceID, g.Issuer, g.RedirectURI, g.ClientID, g.AuthMethod, g.Secret, dbTime(g.CreatedAt), dbTime(g.ExpiresAt))
		return dbErr(err)
	})
	if err != nil {
		return fmt.Errorf("create oauth registration %s: %w", g.ID, err)
	}
	return nil
}

// GetOAuthRegistration finds a workspace's registration at an issuer.
func (s *Store) GetOAuthRegistration(ctx context.Context, workspaceID, issuer, redirectURI string) (store.OAuthRegistration, error) {
	g, err := scan.OAuthRegistration(s.ro.QueryRowContext(ctx, `SELECT `+store.OAuthRegistrationColumns+`
		FROM oauth_registrations WHERE workspace_id = ? AND issuer = ? AND redirect_uri = ?`, workspaceID, issuer, redirectURI))
	if err != nil {
		return store.OAuthRegistration{}, fmt.Errorf("get oauth registration: %w", dbErr(err))
	}
	return g, nil
}

// DeleteOAuthRegistration removes a registration.
func (s *Store) DeleteOAuthRegistration(ctx context.Context, id string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM oauth_registrations WHERE id = ?`, id)
		if err != nil {
			return err
		}
		return affected(res, store.ErrNotFound)
	})
	if err != nil {
		return fmt.Errorf("delete oauth registration %s: %w", id, err)
	}
	return nil
}
