// Package oauth1test runs an OAuth 1.0a provider (RFC 5849) in-process for
// tests: request-token, authorize and access-token endpoints and a
// protected resource that echoes what it verified. Signatures (HMAC-SHA1,
// HMAC-SHA256, RSA-SHA1, PLAINTEXT) are checked by recomputing the
// signature base string from the request as received, written from the
// RFC and independent of package oauth1; nonces are single-use per
// timestamp, client and token, and timestamps must fall in a window.
//
// It is a test peer: it keeps everything in memory and trusts its
// callers' Options.
package oauth1test
