package vault

import "github.com/stormcreds/storm/internal/store"

// AppSecretAD is where an app's client secret version is bound: its
// workspace, app and version id. The "app:" prefix keeps it apart from
// every integration's place (integration ids start with "int_").
func AppSecretAD(x store.AppSecret) AD {
	return AD{Workspace: x.WorkspaceID, Integration: "app:" + x.AppID, Credential: x.ID, Field: "client_secret"}
}

// AppConfigAD is where an app's other secrets (an RFC 7592 registration
// access token) are bound.
func AppConfigAD(a store.App) AD {
	return AD{Workspace: a.WorkspaceID, Integration: "app:" + a.ID, Field: "config"}
}
