// Package proxy owns Storm's authenticated forwarding: it joins a caller's
// path to an integration's base URL, applies a credential (falling back to
// the previous version on a 401), and streams the exchange through an
// egress guard that checks every address actually dialled.
//
// It never lets a request leave the base URL's origin or path prefix, never
// follows redirects, never forwards the caller's own credentials, and never
// puts a secret (or an upstream URL with its query) in an error or a log
// line. It knows nothing about storage, the catalog or API authentication.
package proxy
