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
	"github.com/stormcreds/storm/internal/outcome"
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
	// Now defaults to time.Now. It judges token freshness; leases are
	// judged by the database's clock and the process's monotonic clock.
	Now func() time.Time
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Owner names this instance in refresh leases; default random.
	Owner string
	// CallTimeout bounds one token endpoint call; default 20s.
	CallTimeout time.Duration
	// LeaseTTL is how long a refresh lease outlives its holder: a live
	// holder renews it every third of that while it works (however long
	// the provider takes), so it can be short and another instance
	// takes over seconds after a holder dies. Default 5s.
	LeaseTTL time.Duration
	// WaitTimeout bounds how long a caller waits for another instance's
	// refresh when the current token cannot serve it (expired, or
	// refused with a 401); then it gets ErrUnavailable (503 with
	// Retry-After). Callers whose current token is still valid never
	// wait for another instance. Default 10s.
	WaitTimeout time.Duration
	// CommitTimeout bounds storing a new token set, on a context of its
	// own: however long the wait for the lease and the provider's answer
	// took, a rotated refresh token gets this long to reach the store.
	// Default 15s.
	CommitTimeout time.Duration
	// Concurrency bounds background refreshes in flight; default 8.
	Concurrency int
	// Interval is how often the background loop looks for tokens due;
	// default 1s.
	Interval time.Duration
	// MaxBackoff caps the wait after temporary failures; default 10m.
	MaxBackoff time.Duration
	// Hook, when set, is called at each step of a refresh ("leased",
	// "calling", "refreshed", "committed"); an error aborts the refresh
	// there as if the process died (the lease is not released). Tests
	// only.
	Hook func(step string) error
	// Committed, when set, is told the integration whose new token set
	// this engine just stored, so caches of the old one in this process
	// are dropped at once rather than when they expire.
	Committed func(integrationID string)
	// Metrics, when set, is told the outcome of every provider call.
	Metrics func(outcome string, d time.Duration)
	// SafeText, when set, turns a provider failure into the text stored
	// in events and status reasons (no provider-supplied text that could
	// echo a secret); default: the error's code and status only.
	SafeText func(err error) string
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
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	if cfg.LeaseTTL < 30*time.Millisecond {
		return nil, errors.New("tokens: LeaseTTL must be at least 30ms")
	}
	if cfg.WaitTimeout == 0 {
		cfg.WaitTimeout = 10 * time.Second
	}
	if cfg.CommitTimeout == 0 {
		cfg.CommitTimeout = 15 * time.Second
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
	if cfg.SafeText == nil {
		cfg.SafeText = codeText
	}
	return &Engine{cfg: cfg}, nil
}

// codeText describes a failure by its OAuth error code and HTTP status,
// or by the fixed text of why the endpoint could not be reached: never
// provider or network text, which may echo what was sent or name
// internal addresses.
func codeText(err error) string {
	var oerr *oauth.Error
	if errors.As(err, &oerr) {
		switch {
		case oerr.Code != "" && oerr.Status != 0:
			return fmt.Sprintf("the token endpoint answered %d (%s)", oerr.Status, oerr.Code)
		case oerr.Code != "":
			return "the token endpoint answered " + oerr.Code
		case oerr.Status != 0:
			return fmt.Sprintf("the token endpoint answered %d", oerr.Status)
		}
	}
	return "the token endpoint: " + outcome.CauseOf(err).Text()
}

// Close stops new refreshes and waits for those in flight, so none of
// them writes to a store closed after it. Run must have returned (or
// its context ended) first.
func (e *Engine) Close() { e.flights.close() }

// DefaultLeaseTTL is how long a dead holder's refresh lease blocks
// other instances.
const DefaultLeaseTTL = 5 * time.Second

// staleGrace is how long a caller whose token is no longer fresh but
// still valid waits for another instance's refresh before it takes the
// current token.
const staleGrace = 2 * time.Second

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
	return e.refresh(ctx, c.IntegrationID, c.ID, refusal{})
}

// RefreshAfter401 refreshes because the provider refused used, a token
// its request picked at sentAfter (zero: unknown). If the stored token
// already differs from used and was obtained after sentAfter (someone
// refreshed meanwhile), that one is returned without another call. One
// obtained before then did not keep the provider from refusing the
// request — a provider that dropped every session dropped it too — so it
// is refreshed as well.
func (e *Engine) RefreshAfter401(ctx context.Context, c store.Credential, used secret.String, sentAfter time.Time) (oauth.TokenSet, error) {
	return e.refresh(ctx, c.IntegrationID, c.ID, refusal{used, sentAfter})
}

// refusal is the token a provider refused (with a 401) and when the
// refused request picked it; the zero refusal is a plain refresh.
type refusal struct {
	token     secret.String
	sentAfter time.Time
}

// superseded reports whether ts replaces the refused token: another
// token, obtained after the refused request picked its own.
func (r refusal) superseded(ts oauth.TokenSet) bool {
	return ts.AccessToken != r.token && (r.sentAfter.IsZero() || ts.ObtainedAt.IsZero() || ts.ObtainedAt.After(r.sentAfter))
}

// done reports whether ts satisfies the caller: fresh, and not the token
// a 401 was reported for.
func (e *Engine) done(ts oauth.TokenSet, used refusal) bool {
	if used.token != "" {
		return used.superseded(ts)
	}
	return ts.FreshAt(e.cfg.Now())
}

func (e *Engine) refresh(ctx context.Context, integID, credID string, used refusal) (oauth.TokenSet, error) {
	// The flight key includes whether this is a forced refresh, so a
	// forced one never just shares a "still fresh" answer.
	key := credID
	if used.token != "" {
		key += "/401"
	}
	for {
		// The flight outlives this caller (others may share it, and a
		// rotated refresh token must be committed whoever still waits);
		// each step bounds itself, see refreshLeased.
		ts, err := e.flights.do(ctx, key, func() (oauth.TokenSet, error) {
			return e.refreshLeased(context.WithoutCancel(ctx), integID, credID, used, true)
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
			return nil, fmt.Errorf("%w: this instance's other refresh of the credential did not finish in time", ErrUnavailable)
		}
	}
}

// refreshLeased does one refresh under the cross-instance lease. When the
// lease is held elsewhere it waits (wait=true) for the holder's result,
// or gives up at once (background work).
//
// Waiting and working have separate budgets: waiting for this process's
// other refresh and for another instance's lease takes at most
// WaitTimeout; once the lease is held (and renewed in the background),
// the provider call has CallTimeout and the commit CommitTimeout of their
// own, so a long wait can never leave a rotated refresh token without
// the time to store it.
func (e *Engine) refreshLeased(base context.Context, integID, credID string, used refusal, wait bool) (oauth.TokenSet, error) {
	waitCtx, cancelWait := context.WithTimeout(base, e.cfg.WaitTimeout)
	defer cancelWait()
	done, err := e.turn(waitCtx, credID, wait)
	if err != nil {
		return oauth.TokenSet{}, err
	}
	defer done()
	asked, ts, err := e.awaitLease(waitCtx, credID, used, wait)
	if err != nil || asked.IsZero() {
		return ts, err
	}
	l := e.keep(base, credID, asked)
	if err := e.hook("leased"); err != nil {
		l.end(base, false)
		return oauth.TokenSet{}, err // as if this process died holding the lease
	}
	ts, err = e.refreshHeld(base, integID, credID, used, l)
	l.end(base, !errors.Is(err, errAborted))
	return ts, err
}

// awaitLease takes credID's lease and reports when it asked for the one
// it got. While another instance holds it, a caller waits for the
// holder's commit, or for the lease to expire when the holder died
// (asked is then zero) — except that a caller whose current token is
// still valid waits only briefly (staleGrace: a live holder commits in
// well under that) and then gets that token: nobody waits for a dead
// instance while their token works.
func (e *Engine) awaitLease(ctx context.Context, credID string, used refusal, wait bool) (asked time.Time, ts oauth.TokenSet, err error) {
	st := e.cfg.Store
	pause := 20 * time.Millisecond
	graceEnds := time.Now().Add(min(staleGrace, e.cfg.WaitTimeout/2))
	for {
		at := time.Now()
		ok, err := st.HoldLease(ctx, leaseName(credID), e.cfg.Owner, e.cfg.LeaseTTL)
		if err != nil {
			return time.Time{}, oauth.TokenSet{}, e.waitError(ctx, err)
		}
		if ok {
			return at, oauth.TokenSet{}, nil
		}
		// Another instance is refreshing.
		c, err := st.GetCredential(ctx, credID)
		if err != nil {
			return time.Time{}, oauth.TokenSet{}, e.waitError(ctx, err)
		}
		if c.State != store.StateActive {
			return time.Time{}, oauth.TokenSet{}, ErrReplaced
		}
		if ts, err := e.Tokens(c); err == nil && (e.done(ts, used) || (used.token == "" && ts.ValidAt(e.cfg.Now()) && (!wait || time.Now().After(graceEnds)))) {
			return time.Time{}, ts, nil
		}
		if !wait {
			return time.Time{}, oauth.TokenSet{}, errBusy
		}
		select {
		case <-ctx.Done():
			return time.Time{}, oauth.TokenSet{}, e.waitError(ctx, ctx.Err())
		case <-time.After(pause):
		}
		pause = min(pause*2, 250*time.Millisecond)
	}
}

// waitError reports a wait that ran out of time as ErrUnavailable (the
// caller may retry once a dead holder's lease has expired), anything
// else as itself.
func (e *Engine) waitError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return &Unavailable{RetryAfter: e.cfg.LeaseTTL, Reason: "another instance's refresh of this credential did not finish in time"}
	}
	return err
}

// Unavailable is ErrUnavailable with when to try again.
type Unavailable struct {
	RetryAfter time.Duration
	Reason     string
	Cause      error // the provider's failure, when there is one
}

func (u *Unavailable) Error() string {
	msg := ErrUnavailable.Error() + ": " + u.Reason
	if u.Cause != nil {
		msg += ": " + u.Cause.Error()
	}
	return msg
}

func (u *Unavailable) Unwrap() []error {
	if u.Cause == nil {
		return []error{ErrUnavailable}
	}
	return []error{ErrUnavailable, u.Cause}
}

var (
	errBusy    = errors.New("tokens: refresh in progress elsewhere")
	errAborted = errors.New("tokens: refresh aborted by a test hook")
	// errLeaseLost means the lease lapsed before the provider was called
	// and another instance took it: calling now could present the same
	// refresh token twice.
	errLeaseLost = &Unavailable{Reason: "the refresh lease was lost before the provider was called", RetryAfter: time.Second}
	// errSuperseded means the stored token set is no longer the one this
	// refresh started from: someone else committed a newer one, which
	// must not be overwritten (nor judged by this refresh's failure).
	errSuperseded = errors.New("tokens: the stored token set changed during the refresh")
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

// held is what a refresh read under its lease.
type held struct {
	integ store.Integration
	cred  store.Credential
	m     Material
	ts    oauth.TokenSet
	// The provider's answer to the call with ts.
	start time.Time
	next  oauth.TokenSet
	err   error
}

// read loads the integration and its credential under the lease. The
// integration comes first: a change of the integration's endpoints
// retires its credentials in the same transaction, so a credential still
// active after the integration was read was issued for the endpoints
// read, and its tokens never go anywhere else.
func (e *Engine) read(ctx context.Context, integID, credID string) (held, error) {
	st := e.cfg.Store
	integ, err := st.GetIntegration(ctx, integID)
	if err != nil {
		return held{}, err
	}
	c, err := st.GetCredential(ctx, credID)
	if err != nil {
		return held{}, err
	}
	if c.State != store.StateActive || c.IntegrationID != integ.ID {
		return held{}, ErrReplaced
	}
	m, err := e.Open(c)
	if err != nil {
		return held{}, err
	}
	ts, err := m.Tokens()
	if err != nil {
		return held{}, err
	}
	return held{integ: integ, cred: c, m: m, ts: ts}, nil
}

// sameSet reports whether two token sets are the same grant state.
func sameSet(a, b oauth.TokenSet) bool {
	return a.AccessToken == b.AccessToken && a.RefreshToken == b.RefreshToken
}

// refreshHeld runs with the lease held: re-read, decide, call, commit.
func (e *Engine) refreshHeld(base context.Context, integID, credID string, used refusal, l *lease) (oauth.TokenSet, error) {
	// Store work is bounded like a commit; a slow read that outlives the
	// lease is caught by the renewal before the provider is called.
	ctx, cancel := context.WithTimeout(base, e.cfg.CommitTimeout)
	defer cancel()
	h, err := e.read(ctx, integID, credID)
	if err != nil {
		return oauth.TokenSet{}, err
	}
	c, ts := h.cred, h.ts
	now := e.cfg.Now()
	// Waiters re-read: whoever held the lease before us may have done
	// the work already.
	if used.token == "" && ts.FreshAt(now) && (c.RefreshAt.IsZero() || now.Before(c.RefreshAt)) {
		return ts, nil
	}
	if used.token != "" && used.superseded(ts) {
		return ts, nil
	}
	// Backing off after temporary failures: do not call the provider
	// again before the next attempt time, whoever asks.
	if c.Failures > 0 && now.Before(c.RefreshAt) {
		if ts.ValidAt(now) && used.token == "" {
			return ts, nil
		}
		return oauth.TokenSet{}, ErrUnavailable
	}
	sctx, cancelSources := context.WithTimeout(base, e.cfg.CallTimeout) // discovery may call out
	src, err := e.cfg.Sources(sctx, h.integ, h.m)
	cancelSources()
	if err != nil {
		// The provider could not even be asked (its discovery document
		// is unreachable, a setting is broken): back off like an outage,
		// or this credential would stay first in line forever.
		return e.commitBackoff(base, c, ts, &oauth.Error{Op: "refresh", Temporary: true, Err: err}, false)
	}
	for retried := false; ; retried = true {
		next, err := e.call(base, credID, src, &h, l)
		if err != nil {
			return next, err
		}
		if next.AccessToken != "" {
			return next, nil // someone else refreshed while our lease lapsed
		}
		ts, err := e.answer(base, h, src, retried)
		if !errors.Is(err, errSuperseded) {
			return ts, err
		}
		// The provider refused a refresh token that another instance
		// had replaced meanwhile (it held the lease after ours lapsed).
		// The refusal is stale, but a provider that revokes the whole
		// grant when a used refresh token comes back has just killed
		// the replacement too: try the stored set once, so the grant
		// is either known alive or marked reconnect_required.
		if h, err = e.read(ctx, integID, credID); err != nil {
			return oauth.TokenSet{}, err
		}
	}
}

// call sends h's refresh to the provider, leaving the outcome in h for
// answer. It never calls when the lease was lost. When no renewal
// succeeded for a while (a slow store), the lease may have lapsed and
// another instance may have refreshed meanwhile: call holds it again and
// re-reads, and returns the stored set (non-empty) without calling if it
// changed.
func (e *Engine) call(base context.Context, credID string, src Source, h *held, l *lease) (oauth.TokenSet, error) {
	if err := e.hook("calling"); err != nil {
		return oauth.TokenSet{}, err
	}
	lost, lapsed := l.state()
	if lost {
		return oauth.TokenSet{}, errLeaseLost
	}
	if lapsed {
		held, err := l.hold(base)
		if err != nil {
			return oauth.TokenSet{}, err
		}
		if !held {
			return oauth.TokenSet{}, errLeaseLost
		}
		rctx, cancel := context.WithTimeout(base, e.cfg.CommitTimeout)
		now, err := e.read(rctx, h.integ.ID, credID)
		cancel()
		if err != nil {
			return oauth.TokenSet{}, err
		}
		if !sameSet(now.ts, h.ts) {
			return now.ts, nil
		}
	}
	callCtx, cancelCall := context.WithTimeout(base, e.cfg.CallTimeout)
	defer cancelCall()
	h.start = time.Now()
	h.next, h.err = src.Refresh(callCtx, h.ts)
	return oauth.TokenSet{}, nil
}

// answer commits the provider's answer to the call in h. A refusal
// found stale (errSuperseded) is left to the caller, which retries once;
// after the retry it is reported as the stored set.
func (e *Engine) answer(base context.Context, h held, src Source, retried bool) (oauth.TokenSet, error) {
	if h.err == nil {
		if herr := e.hook("refreshed"); herr != nil {
			return oauth.TokenSet{}, herr
		}
		e.metric("ok", h.start)
		return e.commitSuccess(base, h.cred, h.m, h.ts, h.next, src.Margin())
	}
	var rejected *ClientRejected
	if errors.As(h.err, &rejected) {
		// The app's problem, not this grant's: never final.
		e.metric("client_rejected", h.start)
		return e.commitBackoff(base, h.cred, h.ts, rejected.Err, true)
	}
	var oerr *oauth.Error
	if !errors.As(h.err, &oerr) {
		oerr = &oauth.Error{Op: "refresh", Temporary: true, Err: h.err}
	}
	if oerr.GrantRevoked() {
		e.metric("revoked", h.start)
		err := e.commitRevoked(base, h.cred, h.ts, oerr)
		if errors.Is(err, errSuperseded) {
			e.cfg.Logger.Warn("a stale refresh token was refused; a newer token set is stored", "credential", h.cred.ID, "error", oerr.Code)
			if retried {
				return e.current(base, h.cred)
			}
		}
		return oauth.TokenSet{}, err
	}
	e.metric("temporary", h.start)
	return e.commitBackoff(base, h.cred, h.ts, oerr, false)
}

// ClientRejected is a Source's refusal by the provider of the OAuth
// client itself (invalid_client with every secret tried) when that client
// is an app shared by many integrations. It is the app's problem, never
// this grant's: a provider switching client secrets at the moment of a
// refresh must not cost a grant (shared/API.md "Apps"). The engine backs
// off and tries again (with whatever secrets the app holds by then), and
// leaves the integration's status alone while its token is valid.
type ClientRejected struct {
	Err *oauth.Error // the last refusal
}

func (c *ClientRejected) Error() string {
	return "the provider refused the app's client: " + c.Err.Error()
}

func (c *ClientRejected) Unwrap() error { return c.Err }

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

// mutate runs one compare-and-swap of c's integration on a context of
// its own (CommitTimeout), retrying store failures: what it records
// came from the provider and cannot be asked for again. fn is handed c
// as stored and the token set stored in it; it returns errSuperseded
// when that is not the set the refresh started from.
func (e *Engine) mutate(base context.Context, c store.Credential, old oauth.TokenSet, fn func(set *store.CredentialSet, cur *store.Credential) error) error {
	ctx, cancel := context.WithTimeout(base, e.cfg.CommitTimeout)
	defer cancel()
	var err error
	for attempt := range 5 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("%w (last attempt: %v)", ctx.Err(), err)
			case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
			}
		}
		_, err = e.cfg.Store.Mutate(ctx, c.IntegrationID, func(set *store.CredentialSet) error {
			cur := find(set, c.ID)
			if cur == nil || cur.State != store.StateActive {
				return ErrReplaced
			}
			stored, err := e.Tokens(*cur)
			if err != nil {
				return err
			}
			if stored.AccessToken != old.AccessToken || stored.RefreshToken != old.RefreshToken {
				return errSuperseded
			}
			return fn(set, cur)
		})
		if err == nil || errors.Is(err, ErrReplaced) || errors.Is(err, errSuperseded) || errors.Is(err, vault.ErrDecrypt) {
			return err
		}
	}
	return err
}

// current returns the token set now stored for c, for a refresh whose
// outcome was superseded by someone else's commit.
func (e *Engine) current(base context.Context, c store.Credential) (oauth.TokenSet, error) {
	ctx, cancel := context.WithTimeout(base, e.cfg.CommitTimeout)
	defer cancel()
	cur, err := e.cfg.Store.GetCredential(ctx, c.ID)
	if err != nil {
		return oauth.TokenSet{}, err
	}
	if cur.State != store.StateActive {
		return oauth.TokenSet{}, ErrReplaced
	}
	return e.Tokens(cur)
}

// commitSuccess stores the new token set (with a rotated refresh token)
// before anyone uses it, unless the stored set changed meanwhile: a
// newer set is never overwritten.
func (e *Engine) commitSuccess(base context.Context, c store.Credential, m Material, old, next oauth.TokenSet, margin time.Duration) (oauth.TokenSet, error) {
	if err := m.SetTokens(next); err != nil {
		return oauth.TokenSet{}, err
	}
	sealed, err := e.Seal(c, m)
	if err != nil {
		return oauth.TokenSet{}, err
	}
	now := e.cfg.Now().UTC()
	err = e.mutate(base, c, old, func(set *store.CredentialSet, cur *store.Credential) error {
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
	if errors.Is(err, errSuperseded) {
		e.cfg.Logger.Warn("a newer token set was stored during this refresh; keeping it", "credential", c.ID)
		return e.current(base, c)
	}
	if err != nil {
		e.cfg.Logger.Error("could not store a refreshed token set", "credential", c.ID, "err", err)
		return oauth.TokenSet{}, err
	}
	if e.cfg.Committed != nil {
		e.cfg.Committed(c.IntegrationID)
	}
	if err := e.hook("committed"); err != nil {
		return oauth.TokenSet{}, err
	}
	return next, nil
}

// commitRevoked marks the integration as needing a person, unless the
// refusal is stale: the credential was replaced (Reconnect) or another
// refresh stored a newer token set meanwhile, so the refresh token the
// provider refused is no longer the one in use.
func (e *Engine) commitRevoked(base context.Context, c store.Credential, old oauth.TokenSet, oerr *oauth.Error) error {
	now := e.cfg.Now().UTC()
	text := e.cfg.SafeText(oerr)
	err := e.mutate(base, c, old, func(set *store.CredentialSet, cur *store.Credential) error {
		cur.RefreshAt, cur.Failures = time.Time{}, cur.Failures+1
		in := &set.Integration
		data := map[string]any{"credential": c.ID, "error": oerr.Code, "status": oerr.Status, "final": true, "reason": outcome.Of(oerr)}
		set.Events = append(set.Events, events.New(in.WorkspaceID, in.ID, events.TokenRefreshFailed, now, data))
		if in.Status != store.StatusDisabled && in.Status != store.StatusReconnectRequired {
			set.Events = append(set.Events, events.New(in.WorkspaceID, in.ID, events.IntegrationReconnectRequired, now, map[string]any{"from": in.Status, "reason": text}))
			in.Status, in.StatusReason, in.UpdatedAt = store.StatusReconnectRequired, "the provider refused the refresh ("+oerr.Code+"): authorize again", now
		}
		return nil
	})
	if err != nil {
		return err // errSuperseded: a stale refusal, see answer
	}
	return reconnectProblem(oerr)
}

func reconnectProblem(oerr *oauth.Error) *problem.Problem {
	p := problem.New(http.StatusConflict, "the provider refused to refresh the token (%s); the integration needs to be authorized again (Reconnect)", oerr.Code)
	p.Extra = map[string]any{"status": store.StatusReconnectRequired}
	return p
}

// Backoff is the wait before retry n (1, 2, …; smaller n count as 1)
// after temporary failures: exponential from 2s with full jitter, capped.
func Backoff(n int, cap time.Duration) time.Duration {
	n = max(n, 1)
	d := 2 * time.Second << min(n-1, 20)
	d = max(min(d, cap), 0)
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// commitBackoff records a temporary failure: next attempt later, the
// integration degraded but still usable while its token is valid. A
// rejected app client (clientRejected) leaves the status alone while the
// token is valid: the integration works, its app needs attention.
func (e *Engine) commitBackoff(base context.Context, c store.Credential, ts oauth.TokenSet, oerr *oauth.Error, clientRejected bool) (oauth.TokenSet, error) {
	now := e.cfg.Now().UTC()
	text := e.cfg.SafeText(oerr)
	var nextAt time.Time
	err := e.mutate(base, c, ts, func(set *store.CredentialSet, cur *store.Credential) error {
		cur.Failures++
		wait := max(Backoff(cur.Failures, e.cfg.MaxBackoff), oerr.RetryAfter)
		nextAt = now.Add(wait)
		cur.RefreshAt = nextAt
		in := &set.Integration
		data := map[string]any{"credential": c.ID, "error": text, "status": oerr.Status, "final": false, "next_attempt_at": nextAt, "failures": cur.Failures, "reason": outcome.Of(oerr)}
		if clientRejected {
			data["app_client_rejected"] = true
		}
		set.Events = append(set.Events, events.New(in.WorkspaceID, in.ID, events.TokenRefreshFailed, now, data))
		if clientRejected && ts.ValidAt(now) {
			return nil
		}
		if in.Status == store.StatusConnected || in.Status == store.StatusPending {
			set.Events = append(set.Events, events.New(in.WorkspaceID, in.ID, events.IntegrationDegraded, now, map[string]any{"from": in.Status, "reason": text}))
			in.Status, in.StatusReason, in.UpdatedAt = store.StatusDegraded, "token refresh failing, retrying: "+text, now
		}
		return nil
	})
	if errors.Is(err, errSuperseded) {
		return e.current(base, c)
	}
	if err != nil {
		return oauth.TokenSet{}, err
	}
	if ts.ValidAt(now) {
		return ts, nil
	}
	return oauth.TokenSet{}, &Unavailable{RetryAfter: nextAt.Sub(now), Reason: "the provider is failing (next attempt at " + nextAt.Format(time.RFC3339) + ")", Cause: oerr}
}

func find(set *store.CredentialSet, id string) *store.Credential {
	for i := range set.Credentials {
		if set.Credentials[i].ID == id {
			return &set.Credentials[i]
		}
	}
	return nil
}
