package sqlite

import (
	"testing"

	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/sqldb"
)

func TestRebind(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`SELECT a FROM t WHERE id = $1 AND b = $12`, `SELECT a FROM t WHERE id = ?1 AND b = ?12`},
		{`SELECT a FROM t WHERE id = ?`, `SELECT a FROM t WHERE id = ?`},
		{`SELECT json_extract(a, '$.x'), '$1' FROM t WHERE id = $1`, `SELECT json_extract(a, '$.x'), '$1' FROM t WHERE id = ?1`},
		{`SELECT '$'`, `SELECT '$'`},
	} {
		if got := rebind(c.in); got != c.want {
			t.Errorf("rebind(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestStatementsPrepared: reads prepare their text on the read pool at
// once; a write transaction's texts are prepared when it ends and reused
// by the next one.
func TestStatementsPrepared(t *testing.T) {
	s := OpenTest(t)
	ctx := t.Context()
	ws := store.Workspace{ID: store.NewID("ws"), Name: "prep"}
	if err := s.CreateWorkspace(ctx, ws); err != nil {
		t.Fatal(err)
	}
	in := store.Integration{ID: store.NewID("int"), WorkspaceID: ws.ID, Name: "x", Provider: "github",
		AuthMethod: "api_key", Config: []byte(`{}`), Status: store.StatusPending}
	if err := s.CreateIntegration(ctx, in); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetIntegration(ctx, in.ID); err != nil {
		t.Fatal(err)
	}
	if s.ro.stmts.lookup(sqldb.GetIntegrationSQL) == nil {
		t.Error("GetIntegration's query is not prepared on the read pool")
	}
	if s.rwStmts.lookup(sqldb.GetIntegrationSQL) != nil {
		t.Error("a read prepared its query on the write pool")
	}
	touch := func() {
		t.Helper()
		if err := s.TouchIntegration(ctx, in.ID, store.Integration{}.CreatedAt); err != nil {
			t.Fatal(err)
		}
	}
	n0 := s.rwStmts.n
	touch()
	n1 := s.rwStmts.n
	if n1 != n0+1 {
		t.Fatalf("TouchIntegration's transaction left %d new prepared statements, want 1", n1-n0)
	}
	touch()
	if n2 := s.rwStmts.n; n2 != n1 {
		t.Errorf("a second TouchIntegration prepared again: %d statements, then %d", n1, n2)
	}
}
