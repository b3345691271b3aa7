package server_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/stormcreds/storm/internal/server/servertest"
	"github.com/stormcreds/storm/internal/store/postgres"
)

// auditRefuser makes the place secret reads are recorded refuse
// writes, as a full disk or a broken audit table would, and undoes it.
type auditRefuser struct {
	refuse, allow func(t *testing.T)
}

// refuseSQLite breaks the audit journal of a data dir (reads on SQLite
// are recorded there first): the directory is moved aside and a file
// put in its place, so no segment can be created — even as root. settle
// makes the server fold, which retires the segment it has open.
func refuseSQLite(t *testing.T, dataDir string, settle func()) auditRefuser {
	dir := filepath.Join(dataDir, "storm.db.audit-journal")
	aside := dir + ".aside"
	return auditRefuser{
		refuse: func(t *testing.T) {
			if err := os.Rename(dir, aside); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dir, []byte("not a directory"), 0o600); err != nil {
				t.Fatal(err)
			}
			settle()
		},
		allow: func(t *testing.T) {
			if err := os.Remove(dir); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(aside, dir); err != nil {
				t.Fatal(err)
			}
		},
	}
}

// refusePostgres works on the schema dbURL names (search_path).
func refusePostgres(t *testing.T, dbURL string) auditRefuser {
	exec := func(t *testing.T, q string) {
		t.Helper()
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return auditRefuser{
		refuse: func(t *testing.T) {
			exec(t, `CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$;
				CREATE TRIGGER refuse_audit BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION refuse_audit()`)
		},
		allow: func(t *testing.T) { exec(t, `DROP TRIGGER refuse_audit ON audit; DROP FUNCTION refuse_audit()`) },
	}
}

// TestUnrecordableReadIsRefused: while the audit log (on SQLite: its
// journal) refuses writes, a
// secret read is refused with a 503 problem (Retry-After) that holds no
// secret, /access hands out nothing and a proxied request never reaches
// the provider; once the audit log takes writes again, reads work. On
// SQLite and PostgreSQL.
func TestUnrecordableReadIsRefused(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			opts := servertest.Options{DataDir: t.TempDir()}
			var refuser auditRefuser
			if backend == "postgres" {
				opts.Database = postgres.TestURL(t)
				refuser = refusePostgres(t, opts.Database)
			}
			env := servertest.Start(t, opts)
			if backend == "sqlite" {
				refuser = refuseSQLite(t, opts.DataDir, func() { env.Must(200, "GET", "/v1/audit", "", nil) })
			}
			const key = "unrecorded-key-aaaaaaaaaaaa"
			up := servertest.NewUpstream(t, key)
			base := "/v1/integrations/" + env.CustomIntegration("Refused", up)
			env.Must(200, "PUT", base+"/credentials", "", map[string]any{"api_key": key})
			worker := env.NewToken("worker", "default")
			env.Must(200, "GET", base+"/access", worker, nil)
			env.Must(200, "GET", base+"/proxy/echo/x", worker, nil)

			refuser.refuse(t)
			before := up.Requests.Load()
			for _, path := range []string{base + "/access", base + "/proxy/echo/x", base + "/proxy/echo/y?z=1"} {
				r := env.Do("GET", path, worker, nil)
				if r.Status != http.StatusServiceUnavailable {
					t.Fatalf("GET %s with the audit log refusing writes: %d %s, want 503", path, r.Status, r.Body)
				}
				if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
					t.Errorf("GET %s: Content-Type %q, want a problem", path, ct)
				}
				if r.Header.Get("Retry-After") == "" {
					t.Errorf("GET %s: no Retry-After", path)
				}
				if strings.Contains(string(r.Body), key) || strings.Contains(string(r.Body), "access_token") {
					t.Errorf("GET %s: the refusal reveals the credential: %s", path, r.Body)
				}
			}
			if n := up.Requests.Load() - before; n != 0 {
				t.Fatalf("the provider saw %d requests while reads could not be recorded, want 0", n)
			}
			if strings.Contains(env.Logs.String(), key) {
				t.Error("the logs reveal the key")
			}

			refuser.allow(t)
			if a := env.Must(200, "GET", base+"/access", worker, nil); a["api_key"] != key {
				t.Fatalf("/access after the audit log recovered: %v", a)
			}
			env.Must(200, "GET", base+"/proxy/echo/x", worker, nil)
			if n := up.Requests.Load() - before; n != 1 {
				t.Fatalf("the provider saw %d requests after recovery, want 1", n)
			}
		})
	}
}
