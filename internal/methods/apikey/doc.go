// Package apikey validates pasted API keys and applies them to requests
// as the provider expects: a header with a prefix, a query parameter, or
// HTTP basic auth, plus any extra headers the provider needs.
//
// A Key redacts itself; only Apply and Access reveal the key, on the
// request that must carry it.
package apikey
