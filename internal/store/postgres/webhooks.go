package postgres

import (
	"context"
	"fmt"

	"github.com/stormcreds/storm/internal/store"
)

// CreateWebhook stores w with its cursor at the end of the event log and
// returns it as stored. Events commit in seq order (see lockLog), so
// every event appended after this statement has a larger seq.
func (s *Store) CreateWebhook(ctx context.Context, w store.Webhook) (store.Webhook, error) {
	out, err := scan.Webhook(s.pool.QueryRow(ctx, `INSERT INTO webhooks (id, workspace_id, url, event_types,
			secret, cursor_seq, failures, disabled, disabled_reason, deliveries, created_at)
		SELECT $1, $2, $3, $4, $5, COALESCE((SELECT max(seq) FROM events), 0), 0, false, '', 0, $6
		RETURNING `+store.WebhookColumns,
		w.ID, w.WorkspaceID, w.URL, store.EncodeEventTypes(w.EventTypes), w.Secret, dbTime(w.CreatedAt)))
	if err != nil {
		return store.Webhook{}, fmt.Errorf("create webhook %s: %w", w.ID, dbErr(err))
	}
	return out, nil
}
