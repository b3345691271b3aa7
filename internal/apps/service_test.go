package apps_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/apps"
	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/oauth"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/secret"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/vault"
)

// noIntegrations stands in for the credential service: Register touches
// no integration.
type noIntegrations struct{}

func (noIntegrations) OwnClientSecret(context.Context, store.Integration) (secret.String, error) {
	return "", nil
}
func (noIntegrations) AdoptIntoApp(context.Context, events.Actor, string, store.App) error {
	return nil
}
func (noIntegrations) SyncApp(context.Context, events.Actor, string, store.App) error { return nil }

// TestRegisteredClientIsAnApp: a client Storm registered itself (RFC
// 7591, as for a remote MCP server) becomes an app of origin
// "registered" with its issuer and redirect URI: its secret the first
// version, its registration access token sealed with the app and bound
// to it, neither in the stored config.
func TestRegisteredClientIsAnApp(t *testing.T) {
	f := newFixture(t, "unused-secret-01")
	ctx := context.Background()
	ws, _ := f.st.GetWorkspace(ctx, "default")
	const clientSecret, token = "dcr-client-secret-7f1e", "dcr-registration-token-2b9c"
	const iss, redirect = "https://auth.mcp.example.com", "https://storm.example.com/oauth/callback"
	a, xs, err := apps.NewRegistered(f.v, ws.ID, "mcp", iss, redirect, oauth.Registration{ClientID: "dyn-123", ClientSecret: clientSecret,
		TokenEndpointAuthMethod: "client_secret_basic", RegistrationAccessToken: token,
		RegistrationClientURI: "https://auth.mcp.example.com/register/dyn-123"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.CreateApp(ctx, a, xs); err != nil {
		t.Fatal(err)
	}
	a, err = f.st.GetRegisteredApp(ctx, ws.ID, iss, redirect)
	if err != nil {
		t.Fatal(err)
	}
	if a.Origin != store.AppOriginRegistered || a.Issuer != iss || !strings.Contains(string(a.Config), `"client_id":"dyn-123"`) ||
		!apps.RegistrationUsable(a, time.Now()) {
		t.Fatalf("registered app = %+v %s", a, a.Config)
	}
	if strings.Contains(string(a.Config), clientSecret) || strings.Contains(string(a.Config), token) {
		t.Fatal("a secret is in the stored config")
	}
	pt, err := f.v.Open(a.SecretConfig, vault.AppConfigAD(a))
	if err != nil {
		t.Fatal(err)
	}
	var sc map[string]string
	json.Unmarshal(pt, &sc)
	if sc["registration_access_token"] != token || sc["registration_client_uri"] == "" || sc["client_secret"] != "" {
		t.Fatalf("sealed registration data = %v", sc)
	}
	moved := a
	moved.ID = f.app.ID
	if _, err := f.v.Open(a.SecretConfig, vault.AppConfigAD(moved)); err == nil {
		t.Fatal("the registration data opens for another app")
	}
	got, err := f.clients.Current(ctx, a.ID)
	if err != nil || got.Secret.Reveal() != clientSecret {
		t.Fatalf("the registered client's secret: %v", err)
	}
	reg, err := apps.Registration(a)
	if err != nil || reg.ClientID != "dyn-123" || reg.TokenEndpointAuthMethod != "client_secret_basic" {
		t.Fatalf("Registration = %v, %v", reg, err)
	}

	// Refused by its server: unusable until registered again, in place.
	if err := apps.MarkRefused(ctx, f.st, a.ID, "dyn-123", time.Now()); err != nil {
		t.Fatal(err)
	}
	a, _ = f.st.GetApp(ctx, a.ID)
	if apps.RegistrationUsable(a, time.Now()) {
		t.Fatal("a refused registration is still usable")
	}
	ch, err := f.st.UpdateApp(ctx, a.ID, func(ch *store.AppChange) error {
		return apps.Reregister(f.v, ch, oauth.Registration{ClientID: "dyn-456", ClientSecret: "dcr-client-secret-second"}, time.Now())
	})
	if err != nil {
		t.Fatal(err)
	}
	if !apps.RegistrationUsable(ch.App, time.Now()) || len(ch.Secrets) != 2 || ch.Secrets[0].State != store.StateRevoked || ch.Secrets[0].Secret != nil {
		t.Fatalf("re-registered = %s %+v", ch.App.Config, ch.Secrets)
	}
	if got, err := f.clients.Current(ctx, a.ID); err != nil || got.Secret.Reveal() != "dcr-client-secret-second" {
		t.Fatalf("the new client's secret: %v", err)
	}
}

// TestRegisteredAppIsManagedByStorm: a person cannot change a registered
// app's client, add or revoke its secrets, or adopt integrations into it
// (409); renaming is fine.
func TestRegisteredAppIsManagedByStorm(t *testing.T) {
	f := newFixture(t, "unused-secret-01")
	ctx := context.Background()
	rec := events.NewRecorder(f.st, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)), events.ReadsConfig{})
	svc, err := apps.New(apps.Config{Store: f.st, Vault: f.v, Catalog: loadCatalog(t), Recorder: rec, Clients: f.clients, Integrations: noIntegrations{}})
	if err != nil {
		t.Fatal(err)
	}
	ws, _ := f.st.GetWorkspace(ctx, "default")
	a, xs, err := apps.NewRegistered(f.v, ws.ID, "mcp", "https://as.example.com", "https://storm.example.com/oauth/callback",
		oauth.Registration{ClientID: "dyn-1", ClientSecret: "dcr-secret-1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.CreateApp(ctx, a, xs); err != nil {
		t.Fatal(err)
	}
	is409 := func(err error, what string) {
		t.Helper()
		if p, ok := problem.As(err); !ok || p.Status != 409 {
			t.Fatalf("%s: %v, want 409", what, err)
		}
	}
	_, err = svc.Update(ctx, events.System, a.ID, apps.UpdateInput{Config: map[string]any{"client_id": "mine"}})
	is409(err, "changing the client")
	_, err = svc.AddSecret(ctx, events.System, a.ID, "another-secret-1")
	is409(err, "adding a secret")
	_, err = svc.RevokeSecret(ctx, events.System, a.ID, xs[0].ID)
	is409(err, "revoking its secret")
	_, err = svc.Adopt(ctx, events.System, a, nil)
	is409(err, "adopting")
	name := "renamed"
	if got, err := svc.Update(ctx, events.System, a.ID, apps.UpdateInput{Name: &name}); err != nil || got.Name != name {
		t.Fatalf("rename: %v", err)
	}
}

// TestConvertRegistrationsResealsMovedRows: an app migration 0012 moved
// from oauth_registrations (secrets sealed as the old row, marker in its
// config) is re-sealed as the app's own once, idempotently; a row that
// cannot be opened stays unconverted and unusable.
func TestConvertRegistrationsResealsMovedRows(t *testing.T) {
	f := newFixture(t, "unused-secret-01")
	ctx := context.Background()
	ws, _ := f.st.GetWorkspace(ctx, "default")
	legacy := func(regID, cfg string, pt []byte) store.App {
		a := store.App{ID: "app_" + regID[4:], WorkspaceID: ws.ID, Name: regID, Provider: "mcp", AuthMethod: "oauth2",
			Origin: store.AppOriginRegistered, Issuer: "https://as.example.com/" + regID, RedirectURI: "https://storm.example.com/oauth/callback",
			Config: []byte(cfg), CreatedAt: time.Now(), UpdatedAt: time.Now()}
		if pt != nil {
			a.SecretConfig, _ = f.v.Seal(pt, vault.LegacyRegistrationAD(ws.ID, regID))
		}
		if err := f.st.CreateApp(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
		return a
	}
	good := legacy("reg_good", `{"client_id":"old-1","token_endpoint_auth_method":"client_secret_post","client_secret_expires_at":null,"legacy_registration":"reg_good"}`,
		[]byte(`{"client_secret":"legacy-client-secret","registration_access_token":"legacy-rat"}`))
	public := legacy("reg_publ", `{"client_id":"old-2","token_endpoint_auth_method":"none","legacy_registration":"reg_publ"}`, nil)
	bad := legacy("reg_badd", `{"client_id":"old-3","token_endpoint_auth_method":"none","legacy_registration":"reg_other"}`,
		[]byte(`{"client_secret":"x"}`))
	if apps.RegistrationUsable(good, time.Now()) {
		t.Fatal("an unconverted registration is usable")
	}
	n, err := apps.ConvertRegistrations(ctx, f.st, f.v, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil || n != 2 {
		t.Fatalf("ConvertRegistrations = %d, %v; want 2", n, err)
	}
	if n, err := apps.ConvertRegistrations(ctx, f.st, f.v, nil, nil); err != nil || n != 0 {
		t.Fatalf("second ConvertRegistrations = %d, %v; want 0", n, err)
	}
	got, _ := f.st.GetApp(ctx, good.ID)
	if !apps.RegistrationUsable(got, time.Now()) || strings.Contains(string(got.Config), "legacy") {
		t.Fatalf("converted config = %s", got.Config)
	}
	if c, err := f.clients.Current(ctx, good.ID); err != nil || c.Secret.Reveal() != "legacy-client-secret" {
		t.Fatalf("converted client secret: %v", err)
	}
	if xs, _ := f.st.ListAppSecrets(ctx, good.ID); len(xs) != 1 {
		t.Fatalf("secrets after two conversions = %d", len(xs))
	}
	pt, err := f.v.Open(got.SecretConfig, vault.AppConfigAD(got))
	if err != nil || !strings.Contains(string(pt), "legacy-rat") {
		t.Fatalf("converted registration token: %v", err)
	}
	if got, _ := f.st.GetApp(ctx, public.ID); !apps.RegistrationUsable(got, time.Now()) || got.SecretConfig != nil {
		t.Fatalf("converted public client = %s", got.Config)
	}
	if got, _ := f.st.GetApp(ctx, bad.ID); apps.RegistrationUsable(got, time.Now()) {
		t.Fatal("a registration whose secrets do not open became usable")
	}
}
