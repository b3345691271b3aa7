package sqldb

import (
	"context"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

// Conn runs query text written with $n placeholders, on a backend's pool
// or inside one of its transactions.
type Conn interface {
	Query(ctx context.Context, q string, args ...any) (Rows, error)
	QueryRow(ctx context.Context, q string, args ...any) store.Row
	// Exec runs a statement and returns how many rows it changed.
	Exec(ctx context.Context, q string, args ...any) (int64, error)
}

// Rows is the result of Conn.Query (pgx.Rows fits as it is).
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Dialect is what the shared queries need to know of a database.
type Dialect struct {
	// Scan reads stored times (store.Scanner).
	Scan store.Scanner
	// Time returns the argument that stores t: the zero time as NULL.
	Time func(t time.Time) any
	// Err translates a driver error into the store's sentinels,
	// keeping it in the chain.
	Err func(error) error
	// InsertOrder is the column that orders a table's rows as inserted
	// (rowid in SQLite, a seq column in PostgreSQL).
	InsertOrder string
	// ForUpdate, appended to a SELECT in a write transaction, locks the
	// rows read until it ends (" FOR UPDATE" in PostgreSQL; nothing in
	// SQLite, whose write transaction holds the database's write lock).
	ForUpdate string
	// SkipLocked, appended to the SELECT of a purge, skips rows other
	// transactions hold (" FOR UPDATE SKIP LOCKED" in PostgreSQL;
	// nothing in SQLite).
	SkipLocked string
}

// Backend is what a store gives the shared queries.
type Backend struct {
	Dialect
	// Read runs reads outside a transaction.
	Read Conn
	// Exec runs one write statement in a transaction of its own and
	// returns how many rows it changed.
	Exec func(ctx context.Context, q string, args ...any) (int64, error)
	// Write runs fn in one write transaction and commits unless fn
	// fails; fn's error is returned as is.
	Write func(ctx context.Context, fn func(Conn) error) error
	// WriteTx is Write with the transaction as the backend's StoreTx.
	WriteTx func(ctx context.Context, fn func(StoreTx) error) error
}

// StoreTx is a backend's write transaction as the store's Run functions
// take it: a Tx of these queries, with the backend's LockCredential and
// AppendEvents.
type StoreTx interface {
	store.Tx
	store.AppTx
	store.WebhookTx
}

// Queries runs the shared queries of one backend. Its methods implement
// part of store.Store; a backend embeds it and adds the rest. It is safe
// for concurrent use if its Backend is. The zero value is not usable:
// call New.
type Queries struct {
	d       Dialect
	read    Conn
	exec    func(ctx context.Context, q string, args ...any) (int64, error)
	write   func(ctx context.Context, fn func(Conn) error) error
	writeTx func(ctx context.Context, fn func(StoreTx) error) error

	listWorkspacesSQL, listIntegrationsSQL string
}

// New returns the shared queries of b, whose fields must all be set.
func New(b Backend) *Queries {
	return &Queries{
		d: b.Dialect, read: b.Read, exec: b.Exec, write: b.Write, writeTx: b.WriteTx,
		listWorkspacesSQL: `SELECT ` + store.WorkspaceColumns + ` FROM workspaces ORDER BY ` + b.InsertOrder,
		listIntegrationsSQL: `SELECT ` + store.IntegrationColumns + ` FROM integrations
		WHERE $1 = '' OR workspace_id = $1 ORDER BY ` + b.InsertOrder,
	}
}

// QueryAll runs q on c and scans every row it returns with scan. The
// backends use it too, for the queries they keep.
func QueryAll[T any](ctx context.Context, c Conn, scan func(store.Row) (T, error), q string, args ...any) ([]T, error) {
	rows, err := c.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// affected returns none (ErrNotFound, or ErrConflict for a
// compare-and-swap) when a statement touched no row.
func affected(n int64, err error, none error) error {
	if err == nil && n == 0 {
		return none
	}
	return err
}
