// Package server assembles a running Storm from its configuration: data
// directory, store, key-encryption key, vault, catalog, proxy and API, and
// the first-start bootstrap (default workspace, admin token).
//
// It holds wiring only, so `storm serve` and the end-to-end tests start
// exactly the same server. It never writes a secret anywhere but the
// admin token file (mode 0600).
package server
