package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/stormcreds/storm/internal/audit"
	"github.com/stormcreds/storm/internal/store"
)

// A pg_dump of the database restored with pg_restore into another
// database (the README's PostgreSQL backup) keeps the audit chain valid,
// and appends after the restore extend it.
func TestAuditChainSurvivesDumpRestore(t *testing.T) {
	for _, tool := range []string{"pg_dump", "pg_restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	ctx := t.Context()
	src := TestURL(t)
	s, err := Open(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		recs := []store.AuditRecord{{Actor: "tok_1", Action: "credential.access", Target: "int_1", IP: "192.0.2.1", Detail: []byte(`{"count":1}`)}}
		if i%2 == 0 {
			recs = append(recs, recs[0])
		}
		if err := s.AppendAudit(ctx, recs...); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()

	u, _ := url.Parse(src)
	schema := u.Query().Get("search_path")
	base := *u
	base.RawQuery = "sslmode=disable"
	dump := filepath.Join(t.TempDir(), "storm.dump")
	if out, err := exec.CommandContext(ctx, "pg_dump", "--format=custom", "--schema="+schema, "--file="+dump, base.String()).CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v: %s", err, out)
	}
	var b [6]byte
	rand.Read(b[:])
	dbName := "storm_restore_" + hex.EncodeToString(b[:])
	admin, err := pgx.Connect(ctx, base.String())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+dbName); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Exec(context.Background(), "DROP DATABASE "+dbName+" WITH (FORCE)") })
	dst := base
	dst.Path = "/" + dbName
	if out, err := exec.CommandContext(ctx, "pg_restore", "--no-owner", "--dbname="+dst.String(), dump).CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v: %s", err, out)
	}

	restored, err := Open(ctx, withSearchPath(dst.String(), schema))
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	if res, err := audit.Verify(ctx, restored.ListAudit); err != nil || res != (audit.Result{OK: true, Entries: 30}) {
		t.Fatalf("verify after restore = %+v, %v", res, err)
	}
	if err := restored.AppendAudit(ctx, store.AuditRecord{Actor: "system", Action: "startup"}); err != nil {
		t.Fatal(err)
	}
	if res, err := audit.Verify(ctx, restored.ListAudit); err != nil || res != (audit.Result{OK: true, Entries: 31}) {
		t.Fatalf("verify after restore and an append = %+v, %v", res, err)
	}
}
