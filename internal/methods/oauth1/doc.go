// Package oauth1 signs requests with OAuth 1.0a (RFC 5849): HMAC-SHA1,
// HMAC-SHA256, RSA-SHA1 and PLAINTEXT, with a realm, a fresh nonce and
// timestamp per request, and every query and form-body parameter signed
// as §3.4.1.3 says (repeated names, empty values and percent-encoded
// parameters included). It also runs the three-legged flow (request
// token, authorize URL, access token) over a caller's *http.Client.
// NetSuite token-based authentication is a Signer with HMAC-SHA256, the
// account's realm (NetSuiteRealm) and tokens issued out of band.
//
// Written from the RFC, not from another library: two common Go
// libraries sign only the first value of a repeated parameter name.
// Secrets never appear in errors; Config and Credentials redact
// themselves.
package oauth1
