// Package oauth is Storm's OAuth 2.0 client: authorization URLs with PKCE,
// code exchange, refresh, RFC 7009 revocation and RFC 8414 / OIDC
// discovery, on top of golang.org/x/oauth2, with provider quirks from the
// catalog applied explicitly (auth style, scope separator, missing
// expires_in, refresh tokens that rotate or are left out).
//
// Failures are typed (*Error: status, RFC 6749 code, temporary or final)
// so the refresh policy decides on facts, not strings. Token sets redact
// themselves; nothing here logs a token.
package oauth
