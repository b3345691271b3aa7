// Package sqldb holds the SQL the SQLite and PostgreSQL stores share: the
// query text, written once with PostgreSQL's $n placeholders (the SQLite
// store rewrites them as ?n when it prepares a statement), the code that
// runs it and scans its rows, and the read-modify-write updates run in a
// backend's transaction. Each backend embeds Queries and keeps what
// differs: connections and transactions, statements with RETURNING or
// the database's clock, LockCredential, the event and audit appends,
// migrations.
//
// It never opens connections or starts transactions itself: a backend
// hands it a Backend, its Dialect, read Conn and write transactions.
package sqldb
