package tokens

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/oauth"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/secret"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/vault"
)

// Source obtains a new token set: an OAuth 2.0 refresh, or minting from
// a service account's key.
type Source interface {
	Refresh(ctx context.Context, old oauth.TokenSet) (oauth.TokenSet, error)
	// Margin is the provider's refresh margin (zero: the default rule).
	Margin() time.Duration
}

// SourceFor builds the Source of an integration's credential from the
// credential's decrypted material document (see Material).
type SourceFor func(ctx context.Context, integ store.Integration, m Material) (Source, error)

// Config configures an Engine. Store, Vault and Sources are required.
type Config struct {
	Store   store.Store
	Vault   *vault.Vault
	Sources SourceFor
	// Now defaults to time.Now.
	Now func() time.Time
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Owner names this instance in refresh leases; default random.
	Owner string
	// CallTimeout bounds one token endpoint call; default 20s.
	CallTimeout time.Duration
	// LeaseTTL is how long a refresh lease lasts if its holder dies; it
	// must exceed CallTimeout so a live holder never loses it. Default
	// 3 × CallTimeout.
	LeaseTTL time.Duration
	// Concurrency bounds background refreshes in flight; default 8.
	Concurrency int
	// Interval is how often the background loop looks for tokens due;
	// default 1s.
	Interval time.Duration
	// MaxBackoff caps the wait after temporary failures; default 10m.
	MaxBackoff time.Duration
	// Hook, when set, is called at each step of a refresh ("leased",
	// "refreshed", "committed"); an error aborts the refresh there as if
	// the process died (the lease is not released). Tests only.
	Hook func(step string) error
	// Metrics, when set, is told the outcome of every provider call.
	Metrics func(outcome string, d time.Duration)
}

// Engine refreshes tokens. It is safe for concurrent use.
type Engine struct {
	cfg     Config
	flights flights[oauth.TokenSet]

	// turns serialises this process's refreshes of one credential. The
	// database lease keeps other instances out, but this instance holds
	// it under one owner, so it cannot tell its own refreshes apart: a
	// forced refresh after a 401 (its own flight key) must not run while
	// another refresh of the credential is between the provider's answer
	// and the commit, or it presents the same refresh token again.
	turnsMu sync.Mutex
	turns   map[string]chan struct{} // credential → closed when its refresh ends
}

// New validates cfg and returns an Engine.
func New(cfg Config) (*Engine, error) {
	if cfg.Store == nil || cfg.Vault == nil || cfg.Sources == nil {
		return nil, errors.New("tokens: Store, Vault and Sources are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Owner == "" {
		var b [8]byte
		crand.Read(b[:])
		cfg.Owner = "instance-" + hex.EncodeToString(b[:])
	}
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = 20 * time.Second
	}
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = 3 * cfg.CallTimeout
	}
	if cfg.LeaseTTL <= cfg.CallTimeout {
		return nil, errors.New("tokens: LeaseTTL must exceed CallTimeout")
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 8
	}
	if cfg.Interval == 0 {
		cfg.Interval = time.Second
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 10 * time.Minute
	}
	return &Engine{cfg: cfg}, nil
}

// ErrUnavailable means no usable token can be had now: the current one
// expired and the provider is failing; retry later.
var ErrUnavailable = errors.New("tokens: the provider is unavailable and the current token has expired")

// ErrReplaced means the credential stopped being the active version
// while a refresh was asked for; the caller should re-read.
var ErrReplaced = errors.New("tokens: the credential is no longer active")

// Open decrypts a credential's material document.
func (e *Engine) Open(c store.Credential) (Material, error) {
	pt, err := e.cfg.Vault.Open(c.Secret, vault.CredentialAD(c))
	if err != nil {
		return nil, fmt.Errorf("open credential %s: %w", c.ID, err)
	}
	defer clear(pt)
	return decodeMaterial(pt)
}

// Seal encrypts a material document for c.
func (e *Engine) Seal(c store.Credential, m Material) ([]byte, error) {
	pt, err := m.encode()
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	return e.cfg.Vault.Seal(pt, vault.CredentialAD(c))
}

// Tokens decrypts a credential's current token set.
func (e *Engine) Tokens(c store.Credential) (oauth.TokenSet, error) {
	m, err := e.Open(c)
	if err != nil {
		return oauth.TokenSet{}, err
	}
	return m.Tokens()
}

// Token returns a token that may be handed out now (at least
// min(60s, half its lifetime) left), refreshing first if needed. However
// many callers ask at once, one refresh happens.
func (e *Engine) Token(ctx context.Context, c store.Credential) (oauth.TokenSet, error) {
	ts, err := e.Tokens(c)
	if err != nil {
		return oauth.TokenSet{}, err
	}
	now := e.cfg.Now()
	if ts.FreshAt(now) {
		return ts, nil
	}
	// Backing off after failures: the still-valid token serves without
	// touching the lease or the provider.
	if c.Failures > 0 && now.Before(c.RefreshAt) && ts.ValidAt(now) {
		return ts, nil
	}
	return e.refresh(ctx, c.IntegrationID, c.ID, "")
}

// RefreshAfter401 refreshes because the provider refused used. If the
// stored token already differs from used (someone refreshed meanwhile),
// that one is returned without another call.
func (e *Engine) RefreshAfter401(ctx context.Context, c store.Credential, used secret.String) (oauth.TokenSet, error) {
	return e.refresh(ctx, c.IntegrationID, c.ID, used)
}

// done reports whether ts satisfies the caller: fresh, and not the token
// a 401 was reported for.
func (e *Engine) done(ts oauth.TokenSet, used secret.String) bool {
	if used != "" {
		return ts.AccessToken != used
	}
	return ts.FreshAt(e.cfg.Now())
}

func (e *Engine) refresh(ctx context.Context, integID, credID string, used secret.String) (oauth.TokenSet, error) {
	// The flight key includes whether this is a forced refresh, so a
	// forced one never just shares a "still fresh" answer.
	key := credID
	if used != "" {
		key += "/401"
	}
	for {
		ts, err := e.flights.do(ctx, key, func() (oauth.TokenSet, error) {
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.LeaseTTL)
			defer cancel()
			return e.refreshLeased(fctx, integID, credID, used, true)
		})
		// Joining the background loop's flight (same key) shares its
		// answer, and it gives up at once when another instance holds
		// the lease: wait for a turn of our own instead.
		if !errors.Is(err, errBusy) || ctx.Err() != nil {
			return ts, err
		}
	}
}

// turn waits until no other refresh of credID runs in this process (or
// gives up at once without wait) and takes the turn; done ends it.
func (e *Engine) turn(ctx context.Context, credID string, wait bool) (done func(), err error) {
	for {
		e.turnsMu.Lock()
		if e.turns == nil {
			e.turns = map[string]chan struct{}{}
		}
		busy, taken := e.turns[credID]
		if !taken {
			ch := make(chan struct{})
			e.turns[credID] = ch
			e.turnsMu.Unlock()
			return func() {
				e.turnsMu.Lock()
				delete(e.turns, credID)
				e.turnsMu.Unlock()
				close(ch)
			}, nil
		}
		e.turnsMu.Unlock()
		if !wait {
			return nil, errBusy
		}
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, fmt.Errorf("tokens: waiting for this instance's other refresh: %w", ctx.Err())
		}
	}
}

// leaseName is the database lease guarding credID's refreshes.
func leaseName(credID string) string { return "refresh:" + credID }

// refreshLeased does one refresh under the cross-instance lease. When the
// lease is held elsewhere it waits (wait=true) for the holder's result,
// or gives up at once (background work).
func (e *Engine) refreshLeased(ctx context.Context, integID, credID string, used secret.String, wait bool) (oauth.TokenSet, error) {
	done, err := e.turn(ctx, credID, wait)
	if err != nil {
		return oauth.TokenSet{}, err
	}
	defer done()
	st := e.cfg.Store
	pause := 20 * time.Millisecond
	for {
		now := e.cfg.Now()
		ok, err := st.AcquireLease(ctx, leaseName(credID), e.cfg.Owner, now.Add(e.cfg.LeaseTTL), now)
		if err != nil {
			return oauth.TokenSet{}, err
		}
		if ok {
			break
		}
		// Another instance is refreshing: wait for its commit.
		c, err := st.GetCredential(ctx, credID)
		if err != nil {
			return oauth.TokenSet{}, err
		}
		if c.State != store.StateActive {
			return oauth.TokenSet{}, ErrReplaced
		}
		if ts, err := e.Tokens(c); err == nil && e.done(ts, used) {
			return ts, nil
		}
		if !wait {
			return oauth.TokenSet{}, errBusy
		}
		select {
		case <-ctx.Done():
			return oauth.TokenSet{}, fmt.Errorf("tokens: waiting for another instance's refresh: %w", ctx.Err())
		case <-time.After(pause):
		}
		pause = min(pause*2, 250*time.Millisecond)
	}
	if err := e.hook("leased"); err != nil {
		return oauth.TokenSet{}, err // as if this process died holding the lease
	}
	ts, err := e.refreshHeld(ctx, integID, credID, used)
	if errors.Is(err, errAborted) {
		return oauth.TokenSet{}, err
	}
	if rerr := st.ReleaseLease(context.WithoutCancel(ctx), leaseName(credID), e.cfg.Owner); rerr != nil {
		e.cfg.Logger.Warn("release refresh lease", "credential", credID, "err", rerr)
	}
	return ts, err
}

var (
	errBusy    = errors.New("tokens: refresh in progress elsewhere")
	errAborted = errors.New("tokens: refresh aborted by a test hook")
)

func (e *Engine) hook(step string) error {
	if e.cfg.Hook == nil {
		return nil
	}
	if err := e.cfg.Hook(step); err != nil {
		return fmt.Errorf("%w at %s: %v", errAborted, step, err)
	}
	return nil
}

// refreshHeld runs with the lease held: re-read, decide, call, commit.
func (e *Engine) refreshHeld(ctx context.Context, integID, credID string, used secret.String) (oauth.TokenSet, error) {
	st := e.cfg.Store
	c, err := st.GetCredential(ctx, credID)
	if err != nil {
		return oauth.TokenSet{}, err
	}
	if c.State != store.StateActive {
		return oauth.TokenSet{}, ErrReplaced
	}
	m, err := e.Open(c)
	if err != nil {
		return oauth.TokenSet{}, err
	}
	ts, err := m.Tokens()
	if err != nil {
		return oauth.TokenSet{}, err
	}
	now := e.cfg.Now()
	// Waiters re-read: whoever held the lease before us may have done
	// the work already.
	if used == "" && ts.FreshAt(now) && (c.RefreshAt.IsZero() || now.Before(c.RefreshAt)) {
		return ts, nil
	}
	if used != "" && ts.AccessToken != used {
		return ts, nil
	}
	// Backing off after temporary failures: do not call the provider
	// again before the next attempt time, whoever asks.
	if c.Failures > 0 && now.Before(c.RefreshAt) {
		if ts.ValidAt(now) && used == "" {
			return ts, nil
		}
		return oauth.TokenSet{}, ErrUnavailable
	}
	integ, err := st.GetIntegration(ctx, integID)
	if err != nil {
		return oauth.TokenSet{}, err
	}
	src, err := e.cfg.Sources(ctx, integ, m)
	if err != nil {
		// The provider could not even be asked (its discovery document
		// is unreachable, a setting is broken): back off like an outage,
		// or this credential would stay first in line forever.
		return e.commitBackoff(ctx, c, ts, &oauth.Error{Op: "refresh", Temporary: true, Err: err})
	}
	callCtx, cancel := context.WithTimeout(ctx, e.cfg.CallTimeout)
	start := time.Now()
	next, err := src.Refresh(callCtx, ts)
	cancel()
	if err == nil {
		if herr := e.hook("refreshed"); herr != nil {
			return oauth.TokenSet{}, herr
		}
		e.metric("ok", start)
		return e.commitSuccess(ctx, c, m, next, src.Margin())
	}
	var oerr *oauth.Error
	if !errors.As(err, &oerr) {
		oerr = &oauth.Error{Op: "refresh", Temporary: true, Err: err}
	}
	if oerr.GrantRevoked() {
		e.metric("revoked", start)
		return oauth.TokenSet{}, e.commitRevoked(ctx, c, oerr)
	}
	e.metric("temporary", start)
	return e.commitBackoff(ctx, c, ts, oerr)
}

func (e *Engine) metric(outcome string, start time.Time) {
	if e.cfg.Metrics != nil {
		e.cfg.Metrics(outcome, time.Since(start))
	}
}

// NextRefresh is when a token set should be refreshed proactively: ahead
// of expiry by the provider's margin or min(5m, half the lifetime),
// whichever is larger, less up to 10% jitter so a fleet of tokens issued
// together does not refresh in one burst. Zero: never (no expiry, or
// nothing to refresh with: an OAuth token without a refresh token; minted
// tokens pass renewable=true).
func NextRefresh(ts oauth.TokenSet, providerMargin time.Duration, renewable bool) time.Time {
	if ts.Expiry.IsZero() || (ts.RefreshToken == "" && !renewable) {
		return time.Time{}
	}
	margin := min(5*time.Minute, ts.Lifetime()/2)
	margin = max(margin, providerMargin)
	if margin <= 0 {
		margin = time.Minute
	}
	jitter := time.Duration(rand.Int64N(int64(margin/10) + 1))
	return ts.Expiry.Add(-margin - jitter)
}

// commitSuccess stores the new token set (with a rotated refresh token)
// before anyone uses it. The commit is retried: losing a rotated refresh
// token would silently kill the grant.
func (e *Engine) commitSuccess(ctx context.Context, c store.Credential, m Material, next oauth.TokenSet, margin time.Duration) (oauth.TokenSet, error) {
	if err := m.SetTokens(next); err != nil {
		return oauth.TokenSet{}, err
	}
	sealed, err := e.Seal(c, m)
	if err != nil {
		return oauth.TokenSet{}, err
	}
	now := e.cfg.Now().UTC()
	var lastErr error
	for attempt := range 5 {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 100 * time.Millisecond)
		}
		_, lastErr = e.cfg.Store.Mutate(ctx, c.IntegrationID, func(set *store.CredentialSet) error {
			cur := find(set, c.ID)
			if cur == nil || cur.State != store.StateActive {
				return ErrReplaced
			}
			cur.Secret, cur.ExpiresAt, cur.Failures = sealed, next.Expiry, 0
			cur.RefreshAt = NextRefresh(next, margin, true)
			in := &set.Integration
			data := map[string]any{"credential": c.ID, "expires_at": next.Expiry}
			set.Events = append(set.Events, events.New(in.WorkspaceID, in.ID, events.TokenRefreshed, now, data))
			if in.Status == store.StatusDegraded {
				set.Events = append(set.Events, events.New(in.WorkspaceID, in.ID, events.IntegrationRecovered, now, map[string]any{"from": in.Status}))
				in.Status, in.StatusReason, in.UpdatedAt = store.StatusConnected, "token refreshed", now
			}
			return nil
		})
		if lastErr == nil || errors.Is(lastErr, ErrReplaced) {
			break
		}
	}
	if lastErr != nil {
		e.cfg.Logger.Error("could not store a refreshed token set", "credential", c.ID, "err", lastErr)
		return oauth.TokenSet{}, lastErr
	}
	if err := e.hook("committed"); err != nil {
		return oauth.TokenSet{}, err
	}
	return next, nil
}

// commitRevoked marks the integration as needing a person.
func (e *Engine) commitRevoked(ctx context.Context, c store.Credential, oerr *oauth.Error) error {
	now := e.cfg.Now().UTC()
	_, err := e.cfg.Store.Mutate(ctx, c.IntegrationID, func(set *store.CredentialSet) error {
		if cur := find(set, c.ID); cur != nil {
			cur.RefreshAt, cur.Failures = time.Time{}, cur.Failures+1
		}
		in := &set.Integration
		data := map[string]any{"credential": c.ID, "error": oerr.Code, "status": oerr.Status, "final": true}
		set.Events = append(set.Events, events.New(in.WorkspaceID, in.ID, events.TokenRefreshFailed, now, data))
		if in.Status != store.StatusDisabled && in.Status != store.StatusReconnectRequired {
			set.Events = append(set.Events, events.New(in.WorkspaceID, in.ID, events.IntegrationReconnectRequired, now, map[string]any{"from": in.Status, "reason": oerr.Error()}))
			in.Status, in.StatusReason, in.UpdatedAt = store.StatusReconnectRequired, "the provider refused the refresh ("+oerr.Code+"): authorize again", now
		}
		return nil
	})
	if err != nil {
		return err
	}
	return reconnectProblem(oerr)
}

func reconnectProblem(oerr *oauth.Error) *problem.Problem {
	p := problem.New(http.StatusConflict, "the provider refused to refresh the token (%s); the integration needs to be authorized again (Reconnect)", oerr.Code)
	p.Extra = map[string]any{"status": store.StatusReconnectRequired}
	return p
}

// Backoff is the wait before retry n (1, 2, …) after temporary failures:
// exponential from 2s with full jitter, capped.
func Backoff(n int, cap time.Duration) time.Duration {
	d := 2 * time.Second << min(n-1, 20)
	d = min(d, cap)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// commitBackoff records a temporary failure: next attempt later, the
// integration degraded but still usable while its token is valid.
func (e *Engine) commitBackoff(ctx context.Context, c store.Credential, ts oauth.TokenSet, oerr *oauth.Error) (oauth.TokenSet, error) {
	now := e.cfg.Now().UTC()
	var nextAt time.Time
	_, err := e.cfg.Store.Mutate(ctx, c.IntegrationID, func(set *store.CredentialSet) error {
		cur := find(set, c.ID)
		if cur == nil || cur.State != store.StateActive {
			return ErrReplaced
		}
		cur.Failures++
		wait := max(Backoff(cur.Failures, e.cfg.MaxBackoff), oerr.RetryAfter)
		nextAt = now.Add(wait)
		cur.RefreshAt = nextAt
		in := &set.Integration
		data := map[string]any{"credential": c.ID, "error": oerr.Error(), "status": oerr.Status, "final": false, "next_attempt_at": nextAt, "failures": cur.Failures}
		set.Events = append(set.Events, events.New(in.WorkspaceID, in.ID, events.TokenRefreshFailed, now, data))
		if in.Status == store.StatusConnected || in.Status == store.StatusPending {
			set.Events = append(set.Events, events.New(in.WorkspaceID, in.ID, events.IntegrationDegraded, now, map[string]any{"from": in.Status, "reason": oerr.Error()}))
			in.Status, in.StatusReason, in.UpdatedAt = store.StatusDegraded, "token refresh failing, retrying: "+oerr.Error(), now
		}
		return nil
	})
	if err != nil {
		return oauth.TokenSet{}, err
	}
	if ts.ValidAt(now) {
		return ts, nil
	}
	return oauth.TokenSet{}, fmt.Errorf("%w (next attempt at %s): %v", ErrUnavailable, nextAt.Format(time.RFC3339), oerr)
}

func find(set *store.CredentialSet, id string) *store.Credential {
	for i := range set.Credentials {
		if set.Credentials[i].ID == id {
			return &set.Credentials[i]
		}
	}
	return nil
}
