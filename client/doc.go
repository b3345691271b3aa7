// Package client is the Go client for the Storm credentials HTTP API
// (shared/API.md): typed requests and responses, RFC 9457 problem details
// as *Error, and a Proxy call that sends a request through an integration.
//
// It owns transport only: it never stores, caches or logs a secret, and
// types that carry one (Access, Token, Webhook) redact themselves when
// formatted or logged, while still encoding to JSON normally when a caller
// marshals them on purpose.
package client
