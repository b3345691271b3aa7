package sqldb

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

// getWebhook reads a webhook; lock is appended to the query (ForUpdate or
// nothing).
func (q *Queries) getWebhook(ctx context.Context, c Conn, id, lock string) (store.Webhook, error) {
	w, err := q.d.Scan.Webhook(c.QueryRow(ctx, `SELECT `+store.WebhookColumns+` FROM webhooks WHERE id = $1`+lock, id))
	if err != nil {
		return store.Webhook{}, fmt.Errorf("get webhook %s: %w", id, q.d.Err(err))
	}
	return w, nil
}

// GetWebhook finds a webhook by id.
func (q *Queries) GetWebhook(ctx context.Context, id string) (store.Webhook, error) {
	return q.getWebhook(ctx, q.read, id, "")
}

// ListWebhooks lists a workspace's webhooks (all when workspaceID is
// empty) in creation order.
func (q *Queries) ListWebhooks(ctx context.Context, workspaceID string) ([]store.Webhook, error) {
	ws, err := QueryAll(ctx, q.read, q.d.Scan.Webhook, `SELECT `+store.WebhookColumns+` FROM webhooks
		WHERE $1 = '' OR workspace_id = $1 ORDER BY `+q.d.InsertOrder, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	return ws, nil
}

// DeleteWebhook removes a webhook and its delivery log.
func (q *Queries) DeleteWebhook(ctx context.Context, id string) error {
	n, err := q.exec(ctx, `DELETE FROM webhooks WHERE id = $1`, id)
	if err := affected(n, err, store.ErrNotFound); err != nil {
		return fmt.Errorf("delete webhook %s: %w", id, q.d.Err(err))
	}
	return nil
}

// LockWebhook implements store.WebhookTx with the dialect's row lock
// (SQLite's write transaction holds the database's write lock already).
func (t Tx) LockWebhook(ctx context.Context, id string) (store.Webhook, error) {
	return t.q.getWebhook(ctx, t.conn, id, t.q.d.ForUpdate)
}

// GetWebhook implements store.WebhookTx.
func (t Tx) GetWebhook(ctx context.Context, id string) (store.Webhook, error) {
	return t.q.getWebhook(ctx, t.conn, id, "")
}

// UpdateWebhook implements store.WebhookTx.
func (t Tx) UpdateWebhook(ctx context.Context, w store.Webhook) error {
	tm := t.q.d.Time
	n, err := t.conn.Exec(ctx, `UPDATE webhooks SET url = $1, event_types = $2, cursor_seq = $3,
			failures = $4, failing_since = $5, next_attempt_at = $6, disabled = $7, disabled_reason = $8,
			deliveries = $9, secret = $10
		WHERE id = $11`,
		w.URL, store.EncodeEventTypes(w.EventTypes), w.Cursor, w.Failures, tm(w.FailingSince),
		tm(w.NextAttemptAt), w.Disabled, w.DisabledReason, w.Deliveries, w.Secret, w.ID)
	if err == nil {
		err = affected(n, nil, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("update webhook %s: %w", w.ID, t.q.d.Err(err))
	}
	return nil
}

// InsertWebhookDelivery implements store.WebhookTx.
func (t Tx) InsertWebhookDelivery(ctx context.Context, d store.WebhookDelivery) error {
	tm := t.q.d.Time
	_, err := t.conn.Exec(ctx, `INSERT INTO webhook_deliveries (`+store.WebhookDeliveryColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		d.ID, d.WebhookID, d.Number, d.EventID, d.EventType, d.Attempt, d.StatusCode, d.Error, d.DurationMS, tm(d.At))
	if err == nil {
		_, err = t.conn.Exec(ctx, `DELETE FROM webhook_deliveries WHERE webhook_id = $1 AND number <= $2`,
			d.WebhookID, d.Number-store.MaxWebhookDeliveries)
	}
	if err != nil {
		return fmt.Errorf("log webhook delivery %s: %w", d.ID, t.q.d.Err(err))
	}
	return nil
}

// ListDueWebhooks returns enabled webhooks whose backoff has passed at now
// and whose workspace has events after their cursor, in creation order, at
// most limit.
func (q *Queries) ListDueWebhooks(ctx context.Context, now time.Time, limit int) ([]store.Webhook, error) {
	ws, err := QueryAll(ctx, q.read, q.d.Scan.Webhook, `SELECT `+store.WebhookColumns+` FROM webhooks w
		WHERE NOT w.disabled AND (w.next_attempt_at IS NULL OR w.next_attempt_at <= $1)
			AND EXISTS (SELECT 1 FROM events e WHERE e.workspace_id = w.workspace_id AND e.seq > w.cursor_seq)
		ORDER BY w.`+q.d.InsertOrder+` LIMIT $2`, q.d.Time(now), store.DueLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list due webhooks: %w", err)
	}
	return ws, nil
}

// ListWebhookEvents returns the events w is owed (see
// store.WebhookEventsQuery) and the end of the log when it read them. It
// reads the end first: every event up to it has committed, because
// events commit in seq order (SQLite serialises every write; PostgreSQL
// appends events under a lock held until commit).
func (q *Queries) ListWebhookEvents(ctx context.Context, w store.Webhook, limit int) ([]store.WebhookEvent, int64, error) {
	var end int64
	if err := q.read.QueryRow(ctx, `SELECT COALESCE(max(seq), 0) FROM events`).Scan(&end); err != nil {
		return nil, 0, fmt.Errorf("list webhook events: %w", q.d.Err(err))
	}
	if end <= w.Cursor {
		return nil, end, nil
	}
	text, args := store.WebhookEventsQuery(w, end, limit, func(n int) string { return "$" + strconv.Itoa(n) })
	es, err := QueryAll(ctx, q.read, q.d.Scan.WebhookEvent, text, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list webhook events: %w", err)
	}
	return es, end, nil
}
