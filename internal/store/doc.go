// Package store defines Storm's records, the Store interface every backend
// implements, and the sentinel errors backends translate into.
//
// It also holds the logic backends share, so each algorithm exists once:
// the read-modify-write flows behind Mutate, UpdateIntegration and
// UpdateCredential (RunMutate and its siblings, over a backend's Tx), the
// columns and row scanning of every record (Scanner), and log paging
// (PageClause). The SQL both backends share, with the code that runs it,
// is in sqldb; backends keep only what is theirs: their own SQL text,
// placeholders, error translation, locking and connections.
//
// A Store only ever sees ciphertext for secrets: encryption happens in the
// vault before anything reaches it. Backends live in sub-packages (sqlite,
// postgres) and all pass the one conformance suite in storetest.
package store
