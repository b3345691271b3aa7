package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // the driver the SQLite store uses
)

// bulk writes many rows into one table fast, bypassing the store: the
// schema comes from the real migrations (the server ran them), the rows
// from the seeder. Times are time.Time (zero: NULL) and each backend
// converts them as its store does.
type bulk interface {
	// insert writes n rows of cols into table; row(i, dst) fills dst.
	insert(ctx context.Context, table string, cols []string, n int, row func(i int, dst []any)) error
	// queryRow runs a one-row query written with ? placeholders.
	queryRow(ctx context.Context, q string, args []any, dst ...any) error
	// exec runs a statement without arguments.
	exec(ctx context.Context, q string) error
	close()
}

// sqliteBulk inserts with multi-row INSERT statements in large
// transactions on one connection, with a big page cache and no fsync
// (a crash while seeding only loses a benchmark fixture).
type sqliteBulk struct{ db *sql.DB }

func openSQLiteBulk(path string) (*sqliteBulk, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=synchronous(OFF)&_pragma=cache_size(-1048576)&_pragma=foreign_keys(OFF)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return &sqliteBulk{db: db}, nil
}

func (b *sqliteBulk) close() { b.db.Close() }

func (b *sqliteBulk) exec(ctx context.Context, q string) error {
	_, err := b.db.ExecContext(ctx, q)
	return err
}

func (b *sqliteBulk) queryRow(ctx context.Context, q string, args []any, dst ...any) error {
	return b.db.QueryRowContext(ctx, q, args...).Scan(dst...)
}

// sqliteValue is v as the SQLite store writes it: times as unix
// nanoseconds at microsecond precision, the zero time as NULL.
func sqliteValue(v any) any {
	if t, ok := v.(time.Time); ok {
		if t.IsZero() {
			return nil
		}
		return t.Truncate(time.Microsecond).UnixNano()
	}
	return v
}

func (b *sqliteBulk) insert(ctx context.Context, table string, cols []string, n int, row func(i int, dst []any)) error {
	const perStmt = 64    // rows per INSERT
	const perTx = 200_000 // rows per transaction, so the WAL is checkpointed as we go
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
	stmtFor := func(tx *sql.Tx, rows int) (*sql.Stmt, error) {
		q := "INSERT INTO " + table + " (" + strings.Join(cols, ",") + ") VALUES " + strings.TrimSuffix(strings.Repeat(one+",", rows), ",")
		return tx.PrepareContext(ctx, q)
	}
	dst := make([]any, len(cols))
	args := make([]any, 0, perStmt*len(cols))
	for start := 0; start < n; start += perTx {
		end := min(start+perTx, n)
		tx, err := b.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		full, err := stmtFor(tx, perStmt)
		if err != nil {
			tx.Rollback()
			return err
		}
		for i := start; i < end; i += perStmt {
			k := min(perStmt, end-i)
			args = args[:0]
			for j := range k {
				row(i+j, dst)
				for _, v := range dst {
					args = append(args, sqliteValue(v))
				}
			}
			st := full
			if k < perStmt {
				if st, err = stmtFor(tx, k); err != nil {
					tx.Rollback()
					return err
				}
			}
			if _, err := st.ExecContext(ctx, args...); err != nil {
				tx.Rollback()
				return fmt.Errorf("insert into %s: %w", table, err)
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// pgBulk inserts with COPY (pgx CopyFrom) in the benchmark's schema.
type pgBulk struct{ conn *pgx.Conn }

func openPGBulk(ctx context.Context, url string) (*pgBulk, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	return &pgBulk{conn: conn}, nil
}

func (b *pgBulk) close() { b.conn.Close(context.Background()) }

func (b *pgBulk) exec(ctx context.Context, q string) error {
	_, err := b.conn.Exec(ctx, q)
	return err
}

// queryRow rewrites ? placeholders as $1, $2, …
func (b *pgBulk) queryRow(ctx context.Context, q string, args []any, dst ...any) error {
	var sb strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&sb, "$%d", n)
			continue
		}
		sb.WriteRune(r)
	}
	return b.conn.QueryRow(ctx, sb.String(), args...).Scan(dst...)
}

func (b *pgBulk) insert(ctx context.Context, table string, cols []string, n int, row func(i int, dst []any)) error {
	i := 0
	dst := make([]any, len(cols))
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i == n {
			return nil, nil
		}
		row(i, dst)
		i++
		for j, v := range dst {
			if t, ok := v.(time.Time); ok && t.IsZero() {
				dst[j] = nil
			}
		}
		return dst, nil
	})
	if _, err := b.conn.CopyFrom(ctx, pgx.Identifier{table}, cols, src); err != nil {
		return fmt.Errorf("copy into %s: %w", table, err)
	}
	return nil
}
