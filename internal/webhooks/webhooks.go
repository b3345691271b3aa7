package webhooks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/proxy"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/vault"
)

// Sealer seals and opens webhook secrets; *vault.Vault implements it.
type Sealer interface {
	Seal(plaintext []byte, ad vault.AD) ([]byte, error)
	Open(ciphertext []byte, ad vault.AD) ([]byte, error)
}

// Tuning holds the dispatcher's timings and limits; zero fields take the
// defaults named on each.
type Tuning struct {
	// Poll is how often the dispatcher looks for due webhooks, less up
	// to 20% jitter. Default 500ms.
	Poll time.Duration
	// Timeout bounds one delivery: connecting, sending, the response and
	// reading up to 64 KiB of its body. Default 10s.
	Timeout time.Duration
	// BackoffBase and BackoffCap shape the retry delay after the nth
	// consecutive failure: BackoffBase × 2ⁿ⁻¹ capped at BackoffCap, less
	// up to 20% jitter, and at least the receiver's Retry-After (itself
	// capped at BackoffCap). Defaults 2s and 10m.
	BackoffBase time.Duration
	BackoffCap  time.Duration
	// LeaseTTL is how long a webhook's lease outlives its last renewal;
	// it is renewed before every delivery, so it must exceed Timeout by a
	// margin. A killed instance's webhooks resume elsewhere after it.
	// Default 3 × Timeout.
	LeaseTTL time.Duration
	// Batch is how many events one turn delivers before the webhook's
	// lease is released. Default 100.
	Batch int
	// Workers is how many webhooks one instance delivers to at once.
	// Default 8.
	Workers int
	// A webhook is disabled when its current run of failures reaches
	// both DisableAfterFailures attempts and DisableAfterAge. Defaults 20
	// and 72h: a receiver that is down over a weekend still gets
	// everything when it is back, without anyone re-enabling it.
	DisableAfterFailures int
	DisableAfterAge      time.Duration
}

func (t Tuning) withDefaults() Tuning {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.Poll, 500*time.Millisecond)
	def(&t.Timeout, 10*time.Second)
	def(&t.BackoffBase, 2*time.Second)
	def(&t.BackoffCap, 10*time.Minute)
	def(&t.LeaseTTL, 3*t.Timeout)
	def(&t.DisableAfterAge, 72*time.Hour)
	if t.Batch <= 0 {
		t.Batch = 100
	}
	if t.Workers <= 0 {
		t.Workers = 8
	}
	if t.DisableAfterFailures <= 0 {
		t.DisableAfterFailures = 20
	}
	return t
}

// Config configures a Service and a Dispatcher. Store and Vault are
// required.
type Config struct {
	Store store.Store
	Vault Sealer
	// AllowPrivate lets webhook URLs name loopback and private addresses
	// (STORM_ALLOW_PRIVATE_UPSTREAMS); cloud metadata addresses are
	// refused even then.
	AllowPrivate bool
	// Client sends deliveries. Nil means a client of its own guarded
	// transport (proxy.New with AllowPrivate): every address dialled is
	// checked, no environment proxy, no redirects followed. Tests only
	// should pass anything else.
	Client *http.Client
	Logger *slog.Logger     // default slog.Default()
	Now    func() time.Time // default time.Now
	Tuning Tuning
}

func (c *Config) init() error {
	if c.Store == nil || c.Vault == nil {
		return errors.New("webhooks: Store and Vault are required")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.Tuning = c.Tuning.withDefaults()
	return nil
}

// Service manages webhook subscriptions: it validates and creates them,
// sealing their secrets, and re-enables disabled ones. Reads and deletes
// go to the store directly.
type Service struct {
	cfg Config
}

// NewService validates cfg and returns a Service.
func NewService(cfg Config) (*Service, error) {
	if err := cfg.init(); err != nil {
		return nil, err
	}
	return &Service{cfg: cfg}, nil
}

// SecretPrefix starts every webhook secret.
const SecretPrefix = "whsec_"

// MaxURLLength bounds a webhook URL.
const MaxURLLength = 2048

// Create subscribes rawURL to workspaceID's events of the given types
// (all when empty). It returns the stored webhook and its signing secret,
// which is not retrievable later. Invalid input is a problem (400/422)
// and stores nothing. Deliveries start with the events appended after it.
func (s *Service) Create(ctx context.Context, workspaceID, rawURL string, types []string) (store.Webhook, string, error) {
	u, err := s.CheckURL(rawURL)
	if err != nil {
		return store.Webhook{}, "", err
	}
	types, err = checkTypes(types)
	if err != nil {
		return store.Webhook{}, "", err
	}
	var b [32]byte
	rand.Read(b[:])
	secret := SecretPrefix + hex.EncodeToString(b[:])
	w := store.Webhook{ID: store.NewID("wh"), WorkspaceID: workspaceID, URL: u, EventTypes: types, CreatedAt: s.cfg.Now().UTC()}
	if w.Secret, err = s.cfg.Vault.Seal([]byte(secret), vault.WebhookAD(w)); err != nil {
		return store.Webhook{}, "", fmt.Errorf("seal webhook secret: %w", err)
	}
	if w, err = s.cfg.Store.CreateWebhook(ctx, w); err != nil {
		return store.Webhook{}, "", err
	}
	return w, secret, nil
}

// Enable turns a disabled webhook back on: its failures are forgotten and
// delivery resumes at once from where it stopped (nothing is skipped).
func (s *Service) Enable(ctx context.Context, id string) (store.Webhook, error) {
	return s.cfg.Store.UpdateWebhook(ctx, id, func(ch *store.WebhookChange) error {
		ch.Webhook.Disabled, ch.Webhook.DisabledReason = false, ""
		ch.Webhook.Failures, ch.Webhook.FailingSince, ch.Webhook.NextAttemptAt = 0, time.Time{}, time.Time{}
		return nil
	})
}

func unprocessable(field, format string, args ...any) *problem.Problem {
	msg := fmt.Sprintf(format, args...)
	p := problem.New(http.StatusUnprocessableEntity, "%s: %s", field, msg)
	p.Errors = []problem.FieldError{{Field: field, Message: msg}}
	return p
}

// CheckURL validates a webhook URL and returns it normalised: http or
// https, a host, no user info or fragment, at most MaxURLLength bytes.
// A host that is an IP address (or localhost) must be one the egress
// guard allows; names are checked by the guard when a delivery connects,
// on the addresses they resolve to then (a refused one is a logged
// delivery failure).
func (s *Service) CheckURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", problem.Field("url", "is required")
	}
	if len(raw) > MaxURLLength {
		return "", unprocessable("url", "must be at most %d bytes", MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", unprocessable("url", "is not a valid URL")
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return "", unprocessable("url", "must be an https:// (or http://) URL")
	case u.Host == "" || u.Hostname() == "" || u.Opaque != "":
		return "", unprocessable("url", "must name a host")
	case u.User != nil:
		return "", unprocessable("url", "must not carry credentials: deliveries are signed instead")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "", unprocessable("url", "must not have a fragment")
	}
	if p := u.Port(); p != "" {
		if n, err := netipPort(p); err != nil || n == 0 {
			return "", unprocessable("url", "has an invalid port")
		}
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		host = "127.0.0.1"
	}
	if ip, err := netip.ParseAddr(host); err == nil && !proxy.AllowedAddr(ip, s.cfg.AllowPrivate) {
		return "", unprocessable("url", "points at an address Storm may not contact (loopback, private, link-local or cloud metadata)")
	}
	return u.String(), nil
}

func netipPort(p string) (uint16, error) {
	ap, err := netip.ParseAddrPort("0.0.0.0:" + p)
	return ap.Port(), err
}

// checkTypes validates event types: known, without duplicates. Empty
// means every type and is stored as nil.
func checkTypes(types []string) ([]string, error) {
	if len(types) == 0 {
		return nil, nil
	}
	var out []string
	for _, t := range types {
		t = strings.TrimSpace(t)
		if !events.Known(t) {
			return nil, unprocessable("events", "unknown event type %q (known: %s)", t, strings.Join(events.Types(), ", "))
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}
