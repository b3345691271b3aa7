// Package events records what happened (the append-only event log that
// drives webhooks) and who did it (the audit log), including per-minute
// aggregates of secret reads.
//
// Nothing recorded here may hold a secret: callers pass identifiers,
// hints and fingerprints only.
package events
