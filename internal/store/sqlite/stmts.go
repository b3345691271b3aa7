package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"

	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/sqldb"
)

// maxStmts bounds how many query texts a pool keeps prepared. The store's
// queries are fixed text, about a hundred; a text beyond the bound (which
// would mean query text built from data) runs unprepared instead of
// growing the cache.
const maxStmts = 512

// stmtCache prepares each query text once per pool and keeps the
// statement. database/sql then prepares it on each connection the first
// time that connection runs it, and modernc keeps the parsed statement,
// so SQLite parses a query once per connection instead of on every call:
// parsing was a quarter of the CPU of a one-row read (bench/RESULTS.md,
// issue 14 part 6). Statements are keyed by the text as written; the text
// prepared is rebind(text).
type stmtCache struct {
	db    *sql.DB
	stmts sync.Map // query text → *sql.Stmt
	mu    sync.Mutex
	n     int // stmts' size, under mu
}

// lookup returns q's statement when it is prepared already.
func (c *stmtCache) lookup(q string) *sql.Stmt {
	if st, ok := c.stmts.Load(q); ok {
		return st.(*sql.Stmt)
	}
	return nil
}

// get returns q's statement, preparing it on c.db when it is new. It
// returns nil when q cannot be prepared now (an error or a full cache):
// the caller runs q unprepared, which reports any error in q itself.
func (c *stmtCache) get(ctx context.Context, q string) *sql.Stmt {
	if st := c.lookup(q); st != nil {
		return st
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.lookup(q); st != nil {
		return st
	}
	if c.n >= maxStmts {
		return nil
	}
	st, err := c.db.PrepareContext(ctx, rebind(q))
	if err != nil {
		return nil
	}
	c.stmts.Store(q, st)
	c.n++
	return st
}

// close closes every statement; the pool's connections finalize theirs.
func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	c.stmts.Range(func(q, st any) bool {
		errs = append(errs, st.(*sql.Stmt).Close())
		c.stmts.Delete(q)
		return true
	})
	c.n = 0
	return errors.Join(errs...)
}

// pool is a read pool whose queries run as prepared statements.
type pool struct {
	*sql.DB
	stmts stmtCache
}

func newPool(db *sql.DB) *pool {
	p := &pool{DB: db}
	p.stmts.db = db
	return p
}

// QueryContext is sql.DB's, prepared.
func (p *pool) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := p.stmts.get(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return p.DB.QueryContext(ctx, rebind(q), args...)
}

// QueryRowContext is sql.DB's, prepared.
func (p *pool) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := p.stmts.get(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return p.DB.QueryRowContext(ctx, rebind(q), args...)
}

// ExecContext is sql.DB's, prepared.
func (p *pool) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := p.stmts.get(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return p.DB.ExecContext(ctx, rebind(q), args...)
}

// Close closes the statements, then the pool.
func (p *pool) Close() error {
	return errors.Join(p.stmts.close(), p.DB.Close())
}

// prepTx is a write transaction whose queries run as statements prepared
// on the write pool. A statement cannot be prepared while the
// transaction holds the pool's one connection, so a text not yet
// prepared runs unprepared and is prepared once the transaction ends
// (see Store.writePrepared).
type prepTx struct {
	*sql.Tx
	stmts   *stmtCache
	missing []string
}

// stmt returns q's statement bound to the transaction, or nil (noting q)
// when it is not prepared yet.
func (t *prepTx) stmt(ctx context.Context, q string) *sql.Stmt {
	if st := t.stmts.lookup(q); st != nil {
		return t.Tx.StmtContext(ctx, st)
	}
	t.missing = append(t.missing, q)
	return nil
}

// QueryContext is sql.Tx's, prepared.
func (t *prepTx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, rebind(q), args...)
}

// QueryRowContext is sql.Tx's, prepared.
func (t *prepTx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := t.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, rebind(q), args...)
}

// ExecContext is sql.Tx's, prepared.
func (t *prepTx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := t.stmt(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, rebind(q), args...)
}

// rebind rewrites PostgreSQL's $n placeholders, in which the SQL shared
// with the PostgreSQL store is written, as SQLite's ?n (the same: the nth
// argument). Text inside single quotes is left alone; text without $n is
// returned as it is.
func rebind(q string) string {
	i := indexParam(q)
	if i < 0 {
		return q
	}
	b := []byte(q)
	quoted := false
	for j := 0; j < len(b); j++ {
		switch {
		case b[j] == '\'':
			quoted = !quoted
		case !quoted && b[j] == '$' && j+1 < len(b) && b[j+1] >= '0' && b[j+1] <= '9':
			b[j] = '?'
		}
	}
	return string(b)
}

// indexParam returns the index of the first $ followed by a digit, or -1.
func indexParam(q string) int {
	for i := 0; i+1 < len(q); i++ {
		if q[i] == '$' && q[i+1] >= '0' && q[i+1] <= '9' {
			return i
		}
	}
	return -1
}

// conn is the read pool or a write transaction as sqldb.Conn.
type conn struct {
	q interface {
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	}
}

func (c conn) Query(ctx context.Context, q string, args ...any) (sqldb.Rows, error) {
	rows, err := c.q.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (c conn) QueryRow(ctx context.Context, q string, args ...any) store.Row {
	return c.q.QueryRowContext(ctx, q, args...)
}

func (c conn) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := c.q.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// sqlRows is *sql.Rows as sqldb.Rows.
type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }
