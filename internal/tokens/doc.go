// Package tokens keeps OAuth 2.0 access tokens fresh: it refreshes them
// before they expire (in the background, with jitter) and on demand, with
// at most one refresh per credential at a time across all instances (an
// in-process flight plus a lease row in the database), commits every new
// token set (including a rotated refresh token) before anyone uses it, and
// turns provider failures into status: invalid_grant and friends need a
// person (reconnect_required), outages back off and keep the current token
// in use while it is valid.
//
// It never logs or records a token.
package tokens
