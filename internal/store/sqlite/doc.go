// Package sqlite implements store.Store in a single SQLite file (pure Go
// driver, WAL), the default backend for one Storm instance.
//
// It owns the file's schema and migrations, its SQL and its connections;
// the algorithms shared with other backends run in package store over its
// store.Tx. It never sees a plaintext secret: secrets arrive as vault
// ciphertext and are stored as opaque bytes.
package sqlite
