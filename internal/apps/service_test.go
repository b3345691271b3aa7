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

// TestRegisterStoresADynamicRegistrationAsAnApp: a client Storm
// registered itself (RFC 7591, as for a remote MCP server) becomes an app
// of origin "registered": its secret the first version, its registration
// access token sealed with the app and bound to it, neither in the
// stored config nor in the audit.
func TestRegisterStoresADynamicRegistrationAsAnApp(t *testing.T) {
	f := newFixture(t, "unused-secret-01")
	ctx := context.Background()
	rec := events.NewRecorder(f.st, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)), events.ReadsConfig{})
	svc, err := apps.New(apps.Config{Store: f.st, Vault: f.v, Catalog: loadCatalog(t), Recorder: rec, Clients: f.clients, Integrations: noIntegrations{}})
	if err != nil {
		t.Fatal(err)
	}
	ws, _ := f.st.GetWorkspace(ctx, "default")
	const clientSecret, token = "dcr-client-secret-7f1e", "dcr-registration-token-2b9c"
	a, err := svc.Register(ctx, ws, apps.RegisteredClient{Name: "mcp.example.com", Provider: "custom",
		Config: map[string]any{"issuer": "https://auth.mcp.example.com", "scopes": []any{"mcp"}},
		Registration: oauth.Registration{ClientID: "dyn-123", ClientSecret: clientSecret, RegistrationAccessToken: token,
			RegistrationClientURI: "https://auth.mcp.example.com/register/dyn-123"}})
	if err != nil {
		t.Fatal(err)
	}
	if a.Origin != store.AppOriginRegistered || !strings.Contains(string(a.Config), `"client_id":"dyn-123"`) {
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
	if sc["registration_access_token"] != token || sc["registration_client_uri"] == "" {
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
	audit, _ := f.st.ListAudit(ctx, store.Page{})
	for _, r := range audit {
		if strings.Contains(string(r.Detail), clientSecret) || strings.Contains(string(r.Detail), token) {
			t.Fatalf("audit holds a secret: %s", r.Detail)
		}
	}
	if len(audit) == 0 || audit[len(audit)-1].Action != "app.register" {
		t.Fatalf("audit = %+v", audit)
	}
}
