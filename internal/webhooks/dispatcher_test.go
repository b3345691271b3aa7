package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/postgres"
	"github.com/stormcreds/storm/internal/store/sqlite"
	"github.com/stormcreds/storm/internal/vault"
)

// backends runs f against SQLite and PostgreSQL.
func backends(t *testing.T, f func(t *testing.T, st store.Store)) {
	t.Run("sqlite", func(t *testing.T) { f(t, sqlite.OpenTest(t)) })
	t.Run("postgres", func(t *testing.T) { f(t, postgres.OpenTest(t)) })
}

// fixture is a store with a vault, a workspace and a Service.
type fixture struct {
	t     *testing.T
	st    store.Store
	vault *vault.Vault
	ws    store.Workspace
	svc   *Service
	logs  *strings.Builder
	mu    sync.Mutex
}

func newFixture(t *testing.T, st store.Store) *fixture {
	t.Helper()
	v := vault.OpenTest(t, st)
	id := store.NewID("ws")
	ws := store.Workspace{ID: id, Name: "w" + id[3:15], CreatedAt: time.Now()}
	if err := st.CreateWorkspace(t.Context(), ws); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, st: st, vault: v, ws: ws, logs: &strings.Builder{}}
	var err error
	f.svc, err = NewService(f.config(Tuning{}))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logs.Write(p)
}

func (f *fixture) config(tu Tuning) Config {
	return Config{Store: f.st, Vault: f.vault, AllowPrivate: true, Tuning: tu,
		Logger: slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: slog.LevelDebug}))}
}

func (f *fixture) dispatcher(cfg Config) *Dispatcher {
	f.t.Helper()
	d, err := NewDispatcher(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	return d
}

// fastTuning makes retries quick.
var fastTuning = Tuning{Poll: 10 * time.Millisecond, Timeout: 2 * time.Second, BackoffBase: 5 * time.Millisecond, BackoffCap: 50 * time.Millisecond}

func (f *fixture) create(url string, types ...string) (store.Webhook, string) {
	f.t.Helper()
	w, secret, err := f.svc.Create(f.t.Context(), f.ws.ID, url, types)
	if err != nil {
		f.t.Fatal(err)
	}
	return w, secret
}

func (f *fixture) emit(workspaceID string, types ...string) []store.Event {
	f.t.Helper()
	var out []store.Event
	for _, typ := range types {
		e := events.New(workspaceID, store.NewID("int"), typ, time.Now(), map[string]any{"n": len(out)})
		if err := f.st.AppendEvent(f.t.Context(), e); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func (f *fixture) webhook(id string) store.Webhook {
	f.t.Helper()
	w, err := f.st.GetWebhook(f.t.Context(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return w
}

func (f *fixture) deliveries(id string) []store.WebhookDelivery {
	f.t.Helper()
	ds, err := f.st.ListWebhookDeliveries(f.t.Context(), store.VersionPage{Parent: id, Limit: 1000})
	if err != nil {
		f.t.Fatal(err)
	}
	slices.Reverse(ds)
	return ds
}

// receiver is a webhook endpoint that verifies signatures and records the
// events it accepted (answered 2xx), in order.
type receiver struct {
	*httptest.Server
	t      *testing.T
	secret atomic.Value // string
	// answer decides the response to the nth request (from 1) for an
	// event; nil answers 204.
	answer func(w http.ResponseWriter, r *http.Request, n int) bool

	mu       sync.Mutex
	requests map[string]int
	accepted []string
	payloads []Payload
	headers  []http.Header
	badSig   []string
}

func newReceiver(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, n int) bool) *receiver {
	rc := &receiver{t: t, answer: answer, requests: map[string]int{}}
	rc.secret.Store("")
	rc.Server = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	id := r.Header.Get(EventIDHeader)
	rc.mu.Lock()
	rc.requests[id]++
	n := rc.requests[id]
	if err := VerifySignature(rc.secret.Load().(string), r.Header.Get(SignatureHeader), body, time.Now(), 0); err != nil {
		rc.badSig = append(rc.badSig, id+": "+err.Error())
	}
	rc.mu.Unlock()
	if rc.answer != nil && !rc.answer(w, r, n) {
		return // failed on purpose
	}
	var p Payload
	if err := json.Unmarshal(body, &p); err != nil {
		rc.t.Errorf("payload: %v", err)
	}
	rc.mu.Lock()
	rc.accepted = append(rc.accepted, id)
	rc.payloads = append(rc.payloads, p)
	rc.headers = append(rc.headers, r.Header.Clone())
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) got() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.accepted)
}

func ids(es []store.Event) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

// waitFor polls cond for up to 20s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDeliverySignedOrderedAndRetried(t *testing.T) {
	backends(t, testDeliverySignedOrderedAndRetried)
}

func testDeliverySignedOrderedAndRetried(t *testing.T, st store.Store) {
	f := newFixture(t, st)
	var fail atomic.Value
	fail.Store("")
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) bool {
		if r.Header.Get(EventIDHeader) == fail.Load().(string) && n <= 2 {
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, "the receiver's own error page, never logged")
			return false
		}
		return true
	})
	before := f.emit(f.ws.ID, events.CredentialSaved)
	w, secret := f.create(rc.URL + "/hooks?token=receiver-side-secret")
	rc.secret.Store(secret)
	if !strings.HasPrefix(secret, "whsec_") || len(secret) != len("whsec_")+64 {
		t.Fatalf("secret %q", secret)
	}
	if strings.Contains(string(w.Secret), secret) || strings.Contains(string(w.Secret), secret[6:]) {
		t.Fatal("the stored secret is not sealed")
	}
	evs := f.emit(f.ws.ID, events.CredentialSaved, events.TokenRefreshed, events.IntegrationDegraded, events.CredentialRevoked)
	fail.Store(evs[1].ID)

	d := f.dispatcher(f.config(fastTuning))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	waitFor(t, "all events", func() bool { return len(rc.got()) >= len(evs) })
	// The receiver answers before the dispatcher logs the delivery: wait
	// for the log too, or cancelling may lose the last row.
	waitFor(t, "every delivery logged", func() bool { return len(f.deliveries(w.ID)) >= 6 })
	cancel()
	<-done

	if got := rc.got(); !slices.Equal(got, ids(evs)) {
		t.Fatalf("accepted %v, want %v (the event before the webhook, %s, never)", got, ids(evs), before[0].ID)
	}
	if len(rc.badSig) > 0 {
		t.Fatalf("bad signatures: %v", rc.badSig)
	}
	p, h := rc.payloads[0], rc.headers[0]
	if p.ID != evs[0].ID || p.Type != evs[0].Type || p.Integration != evs[0].IntegrationID || p.Workspace != f.ws.ID ||
		p.At != evs[0].At.UTC().Format(time.RFC3339) || string(p.Data) != `{"n":0}` {
		t.Errorf("payload %+v", p)
	}
	for k, want := range map[string]string{"Content-Type": "application/json", "User-Agent": UserAgent,
		EventIDHeader: evs[0].ID, EventTypeHeader: evs[0].Type, WebhookIDHeader: w.ID, AttemptHeader: "1"} {
		if got := h.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if got := rc.headers[1].Get(AttemptHeader); got != "3" {
		t.Errorf("%s of the retried event = %q, want 3", AttemptHeader, got)
	}

	// The log: every attempt, the failures with their status.
	ds := f.deliveries(w.ID)
	var summary []string
	for _, dl := range ds {
		summary = append(summary, dl.EventID+"#"+string(rune('0'+dl.Attempt))+":"+http.StatusText(dl.StatusCode))
		if strings.Contains(dl.Error, "receiver") || strings.Contains(dl.Error, "token=") {
			t.Errorf("delivery error %q leaks the response or the URL", dl.Error)
		}
	}
	want := []string{evs[0].ID + "#1:No Content", evs[1].ID + "#1:Internal Server Error", evs[1].ID + "#2:Internal Server Error",
		evs[1].ID + "#3:No Content", evs[2].ID + "#1:No Content", evs[3].ID + "#1:No Content"}
	if !slices.Equal(summary, want) {
		t.Fatalf("delivery log\n got %v\nwant %v", summary, want)
	}
	if ds[1].Error != "HTTP 500" {
		t.Errorf("failed delivery error = %q", ds[1].Error)
	}
	got := f.webhook(w.ID)
	if got.Failures != 0 || !got.NextAttemptAt.IsZero() || got.Disabled || got.Deliveries != 6 {
		t.Errorf("webhook after delivery: %+v", got)
	}
	if strings.Contains(f.logs.String(), secret) || strings.Contains(f.logs.String(), "receiver-side-secret") {
		t.Error("the logs hold the webhook secret or URL query")
	}
}

func TestFilters(t *testing.T) { backends(t, testFilters) }

// A webhook gets its own workspace's events of the types it subscribes
// to, and its cursor moves past the rest.
func testFilters(t *testing.T, st store.Store) {
	f := newFixture(t, st)
	other := store.Workspace{ID: store.NewID("ws"), Name: "other"}
	if err := st.CreateWorkspace(t.Context(), other); err != nil {
		t.Fatal(err)
	}
	rcAll, rcSome, rcOther := newReceiver(t, nil), newReceiver(t, nil), newReceiver(t, nil)
	all, s1 := f.create(rcAll.URL)
	some, s2 := f.create(rcSome.URL, events.CredentialSaved, events.CredentialRevoked, events.CredentialSaved)
	wOther, s3, err := f.svc.Create(t.Context(), other.ID, rcOther.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	rcAll.secret.Store(s1)
	rcSome.secret.Store(s2)
	rcOther.secret.Store(s3)
	if !slices.Equal(some.EventTypes, []string{events.CredentialSaved, events.CredentialRevoked}) {
		t.Errorf("types %v", some.EventTypes)
	}
	mine := f.emit(f.ws.ID, events.CredentialSaved, events.TokenRefreshed, events.CredentialRevoked, events.IntegrationCreated)
	theirs := f.emit(other.ID, events.CredentialSaved, events.TokenRefreshed)

	d := f.dispatcher(f.config(fastTuning))
	d.Pass(t.Context())
	if got := rcAll.got(); !slices.Equal(got, ids(mine)) {
		t.Errorf("all got %v, want %v", got, ids(mine))
	}
	if got := rcSome.got(); !slices.Equal(got, []string{mine[0].ID, mine[2].ID}) {
		t.Errorf("some got %v", got)
	}
	if got := rcOther.got(); !slices.Equal(got, ids(theirs)) {
		t.Errorf("other got %v, want %v", got, ids(theirs))
	}
	end := f.webhook(wOther.ID).Cursor
	for _, id := range []string{all.ID, some.ID} {
		if c := f.webhook(id).Cursor; c != end {
			t.Errorf("cursor of %s = %d, want the end of the log %d", id, c, end)
		}
	}
	if n := len(f.deliveries(some.ID)); n != 2 {
		t.Errorf("%d deliveries logged for some, want 2", n)
	}
	due, err := st.ListDueWebhooks(t.Context(), time.Now(), 10)
	if err != nil || len(due) != 0 {
		t.Errorf("due after a pass: %v, %v", due, err)
	}
}

// crashStore is a store as seen by an instance that dies: after kill, no
// call of it reaches the database, and it never releases its leases.
type crashStore struct {
	store.Store
	killed   atomic.Bool
	onUpdate func() // called before UpdateWebhook; may kill
}

var errDead = errors.New("instance killed")

func (c *crashStore) ReleaseLease(context.Context, string, string) error { return nil }

func (c *crashStore) UpdateWebhook(ctx context.Context, id string, fn func(*store.WebhookChange) error) (store.Webhook, error) {
	if c.onUpdate != nil {
		c.onUpdate()
	}
	if c.killed.Load() {
		return store.Webhook{}, errDead
	}
	return c.Store.UpdateWebhook(ctx, id, fn)
}

func (c *crashStore) AcquireLease(ctx context.Context, name, owner string, until, now time.Time) (bool, error) {
	if c.killed.Load() {
		return false, errDead
	}
	return c.Store.AcquireLease(ctx, name, owner, until, now)
}

func TestKilledInstanceLosesNothing(t *testing.T) { backends(t, testKilledInstanceLosesNothing) }

// An instance killed mid-delivery loses nothing: its lease expires and
// another instance resumes from the webhook's cursor. Killed after the
// receiver accepted an event but before the cursor commit, that one event
// is delivered twice (at least once); killed while the receiver has not
// answered, every event arrives once.
func testKilledInstanceLosesNothing(t *testing.T, st store.Store) {
	for _, afterAccept := range []bool{true, false} {
		name := "killed before the receiver answered"
		if afterAccept {
			name = "killed after the receiver accepted"
		}
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, st)
			hang := make(chan struct{})
			var victim atomic.Value
			victim.Store("")
			rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) bool {
				if !afterAccept && n == 1 && r.Header.Get(EventIDHeader) == victim.Load().(string) {
					<-hang // the dying instance's request, never answered
					return false
				}
				return true
			})
			w, secret := f.create(rc.URL)
			rc.secret.Store(secret)
			evs := f.emit(f.ws.ID, events.CredentialSaved, events.TokenRefreshed, events.CredentialRevoked, events.IntegrationUpdated)
			victim.Store(evs[1].ID)

			tuning := fastTuning
			tuning.LeaseTTL = 300 * time.Millisecond
			dying := &crashStore{Store: st}
			ctxA, killA := context.WithCancel(t.Context())
			dying.onUpdate = func() {
				// The second event's commit: die right before it.
				if afterAccept && slices.Contains(rc.got(), evs[1].ID) {
					dying.killed.Store(true)
					killA()
				}
			}
			cfgA := f.config(tuning)
			cfgA.Store = dying
			a := f.dispatcher(cfgA)
			doneA := make(chan struct{})
			go func() { a.Pass(ctxA); close(doneA) }()
			if !afterAccept {
				waitFor(t, "the victim's request", func() bool {
					rc.mu.Lock()
					defer rc.mu.Unlock()
					return rc.requests[evs[1].ID] == 1
				})
				dying.killed.Store(true)
				killA()
			}
			<-doneA
			close(hang)
			if got := f.webhook(w.ID).Cursor; got != mustSeq(t, st, w, evs[0].ID) {
				t.Fatalf("cursor after the kill = %d, want the first event's", got)
			}

			b := f.dispatcher(f.config(tuning))
			b.Pass(t.Context()) // A's lease still holds
			if n := len(rc.got()); n != map[bool]int{true: 2, false: 1}[afterAccept] {
				t.Fatalf("B delivered while A's lease held: %v", rc.got())
			}
			time.Sleep(tuning.LeaseTTL)
			b.Pass(t.Context())

			want := ids(evs)
			if afterAccept {
				want = []string{evs[0].ID, evs[1].ID, evs[1].ID, evs[2].ID, evs[3].ID}
			}
			if got := rc.got(); !slices.Equal(got, want) {
				t.Fatalf("accepted %v, want %v", got, want)
			}
			if got := f.webhook(w.ID); got.Failures != 0 || got.Cursor < mustSeq(t, st, w, evs[3].ID) {
				t.Fatalf("webhook after B: %+v", got)
			}
		})
	}
}

// mustSeq finds the log position of event id as w sees it.
func mustSeq(t *testing.T, st store.Store, w store.Webhook, id string) int64 {
	t.Helper()
	w.Cursor, w.EventTypes = 0, nil
	es, _, err := st.ListWebhookEvents(t.Context(), w, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.ID == id {
			return e.Seq
		}
	}
	t.Fatalf("event %s not in the log", id)
	return 0
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestBackoffDisableAndEnable(t *testing.T) { backends(t, testBackoffDisableAndEnable) }

// Failures back off exponentially (honouring Retry-After up to the cap);
// a webhook failing for both DisableAfterFailures attempts and
// DisableAfterAge is disabled with a webhook.disabled event; enabling it
// resumes delivery with the event that failed.
func testBackoffDisableAndEnable(t *testing.T, st store.Store) {
	f := newFixture(t, st)
	var up atomic.Bool
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, n int) bool {
		if up.Load() {
			return true
		}
		if n == 2 {
			w.Header().Set("Retry-After", "45")
		}
		if n == 3 {
			w.Header().Set("Retry-After", "86400")
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		return false
	})
	w, secret := f.create(rc.URL)
	rc.secret.Store(secret)
	evs := f.emit(f.ws.ID, events.CredentialSaved, events.TokenRefreshed)

	clock := &fakeClock{now: time.Now().UTC()}
	cfg := f.config(Tuning{BackoffBase: 10 * time.Second, BackoffCap: 5 * time.Minute, DisableAfterFailures: 5, DisableAfterAge: time.Hour})
	cfg.Now = clock.Now
	d := f.dispatcher(cfg)

	start := clock.Now()
	wantDelay := []time.Duration{10 * time.Second, 45 * time.Second, 5 * time.Minute, 80 * time.Second, 160 * time.Second}
	for i, want := range wantDelay {
		d.Pass(t.Context())
		got := f.webhook(w.ID)
		if got.Failures != i+1 || got.Disabled {
			t.Fatalf("after attempt %d: %+v", i+1, got)
		}
		delay := got.NextAttemptAt.Sub(clock.Now())
		if delay > want || delay < want*8/10 {
			t.Fatalf("delay after attempt %d = %v, want %v (less at most 20%%)", i+1, delay, want)
		}
		d.Pass(t.Context()) // not due yet: nothing happens
		if n := len(f.deliveries(w.ID)); n != i+1 {
			t.Fatalf("%d deliveries after attempt %d", n, i+1)
		}
		clock.Add(delay)
	}
	// Five failures, but only for minutes: still enabled. Keep failing
	// past an hour.
	for clock.Now().Sub(start) < time.Hour {
		d.Pass(t.Context())
		if got := f.webhook(w.ID); got.Disabled {
			break
		}
		clock.Add(5 * time.Minute)
	}
	clock.Add(5 * time.Minute)
	d.Pass(t.Context())
	got := f.webhook(w.ID)
	if !got.Disabled || !strings.Contains(got.DisabledReason, "consecutive failed deliveries") || !strings.Contains(got.DisabledReason, "HTTP 503") {
		t.Fatalf("after an hour of failures: %+v", got)
	}
	if !got.FailingSince.Equal(start.Truncate(time.Microsecond)) {
		t.Errorf("failing since %v, want %v", got.FailingSince, start)
	}
	es, err := st.ListEvents(t.Context(), store.Page{WorkspaceID: f.ws.ID, After: evs[1].ID})
	if err != nil || len(es) != 1 || es[0].Type != events.WebhookDisabled || !strings.Contains(string(es[0].Data), w.ID) {
		t.Fatalf("events after disabling: %+v, %v", es, err)
	}
	n := len(f.deliveries(w.ID))
	clock.Add(time.Hour)
	d.Pass(t.Context())
	if m := len(f.deliveries(w.ID)); m != n {
		t.Fatalf("a disabled webhook was tried again (%d → %d deliveries)", n, m)
	}

	up.Store(true)
	if _, err := f.svc.Enable(t.Context(), w.ID); err != nil {
		t.Fatal(err)
	}
	d.Pass(t.Context())
	// Nothing skipped: both events, and the webhook.disabled event too.
	if got := rc.got(); !slices.Equal(got, []string{evs[0].ID, evs[1].ID, es[0].ID}) {
		t.Fatalf("after enabling: %v", got)
	}
	if got := f.webhook(w.ID); got.Disabled || got.Failures != 0 || !got.NextAttemptAt.IsZero() || !got.FailingSince.IsZero() {
		t.Fatalf("after enabling: %+v", got)
	}
}

func TestDeliveryFailures(t *testing.T) {
	f := newFixture(t, sqlite.OpenTest(t))

	var target atomic.Int64
	landing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { target.Add(1) }))
	defer landing.Close()
	release := make(chan struct{})
	defer close(release)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/redirect":
			http.Redirect(w, r, landing.URL, http.StatusFound)
		case "/hang":
			io.ReadAll(r.Body) // the server notices a gone client only after the body
			select {
			case <-release:
			case <-r.Context().Done():
			}
		case "/big":
			w.WriteHeader(http.StatusOK)
			w.Write([]byte(strings.Repeat("x", 1<<20)))
		}
	}))
	defer srv.Close()

	for _, tc := range []struct {
		path, want string
		ok         bool
	}{
		{"/redirect", "HTTP 302: redirects are not followed", false},
		{"/hang", "no answer within 200ms", false},
		{"/big", "", true},
	} {
		t.Run(tc.path, func(t *testing.T) {
			w, _ := f.create(srv.URL + tc.path)
			f.emit(f.ws.ID, events.CredentialSaved)
			cfg := f.config(Tuning{Timeout: 200 * time.Millisecond})
			start := time.Now()
			f.dispatcher(cfg).Pass(t.Context())
			if time.Since(start) > 5*time.Second {
				t.Errorf("the pass took %v", time.Since(start))
			}
			ds := f.deliveries(w.ID)
			if len(ds) != 1 || ds[0].Error != tc.want || (ds[0].StatusCode/100 == 2) != tc.ok {
				t.Fatalf("deliveries %+v, want error %q", ds, tc.want)
			}
			if got := f.webhook(w.ID); (got.Failures == 0) != tc.ok {
				t.Fatalf("webhook %+v", got)
			}
			f.svc.cfg.Store.DeleteWebhook(t.Context(), w.ID)
		})
	}
	if target.Load() != 0 {
		t.Error("the redirect was followed")
	}
}

// The egress guard applies at delivery: a URL that passed creation but
// reaches a loopback address is refused when private addresses are not
// allowed, and logged as a failed delivery.
func TestEgressGuardAtDelivery(t *testing.T) {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "storm.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f := newFixture(t, st)
	rc := newReceiver(t, nil)
	// As if a name had resolved to a public address at creation and to
	// loopback now: created while private addresses were allowed.
	w, _ := f.create(rc.URL)
	f.emit(f.ws.ID, events.CredentialSaved)
	cfg := f.config(fastTuning)
	cfg.AllowPrivate = false
	f.dispatcher(cfg).Pass(t.Context())
	ds := f.deliveries(w.ID)
	if len(ds) != 1 || ds[0].StatusCode != 0 || !strings.Contains(ds[0].Error, "egress guard") {
		t.Fatalf("deliveries %+v", ds)
	}
	if len(rc.got()) != 0 || len(rc.requests) != 0 {
		t.Fatal("the receiver was reached")
	}
}

func TestCheckURL(t *testing.T) {
	for _, allowPrivate := range []bool{false, true} {
		s := &Service{cfg: Config{AllowPrivate: allowPrivate}}
		for raw, ok := range map[string]bool{
			"https://hooks.example.com/storm?x=1":          true,
			"http://hooks.example.com:8080/storm":          true,
			"https://93.184.216.34/hook":                   true,
			"https://[2606:2800:220:1::]/hook":             true,
			"":                                             false,
			"hooks.example.com/storm":                      false,
			"/relative":                                    false,
			"ftp://hooks.example.com/":                     false,
			"javascript:alert(1)":                          false,
			"https://user:pass@hooks.example.com/":         false,
			"https://hooks.example.com/#frag":              false,
			"https://hooks.example.com:99999/":             false,
			"https:///nohost":                              false,
			"http://169.254.169.254/latest/meta-data/":     false,
			"http://[fd00:ec2::254]/":                      false,
			"http://[::ffff:169.254.169.254]/":             false,
			"http://100.100.100.200/":                      false,
			"http://127.0.0.1:8080/hook":                   allowPrivate,
			"http://localhost:8080/hook":                   allowPrivate,
			"http://api.localhost/hook":                    allowPrivate,
			"http://10.1.2.3/hook":                         allowPrivate,
			"http://[::1]/hook":                            allowPrivate,
			"https://" + strings.Repeat("a", MaxURLLength): false,
		} {
			_, err := s.CheckURL(raw)
			if (err == nil) != ok {
				t.Errorf("allowPrivate=%v: CheckURL(%q) = %v, want ok=%v", allowPrivate, raw, err, ok)
			}
		}
	}
}
