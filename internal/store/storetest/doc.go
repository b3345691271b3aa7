// Package storetest is the one conformance suite every store.Store backend
// must pass, including concurrency checks meant for go test -race.
//
// It owns the contract's executable form; backend-specific behaviour
// belongs in the backend's own tests. It is imported only by tests and
// never by production code.
package storetest
