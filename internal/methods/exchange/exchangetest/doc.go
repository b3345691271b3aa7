// Package exchangetest runs a session-token API in tests: exchange
// endpoints that check an API key (or a username and password) sent as
// JSON, a form, a query parameter or a header and answer a session token
// that expires in seconds, and a protected resource that accepts only
// live session tokens. It counts exchanges, refusals and resource calls,
// and can fail or end every session on demand.
//
// It is a test peer: it keeps everything in memory.
package exchangetest
