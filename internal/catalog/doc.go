// Package catalog holds the embedded provider definitions: where each
// service's API lives, how an API key, OAuth 2.0 app or service account is
// applied to it, and which cheap request verifies a credential.
//
// The catalog is validated when it is loaded, so a bad entry stops the
// server at start rather than failing a user later. It never holds secrets.
package catalog
