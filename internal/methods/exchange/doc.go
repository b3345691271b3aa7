// Package exchange swaps a saved credential (an API key, or a username
// and password) for a short-lived session token, as declared by an
// integration's "exchange" block: the request (method, relative path,
// JSON body or form with {{api_key}}, {{username}}, {{password}} in
// values only), RFC 6901 pointers to the token and its lifetime, and how
// requests carry the token. An Exchanger is a token-engine Source, so
// session tokens are renewed before expiry like OAuth tokens.
//
// The credential only ever goes to the exchange endpoint: never into a
// URL path or host, an error, a log line or the applied token.
package exchange
