// Package servertest starts a real Storm server (real SQLite or
// PostgreSQL store, real vault, real catalog) behind httptest for
// end-to-end tests, plus a small fake upstream API that only checks keys.
//
// It is test support: nothing in the server imports it.
package servertest
