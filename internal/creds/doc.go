// Package creds manages integrations and their credential versions: save
// with verify-before-activate, rotation with a fallback overlap, revoke,
// verify, and handing a credential to a sync (/access, /proxy).
//
// It is the one place that decides status changes and events, so the API
// and the web UI behave the same. It seals secrets with the vault before
// they reach the store and never puts one in an error, event or audit
// record.
package creds
