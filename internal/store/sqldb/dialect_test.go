package sqldb_test

import (
	"context"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

// TestTimeRoundTrip: what Dialect.Time writes, Dialect.Scan reads back
// as the same instant truncated to microseconds, in UTC, and the zero
// time is stored as NULL and read back as zero.
func TestTimeRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		w := workspace(t, b, "ws_time")
		got, err := b.s.GetWorkspace(ctx, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkTime(t, "workspace created_at", got.CreatedAt, at)

		// Before 1970 the truncation still goes back in time, as
		// time.Truncate does, on both databases.
		old := time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC)
		in := newIntegration(w.ID, "int_time")
		in.LastVerifiedAt = old
		if err := b.s.CreateIntegration(ctx, in); err != nil {
			t.Fatal(err)
		}
		null, err := b.raw.isNull(ctx, "integrations", "last_used_at", in.ID)
		if err != nil || !null {
			t.Fatalf("zero LastUsedAt stored as NULL = %v (err %v), want NULL", null, err)
		}
		gotIn, err := b.s.GetIntegration(ctx, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !gotIn.LastUsedAt.IsZero() {
			t.Errorf("NULL last_used_at read back as %v, want the zero time", gotIn.LastUsedAt)
		}
		checkTime(t, "integration last_verified_at", gotIn.LastVerifiedAt, old)
		checkTime(t, "integration updated_at", gotIn.UpdatedAt, at)

		touched := at.Add(time.Second + 999*time.Nanosecond)
		if err := b.s.TouchIntegration(ctx, in.ID, touched); err != nil {
			t.Fatal(err)
		}
		if null, err := b.raw.isNull(ctx, "integrations", "last_used_at", in.ID); err != nil || null {
			t.Fatalf("touched last_used_at is NULL = %v (err %v)", null, err)
		}
		gotIn, err = b.s.GetIntegration(ctx, in.ID)
		if err != nil {
			t.Fatal(err)
		}
		checkTime(t, "touched last_used_at", gotIn.LastUsedAt, touched)
	})
}

func checkTime(t *testing.T, what string, got, wrote time.Time) {
	t.Helper()
	want := wrote.Truncate(time.Microsecond)
	if !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("%s: wrote %v, read %v (%s), want %v in UTC", what, wrote, got, got.Location(), want.UTC())
	}
}

// TestTimeComparesInSQL: times the Dialect writes compare in SQL as the
// instants they stand for, at the precision kept: a lease held until u
// is taken over at now == u (nanoseconds below a microsecond are
// dropped on both sides) and not a microsecond before.
func TestTimeComparesInSQL(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		u := at // has 789 ns below the microsecond
		if ok, err := b.s.AcquireLease(ctx, "job", "a", u, u.Add(-time.Hour)); err != nil || !ok {
			t.Fatalf("first acquire = %v, %v", ok, err)
		}
		if ok, err := b.s.AcquireLease(ctx, "job", "b", u.Add(time.Hour), u.Add(-time.Microsecond)); err != nil || ok {
			t.Fatalf("acquire a microsecond before expiry = %v, %v; want false", ok, err)
		}
		// Another zone, and nanoseconds that truncate to u's microsecond.
		now := u.Add(-789 * time.Nanosecond).In(time.FixedZone("UTC-8", -8*3600))
		if ok, err := b.s.AcquireLease(ctx, "job", "b", u.Add(time.Hour), now); err != nil || !ok {
			t.Fatalf("acquire at expiry = %v, %v; want true", ok, err)
		}
		if _, err := b.s.AcquireLease(ctx, "job", "b", time.Time{}, now); err == nil {
			t.Error("acquire with a zero time succeeded")
		}
	})
}

// TestErrorMapping: driver errors reach callers as the store's sentinels
// through Dialect.Err, with the driver's error still in the chain, and
// statements that touch no row as the sentinel sqldb chooses.
func TestErrorMapping(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		w := workspace(t, b, "ws_err")
		integration(t, b, w.ID, "int_err")

		wantIs := func(what string, err, sentinel error, fromDriver bool) {
			t.Helper()
			if !errors.Is(err, sentinel) {
				t.Errorf("%s: err = %v, want %v", what, err, sentinel)
				return
			}
			if fromDriver && !b.driverErr(err) {
				t.Errorf("%s: the driver's error is not in the chain of %v", what, err)
			}
		}

		// A missing row.
		_, err := b.s.GetWorkspace(ctx, "ws_none")
		wantIs("GetWorkspace(missing)", err, store.ErrNotFound, false)
		_, err = b.s.GetIntegration(ctx, "int_none")
		wantIs("GetIntegration(missing)", err, store.ErrNotFound, false)
		_, err = b.s.GetConnectLink(ctx, "cnl_none")
		wantIs("GetConnectLink(missing)", err, store.ErrNotFound, false)
		_, err = b.s.ListEvents(ctx, store.Page{After: "ev_none"})
		wantIs("ListEvents(after missing)", err, store.ErrNotFound, false)
		_, err = b.s.PageCredentials(ctx, store.VersionPage{Parent: "int_err", After: "cred_none"})
		wantIs("PageCredentials(after missing)", err, store.ErrNotFound, false)
		_, err = b.s.ListWebhookDeliveries(ctx, store.VersionPage{Parent: "wh_none", After: "dlv_none"})
		wantIs("ListWebhookDeliveries(after missing)", err, store.ErrNotFound, false)
		_, err = b.s.Keyring(ctx)
		wantIs("Keyring(none yet)", err, store.ErrNotFound, false)

		// A statement that touches no row.
		wantIs("TouchIntegration(missing)", b.s.TouchIntegration(ctx, "int_none", at), store.ErrNotFound, false)
		wantIs("DeleteIntegration(missing)", b.s.DeleteIntegration(ctx, "int_none"), store.ErrNotFound, false)
		wantIs("DeleteAPIToken(missing)", b.s.DeleteAPIToken(ctx, "tok_none"), store.ErrNotFound, false)
		wantIs("DeleteUISession(missing)", b.s.DeleteUISession(ctx, "ses_none"), store.ErrNotFound, false)

		// A duplicate key.
		err = b.s.CreateWorkspace(ctx, store.Workspace{ID: w.ID, Name: "other", CreatedAt: at})
		wantIs("CreateWorkspace(taken id)", err, store.ErrConflict, true)
		err = b.s.CreateWorkspace(ctx, store.Workspace{ID: "ws_other", Name: w.Name, CreatedAt: at})
		wantIs("CreateWorkspace(taken name)", err, store.ErrConflict, true)
		dup := newIntegration(w.ID, "int_dup")
		dup.Name = "name-int_err"
		wantIs("CreateIntegration(taken name)", b.s.CreateIntegration(ctx, dup), store.ErrConflict, true)

		// A foreign key to a missing row.
		wantIs("CreateIntegration(unknown workspace)", b.s.CreateIntegration(ctx, newIntegration("ws_none", "int_orphan")),
			store.ErrNotFound, true)

		// A taken hash, whose error must not echo the hash.
		st := store.OAuthState{Hash: []byte("secret-state-hash"), IntegrationID: "int_err", WorkspaceID: w.ID,
			CreatedAt: at, ExpiresAt: at.Add(time.Hour)}
		if err := b.s.CreateOAuthState(ctx, st); err != nil {
			t.Fatal(err)
		}
		err = b.s.CreateOAuthState(ctx, st)
		wantIs("CreateOAuthState(taken hash)", err, store.ErrConflict, true)
		if err != nil && (strings.Contains(err.Error(), string(st.Hash)) || strings.Contains(err.Error(), hex.EncodeToString(st.Hash))) {
			t.Errorf("CreateOAuthState error echoes the hash: %v", err)
		}

		// Compare-and-swap of the keyring.
		if err := b.s.PutKeyring(ctx, nil, []byte("k1")); err != nil {
			t.Fatal(err)
		}
		wantIs("PutKeyring(none, but there is one)", b.s.PutKeyring(ctx, nil, []byte("k2")), store.ErrConflict, false)
		wantIs("PutKeyring(stale prev)", b.s.PutKeyring(ctx, []byte("k0"), []byte("k2")), store.ErrConflict, false)
		if err := b.s.PutKeyring(ctx, []byte("k1"), []byte("k2")); err != nil {
			t.Fatal(err)
		}
		if got, err := b.s.Keyring(ctx); err != nil || string(got) != "k2" {
			t.Errorf("Keyring = %q, %v; want k2", got, err)
		}
	})
}

// TestUpdateConnectLinkErrors: a missing link is ErrNotFound without
// calling fn, and fn's own error comes back as it is, not wrapped, with
// nothing written.
func TestUpdateConnectLinkErrors(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		w := workspace(t, b, "ws_upd")
		l := connectLink(t, b, w.ID, "cnl_upd", at.Add(time.Hour))

		called := false
		_, err := b.s.UpdateConnectLink(ctx, "cnl_none", func(l store.ConnectLink) (store.ConnectLink, error) {
			called = true
			return l, nil
		})
		if !errors.Is(err, store.ErrNotFound) || called {
			t.Errorf("UpdateConnectLink(missing) = %v, fn called %v; want ErrNotFound, not called", err, called)
		}

		refused := errors.New("refused")
		_, err = b.s.UpdateConnectLink(ctx, l.ID, func(l store.ConnectLink) (store.ConnectLink, error) {
			l.Name = "changed"
			return l, refused
		})
		if err != refused {
			t.Errorf("UpdateConnectLink(fn fails) = %v, want fn's error as it is", err)
		}
		got, err := b.s.GetConnectLink(ctx, l.ID)
		if err != nil || got.Name != l.Name || got.Revision != 1 {
			t.Errorf("after a failed fn: %+v, %v; want the link unchanged at revision 1", got, err)
		}

		got, err = b.s.UpdateConnectLink(ctx, l.ID, func(l store.ConnectLink) (store.ConnectLink, error) {
			l.Name = "changed"
			return l, nil
		})
		if err != nil || got.Name != "changed" || got.Revision != 2 {
			t.Errorf("UpdateConnectLink = %+v, %v; want the new name at revision 2", got, err)
		}
	})
}

// TestInsertOrder: the listings "in creation order" follow
// Dialect.InsertOrder, not ids or timestamps, which are equal here.
func TestInsertOrder(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		order := []string{"c", "a", "d", "b"}
		var wsIDs, inIDs, whIDs []string
		for _, x := range order {
			wsIDs = append(wsIDs, workspace(t, b, "ws_"+x).ID)
		}
		// Integrations and webhooks alternate between two workspaces.
		for i, x := range order {
			ws := wsIDs[i%2]
			inIDs = append(inIDs, integration(t, b, ws, "int_"+x).ID)
			wh, err := b.s.CreateWebhook(ctx, store.Webhook{ID: "wh_" + x, WorkspaceID: ws, URL: "https://example.test/" + x, Secret: []byte("sealed"), CreatedAt: at})
			if err != nil {
				t.Fatal(err)
			}
			whIDs = append(whIDs, wh.ID)
		}
		ws, err := b.s.ListWorkspaces(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := equalIDs(ids(ws, func(w store.Workspace) string { return w.ID }), wsIDs); err != nil {
			t.Errorf("ListWorkspaces: %v", err)
		}
		inID := func(in store.Integration) string { return in.ID }
		whID := func(w store.Webhook) string { return w.ID }
		for _, filter := range []struct {
			workspace string
			in, wh    []string
		}{
			{"", inIDs, whIDs},
			{wsIDs[0], []string{inIDs[0], inIDs[2]}, []string{whIDs[0], whIDs[2]}},
			{wsIDs[1], []string{inIDs[1], inIDs[3]}, []string{whIDs[1], whIDs[3]}},
		} {
			ins, err := b.s.ListIntegrations(ctx, filter.workspace)
			if err != nil {
				t.Fatal(err)
			}
			if err := equalIDs(ids(ins, inID), filter.in); err != nil {
				t.Errorf("ListIntegrations(%q): %v", filter.workspace, err)
			}
			whs, err := b.s.ListWebhooks(ctx, filter.workspace)
			if err != nil {
				t.Fatal(err)
			}
			if err := equalIDs(ids(whs, whID), filter.wh); err != nil {
				t.Errorf("ListWebhooks(%q): %v", filter.workspace, err)
			}
		}
	})
}

// TestRecordRoundTrip: every field sqldb writes positionally comes back
// in its own field through Dialect.Scan, each time distinct so that two
// swapped arguments show, and empty optional ids (NULL) as "".
func TestRecordRoundTrip(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC) // kept exactly: whole microseconds, UTC
		tn := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Second) }
		w := workspace(t, b, "ws_rt")

		in := store.Integration{ID: "int_rt", WorkspaceID: w.ID, Name: "n", Provider: "p", AuthMethod: "oauth2",
			Config: []byte(`{"a":1}`), SecretConfig: []byte("sealed"), Status: "active", StatusReason: "why",
			CreatedAt: tn(1), UpdatedAt: tn(2), LastVerifiedAt: tn(3), LastUsedAt: tn(4)}
		if err := b.s.CreateIntegration(ctx, in); err != nil {
			t.Fatal(err)
		}
		in.Revision = 1
		gotIn, err := b.s.GetIntegration(ctx, in.ID)
		if err != nil || !reflect.DeepEqual(gotIn, in) {
			t.Errorf("integration:\n got %+v, %v\nwant %+v", gotIn, err, in)
		}

		tok := store.APIToken{ID: "tok_rt", Name: "n", WorkspaceID: w.ID, Role: "admin", Hash: []byte("tok-hash"), CreatedAt: tn(5)}
		if err := b.s.CreateAPIToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if err := b.s.TouchAPIToken(ctx, tok.ID, tn(6)); err != nil {
			t.Fatal(err)
		}
		tok.LastUsedAt = tn(6)
		gotTok, err := b.s.GetAPITokenByHash(ctx, tok.Hash)
		if err != nil || !reflect.DeepEqual(gotTok, tok) {
			t.Errorf("api token:\n got %+v, %v\nwant %+v", gotTok, err, tok)
		}

		for _, l := range []store.ConnectLink{
			{ID: "cnl_rt1", WorkspaceID: w.ID, IntegrationID: in.ID, Name: "n", Hash: []byte("link-hash-1"),
				ReturnURL: "https://example.test/back", CreatedBy: tok.ID, CreatedAt: tn(7), ExpiresAt: tn(8),
				UsedAt: tn(9), DeletedAt: tn(10), LockedAt: tn(11), Failures: 3, ClaimedUntil: tn(12), LastError: "e"},
			{ID: "cnl_rt2", WorkspaceID: w.ID, Providers: []string{"github", "slack"}, Name: "m", Hash: []byte("link-hash-2"),
				CreatedBy: tok.ID, CreatedAt: tn(13), ExpiresAt: tn(14)},
		} {
			if err := b.s.CreateConnectLink(ctx, l); err != nil {
				t.Fatal(err)
			}
			l.Revision = 1
			got, err := b.s.GetConnectLinkByHash(ctx, l.Hash)
			if err != nil || !reflect.DeepEqual(got, l) {
				t.Errorf("connect link:\n got %+v, %v\nwant %+v", got, err, l)
			}
		}
	})
}
