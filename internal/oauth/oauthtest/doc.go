// Package oauthtest runs a real, in-process OAuth 2.0 authorization server for
// tests, in the spirit of net/http/httptest. It is built on github.com/ory/fosite
// (authorization code + PKCE, refresh tokens with rotation and reuse detection,
// client credentials, RFC 7523 JWT bearer, RFC 7009 revocation, introspection,
// RFC 8414 metadata, RFC 9207 iss) and adds a protected /userinfo resource,
// request counters and fault injection so callers can test their OAuth clients
// against realistic provider behaviour.
//
// DCRServer and ProtectedResource are the peers for OAuth-protected
// resources such as remote MCP servers: an authorization server whose issuer
// has a path, with RFC 8414 metadata, RFC 7591 dynamic client registration
// and RFC 8707 resource indicators, in front of an RFC 9728 resource that
// checks tokens and answers 401 with resource_metadata.
package oauthtest
