package apps_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/apps"
	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/sqlite"
	"github.com/stormcreds/storm/internal/vault"
)

type fixture struct {
	st      store.Store
	v       *vault.Vault
	clients *apps.Clients
	app     store.App
	metrics sync.Map
}

// newFixture is an app with the given secrets (oldest first; the last one
// active, the one before it previous) in a real SQLite store.
func newFixture(t *testing.T, secrets ...string) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "storm.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kek, err := vault.OpenKEK(ctx, "base64key://"+base64.URLEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")), "")
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.OpenWithOptions(ctx, kek, st, vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	ws := store.Workspace{ID: store.NewID("ws"), Name: "default", CreatedAt: time.Now()}
	if err := st.CreateWorkspace(ctx, ws); err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, v: v}
	a := store.App{ID: store.NewID("app"), WorkspaceID: ws.ID, Name: "app", Provider: "custom", AuthMethod: "oauth2",
		Config: []byte(`{"client_id":"c"}`), Origin: store.AppOriginManual, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	var xs []store.AppSecret
	for i, s := range secrets {
		state := store.StateRevoked
		switch i {
		case len(secrets) - 1:
			state = store.StateActive
		case len(secrets) - 2:
			state = store.StatePrevious
		}
		x := store.AppSecret{ID: store.NewID("asec"), AppID: a.ID, WorkspaceID: ws.ID, Version: i + 1, State: state, Hint: "…" + s[len(s)-2:], CreatedAt: time.Now()}
		if state != store.StateRevoked {
			x.Secret, _ = v.Seal([]byte(s), vault.AppSecretAD(x))
		}
		xs = append(xs, x)
	}
	if err := st.CreateApp(ctx, a, xs); err != nil {
		t.Fatal(err)
	}
	f.app = a
	rec := events.NewRecorder(st, time.Now, nil, events.ReadsConfig{})
	f.clients, err = apps.NewClients(apps.ClientsConfig{Store: st, Vault: v, Recorder: rec, TouchEvery: time.Nanosecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics: func(o string) {
			n, _ := f.metrics.LoadOrStore(o, new(atomic.Int64))
			n.(*atomic.Int64).Add(1)
		}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) metric(o string) int64 {
	n, ok := f.metrics.Load(o)
	if !ok {
		return 0
	}
	return n.(*atomic.Int64).Load()
}

var errRefused = errors.New("invalid_client")

func refused(err error) bool { return errors.Is(err, errRefused) }

// TestTryNewestFirstThenPrevious: the newest secret is tried first; when
// the provider refuses it the previous one is, and the refusal is
// recorded (metric, last_rejected_at, app.client_rejected naming the
// secret used instead). Revoked secrets are never tried.
func TestTryNewestFirstThenPrevious(t *testing.T) {
	f := newFixture(t, "revoked-secret-01", "old-secret-02", "new-secret-03")
	ctx := context.Background()
	var tried []string
	accept := "old-secret-02"
	err := f.clients.Try(ctx, f.app.ID, "int_x", func(a store.App, c apps.Client) error {
		tried = append(tried, c.Secret.Reveal())
		if a.ID != f.app.ID {
			t.Fatalf("call got app %s", a.ID)
		}
		if c.Secret.Reveal() == accept {
			return nil
		}
		return errRefused
	}, refused)
	if err != nil || !slices.Equal(tried, []string{"new-secret-03", "old-secret-02"}) {
		t.Fatalf("Try = %v, tried %v", err, tried)
	}
	if f.metric(apps.OutcomeRejected) != 1 || f.metric(apps.OutcomeFallback) != 1 {
		t.Fatalf("metrics: rejected %d, fallback %d", f.metric(apps.OutcomeRejected), f.metric(apps.OutcomeFallback))
	}
	xs, _ := f.st.ListAppSecrets(ctx, f.app.ID)
	if xs[2].LastRejectedAt.IsZero() || !xs[2].LastUsedAt.IsZero() || xs[1].LastUsedAt.IsZero() || !xs[0].LastUsedAt.IsZero() {
		t.Fatalf("recorded uses: %+v", xs)
	}
	evs, _ := f.st.ListEvents(ctx, store.Page{})
	if len(evs) != 1 || evs[0].Type != events.AppClientRejected {
		t.Fatalf("events = %+v", evs)
	}

	// Every secret refused: the refusal comes back, nothing else tried.
	tried = nil
	err = f.clients.Try(ctx, f.app.ID, "int_x", func(_ store.App, c apps.Client) error {
		tried = append(tried, c.Secret.Reveal())
		return errRefused
	}, refused)
	if !errors.Is(err, errRefused) || len(tried) != 2 {
		t.Fatalf("all refused: %v, tried %v", err, tried)
	}
	// Another failure stops at once: it says nothing about the client.
	tried = nil
	other := errors.New("server_error")
	err = f.clients.Try(ctx, f.app.ID, "int_x", func(_ store.App, c apps.Client) error {
		tried = append(tried, c.Secret.Reveal())
		return other
	}, refused)
	if !errors.Is(err, other) || len(tried) != 1 {
		t.Fatalf("other failure: %v, tried %v", err, tried)
	}
}

// TestDrainWaitsForRequestsThatReadBeforeIt: a revocation's drain returns
// only after the requests that had read the secrets ended, and is not
// held up by requests that started after it.
func TestDrainWaitsForRequestsThatReadBeforeIt(t *testing.T) {
	f := newFixture(t, "only-secret-01")
	ctx := context.Background()
	inside, release := make(chan struct{}), make(chan struct{})
	var ended atomic.Bool
	go func() {
		f.clients.Try(ctx, f.app.ID, "", func(store.App, apps.Client) error {
			close(inside)
			<-release
			ended.Store(true)
			return nil
		}, refused)
	}()
	<-inside
	drained := make(chan struct{})
	go func() {
		f.clients.Drain(ctx, f.app.ID)
		close(drained)
	}()
	// A request that starts after the drain began does not hold it up.
	time.Sleep(100 * time.Millisecond) // the drain has begun
	later := make(chan struct{})
	go func() {
		f.clients.Try(ctx, f.app.ID, "", func(store.App, apps.Client) error { <-later; return nil }, refused)
	}()
	select {
	case <-drained:
		t.Fatal("the drain returned while a request that read the secret was still running")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	select {
	case <-drained:
	case <-time.After(5 * time.Second):
		t.Fatal("the drain waited for a request that started after it")
	}
	if !ended.Load() {
		t.Fatal("drained before the request ended")
	}
	close(later)
	// A bounded drain gives up.
	stuck := make(chan struct{})
	defer close(stuck)
	entered := make(chan struct{})
	go f.clients.Try(ctx, f.app.ID, "", func(store.App, apps.Client) error { close(entered); <-stuck; return nil }, refused)
	<-entered
	dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := f.clients.Drain(dctx, f.app.ID); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("bounded drain = %v", err)
	}
}

// TestTryConcurrent runs many requests and drains at once (-race).
func TestTryConcurrent(t *testing.T) {
	f := newFixture(t, "old-secret-01", "new-secret-02")
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			for range 20 {
				err := f.clients.Try(ctx, f.app.ID, "", func(_ store.App, c apps.Client) error {
					if i%2 == 0 && c.Secret.Reveal() == "new-secret-02" {
						return errRefused
					}
					return nil
				}, refused)
				if err != nil {
					t.Errorf("Try: %v", err)
					return
				}
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			for range 20 {
				f.clients.Drain(ctx, f.app.ID)
			}
		})
	}
	wg.Wait()
	if got := f.metric(apps.OutcomeAccepted) + f.metric(apps.OutcomeFallback); got != 32*20 {
		t.Fatalf("%d accepted, want %d", got, 32*20)
	}
}
