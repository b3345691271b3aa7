package sqlite

import (
	"context"
	"fmt"

	"github.com/stormcreds/storm/internal/store"
)

// CreateWebhook stores w with its cursor at the end of the event log and
// returns it as stored. Writes are serialised, so every event appended
// after it has a larger seq.
func (s *Store) CreateWebhook(ctx context.Context, w store.Webhook) (store.Webhook, error) {
	var out store.Webhook
	err := s.writePrepared(ctx, func(tx *prepTx) error {
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
