package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

// CreateWebhook stores w with its cursor at the end of the event log and
// returns it as stored. Writes are serialised, so every event appended
// after it has a larger seq.
func (s *Store) CreateWebhook(ctx context.Context, w store.Webhook) (store.Webhook, error) {
	var out store.Webhook
	err := s.write(ctx, func(tx *prepTx) error {
		var err error
		out, err = scan.Webhook(tx.QueryRowContext(ctx, `INSERT INTO webhooks (id, workspace_id, url, event_types,
				secret, cursor_seq, failures, disabled, disabled_reason, deliveries, created_at)
			SELECT ?, ?, ?, ?, ?, COALESCE((SELECT max(seq) FROM events), 0), 0, 0, '', 0, ?
			RETURNING `+store.WebhookColumns,
			w.ID, w.WorkspaceID, w.URL, store.EncodeEventTypes(w.EventTypes), w.Secret, dbTime(w.CreatedAt)))
		return dbErr(err)
	})
	if err != nil {
		return store.Webhook{}, fmt.Errorf("create webhook %s: %w", w.ID, err)
	}
	return out, nil
}

func getWebhook(ctx context.Context, q querier, id string) (store.Webhook, error) {
	w, err := scan.Webhook(q.QueryRowContext(ctx, `SELECT `+store.WebhookColumns+` FROM webhooks WHERE id = ?`, id))
	if err != nil {
		return store.Webhook{}, fmt.Errorf("get webhook %s: %w", id, dbErr(err))
	}
	return w, nil
}

// GetWebhook finds a webhook by id.
func (s *Store) GetWebhook(ctx context.Context, id string) (store.Webhook, error) {
	return getWebhook(ctx, s.ro, id)
}

// ListWebhooks lists a workspace's webhooks (all when workspaceID is
// empty) in creation order.
func (s *Store) ListWebhooks(ctx context.Context, workspaceID string) ([]store.Webhook, error) {
	rows, err := s.ro.QueryContext(ctx, `SELECT `+store.WebhookColumns+` FROM webhooks
		WHERE ?1 = '' OR workspace_id = ?1 ORDER BY rowid`, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	ws, err := collect(rows, scan.Webhook)
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	return ws, nil
}

// DeleteWebhook removes a webhook and its delivery log.
func (s *Store) DeleteWebhook(ctx context.Context, id string) error {
	err := s.write(ctx, func(tx *prepTx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM webhooks WHERE id = ?`, id)
		if err != nil {
			return err
		}
		return affected(res, store.ErrNotFound)
	})
	if err != nil {
		return fmt.Errorf("delete webhook %s: %w", id, dbErr(err))
	}
	return nil
}

// UpdateWebhook is store.RunUpdateWebhook over an immediate transaction,
// which holds the database's write lock: updates are serialised across
// every process sharing the file.
func (s *Store) UpdateWebhook(ctx context.Context, id string, fn func(*store.WebhookChange) error) (store.Webhook, error) {
	return store.RunUpdateWebhook(ctx, func(ctx context.Context, fn func(store.WebhookTx) error) error {
		return s.write(ctx, func(tx *prepTx) error { return fn(s.txn(tx)) })
	}, id, fn)
}

// LockWebhook implements store.WebhookTx; the transaction holds the
// write lock already.
func (t txn) LockWebhook(ctx context.Context, id string) (store.Webhook, error) {
	return getWebhook(ctx, t.tx, id)
}

// GetWebhook implements store.WebhookTx.
func (t txn) GetWebhook(ctx context.Context, id string) (store.Webhook, error) {
	return getWebhook(ctx, t.tx, id)
}

// UpdateWebhook implements store.WebhookTx.
func (t txn) UpdateWebhook(ctx context.Context, w store.Webhook) error {
	res, err := t.tx.ExecContext(ctx, `UPDATE webhooks SET url = ?, event_types = ?, cursor_seq = ?,
			failures = ?, failing_since = ?, next_attempt_at = ?, disabled = ?, disabled_reason = ?,
			deliveries = ?, secret = ?
		WHERE id = ?`,
		w.URL, store.EncodeEventTypes(w.EventTypes), w.Cursor, w.Failures, dbTime(w.FailingSince),
		dbTime(w.NextAttemptAt), w.Disabled, w.DisabledReason, w.Deliveries, w.Secret, w.ID)
	if err == nil {
		err = affected(res, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("update webhook %s: %w", w.ID, dbErr(err))
	}
	return nil
}

// InsertWebhookDelivery implements store.WebhookTx.
func (t txn) InsertWebhookDelivery(ctx context.Context, d store.WebhookDelivery) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (`+store.WebhookDeliveryColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.WebhookID, d.Number, d.EventID, d.EventType, d.Attempt, d.StatusCode, d.Error, d.DurationMS, dbTime(d.At))
	if err == nil {
		_, err = t.tx.ExecContext(ctx, `DELETE FROM webhook_deliveries WHERE webhook_id = ? AND number <= ?`,
			d.WebhookID, d.Number-store.MaxWebhookDeliveries)
	}
	if err != nil {
		return fmt.Errorf("log webhook delivery %s: %w", d.ID, dbErr(err))
	}
	return nil
}

// ListDueWebhooks returns enabled webhooks whose backoff has passed at now
// and whose workspace has events after their cursor, in creation order, at
// most limit.
func (s *Store) ListDueWebhooks(ctx context.Context, now time.Time, limit int) ([]store.Webhook, error) {
	rows, err := s.ro.QueryContext(ctx, `SELECT `+store.WebhookColumns+` FROM webhooks w
		WHERE NOT w.disabled AND (w.next_attempt_at IS NULL OR w.next_attempt_at <= ?)
			AND EXISTS (SELECT 1 FROM events e WHERE e.workspace_id = w.workspace_id AND e.seq > w.cursor_seq)
		ORDER BY w.rowid LIMIT ?`, dbTime(now), store.DueLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list due webhooks: %w", err)
	}
	ws, err := collect(rows, scan.Webhook)
	if err != nil {
		return nil, fmt.Errorf("list due webhooks: %w", err)
	}
	return ws, nil
}

// ListWebhookEvents returns the events w is owed (see
// store.WebhookEventsQuery) and the end of the log when it read them. It
// reads the end first: writes are serialised, so every event up to it has
// committed.
func (s *Store) ListWebhookEvents(ctx context.Context, w store.Webhook, limit int) ([]store.WebhookEvent, int64, error) {
	var end int64
	if err := s.ro.QueryRowContext(ctx, `SELECT COALESCE(max(seq), 0) FROM events`).Scan(&end); err != nil {
		return nil, 0, fmt.Errorf("list webhook events: %w", dbErr(err))
	}
	if end <= w.Cursor {
		return nil, end, nil
	}
	q, args := store.WebhookEventsQuery(w, end, limit, func(int) string { return "?" })
	rows, err := s.ro.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list webhook events: %w", err)
	}
	es, err := collect(rows, scan.WebhookEvent)
	if err != nil {
		return nil, 0, fmt.Errorf("list webhook events: %w", err)
	}
	return es, end, nil
}
