// Package postgres implements store.Store in PostgreSQL, the backend for
// several Storm instances sharing one database.
//
// It owns the schema and its migrations, its SQL and its connections, and
// serialises changes to an integration with row locks so instances never
// lose each other's updates; the algorithms shared with other backends
// run in package store over its store.Tx. It never sees a plaintext
// secret: secrets arrive as vault ciphertext and are stored as opaque
// bytes.
package postgres
