package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a store.Store in one SQLite file. It is safe for concurrent use
// by many goroutines; several processes may share the file, each write
// waiting up to five seconds for the others. The zero value is not usable:
// call Open.
type Store struct {
	// queries are the queries shared with the PostgreSQL store; their
	// methods are the Store's too.
	*queries
	// rw holds a single connection that every write goes through, so
	// writers in this process queue in Go instead of spinning on SQLite's
	// busy handler. Its transactions are BEGIN IMMEDIATE (_txlock), taking
	// the write lock up front so they never fail upgrading a read lock.
	rw *sql.DB
	// rwStmts are the statements write transactions run, prepared on rw.
	rwStmts stmtCache
	// ro serves reads outside transactions; WAL lets them run alongside
	// the writer. It is query_only so a mistaken write fails loudly.
	ro *pool
	// auditStmts are the audit append's statements, prepared once on rw:
	// every fold of read records commits one, and parsing SQL was most of
	// such a small transaction's cost.
	auditStmts auditStmts
}

var _ store.Store = (*Store)(nil)

// queries names sqldb.Queries so that embedding it adds no exported field.
type queries = sqldb.Queries

// dialect is what the shared queries need to know of SQLite.
var dialect = sqldb.Dialect{
	Scan:        scan,
	Time:        func(t time.Time) any { return dbTime(t) },
	Err:         dbErr,
	InsertOrder: "rowid",
}

const pragmas = "_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)&_txlock=immediate"

// Open opens the database file at path, creating it with mode 0600 when it
// does not exist, and applies any pending migrations.
func Open(ctx context.Context, path string) (*Store, error) {
	// Create the file ourselves: SQLite would use 0644 less the umask, and
	// the database holds wrapped keys and ciphertext.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}

	// The DSN is an SQLite URI: escape what would end the path early.
	dsn := "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path) + "?" + pragmas
	rw, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	rw.SetMaxOpenConns(1)

	ro, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		rw.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	n := max(4, runtime.NumCPU())
	ro.SetMaxOpenConns(n)
	ro.SetMaxIdleConns(n)

	s := &Store{rw: rw, ro: newPool(ro)}
	s.rwStmts.db = rw
	s.queries = sqldb.New(sqldb.Backend{
		Dialect: dialect,
		Read:    conn{s.ro},
		Exec:    s.exec,
		Write: func(ctx context.Context, fn func(sqldb.Conn) error) error {
			return s.writePrepared(ctx, func(tx *prepTx) error { return fn(conn{tx}) })
		},
		WriteTx: func(ctx context.Context, fn func(sqldb.StoreTx) error) error {
			return s.writePrepared(ctx, func(tx *prepTx) error { return fn(s.txn(tx)) })
		},
	})
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return s, nil
}

// afterMigration holds Go steps of a migration that SQL cannot do, run in
// the migration's transaction right after its SQL.
var afterMigration = map[string]func(context.Context, *sql.Tx) error{
	"0011_audit_chain": chainExisting,
}

// migrate applies the embedded migrations in name order. Each runs in its
// own immediate transaction that first checks whether another process
// applied it already, so processes starting together are safe.
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.rw.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    TEXT PRIMARY KEY,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		body, err := migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
		version := strings.TrimSuffix(strings.TrimPrefix(name, "migrations/"), ".sql")
		err = s.write(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			if hook := afterMigration[version]; hook != nil {
				if err := hook(ctx, tx); err != nil {
					return err
				}
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
				version, time.Now().UnixNano())
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %s: %w", version, err)
		}
	}
	return nil
}

// Ping reports whether the database answers, for readiness checks.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.ro.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite: %w", err)
	}
	if err := s.rw.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite: %w", err)
	}
	return nil
}

// Close closes the database. Operations in flight may fail.
func (s *Store) Close() error {
	var errs []error
	s.auditStmts.mu.Lock()
	defer s.auditStmts.mu.Unlock()
	for _, st := range []*sql.Stmt{s.auditStmts.head, s.auditStmts.insert} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(append(errs, s.rwStmts.close(), s.ro.Close(), s.rw.Close())...)
}

// write runs fn in a short immediate transaction and commits unless fn
// fails. fn's error is returned as is so callers can pass theirs through.
func (s *Store) write(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.rw.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", dbErr(err))
	}
	return nil
}

// writePrepared is write with a transaction that runs its queries as
// prepared statements. Afterwards it prepares the texts the transaction
// ran unprepared, which it could not while holding the one write
// connection.
func (s *Store) writePrepared(ctx context.Context, fn func(*prepTx) error) error {
	var ptx *prepTx
	err := s.write(ctx, func(tx *sql.Tx) error {
		ptx = &prepTx{Tx: tx, stmts: &s.rwStmts}
		return fn(ptx)
	})
	if ptx != nil {
		for _, q := range ptx.missing {
			s.rwStmts.get(ctx, q)
		}
	}
	return err
}

// exec runs one write statement in a transaction of its own (sqldb.Exec).
func (s *Store) exec(ctx context.Context, q string, args ...any) (int64, error) {
	var n int64
	err := s.writePrepared(ctx, func(tx *prepTx) error {
		var err error
		n, err = conn{tx}.Exec(ctx, q, args...)
		return err
	})
	return n, err
}

// txn is a write transaction as sqldb.StoreTx: the shared SQL, and this
// backend's LockCredential and event append. It is immediate, so it
// already holds the database's write lock and its locks are plain reads.
type txn struct {
	sqldb.Tx
	tx *prepTx
}

// txn returns tx as a txn.
func (s *Store) txn(tx *prepTx) txn { return txn{s.queries.Tx(conn{tx}), tx} }

// dbErr translates driver errors into the store's sentinels, keeping the
// driver error in the chain for logs.
func dbErr(err error) error {
	if err == nil {
		return nil // without the errors.As below, whose target escapes
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %w", store.ErrConflict, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			// Only inserts can break a foreign key here: the referenced
			// row (an integration's workspace) does not exist.
			return fmt.Errorf("%w: %w", store.ErrNotFound, err)
		}
	}
	return err
}

// affected returns ErrNotFound (or ErrConflict for a compare-and-swap)
// when an update or delete touched no row.
func affected(res sql.Result, none error) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return none
	}
	return nil
}

// Times are stored as unix nanoseconds, which reach from 1678 to 2262.
var (
	minTime = time.Unix(0, -1<<63).Add(time.Microsecond)
	maxTime = time.Unix(0, 1<<63-1).Add(-time.Microsecond)
)

// dbTime writes a time as UTC unix nanoseconds truncated to microseconds
// (the precision PostgreSQL keeps, so both backends agree), and the zero
// time as NULL.
type dbTime time.Time

func (t dbTime) Value() (driver.Value, error) {
	tt := time.Time(t)
	if tt.IsZero() {
		return nil, nil
	}
	if tt.Before(minTime) || tt.After(maxTime) {
		return nil, fmt.Errorf("time %s outside the range sqlite stores", tt.UTC().Format(time.RFC3339))
	}
	return tt.Truncate(time.Microsecond).UnixNano(), nil
}

// scanTime reads what dbTime wrote; NULL and 0 read as the zero time.
type scanTime struct{ t *time.Time }

func (s scanTime) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*s.t = time.Time{}
	case int64:
		if v == 0 {
			*s.t = time.Time{}
		} else {
			*s.t = time.Unix(0, v).UTC()
		}
	default:
		return fmt.Errorf("scan time: unexpected %T", v)
	}
	return nil
}

// scan reads records through scanTime.
var scan = store.Scanner{Time: func(t *time.Time) any { return scanTime{t} }}
