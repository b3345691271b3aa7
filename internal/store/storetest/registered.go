package storetest

import (
	"testing"

	"github.com/stormcreds/storm/internal/store"
)

// testRegisteredApps: a client Storm registered itself is an app found by
// workspace, issuer and redirect URI (all three); a second one for the
// same three is ErrConflict, while manual apps (no issuer) never collide;
// it is listed with the workspace's apps, and an integration that uses it
// makes its deletion ErrConflict.
func testRegisteredApps(t *testing.T, s store.Store) {
	ctx := t.Context()
	wsA, wsB := newWorkspace(t, s, "a"), newWorkspace(t, s, "b")
	const iss, redirect = "https://as.example.com/tenant", "https://storm.example.com/oauth/callback"
	registered := func(wsID, name, issuer, redirectURI string) store.App {
		a := app(wsID, name)
		a.Provider, a.Origin, a.Issuer, a.RedirectURI = "mcp", store.AppOriginRegistered, issuer, redirectURI
		a.Config = []byte(`{"client_id":"dyn-1","token_endpoint_auth_method":"none"}`)
		return a
	}
	a := registered(wsA.ID, "as.example.com (registered)", iss, redirect)
	must(t, s.CreateApp(ctx, a, nil), "CreateApp registered")
	got, err := s.GetRegisteredApp(ctx, wsA.ID, iss, redirect)
	must(t, err, "GetRegisteredApp")
	want := a
	want.Revision = 1
	wantEqual(t, got, want, "GetRegisteredApp")

	wantErr(t, s.CreateApp(ctx, registered(wsA.ID, "second", iss, redirect), nil), store.ErrConflict, "a second registration for the same issuer and redirect URI")
	must(t, s.CreateApp(ctx, registered(wsB.ID, "other workspace", iss, redirect), nil), "the same server in another workspace")
	must(t, s.CreateApp(ctx, registered(wsA.ID, "other redirect", iss, redirect+"2"), nil), "another redirect URI")
	must(t, s.CreateApp(ctx, app(wsA.ID, "manual 1"), nil), "manual app")
	must(t, s.CreateApp(ctx, app(wsA.ID, "manual 2"), nil), "manual apps have no issuer and never collide")
	for _, miss := range [][3]string{{wsA.ID, iss + "/x", redirect}, {wsA.ID, iss, redirect + "3"}, {"ws_none", iss, redirect}, {wsA.ID, "", ""}} {
		if _, err := s.GetRegisteredApp(ctx, miss[0], miss[1], miss[2]); err == nil {
			t.Fatalf("GetRegisteredApp%v found an app", miss)
		} else {
			wantErr(t, err, store.ErrNotFound, "GetRegisteredApp of an unknown registration")
		}
	}
	list, err := s.ListApps(ctx, store.AppPage{WorkspaceID: wsA.ID})
	must(t, err, "ListApps")
	found := false
	for _, x := range list {
		if x.ID == a.ID {
			found = x.Issuer == iss && x.RedirectURI == redirect && x.Origin == store.AppOriginRegistered
		} else if x.Origin == store.AppOriginManual && (x.Issuer != "" || x.RedirectURI != "") {
			t.Fatalf("manual app %s lists issuer %q", x.ID, x.Issuer)
		}
	}
	if !found {
		t.Fatalf("ListApps does not list the registered app with its issuer: %+v", list)
	}

	in := appIntegration(t, s, got, "mcp server")
	wantErr(t, s.DeleteApp(ctx, a.ID), store.ErrConflict, "DeleteApp of a registration in use")
	must(t, s.DeleteIntegration(ctx, in.ID), "DeleteIntegration")
	must(t, s.DeleteApp(ctx, a.ID), "DeleteApp of an unused registration")
	wantErr(t, func() error { _, err := s.GetRegisteredApp(ctx, wsA.ID, iss, redirect); return err }(), store.ErrNotFound, "GetRegisteredApp after delete")
}
