package storetest

import (
	"crypto/sha256"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

func newToken(t *testing.T, s store.Store, workspaceID, name string) store.APIToken {
	t.Helper()
	hash := sha256.Sum256([]byte(store.NewID("secret")))
	tok := store.APIToken{ID: store.NewID("tok"), Name: name, WorkspaceID: workspaceID, Role: store.RoleViewer,
		Hash: hash[:], CreatedAt: t0}
	must(t, s.CreateAPIToken(t.Context(), tok), "CreateAPIToken")
	return tok
}

func tokenIDs(ts []store.APIToken) []string {
	out := make([]string, 0, len(ts))
	for _, tok := range ts {
		out = append(out, tok.ID)
	}
	return out
}

// testListAPITokens: pages in id order per workspace or across all, a
// cursor that names a deleted token still works, LastUsedAt round-trips.
func testListAPITokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newWorkspace(t, s, "a")
	b := newWorkspace(t, s, "b")
	var inA, all []string
	for i := range 7 {
		tok := newToken(t, s, a.ID, "a")
		inA = append(inA, tok.ID)
		all = append(all, tok.ID)
		if i < 3 {
			all = append(all, newToken(t, s, b.ID, "b").ID)
		}
	}
	sort.Strings(inA)
	sort.Strings(all)

	walk := func(ws string, limit int) []string {
		var got []string
		after := ""
		for range 100 {
			page, err := s.ListAPITokens(ctx, store.TokenPage{WorkspaceID: ws, After: after, Limit: limit})
			must(t, err, "ListAPITokens")
			if len(page) > limit {
				t.Fatalf("page of %d, limit %d", len(page), limit)
			}
			for _, tok := range page {
				if ws != "" && tok.WorkspaceID != ws {
					t.Errorf("token of workspace %s listed for %s", tok.WorkspaceID, ws)
				}
			}
			got = append(got, tokenIDs(page)...)
			if len(page) < limit {
				return got
			}
			after = page[len(page)-1].ID
		}
		t.Fatal("pages never end")
		return nil
	}
	if got := walk(a.ID, 3); !slices.Equal(got, inA) {
		t.Errorf("workspace a by 3s = %v, want %v", got, inA)
	}
	if got := walk("", 4); !slices.Equal(got, all) {
		t.Errorf("every workspace by 4s = %v, want %v", got, all)
	}
	page, err := s.ListAPITokens(ctx, store.TokenPage{WorkspaceID: a.ID})
	must(t, err, "ListAPITokens default limit")
	if len(page) != len(inA) {
		t.Errorf("default limit listed %d, want %d", len(page), len(inA))
	}

	// A cursor stays valid when its token is deleted meanwhile.
	must(t, s.DeleteAPIToken(ctx, inA[2]), "DeleteAPIToken")
	page, err = s.ListAPITokens(ctx, store.TokenPage{WorkspaceID: a.ID, After: inA[2], Limit: 2})
	must(t, err, "ListAPITokens after a deleted cursor")
	if got := tokenIDs(page); !slices.Equal(got, inA[3:5]) {
		t.Errorf("after a deleted cursor = %v, want %v", got, inA[3:5])
	}

	// LastUsedAt: zero until touched, then what was written.
	tok, err := s.GetAPIToken(ctx, inA[0])
	must(t, err, "GetAPIToken")
	if !tok.LastUsedAt.IsZero() {
		t.Errorf("new token LastUsedAt = %v, want zero", tok.LastUsedAt)
	}
	must(t, s.TouchAPIToken(ctx, inA[0], t1), "TouchAPIToken")
	tok.LastUsedAt = t1
	got, err := s.GetAPIToken(ctx, inA[0])
	must(t, err, "GetAPIToken after touch")
	wantEqual(t, got, tok, "GetAPIToken after touch")
	byHash, err := s.GetAPITokenByHash(ctx, tok.Hash)
	must(t, err, "GetAPITokenByHash after touch")
	wantEqual(t, byHash, tok, "GetAPITokenByHash after touch")
	page, err = s.ListAPITokens(ctx, store.TokenPage{WorkspaceID: a.ID, Limit: 1})
	must(t, err, "ListAPITokens after touch")
	wantEqual(t, page, []store.APIToken{tok}, "ListAPITokens after touch")
	wantErr(t, s.TouchAPIToken(ctx, store.NewID("tok"), t1), store.ErrNotFound, "TouchAPIToken(unknown)")
}

// testUISessions: a session reads back until deleted (once), dies with
// its token, needs an existing token, and expired ones are purged when a
// new one is created.
func testUISessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	ws := newWorkspace(t, s, "default")
	tok := newToken(t, s, ws.ID, "ui")
	sess := store.UISession{ID: store.NewID("ses"), TokenID: tok.ID, CreatedAt: t0, ExpiresAt: t0.Add(12 * time.Hour)}
	must(t, s.CreateUISession(ctx, sess), "CreateUISession")
	got, err := s.GetUISession(ctx, sess.ID)
	must(t, err, "GetUISession")
	wantEqual(t, got, sess, "GetUISession")
	wantErr(t, s.CreateUISession(ctx, sess), store.ErrConflict, "CreateUISession with a taken id")

	must(t, s.DeleteUISession(ctx, sess.ID), "DeleteUISession")
	_, err = s.GetUISession(ctx, sess.ID)
	wantErr(t, err, store.ErrNotFound, "GetUISession after delete")
	wantErr(t, s.DeleteUISession(ctx, sess.ID), store.ErrNotFound, "DeleteUISession twice")

	orphan := store.UISession{ID: store.NewID("ses"), TokenID: store.NewID("tok"), CreatedAt: t0, ExpiresAt: t1}
	wantErr(t, s.CreateUISession(ctx, orphan), store.ErrNotFound, "CreateUISession for an unknown token")

	// Deleting the token ends its sessions.
	other := newToken(t, s, ws.ID, "other")
	mine := store.UISession{ID: store.NewID("ses"), TokenID: tok.ID, CreatedAt: t0, ExpiresAt: t1}
	theirs := store.UISession{ID: store.NewID("ses"), TokenID: other.ID, CreatedAt: t0, ExpiresAt: t1}
	must(t, s.CreateUISession(ctx, mine), "CreateUISession")
	must(t, s.CreateUISession(ctx, theirs), "CreateUISession")
	must(t, s.DeleteAPIToken(ctx, tok.ID), "DeleteAPIToken")
	_, err = s.GetUISession(ctx, mine.ID)
	wantErr(t, err, store.ErrNotFound, "GetUISession after its token was deleted")
	_, err = s.GetUISession(ctx, theirs.ID)
	must(t, err, "GetUISession of another token's session")

	// An expired session is still returned (the caller judges it) until a
	// later sign-in purges it; unexpired ones stay.
	later := store.UISession{ID: store.NewID("ses"), TokenID: other.ID, CreatedAt: t1.Add(time.Second), ExpiresAt: t2}
	_, err = s.GetUISession(ctx, theirs.ID)
	must(t, err, "GetUISession of an expired session")
	must(t, s.CreateUISession(ctx, later), "CreateUISession")
	_, err = s.GetUISession(ctx, theirs.ID)
	wantErr(t, err, store.ErrNotFound, "GetUISession of a purged session")
	_, err = s.GetUISession(ctx, later.ID)
	must(t, err, "GetUISession of the new session")
}
