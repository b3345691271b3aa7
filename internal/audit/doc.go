// Package audit owns the hash chain of the audit log: how an entry's hash
// is computed from its fields and the hash before it (Hash, Link), and how
// a log read in order is checked (Verifier). Both stores chain entries with
// it when they append, and the API, the CLI and offline export checks
// verify with it, so there is one definition of a valid chain.
//
// It never sees a secret: audit entries hold none. It does no I/O; callers
// feed it entries page by page, so memory stays bounded however long the
// log is.
package audit
