// Package keys manages the vault's data keys across a cluster: rotating
// the data key on request (and after the vault's automatic rotation),
// re-wrapping every stored ciphertext under the active term with a
// resumable, cluster-wide job, polling the keyring so every instance
// seals under the newest term, and reporting key status.
//
// The re-wrap job runs on one instance at a time (a store lease renewed
// while it runs) and checkpoints its progress (target term, cursor,
// counts) in the store's jobs table, so after a crash, SIGKILL included,
// whichever instance next takes the lease resumes from the last
// checkpoint. Each row is re-sealed with a compare-and-swap
// (Store.UpdateCredential, Store.UpdateIntegration) and skipped when
// already under the target term, so running it again changes nothing.
// Every instance records the term it seals under at each poll (a
// heartbeat in the store's instances table); the job's last sweep starts
// once every live instance reports the target term, or after Settle.
package keys
