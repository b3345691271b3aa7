// Package events records what happened (the append-only event log that
// drives webhooks) and who did it (the audit log), including every
// answered secret read, committed before the secret is handed out.
//
// Nothing recorded here may hold a secret: callers pass identifiers,
// hints and fingerprints only.
package events
