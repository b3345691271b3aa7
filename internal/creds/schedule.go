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
// may run it: an integration's turn is taken by moving its next
// verification forward (store.ScheduleVerification), which one instance
// wins, so each one is verified once per period cluster-wide.
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

// duePage is how many due integrations one read of a scan takes.
const duePage = 500

// verifyDue takes the turns that are due. It reads only those (one index
// range a page), so a scan costs the same however many integrations are
// not due, and moves a page's turns in one transaction.
func (s *Service) verifyDue(ctx context.Context, cfg VerifySchedule, limits *providerLimits) {
	now := s.now()
	held := map[string]int{} // turns held back this scan, by budget key
	var after store.VerifyCursor
	for {
		due, err := s.store.ListDueVerifications(ctx, now, after, duePage)
		if err != nil {
			if ctx.Err() == nil {
				s.logger.Warn("list integrations due for scheduled verification", "err", err)
			}
			return
		}
		turns := make([]store.VerifyTurn, len(due))
		verify := make([]bool, len(due))
		for i, d := range due {
			turns[i], verify[i] = s.turn(cfg, limits, held, d.Integration, now)
		}
		took, err := s.store.ScheduleVerifications(ctx, turns)
		if err != nil {
			if ctx.Err() == nil {
				s.logger.Warn("schedule verifications", "integrations", len(turns), "err", err)
			}
			return
		}
		for i, d := range due {
			if !verify[i] || !took[i] {
				continue // moved on, or another instance has this turn
			}
			if _, err := s.Verify(ctx, events.System, d.Integration); err != nil && ctx.Err() == nil {
				s.logger.Info("scheduled verification", "integration", d.Integration.ID, "err", err)
			}
		}
		if len(due) < duePage || ctx.Err() != nil {
			return
		}
		after = due[len(due)-1].Cursor()
	}
}

// turn decides the move of integ's turn, which is due at now, and whether
// integ is verified once the move is taken. Verified within the last half
// Interval (by hand, or when its credential was saved), its turn moves to
// an interval after that verification instead: half, because a turn the
// schedule took itself comes at least 0.9 Interval after the last one.
// Over the budget, the turn moves to the first minute with room left,
// counting the turns held back before it this scan (held): a backlog is
// read again when its minute comes, not by every scan until then.
func (s *Service) turn(cfg VerifySchedule, limits *providerLimits, held map[string]int, integ store.Integration, now time.Time) (store.VerifyTurn, bool) {
	t := store.VerifyTurn{ID: integ.ID, Now: now}
	if now.Sub(integ.LastVerifiedAt) < cfg.Interval/2 {
		t.Next = integ.LastVerifiedAt.Add(cfg.period())
		return t, false
	}
	key := budgetKey(integ)
	if !limits.take(key) {
		minutes := held[key]/cfg.PerProviderPerMinute + 1
		held[key]++
		t.Next = now.Add(time.Duration(minutes) * time.Minute)
		return t, false
	}
	t.Next = now.Add(cfg.period())
	return t, true
}

// period is the time to an integration's next turn: Interval ±10%, so
// integrations connected together spread out.
func (c VerifySchedule) period() time.Duration {
	return c.Interval - c.Interval/10 + time.Duration(rand.Int64N(int64(c.Interval/5)+1))
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
