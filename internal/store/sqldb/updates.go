package sqldb

import (
	"context"

	"github.com/stormcreds/storm/internal/store"
)

// The read-modify-write updates run the store's Run functions in one of
// the backend's write transactions (Backend.WriteTx), whose Lock methods
// serialise the updates of a row: SQLite's immediate transaction holds
// the database's write lock, PostgreSQL locks the row. fn may read
// through the store but must not write: on SQLite the one write
// connection is busy with this transaction, and on PostgreSQL a write of
// the same row would wait for the lock fn's caller holds.

// Mutate is store.RunMutate under the integration's lock.
func (q *Queries) Mutate(ctx context.Context, integrationID string, fn func(*store.CredentialSet) error) (store.CredentialSet, error) {
	return store.RunMutate(ctx, q.inTx, integrationID, fn)
}

// UpdateCredential is store.RunUpdateCredential under the lock of the
// credential's integration, so it is serialised with Mutate.
func (q *Queries) UpdateCredential(ctx context.Context, id string, fn func(store.Credential) (store.Credential, error)) (store.Credential, error) {
	return store.RunUpdateCredential(ctx, q.inTx, id, fn)
}

// UpdateIntegration is store.RunUpdateIntegration under the
// integration's lock.
func (q *Queries) UpdateIntegration(ctx context.Context, id string, fn func(store.Integration) (store.Integration, error)) (store.Integration, error) {
	return store.RunUpdateIntegration(ctx, q.inTx, id, fn)
}

// UpdateApp is store.RunUpdateApp under the app's lock.
func (q *Queries) UpdateApp(ctx context.Context, id string, fn func(*store.AppChange) error) (store.AppChange, error) {
	return store.RunUpdateApp(ctx, func(ctx context.Context, fn func(store.AppTx) error) error {
		return q.writeTx(ctx, func(t StoreTx) error { return fn(t) })
	}, id, fn)
}

// UpdateWebhook is store.RunUpdateWebhook under the webhook's lock.
func (q *Queries) UpdateWebhook(ctx context.Context, id string, fn func(*store.WebhookChange) error) (store.Webhook, error) {
	return store.RunUpdateWebhook(ctx, func(ctx context.Context, fn func(store.WebhookTx) error) error {
		return q.writeTx(ctx, func(t StoreTx) error { return fn(t) })
	}, id, fn)
}

// AppendEvent appends e to the event log, giving it an id when it has
// none.
func (q *Queries) AppendEvent(ctx context.Context, e store.Event) error {
	return q.writeTx(ctx, func(t StoreTx) error {
		_, err := t.AppendEvents(ctx, []store.Event{e})
		return err
	})
}

// inTx is Backend.WriteTx as store.InTx.
func (q *Queries) inTx(ctx context.Context, fn func(store.Tx) error) error {
	return q.writeTx(ctx, func(t StoreTx) error { return fn(t) })
}
