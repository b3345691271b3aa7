package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Webhook is a subscription of a URL to a workspace's events. Delivery
// state lives on the row itself, so any instance can resume where another
// stopped: Cursor is the log position of the last event handled, and the
// event after it is the one being delivered (in order, one at a time).
type Webhook struct {
	ID          string
	WorkspaceID string
	URL         string
	// EventTypes are the event types delivered; empty means all.
	EventTypes []string
	// Secret is the vault ciphertext of the signing secret.
	Secret []byte
	// Cursor is the seq of the last event delivered or passed over (its
	// type is not subscribed); delivery resumes after it. A new webhook
	// starts at the end of the log.
	Cursor int64
	// Failures counts consecutive failed attempts at the event after
	// Cursor; FailingSince is when the first of them happened (zero when
	// none).
	Failures     int
	FailingSince time.Time
	// NextAttemptAt is when delivery may be tried again (backoff); zero
	// means at once.
	NextAttemptAt  time.Time
	Disabled       bool
	DisabledReason string
	// Deliveries counts every attempt ever logged; it numbers the
	// delivery log (WebhookDelivery.Number).
	Deliveries int64
	CreatedAt  time.Time
}

// WebhookDelivery is one attempt to deliver one event to one webhook. It
// never holds a secret: Error is a fixed description of what failed.
type WebhookDelivery struct {
	ID         string
	WebhookID  string
	Number     int64 // 1, 2, … per webhook, in the order attempted
	EventID    string
	EventType  string
	Attempt    int // 1 for the first attempt at this event
	StatusCode int // 0: no HTTP response
	Error      string
	DurationMS int64
	At         time.Time
}

// WebhookEvent is an event with its position in the log.
type WebhookEvent struct {
	Seq int64
	Event
}

// WebhookChange is what an UpdateWebhook function edits: the locked
// webhook, plus delivery attempts to log (in order) and events to append
// in the same transaction.
type WebhookChange struct {
	Webhook    Webhook
	Deliveries []WebhookDelivery
	Events     []Event
}

// MaxWebhookDeliveries is how many delivery log rows are kept per webhook;
// older ones are pruned as new ones are logged.
const MaxWebhookDeliveries = 1000

// Columns that backends select for webhooks and their deliveries.
const (
	WebhookColumns = `id, workspace_id, url, event_types, secret, cursor_seq, failures, failing_since,
	next_attempt_at, disabled, disabled_reason, deliveries, created_at`
	WebhookDeliveryColumns = `id, webhook_id, number, event_id, event_type, attempt, status_code, error,
	duration_ms, at`
)

// EncodeEventTypes is how a webhook's EventTypes are stored: a JSON array.
func EncodeEventTypes(types []string) string {
	if len(types) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(types) // strings always marshal
	return string(b)
}

// Webhook reads a row of WebhookColumns.
func (s Scanner) Webhook(r Row) (Webhook, error) {
	var w Webhook
	var types string
	err := r.Scan(&w.ID, &w.WorkspaceID, &w.URL, &types, &w.Secret, &w.Cursor, &w.Failures,
		s.Time(&w.FailingSince), s.Time(&w.NextAttemptAt), &w.Disabled, &w.DisabledReason, &w.Deliveries,
		s.Time(&w.CreatedAt))
	if err != nil {
		return w, err
	}
	if err := json.Unmarshal([]byte(types), &w.EventTypes); err != nil {
		return w, fmt.Errorf("webhook %s: event types: %w", w.ID, err)
	}
	if len(w.EventTypes) == 0 {
		w.EventTypes = nil
	}
	return w, nil
}

// WebhookDelivery reads a row of WebhookDeliveryColumns.
func (s Scanner) WebhookDelivery(r Row) (WebhookDelivery, error) {
	var d WebhookDelivery
	err := r.Scan(&d.ID, &d.WebhookID, &d.Number, &d.EventID, &d.EventType, &d.Attempt, &d.StatusCode,
		&d.Error, &d.DurationMS, s.Time(&d.At))
	return d, err
}

// WebhookEvent reads a row of "seq, " + EventColumns.
func (s Scanner) WebhookEvent(r Row) (WebhookEvent, error) {
	var e WebhookEvent
	err := r.Scan(&e.Seq, &e.ID, &e.WorkspaceID, &e.IntegrationID, &e.Type, s.Time(&e.At), &e.Data)
	return e, err
}

// WebhookEventsQuery returns the query (and its arguments) that reads the
// events webhook w is owed: its workspace's events after its cursor and
// not after end, of the types it subscribes to, oldest first, at most
// limit. param returns the placeholder of the nth argument, counting
// from 1.
func WebhookEventsQuery(w Webhook, end int64, limit int, param func(n int) string) (string, []any) {
	args := []any{w.WorkspaceID, w.Cursor, end}
	q := `SELECT seq, ` + EventColumns + ` FROM events WHERE workspace_id = ` + param(1) +
		` AND seq > ` + param(2) + ` AND seq <= ` + param(3)
	if len(w.EventTypes) > 0 {
		ph := make([]string, len(w.EventTypes))
		for i, t := range w.EventTypes {
			args = append(args, t)
			ph[i] = param(len(args))
		}
		q += ` AND type IN (` + strings.Join(ph, ", ") + `)`
	}
	if limit <= 0 {
		limit = DefaultPageLimit
	}
	args = append(args, limit)
	return q + ` ORDER BY seq LIMIT ` + param(len(args)), args
}

// WebhookTx is one write transaction of a backend, as RunUpdateWebhook
// uses it; its errors are already translated into the sentinels.
type WebhookTx interface {
	// LockWebhook loads a webhook and holds it against every other
	// UpdateWebhook of it until the transaction ends.
	LockWebhook(ctx context.Context, id string) (Webhook, error)
	GetWebhook(ctx context.Context, id string) (Webhook, error)
	// UpdateWebhook writes w's mutable fields (everything but id,
	// workspace and creation time).
	UpdateWebhook(ctx context.Context, w Webhook) error
	// InsertWebhookDelivery logs d and deletes the webhook's deliveries
	// numbered at most d.Number - MaxWebhookDeliveries.
	InsertWebhookDelivery(ctx context.Context, d WebhookDelivery) error
	// AppendEvents is Tx.AppendEvents.
	AppendEvents(ctx context.Context, es []Event) ([]Event, error)
}

// WebhookInTx runs fn in one write transaction of a backend and commits
// unless fn fails. fn's error is returned as is.
type WebhookInTx func(ctx context.Context, fn func(WebhookTx) error) error

// RunUpdateWebhook is Store.UpdateWebhook for every backend: in one
// transaction of inTx it locks and loads the webhook, applies fn, and
// stores the webhook (an empty Secret keeps the stored one; a key re-wrap
// replaces it), the change's Deliveries (numbered after the
// webhook's last one, the log pruned to MaxWebhookDeliveries) and its
// Events (workspace defaulting to the webhook's). It returns the webhook
// as stored. fn's error is returned unchanged and nothing is stored.
func RunUpdateWebhook(ctx context.Context, inTx WebhookInTx, id string, fn func(*WebhookChange) error) (Webhook, error) {
	var out Webhook
	var fnErr error
	err := inTx(ctx, func(tx WebhookTx) error {
		old, err := tx.LockWebhook(ctx, id)
		if err != nil {
			return err
		}
		ch := WebhookChange{Webhook: old}
		if err := fn(&ch); err != nil {
			fnErr = err
			return err
		}
		w := ch.Webhook
		w.ID, w.WorkspaceID, w.CreatedAt, w.Deliveries = old.ID, old.WorkspaceID, old.CreatedAt, old.Deliveries
		if len(w.Secret) == 0 {
			w.Secret = old.Secret // a webhook always has one
		}
		for _, d := range ch.Deliveries {
			w.Deliveries++
			if d.ID == "" {
				d.ID = NewID("dlv")
			}
			d.WebhookID, d.Number = old.ID, w.Deliveries
			if err := tx.InsertWebhookDelivery(ctx, d); err != nil {
				return err
			}
		}
		if err := tx.UpdateWebhook(ctx, w); err != nil {
			return err
		}
		if out, err = tx.GetWebhook(ctx, id); err != nil {
			return err
		}
		if len(ch.Events) == 0 {
			return nil
		}
		// Events last: a backend may hold a log lock until commit.
		events := make([]Event, len(ch.Events))
		for i, e := range ch.Events {
			if e.WorkspaceID == "" {
				e.WorkspaceID = old.WorkspaceID
			}
			events[i] = e
		}
		_, err = tx.AppendEvents(ctx, events)
		return err
	})
	if fnErr != nil {
		return Webhook{}, fnErr
	}
	if err != nil {
		return Webhook{}, fmt.Errorf("update webhook %s: %w", id, err)
	}
	return out, nil
}
