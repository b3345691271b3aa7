package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestURLEnv names the environment variable holding the PostgreSQL URL
// that tests use; when it is empty, DefaultTestURL is tried.
const TestURLEnv = "STORM_TEST_POSTGRES"

// DefaultTestURL is the local test database (trust auth) that developer
// machines and CI run, so a plain `go test ./...` covers PostgreSQL.
const DefaultTestURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// OpenTest opens a Store in a fresh schema of the test database and drops
// the schema when t ends, so tests never see each other's rows. When no
// test database can be reached it skips t, or fails it when CI is set:
// PostgreSQL suites must not silently skip in CI.
func OpenTest(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), TestURL(t))
	if err != nil {
		t.Fatalf("open test store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestURL creates a fresh schema in the test database, drops it when t
// ends, and returns a connection string that uses it.
func TestURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(TestURLEnv)
	if base == "" {
		base = DefaultTestURL
	}
	// Cleanups run after t's context is cancelled, so use our own.
	ctx := context.Background()
	probeCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
	probe, err := pgx.Connect(probeCtx, base)
	cancel()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL tests must run in CI, but the test database is unreachable: %v", err)
		}
		t.Skipf("no PostgreSQL test database (set %s): %v", TestURLEnv, err)
	}
	probe.Close(ctx)

	var b [8]byte
	rand.Read(b[:])
	schema := "storetest_" + hex.EncodeToString(b[:])
	admin := func(sql string) {
		t.Helper()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Fatalf("connect to test database: %v", err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	admin("CREATE SCHEMA " + schema)
	t.Cleanup(func() { admin("DROP SCHEMA " + schema + " CASCADE") })
	return withSearchPath(base, schema)
}

// withSearchPath adds search_path to a URL or key=value connection
// string; pgx sends it as a run-time parameter on every connection.
func withSearchPath(conn, schema string) string {
	if u, err := url.Parse(conn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return strings.TrimSpace(conn) + " search_path=" + schema
}
