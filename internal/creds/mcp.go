package creds

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stormcreds/storm/internal/apps"
	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/oauth"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/secret"
	"github.com/stormcreds/storm/internal/store"
)

// OAuth-protected resources (remote MCP servers): from the server's URL
// alone, Storm finds its authorization server (RFC 9728, RFC 8414 / OIDC
// discovery), registers a client there when none is configured (RFC
// 7591; one registration per workspace and authorization server, kept
// as an app of origin "registered" that the integrations use) and runs the usual flow with PKCE S256 and the
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

// resourceApp is the OAuth client of a protected-resource integration.
// A client in the config is used as it is (its secret from the
// integration, or from its app); otherwise the workspace's registration
// at the authorization server (an app of origin "registered"), made now
// when there is none and register is set (creating the integration,
// Authorize). It returns the id of that registered app: the integration
// uses it from then on (linked here when the integration is stored; a
// new one takes it from checkOAuthConfig).
func (s *Service) resourceApp(ctx context.Context, integ store.Integration, resolved catalog.Resolved, register bool) (*oauth.App, string, error) {
	def := resolved.Provider.OAuth2
	ra, err := s.resourceAuth(ctx, resolved.BaseURL.String())
	if err != nil {
		return nil, "", s.discoveryProblem(integ, err)
	}
	cfg, err := decodeConfig(integ.Config)
	if err != nil {
		return nil, "", err
	}
	redirect := s.publicURL + CallbackPath
	var reg oauth.Registration
	var appID string
	if clientID := firstString(cfg["client_id"]); clientID != "" {
		reg = oauth.Registration{ClientID: clientID, TokenEndpointAuthMethod: oauth.AuthMethodClientSecretBasic}
		if integ.AppID == "" {
			secrets, err := s.secretConfig(integ)
			if err != nil {
				return nil, "", err
			}
			reg.ClientSecret = secret.String(secrets["client_secret"])
			if reg.ClientSecret == "" {
				reg.TokenEndpointAuthMethod = oauth.AuthMethodNone
			}
		} else if _, _, err := s.checkApp(ctx, integ, cfg); err != nil {
			return nil, "", err // the secret comes from the app (withClient)
		}
	} else {
		a, r, err := s.registeredClient(ctx, integ, ra, redirect, register)
		if err != nil {
			return nil, "", err
		}
		reg, appID = r, a.ID
		if integ.AppID != a.ID {
			s.linkApp(ctx, integ, a)
			// The caller's integ does not name the app yet, so token
			// requests will not ask the app for the secret: it goes
			// with the client.
			if s.appClients == nil {
				return nil, "", problem.New(http.StatusServiceUnavailable, "apps are not available on this server")
			}
			c, err := s.appClients.Current(ctx, a.ID)
			if err != nil {
				return nil, "", err
			}
			reg.ClientSecret = c.Secret
		}
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
	return a, appID, nil
}

// registeredClient returns the workspace's client at ra's authorization
// server for redirect (a registered app), registering one (RFC 7591)
// when there is none, or when the one there expired or was refused, and
// register is set. One registration happens at a time per workspace and
// server across instances (a lease), so concurrent first uses share one
// client.
func (s *Service) registeredClient(ctx context.Context, integ store.Integration, ra *oauth.ResourceAuth, redirect string, register bool) (store.App, oauth.Registration, error) {
	sum := sha256.Sum256([]byte(ra.Issuer + "\x00" + redirect))
	lease := "dcr:" + integ.WorkspaceID + ":" + hex.EncodeToString(sum[:16])
	deadline := time.Now().Add(30 * time.Second)
	for {
		a, err := s.store.GetRegisteredApp(ctx, integ.WorkspaceID, ra.Issuer, redirect)
		switch {
		case err == nil && apps.RegistrationUsable(a, s.now()):
			reg, err := apps.Registration(a)
			return a, reg, err
		case err == nil || errors.Is(err, store.ErrNotFound):
			// None, or its secret expired, or the server refused it.
			if !register {
				return store.App{}, oauth.Registration{}, problem.New(http.StatusConflict,
					"integration %s has no client at its authorization server any more: authorize it again", integ.ID)
			}
		default:
			return store.App{}, oauth.Registration{}, err
		}
		held, err := s.store.HoldLease(ctx, lease, s.owner, 30*time.Second)
		if err != nil {
			return store.App{}, oauth.Registration{}, err
		}
		if !held {
			if time.Now().After(deadline) {
				return store.App{}, oauth.Registration{}, problem.New(http.StatusServiceUnavailable, "another registration at the authorization server did not finish; try again")
			}
			select {
			case <-ctx.Done():
				return store.App{}, oauth.Registration{}, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		a, reg, err := s.registerLeased(ctx, integ, ra, redirect)
		if rerr := s.store.ReleaseLease(context.WithoutCancel(ctx), lease, s.owner); rerr != nil {
			s.logger.Warn("release registration lease", "err", rerr)
		}
		return a, reg, err
	}
}

// registerLeased registers a client while holding the lease, unless
// another holder did meanwhile, and keeps it as the workspace's app for
// the server: a new one, or the stale one with its client replaced (the
// integrations that use it keep using it).
func (s *Service) registerLeased(ctx context.Context, integ store.Integration, ra *oauth.ResourceAuth, redirect string) (store.App, oauth.Registration, error) {
	stale, err := s.store.GetRegisteredApp(ctx, integ.WorkspaceID, ra.Issuer, redirect)
	switch {
	case err == nil && apps.RegistrationUsable(stale, s.now()):
		reg, err := apps.Registration(stale)
		return stale, reg, err
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return store.App{}, oauth.Registration{}, err
	}
	if ra.Server.RegistrationEndpoint == "" {
		return store.App{}, oauth.Registration{}, problem.Invalid("the authorization server offers no dynamic client registration (RFC 7591)",
			problem.FieldError{Field: "config.client_id", Message: "is required: " + ra.Issuer + " registers no clients dynamically, so register one there and enter its client id (and secret)"})
	}
	reg, err := oauth.Register(ctx, s.client, ra.Server.RegistrationEndpoint, ra.ClientMetadata([]string{redirect}, ClientName), "")
	if err != nil {
		s.logger.Warn("dynamic client registration", "integration", integ.ID, "issuer", ra.Issuer, "err", err)
		var re *oauth.RegistrationError
		if errors.As(err, &re) && re.Temporary {
			return store.App{}, oauth.Registration{}, problem.New(http.StatusBadGateway, "the authorization server could not register a client now: %v", err)
		}
		p := problem.New(http.StatusUnprocessableEntity, "the authorization server refused to register Storm as a client: %v", err)
		p.Errors = []problem.FieldError{{Field: "config.client_id", Message: "registration refused (" + err.Error() + "): register a client at " + ra.Issuer + " and enter its client id (and secret)"}}
		return store.App{}, oauth.Registration{}, p
	}
	var a store.App
	if stale.ID != "" {
		ch, err := s.store.UpdateApp(ctx, stale.ID, func(ch *store.AppChange) error {
			return apps.Reregister(s.vault, ch, reg, s.now())
		})
		if err != nil {
			return store.App{}, oauth.Registration{}, err
		}
		a = ch.App
	} else if a, err = s.createRegistered(ctx, integ, ra.Issuer, redirect, reg); err != nil {
		return store.App{}, oauth.Registration{}, err
	}
	s.logger.Info("registered a client", "workspace", integ.WorkspaceID, "issuer", ra.Issuer, "app", a.ID, "client_id", reg.ClientID)
	s.recorder.Audit(ctx, events.System, integ.WorkspaceID, "oauth.client_registered", a.ID,
		map[string]any{"issuer": ra.Issuer, "client_id": reg.ClientID, "integration": integ.ID, "replaced": stale.ID != ""})
	out, err := apps.Registration(a)
	return a, out, err
}

// createRegistered stores a new registered app for reg. A name taken by
// another app gets the app id's start as a suffix; a registration stored
// meanwhile by another instance (its lease expired) wins.
func (s *Service) createRegistered(ctx context.Context, integ store.Integration, issuer, redirect string, reg oauth.Registration) (store.App, error) {
	a, xs, err := apps.NewRegistered(s.vault, integ.WorkspaceID, integ.Provider, issuer, redirect, reg, s.now())
	if err != nil {
		return store.App{}, err
	}
	for attempt := 0; ; attempt++ {
		err = s.store.CreateApp(ctx, a, xs)
		if err == nil {
			return s.store.GetApp(ctx, a.ID)
		}
		if !errors.Is(err, store.ErrConflict) || attempt > 0 {
			return store.App{}, err
		}
		if w, gerr := s.store.GetRegisteredApp(ctx, integ.WorkspaceID, issuer, redirect); gerr == nil {
			return w, nil
		}
		a.Name = apps.RegisteredName(issuer, strings.TrimPrefix(a.ID, "app_")[:8])
	}
}

// linkApp makes a stored integration use registered app a (the client
// it now gets tokens with), so the app counts it and cannot be deleted
// under it. An integration not stored yet (being created) is left to
// its creator; a failure is logged and retried on the next use.
func (s *Service) linkApp(ctx context.Context, integ store.Integration, a store.App) {
	_, err := s.store.Mutate(ctx, integ.ID, func(set *store.CredentialSet) error {
		cur := set.Integration
		if cur.AppID == a.ID {
			return errUnchanged
		}
		now := s.now().UTC()
		cur.AppID, cur.UpdatedAt = a.ID, now
		set.Integration = cur
		set.Events = append(set.Events, events.New(cur.WorkspaceID, cur.ID, events.IntegrationUpdated, now,
			map[string]any{"changed": []string{"app"}, "app": a.ID, "status": cur.Status}))
		return nil
	})
	switch {
	case err == nil:
		s.cache.invalidate(integ.ID)
	case errors.Is(err, errUnchanged), errors.Is(err, store.ErrNotFound):
	default:
		s.logger.Warn("link an integration to its registered client", "integration", integ.ID, "app", a.ID, "err", err)
	}
}

// forgetRegistration marks the registered app integ used as refused by
// its server (invalid_client), so the next Authorize registers a new
// client into it.
func (s *Service) forgetRegistration(ctx context.Context, integ store.Integration, clientID string) {
	if integ.AppID == "" {
		return
	}
	if err := apps.MarkRefused(ctx, s.store, integ.AppID, clientID, s.now()); err != nil {
		s.logger.Warn("mark a registered client refused", "integration", integ.ID, "app", integ.AppID, "err", err)
		return
	}
	s.logger.Warn("the authorization server refused its registered client; the next authorization registers again", "integration", integ.ID, "app", integ.AppID)
}
