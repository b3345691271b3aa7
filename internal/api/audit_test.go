package api_test

import (
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stormcreds/storm/internal/audit"
	"github.com/stormcreds/storm/internal/keys"
	"github.com/stormcreds/storm/internal/server/servertest"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/postgres"
	_ "github.com/stormcreds/storm/internal/store/sqlite" // the "sqlite" driver for tampering
)

// chainBackends runs f against a server on SQLite and one on PostgreSQL,
// with exec running raw SQL on its database (as someone with write access
// to it would).
func chainBackends(t *testing.T, opts servertest.Options, f func(t *testing.T, env *servertest.Env, exec func(string))) {
	t.Run("sqlite", func(t *testing.T) {
		opts := opts
		opts.DataDir = t.TempDir()
		env := servertest.Start(t, opts)
		f(t, env, func(q string) {
			db, err := sql.Open("sqlite", "file:"+filepath.Join(opts.DataDir, "storm.db")+"?_pragma=busy_timeout(5000)")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(q); err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("postgres", func(t *testing.T) {
		opts := opts
		opts.Database = postgres.TestURL(t)
		env := servertest.Start(t, opts)
		f(t, env, func(q string) {
			conn, err := pgx.Connect(context.Background(), opts.Database)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			if _, err := conn.Exec(context.Background(), q); err != nil {
				t.Fatal(err)
			}
		})
	})
}

// GET /v1/audit/verify is for admins only; it answers ok with the number
// of entries, and names the first changed entry once the database is
// tampered with. Entries carry seq, prev_hash and hash.
func TestAuditVerifyEndpoint(t *testing.T) {
	chainBackends(t, servertest.Options{}, func(t *testing.T, env *servertest.Env, exec func(string)) {
		for _, role := range []string{store.RoleEditor, store.RoleViewer, store.RoleWorker} {
			if r := env.Do("GET", "/v1/audit/verify", env.NewToken(role, "default"), nil); r.Status != http.StatusForbidden {
				t.Errorf("verify as %s: %d", role, r.Status)
			}
		}
		list := env.Must(http.StatusOK, "GET", "/v1/audit?limit=1000", "", nil)["audit"].([]any)
		if len(list) < 3 {
			t.Fatalf("want at least 3 audit entries (token creations), have %d", len(list))
		}
		for i, e := range list {
			e := e.(map[string]any)
			if e["seq"] != float64(i+1) || len(e["hash"].(string)) != 64 || len(e["prev_hash"].(string)) != 64 {
				t.Fatalf("entry %d: %v", i, e)
			}
		}
		want := map[string]any{"ok": true, "entries": float64(len(list))}
		if got := env.Must(http.StatusOK, "GET", "/v1/audit/verify", "", nil); !equalJSON(got, want) {
			t.Fatalf("verify = %v, want %v", got, want)
		}

		bad := list[1].(map[string]any)["id"].(string)
		exec(`UPDATE audit SET actor = 'tok_someone_else' WHERE id = '` + bad + `'`)
		want = map[string]any{"ok": false, "entries": float64(len(list)), "first_bad": bad, "reason": audit.ReasonChanged}
		if got := env.Must(http.StatusOK, "GET", "/v1/audit/verify", "", nil); !equalJSON(got, want) {
			t.Fatalf("verify after tampering = %v, want %v", got, want)
		}
	})
}

// GET /v1/audit pages with limit and after, answering "next" except on
// the last page.
func TestAuditListNext(t *testing.T) {
	env := servertest.Start(t, servertest.Options{})
	for range 4 {
		env.NewToken(store.RoleViewer, "default")
	}
	var ids []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("no last page")
		}
		page := env.Must(http.StatusOK, "GET", "/v1/audit?limit=2&after="+after, "", nil)
		for _, e := range page["audit"].([]any) {
			ids = append(ids, e.(map[string]any)["id"].(string))
		}
		next, ok := page["next"].(string)
		if !ok {
			break
		}
		if next != ids[len(ids)-1] {
			t.Fatalf("next = %s, want the page's last id %s", next, ids[len(ids)-1])
		}
		after = next
	}
	all := env.Must(http.StatusOK, "GET", "/v1/audit?limit=1000", "", nil)
	if _, ok := all["next"]; ok || len(all["audit"].([]any)) != len(ids) {
		t.Errorf("paged %d entries, one page has %d (next %v)", len(ids), len(all["audit"].([]any)), all["next"])
	}
}

// Rotating the key-encryption key and re-wrapping every secret leaves
// the audit chain valid (and the rotation in it).
func TestAuditChainSurvivesKeyRotation(t *testing.T) {
	chainBackends(t, servertest.Options{Keys: keys.Config{Interval: 20 * time.Millisecond, Settle: 100 * time.Millisecond}},
		func(t *testing.T, env *servertest.Env, _ func(string)) {
			up := servertest.NewUpstream(t, "key-bbbbbbbbbbbbbbbbbbbb")
			id := env.CustomIntegration("acme", up)
			env.Must(http.StatusOK, "PUT", "/v1/integrations/"+id+"/credentials", "", map[string]any{"api_key": "key-bbbbbbbbbbbbbbbbbbbb"})
			env.Must(http.StatusAccepted, "POST", "/v1/keys/rotate", "", nil)
			deadline := time.Now().Add(30 * time.Second)
			for env.Must(http.StatusOK, "GET", "/v1/keys", "", nil)["rewrap"].(map[string]any)["state"] != "done" {
				if time.Now().After(deadline) {
					t.Fatal("re-wrap job not done")
				}
				env.Must(http.StatusOK, "GET", "/v1/integrations/"+id+"/access", "", nil)
				time.Sleep(20 * time.Millisecond)
			}
			env.Must(http.StatusOK, "PUT", "/v1/integrations/"+id+"/credentials", "", map[string]any{"api_key": "key-bbbbbbbbbbbbbbbbbbbb"})
			got := env.Must(http.StatusOK, "GET", "/v1/audit/verify", "", nil)
			if got["ok"] != true {
				t.Fatalf("verify after rotation = %v", got)
			}
			rotated := false
			for _, e := range env.Must(http.StatusOK, "GET", "/v1/audit?limit=1000", "", nil)["audit"].([]any) {
				rotated = rotated || e.(map[string]any)["action"] == "keys.rotate"
			}
			if !rotated || got["entries"].(float64) < 4 {
				t.Errorf("rotation not in the chain: %v", got)
			}
		})
}

func equalJSON(got, want map[string]any) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}
