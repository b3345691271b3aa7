package creds

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/stormcreds/storm/internal/apps"
	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/oauth"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/secret"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/tokens"
)

// Integrations that use an app (shared/API.md "Apps") store the app's
// client id and endpoints in their own config (apps.Apply), so that every
// reader of an integration sees where its secrets go; the app's client
// secret is never copied: it is read from the app for each token request
// (apps.Clients), newest first, falling back to the previous one.

var _ apps.Integrations = (*Service)(nil)

// loadApp loads the app named ref for an integration of workspace ws: an
// app of another workspace is as unknown as a missing one.
func (s *Service) loadApp(ctx context.Context, wsID, ref, field string) (store.App, map[string]any, error) {
	a, err := s.store.GetApp(ctx, ref)
	if errors.Is(err, store.ErrNotFound) || (err == nil && a.WorkspaceID != wsID) {
		return store.App{}, nil, problem.Field(field, fmt.Sprintf("no app %q in this workspace (see GET /v1/apps)", ref))
	}
	if err != nil {
		return store.App{}, nil, err
	}
	cfg, err := apps.Decode(a.Config)
	if err != nil {
		return store.App{}, nil, err
	}
	return a, cfg, nil
}

// withApp fills in from the app named in.App: the provider and auth
// method default to the app's, and its client and endpoints go into the
// config; a client secret in the config is refused (400 naming it).
func (s *Service) withApp(ctx context.Context, ws store.Workspace, in *CreateInput) error {
	a, appCfg, err := s.loadApp(ctx, ws.ID, in.App, "app")
	if err != nil {
		return err
	}
	switch {
	case in.Provider == "":
		in.Provider = a.Provider
	case in.Provider != a.Provider:
		return problem.Field("provider", fmt.Sprintf("must be the app's (%s) or left out", a.Provider))
	}
	switch {
	case in.AuthMethod == "":
		in.AuthMethod = a.AuthMethod
	case in.AuthMethod != a.AuthMethod:
		return problem.Field("auth_method", fmt.Sprintf("must be the app's (%s) or left out", a.AuthMethod))
	}
	if apps.IsRegistered(a) {
		// Storm's own client at a server's authorization server: it is
		// not copied into the config; the integration uses the
		// registration its server's issuer names (mcp.go).
		return nil
	}
	cfg, err := apps.Apply(a.Provider, a.AuthMethod, appCfg, in.Config, true)
	if err != nil {
		return err
	}
	in.Config = cfg
	return nil
}

// checkApp makes sure an integration's stored client and endpoints are
// still its app's (an app's change is applied to its integrations right
// after it commits; until then nothing is sent) and returns the app's
// scopes, which apply where the integration sets none.
func (s *Service) checkApp(ctx context.Context, integ store.Integration, cfg map[string]any) (scopes []string, set bool, err error) {
	a, appCfg, err := s.loadApp(ctx, integ.WorkspaceID, integ.AppID, "app")
	if err != nil {
		if _, ok := problem.As(err); ok {
			return nil, false, problem.New(http.StatusConflict, "the integration's app %s no longer exists", integ.AppID)
		}
		return nil, false, err
	}
	if !apps.InSync(a.Provider, a.AuthMethod, appCfg, cfg) {
		return nil, false, problem.New(http.StatusServiceUnavailable, "the integration's app %s changed and the integration has not followed yet; retry shortly", a.ID)
	}
	scopes, set = apps.Scopes(appCfg)
	return scopes, set, nil
}

// hasOwnScopes reports whether an integration's config sets scopes.
func hasOwnScopes(cfg map[string]any) bool {
	if _, ok := cfg["scopes"]; ok {
		return true
	}
	nested, _ := cfg["oauth2"].(map[string]any)
	_, ok := nested["scopes"]
	return ok
}

// clientRefused reports a provider's refusal of the client itself: an
// invalid_client or unauthorized_client answer, or a 401 without an
// error code.
func clientRefused(err error) bool {
	var oerr *oauth.Error
	if !errors.As(err, &oerr) {
		return false
	}
	return oerr.Code == "invalid_client" || oerr.Code == "unauthorized_client" || (oerr.Code == "" && oerr.Status == http.StatusUnauthorized)
}

// withClient runs call with integ's OAuth client: a itself, or, for an
// integration that uses an app, a with each of the app's secrets in turn
// (apps.Clients.Try), so that a provider that refuses the newest secret
// gets the previous one. When every secret was refused the error is the
// provider's refusal.
func (s *Service) withClient(ctx context.Context, integ store.Integration, a *oauth.App, call func(*oauth.App) error) error {
	if integ.AppID == "" {
		return call(a)
	}
	if s.appClients == nil {
		return problem.New(http.StatusServiceUnavailable, "apps are not available on this server")
	}
	cfg, err := decodeConfig(integ.Config)
	if err != nil {
		return err
	}
	return s.appClients.Try(ctx, integ.AppID, integ.ID, func(app store.App, c apps.Client) error {
		appCfg, err := apps.Decode(app.Config)
		if err != nil {
			return err
		}
		// The secrets were read with the app: if it moved since the
		// integration was read, they are not for a's endpoints. A
		// registered client is a's if it is the one a was built with,
		// at a's authorization server.
		if apps.IsRegistered(app) {
			if apps.ClientID(app.AuthMethod, appCfg) != a.ClientID || app.Issuer != a.Endpoints.Issuer {
				return &oauth.Error{Op: "refresh", Temporary: true, Err: errors.New("the registered client changed during the request")}
			}
		} else if !apps.InSync(app.Provider, app.AuthMethod, appCfg, cfg) {
			return &oauth.Error{Op: "refresh", Temporary: true, Err: errors.New("the app changed during the request")}
		}
		withSecret := *a
		withSecret.ClientSecret = c.Secret
		return call(&withSecret)
	}, clientRefused)
}

// appSource refreshes the tokens of an integration that uses an app.
type appSource struct {
	s     *Service
	integ store.Integration
	a     *oauth.App // without a secret: each try adds one
	// final: a refusal of the client is final for the integration, and
	// a registered client is marked refused (a protected resource).
	final bool
}

func (src appSource) Margin() time.Duration { return src.a.Margin() }

// Refresh tries the app's newest secret, then the previous one on
// invalid_client. A refusal of every secret is tokens.ClientRejected:
// never final for the integration.
func (src appSource) Refresh(ctx context.Context, ts oauth.TokenSet) (oauth.TokenSet, error) {
	var next oauth.TokenSet
	err := src.s.withClient(ctx, src.integ, src.a, func(a *oauth.App) error {
		var err error
		next, err = a.Refresh(ctx, ts)
		return err
	})
	if err != nil && src.final {
		if oerr := (*oauth.Error)(nil); errors.As(err, &oerr) && oerr.Code == "invalid_client" {
			src.s.forgetRegistration(ctx, src.integ, src.a.ClientID)
		}
		return oauth.TokenSet{}, err
	}
	if err != nil && clientRefused(err) {
		var oerr *oauth.Error
		errors.As(err, &oerr)
		return oauth.TokenSet{}, &tokens.ClientRejected{Err: oerr}
	}
	return next, err
}

// OwnClientSecret returns the client secret integ holds itself (in its
// sealed config); empty when none.
func (s *Service) OwnClientSecret(ctx context.Context, integ store.Integration) (secret.String, error) {
	secrets, err := s.secretConfig(integ)
	if err != nil {
		return "", err
	}
	v := ""
	for _, k := range []string{"client_secret", "oauth2.client_secret", "consumer_secret", "oauth1.consumer_secret"} {
		if v == "" {
			v = secrets[k]
		}
	}
	clear(secrets)
	return secret.String(v), nil
}

// AdoptIntoApp makes integration id use app a's client: its config takes
// the app's client id and endpoints (which must already be the same), its
// own client secret is destroyed, its credentials stay as they are.
func (s *Service) AdoptIntoApp(ctx context.Context, actor events.Actor, id string, a store.App) error {
	appCfg, err := apps.Decode(a.Config)
	if err != nil {
		return err
	}
	set, err := s.store.Mutate(ctx, id, func(set *store.CredentialSet) error {
		cur := set.Integration
		switch {
		case cur.AppID != "":
			return problem.New(http.StatusConflict, "the integration already uses app %s", cur.AppID)
		case cur.WorkspaceID != a.WorkspaceID || cur.Provider != a.Provider || cur.AuthMethod != a.AuthMethod:
			return problem.New(http.StatusConflict, "the integration does not match the app's workspace, provider and auth method")
		}
		cfg, err := decodeConfig(cur.Config)
		if err != nil {
			return err
		}
		for _, path := range secretPaths {
			if parent, leaf := lookupParent(cfg, path); parent != nil {
				delete(parent, leaf)
			}
		}
		applied, err := apps.Apply(a.Provider, a.AuthMethod, appCfg, cfg, true)
		if err != nil {
			return err
		}
		next := cur
		next.AppID = a.ID
		if err := s.setConfig(&next, applied, nil); err != nil {
			return err
		}
		// Identical clients have identical endpoints; the tokens stay
		// only because nothing about where they go changed.
		if moved := movedEndpoints(s.endpointsOf(cur), s.endpointsOf(next)); len(moved) > 0 {
			return problem.New(http.StatusConflict, "adopting would move the integration's endpoints")
		}
		next.UpdatedAt = s.now().UTC()
		set.Integration = next
		set.Events = append(set.Events, events.New(next.WorkspaceID, next.ID, events.IntegrationUpdated, next.UpdatedAt,
			map[string]any{"changed": []string{"app"}, "app": a.ID, "status": next.Status}))
		return nil
	})
	if err != nil {
		return err
	}
	s.cache.invalidate(id)
	s.recorder.Audit(ctx, actor, set.Integration.WorkspaceID, "integration.adopt", id, map[string]any{"app": a.ID})
	return nil
}

// SyncApp re-applies app a (changed) to integration id, which uses it,
// through UpdateIntegration: moved endpoints retire its credentials.
func (s *Service) SyncApp(ctx context.Context, actor events.Actor, id string, a store.App) error {
	appCfg, err := apps.Decode(a.Config)
	if err != nil {
		return err
	}
	_, err = s.UpdateIntegration(ctx, actor, id, UpdateInput{transform: func(cur store.Integration, cfg map[string]any) (map[string]any, error) {
		if cur.AppID != a.ID || apps.IsRegistered(a) {
			return nil, errUnchanged
		}
		if apps.InSync(a.Provider, a.AuthMethod, appCfg, cfg) {
			return nil, errUnchanged
		}
		return apps.Apply(a.Provider, a.AuthMethod, appCfg, cfg, false)
	}})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	return err
}
