package sqldb_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"

	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/postgres"
	sqlitestore "github.com/stormcreds/storm/internal/store/sqlite"
)

// backend is one real store whose methods run sqldb.Queries with that
// store's Backend, and a connection of our own to the same database.
type backend struct {
	name string
	s    store.Store
	raw  rawDB
	// rowLocks: the dialect locks rows (PostgreSQL) rather than the whole
	// database for a write transaction (SQLite).
	rowLocks bool
	// driverErr reports whether the driver's own error is in err's chain.
	driverErr func(err error) bool
}

// rawDB reaches the database behind a store's back.
type rawDB interface {
	// prepare compiles text, written with $n placeholders as sqldb
	// writes it, the way the backend does, without running it.
	prepare(ctx context.Context, text string) error
	// isNull reports whether column of the row id of table is NULL.
	isNull(ctx context.Context, table, column, id string) (bool, error)
}

// eachBackend runs fn on a fresh SQLite store and a fresh PostgreSQL
// store (in a schema of its own), each in a subtest.
func eachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, openSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, openPostgres(t)) })
}

func openSQLite(t *testing.T) backend {
	t.Helper()
	path := filepath.Join(t.TempDir(), "storm.db")
	s, err := sqlitestore.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return backend{
		name: "sqlite",
		s:    s,
		raw:  sqliteDB{db},
		driverErr: func(err error) bool {
			var se *sqlite.Error
			return errors.As(err, &se)
		},
	}
}

func openPostgres(t *testing.T) backend {
	t.Helper()
	url := postgres.TestURL(t)
	ctx := context.Background()
	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect postgres: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return backend{
		name:     "postgres",
		s:        s,
		raw:      pgDB{conn},
		rowLocks: true,
		driverErr: func(err error) bool {
			var pe *pgconn.PgError
			return errors.As(err, &pe)
		},
	}
}

type sqliteDB struct{ db *sql.DB }

// dollarParam is a $n placeholder; the SQLite store prepares it as ?n
// (sqlite.rebind), and no shared query quotes a $.
var dollarParam = regexp.MustCompile(`\$([0-9])`)

func (d sqliteDB) prepare(ctx context.Context, text string) error {
	st, err := d.db.PrepareContext(ctx, dollarParam.ReplaceAllString(text, "?$1"))
	if err != nil {
		return err
	}
	return st.Close()
}

func (d sqliteDB) isNull(ctx context.Context, table, column, id string) (bool, error) {
	var null bool
	err := d.db.QueryRowContext(ctx, `SELECT `+column+` IS NULL FROM `+table+` WHERE id = ?`, id).Scan(&null)
	return null, err
}

type pgDB struct{ conn *pgx.Conn }

func (d pgDB) prepare(ctx context.Context, text string) error {
	// The unnamed statement: parsed, resolved against the schema and
	// typed, never run.
	_, err := d.conn.Prepare(ctx, "", text)
	return err
}

func (d pgDB) isNull(ctx context.Context, table, column, id string) (bool, error) {
	var null bool
	err := d.conn.QueryRow(ctx, `SELECT `+column+` IS NULL FROM `+table+` WHERE id = $1`, id).Scan(&null)
	return null, err
}

// queriesOf returns the sqldb.Queries a store embeds (the field named
// queries, by reflection: it is unexported), for reading its unexported
// string fields.
func queriesOf(t *testing.T, s store.Store) reflect.Value {
	t.Helper()
	v := reflect.ValueOf(s).Elem().FieldByName("queries")
	if !v.IsValid() || v.Kind() != reflect.Pointer || v.Type().Elem().Name() != "Queries" {
		t.Fatalf("%T embeds no *sqldb.Queries named queries", s)
	}
	return v.Elem()
}

// dialectText returns the text fields of the Dialect a store handed sqldb
// (InsertOrder, ForUpdate, SkipLocked), by name.
func dialectText(t *testing.T, s store.Store) map[string]string {
	t.Helper()
	d := queriesOf(t, s).FieldByName("d")
	if !d.IsValid() || d.Type().Name() != "Dialect" {
		t.Fatalf("sqldb.Queries has no Dialect field d")
	}
	out := map[string]string{}
	for i := range d.NumField() {
		if f := d.Field(i); f.Kind() == reflect.String {
			out[d.Type().Field(i).Name] = f.String()
		}
	}
	return out
}

// at is a time with nanoseconds and a zone other than UTC, so tests see
// the truncation and the conversion the Dialect promises.
var at = time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.FixedZone("UTC+5:30", 5*3600+1800))

func workspace(t *testing.T, b backend, id string) store.Workspace {
	t.Helper()
	w := store.Workspace{ID: id, Name: "name-" + id, CreatedAt: at}
	if err := b.s.CreateWorkspace(context.Background(), w); err != nil {
		t.Fatalf("create workspace %s: %v", id, err)
	}
	return w
}

func integration(t *testing.T, b backend, workspaceID, id string) store.Integration {
	t.Helper()
	in := newIntegration(workspaceID, id)
	if err := b.s.CreateIntegration(context.Background(), in); err != nil {
		t.Fatalf("create integration %s: %v", id, err)
	}
	return in
}

func newIntegration(workspaceID, id string) store.Integration {
	return store.Integration{
		ID: id, WorkspaceID: workspaceID, Name: "name-" + id, Provider: "github", AuthMethod: "api_key",
		Config: []byte(`{}`), Status: "active", CreatedAt: at, UpdatedAt: at,
	}
}

func connectLink(t *testing.T, b backend, workspaceID, id string, expires time.Time) store.ConnectLink {
	t.Helper()
	l := store.ConnectLink{
		ID: id, WorkspaceID: workspaceID, Name: "name-" + id, Hash: []byte("hash-" + id),
		CreatedBy: "tok_test", CreatedAt: expires.Add(-time.Hour), ExpiresAt: expires,
	}
	if err := b.s.CreateConnectLink(context.Background(), l); err != nil {
		t.Fatalf("create connect link %s: %v", id, err)
	}
	return l
}

func ids[T any](xs []T, id func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = id(x)
	}
	return out
}

func equalIDs(got, want []string) error {
	if fmt.Sprint(got) != fmt.Sprint(want) {
		return fmt.Errorf("got %v, want %v", got, want)
	}
	return nil
}
