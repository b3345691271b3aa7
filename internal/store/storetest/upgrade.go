package storetest

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/apps"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/vault"
)

// Legacy is the oauth_registrations row RegistrationUpgrade has a
// backend create at the schema before 0012 (workspace ws_1 exists).
type Legacy struct {
	ID, WorkspaceID, Issuer, RedirectURI, ClientID, AuthMethod string
	Secret                                                     []byte // sealed as the old table did
	CreatedAt, ExpiresAt                                       time.Time
}

// memKeyring keeps a vault's keyring until the store exists.
type memKeyring struct {
	mu  sync.Mutex
	raw []byte
}

func (m *memKeyring) Keyring(context.Context) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.raw == nil {
		return nil, store.ErrNotFound
	}
	return m.raw, nil
}

func (m *memKeyring) PutKeyring(_ context.Context, prev, next []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if string(prev) != string(m.raw) {
		return store.ErrConflict
	}
	m.raw = next
	return nil
}

// RegistrationUpgrade checks migration 0012 end to end on a backend:
// build creates a database at the schema before 0012 holding g in
// oauth_registrations, opens it (migrating it) and returns the store.
// The registration is then an app of origin registered with its issuer
// and redirect URI; once apps.ConvertRegistrations ran (twice: it is
// idempotent) its client secret is the app's only secret version and its
// registration access token is sealed with the app.
func RegistrationUpgrade(t *testing.T, build func(t *testing.T, g Legacy) store.Store) {
	ctx := t.Context()
	ks := &memKeyring{}
	v := vault.OpenTest(t, ks)
	const clientSecret, token = "legacy-dcr-client-secret-91", "legacy-dcr-registration-token-37"
	g := Legacy{ID: "reg_0123456789abcdef", WorkspaceID: "ws_1", Issuer: "https://as.example.com/tenant",
		RedirectURI: "https://storm.example.com/oauth/callback", ClientID: "dcr-legacy-1", AuthMethod: "client_secret_basic",
		CreatedAt: t0, ExpiresAt: time.Now().Add(24 * time.Hour).Truncate(time.Second)}
	pt, _ := json.Marshal(map[string]string{"client_secret": clientSecret, "registration_access_token": token})
	var err error
	if g.Secret, err = v.Seal(pt, vault.LegacyRegistrationAD(g.WorkspaceID, g.ID)); err != nil {
		t.Fatal(err)
	}
	s := build(t, g)
	must(t, s.PutKeyring(ctx, nil, ks.raw), "copy the keyring into the store")
	v = vault.OpenTest(t, s)

	a, err := s.GetRegisteredApp(ctx, g.WorkspaceID, g.Issuer, g.RedirectURI)
	must(t, err, "GetRegisteredApp of the moved registration")
	if a.ID != "app_0123456789abcdef" || a.Origin != store.AppOriginRegistered || a.Provider != "mcp" || a.AuthMethod != "oauth2" ||
		a.CreatedAt.Sub(g.CreatedAt).Abs() > time.Millisecond || a.Integrations != 0 || !strings.Contains(a.Name, "as.example.com") {
		t.Fatalf("moved registration = %+v", a)
	}
	if apps.RegistrationUsable(a, time.Now()) {
		t.Fatal("a moved registration is usable before its secrets are converted")
	}
	for range 2 {
		if _, err := apps.ConvertRegistrations(ctx, s, v, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	a, err = s.GetApp(ctx, a.ID)
	must(t, err, "GetApp")
	reg, err := apps.Registration(a)
	if err != nil || !apps.RegistrationUsable(a, time.Now()) || reg.ClientID != g.ClientID || reg.TokenEndpointAuthMethod != g.AuthMethod ||
		!reg.ClientSecretExpiresAt.Equal(g.ExpiresAt) {
		t.Fatalf("converted registration %s: %v, %v", a.Config, reg, err)
	}
	xs, err := s.ListAppSecrets(ctx, a.ID)
	must(t, err, "ListAppSecrets")
	if len(xs) != 1 || xs[0].State != store.StateActive {
		t.Fatalf("secrets of the converted registration: %+v", xs)
	}
	if got, err := v.Open(xs[0].Secret, vault.AppSecretAD(xs[0])); err != nil || string(got) != clientSecret {
		t.Fatalf("the converted client secret does not open as the app's: %v", err)
	}
	if got, err := v.Open(a.SecretConfig, vault.AppConfigAD(a)); err != nil || !strings.Contains(string(got), token) || strings.Contains(string(got), clientSecret) {
		t.Fatalf("the converted registration token: %v", err)
	}
	if strings.Contains(string(a.Config), clientSecret) || strings.Contains(string(a.Config), token) || strings.Contains(string(a.Config), "legacy_registration") {
		t.Fatalf("converted config %s", a.Config)
	}
}
