// Package outcome says why a call to a provider (or any outside server)
// failed, as a Reason with a fixed text that is safe to show to anyone
// who can read the integration: rejected, unreachable, blocked,
// unexpected or not checked (shared/API.md "Verification outcome").
//
// It classifies typed errors (net.DNSError, net.OpError, TLS and x509
// errors, deadlines, the egress guard's refusal), never their text. The
// raw error, which may hold DNS answers and the internal resolver's
// address, belongs in the server log only: nothing here returns it.
package outcome
