package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/outcome"
	"github.com/stormcreds/storm/internal/proxy"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/vault"
)

// Headers of a delivery besides Storm-Signature.
const (
	EventIDHeader   = "Storm-Event-Id"
	EventTypeHeader = "Storm-Event-Type"
	WebhookIDHeader = "Storm-Webhook-Id"
	AttemptHeader   = "Storm-Delivery-Attempt"
	UserAgent       = "Storm-Webhooks/1"
)

// maxResponseBody is how much of a receiver's answer is read (and
// discarded) so the connection can be reused.
const maxResponseBody = 64 << 10

// Payload is the JSON body of a delivery: the event as GET /v1/events
// shows it.
type Payload struct {
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Integration string          `json:"integration"`
	Workspace   string          `json:"workspace"`
	At          string          `json:"at"`
	Data        json.RawMessage `json:"data"`
}

// Dispatcher delivers events to webhooks. Coordination lives in the
// database, so any number of instances can run one against a shared
// store:
//
//   - A webhook is served by one instance at a time: the instance holds
//     the lease "webhook:<id>" (store.AcquireLease), renewed before every
//     delivery and released after a turn of at most Tuning.Batch events.
//   - Events go out one at a time in log order. The webhook's cursor (the
//     seq of the last event delivered) is committed after each 2xx answer,
//     with a compare-and-swap, so a cursor never moves back and two
//     instances can never both advance it from the same place.
//   - A failed attempt (no 2xx within Tuning.Timeout) is logged and backs
//     off; the same event is retried first, so order holds.
//   - An instance killed mid-delivery leaves its lease to expire
//     (Tuning.LeaseTTL); another instance then resumes from the cursor.
//
// Delivery is therefore at least once: if an instance dies (or loses the
// database) after the receiver answered 2xx and before the cursor
// commit, the event is delivered again. Receivers dedupe by
// Storm-Event-Id. Barring such crashes, each event reaches each webhook
// once.
type Dispatcher struct {
	cfg   Config
	owner string // lease owner: unique per Dispatcher

	mu       sync.Mutex
	inFlight map[string]bool // webhooks this instance is serving now
}

// NewDispatcher validates cfg and returns a Dispatcher.
func NewDispatcher(cfg Config) (*Dispatcher, error) {
	if err := cfg.init(); err != nil {
		return nil, err
	}
	if cfg.Client == nil {
		px, err := proxy.New(proxy.Config{AllowPrivate: cfg.AllowPrivate, Timeout: cfg.Tuning.Timeout, MaxRetryBody: -1, Logger: cfg.Logger})
		if err != nil {
			return nil, err
		}
		cfg.Client = px.Client()
	}
	return &Dispatcher{cfg: cfg, owner: store.NewID("whd"), inFlight: map[string]bool{}}, nil
}

// Run delivers until ctx ends, looking for due webhooks every Tuning.Poll
// (less jitter). It serves up to Tuning.Workers webhooks at once and
// waits for them before returning.
func (d *Dispatcher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, d.cfg.Tuning.Workers)
	for {
		d.dispatch(ctx, slots, &wg)
		poll := d.cfg.Tuning.Poll
		poll -= time.Duration(rand.Int64N(int64(poll)/5 + 1))
		select {
		case <-ctx.Done():
			return
		case <-time.After(poll):
		}
	}
}

// Pass serves every webhook due now once and waits for them: one turn
// each, at most Tuning.Batch events. Tests use it to drive delivery
// step by step.
func (d *Dispatcher) Pass(ctx context.Context) {
	var wg sync.WaitGroup
	d.dispatch(ctx, make(chan struct{}, d.cfg.Tuning.Workers), &wg)
	wg.Wait()
}

// dispatch starts a turn for each due webhook not already being served by
// this instance, as worker slots allow.
func (d *Dispatcher) dispatch(ctx context.Context, slots chan struct{}, wg *sync.WaitGroup) {
	due, err := d.cfg.Store.ListDueWebhooks(ctx, d.cfg.Now(), 4*d.cfg.Tuning.Workers)
	if err != nil {
		if ctx.Err() == nil {
			d.cfg.Logger.Error("webhooks: list due", "err", err)
		}
		return
	}
	// Instances see the same list: start at different places.
	rand.Shuffle(len(due), func(i, j int) { due[i], due[j] = due[j], due[i] })
	for _, w := range due {
		d.mu.Lock()
		busy := d.inFlight[w.ID]
		d.mu.Unlock()
		if busy {
			continue
		}
		select {
		case slots <- struct{}{}:
		default:
			return // every worker is busy; the rest wait for the next poll
		}
		d.mu.Lock()
		d.inFlight[w.ID] = true
		d.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			defer func() {
				d.mu.Lock()
				delete(d.inFlight, w.ID)
				d.mu.Unlock()
			}()
			d.serve(ctx, w.ID)
		}()
	}
}

func leaseName(id string) string { return "webhook:" + id }

// lease takes or renews the webhook's lease.
func (d *Dispatcher) lease(ctx context.Context, id string) bool {
	now := d.cfg.Now()
	ok, err := d.cfg.Store.AcquireLease(ctx, leaseName(id), d.owner, now.Add(d.cfg.Tuning.LeaseTTL), now)
	if err != nil && ctx.Err() == nil {
		d.cfg.Logger.Error("webhooks: lease", "webhook", id, "err", err)
	}
	return err == nil && ok
}

// errMoved means the webhook's cursor moved under us: another instance
// took over (our lease expired) or the webhook was re-enabled.
var errMoved = errors.New("webhooks: the webhook changed meanwhile")

// serve is one turn of one webhook: under its lease, deliver the events
// it is owed, in order, until one fails or the batch is done.
func (d *Dispatcher) serve(ctx context.Context, id string) {
	if !d.lease(ctx, id) {
		return
	}
	// A killed instance never gets here; its lease expires instead.
	defer d.cfg.Store.ReleaseLease(context.WithoutCancel(ctx), leaseName(id), d.owner)

	// Re-read under the lease: the list may be stale.
	w, err := d.cfg.Store.GetWebhook(ctx, id)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil {
			d.cfg.Logger.Error("webhooks: load", "webhook", id, "err", err)
		}
		return
	}
	if w.Disabled || w.NextAttemptAt.After(d.cfg.Now()) {
		return
	}
	var secret string
	for {
		batch := d.cfg.Tuning.Batch
		owed, end, err := d.cfg.Store.ListWebhookEvents(ctx, w, batch)
		if err != nil {
			if ctx.Err() == nil {
				d.cfg.Logger.Error("webhooks: list events", "webhook", id, "err", err)
			}
			return
		}
		if len(owed) == 0 {
			// Nothing of its types: move past what was scanned.
			if end > w.Cursor {
				d.record(ctx, w, nil, attempt{ok: true}, end)
			}
			return
		}
		if secret == "" {
			plain, err := d.cfg.Vault.Open(w.Secret, vault.WebhookAD(w))
			if err != nil {
				d.cfg.Logger.Error("webhooks: open secret", "webhook", id, "err", err)
				return
			}
			secret = string(plain)
			clear(plain)
		}
		for i := range owed {
			e := &owed[i]
			if ctx.Err() != nil || !d.lease(ctx, id) {
				return
			}
			a := d.deliver(ctx, w, e, secret)
			if ctx.Err() != nil && !a.ok {
				return // shutting down: not the receiver's fault
			}
			next := e.Seq
			if i == len(owed)-1 && len(owed) < batch {
				next = end // nothing else owed up to end
			}
			var ok bool
			if w, ok = d.record(ctx, w, e, a, next); !ok || !a.ok {
				return
			}
		}
		if len(owed) < batch {
			return
		}
		// A full batch went out: go on while the lease is ours.
	}
}

// attempt is the outcome of one delivery.
type attempt struct {
	ok         bool
	status     int
	errText    string
	retryAfter time.Duration
	at         time.Time
	duration   time.Duration
}

// deliver POSTs one event to the webhook and reports how it went.
func (d *Dispatcher) deliver(ctx context.Context, w store.Webhook, e *store.WebhookEvent, secret string) attempt {
	data := json.RawMessage(e.Data)
	if len(data) == 0 {
		data = json.RawMessage("{}")
	}
	body, err := json.Marshal(Payload{ID: e.ID, Type: e.Type, Integration: e.IntegrationID, Workspace: e.WorkspaceID,
		At: e.At.UTC().Format(time.RFC3339), Data: data})
	start := d.cfg.Now()
	a := attempt{at: start}
	if err != nil {
		a.errText = "the event could not be encoded"
		return a
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Tuning.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		a.errText = "the webhook URL is not valid"
		return a
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(SignatureHeader, Sign(secret, start, body))
	req.Header.Set(EventIDHeader, e.ID)
	req.Header.Set(EventTypeHeader, e.Type)
	req.Header.Set(WebhookIDHeader, w.ID)
	req.Header.Set(AttemptHeader, strconv.Itoa(w.Failures+1))
	resp, err := d.cfg.Client.Do(req)
	if err != nil {
		a.duration = d.cfg.Now().Sub(start)
		a.errText = describe(ctx, err, d.cfg.Tuning.Timeout)
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the receiver's URL may hold its secret
		}
		d.cfg.Logger.Info("webhooks: delivery transport error", "webhook", w.ID, "event", e.ID, "err", err)
		return a
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBody))
	resp.Body.Close()
	a.duration = d.cfg.Now().Sub(start)
	a.status = resp.StatusCode
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		a.ok = true
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		a.errText = fmt.Sprintf("HTTP %d: redirects are not followed", resp.StatusCode)
	default:
		a.errText = fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	if !a.ok {
		a.retryAfter = retryAfter(resp.Header.Get("Retry-After"), d.cfg.Now())
	}
	return a
}

// describe turns a transport error into a fixed text for the delivery
// log, chosen by the error's type. It never includes the URL (whose path
// or query may be a secret of the receiver's), anything the receiver
// sent, or what the resolver answered: the raw error goes to the server
// log only.
func describe(ctx context.Context, err error, timeout time.Duration) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Sprintf("no answer within %s", timeout)
	}
	switch c := outcome.CauseOf(err); c {
	case outcome.CauseGuard:
		return "refused by the egress guard: the URL resolves to an address Storm may not contact"
	case outcome.CauseTimeout:
		return fmt.Sprintf("no answer within %s", timeout)
	default:
		return c.Text()
	}
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if n, err := strconv.Atoi(h); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(min(n, 1<<20)) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// backoff is the delay after the nth consecutive failure.
func (d *Dispatcher) backoff(n int, ra time.Duration) time.Duration {
	t := d.cfg.Tuning
	delay := t.BackoffCap
	if n <= 30 {
		delay = min(t.BackoffBase<<(n-1), t.BackoffCap)
	}
	delay -= time.Duration(rand.Int64N(int64(delay)/5 + 1))
	return max(delay, min(ra, t.BackoffCap))
}

// record commits an attempt: the delivery log row and, on success, the
// cursor (next); on failure the backoff, and disabling after too long. It
// is a compare-and-swap on the cursor w was read with, so it fails (and
// the turn ends) when another instance took over. e is nil when the
// cursor only moves past events the webhook does not subscribe to.
func (d *Dispatcher) record(ctx context.Context, w store.Webhook, e *store.WebhookEvent, a attempt, next int64) (store.Webhook, bool) {
	now := d.cfg.Now()
	t := d.cfg.Tuning
	var disabled bool
	out, err := d.cfg.Store.UpdateWebhook(context.WithoutCancel(ctx), w.ID, func(ch *store.WebhookChange) error {
		cur := &ch.Webhook
		if cur.Cursor != w.Cursor {
			return errMoved
		}
		if e != nil {
			ch.Deliveries = []store.WebhookDelivery{{EventID: e.ID, EventType: e.Type, Attempt: cur.Failures + 1,
				StatusCode: a.status, Error: a.errText, DurationMS: a.duration.Milliseconds(), At: a.at.UTC()}}
		}
		if a.ok {
			cur.Cursor, cur.Failures, cur.FailingSince, cur.NextAttemptAt = next, 0, time.Time{}, time.Time{}
			return nil
		}
		cur.Failures++
		if cur.FailingSince.IsZero() {
			cur.FailingSince = a.at.UTC()
		}
		cur.NextAttemptAt = now.Add(d.backoff(cur.Failures, a.retryAfter)).UTC()
		if !cur.Disabled && cur.Failures >= t.DisableAfterFailures && now.Sub(cur.FailingSince) >= t.DisableAfterAge {
			disabled = true
			cur.Disabled = true
			cur.DisabledReason = fmt.Sprintf("%d consecutive failed deliveries since %s; last: %s",
				cur.Failures, cur.FailingSince.Format(time.RFC3339), a.errText)
			ch.Events = []store.Event{events.New(cur.WorkspaceID, "", events.WebhookDisabled, now, map[string]any{
				"webhook": cur.ID, "failures": cur.Failures, "failing_since": cur.FailingSince.Format(time.RFC3339),
				"last_error": a.errText, "last_status": a.status,
			})}
		}
		return nil
	})
	switch {
	case err == nil:
	case errors.Is(err, errMoved), errors.Is(err, store.ErrNotFound):
		return store.Webhook{}, false
	default:
		d.cfg.Logger.Error("webhooks: record delivery", "webhook", w.ID, "err", err)
		return store.Webhook{}, false
	}
	switch {
	case a.ok && e != nil:
		d.cfg.Logger.Debug("webhooks: delivered", "webhook", w.ID, "event", e.ID, "attempt", w.Failures+1, "status", a.status)
	case disabled:
		d.cfg.Logger.Warn("webhooks: disabled after repeated failures", "webhook", w.ID, "failures", out.Failures)
	case !a.ok && e != nil:
		d.cfg.Logger.Info("webhooks: delivery failed", "webhook", w.ID, "event", e.ID, "attempt", out.Failures,
			"status", a.status, "error", a.errText, "retry_at", out.NextAttemptAt)
	}
	return out, true
}
