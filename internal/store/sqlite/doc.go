// Package sqlite implements store.Store in a single SQLite file (pure Go
// driver, WAL), the default backend for one Storm instance.
//
// It owns the file's schema and migrations. It never sees a plaintext
// secret: secrets arrive as vault ciphertext and are stored as opaque bytes.
package sqlite
