package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

func newWebhook(t *testing.T, s store.Store, workspaceID string, types ...string) store.Webhook {
	t.Helper()
	w, err := s.CreateWebhook(t.Context(), store.Webhook{
		ID: store.NewID("wh"), WorkspaceID: workspaceID, URL: "https://hooks.example/" + workspaceID,
		EventTypes: types, Secret: []byte("ciphertext"), CreatedAt: t0,
	})
	must(t, err, "CreateWebhook")
	return w
}

func appendEvent(t *testing.T, s store.Store, workspaceID, typ string) store.Event {
	t.Helper()
	e := store.Event{ID: store.NewID("evt"), WorkspaceID: workspaceID, IntegrationID: store.NewID("int"), Type: typ, At: t1, Data: []byte(`{"k":1}`)}
	must(t, s.AppendEvent(t.Context(), e), "AppendEvent")
	return e
}

func eventIDs(es []store.WebhookEvent) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

func testWebhooks(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newWorkspace(t, s, "a")
	b := newWorkspace(t, s, "b")
	before := appendEvent(t, s, a.ID, "credential.saved")

	all := newWebhook(t, s, a.ID)
	some := newWebhook(t, s, a.ID, "credential.saved", "token.refreshed")
	other := newWebhook(t, s, b.ID)
	if all.Cursor <= 0 || all.Failures != 0 || all.Disabled || all.EventTypes != nil || !all.NextAttemptAt.IsZero() {
		t.Errorf("new webhook = %+v, want its cursor at the end of the log and no state", all)
	}
	wantEqual(t, some.EventTypes, []string{"credential.saved", "token.refreshed"}, "EventTypes")
	got, err := s.GetWebhook(ctx, all.ID)
	must(t, err, "GetWebhook")
	wantEqual(t, got, all, "GetWebhook")
	if string(got.Secret) != "ciphertext" || !got.CreatedAt.Equal(norm(t0)) {
		t.Errorf("GetWebhook = %+v", got)
	}
	list, err := s.ListWebhooks(ctx, a.ID)
	must(t, err, "ListWebhooks")
	wantEqual(t, list, []store.Webhook{all, some}, "ListWebhooks(a)")
	list, err = s.ListWebhooks(ctx, "")
	must(t, err, "ListWebhooks")
	wantEqual(t, list, []store.Webhook{all, some, other}, "ListWebhooks(all)")
	_, err = s.CreateWebhook(ctx, store.Webhook{ID: store.NewID("wh"), WorkspaceID: "ws_missing", URL: "https://x", Secret: []byte("c")})
	wantErr(t, err, store.ErrNotFound, "CreateWebhook in an unknown workspace")
	_, err = s.CreateWebhook(ctx, store.Webhook{ID: all.ID, WorkspaceID: a.ID, URL: "https://x", Secret: []byte("c")})
	wantErr(t, err, store.ErrConflict, "CreateWebhook with a taken id")

	// Nothing owed yet: the event before creation is not delivered.
	es, end, err := s.ListWebhookEvents(ctx, all, 10)
	must(t, err, "ListWebhookEvents")
	if len(es) != 0 || end != all.Cursor {
		t.Errorf("ListWebhookEvents before any event = %v, %d; want none, %d (before %s)", eventIDs(es), end, all.Cursor, before.ID)
	}
	due, err := s.ListDueWebhooks(ctx, t2, 10)
	must(t, err, "ListDueWebhooks")
	wantEqual(t, len(due), 0, "due webhooks without events")

	e1 := appendEvent(t, s, a.ID, "credential.saved")
	e2 := appendEvent(t, s, b.ID, "credential.saved")
	e3 := appendEvent(t, s, a.ID, "integration.created")
	e4 := appendEvent(t, s, a.ID, "token.refreshed")

	es, end, err = s.ListWebhookEvents(ctx, all, 10)
	must(t, err, "ListWebhookEvents")
	wantEqual(t, eventIDs(es), []string{e1.ID, e3.ID, e4.ID}, "events owed to all")
	if es[0].Seq <= all.Cursor || es[1].Seq <= es[0].Seq || end != es[2].Seq {
		t.Errorf("seqs %d %d %d, cursor %d, end %d", es[0].Seq, es[1].Seq, es[2].Seq, all.Cursor, end)
	}
	wantEqual(t, es[0].Event, e1, "WebhookEvent.Event")
	es, _, err = s.ListWebhookEvents(ctx, all, 2)
	must(t, err, "ListWebhookEvents limit")
	wantEqual(t, eventIDs(es), []string{e1.ID, e3.ID}, "events owed to all, limit 2")
	es, _, err = s.ListWebhookEvents(ctx, some, 10)
	must(t, err, "ListWebhookEvents filtered")
	wantEqual(t, eventIDs(es), []string{e1.ID, e4.ID}, "events owed to some")
	es, end2, err := s.ListWebhookEvents(ctx, other, 10)
	must(t, err, "ListWebhookEvents other")
	wantEqual(t, eventIDs(es), []string{e2.ID}, "events owed to other")
	wantEqual(t, end2, end, "end")

	due, err = s.ListDueWebhooks(ctx, t2, 10)
	must(t, err, "ListDueWebhooks")
	wantEqual(t, due, []store.Webhook{all, some, other}, "due webhooks")
	due, err = s.ListDueWebhooks(ctx, t2, 2)
	must(t, err, "ListDueWebhooks limit")
	wantEqual(t, len(due), 2, "due webhooks, limit 2")

	// A failed attempt: logged, backoff set, events appended with it.
	w, err := s.UpdateWebhook(ctx, all.ID, func(ch *store.WebhookChange) error {
		ch.Webhook.Failures++
		ch.Webhook.FailingSince = t1
		ch.Webhook.NextAttemptAt = t2
		ch.Webhook.ID, ch.Webhook.WorkspaceID, ch.Webhook.Secret = "ignored", "ignored", nil // nil keeps the secret
		ch.Deliveries = []store.WebhookDelivery{{EventID: e1.ID, EventType: e1.Type, Attempt: 1, StatusCode: 500, Error: "HTTP 500", DurationMS: 12, At: t1}}
		ch.Events = []store.Event{{ID: store.NewID("evt"), Type: "webhook.test", At: t1}}
		return nil
	})
	must(t, err, "UpdateWebhook")
	if w.ID != all.ID || w.WorkspaceID != a.ID || string(w.Secret) != "ciphertext" || w.Failures != 1 ||
		!w.NextAttemptAt.Equal(norm(t2)) || !w.FailingSince.Equal(norm(t1)) || w.Deliveries != 1 {
		t.Errorf("after a failure: %+v", w)
	}
	ds, err := s.ListWebhookDeliveries(ctx, store.VersionPage{Parent: all.ID, Limit: 10})
	must(t, err, "ListWebhookDeliveries")
	if len(ds) != 1 || ds[0].Number != 1 || ds[0].WebhookID != all.ID || ds[0].StatusCode != 500 || ds[0].Error != "HTTP 500" ||
		ds[0].DurationMS != 12 || ds[0].Attempt != 1 || ds[0].EventID != e1.ID || ds[0].EventType != e1.Type || !ds[0].At.Equal(norm(t1)) || ds[0].ID == "" {
		t.Errorf("deliveries = %+v", ds)
	}
	evs, err := s.ListEvents(ctx, store.Page{After: e4.ID})
	must(t, err, "ListEvents")
	if len(evs) != 1 || evs[0].Type != "webhook.test" || evs[0].WorkspaceID != a.ID {
		t.Errorf("events appended with the update: %+v", evs)
	}
	due, err = s.ListDueWebhooks(ctx, t1, 10)
	must(t, err, "ListDueWebhooks")
	wantEqual(t, due, []store.Webhook{some, other}, "due webhooks while all backs off")

	// A failing function stores nothing.
	_, err = s.UpdateWebhook(ctx, all.ID, func(ch *store.WebhookChange) error {
		ch.Webhook.Cursor = 1 << 40
		ch.Deliveries = []store.WebhookDelivery{{EventID: e1.ID, Attempt: 2}}
		return errBoom
	})
	wantErr(t, err, errBoom, "UpdateWebhook with a failing function")
	got, err = s.GetWebhook(ctx, all.ID)
	must(t, err, "GetWebhook")
	wantEqual(t, got, w, "webhook after a failed update")
	_, err = s.UpdateWebhook(ctx, "wh_missing", func(*store.WebhookChange) error { return nil })
	wantErr(t, err, store.ErrNotFound, "UpdateWebhook of an unknown webhook")

	// Success moves the cursor; disabled webhooks are never due.
	_, err = s.UpdateWebhook(ctx, all.ID, func(ch *store.WebhookChange) error {
		ch.Webhook.Cursor, ch.Webhook.Failures, ch.Webhook.FailingSince, ch.Webhook.NextAttemptAt = end, 0, time.Time{}, time.Time{}
		ch.Deliveries = []store.WebhookDelivery{{EventID: e1.ID, EventType: e1.Type, Attempt: 2, StatusCode: 204, At: t2}}
		return nil
	})
	must(t, err, "UpdateWebhook")
	_, err = s.UpdateWebhook(ctx, some.ID, func(ch *store.WebhookChange) error {
		ch.Webhook.Disabled, ch.Webhook.DisabledReason = true, "20 failures"
		return nil
	})
	must(t, err, "UpdateWebhook disable")
	got, err = s.GetWebhook(ctx, some.ID)
	must(t, err, "GetWebhook")
	if !got.Disabled || got.DisabledReason != "20 failures" {
		t.Errorf("disabled webhook = %+v", got)
	}
	due, err = s.ListDueWebhooks(ctx, t2, 10)
	must(t, err, "ListDueWebhooks")
	// all is owed the webhook.test event appended above, past end.
	wantEqual(t, len(due), 2, "due webhooks (all, other)")
	ds, err = s.ListWebhookDeliveries(ctx, store.VersionPage{Parent: all.ID, Limit: 10})
	must(t, err, "ListWebhookDeliveries")
	if len(ds) != 2 || ds[0].Number != 2 || ds[0].StatusCode != 204 || ds[1].Number != 1 {
		t.Errorf("deliveries, newest first = %+v", ds)
	}

	// A re-wrap replaces the secret.
	_, err = s.UpdateWebhook(ctx, other.ID, func(ch *store.WebhookChange) error {
		ch.Webhook.Secret = []byte("rewrapped")
		return nil
	})
	must(t, err, "UpdateWebhook secret")
	got, err = s.GetWebhook(ctx, other.ID)
	must(t, err, "GetWebhook")
	wantEqual(t, string(got.Secret), "rewrapped", "secret after a re-wrap")

	// Delete takes the delivery log with it.
	must(t, s.DeleteWebhook(ctx, all.ID), "DeleteWebhook")
	wantErr(t, s.DeleteWebhook(ctx, all.ID), store.ErrNotFound, "DeleteWebhook twice")
	_, err = s.GetWebhook(ctx, all.ID)
	wantErr(t, err, store.ErrNotFound, "GetWebhook after delete")
	ds, err = s.ListWebhookDeliveries(ctx, store.VersionPage{Parent: all.ID, Limit: 10})
	must(t, err, "ListWebhookDeliveries after delete")
	wantEqual(t, len(ds), 0, "deliveries after delete")
}

// testWebhookDeliveryLogBound: the log keeps the newest
// store.MaxWebhookDeliveries attempts per webhook.
func testWebhookDeliveryLogBound(t *testing.T, s store.Store) {
	ctx := t.Context()
	ws := newWorkspace(t, s, "a")
	w := newWebhook(t, s, ws.ID)
	keep := newWebhook(t, s, ws.ID)
	_, err := s.UpdateWebhook(ctx, keep.ID, func(ch *store.WebhookChange) error {
		ch.Deliveries = []store.WebhookDelivery{{EventID: "evt_x", Attempt: 1, At: t0}}
		return nil
	})
	must(t, err, "UpdateWebhook")
	const n = store.MaxWebhookDeliveries + 5
	for _, batch := range []int{3, n - 4, 1} {
		_, err := s.UpdateWebhook(ctx, w.ID, func(ch *store.WebhookChange) error {
			for i := range batch {
				ch.Deliveries = append(ch.Deliveries, store.WebhookDelivery{EventID: fmt.Sprintf("evt_%d", i), Attempt: i + 1, At: t0})
			}
			return nil
		})
		must(t, err, "UpdateWebhook")
	}
	ds, err := s.ListWebhookDeliveries(ctx, store.VersionPage{Parent: w.ID, Limit: 2 * n})
	must(t, err, "ListWebhookDeliveries")
	if len(ds) != store.MaxWebhookDeliveries || ds[0].Number != n || ds[len(ds)-1].Number != n-store.MaxWebhookDeliveries+1 {
		t.Fatalf("%d deliveries kept (numbers %d…%d), want the newest %d", len(ds), ds[0].Number, ds[len(ds)-1].Number, store.MaxWebhookDeliveries)
	}
	ds, err = s.ListWebhookDeliveries(ctx, store.VersionPage{Parent: keep.ID, Limit: 10})
	must(t, err, "ListWebhookDeliveries")
	wantEqual(t, len(ds), 1, "another webhook's log")
}

// runWebhookConcurrency: concurrent UpdateWebhook calls of one webhook
// are serialised: a compare-and-swap of the cursor made in each function
// never loses an increment, and every delivery gets its own number.
func runWebhookConcurrency(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("UpdateWebhook", func(t *testing.T) {
		s := newStore(t)
		ws := newWorkspace(t, s, "a")
		w := newWebhook(t, s, ws.ID)
		const workers, each = 8, 10
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for range workers {
			wg.Go(func() {
				for range each {
					_, err := s.UpdateWebhook(t.Context(), w.ID, func(ch *store.WebhookChange) error {
						ch.Webhook.Cursor++
						ch.Deliveries = []store.WebhookDelivery{{EventID: "evt_x", Attempt: 1, At: t0}}
						return nil
					})
					if err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("UpdateWebhook: %v", err)
		}
		got, err := s.GetWebhook(t.Context(), w.ID)
		must(t, err, "GetWebhook")
		if got.Cursor != w.Cursor+workers*each || got.Deliveries != workers*each {
			t.Fatalf("cursor %d (want %d), deliveries %d (want %d)", got.Cursor, w.Cursor+workers*each, got.Deliveries, workers*each)
		}
		ds, err := s.ListWebhookDeliveries(t.Context(), store.VersionPage{Parent: w.ID, Limit: 1000})
		must(t, err, "ListWebhookDeliveries")
		seen := map[int64]bool{}
		for _, d := range ds {
			seen[d.Number] = true
		}
		if len(seen) != workers*each {
			t.Fatalf("%d distinct delivery numbers, want %d", len(seen), workers*each)
		}
	})
}
