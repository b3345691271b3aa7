// Package apps manages apps: OAuth client registrations (a client id or
// OAuth 1.0a consumer key with versioned client secrets) that many
// integrations of a workspace share instead of each holding a copy
// (shared/API.md "Apps"). It owns an app's flat config and how it is
// applied to an integration's, the rotation of client secrets (the newest
// first, the previous one as a fallback while the provider switches) and
// adopting integrations that hold an identical client. Clients Storm
// registers itself (RFC 7591, for remote MCP servers) are apps of origin
// "registered" (registered.go), including the ones migration 0012 moved
// from oauth_registrations (ConvertRegistrations).
//
// It seals every secret with the vault before it reaches the store and
// never puts one in an error, event, audit record or log line; a secret
// only ever leaves through Clients, to the token endpoint of the app's
// provider.
package apps
