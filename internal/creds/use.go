package creds

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/methods/apikey"
	"github.com/stormcreds/storm/internal/proxy"
	"github.com/stormcreds/storm/internal/secret"
	"github.com/stormcreds/storm/internal/store"
)

// useEntry is a decrypted, ready-to-apply view of an integration's
// usable credentials, cached for CacheTTL so /access and /proxy do not
// read and decrypt on every request.
type useEntry struct {
	loaded      time.Time
	integ       store.Integration
	resolved    catalog.Resolved
	active      *usable
	previous    *usable
	proxyPrefix string
}

type usable struct {
	cred   store.Credential
	secret secret.String
	key    *apikey.Key
}

// use returns the cached entry for id, loading it when absent or stale.
func (s *Service) use(ctx context.Context, id string) (*useEntry, error) {
	now := s.now()
	if v, ok := s.cache.Load(id); ok {
		if e := v.(*useEntry); now.Sub(e.loaded) < s.ttl {
			return e, nil
		}
	}
	integ, err := s.store.GetIntegration(ctx, id)
	if err != nil {
		return nil, err
	}
	creds, err := s.store.ListCredentials(ctx, id)
	if err != nil {
		return nil, err
	}
	e := &useEntry{loaded: now, integ: integ, proxyPrefix: "/v1/integrations/" + url.PathEscape(id) + "/proxy"}
	if e.resolved, err = s.resolve(integ); err != nil {
		return nil, err
	}
	for _, c := range []*store.Credential{activeOf(creds), previousOf(creds)} {
		if c == nil {
			continue
		}
		u, err := s.open(e.resolved, *c)
		if err != nil {
			return nil, err
		}
		if c.State == store.StateActive {
			e.active = u
		} else {
			e.previous = u
		}
	}
	s.cache.Store(id, e)
	return e, nil
}

func (s *Service) open(resolved catalog.Resolved, c store.Credential) (*usable, error) {
	pt, err := s.vault.Open(c.Secret, secretAD(c))
	if err != nil {
		return nil, fmt.Errorf("open credential %s: %w", c.ID, err)
	}
	m, err := apikey.Decode(pt)
	clear(pt)
	if err != nil {
		return nil, fmt.Errorf("credential %s: %w", c.ID, err)
	}
	if resolved.Provider.APIKey == nil {
		return nil, fmt.Errorf("provider %s has no API key settings", resolved.Provider.Name)
	}
	k, err := apikey.New(*resolved.Provider.APIKey, m.APIKey)
	if err != nil {
		return nil, err
	}
	return &usable{cred: c, secret: m.APIKey, key: k}, nil
}

// usableEntry checks that the integration may hand out a credential.
func (s *Service) usableEntry(ctx context.Context, integ store.Integration) (*useEntry, error) {
	e, err := s.use(ctx, integ.ID)
	if err != nil {
		return nil, err
	}
	switch {
	case e.integ.Status == store.StatusDisabled:
		return nil, errNoUse(integ, "it is disabled")
	case e.active == nil:
		return nil, errNoUse(integ, "it has no active credential")
	}
	return e, nil
}

// Access returns what a sync needs to call the provider itself. It is
// the one answer in Storm that reveals a secret.
func (s *Service) Access(ctx context.Context, actor events.Actor, integ store.Integration) (apikey.Access, error) {
	e, err := s.usableEntry(ctx, integ)
	if err != nil {
		return apikey.Access{}, err
	}
	s.used(ctx, actor, e, "credential.access")
	return e.active.key.Access(), nil
}

// ProxyTarget returns where and with what credentials a proxied request
// for integ goes.
func (s *Service) ProxyTarget(ctx context.Context, actor events.Actor, integ store.Integration, path, rawQuery string) (proxy.Target, error) {
	e, err := s.usableEntry(ctx, integ)
	if err != nil {
		return proxy.Target{}, err
	}
	s.used(ctx, actor, e, "credential.proxy")
	t := proxy.Target{Base: e.resolved.BaseURL, Path: path, RawQuery: rawQuery, Active: e.active.key, ProxyPrefix: e.proxyPrefix}
	retry := &retryCredential{s: s, ctx: context.WithoutCancel(ctx), integ: integ, tried: e.active.cred.ID}
	t.Fallback = retry
	t.OnFallback = func() {
		s.recorder.Used(actor, integ.WorkspaceID, events.CredentialFallbackUsed, retry.picked)
		s.logger.Warn("the provider refused a credential, another version worked", "integration", integ.ID, "refused", retry.tried, "used", retry.picked)
	}
	return t, nil
}

// retryCredential picks, when the provider has answered 401, the version
// to retry with: a newer active version if one was saved meanwhile (on
// this or another instance), else the previous version of a rotation
// overlap. Deciding at that moment, not when the request started, is what
// makes a rotation invisible to syncs: a request that began with the old
// key and met the provider after the old key was revoked there still
// succeeds with the new one.
type retryCredential struct {
	s      *Service
	ctx    context.Context
	integ  store.Integration
	tried  string
	picked string
}

func (c *retryCredential) Apply(r *http.Request) error {
	e, err := c.s.reloadSince(c.ctx, c.integ.ID, c.s.now())
	if err != nil {
		return err
	}
	for _, u := range []*usable{e.active, e.previous} {
		if u != nil && u.cred.ID != c.tried {
			c.picked = u.cred.ID
			return u.key.Apply(r)
		}
	}
	return proxy.ErrNoFallback
}

// reloadSince returns the integration's entry as read from the store at
// or after since. Concurrent callers share reads: a burst of 401s costs
// one store read at a time per integration, not one per request.
func (s *Service) reloadSince(ctx context.Context, id string, since time.Time) (*useEntry, error) {
	for {
		s.reloadMu.Lock()
		r := s.reloads[id]
		if r == nil {
			r = &reload{started: s.now(), done: make(chan struct{})}
			s.reloads[id] = r
			s.reloadMu.Unlock()
			s.cache.Delete(id)
			r.entry, r.err = s.use(ctx, id)
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
		if !r.started.Before(since) {
			return r.entry, r.err
		}
		// That read began before our 401: read again.
	}
}

type reload struct {
	started time.Time
	done    chan struct{}
	entry   *useEntry
	err     error
}

// used records a secret read (aggregated per minute) and keeps
// LastUsedAt fresh without writing on every request.
func (s *Service) used(ctx context.Context, actor events.Actor, e *useEntry, action string) {
	s.recorder.Used(actor, e.integ.WorkspaceID, action, e.integ.ID)
	now := s.now()
	if v, ok := s.touched.Load(e.integ.ID); ok && now.Sub(v.(time.Time)) < time.Minute {
		return
	}
	s.touched.Store(e.integ.ID, now)
	if err := s.store.TouchIntegration(context.WithoutCancel(ctx), e.integ.ID, now.UTC()); err != nil {
		s.logger.Error("touch integration", "integration", e.integ.ID, "err", err)
	}
}

// Credentials lists integ's versions.
func (s *Service) Credentials(ctx context.Context, integ store.Integration) ([]store.Credential, error) {
	return s.store.ListCredentials(ctx, integ.ID)
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
