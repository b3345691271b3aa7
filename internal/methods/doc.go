// Package methods holds what every auth method shares: the verification
// request that proves a credential works. Each method (apikey, oauth1,
// serviceaccount, exchange) lives in a sub-package that validates input
// and applies the credential to a request. Test peers of the providers
// live beside them (oauth1test, serviceaccount/githubapptest,
// exchangetest).
//
// Verification results never contain the secret, even when a provider
// echoes it back in another form (secret.Scrub), nor what the network
// said: their reason and fixed text come from internal/outcome, the raw
// cause is kept for the server log only.
package methods
