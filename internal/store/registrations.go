package store

import (
	"context"
	"time"
)

// OAuthRegistration is an OAuth client Storm registered itself (RFC
// 7591 dynamic client registration) at an authorization server, for the
// OAuth-protected resources (remote MCP servers) of one workspace: every
// integration of the workspace whose resource names that server uses the
// one registration. The client secret and the registration access token
// are vault ciphertext bound to the row (vault.RegistrationAD).
type OAuthRegistration struct {
	ID          string // reg_…
	WorkspaceID string
	// Issuer is the authorization server's issuer identifier and
	// RedirectURI the redirect URI registered; with WorkspaceID they are
	// unique.
	Issuer      string
	RedirectURI string
	ClientID    string
	// AuthMethod is the token_endpoint_auth_method the server assigned
	// (none, client_secret_basic, client_secret_post).
	AuthMethod string
	// Secret is the sealed JSON of the client secret and the RFC 7592
	// registration access token (either may be empty).
	Secret    []byte
	CreatedAt time.Time
	// ExpiresAt is when the client secret expires; zero: never.
	ExpiresAt time.Time
}

// OAuthRegistrationColumns are the columns backends select for an
// OAuthRegistration, in the order Scanner.OAuthRegistration reads them.
const OAuthRegistrationColumns = `id, workspace_id, issuer, redirect_uri, client_id, auth_method, secret, created_at, expires_at`

// OAuthRegistration reads a row of OAuthRegistrationColumns.
func (s Scanner) OAuthRegistration(r Row) (OAuthRegistration, error) {
	var g OAuthRegistration
	err := r.Scan(&g.ID, &g.WorkspaceID, &g.Issuer, &g.RedirectURI, &g.ClientID, &g.AuthMethod, &g.Secret,
		s.Time(&g.CreatedAt), s.Time(&g.ExpiresAt))
	return g, err
}

// Registrations is the part of Store that keeps dynamic client
// registrations (migration 0007).
type Registrations interface {
	// CreateOAuthRegistration stores g; ErrConflict when its workspace
	// already has a registration for the issuer and redirect URI,
	// ErrNotFound for an unknown workspace.
	CreateOAuthRegistration(ctx context.Context, g OAuthRegistration) error
	// GetOAuthRegistration finds a workspace's registration at issuer for
	// redirectURI, or ErrNotFound.
	GetOAuthRegistration(ctx context.Context, workspaceID, issuer, redirectURI string) (OAuthRegistration, error)
	// DeleteOAuthRegistration removes a registration (the server forgot
	// the client); ErrNotFound when it is gone already.
	DeleteOAuthRegistration(ctx context.Context, id string) error
}
