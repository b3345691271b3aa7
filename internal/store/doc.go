// Package store defines Storm's records, the Store interface every backend
// implements, and the sentinel errors backends translate into.
//
// A Store only ever sees ciphertext for secrets: encryption happens in the
// vault before anything reaches it. Backends live in sub-packages (sqlite,
// postgres) and all pass the one conformance suite in storetest.
package store
