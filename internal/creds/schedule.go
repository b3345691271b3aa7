package creds

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/url"
	"sync"
	"time"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/store"
)

// VerifySchedule configures scheduled health verification.
type VerifySchedule struct {
	// Interval between verifications of one integration; zero disables
	// the schedule.
	Interval time.Duration
	// PerProviderPerMinute bounds verifications per provider per minute
	// on one instance, so a fleet of integrations of one provider does not
	// trip its rate limits; default 30. Custom integrations count per
	// host of their base URL: each is a provider of its own.
	PerProviderPerMinute int
	// Scan is how often integrations are checked for being due; default
	// the Interval, at most one minute (a longer scan would stretch a
	// short interval to the scan's).
	Scan time.Duration
}

// RunVerifySchedule verifies every integration that has a credential
// about once per Interval (±10% jitter), until ctx ends. Several instances
// may run it: an integration's turn is a lease that lasts the interval,
// so each one is verified once per period cluster-wide.
func (s *Service) RunVerifySchedule(ctx context.Context, cfg VerifySchedule) {
	if cfg.Interval <= 0 {
		return
	}
	if cfg.PerProviderPerMinute <= 0 {
		cfg.PerProviderPerMinute = 30
	}
	if cfg.Scan <= 0 {
		cfg.Scan = min(cfg.Interval, time.Minute)
	}
	limits := &providerLimits{per: cfg.PerProviderPerMinute, now: s.now}
	for {
		s.verifyDue(ctx, cfg, limits)
		select {
		case <-ctx.Done():
			return
		case <-time.After(cfg.Scan):
		}
	}
}

func (s *Service) verifyDue(ctx context.Context, cfg VerifySchedule, limits *providerLimits) {
	now := s.now()
	// A page of integrations at a time, so a scan of 100,000 holds one
	// page in memory, not the whole table.
	err := store.EachIntegration(ctx, s.store, "", func(integ store.Integration) error {
		// Pending (no credential) and disabled integrations have
		// nothing to verify; the rest are due after an interval.
		if integ.Status == store.StatusPending || integ.Status == store.StatusDisabled || now.Sub(integ.LastVerifiedAt) < cfg.Interval {
			return nil
		}
		if !limits.take(budgetKey(integ)) {
			return nil // next scan
		}
		period := cfg.Interval - cfg.Interval/10 + time.Duration(rand.Int64N(int64(cfg.Interval/5)+1))
		ok, err := s.store.AcquireLease(ctx, "verify:"+integ.ID, store.NewID("verify"), now.Add(period), now)
		if err != nil || !ok {
			return nil // another instance has this turn
		}
		if _, err := s.Verify(ctx, events.System, integ); err != nil && ctx.Err() == nil {
			s.logger.Info("scheduled verification", "integration", integ.ID, "err", err)
		}
		return nil
	})
	if err != nil && ctx.Err() == nil {
		s.logger.Warn("list integrations for scheduled verification", "err", err)
	}
}

// budgetKey is the provider whose rate limits verifying integ counts
// against: its catalog provider, or for a custom integration the host of
// its base URL (custom integrations are unrelated APIs, not one
// provider).
func budgetKey(integ store.Integration) string {
	if integ.Provider != catalog.Custom {
		return integ.Provider
	}
	var cfg struct {
		BaseURL string `json:"base_url"`
	}
	if json.Unmarshal(integ.Config, &cfg) == nil {
		if u, err := url.Parse(cfg.BaseURL); err == nil && u.Host != "" {
			return catalog.Custom + " " + u.Host
		}
	}
	return integ.Provider
}

// providerLimits is a per-provider budget of verifications per minute.
type providerLimits struct {
	per int
	now func() time.Time

	mu     sync.Mutex
	window time.Time
	used   map[string]int
}

func (l *providerLimits) take(provider string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.window) >= time.Minute {
		l.window, l.used = now, map[string]int{}
	}
	if l.used[provider] >= l.per {
		return false
	}
	l.used[provider]++
	return true
}
