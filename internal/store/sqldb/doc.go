// Package sqldb holds the SQL the SQLite and PostgreSQL stores share: the
// query text, written once with PostgreSQL's $n placeholders (the SQLite
// store rewrites them as ?n when it prepares a statement), and the code
// that runs it and scans its rows. Each backend embeds Queries and keeps
// what differs: connections and transactions, locking, upserts, the audit
// append, migrations.
//
// It never opens connections or starts transactions itself: a backend
// hands it a Conn and a Dialect.
package sqldb
