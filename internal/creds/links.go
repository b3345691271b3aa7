package creds

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/store"
)

// Connect links (shared/API.md "Connect links") let a person without an
// API token save a credential or authorize. Saves through a link are
// plain Saves (package connect claims the link around them); an
// authorization started from a link ends here, at the callback, so the
// callback asks the link's gate before it stores anything and tells it
// how the attempt ended.

// LinkGate admits authorizations that were started from a connect link,
// at their callback. Package connect implements it.
type LinkGate interface {
	// Claim holds the link for this attempt and returns who acts through
	// it. An error (a *LinkRefused, or a store failure) means the link
	// may not be used: spent, expired, deleted, locked, or busy.
	Claim(ctx context.Context, linkID string) (events.Actor, error)
	// Release gives the link up after an attempt that did not connect;
	// failure says why (it counts towards locking the link), or is
	// empty when the attempt never really began.
	Release(ctx context.Context, linkID, failure string)
	// Complete spends the link: integ is now connected through it.
	Complete(ctx context.Context, linkID string, integ store.Integration, created bool)
}

// LinkRefused says why a connect link cannot be used; Message is for the
// person holding it.
type LinkRefused struct{ Message string }

func (e *LinkRefused) Error() string { return e.Message }

// SetLinkGate installs the gate for authorizations started from connect
// links; without one, such a callback fails. Call it before serving.
func (s *Service) SetLinkGate(g LinkGate) { s.links = g }

// Link says which connect link an authorization runs through.
type Link struct {
	ID string
	// Create, when set, means integ is not stored yet: it is created
	// from Create when the authorization succeeds, and not at all
	// otherwise.
	Create *CreateInput
}

// AuthorizeLink is Authorize for a connect link: the state names the
// link (and, for a link that creates an integration, what to create), so
// that the callback claims the link before storing anything.
func (s *Service) AuthorizeLink(ctx context.Context, actor events.Actor, integ store.Integration, returnTo string, binding []byte, link Link) (string, error) {
	return s.authorize(ctx, actor, integ, returnTo, binding, link)
}

// pendingJSON is the state's description of an integration to create.
func pendingJSON(link Link) []byte {
	if link.Create == nil {
		return nil
	}
	b, _ := json.Marshal(pendingIntegration{Name: link.Create.Name, Provider: link.Create.Provider,
		AuthMethod: link.Create.AuthMethod, Config: link.Create.Config, App: link.Create.App})
	return b
}

// pendingIntegration is a CreateInput as oauth_states.pending keeps it
// (config holds no secret: a link's integration takes its client from an
// app).
type pendingIntegration struct {
	Name       string         `json:"name"`
	Provider   string         `json:"provider"`
	AuthMethod string         `json:"auth_method"`
	Config     map[string]any `json:"config,omitempty"`
	App        string         `json:"app,omitempty"`
}

// pendingOf rebuilds the integration a state was started to create, with
// the id the state was bound to.
func (s *Service) pendingOf(ctx context.Context, st store.OAuthState) (store.Integration, error) {
	var p pendingIntegration
	if err := json.Unmarshal(st.Pending, &p); err != nil {
		return store.Integration{}, err
	}
	ws, err := s.store.GetWorkspace(ctx, st.WorkspaceID)
	if err != nil {
		return store.Integration{}, err
	}
	return s.newIntegration(ctx, ws, CreateInput{Name: p.Name, Provider: p.Provider, AuthMethod: p.AuthMethod, Config: p.Config, App: p.App}, st.IntegrationID)
}

// linkAttempt is an authorization callback that runs through a connect
// link: claimed at the start, released or completed at the end.
type linkAttempt struct {
	s     *Service
	id    string
	actor events.Actor
	ended bool
}

// claimLink claims st's link, if it names one; nil when it does not.
func (s *Service) claimLink(ctx context.Context, st store.OAuthState) (*linkAttempt, error) {
	if st.LinkID == "" {
		return nil, nil
	}
	if s.links == nil {
		return nil, &LinkRefused{Message: "Connect links are not available on this server."}
	}
	actor, err := s.links.Claim(ctx, st.LinkID)
	if err != nil {
		return nil, err
	}
	return &linkAttempt{s: s, id: st.LinkID, actor: actor}, nil
}

// fail releases the link, counting failure against it.
func (a *linkAttempt) fail(ctx context.Context, failure string) {
	if a == nil || a.ended {
		return
	}
	a.ended = true
	a.s.links.Release(context.WithoutCancel(ctx), a.id, failure)
}

// done spends the link on integ.
func (a *linkAttempt) done(ctx context.Context, integ store.Integration, created bool) {
	if a == nil || a.ended {
		return
	}
	a.ended = true
	a.s.links.Complete(context.WithoutCancel(ctx), a.id, integ, created)
}

// actorOr is who acts: the link when there is one, else fallback.
func (a *linkAttempt) actorOr(fallback events.Actor) events.Actor {
	if a == nil {
		return fallback
	}
	return a.actor
}

// undoCreate removes an integration CreateAndSave (or a callback) created
// when its credential could not be stored after all (a store failure):
// nothing half-made stays.
func (s *Service) undoCreate(ctx context.Context, actor events.Actor, integ store.Integration) {
	ctx = context.WithoutCancel(ctx)
	if err := s.store.DeleteIntegration(ctx, integ.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.logger.Error("remove an integration whose first credential was not stored", "integration", integ.ID, "err", err)
		return
	}
	s.cache.invalidate(integ.ID)
	s.recorder.Emit(ctx, events.New(integ.WorkspaceID, integ.ID, events.IntegrationDeleted, s.now(), map[string]any{"provider": integ.Provider, "reason": "not_connected"}))
	s.recorder.Audit(ctx, actor, integ.WorkspaceID, "integration.delete", integ.ID, map[string]any{"name": integ.Name, "reason": "not_connected"})
}

// AuthorizationOrigin is the origin of integ's authorization endpoint
// (scheme://host[:port]), where Authorize sends the browser; "" when it
// cannot be known without side effects (a remote MCP server with no
// client registered yet whose discovery fails) or integ is not
// authorized in a browser. A page whose form leads there lists it in its
// Content-Security-Policy form-action, which Chromium applies to the
// redirect.
func (s *Service) AuthorizationOrigin(ctx context.Context, integ store.Integration) string {
	var raw string
	switch integ.AuthMethod {
	case catalog.MethodOAuth2:
		if a, err := s.appFor(ctx, integ, false); err == nil {
			raw = a.Endpoints.AuthorizeURL
		} else if r, rerr := s.resolve(integ); rerr == nil && r.Provider.OAuth2 != nil && r.Provider.OAuth2.ProtectedResource {
			if ra, derr := s.resourceAuth(ctx, r.BaseURL.String()); derr == nil {
				raw = ra.Server.AuthorizationEndpoint
			}
		}
	case catalog.MethodOAuth1:
		if r, err := s.resolve(integ); err == nil && r.Provider.OAuth1 != nil && r.Provider.OAuth1.ThreeLegged() {
			raw = r.Provider.OAuth1.AuthorizeURL
		}
	}
	return Origin(raw)
}

// Origin is the scheme://host[:port] of an absolute http(s) URL, else "".
func Origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
