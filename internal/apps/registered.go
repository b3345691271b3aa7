package apps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/methods/apikey"
	"github.com/stormcreds/storm/internal/oauth"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/secret"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/vault"
)

// A client Storm registered itself (RFC 7591) at the authorization server
// of an OAuth-protected resource (a remote MCP server) is an app of origin
// "registered": store.App.Issuer and RedirectURI say where, its config
// holds the client id and what the server assigned, its client secret is
// the app's secret version, and the RFC 7592 registration access token
// and client URI are sealed in SecretConfig. Every integration of the
// workspace whose server names that issuer uses it (integrations.app_id),
// so it cannot be deleted while they do. creds registers and links;
// this file builds and reads the app.

// Config keys of a registered app.
const (
	keyAuthMethod = "token_endpoint_auth_method"
	// keyExpiresAt is when the client secret expires (unix seconds);
	// absent or null: never.
	keyExpiresAt = "client_secret_expires_at"
	// keyRefusedAt is when the authorization server refused the client
	// (invalid_client at a code exchange or refresh; unix seconds): the
	// next authorization registers again, into the same app.
	keyRefusedAt = "refused_at"
	// keyLegacy names the oauth_registrations row an app was moved from
	// by migration 0012 while its secrets still wait to be re-sealed.
	keyLegacy = "legacy_registration"
)

// registrationSecrets is what SecretConfig of a registered app holds (and,
// with the client secret, what an oauth_registrations row held).
type registrationSecrets struct {
	ClientSecret            string `json:"client_secret,omitempty"`
	RegistrationAccessToken string `json:"registration_access_token,omitempty"`
	RegistrationClientURI   string `json:"registration_client_uri,omitempty"`
}

// IsRegistered reports whether a is a client Storm registered itself.
func IsRegistered(a store.App) bool { return a.Origin == store.AppOriginRegistered }

// RegisteredName is the name a new registration at issuer gets; suffix
// (part of the app's id) keeps it unique when the plain name is taken.
func RegisteredName(issuer, suffix string) string {
	host := issuer
	if u, err := url.Parse(issuer); err == nil && u.Host != "" {
		host = u.Host + u.EscapedPath()
	}
	if len(host) > 150 {
		host = host[:150]
	}
	if suffix != "" {
		return host + " (registered " + suffix + ")"
	}
	return host + " (registered)"
}

// registeredConfig is the config of a registered app for reg.
func registeredConfig(reg oauth.Registration) []byte {
	cfg := map[string]any{keyClientID: reg.ClientID, keyAuthMethod: reg.TokenEndpointAuthMethod}
	if !reg.ClientSecretExpiresAt.IsZero() {
		cfg[keyExpiresAt] = reg.ClientSecretExpiresAt.Unix()
	}
	b, _ := json.Marshal(cfg)
	return b
}

// sealRegistration seals what RFC 7592 management needs into a's
// SecretConfig (nil when the server issued no registration token).
func sealRegistration(v *vault.Vault, a *store.App, rs registrationSecrets) error {
	a.SecretConfig = nil
	if rs.RegistrationAccessToken == "" {
		return nil
	}
	rs.ClientSecret = ""
	pt, _ := json.Marshal(rs)
	defer clear(pt)
	ct, err := v.Seal(pt, vault.AppConfigAD(*a))
	if err != nil {
		return err
	}
	a.SecretConfig = ct
	return nil
}

// sealedSecret is version version of app a's client secret, active.
func sealedSecret(v *vault.Vault, a store.App, version int, value secret.String, now time.Time) (store.AppSecret, error) {
	x := store.AppSecret{ID: store.NewID("asec"), AppID: a.ID, WorkspaceID: a.WorkspaceID, Version: version, State: store.StateActive,
		Hint: apikey.Hint(value), Fingerprint: v.Fingerprint([]byte(value.Reveal())), CreatedAt: now}
	ct, err := v.Seal([]byte(value.Reveal()), vault.AppSecretAD(x))
	if err != nil {
		return store.AppSecret{}, err
	}
	x.Secret = ct
	return x, nil
}

// NewRegistered builds the app (and its client secret, if the server
// issued one) for a client just registered at issuer for redirectURI in
// a workspace, for integrations of provider.
func NewRegistered(v *vault.Vault, workspaceID, provider, issuer, redirectURI string, reg oauth.Registration, now time.Time) (store.App, []store.AppSecret, error) {
	now = now.UTC()
	a := store.App{ID: store.NewID("app"), WorkspaceID: workspaceID, Name: RegisteredName(issuer, ""), Provider: provider,
		AuthMethod: catalog.MethodOAuth2, Origin: store.AppOriginRegistered, Issuer: issuer, RedirectURI: redirectURI,
		Config: registeredConfig(reg), CreatedAt: now, UpdatedAt: now}
	if err := sealRegistration(v, &a, registrationSecrets{RegistrationAccessToken: reg.RegistrationAccessToken.Reveal(),
		RegistrationClientURI: reg.RegistrationClientURI}); err != nil {
		return store.App{}, nil, err
	}
	if reg.ClientSecret == "" {
		return a, nil, nil
	}
	x, err := sealedSecret(v, a, 1, reg.ClientSecret, now)
	if err != nil {
		return store.App{}, nil, err
	}
	return a, []store.AppSecret{x}, nil
}

// Reregister replaces the client of registered app ch.App (its secret
// expired, or the server refused it) with reg, in place: the
// integrations that use the app keep using it. Older secrets are
// revoked (reason "reregistered").
func Reregister(v *vault.Vault, ch *store.AppChange, reg oauth.Registration, now time.Time) error {
	now = now.UTC()
	a := &ch.App
	a.Config, a.UpdatedAt = registeredConfig(reg), now
	if err := sealRegistration(v, a, registrationSecrets{RegistrationAccessToken: reg.RegistrationAccessToken.Reveal(),
		RegistrationClientURI: reg.RegistrationClientURI}); err != nil {
		return err
	}
	version := 1
	for i := range ch.Secrets {
		x := &ch.Secrets[i]
		version = max(version, x.Version+1)
		if x.State != store.StateRevoked {
			retire(ch, x, now, "reregistered")
		}
	}
	if reg.ClientSecret == "" {
		return nil
	}
	x, err := sealedSecret(v, *a, version, reg.ClientSecret, now)
	if err != nil {
		return err
	}
	ch.Secrets = append(ch.Secrets, x)
	return nil
}

// Registration reads a registered app's client as its integrations use
// it: the client id, the authentication method and expiry the server
// assigned. The client secret is not in it (apps.Clients hands it to
// each token request).
func Registration(a store.App) (oauth.Registration, error) {
	cfg, err := Decode(a.Config)
	if err != nil {
		return oauth.Registration{}, err
	}
	reg := oauth.Registration{ClientID: ClientID(catalog.MethodOAuth2, cfg), RedirectURIs: []string{a.RedirectURI}}
	reg.TokenEndpointAuthMethod, _ = cfg[keyAuthMethod].(string)
	if n, ok := cfg[keyExpiresAt].(float64); ok && n > 0 {
		reg.ClientSecretExpiresAt = time.Unix(int64(n), 0).UTC()
	}
	if reg.ClientID == "" {
		return oauth.Registration{}, fmt.Errorf("apps: registered app %s has no client id", a.ID)
	}
	return reg, nil
}

// RegistrationUsable reports whether a registered app's client can be
// used at now: converted from the old table, not expired and not refused
// by its server.
func RegistrationUsable(a store.App, now time.Time) bool {
	cfg, err := Decode(a.Config)
	if err != nil || cfg[keyLegacy] != nil || cfg[keyRefusedAt] != nil {
		return false
	}
	if n, ok := cfg[keyExpiresAt].(float64); ok && n > 0 && !now.Before(time.Unix(int64(n), 0)) {
		return false
	}
	return ClientID(catalog.MethodOAuth2, cfg) != ""
}

// MarkRefused records that the authorization server refused registered
// app id's client (clientID, so that a client registered meanwhile is
// not marked): the next authorization registers again.
func MarkRefused(ctx context.Context, st store.Store, id, clientID string, now time.Time) error {
	_, err := st.UpdateApp(ctx, id, func(ch *store.AppChange) error {
		cfg, err := Decode(ch.App.Config)
		if err != nil {
			return err
		}
		if !IsRegistered(ch.App) || ClientID(catalog.MethodOAuth2, cfg) != clientID || cfg[keyRefusedAt] != nil {
			return errSkip
		}
		cfg[keyRefusedAt] = now.Unix()
		ch.App.Config, _ = json.Marshal(cfg)
		ch.App.UpdatedAt = now.UTC()
		return nil
	})
	if errors.Is(err, errSkip) {
		return nil
	}
	return err
}

// ConvertRegistrations finishes migration 0012: the registrations it
// moved into apps still hold their secrets as the old table sealed them
// (bound to the old row, client secret and registration token together);
// each is re-sealed as the app's client secret version and SecretConfig,
// and its marker removed, in one transaction per app. It is idempotent
// and safe while other instances run it too. A registration whose
// secrets cannot be opened stays unconverted (logged): it is never used,
// and the next authorization of its server registers again into it.
func ConvertRegistrations(ctx context.Context, st store.Store, v *vault.Vault, logger *slog.Logger, now func() time.Time) (converted int, err error) {
	if logger == nil {
		logger = slog.Default()
	}
	if now == nil {
		now = time.Now
	}
	after := ""
	for {
		page, err := st.ListApps(ctx, store.AppPage{After: after, Limit: 500})
		if err != nil {
			return converted, err
		}
		for _, a := range page {
			if !IsRegistered(a) || !hasLegacy(a) {
				continue
			}
			ok, err := convertOne(ctx, st, v, a.ID, now().UTC())
			if err != nil {
				logger.Error("convert a dynamic client registration into its app", "app", a.ID, "err", err)
				continue
			}
			if ok {
				converted++
			}
		}
		if len(page) < 500 {
			return converted, nil
		}
		after = page[len(page)-1].ID
	}
}

// SecretConfigAD is where a's SecretConfig is bound: the app, or, for a
// registration migration 0012 moved that is not converted yet, its old
// row (so the key re-wrap job can re-seal it too).
func SecretConfigAD(a store.App) vault.AD {
	if cfg, err := Decode(a.Config); err == nil {
		if legacy, _ := cfg[keyLegacy].(string); legacy != "" {
			return vault.LegacyRegistrationAD(a.WorkspaceID, legacy)
		}
	}
	return vault.AppConfigAD(a)
}

func hasLegacy(a store.App) bool {
	cfg, err := Decode(a.Config)
	return err == nil && cfg[keyLegacy] != nil
}

func convertOne(ctx context.Context, st store.Store, v *vault.Vault, id string, now time.Time) (bool, error) {
	_, err := st.UpdateApp(ctx, id, func(ch *store.AppChange) error {
		cfg, err := Decode(ch.App.Config)
		if err != nil {
			return err
		}
		legacy, _ := cfg[keyLegacy].(string)
		if legacy == "" {
			return errSkip // another instance did it
		}
		var rs registrationSecrets
		if len(ch.App.SecretConfig) > 0 {
			pt, err := v.Open(ch.App.SecretConfig, vault.LegacyRegistrationAD(ch.App.WorkspaceID, legacy))
			if err != nil {
				return fmt.Errorf("open the registration's secrets: %w", err)
			}
			err = json.Unmarshal(pt, &rs)
			clear(pt)
			if err != nil {
				return errors.New("the registration's secrets are malformed")
			}
		}
		delete(cfg, keyLegacy)
		if n, ok := cfg[keyExpiresAt].(float64); ok && n <= 0 {
			delete(cfg, keyExpiresAt)
		}
		ch.App.Config, _ = json.Marshal(cfg)
		if err := sealRegistration(v, &ch.App, rs); err != nil {
			return err
		}
		if rs.ClientSecret != "" && len(unrevoked(ch.Secrets)) == 0 {
			x, err := sealedSecret(v, ch.App, len(ch.Secrets)+1, secret.String(rs.ClientSecret), now)
			if err != nil {
				return err
			}
			ch.Secrets = append(ch.Secrets, x)
		}
		return nil
	})
	if errors.Is(err, errSkip) || errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// errManaged refuses a change Storm makes itself to a registered app.
func errManaged(what string) error {
	return problem.New(http.StatusConflict, "this app is a client Storm registered itself at its authorization server: its %s cannot be changed (delete the app once no integration uses it; the next authorization registers again)", what)
}
