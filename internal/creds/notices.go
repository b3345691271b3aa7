package creds

import (
	"context"
	"fmt"
	"time"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/store"
)

// Warnings are what a person should know about a version of integ: it
// expires soon (or did), or its key is old enough to rotate. OAuth 2.0
// tokens have neither: Storm renews them.
func (s *Service) Warnings(integ store.Integration, c store.Credential) []string {
	if c.State == store.StateRevoked || integ.AuthMethod == catalog.MethodOAuth2 {
		return nil
	}
	now := s.now()
	var out []string
	if !c.ExpiresAt.IsZero() && !s.mintsTokens(integ) {
		switch left := c.ExpiresAt.Sub(now); {
		case left <= 0:
			out = append(out, "expired on "+c.ExpiresAt.UTC().Format("2006-01-02"))
		case left <= s.expiryWarning:
			out = append(out, fmt.Sprintf("expires in %d days (%s): upload a new one", int(left.Hours()/24)+1, c.ExpiresAt.UTC().Format("2006-01-02")))
		}
	}
	if age := now.Sub(c.CreatedAt); age >= s.keyAgeWarning {
		out = append(out, fmt.Sprintf("the key is %d days old: rotate it", int(age.Hours()/24)))
	}
	return out
}

// mintsTokens reports whether integ's versions hold access tokens Storm
// obtains itself, minted from a service account's key or exchanged for
// its API key or password: their expires_at is the current token's,
// which Storm renews, not a date a person must act on.
func (s *Service) mintsTokens(integ store.Integration) bool {
	switch integ.AuthMethod {
	case catalog.MethodServiceAccount:
		resolved, err := s.resolve(integ)
		return err == nil && resolved.Provider.ServiceAccount != nil && mints(resolved.Provider.ServiceAccount.Kind)
	case catalog.MethodAPIKey, catalog.MethodBasic:
		resolved, err := s.resolve(integ)
		return err == nil && resolved.Provider.ExchangeFor(integ.AuthMethod) != nil
	}
	return false
}

// RunNotices emits credential.expiring for active versions entering the
// expiry window and credential.key_age for keys past the age limit, once
// each across all instances (a lease held until the expiry marks it
// done), every interval until ctx ends.
func (s *Service) RunNotices(ctx context.Context, interval time.Duration) {
	for {
		s.ScanNotices(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// ScanNotices is one pass of RunNotices. It reads a page of
// integrations and their active versions at a time, two queries per
// page: at 100,000 integrations one query per integration (reading
// every version) took 17 s of CPU at each start, and the whole list
// would hold ~100 MB.
func (s *Service) ScanNotices(ctx context.Context) {
	now := s.now()
	p := store.ListPage{Limit: store.EachIntegrationPage}
	for ctx.Err() == nil {
		integs, err := s.store.PageIntegrations(ctx, p)
		if err != nil || len(integs) == 0 {
			return
		}
		active, err := s.store.ActiveCredentials(ctx, p.After, integs[len(integs)-1].ID)
		if err != nil {
			return
		}
		byInteg := make(map[string]store.Credential, len(active))
		for _, c := range active {
			byInteg[c.IntegrationID] = c
		}
		for _, integ := range integs {
			c, ok := byInteg[integ.ID]
			if !ok || integ.AuthMethod == catalog.MethodOAuth2 {
				continue
			}
			if !c.ExpiresAt.IsZero() && !s.mintsTokens(integ) && c.ExpiresAt.Sub(now) <= s.expiryWarning {
				s.noticeOnce(ctx, "notice:expiring:"+c.ID, c.ExpiresAt.Add(24*time.Hour), events.New(integ.WorkspaceID, integ.ID, events.CredentialExpiring, now,
					map[string]any{"credential": c.ID, "expires_at": c.ExpiresAt.UTC(), "hint": c.Hint}))
			}
			if age := now.Sub(c.CreatedAt); age >= s.keyAgeWarning {
				s.noticeOnce(ctx, "notice:key_age:"+c.ID, now.Add(365*24*time.Hour), events.New(integ.WorkspaceID, integ.ID, events.CredentialKeyAge, now,
					map[string]any{"credential": c.ID, "age_days": int(age.Hours() / 24), "hint": c.Hint}))
			}
		}
		if len(integs) < p.Limit {
			return
		}
		p.After = integs[len(integs)-1].ID
	}
}

// noticeOnce emits e unless the named marker exists: the marker is a
// lease taken by a fresh owner, so only the first instance and run to
// see the condition gets it, until it lapses.
func (s *Service) noticeOnce(ctx context.Context, marker string, until time.Time, e store.Event) {
	if ok, err := s.store.AcquireLease(ctx, marker, store.NewID("notice"), until, s.now()); err != nil || !ok {
		return
	}
	s.recorder.Emit(ctx, e)
}
