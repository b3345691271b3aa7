package postgres

import (
	"context"
	"fmt"

	"github.com/stormcreds/storm/internal/store"
)

// CreateOAuthRegistration stores a dynamic client registration.
func (s *Store) CreateOAuthRegistration(ctx context.Context, g store.OAuthRegistration) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO oauth_registrations (`+store.OAuthRegistrationColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		g.ID, g.WorkspaceID, g.Issuer, g.RedirectURI, g.ClientID, g.AuthMethod, g.Secret, dbTime(g.CreatedAt), dbTime(g.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create oauth registration %s: %w", g.ID, dbErr(err))
	}
	return nil
}

// GetOAuthRegistration finds a workspace's registration at an issuer.
func (s *Store) GetOAuthRegistration(ctx context.Context, workspaceID, issuer, redirectURI string) (store.OAuthRegistration, error) {
	g, err := scan.OAuthRegistration(s.pool.QueryRow(ctx, `SELECT `+store.OAuthRegistrationColumns+`
		FROM oauth_registrations WHERE workspace_id = $1 AND issuer = $2 AND redirect_uri = $3`, workspaceID, issuer, redirectURI))
	if err != nil {
		return store.OAuthRegistration{}, fmt.Errorf("get oauth registration: %w", dbErr(err))
	}
	return g, nil
}

// DeleteOAuthRegistration removes a registration.
func (s *Store) DeleteOAuthRegistration(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM oauth_registrations WHERE id = $1`, id)
	if err == nil {
		err = affected(tag, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete oauth registration %s: %w", id, dbErr(err))
	}
	return nil
}
