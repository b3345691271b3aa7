package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

func app(workspaceID, name string) store.App {
	return store.App{
		ID: store.NewID("app"), WorkspaceID: workspaceID, Name: name, Provider: "github", AuthMethod: "oauth2",
		Config: []byte(`{"client_id":"Iv1.abc"}`), Origin: store.AppOriginManual, CreatedAt: t0, UpdatedAt: t0,
	}
}

func appSecret(version int, state string, secret string) store.AppSecret {
	return store.AppSecret{ID: store.NewID("asec"), Version: version, State: state, Hint: fmt.Sprintf("…%d", version),
		Fingerprint: fmt.Sprintf("fp%d", version), Secret: []byte(secret), CreatedAt: t0}
}

func newApp(t *testing.T, s store.Store, workspaceID, name string) store.App {
	t.Helper()
	a := app(workspaceID, name)
	must(t, s.CreateApp(t.Context(), a, []store.AppSecret{appSecret(1, store.StateActive, "sealed-1")}), "CreateApp")
	got, err := s.GetApp(t.Context(), a.ID)
	must(t, err, "GetApp")
	return got
}

// appIntegration creates an integration that uses app a.
func appIntegration(t *testing.T, s store.Store, a store.App, name string) store.Integration {
	t.Helper()
	in := integration(a.WorkspaceID, name)
	in.AuthMethod, in.AppID = "oauth2", a.ID
	must(t, s.CreateIntegration(t.Context(), in), "CreateIntegration with an app")
	got, err := s.GetIntegration(t.Context(), in.ID)
	must(t, err, "GetIntegration")
	return got
}

func testApps(t *testing.T, s store.Store) {
	ctx := t.Context()
	wsA, wsB := newWorkspace(t, s, "a"), newWorkspace(t, s, "b")
	a := app(wsA.ID, "GitHub app")
	a.SecretConfig = []byte("sealed-config")
	secrets := []store.AppSecret{appSecret(1, store.StateActive, "sealed-1")}
	must(t, s.CreateApp(ctx, a, secrets), "CreateApp")
	got, err := s.GetApp(ctx, a.ID)
	must(t, err, "GetApp")
	want := a
	want.Revision = 1
	wantEqual(t, got, want, "GetApp")

	// Names are unique per workspace; ids everywhere.
	wantErr(t, s.CreateApp(ctx, app(wsA.ID, "GitHub app"), nil), store.ErrConflict, "CreateApp with a taken name")
	dup := app(wsB.ID, "other")
	dup.ID = a.ID
	wantErr(t, s.CreateApp(ctx, dup, nil), store.ErrConflict, "CreateApp with a taken id")
	wantErr(t, s.CreateApp(ctx, app("ws_missing", "x"), nil), store.ErrNotFound, "CreateApp in an unknown workspace")
	if _, err := s.GetApp(ctx, a.ID); err != nil {
		t.Fatalf("a failed create changed the existing app: %v", err)
	}
	// A failed create stores none of its secrets either.
	bad := app(wsA.ID, "two actives")
	err = s.CreateApp(ctx, bad, []store.AppSecret{appSecret(1, store.StateActive, "x"), appSecret(2, store.StateActive, "y")})
	wantErr(t, err, store.ErrConflict, "CreateApp with two active secrets")
	_, err = s.GetApp(ctx, bad.ID)
	wantErr(t, err, store.ErrNotFound, "GetApp after a failed create")

	xs, err := s.ListAppSecrets(ctx, a.ID)
	must(t, err, "ListAppSecrets")
	if len(xs) != 1 || xs[0].AppID != a.ID || xs[0].WorkspaceID != wsA.ID || string(xs[0].Secret) != "sealed-1" || xs[0].Revision != 1 {
		t.Fatalf("secrets = %+v", xs)
	}

	// Pages in id order, per workspace or all.
	var ids []string
	ids = append(ids, a.ID)
	for i := range 4 {
		ids = append(ids, newApp(t, s, wsA.ID, fmt.Sprintf("app %d", i)).ID)
	}
	other := newApp(t, s, wsB.ID, "b's app")
	page, err := s.ListApps(ctx, store.AppPage{WorkspaceID: wsA.ID, Limit: 3})
	must(t, err, "ListApps")
	rest, err := s.ListApps(ctx, store.AppPage{WorkspaceID: wsA.ID, After: page[len(page)-1].ID})
	must(t, err, "ListApps after")
	seen := append(page, rest...)
	if len(page) != 3 || len(seen) != 5 {
		t.Fatalf("pages of %d and %d apps, want 3 and 2", len(page), len(rest))
	}
	for i := 1; i < len(seen); i++ {
		if seen[i-1].ID >= seen[i].ID {
			t.Fatalf("apps not in id order: %s then %s", seen[i-1].ID, seen[i].ID)
		}
	}
	for _, x := range seen {
		if x.WorkspaceID != wsA.ID {
			t.Fatalf("workspace a's page holds %s of %s", x.ID, x.WorkspaceID)
		}
	}
	all, err := s.ListApps(ctx, store.AppPage{})
	must(t, err, "ListApps of every workspace")
	if len(all) != 6 {
		t.Fatalf("%d apps in all, want 6", len(all))
	}
	// A cursor naming a deleted app still works: it is only an id.
	must(t, s.DeleteApp(ctx, other.ID), "DeleteApp")
	if _, err := s.ListApps(ctx, store.AppPage{After: other.ID}); err != nil {
		t.Fatalf("ListApps after a deleted id: %v", err)
	}
}

func testAppIntegrations(t *testing.T, s store.Store) {
	ctx := t.Context()
	ws := newWorkspace(t, s, "a")
	a := newApp(t, s, ws.ID, "app")
	if a.Integrations != 0 {
		t.Fatalf("new app counts %d integrations", a.Integrations)
	}
	in1 := appIntegration(t, s, a, "one")
	if in1.AppID != a.ID {
		t.Fatalf("integration's app = %q, want %q", in1.AppID, a.ID)
	}
	plain := newIntegration(t, s, ws.ID, "own client")
	if plain.AppID != "" {
		t.Fatalf("an integration without an app reads app %q", plain.AppID)
	}
	// Adopting: an update sets the app; the count follows.
	_, err := s.Mutate(ctx, plain.ID, func(set *store.CredentialSet) error {
		set.Integration.AppID = a.ID
		return nil
	})
	must(t, err, "Mutate setting the app")
	got, err := s.GetApp(ctx, a.ID)
	must(t, err, "GetApp")
	if got.Integrations != 2 {
		t.Fatalf("app counts %d integrations, want 2", got.Integrations)
	}
	list, err := s.ListAppIntegrations(ctx, a.ID)
	must(t, err, "ListAppIntegrations")
	if len(list) != 2 || list[0].ID != in1.ID || list[1].ID != plain.ID {
		t.Fatalf("app integrations = %v", list)
	}
	page, err := s.ListApps(ctx, store.AppPage{WorkspaceID: ws.ID})
	must(t, err, "ListApps")
	if len(page) != 1 || page[0].Integrations != 2 {
		t.Fatalf("listed app = %+v", page)
	}

	// An unknown app is refused, on create and on update.
	bad := integration(ws.ID, "unknown app")
	bad.AppID = "app_missing"
	wantErr(t, s.CreateIntegration(ctx, bad), store.ErrNotFound, "CreateIntegration with an unknown app")
	_, err = s.UpdateIntegration(ctx, in1.ID, func(in store.Integration) (store.Integration, error) {
		in.AppID = "app_missing"
		return in, nil
	})
	wantErr(t, err, store.ErrNotFound, "UpdateIntegration to an unknown app")

	// Deleting an app in use is a conflict and changes nothing.
	wantErr(t, s.DeleteApp(ctx, a.ID), store.ErrConflict, "DeleteApp while used")
	if xs, err := s.ListAppSecrets(ctx, a.ID); err != nil || len(xs) != 1 {
		t.Fatalf("secrets after a refused delete: %v %v", xs, err)
	}
	must(t, s.DeleteIntegration(ctx, in1.ID), "DeleteIntegration")
	_, err = s.UpdateIntegration(ctx, plain.ID, func(in store.Integration) (store.Integration, error) {
		in.AppID = ""
		return in, nil
	})
	must(t, err, "UpdateIntegration clearing the app")
	must(t, s.DeleteApp(ctx, a.ID), "DeleteApp once unused")
	_, err = s.GetApp(ctx, a.ID)
	wantErr(t, err, store.ErrNotFound, "GetApp after delete")
	if xs, err := s.ListAppSecrets(ctx, a.ID); err != nil || len(xs) != 0 {
		t.Fatalf("secrets outlived their app: %v %v", xs, err)
	}
	wantErr(t, s.DeleteApp(ctx, a.ID), store.ErrNotFound, "DeleteApp twice")
}

func testUpdateApp(t *testing.T, s store.Store) {
	ctx := t.Context()
	ws := newWorkspace(t, s, "a")
	a := newApp(t, s, ws.ID, "app")

	// Rotation: a second secret becomes active, the first previous; an
	// event commits with it.
	ch, err := s.UpdateApp(ctx, a.ID, func(ch *store.AppChange) error {
		ch.Secrets[0].State = store.StatePrevious
		ch.Secrets = append(ch.Secrets, appSecret(2, store.StateActive, "sealed-2"))
		ch.App.UpdatedAt = t1
		ch.App.Config = []byte(`{"client_id":"Iv1.abc","scopes":["repo"]}`)
		ch.Events = append(ch.Events, store.Event{ID: store.NewID("evt"), Type: "app.secret_added", At: t1, Data: []byte(`{}`)})
		return nil
	})
	must(t, err, "UpdateApp")
	if ch.App.Revision != a.Revision+1 || string(ch.App.Config) != `{"client_id":"Iv1.abc","scopes":["repo"]}` {
		t.Fatalf("updated app = %+v", ch.App)
	}
	if len(ch.Secrets) != 2 || ch.Secrets[0].State != store.StatePrevious || ch.Secrets[1].State != store.StateActive ||
		ch.Secrets[1].AppID != a.ID || ch.Secrets[1].WorkspaceID != ws.ID || ch.Secrets[1].ID == "" {
		t.Fatalf("secrets = %+v", ch.Secrets)
	}
	if len(ch.Events) != 1 || ch.Events[0].WorkspaceID != ws.ID {
		t.Fatalf("events = %+v", ch.Events)
	}
	evs, err := s.ListEvents(ctx, store.Page{WorkspaceID: ws.ID})
	must(t, err, "ListEvents")
	if len(evs) != 1 || evs[0].Type != "app.secret_added" {
		t.Fatalf("logged events = %+v", evs)
	}

	// A failing function stores nothing.
	_, err = s.UpdateApp(ctx, a.ID, func(ch *store.AppChange) error {
		ch.Secrets[1].State = store.StateRevoked
		ch.App.Name = "renamed"
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("UpdateApp returned %v, want the function's error", err)
	}
	cur, err := s.GetApp(ctx, a.ID)
	must(t, err, "GetApp")
	if cur.Name != "app" || cur.Revision != ch.App.Revision {
		t.Fatalf("a failed update changed the app: %+v", cur)
	}

	// Two active secrets never commit, and nothing else of that change.
	_, err = s.UpdateApp(ctx, a.ID, func(ch *store.AppChange) error {
		ch.App.Name = "renamed"
		ch.Secrets[0].State = store.StateActive
		return nil
	})
	wantErr(t, err, store.ErrConflict, "UpdateApp with two active secrets")
	if cur, _ := s.GetApp(ctx, a.ID); cur.Name != "app" {
		t.Fatalf("a refused update renamed the app")
	}
	// A name taken in the workspace is a conflict.
	newApp(t, s, ws.ID, "taken")
	_, err = s.UpdateApp(ctx, a.ID, func(ch *store.AppChange) error { ch.App.Name = "taken"; return nil })
	wantErr(t, err, store.ErrConflict, "UpdateApp to a taken name")
	_, err = s.UpdateApp(ctx, "app_missing", func(ch *store.AppChange) error { return nil })
	wantErr(t, err, store.ErrNotFound, "UpdateApp of an unknown app")

	// Promoting the previous secret while the active one is revoked (a
	// rollback) writes the demotion first.
	ch, err = s.UpdateApp(ctx, a.ID, func(ch *store.AppChange) error {
		ch.Secrets[1].State, ch.Secrets[1].Secret, ch.Secrets[1].RevokedAt = store.StateRevoked, nil, t2
		ch.Secrets[0].State = store.StateActive
		return nil
	})
	must(t, err, "UpdateApp rollback")
	if ch.Secrets[0].State != store.StateActive || ch.Secrets[1].State != store.StateRevoked || ch.Secrets[1].Secret != nil ||
		!ch.Secrets[1].RevokedAt.Equal(t2.Truncate(1000)) {
		t.Fatalf("after rollback: %+v", ch.Secrets)
	}
}

func testTouchAppSecret(t *testing.T, s store.Store) {
	ctx := t.Context()
	ws := newWorkspace(t, s, "a")
	a := newApp(t, s, ws.ID, "app")
	xs, err := s.ListAppSecrets(ctx, a.ID)
	must(t, err, "ListAppSecrets")
	id := xs[0].ID
	must(t, s.TouchAppSecret(ctx, id, t1, time.Time{}), "TouchAppSecret used")
	must(t, s.TouchAppSecret(ctx, id, t0, t0), "TouchAppSecret older use, a rejection")
	xs, _ = s.ListAppSecrets(ctx, a.ID)
	wantEqual(t, xs[0].LastUsedAt, t1, "last_used_at (never moves back)")
	wantEqual(t, xs[0].LastRejectedAt, t0, "last_rejected_at")
	if xs[0].Revision != 1 {
		t.Errorf("a touch changed the revision to %d", xs[0].Revision)
	}
	// An update made from a read before the touch does not undo it.
	must(t, s.TouchAppSecret(ctx, id, t2, time.Time{}), "TouchAppSecret")
	_, err = s.UpdateApp(ctx, a.ID, func(ch *store.AppChange) error {
		ch.Secrets[0].LastUsedAt = t1              // as read before the touch
		ch.Secrets[0].LastRejectedAt = time.Time{} // as read before the rejection
		ch.Secrets[0].Hint = "changed"
		return nil
	})
	must(t, err, "UpdateApp")
	xs, _ = s.ListAppSecrets(ctx, a.ID)
	wantEqual(t, xs[0].LastUsedAt, t2, "last_used_at after an update")
	wantEqual(t, xs[0].LastRejectedAt, t0, "last_rejected_at after an update and a touch without one")
	wantErr(t, s.TouchAppSecret(ctx, "asec_missing", t0, time.Time{}), store.ErrNotFound, "TouchAppSecret of an unknown secret")

	// The scan visits every app's secrets in id order.
	b := newApp(t, s, ws.ID, "b")
	_ = b
	var got []store.AppSecret
	for after := ""; ; {
		page, err := s.ScanAppSecrets(ctx, after, 1)
		must(t, err, "ScanAppSecrets")
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		after = page[len(page)-1].ID
	}
	if len(got) != 2 || got[0].ID >= got[1].ID {
		t.Fatalf("scan = %+v", got)
	}
}

// runAppConcurrency checks that deleting an app and creating
// integrations that use it never leaves an integration pointing at no
// app, and that concurrent app updates are serialised.
func runAppConcurrency(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("DeleteAppWhileUsed", func(t *testing.T) {
		s := newStore(t)
		ws := newWorkspace(t, s, "a")
		for round := range 10 {
			a := newApp(t, s, ws.ID, fmt.Sprintf("app %d", round))
			var wg sync.WaitGroup
			var created atomic.Int32
			var deleted atomic.Bool
			for i := range 4 {
				wg.Go(func() {
					in := integration(ws.ID, fmt.Sprintf("r%d-%d", round, i))
					in.AppID = a.ID
					switch err := s.CreateIntegration(t.Context(), in); {
					case err == nil:
						created.Add(1)
					case errors.Is(err, store.ErrNotFound): // the app was deleted first
					default:
						t.Errorf("CreateIntegration: %v", err)
					}
				})
			}
			wg.Go(func() {
				switch err := s.DeleteApp(t.Context(), a.ID); {
				case err == nil:
					deleted.Store(true)
				case errors.Is(err, store.ErrConflict):
				default:
					t.Errorf("DeleteApp: %v", err)
				}
			})
			wg.Wait()
			if deleted.Load() && created.Load() > 0 {
				t.Fatalf("round %d: the app was deleted and %d integrations were created with it", round, created.Load())
			}
			list, err := s.ListIntegrations(t.Context(), ws.ID)
			must(t, err, "ListIntegrations")
			for _, in := range list {
				if in.AppID == "" {
					continue
				}
				if _, err := s.GetApp(t.Context(), in.AppID); err != nil {
					t.Fatalf("integration %s uses app %s: %v", in.ID, in.AppID, err)
				}
			}
		}
	})
	t.Run("UpdateApp", func(t *testing.T) {
		s := newStore(t)
		ws := newWorkspace(t, s, "a")
		a := newApp(t, s, ws.ID, "app")
		const workers, rounds = 16, 5
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range rounds {
					_, err := s.UpdateApp(t.Context(), a.ID, func(ch *store.AppChange) error {
						ch.Secrets[0].Version++
						return nil
					})
					if err != nil {
						t.Errorf("UpdateApp: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		xs, err := s.ListAppSecrets(t.Context(), a.ID)
		must(t, err, "ListAppSecrets")
		if xs[0].Version != 1+workers*rounds {
			t.Errorf("version = %d, want %d: updates were lost", xs[0].Version, 1+workers*rounds)
		}
	})
}
