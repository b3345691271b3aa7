package creds

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"time"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/methods/apikey"
	"github.com/stormcreds/storm/internal/methods/exchange"
	"github.com/stormcreds/storm/internal/methods/oauth1"
	"github.com/stormcreds/storm/internal/methods/serviceaccount"
	"github.com/stormcreds/storm/internal/oauth"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/proxy"
	"github.com/stormcreds/storm/internal/secret"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/tokens"
)

// useEntry is a decrypted, ready-to-apply view of an integration's
// usable credentials, cached for CacheTTL so /access and /proxy do not
// read and decrypt on every request.
type useEntry struct {
	loaded      time.Time
	seq         uint64 // when the read began, in useCache order
	integ       store.Integration
	resolved    catalog.Resolved
	active      *usable
	previous    *usable
	proxyPrefix string
}

// usable is one decrypted credential version, ready to apply.
type usable struct {
	cred store.Credential
	// kind is what applies it: "api_key", "token" (OAuth 2.0 and minted
	// service-account tokens), or a service-account kind (aws_sigv4, mtls).
	kind      string
	secret    secret.String // scrubbed from errors: the key or token
	key       *apikey.Key
	tokens    oauth.TokenSet
	placement oauth.Placement
	signer    *serviceaccount.SigV4
	sa        serviceaccount.Material
	// proxy, when set, is the client-certificate proxy (mtls) that must
	// carry the request.
	proxy *proxy.Proxy
	// basic is a user name and password applied as HTTP Basic.
	basic *basicAuth
	// oauth1 signs every request (OAuth 1.0a); oauth1Access is what
	// /access reveals of it.
	oauth1       *oauth1.Signer
	oauth1Access map[string]any
	// answer is the /access answer encoded once, for versions whose
	// answer does not change (not tokens); nil: encode each time.
	answer json.RawMessage
	// fromApp: part of the credential (an OAuth 1.0a consumer secret)
	// is an app's, read when the entry was loaded; such entries are not
	// cached, so a rotated or revoked app secret is not used again.
	fromApp bool
	// exchange, when set, says where a session token obtained by a token
	// exchange goes (instead of placement).
	exchange *exchange.Apply
	// headers are a provider's extra headers for requests made with a
	// Basic credential, an OAuth 1.0a signature or a session token; a
	// value the request already carries is kept.
	headers map[string]string
	// more are secrets besides secret that answers must be scrubbed of
	// (an OAuth 1.0a consumer secret, the key behind a session token).
	more []string
}

// secrets lists every secret of u, for scrubbing provider answers.
func (u *usable) secrets() []string { return append([]string{u.secret.Reveal()}, u.more...) }

// tokenBased reports whether the version is an access token the engine
// keeps fresh (OAuth 2.0, minted, or a session token from an exchange).
func (u *usable) tokenBased() bool {
	return u.key == nil && u.signer == nil && u.proxy == nil && u.basic == nil && u.oauth1 == nil
}

// Apply sets the credential on r: the API key as the provider wants it,
// HTTP Basic, an OAuth 1.0a signature, the access token, or an AWS
// signature. A client certificate needs nothing here: the proxy that
// carries the request presents it.
func (u *usable) Apply(r *http.Request) error {
	switch {
	case u.key != nil:
		return u.key.Apply(r)
	case u.signer != nil:
		return u.signer.Apply(r)
	case u.proxy != nil:
		return nil
	case u.basic != nil:
		u.setHeaders(r)
		r.SetBasicAuth(u.basic.username, u.basic.password.Reveal())
		return nil
	case u.oauth1 != nil:
		u.setHeaders(r)
		return u.oauth1.Apply(r)
	}
	u.applyToken(r, u.tokens.AccessToken)
	return nil
}

// applyToken sets an access token (or session token) on r.
func (u *usable) applyToken(r *http.Request, token secret.String) {
	if u.exchange != nil {
		u.setHeaders(r)
		u.exchange.Set(r, token)
		return
	}
	u.placement.Apply(r, token)
}

func (u *usable) setHeaders(r *http.Request) {
	for k, v := range u.headers {
		if r.Header.Get(k) == "" {
			r.Header.Set(k, v)
		}
	}
}

// SignsBody tells the proxy to buffer bodies for AWS and OAuth 1.0a
// signatures (the latter sign form parameters).
func (u *usable) SignsBody() bool { return u.signer != nil || u.oauth1 != nil }

// client is the HTTP client for verification requests with u.
func (u *usable) client(def *http.Client) *http.Client {
	if u.proxy != nil {
		return u.proxy.Client()
	}
	return def
}

// use returns the cached entry for id, loading it when absent or stale.
func (s *Service) use(ctx context.Context, id string, now time.Time) (*useEntry, error) {
	if e, ok := s.cache.get(id); ok && now.Sub(e.loaded) < s.ttl {
		return e, nil
	}
	return s.load(ctx, id)
}

// load reads id's entry from the store (never from the cache) and caches
// it unless a newer read or a local change overtook it.
func (s *Service) load(ctx context.Context, id string) (*useEntry, error) {
	seq := s.cache.begin()
	now := s.now()
	// The integration before its credentials: a change of endpoints
	// retires the credentials in the same transaction, so credentials
	// read after the integration always belong to its endpoints.
	integ, err := s.store.GetIntegration(ctx, id)
	if err != nil {
		return nil, err
	}
	creds, err := s.store.LiveCredentials(ctx, id)
	if err != nil {
		return nil, err
	}
	e := &useEntry{loaded: now, seq: seq, integ: integ, proxyPrefix: "/v1/integrations/" + url.PathEscape(id) + "/proxy"}
	if e.resolved, err = s.resolve(integ); err != nil {
		return nil, err
	}
	for _, c := range []*store.Credential{activeOf(creds), previousOf(creds)} {
		if c == nil {
			continue
		}
		u, err := s.open(ctx, integ, e.resolved, *c)
		if err != nil {
			return nil, err
		}
		if c.State == store.StateActive {
			e.active = u
		} else {
			e.previous = u
		}
	}
	if e.active != nil && !e.active.tokenBased() {
		// Fixed for the entry's life (tokens are not: they refresh).
		e.active.answer = encodeAnswer(e.active.access())
	}
	if !(e.active != nil && e.active.fromApp) && !(e.previous != nil && e.previous.fromApp) {
		s.cache.put(id, e)
	}
	return e, nil
}

func (s *Service) open(ctx context.Context, integ store.Integration, resolved catalog.Resolved, c store.Credential) (*usable, error) {
	doc, err := s.tokens.Open(c)
	if err != nil {
		return nil, err
	}
	switch integ.AuthMethod {
	case catalog.MethodOAuth2:
		ts, err := doc.Tokens()
		if err != nil {
			return nil, err
		}
		return &usable{cred: c, kind: "token", secret: ts.AccessToken, tokens: ts, placement: oauth.PlacementOf(resolved.Provider.OAuth2)}, nil
	case catalog.MethodServiceAccount:
		return s.openSA(integ, resolved, c, doc)
	case catalog.MethodBasic:
		return s.openBasic(integ, resolved, c, doc)
	case catalog.MethodOAuth1:
		return s.openOAuth1(ctx, integ, resolved, c, doc)
	}
	if resolved.Provider.ExchangeFor(catalog.MethodAPIKey) != nil {
		return s.exchangeUsable(integ, resolved, c, doc)
	}
	var key string
	if err := json.Unmarshal(doc[apiKeyMember], &key); err != nil || key == "" {
		return nil, fmt.Errorf("credential %s holds no API key", c.ID)
	}
	return s.apiKeyUsable(c, resolved, secret.String(key))
}

// apiKeyMember is where a credential's material document keeps an API
// key.
const apiKeyMember = "api_key"

func (s *Service) apiKeyUsable(c store.Credential, resolved catalog.Resolved, key secret.String) (*usable, error) {
	if resolved.Provider.APIKey == nil {
		return nil, problem.New(http.StatusUnprocessableEntity, "provider %s has no API key settings", resolved.Provider.Name)
	}
	k, err := apikey.New(*resolved.Provider.APIKey, key)
	if err != nil {
		return nil, problem.New(http.StatusUnprocessableEntity, "apply the key: %v", err)
	}
	return &usable{cred: c, kind: "api_key", secret: key, key: k}, nil
}

// usableEntry checks that the integration may hand out a credential and,
// for OAuth 2.0, that its token is fresh (refreshing it first if not).
func (s *Service) usableEntry(ctx context.Context, id string, now time.Time) (*useEntry, error) {
	e, err := s.use(ctx, id, now)
	if err != nil {
		return nil, err
	}
	switch {
	case e.integ.Status == store.StatusDisabled:
		return nil, errNoUse(id, "it is disabled")
	case e.active == nil:
		return nil, errNoUse(id, "it has no active credential")
	case e.active.tokenBased() && !e.active.tokens.FreshAt(now):
		// Refreshed, or (during a provider outage) the current token
		// while it is still valid.
		ts, err := s.tokens.Token(ctx, e.active.cred)
		if err != nil {
			return nil, tokenProblem(err)
		}
		if ts.AccessToken != e.active.tokens.AccessToken {
			s.cache.invalidate(id)
			next := *e
			active := *e.active
			active.secret, active.tokens = ts.AccessToken, ts
			next.active = &active
			return &next, nil
		}
	}
	return e, nil
}

// tokenProblem explains a failed refresh to the caller.
func tokenProblem(err error) error {
	if _, ok := problem.As(err); ok {
		return err
	}
	if errors.Is(err, tokens.ErrUnavailable) || errors.Is(err, tokens.ErrReplaced) {
		p := problem.New(http.StatusServiceUnavailable, "%v", err)
		p.RetryAfter = time.Second
		if u := (*tokens.Unavailable)(nil); errors.As(err, &u) && u.RetryAfter > 0 {
			p.RetryAfter = u.RetryAfter
		}
		return p
	}
	return err
}

// Access returns what a sync needs to call the provider itself. It is
// the one answer in Storm that reveals a secret.
func (s *Service) Access(ctx context.Context, actor events.Actor, integ store.Integration) (any, error) {
	now := s.now() // one clock read for the whole answer
	e, err := s.usableEntry(ctx, integ.ID, now)
	if err != nil {
		return nil, err
	}
	// The read is in the audit log before the secret leaves (fail closed).
	if err := s.used(ctx, actor, e, "credential.access", now); err != nil {
		return nil, err
	}
	if e.active.answer != nil {
		return e.active.answer, nil
	}
	return e.active.access(), nil
}

// encodeAnswer encodes an /access answer as the API writes JSON (no
// HTML escaping, a final newline).
func encodeAnswer(v any) json.RawMessage {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return nil // answered unencoded, and the API reports the failure
	}
	return buf.Bytes()
}

// access is what /access reveals of u.
func (u *usable) access() any {
	switch {
	case u.key != nil:
		return u.key.Access()
	case u.signer != nil:
		return u.signer.Access()
	case u.proxy != nil:
		return map[string]any{"type": "mtls", "cert_pem": u.sa.CertPEM, "key_pem": u.sa.KeyPEM, "expires_at": rfc3339(u.cred.ExpiresAt)}
	case u.basic != nil:
		out := map[string]any{"type": "basic", "username": u.basic.username, "password": u.basic.password.Reveal()}
		if len(u.headers) > 0 {
			out["headers"] = u.headers
		}
		return out
	case u.oauth1 != nil:
		out := maps.Clone(u.oauth1Access)
		if len(u.headers) > 0 {
			out["headers"] = u.headers
		}
		return out
	}
	ts, p := u.tokens, u.placement
	out := map[string]any{"type": "bearer", "access_token": ts.AccessToken.Reveal(), "expires_at": rfc3339(ts.Expiry), "header": p.Header, "prefix": p.Prefix}
	if len(p.Headers) > 0 {
		out["headers"] = p.Headers
	}
	if a := u.exchange; a != nil {
		// A session token from a token exchange: where it goes.
		out["in"], out["prefix"] = a.In, a.Prefix
		delete(out, "header")
		if a.In == catalog.InHeader {
			out["header"] = a.Name
		} else {
			out["name"] = a.Name
		}
		delete(out, "headers")
		if len(u.headers) > 0 {
			out["headers"] = u.headers
		}
	}
	return out
}

func rfc3339(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

// ProxyTarget returns where and with what credentials a proxied request
// for integ goes, and the proxy that must carry it (one presenting a
// client certificate for mTLS, else def).
func (s *Service) ProxyTarget(ctx context.Context, actor events.Actor, integ *store.Integration, path, rawQuery string) (*proxy.Proxy, proxy.Target, error) {
	now := s.now() // one clock read for the whole request
	e, err := s.usableEntry(ctx, integ.ID, now)
	if err != nil {
		return nil, proxy.Target{}, err
	}
	via := s.proxy
	if e.active.proxy != nil {
		via = e.active.proxy
	}
	// Recorded before the request goes out with the credential applied:
	// a read that cannot be recorded never reaches the provider.
	if err := s.used(ctx, actor, e, "credential.proxy", now); err != nil {
		return nil, proxy.Target{}, err
	}
	t := proxy.Target{Base: e.resolved.BaseURL, Path: path, RawQuery: rawQuery, Active: e.active, ProxyPrefix: e.proxyPrefix}
	// The integration's ids, not a copy of the integration: this runs on
	// every proxied request, and a 401 on few.
	t.Fallback = &retryCredential{s: s, integrationID: integ.ID, tried: e.active, pickedAt: now,
		ctx: ctx, actor: actor, workspaceID: integ.WorkspaceID}
	return via, t, nil
}

// retryCredential picks, when the provider has answered 401, what to
// retry with. For an API key: a newer active version if one was saved
// meanwhile (on this or another instance), else the previous version of a
// rotation overlap. Deciding at that moment, not when the request
// started, is what makes a rotation invisible to syncs: a request that
// began with the old key and met the provider after the old key was
// revoked there still succeeds with the new one. For OAuth 2.0: a
// refreshed token (one refresh however many requests met the 401).
//
// Apply waits under the retry request's context, which is the client's:
// a client that went away or timed out stops waiting (a refresh already
// asked for still finishes and commits for everyone else).
type retryCredential struct {
	s             *Service
	integrationID string
	tried         *usable
	picked        string
	// pickedAt is when the request took tried: a token obtained before
	// then was no better placed to survive the provider's refusal.
	pickedAt time.Time
	// For Answered: the proxied request's context and caller, and the
	// integration's workspace.
	ctx         context.Context
	actor       events.Actor
	workspaceID string
}

var _ proxy.AnsweredFallback = (*retryCredential)(nil)

// Answered records which version answered a retried request. The request
// itself is recorded already (credential.proxy). This is written before
// the answer goes back, but the provider has been contacted by then, so a
// failure can only be logged.
func (c *retryCredential) Answered() {
	if err := c.s.recorder.Read(context.WithoutCancel(c.ctx), c.actor, c.workspaceID, events.CredentialFallbackUsed, c.picked); err != nil {
		c.s.logger.Error("record a fallback", "integration", c.integrationID, "credential", c.picked, "err", err)
	}
	c.s.logger.Warn("the provider refused a credential, a retry worked", "integration", c.integrationID, "refused", c.tried.cred.ID, "used", c.picked)
}

func (c *retryCredential) Apply(r *http.Request) error {
	ctx := r.Context()
	if c.tried.tokenBased() {
		ts, err := c.s.tokens.RefreshAfter401(ctx, c.tried.cred, c.tried.tokens.AccessToken, c.pickedAt)
		if err != nil {
			return fmt.Errorf("%w: %v", proxy.ErrNoFallback, err)
		}
		c.s.cache.invalidate(c.integrationID)
		c.picked = c.tried.cred.ID
		c.tried.applyToken(r, ts.AccessToken)
		return nil
	}
	// Only what the store says after the 401 counts: an older view may
	// predate the save of the key that works now.
	e, err := c.s.reloadAfter(ctx, c.integrationID, c.s.cache.begin())
	if err != nil {
		return err
	}
	for _, u := range []*usable{e.active, e.previous} {
		if u != nil && u.cred.ID != c.tried.cred.ID {
			c.picked = u.cred.ID
			return u.Apply(r)
		}
	}
	return proxy.ErrNoFallback
}

// reloadAfter returns the integration's entry as read from the store by
// a read that began after mark (a useCache sequence number taken when
// the provider answered 401). Concurrent callers share reads: a burst of
// 401s costs one store read at a time per integration, not one per
// request. Each caller waits under its own ctx; the shared read has its
// own bounded context, so one caller leaving does not fail the others.
func (s *Service) reloadAfter(ctx context.Context, id string, mark uint64) (*useEntry, error) {
	for {
		s.reloadMu.Lock()
		r := s.reloads[id]
		if r == nil {
			r = &reload{seq: s.cache.begin(), done: make(chan struct{})}
			s.reloads[id] = r
			s.reloadMu.Unlock()
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reloadTimeout)
			r.entry, r.err = s.load(rctx, id)
			cancel()
			s.reloadMu.Lock()
			delete(s.reloads, id)
			s.reloadMu.Unlock()
			close(r.done)
			return r.entry, r.err
		}
		s.reloadMu.Unlock()
		select {
		case <-r.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if r.seq > mark {
			return r.entry, r.err
		}
		// That read began before our 401: read again.
	}
}

// reloadTimeout bounds a store read shared by the requests that met a 401.
const reloadTimeout = 10 * time.Second

type reload struct {
	seq   uint64
	done  chan struct{}
	entry *useEntry
	err   error
}

// used records a secret read at now durably, refusing it (503) when it
// cannot be recorded, and keeps LastUsedAt fresh without writing on every
// request.
//
// The rare paths (a read not recorded, a touch) are functions of their
// own: used is on the deepest stack of a proxied request, and its frame
// is kept small for it (see api's admit).
func (s *Service) used(ctx context.Context, actor events.Actor, e *useEntry, action string, now time.Time) error {
	if err := s.recorder.ReadAt(ctx, now, actor, e.integ.WorkspaceID, action, e.integ.ID); err != nil {
		return s.notRecorded(ctx, e, action, err)
	}
	if v, ok := s.touched.Load(e.integ.ID); ok && now.Sub(v.(time.Time)) < time.Minute {
		return nil
	}
	s.touch(ctx, e, now)
	return nil
}

// notRecorded logs a read the audit log refused and returns the caller's
// answer.
func (s *Service) notRecorded(ctx context.Context, e *useEntry, action string, err error) error {
	s.logger.Error("refused a secret read that could not be recorded", "action", action, "integration", e.integ.ID, "err", err)
	if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(err, ctxErr) {
		return err // the caller left; nothing to answer
	}
	p := problem.New(http.StatusServiceUnavailable, "the read could not be recorded in the audit log, so no credential was handed out; try again")
	p.RetryAfter = time.Second
	return p
}

// touch writes e's integration's last use, now.
func (s *Service) touch(ctx context.Context, e *useEntry, now time.Time) {
	s.touched.Store(e.integ.ID, now)
	if err := s.store.TouchIntegration(context.WithoutCancel(ctx), e.integ.ID, now.UTC()); err != nil {
		s.logger.Error("touch integration", "integration", e.integ.ID, "err", err)
	}
}

func decodeConfig(b []byte) (map[string]any, error) {
	cfg := map[string]any{}
	if len(b) == 0 {
		return cfg, nil
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("stored config is malformed: %w", err)
	}
	return cfg, nil
}

// CachedIntegration returns an integration from the hot-path cache (at
// most CacheTTL old, refreshed on local changes), for /access and
// /proxy, which must not read the store on every request.
func (s *Service) CachedIntegration(ctx context.Context, id string) (store.Integration, error) {
	e, err := s.use(ctx, id, s.now())
	if err != nil {
		return store.Integration{}, err
	}
	return e.integ, nil
}
