package apps

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/secret"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/vault"
)

// Outcomes of one secret's use, as Clients' metrics count them.
const (
	OutcomeAccepted = "accepted" // the newest secret worked
	OutcomeFallback = "fallback" // an older one worked after the newer was refused
	OutcomeRejected = "rejected" // the provider refused the secret (invalid_client)
)

// Client is one of an app's secrets, decrypted for one token request.
// It redacts itself.
type Client struct {
	SecretID string // empty for a public client (no secret)
	Hint     string
	Secret   secret.String
}

// String redacts.
func (c Client) String() string { return "apps.Client(" + c.SecretID + ", [redacted])" }

// ClientsConfig configures Clients. Store and Vault are required.
type ClientsConfig struct {
	Store    store.Store
	Vault    *vault.Vault
	Recorder *events.Recorder // nil: no events
	Now      func() time.Time
	Logger   *slog.Logger
	// Metrics, when set, is told the outcome of every secret tried.
	Metrics func(outcome string)
	// TouchEvery bounds how often this instance writes one secret's
	// last_used_at or last_rejected_at; default 5s.
	TouchEvery time.Duration
	// EventEvery bounds how often this instance emits app.client_rejected
	// for one secret; default 1 min (the metric counts every refusal).
	EventEvery time.Duration
}

// Clients hands an app's client secrets to token requests, newest first
// with a fallback to the previous one, and records how the provider
// answered each. It is safe for concurrent use.
//
// Secrets are read from the store for every request (never cached), and
// a revocation on this instance waits for the requests that read the
// secret before it was revoked (Drain): once a revocation returns, this
// instance never sends the revoked secret again.
type Clients struct {
	cfg      ClientsConfig
	inflight drains
	touched  sync.Map // "used:"/"rejected:" + secret id → time.Time
	evented  sync.Map // secret id → time.Time
}

// NewClients validates cfg and returns Clients.
func NewClients(cfg ClientsConfig) (*Clients, error) {
	if cfg.Store == nil || cfg.Vault == nil {
		return nil, errors.New("apps: Store and Vault are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.TouchEvery == 0 {
		cfg.TouchEvery = 5 * time.Second
	}
	if cfg.EventEvery == 0 {
		cfg.EventEvery = time.Minute
	}
	return &Clients{cfg: cfg}, nil
}

// ErrNoClient means the app was deleted or holds no usable client.
var ErrNoClient = errors.New("apps: the app has no usable client")

// Try runs call with the app's secrets, the newest first, and again with
// the previous one while the provider refuses the client (refused
// reports that of call's error). It records which secret the provider
// accepted or refused (last_used_at, last_rejected_at, metrics, and an
// app.client_rejected event naming integrationID) and returns call's
// last error: nil once a secret was accepted, else the refusal or
// whatever other failure stopped it. An app without secrets (a public
// client) is tried once with none.
//
// call gets the app as read with its secrets, so it can check that the
// request it sends still matches the app: secrets read after the app
// moved never go where it was.
func (c *Clients) Try(ctx context.Context, appID, integrationID string, call func(store.App, Client) error, refused func(error) bool) error {
	release := c.inflight.enter(appID)
	defer release()
	a, clients, err := c.load(ctx, appID)
	if err != nil {
		return err
	}
	var rejected []Client
	for i, cl := range clients {
		err = call(a, cl)
		switch {
		case err == nil:
			outcome := OutcomeAccepted
			if i > 0 {
				outcome = OutcomeFallback
			}
			c.metric(outcome)
			c.touch(ctx, cl, false)
			for _, r := range rejected {
				c.rejected(ctx, a, r, &cl, integrationID)
			}
			return nil
		case cl.SecretID != "" && refused(err):
			c.metric(OutcomeRejected)
			rejected = append(rejected, cl)
		default:
			return err
		}
	}
	for _, r := range rejected {
		c.rejected(ctx, a, r, nil, integrationID)
	}
	return err
}

// Current returns the secret an app's requests use first (the newest),
// for calls that cannot be retried with another.
func (c *Clients) Current(ctx context.Context, appID string) (Client, error) {
	_, clients, err := c.load(ctx, appID)
	if err != nil {
		return Client{}, err
	}
	return clients[0], nil
}

// Drain waits until the token requests of appID that started on this
// instance before it was called have ended, or ctx ends. Callers revoke
// a secret (or move the app) first: requests that start later read the
// new state.
func (c *Clients) Drain(ctx context.Context, appID string) error { return c.inflight.drain(ctx, appID) }

// load reads the app and its unrevoked secrets, newest first.
func (c *Clients) load(ctx context.Context, appID string) (store.App, []Client, error) {
	a, err := c.cfg.Store.GetApp(ctx, appID)
	if errors.Is(err, store.ErrNotFound) {
		return store.App{}, nil, fmt.Errorf("%w: app %s no longer exists", ErrNoClient, appID)
	}
	if err != nil {
		return store.App{}, nil, err
	}
	xs, err := c.cfg.Store.ListAppSecrets(ctx, appID)
	if err != nil {
		return store.App{}, nil, err
	}
	xs = slices.DeleteFunc(xs, func(x store.AppSecret) bool { return x.State == store.StateRevoked || len(x.Secret) == 0 })
	slices.SortStableFunc(xs, func(x, y store.AppSecret) int {
		if (x.State == store.StateActive) != (y.State == store.StateActive) {
			if x.State == store.StateActive {
				return -1
			}
			return 1
		}
		return y.Version - x.Version
	})
	if len(xs) == 0 {
		return a, []Client{{}}, nil
	}
	out := make([]Client, 0, len(xs))
	for _, x := range xs {
		pt, err := c.cfg.Vault.Open(x.Secret, vault.AppSecretAD(x))
		if err != nil {
			return store.App{}, nil, fmt.Errorf("open secret %s of app %s: %w", x.ID, appID, err)
		}
		out = append(out, Client{SecretID: x.ID, Hint: x.Hint, Secret: secret.String(pt)})
		clear(pt)
	}
	return a, out, nil
}

func (c *Clients) metric(outcome string) {
	if c.cfg.Metrics != nil {
		c.cfg.Metrics(outcome)
	}
}

// touch writes a secret's last_used_at (or last_rejected_at), at most
// once per TouchEvery per secret on this instance. It never fails the
// request: the provider already answered.
func (c *Clients) touch(ctx context.Context, cl Client, rejected bool) {
	if cl.SecretID == "" {
		return
	}
	key := "used:" + cl.SecretID
	if rejected {
		key = "rejected:" + cl.SecretID
	}
	now := c.cfg.Now()
	if v, ok := c.touched.Load(key); ok && now.Sub(v.(time.Time)) < c.cfg.TouchEvery {
		return
	}
	c.touched.Store(key, now)
	var used, rej time.Time
	if rejected {
		rej = now.UTC()
	} else {
		used = now.UTC()
	}
	if err := c.cfg.Store.TouchAppSecret(context.WithoutCancel(ctx), cl.SecretID, used, rej); err != nil && !errors.Is(err, store.ErrNotFound) {
		c.cfg.Logger.Warn("record an app secret's use", "secret", cl.SecretID, "err", err)
	}
}

// rejected records that the provider refused r: its last_rejected_at,
// and an app.client_rejected event (at most one per EventEvery per
// secret on this instance) saying which secret was then used instead,
// if any.
func (c *Clients) rejected(ctx context.Context, a store.App, r Client, fallback *Client, integrationID string) {
	c.touch(ctx, r, true)
	now := c.cfg.Now()
	if v, ok := c.evented.Load(r.SecretID); ok && now.Sub(v.(time.Time)) < c.cfg.EventEvery {
		return // counted by the metric; the log and event say it once a while
	}
	c.evented.Store(r.SecretID, now)
	c.cfg.Logger.Warn("the provider refused an app's client secret", "app", a.ID, "secret", r.SecretID, "hint", r.Hint,
		"integration", integrationID, "fallback", fallback != nil)
	if c.cfg.Recorder == nil {
		return
	}
	data := map[string]any{"app": a.ID, "secret": r.SecretID, "hint": r.Hint, "integration": integrationID, "error": "invalid_client"}
	if fallback != nil {
		data["used_instead"] = fallback.SecretID
	} else {
		data["used_instead"] = nil
	}
	c.cfg.Recorder.Emit(context.WithoutCancel(ctx), events.New(a.WorkspaceID, "", events.AppClientRejected, now, data))
}

// drains tracks the token requests in flight per app, so a revocation
// can wait for those that may still send what it revoked.
type drains struct {
	mu  sync.Mutex
	cur map[string]*sync.WaitGroup
}

func (d *drains) enter(app string) (release func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cur == nil {
		d.cur = map[string]*sync.WaitGroup{}
	}
	wg := d.cur[app]
	if wg == nil {
		wg = &sync.WaitGroup{}
		d.cur[app] = wg
	}
	wg.Add(1)
	return wg.Done
}

// drain waits for the requests that entered before it. Later ones join a
// new group, so the wait ends however busy the app is.
func (d *drains) drain(ctx context.Context, app string) error {
	d.mu.Lock()
	wg := d.cur[app]
	delete(d.cur, app)
	d.mu.Unlock()
	if wg == nil {
		return nil
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
