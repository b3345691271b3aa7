package vault

import "github.com/stormcreds/storm/internal/store"

// RegistrationAD binds a dynamic client registration's secrets to its
// row: workspace and registration id.
func RegistrationAD(g store.OAuthRegistration) AD {
	return AD{Workspace: g.WorkspaceID, Credential: g.ID, Field: "oauth_registration"}
}
