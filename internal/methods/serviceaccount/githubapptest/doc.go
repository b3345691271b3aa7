// Package githubapptest runs a GitHub-like REST API for GitHub Apps in
// tests: it holds registered apps' public keys, verifies app JWTs as
// GitHub does (RS256 only, iss, iat with clock skew, exp at most 10
// minutes ahead), mints installation tokens at
// POST /app/installations/{id}/access_tokens (1 h by default, or the
// lifetime a test chooses), counts mints and serves one resource that
// accepts only live installation tokens. A prefix such as /api/v3 makes
// it look like GitHub Enterprise Server.
//
// It is a test peer, written from GitHub's documentation and independent
// of the minter it tests; it keeps everything in memory.
package githubapptest
