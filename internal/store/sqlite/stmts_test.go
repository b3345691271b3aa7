package sqlite

import (
	"testing"
	"time"

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

// openWithWorkspace opens a test store holding one workspace.
func openWithWorkspace(t *testing.T) (*Store, store.Workspace) {
	t.Helper()
	s := OpenTest(t)
	ws := store.Workspace{ID: store.NewID("ws"), Name: "prep"}
	if err := s.CreateWorkspace(t.Context(), ws); err != nil {
		t.Fatal(err)
	}
	return s, ws
}

// TestStatementsPrepared: reads prepare their text on the read pool at
// once; a write transaction's texts are prepared when it ends and reused
// by the next one.
func TestStatementsPrepared(t *testing.T) {
	s, ws := openWithWorkspace(t)
	ctx := t.Context()
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

// TestSharedAppStatementsPrepared: the app queries, which sqldb shares
// with PostgreSQL, run as prepared statements too. The first round of
// calls prepares their texts on each pool; a second round prepares
// nothing new.
func TestSharedAppStatementsPrepared(t *testing.T) {
	s, ws := openWithWorkspace(t)
	ctx := t.Context()
	a := store.App{ID: store.NewID("app"), WorkspaceID: ws.ID, Name: "app", Provider: "github",
		AuthMethod: "oauth2", Config: []byte(`{}`), Origin: store.AppOriginManual}
	x := store.AppSecret{ID: store.NewID("asec"), Version: 1, State: store.StateActive, Secret: []byte("sealed")}
	if err := s.CreateApp(ctx, a, []store.AppSecret{x}); err != nil {
		t.Fatal(err)
	}
	round := func(name string) {
		t.Helper()
		if _, err := s.GetApp(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ListAppSecrets(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ListAppIntegrations(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.TouchAppSecret(ctx, x.ID, time.Now(), time.Time{}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateApp(ctx, a.ID, func(ch *store.AppChange) error { ch.App.Name = name; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	ro0, rw0 := s.ro.stmts.n, s.rwStmts.n
	round("first")
	ro1, rw1 := s.ro.stmts.n, s.rwStmts.n
	// Reads: GetApp, ListAppSecrets, ListAppIntegrations. Writes:
	// TouchAppSecret, and UpdateApp's lock, secret list and update.
	if ro1-ro0 < 3 || rw1-rw0 < 4 {
		t.Fatalf("the first round prepared %d read and %d write statements, want at least 3 and 4", ro1-ro0, rw1-rw0)
	}
	round("second")
	if ro2, rw2 := s.ro.stmts.n, s.rwStmts.n; ro2 != ro1 || rw2 != rw1 {
		t.Errorf("the second round prepared again: %d read and %d write statements, then %d and %d", ro1, rw1, ro2, rw2)
	}
}
