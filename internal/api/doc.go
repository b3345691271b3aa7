// Package api serves Storm's REST API (shared/API.md): authentication by
// hashed API tokens, role and workspace checks, JSON in and problem+json
// out, and the /access and /proxy endpoints sync workers use.
//
// Handlers validate and authorise; the credential lifecycle itself lives
// in package creds. No handler writes a secret to a response except
// /access, or to a log.
package api
