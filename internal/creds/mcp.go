package creds

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/oauth"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/secret"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/vault"
)

// OAuth-protected resources (remote MCP servers): from the server's URL
// alone, Storm finds its authorization server (RFC 9728, RFC 8414 / OIDC
// discovery), registers a client there when none is configured (RFC
// 7591; one registration per workspace and authorization server, sealed
// in oauth_registrations) and runs the usual flow with PKCE S256 and the
// resource indicator (RFC 8707).

// resourceTTL is how long a discovered resource's metadata is reused.
const resourceTTL = 10 * time.Minute

// ClientName is the client_name Storm registers under.
const ClientName = "Storm credentials"

// resourceCache keeps discovered protected-resource metadata by URL.
type resourceCache struct {
	mu      sync.Mutex
	entries map[string]resourceEntry
}

type resourceEntry struct {
	ra      *oauth.ResourceAuth
	fetched time.Time
}

// resourceAuth discovers how to obtain tokens for the resource at
// serverURL, reusing what was found in the last resourceTTL.
func (s *Service) resourceAuth(ctx context.Context, serverURL string) (*oauth.ResourceAuth, error) {
	now := s.now()
	s.resources.mu.Lock()
	if e, ok := s.resources.entries[serverURL]; ok && now.Sub(e.fetched) < resourceTTL {
		s.resources.mu.Unlock()
		return e.ra, nil
	}
	s.resources.mu.Unlock()
	ra, err := s.discovery.Resource(ctx, serverURL)
	if err != nil {
		return nil, err
	}
	s.resources.mu.Lock()
	if s.resources.entries == nil {
		s.resources.entries = map[string]resourceEntry{}
	}
	s.resources.entries[serverURL] = resourceEntry{ra, now}
	s.resources.mu.Unlock()
	return ra, nil
}

// discoveryProblem explains a failed discovery, naming base_url: the
// server publishes no usable metadata (422), or could not be reached
// (502). *oauth.Error texts hold no network detail.
func (s *Service) discoveryProblem(integ store.Integration, err error) error {
	s.logger.Warn("discover the protected resource", "integration", integ.ID, "err", err)
	var oe *oauth.Error
	if errors.As(err, &oe) && (oe.Temporary || oe.Status == 0 && oe.Err != nil) {
		return problem.New(http.StatusBadGateway, "discover the server's authorization server: %v", err)
	}
	p := problem.New(http.StatusUnprocessableEntity, "the server's OAuth metadata could not be used: %v", err)
	p.Errors = []problem.FieldError{{Field: "config.base_url", Message: "is not an OAuth-protected resource Storm can use (RFC 9728 metadata, RFC 8414 authorization server): " + err.Error()}}
	return p
}

// registrationSecrets is the sealed part of a registration.
type registrationSecrets struct {
	ClientSecret            string `json:"client_secret,omitempty"`
	RegistrationAccessToken string `json:"registration_access_token,omitempty"`
}

// resourceApp is the OAuth client of a protected-resource integration.
// A client in the config is used as it is; otherwise the workspace's
// registration at the authorization server, made now when there is none
// and register is set (creating the integration, Authorize).
func (s *Service) resourceApp(ctx context.Context, integ store.Integration, resolved catalog.Resolved, register bool) (*oauth.App, error) {
	def := resolved.Provider.OAuth2
	ra, err := s.resourceAuth(ctx, resolved.BaseURL.String())
	if err != nil {
		return nil, s.discoveryProblem(integ, err)
	}
	cfg, err := decodeConfig(integ.Config)
	if err != nil {
		return nil, err
	}
	redirect := s.publicURL + CallbackPath
	var reg oauth.Registration
	var regID string
	if clientID := firstString(cfg["client_id"]); clientID != "" {
		secrets, err := s.secretConfig(integ)
		if err != nil {
			return nil, err
		}
		reg = oauth.Registration{ClientID: clientID, ClientSecret: secret.String(secrets["client_secret"]), TokenEndpointAuthMethod: oauth.AuthMethodClientSecretBasic}
		if reg.ClientSecret == "" {
			reg.TokenEndpointAuthMethod = oauth.AuthMethodNone
		}
	} else {
		g, r, err := s.registration(ctx, integ, ra, redirect, register)
		if err != nil {
			return nil, err
		}
		reg, regID = r, g.ID
	}
	a := ra.App(reg, redirect, s.client)
	a.Now = s.now
	a.Def.RefreshMargin, a.Def.DefaultTTL, a.Def.Headers = def.RefreshMargin, def.DefaultTTL, def.Headers
	if def.Scopes != nil {
		// Scopes the integration (or its catalog entry) names replace
		// the discovered ones; a refresh token still needs offline_access
		// where the server lists it.
		scopes := slices.Clone(def.Scopes)
		if slices.Contains(ra.Server.ScopesSupported, oauth.OfflineAccess) && !slices.Contains(scopes, oauth.OfflineAccess) {
			scopes = append(scopes, oauth.OfflineAccess)
		}
		a.Def.Scopes, a.Scopes = scopes, scopes
	}
	s.registrationOf.Store(integ.ID, regID)
	return a, nil
}

// registration returns the workspace's client at ra's authorization
// server for redirect, registering one (RFC 7591) when there is none and
// register is set. One registration happens at a time per workspace and
// server across instances (a lease), so concurrent first uses share one
// client.
func (s *Service) registration(ctx context.Context, integ store.Integration, ra *oauth.ResourceAuth, redirect string, register bool) (store.OAuthRegistration, oauth.Registration, error) {
	sum := sha256.Sum256([]byte(ra.Issuer + "\x00" + redirect))
	lease := "dcr:" + integ.WorkspaceID + ":" + hex.EncodeToString(sum[:16])
	deadline := time.Now().Add(30 * time.Second)
	for {
		g, err := s.store.GetOAuthRegistration(ctx, integ.WorkspaceID, ra.Issuer, redirect)
		switch {
		case err == nil && (g.ExpiresAt.IsZero() || s.now().Before(g.ExpiresAt)):
			reg, err := s.openRegistration(g)
			return g, reg, err
		case err == nil && register:
			// The client secret expired: register anew.
			if err := s.store.DeleteOAuthRegistration(ctx, g.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return store.OAuthRegistration{}, oauth.Registration{}, err
			}
			continue
		case err == nil || errors.Is(err, store.ErrNotFound):
			if !register {
				return store.OAuthRegistration{}, oauth.Registration{}, problem.New(http.StatusConflict,
					"integration %s has no client at its authorization server any more: authorize it again", integ.ID)
			}
		default:
			return store.OAuthRegistration{}, oauth.Registration{}, err
		}
		held, err := s.store.HoldLease(ctx, lease, s.owner, 30*time.Second)
		if err != nil {
			return store.OAuthRegistration{}, oauth.Registration{}, err
		}
		if !held {
			if time.Now().After(deadline) {
				return store.OAuthRegistration{}, oauth.Registration{}, problem.New(http.StatusServiceUnavailable, "another registration at the authorization server did not finish; try again")
			}
			select {
			case <-ctx.Done():
				return store.OAuthRegistration{}, oauth.Registration{}, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		g, reg, err := s.registerLeased(ctx, integ, ra, redirect)
		if rerr := s.store.ReleaseLease(context.WithoutCancel(ctx), lease, s.owner); rerr != nil {
			s.logger.Warn("release registration lease", "err", rerr)
		}
		return g, reg, err
	}
}

// registerLeased registers a client while holding the lease, unless
// another holder did meanwhile.
func (s *Service) registerLeased(ctx context.Context, integ store.Integration, ra *oauth.ResourceAuth, redirect string) (store.OAuthRegistration, oauth.Registration, error) {
	if g, err := s.store.GetOAuthRegistration(ctx, integ.WorkspaceID, ra.Issuer, redirect); err == nil {
		reg, err := s.openRegistration(g)
		return g, reg, err
	}
	if ra.Server.RegistrationEndpoint == "" {
		return store.OAuthRegistration{}, oauth.Registration{}, problem.Invalid("the authorization server offers no dynamic client registration (RFC 7591)",
			problem.FieldError{Field: "config.client_id", Message: "is required: " + ra.Issuer + " registers no clients dynamically, so register one there and enter its client id (and secret)"})
	}
	reg, err := oauth.Register(ctx, s.client, ra.Server.RegistrationEndpoint, ra.ClientMetadata([]string{redirect}, ClientName), "")
	if err != nil {
		s.logger.Warn("dynamic client registration", "integration", integ.ID, "issuer", ra.Issuer, "err", err)
		var re *oauth.RegistrationError
		if errors.As(err, &re) && re.Temporary {
			return store.OAuthRegistration{}, oauth.Registration{}, problem.New(http.StatusBadGateway, "the authorization server could not register a client now: %v", err)
		}
		p := problem.New(http.StatusUnprocessableEntity, "the authorization server refused to register Storm as a client: %v", err)
		p.Errors = []problem.FieldError{{Field: "config.client_id", Message: "registration refused (" + err.Error() + "): register a client at " + ra.Issuer + " and enter its client id (and secret)"}}
		return store.OAuthRegistration{}, oauth.Registration{}, p
	}
	g := store.OAuthRegistration{ID: store.NewID("reg"), WorkspaceID: integ.WorkspaceID, Issuer: ra.Issuer, RedirectURI: redirect,
		ClientID: reg.ClientID, AuthMethod: reg.TokenEndpointAuthMethod, CreatedAt: s.now().UTC(), ExpiresAt: reg.ClientSecretExpiresAt}
	pt, _ := json.Marshal(registrationSecrets{ClientSecret: reg.ClientSecret.Reveal(), RegistrationAccessToken: reg.RegistrationAccessToken.Reveal()})
	g.Secret, err = s.vault.Seal(pt, vault.RegistrationAD(g))
	clear(pt)
	if err != nil {
		return store.OAuthRegistration{}, oauth.Registration{}, err
	}
	if err := s.store.CreateOAuthRegistration(ctx, g); err != nil {
		if errors.Is(err, store.ErrConflict) { // registered elsewhere without the lease (it expired)
			if w, gerr := s.store.GetOAuthRegistration(ctx, integ.WorkspaceID, ra.Issuer, redirect); gerr == nil {
				r, err := s.openRegistration(w)
				return w, r, err
			}
		}
		return store.OAuthRegistration{}, oauth.Registration{}, err
	}
	s.logger.Info("registered a client", "workspace", integ.WorkspaceID, "issuer", ra.Issuer, "registration", g.ID, "client_id", reg.ClientID)
	s.recorder.Audit(ctx, events.System, integ.WorkspaceID, "oauth.client_registered", g.ID, map[string]any{"issuer": ra.Issuer, "client_id": reg.ClientID, "integration": integ.ID})
	return g, reg, nil
}

// openRegistration decrypts a stored registration.
func (s *Service) openRegistration(g store.OAuthRegistration) (oauth.Registration, error) {
	reg := oauth.Registration{ClientID: g.ClientID, TokenEndpointAuthMethod: g.AuthMethod, RedirectURIs: []string{g.RedirectURI},
		ClientSecretExpiresAt: g.ExpiresAt}
	if len(g.Secret) == 0 {
		return reg, nil
	}
	pt, err := s.vault.Open(g.Secret, vault.RegistrationAD(g))
	if err != nil {
		return oauth.Registration{}, err
	}
	defer clear(pt)
	var rs registrationSecrets
	if err := json.Unmarshal(pt, &rs); err != nil {
		return oauth.Registration{}, errors.New("a stored client registration is malformed")
	}
	reg.ClientSecret, reg.RegistrationAccessToken = secret.String(rs.ClientSecret), secret.String(rs.RegistrationAccessToken)
	return reg, nil
}

// forgetRegistration drops the registration integ used after the server
// refused the client (invalid_client), so the next Authorize registers a
// new one.
func (s *Service) forgetRegistration(ctx context.Context, integ store.Integration) {
	v, ok := s.registrationOf.Load(integ.ID)
	if id, _ := v.(string); ok && id != "" {
		if err := s.store.DeleteOAuthRegistration(ctx, id); err == nil {
			s.logger.Warn("the authorization server refused its registered client; it is forgotten", "integration", integ.ID, "registration", id)
		}
	}
}
