// Package serviceaccount validates uploaded service-account credentials
// (Google JSON keys, PEM keys for RFC 7523 JWT bearer, OAuth client
// credentials, client certificates for mTLS, AWS access keys, GitHub App
// private keys) with strict parsers, mints short-lived tokens from them
// (including GitHub App installation tokens), and applies them to
// requests (TLS client certificates, AWS SigV4 signatures).
//
// Private keys and secrets never leave a Material except on the request
// that needs them; errors name fields and problems, never values.
package serviceaccount
