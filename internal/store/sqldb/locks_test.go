package sqldb_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

// update runs one update of a row whose fn calls inside while the row
// is read and locked.
type update func(ctx context.Context, inside func()) error

// waitBound bounds a wait that must happen: long enough for a lock wait
// to be the only reason to still be waiting, short enough for a fast
// test.
const waitBound = 300 * time.Millisecond

// noWaitBound bounds what must not wait at all; a regression fails on
// it instead of hanging.
const noWaitBound = 5 * time.Second

// hold starts u in a goroutine and returns once its fn runs, with the
// row locked; release lets it commit and returns its error. A failed
// test releases it on cleanup.
func hold(t *testing.T, u update) (release func() error) {
	t.Helper()
	locked, unlock, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- u(context.Background(), func() {
			close(locked)
			<-unlock
		})
	}()
	select {
	case <-locked:
	case err := <-done:
		t.Fatalf("holding update ended before it locked: %v", err)
	case <-time.After(noWaitBound):
		t.Fatal("holding update did not start")
	}
	var once sync.Once
	var err error
	release = func() error {
		once.Do(func() {
			close(unlock)
			err = <-done
		})
		return err
	}
	t.Cleanup(func() { release() })
	return release
}

// lockedRow is a row of one kind, updated with held and read back with
// heldFailures (how many updates it took), and another row of the same
// table, updated with other.
type lockedRow struct {
	name         string
	held, other  update
	heldFailures func() (int, error)
}

// TestLockedRowMakesUpdateWait: the read-modify-write updates read their
// row with Dialect.ForUpdate, so a second update of a row another
// transaction holds waits before reading it: its fn is not called until
// the first commits (on SQLite the write transaction's database lock
// does the same). On PostgreSQL the lock is the row's only: another row
// updates meanwhile.
func TestLockedRowMakesUpdateWait(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		w := workspace(t, b, "ws_lock")
		linkUpdate := func(id string) update {
			return func(ctx context.Context, inside func()) error {
				_, err := b.s.UpdateConnectLink(ctx, id, func(l store.ConnectLink) (store.ConnectLink, error) {
					inside()
					l.Failures++
					return l, nil
				})
				return err
			}
		}
		webhookUpdate := func(id string) update {
			return func(ctx context.Context, inside func()) error {
				_, err := b.s.UpdateWebhook(ctx, id, func(ch *store.WebhookChange) error {
					inside()
					ch.Webhook.Failures++
					return nil
				})
				return err
			}
		}
		appUpdate := func(id string) update {
			return func(ctx context.Context, inside func()) error {
				_, err := b.s.UpdateApp(ctx, id, func(*store.AppChange) error {
					inside()
					return nil
				})
				return err
			}
		}
		integrationUpdate := func(id string) update {
			return func(ctx context.Context, inside func()) error {
				_, err := b.s.UpdateIntegration(ctx, id, func(in store.Integration) (store.Integration, error) {
					inside()
					return in, nil
				})
				return err
			}
		}
		for _, id := range []string{"cnl_1", "cnl_2"} {
			connectLink(t, b, w.ID, id, at.Add(time.Hour))
		}
		for _, id := range []string{"wh_1", "wh_2"} {
			if _, err := b.s.CreateWebhook(ctx, store.Webhook{ID: id, WorkspaceID: w.ID, URL: "https://example.test/",
				Secret: []byte("sealed"), CreatedAt: at}); err != nil {
				t.Fatal(err)
			}
		}
		for _, id := range []string{"app_1", "app_2"} {
			if err := b.s.CreateApp(ctx, store.App{ID: id, WorkspaceID: w.ID, Name: id, Provider: "github",
				AuthMethod: "oauth2", Config: []byte(`{}`), Origin: store.AppOriginManual, CreatedAt: at}, nil); err != nil {
				t.Fatal(err)
			}
		}
		for _, id := range []string{"int_1", "int_2"} {
			if err := b.s.CreateIntegration(ctx, store.Integration{ID: id, WorkspaceID: w.ID, Name: id, Provider: "github",
				AuthMethod: "api_key", Config: []byte(`{}`), Status: store.StatusPending, CreatedAt: at}); err != nil {
				t.Fatal(err)
			}
		}
		rows := []lockedRow{{"connect link", linkUpdate("cnl_1"), linkUpdate("cnl_2"), func() (int, error) {
			l, err := b.s.GetConnectLink(ctx, "cnl_1")
			return l.Failures, err
		}}, {"webhook", webhookUpdate("wh_1"), webhookUpdate("wh_2"), func() (int, error) {
			w, err := b.s.GetWebhook(ctx, "wh_1")
			return w.Failures, err
		}}, {"app", appUpdate("app_1"), appUpdate("app_2"), func() (int, error) {
			a, err := b.s.GetApp(ctx, "app_1")
			return int(a.Revision - 1), err // every update adds one
		}}, {"integration", integrationUpdate("int_1"), integrationUpdate("int_2"), func() (int, error) {
			in, err := b.s.GetIntegration(ctx, "int_1")
			return int(in.Revision - 1), err
		}}}

		for _, row := range rows {
			release := hold(t, row.held)

			waitCtx, cancel := context.WithTimeout(ctx, waitBound)
			var read atomic.Bool
			err := row.held(waitCtx, func() { read.Store(true) })
			cancel()
			if read.Load() {
				t.Errorf("%s: a second update read the row while another transaction held it", row.name)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s: second update = %v, want it still waiting at its deadline", row.name, err)
			}

			if b.rowLocks {
				otherCtx, cancel := context.WithTimeout(ctx, noWaitBound)
				if err := row.other(otherCtx, func() {}); err != nil {
					t.Errorf("%s: updating another row while one is held: %v", row.name, err)
				}
				cancel()
			}

			if err := release(); err != nil {
				t.Fatalf("%s: holding update: %v", row.name, err)
			}
			// Once released, an update goes through, after the first.
			if err := row.held(ctx, func() {}); err != nil {
				t.Errorf("%s: update after release: %v", row.name, err)
			}
			if n, err := row.heldFailures(); err != nil || n != 2 {
				t.Errorf("%s: failures = %d, %v; want 2 (the held update and the one after, not the timed-out one)", row.name, n, err)
			}
		}
	})
}

// TestPurgeSkipsLockedRows: CreateConnectLink forgets old links with
// Dialect.SkipLocked, so a link another transaction holds is passed over
// instead of waited for, and forgotten by a later creation.
func TestPurgeSkipsLockedRows(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		if !b.rowLocks {
			t.Skip("SQLite's write transaction holds the whole database: there are no locked rows to skip")
		}
		ctx := context.Background()
		w := workspace(t, b, "ws_purge")
		old := at.Add(-2 * store.ConnectLinkForgetAfter)
		held := connectLink(t, b, w.ID, "cnl_held", old)
		free := connectLink(t, b, w.ID, "cnl_free", old)
		release := hold(t, func(ctx context.Context, inside func()) error {
			_, err := b.s.UpdateConnectLink(ctx, held.ID, func(l store.ConnectLink) (store.ConnectLink, error) {
				inside()
				return l, nil
			})
			return err
		})

		createCtx, cancel := context.WithTimeout(ctx, noWaitBound)
		start := time.Now()
		err := b.s.CreateConnectLink(createCtx, store.ConnectLink{ID: "cnl_new", WorkspaceID: w.ID, Hash: []byte("new"),
			CreatedBy: "tok_test", CreatedAt: at, ExpiresAt: at.Add(time.Hour)})
		cancel()
		if err != nil {
			t.Fatalf("create while an old link is held: %v (after %v)", err, time.Since(start))
		}
		if _, err := b.s.GetConnectLink(ctx, free.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the old link nobody held: %v, want it forgotten (ErrNotFound)", err)
		}
		if _, err := b.s.GetConnectLink(ctx, held.ID); err != nil {
			t.Errorf("the held old link: %v, want it skipped and kept", err)
		}

		if err := release(); err != nil {
			t.Fatalf("holding update: %v", err)
		}
		if err := b.s.CreateConnectLink(ctx, store.ConnectLink{ID: "cnl_next", WorkspaceID: w.ID, Hash: []byte("next"),
			CreatedBy: "tok_test", CreatedAt: at, ExpiresAt: at.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.s.GetConnectLink(ctx, held.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the formerly held link after the next creation: %v, want it forgotten", err)
		}
	})
}
