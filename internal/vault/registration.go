package vault

// LegacyRegistrationAD is where the secrets of a dynamic client
// registration stored before migration 0012 (table oauth_registrations,
// row id reg_…) are bound: they wait in their app until
// apps.ConvertRegistrations re-seals them as the app's.
func LegacyRegistrationAD(workspaceID, registrationID string) AD {
	return AD{Workspace: workspaceID, Credential: registrationID, Field: "oauth_registration"}
}
