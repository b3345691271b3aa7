package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Advisory lock keys, database-wide. The values spell "storm" and a
// number, and mean nothing else.
const (
	migrateLockKey int64 = 0x73746f726d000001 // held while migrating
	eventsLockKey  int64 = 0x73746f726d000002 // held from an event insert to commit
	auditLockKey   int64 = 0x73746f726d000003 // held from an audit insert to commit
)

// Store is a store.Store in PostgreSQL, shared by any number of Storm
// instances. It is safe for concurrent use. The zero value is not usable:
// call Open.
type Store struct {
	// queries are the queries shared with the SQLite store; their
	// methods are the Store's too.
	*queries
	pool *pgxpool.Pool
}

var _ store.Store = (*Store)(nil)

// queries names sqldb.Queries so that embedding it adds no exported field.
type queries = sqldb.Queries

// dialect is what the shared queries need to know of PostgreSQL.
var dialect = sqldb.Dialect{
	Scan:        scan,
	Time:        dbTime,
	Err:         dbErr,
	InsertOrder: "seq",
	ForUpdate:   " FOR UPDATE",
	SkipLocked:  " FOR UPDATE SKIP LOCKED",
}

// Open connects to the database at url (a postgres:// URL or key=value
// string, as pgx accepts; runtime parameters such as search_path are
// honoured) and applies any pending migrations.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx redacts the password in its parse errors; url is not repeated.
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		// pgx's default (max(4, CPUs)) throttles the token engine and
		// the API under load; 16 measured 53% more refreshes per second.
		cfg.MaxConns = max(16, cfg.MaxConns)
	}
	if err := migrate(ctx, cfg.ConnConfig.Copy()); err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	s := &Store{pool: pool}
	s.queries = sqldb.New(sqldb.Backend{
		Dialect: dialect,
		Read:    conn{pool},
		Exec:    conn{pool}.Exec,
		Write: func(ctx context.Context, fn func(sqldb.Conn) error) error {
			return s.inTx(ctx, func(tx pgx.Tx) error { return fn(conn{tx}) })
		},
		WriteTx: func(ctx context.Context, fn func(sqldb.StoreTx) error) error {
			return s.inTx(ctx, func(tx pgx.Tx) error { return fn(s.txn(tx)) })
		},
	})
	return s, nil
}

// afterMigration holds Go steps of a migration that SQL cannot do (SHA-256
// in SQLite, and one definition of the chain for both stores), run in the
// migration's transaction right after its SQL.
var afterMigration = map[string]func(context.Context, pgx.Tx) error{
	"0011_audit_chain": chainExisting,
}

// migrate applies the embedded migrations in name order under a session
// advisory lock, so instances starting together take turns and each
// migration runs once. It uses its own connection: closing it releases the
// lock even if unlocking fails.
func migrate(ctx context.Context, cfg *pgx.ConnConfig) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrateLockKey); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    text PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	rows, err := conn.Query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	applied := make(map[string]bool, len(versions))
	for _, v := range versions {
		applied[v] = true
	}

	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		version := strings.TrimSuffix(strings.TrimPrefix(name, "migrations/"), ".sql")
		if applied[version] {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", version, err)
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			// Without arguments pgx uses the simple protocol, which
			// allows the several statements of a migration file.
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return err
			}
			if hook := afterMigration[version]; hook != nil {
				if err := hook(ctx, tx); err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, version)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %s: %w", version, err)
		}
	}

	if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, migrateLockKey); err != nil {
		return fmt.Errorf("migrate: unlock: %w", err)
	}
	return nil
}

// Ping reports whether the database answers, for readiness checks.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres: %w", err)
	}
	return nil
}

// Close closes every connection, waiting for those in use to be returned.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// inTx runs fn in a READ COMMITTED transaction and commits unless fn
// fails. fn's error is returned as is so callers can pass theirs through.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", dbErr(err))
	}
	return nil
}

// txn is a transaction as sqldb.StoreTx: the shared SQL, and this
// backend's LockCredential and event append.
type txn struct {
	sqldb.Tx
	tx pgx.Tx
}

// txn returns tx as a txn.
func (s *Store) txn(tx pgx.Tx) txn { return txn{s.queries.Tx(conn{tx}), tx} }

// dbErr translates driver errors into the store's sentinels, keeping the
// driver error in the chain for logs. PostgreSQL messages name the
// constraint, never the values.
func dbErr(err error) error {
	if err == nil {
		return nil // without the errors.As below, whose target escapes
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%w: %w", store.ErrConflict, err)
		case "23503": // foreign_key_violation: the referenced row does not exist
			return fmt.Errorf("%w: %w", store.ErrNotFound, err)
		}
	}
	return err
}

// dbTime writes a time truncated to microseconds (what timestamptz keeps)
// and the zero time as NULL.
func dbTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Truncate(time.Microsecond).UTC()
}

// scanTime reads a timestamptz in UTC; NULL reads as the zero time.
type scanTime struct{ t *time.Time }

func (s scanTime) ScanTimestamptz(v pgtype.Timestamptz) error {
	if !v.Valid || v.InfinityModifier != pgtype.Finite {
		*s.t = time.Time{}
		return nil
	}
	*s.t = v.Time.UTC()
	return nil
}

// scan reads records through scanTime.
var scan = store.Scanner{Time: func(t *time.Time) any { return scanTime{t} }}

// conn is the pool or a transaction as sqldb.Conn. pgx prepares each text
// once per connection and keeps it (QueryExecModeCacheStatement, the
// default), so the shared queries are fixed text.
type conn struct {
	q interface {
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
		QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
		Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	}
}

func (c conn) Query(ctx context.Context, q string, args ...any) (sqldb.Rows, error) {
	return c.q.Query(ctx, q, args...)
}

func (c conn) QueryRow(ctx context.Context, q string, args ...any) store.Row {
	return c.q.QueryRow(ctx, q, args...)
}

func (c conn) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := c.q.Exec(ctx, q, args...)
	return tag.RowsAffected(), err
}
