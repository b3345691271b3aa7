package creds

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/methods/apikey"
	"github.com/stormcreds/storm/internal/oauth"
	"github.com/stormcreds/storm/internal/outcome"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/secret"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/tokens"
	"github.com/stormcreds/storm/internal/vault"
)

// StateTTL is how long an authorization may take (shared/API.md).
const StateTTL = 10 * time.Minute

// CallbackPath is where providers send the browser back.
const CallbackPath = "/oauth/callback"

// app builds integ's OAuth client from its provider definition and
// config (client id, sealed client secret, scope override). A protected
// resource's client comes from discovery and its registration.
func (s *Service) app(ctx context.Context, integ store.Integration) (*oauth.App, error) {
	return s.appFor(ctx, integ, false)
}

// appFor is app; register lets a protected resource register a client at
// its authorization server when the workspace has none there yet.
func (s *Service) appFor(ctx context.Context, integ store.Integration, register bool) (*oauth.App, error) {
	resolved, err := s.resolve(integ)
	if err != nil {
		return nil, err
	}
	def := resolved.Provider.OAuth2
	if def == nil {
		return nil, problem.New(http.StatusUnprocessableEntity, "provider %s has no OAuth 2.0 settings", integ.Provider)
	}
	if def.ProtectedResource {
		a, _, err := s.resourceApp(ctx, integ, resolved, register)
		return a, err
	}
	cfg, err := decodeConfig(integ.Config)
	if err != nil {
		return nil, err
	}
	secrets, err := s.secretConfig(integ)
	if err != nil {
		return nil, err
	}
	nested, _ := cfg["oauth2"].(map[string]any)
	clientID := firstString(cfg["client_id"], nested["client_id"])
	clientSecret := secrets["client_secret"]
	if clientSecret == "" {
		clientSecret = secrets["oauth2.client_secret"]
	}
	var appScopes []string
	appScopesSet := false
	if integ.AppID != "" {
		// The secret comes from the app for each request (withClient).
		clientSecret = ""
		if appScopes, appScopesSet, err = s.checkApp(ctx, integ, cfg); err != nil {
			return nil, err
		}
	}
	ep, err := s.discovery.Endpoints(ctx, def.AuthorizeURL, def.TokenURL, def.RevokeURL, def.Issuer)
	if err != nil {
		// *oauth.Error texts hold no network detail; that goes to the log.
		s.logger.Warn("discover the authorization server", "integration", integ.ID, "err", err)
		return nil, problem.New(http.StatusBadGateway, "discover the authorization server: %v", err)
	}
	a := &oauth.App{Def: *def, ClientID: clientID, ClientSecret: secret.String(clientSecret), RedirectURL: s.publicURL + CallbackPath,
		Endpoints: ep, HTTPClient: s.client, Now: s.now}
	if scopes, ok := cfg["scopes"].([]any); ok {
		a.Scopes = []string{}
		for _, sc := range scopes {
			if str, ok := sc.(string); ok {
				a.Scopes = append(a.Scopes, str)
			}
		}
	} else if appScopesSet && !hasOwnScopes(cfg) {
		a.Scopes = appScopes // the app narrows the provider's defaults
	}
	return a, nil
}

func firstString(vs ...any) string {
	for _, v := range vs {
		if s, ok := v.(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// source is the token engine's way to get new tokens for integ: an
// OAuth 2.0 refresh (service accounts mint, see serviceaccount.go).
func (s *Service) source(ctx context.Context, integ store.Integration, m tokens.Material) (tokens.Source, error) {
	switch integ.AuthMethod {
	case catalog.MethodOAuth2:
		a, err := s.app(ctx, integ)
		if err != nil || integ.AppID == "" {
			return a, err
		}
		// A protected resource's client (Storm's own registration, as a
		// rule) is refused for good: the integration must authorize again.
		return appSource{s: s, integ: integ, a: a, final: a.Resource != ""}, nil
	case catalog.MethodServiceAccount:
		return s.saSource(integ, m)
	case catalog.MethodAPIKey, catalog.MethodBasic:
		return s.exchangeSource(integ, m)
	}
	return nil, problem.New(http.StatusConflict, "integration %s (%s) has no tokens to refresh", integ.ID, integ.AuthMethod)
}

// checkOAuthConfig is CreateIntegration's extra check for OAuth 2.0.
// A protected resource is discovered and, without a configured client,
// registered now: a server Storm cannot use is refused before anything
// is stored, and integ uses the registration (an app) from the start.
func (s *Service) checkOAuthConfig(ctx context.Context, integ *store.Integration) error {
	var a *oauth.App
	var err error
	if r, rerr := s.resolve(*integ); rerr == nil && r.Provider.OAuth2 != nil && r.Provider.OAuth2.ProtectedResource {
		var appID string
		if a, appID, err = s.resourceApp(ctx, *integ, r, true); err == nil && appID != "" {
			integ.AppID = appID
		}
	} else {
		a, err = s.appFor(ctx, *integ, true)
	}
	if err != nil {
		return err
	}
	if a.ClientID == "" {
		return problem.Field("config.client_id", "is required for OAuth 2.0 (the client id of your app at the provider)")
	}
	return a.Check()
}

// Authorize starts an authorization: it stores a single-use state (bound
// to the integration and, when binding is set, to the browser that
// started it) and returns the provider's authorization URL.
func (s *Service) Authorize(ctx context.Context, actor events.Actor, integ store.Integration, returnTo string, binding []byte) (string, error) {
	return s.authorize(ctx, actor, integ, returnTo, binding, Link{})
}

func (s *Service) authorize(ctx context.Context, actor events.Actor, integ store.Integration, returnTo string, binding []byte, link Link) (string, error) {
	if integ.AuthMethod != catalog.MethodOAuth2 && integ.AuthMethod != catalog.MethodOAuth1 {
		return "", problem.New(http.StatusUnprocessableEntity, "integration %s uses %s, not oauth2 or oauth1", integ.ID, integ.AuthMethod)
	}
	if err := s.checkReturnTo(returnTo); err != nil {
		return "", err
	}
	if integ.AuthMethod == catalog.MethodOAuth1 {
		return s.authorizeOAuth1(ctx, actor, integ, returnTo, binding, link)
	}
	a, err := s.appFor(ctx, integ, true)
	if err != nil {
		return "", err
	}
	if err := a.Check(); err != nil {
		return "", problem.New(http.StatusUnprocessableEntity, "%v", err)
	}
	var raw [32]byte
	rand.Read(raw[:])
	state := base64.RawURLEncoding.EncodeToString(raw[:])
	verifier := oauth2.GenerateVerifier()
	hash := sha256.Sum256([]byte(state))
	sealed, err := s.vault.Seal([]byte(verifier), stateAD(integ, hash[:]))
	if err != nil {
		return "", err
	}
	now := s.now().UTC()
	st := store.OAuthState{Hash: hash[:], IntegrationID: integ.ID, WorkspaceID: integ.WorkspaceID, Verifier: sealed,
		ReturnTo: returnTo, Actor: actor.TokenID, CreatedAt: now, ExpiresAt: now.Add(StateTTL), LinkID: link.ID, Pending: pendingJSON(link)}
	if binding != nil {
		b := sha256.Sum256(binding)
		st.Binding = b[:]
	}
	if err := s.store.CreateOAuthState(ctx, st); err != nil {
		return "", err
	}
	s.recorder.Audit(ctx, actor, integ.WorkspaceID, "integration.authorize", integ.ID, authorizeDetail(link, nil))
	return a.AuthCodeURL(state, verifier), nil
}

func stateAD(integ store.Integration, hash []byte) vault.AD {
	return vault.AD{Workspace: integ.WorkspaceID, Integration: integ.ID, Credential: "state:" + hex.EncodeToString(hash), Field: "pkce_verifier"}
}

// checkReturnTo allows a path on this server or a URL of its origin, so
// the callback cannot be turned into an open redirect.
func (s *Service) checkReturnTo(returnTo string) error {
	if returnTo == "" {
		return nil
	}
	bad := problem.Field("return_to", "must be a path on this server or a URL of "+s.publicURL)
	if len(returnTo) > 2048 || strings.ContainsAny(returnTo, "\\\r\n\t") {
		return bad
	}
	u, err := url.Parse(returnTo)
	if err != nil {
		return bad
	}
	if u.Scheme == "" && u.Host == "" && strings.HasPrefix(returnTo, "/") && !strings.HasPrefix(returnTo, "//") {
		return nil
	}
	pub, _ := url.Parse(s.publicURL)
	if u.Scheme == pub.Scheme && u.Host == pub.Host && u.User == nil {
		return nil
	}
	return bad
}

// errUnchanged ends a mutation that would change nothing (an
// UpdateIntegration, a Save of the active secret): nothing is stored.
var errUnchanged = errors.New("unchanged")

// noteAuthorizationFailed puts a failed authorization in the status
// reason of an integration that has no working token set (pending or
// reconnect required), so its status says what happened; a connected
// integration keeps working with its tokens and keeps its reason.
func (s *Service) noteAuthorizationFailed(ctx context.Context, id, msg string) {
	_, err := s.store.UpdateIntegration(ctx, id, func(cur store.Integration) (store.Integration, error) {
		if cur.Status != store.StatusPending && cur.Status != store.StatusReconnectRequired {
			return cur, errUnchanged
		}
		cur.StatusReason = truncate("the last authorization failed: "+msg, 300)
		return cur, nil
	})
	if err != nil && !errors.Is(err, errUnchanged) && !errors.Is(err, store.ErrNotFound) {
		s.logger.Warn("could not note a failed authorization", "integration", id, "err", err)
	} else if err == nil {
		s.cache.invalidate(id)
	}
}

// CallbackError is a failed callback: the page shows Message; nothing
// was stored.
type CallbackError struct {
	Message     string
	Integration string // when known
	ReturnTo    string
	// Redirect says to send the browser to ReturnTo at once instead of
	// showing the message: a connect link's page shows it itself.
	Redirect bool
}

func (e *CallbackError) Error() string { return e.Message }

// Callback completes an authorization from the provider's redirect. The
// new token set becomes the active credential version (Reconnect is the
// same flow); earlier versions are revoked. binding is the browser's
// cookie value (nil when absent).
func (s *Service) Callback(ctx context.Context, q url.Values, binding []byte) (store.Integration, string, error) {
	if !q.Has("state") && (q.Has("oauth_token") || q.Has("denied")) {
		// OAuth 1.0a comes back to the same redirect URI (RFC 5849 §2.2).
		return s.callbackOAuth1(ctx, q, binding)
	}
	state := q.Get("state")
	if state == "" || len(state) > 512 {
		return store.Integration{}, "", &CallbackError{Message: "The authorization response has no valid state. Start again from Storm."}
	}
	hash := sha256.Sum256([]byte(state))
	st, err := s.store.ConsumeOAuthState(ctx, hash[:])
	if errors.Is(err, store.ErrNotFound) {
		return store.Integration{}, "", &CallbackError{Message: "This authorization link is unknown or was already used. Start again from Storm."}
	}
	if err != nil {
		return store.Integration{}, "", err
	}
	link, err := s.claimLink(ctx, st)
	if err != nil {
		return store.Integration{}, "", linkCallbackError(st, err)
	}
	fail := func(msg string) (store.Integration, string, error) {
		link.fail(ctx, msg)
		if st.Pending == nil {
			s.recorder.Emit(ctx, events.New(st.WorkspaceID, st.IntegrationID, events.AuthorizationFailed, s.now(), map[string]any{"reason": msg}))
			s.noteAuthorizationFailed(ctx, st.IntegrationID, msg)
		}
		return store.Integration{}, "", &CallbackError{Message: msg, Integration: st.IntegrationID, ReturnTo: st.ReturnTo, Redirect: link != nil}
	}
	defer link.fail(ctx, "") // any other way out (a store failure) gives the link back
	now := s.now()
	if !now.Before(st.ExpiresAt) {
		return fail("This authorization took longer than 10 minutes and expired. Start again from Storm.")
	}
	if st.Binding != nil {
		b := sha256.Sum256(binding)
		if binding == nil || string(b[:]) != string(st.Binding) {
			return fail("This authorization was started in another browser session. Start again from Storm.")
		}
	}
	var integ store.Integration
	if st.Pending != nil {
		integ, err = s.pendingOf(ctx, st)
		if err != nil {
			return fail(pendingFailure(err))
		}
	} else {
		integ, err = s.store.GetIntegration(ctx, st.IntegrationID)
	}
	if err != nil || integ.WorkspaceID != st.WorkspaceID || integ.AuthMethod != catalog.MethodOAuth2 {
		return fail("The integration this authorization was for no longer exists.")
	}
	if e := q.Get("error"); e != "" {
		return fail("The provider did not grant access (" + truncate(e, 64) + "). Nothing was changed.")
	}
	a, err := s.app(ctx, integ)
	if err != nil {
		msg := "The provider's settings could not be loaded"
		if p, ok := problem.As(err); ok {
			msg += ": " + p.Detail // fixed texts and config values only
		}
		return fail(msg + ". Nothing was changed.")
	}
	// RFC 9207: when the issuer is known, the response must come from it
	// (no mix-up with another provider), and must say so when the server
	// advertises that it does.
	if iss := q.Get("iss"); a.Endpoints.Issuer != "" && (iss != "" || a.Endpoints.IssParameter) && iss != a.Endpoints.Issuer {
		return fail("The authorization response came from an unexpected issuer. Nothing was changed.")
	}
	code := q.Get("code")
	if code == "" || len(code) > 4096 {
		return fail("The authorization response has no code. Start again from Storm.")
	}
	pt, err := s.vault.Open(st.Verifier, stateAD(integ, hash[:]))
	if err != nil {
		return fail("The authorization could not be completed. Start again from Storm.")
	}
	verifier := string(pt)
	clear(pt)
	var ts oauth.TokenSet
	err = s.withClient(ctx, integ, a, func(a *oauth.App) error {
		var err error
		ts, err = a.Exchange(ctx, code, verifier)
		return err
	})
	if err != nil {
		s.logger.Info("authorization code exchange failed", "integration", integ.ID, "err", err)
		if oerr := (*oauth.Error)(nil); a.Resource != "" && errors.As(err, &oerr) && oerr.Code == "invalid_client" {
			s.forgetRegistration(ctx, integ, a.ClientID)
		}
		return fail(exchangeFailure(err, a.ClientSecret.Reveal(), code, verifier))
	}
	actor := link.actorOr(events.Actor{TokenID: st.Actor})
	if st.Pending != nil {
		if err := s.insertIntegration(ctx, actor, integ); err != nil {
			if p, ok := problem.As(err); ok {
				return fail("The integration could not be created: " + p.Detail + ". Nothing was changed.")
			}
			return store.Integration{}, "", err
		}
	}
	if _, err := s.saveTokenSet(ctx, actor, integ, ts, time.Duration(a.Def.RefreshMargin)); err != nil {
		if st.Pending != nil {
			s.undoCreate(ctx, actor, integ)
		}
		return store.Integration{}, "", err
	}
	updated, err := s.store.GetIntegration(ctx, integ.ID)
	if err != nil {
		return store.Integration{}, "", err
	}
	link.done(ctx, updated, st.Pending != nil)
	return updated, st.ReturnTo, nil
}

// linkCallbackError is the callback's answer when the state's connect
// link may not be used: the link's page says why.
func linkCallbackError(st store.OAuthState, err error) error {
	var lr *LinkRefused
	if !errors.As(err, &lr) {
		return err
	}
	return &CallbackError{Message: lr.Message, ReturnTo: st.ReturnTo, Redirect: true}
}

// pendingFailure is why the integration a link was to create cannot be
// created after all (its app was deleted meanwhile, say).
func pendingFailure(err error) string {
	if p, ok := problem.As(err); ok {
		return "The integration could not be created: " + p.Detail + ". Nothing was changed."
	}
	return "The integration could not be created. Nothing was changed."
}

// authorizeDetail is the audit detail of an authorization's start.
func authorizeDetail(link Link, detail map[string]any) map[string]any {
	if link.Create == nil {
		return detail
	}
	if detail == nil {
		detail = map[string]any{}
	}
	detail["creates"] = true
	return detail
}

// exchangeFailure is the callback page's (and the event's) text for a
// failed code exchange: a fixed text when no answer came, else the
// server's error code and a scrubbed excerpt of its description.
func exchangeFailure(err error, secrets ...string) string {
	var oerr *oauth.Error
	if !errors.As(err, &oerr) || oerr.Status == 0 {
		if outcome.Of(err) == outcome.Blocked {
			return "The provider's token endpoint was refused by the egress guard (set STORM_ALLOW_PRIVATE_UPSTREAMS=true to allow private upstreams). Nothing was changed."
		}
		return "The provider's token endpoint could not be reached. Nothing was changed."
	}
	msg := "The provider refused the authorization code"
	if oerr.Code != "" {
		msg += " (" + secret.Excerpt(oerr.Code, 64, secrets...) + ")"
	}
	if d := secret.Excerpt(oerr.Description, 200, secrets...); d != "" {
		msg += ": " + d
	}
	return msg + ". Nothing was changed."
}

func truncate(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// saveTokenSet stores ts as the new active version; every older version
// is revoked (its tokens are revoked at the provider in the background).
func (s *Service) saveTokenSet(ctx context.Context, actor events.Actor, integ store.Integration, ts oauth.TokenSet, margin time.Duration) (store.Credential, error) {
	now := s.now().UTC()
	cred := store.Credential{ID: store.NewID("cred"), IntegrationID: integ.ID, WorkspaceID: integ.WorkspaceID, State: store.StateActive,
		Hint: apikey.Hint(ts.AccessToken), Fingerprint: s.vault.Fingerprint([]byte(ts.AccessToken.Reveal())),
		CreatedAt: now, VerifiedAt: now, ExpiresAt: ts.Expiry, RefreshAt: tokens.NextRefresh(ts, margin, false)}
	m := tokens.Material{}
	m.SetTokens(ts)
	sealed, err := s.tokens.Seal(cred, m)
	if err != nil {
		return store.Credential{}, err
	}
	cred.Secret = sealed
	saved, retired, err := s.storeAuthorized(ctx, actor, integ, cred, now,
		map[string]any{"method": catalog.MethodOAuth2, "expires_at": ts.Expiry}, nil)
	if err != nil {
		return store.Credential{}, err
	}
	for _, old := range retired {
		s.background(func(ctx context.Context) { s.revokeAtProvider(ctx, integ, old) })
	}
	return saved, nil
}

// storeAuthorized commits cred, just authorized, as integ's active
// version: every other version is retired, the integration is connected
// (unless disabled), and events and audit say so, with saved added to the
// credential.saved event and audited to the audit detail. Tokens read at
// the start of the flow never go to endpoints changed since. It returns
// the stored version and the versions it replaced, as they were (their
// material still sealed in them, for revoking at the provider).
func (s *Service) storeAuthorized(ctx context.Context, actor events.Actor, integ store.Integration, cred store.Credential, now time.Time,
	saved, audited map[string]any) (store.Credential, []store.Credential, error) {
	var retired []store.Credential
	var gone []revoked
	set, err := s.store.Mutate(ctx, integ.ID, func(set *store.CredentialSet) error {
		retired, gone = retired[:0], gone[:0]
		if err := s.sameEndpoints(integ, set.Integration); err != nil {
			return err
		}
		cred.Version = set.MaxVersion + 1
		for i := range set.Credentials { // the live versions
			c := &set.Credentials[i]
			retired = append(retired, *c)
			gone = append(gone, retire(set, c, now, revokedByAuthorize, map[string]any{"replaced_by": cred.ID}))
		}
		set.Credentials = append(set.Credentials, cred)
		in := &set.Integration
		was := in.Status
		if in.Status != store.StatusDisabled {
			in.Status, in.StatusReason = store.StatusConnected, "authorized"
		}
		in.LastVerifiedAt, in.UpdatedAt = now, now
		data := map[string]any{"credential": cred.ID, "version": cred.Version}
		maps.Copy(data, saved)
		set.Events = append(set.Events, events.New(in.WorkspaceID, in.ID, events.CredentialSaved, now, data))
		if was != store.StatusConnected && in.Status == store.StatusConnected {
			set.Events = append(set.Events, events.New(in.WorkspaceID, in.ID, events.IntegrationConnected, now, map[string]any{"from": was}))
		}
		return nil
	})
	if err != nil {
		return store.Credential{}, nil, err
	}
	s.cache.invalidate(integ.ID)
	stored := set.Credentials[len(set.Credentials)-1]
	detail := map[string]any{"integration": integ.ID, "version": stored.Version}
	maps.Copy(detail, audited)
	s.recorder.Audit(ctx, actor, integ.WorkspaceID, "credential.authorize", stored.ID, detail)
	s.auditRevoked(ctx, actor, integ, gone)
	return stored, retired, nil
}

// revokeAtProvider revokes c's tokens at the provider (RFC 7009),
// retrying temporary failures a few times. It reports whether the
// provider confirmed. c must still hold its sealed material.
func (s *Service) revokeAtProvider(ctx context.Context, integ store.Integration, c store.Credential) bool {
	if integ.AuthMethod != catalog.MethodOAuth2 || len(c.Secret) == 0 {
		return false
	}
	ts, err := s.tokens.Tokens(c)
	if err != nil {
		return false
	}
	a, err := s.app(ctx, integ)
	if err != nil || a.Endpoints.RevokeURL == "" {
		return false
	}
	ok := true
	for _, t := range []struct {
		token secret.String
		hint  string
	}{{ts.RefreshToken, "refresh_token"}, {ts.AccessToken, "access_token"}} {
		if t.token == "" {
			continue
		}
		var err error
		for attempt := range 4 {
			if attempt > 0 {
				select {
				case <-time.After(time.Duration(attempt*attempt) * 200 * time.Millisecond):
				case <-ctx.Done():
					return false
				}
			}
			rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			err = s.withClient(rctx, integ, a, func(a *oauth.App) error { return a.Revoke(rctx, t.token, t.hint) })
			cancel()
			var oerr *oauth.Error
			if err == nil || !errors.As(err, &oerr) || !oerr.Temporary {
				break
			}
		}
		if err != nil {
			ok = false
			s.logger.Warn("revoke token at provider", "integration", integ.ID, "credential", c.ID, "hint", t.hint, "err", err)
		}
	}
	return ok
}
