package connect

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/creds"
	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/store"
)

// Path is where link pages live: a link's URL is PublicURL + Path +
// secret.
const Path = "/connect/"

// ReturnPath is where an authorization started from a link comes back
// to after the OAuth callback; the browser's link cookie says which link.
const ReturnPath = Path + "return"

// Lifetimes (shared/API.md): a link lasts 30 minutes unless its creator
// says otherwise, from one second to seven days.
const (
	DefaultTTL = 30 * time.Minute
	MinTTL     = time.Second
	MaxTTL     = 7 * 24 * time.Hour
)

// DefaultMaxFailures is how many failed attempts lock a link.
const DefaultMaxFailures = 10

// claimTTL bounds one attempt (a verification, a code exchange): long
// enough for the slowest provider call, short enough that a crashed
// attempt does not hold the link for long.
const claimTTL = 2 * time.Minute

// Limits on input.
const (
	maxProviders = 50
	maxReturnURL = 2048
	maxName      = 200
)

// Config configures a Service. Store, Creds, Catalog and Recorder are
// required.
type Config struct {
	Store    store.Store
	Creds    *creds.Service
	Catalog  *catalog.Catalog
	Recorder *events.Recorder
	// PublicURL is the server's external base URL, which link URLs start
	// with.
	PublicURL string
	// MaxFailures is how many failed attempts lock a link; default
	// DefaultMaxFailures.
	MaxFailures int
	Now         func() time.Time // default time.Now
	Logger      *slog.Logger     // default slog.Default()
}

// Service creates, opens and spends connect links. It is safe for
// concurrent use.
type Service struct {
	cfg Config
	now func() time.Time
	log *slog.Logger
}

var _ creds.LinkGate = (*Service)(nil)

// New validates cfg and returns a Service; it installs itself as cfg.Creds'
// link gate, so authorizations started from links can complete.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Creds == nil || cfg.Catalog == nil || cfg.Recorder == nil {
		return nil, errors.New("connect: Store, Creds, Catalog and Recorder are required")
	}
	if cfg.MaxFailures <= 0 {
		cfg.MaxFailures = DefaultMaxFailures
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	s := &Service{cfg: cfg, now: cfg.Now, log: cfg.Logger}
	cfg.Creds.SetLinkGate(s)
	return s, nil
}

// Input is what a link's creator chooses: how long it lasts (a Go
// duration, "30m" when empty) and where the browser goes once connected.
type Input struct {
	ExpiresIn string
	ReturnURL string
}

// NewInput describes a link that creates an integration named Name in
// the workspace, for one of Providers.
type NewInput struct {
	Input
	Providers []string
	Name      string
}

// Created is a new link with its URL, which holds the secret and is
// shown once.
type Created struct {
	Link store.ConnectLink
	URL  string
}

// Create makes a link that connects integ.
func (s *Service) Create(ctx context.Context, actor events.Actor, integ store.Integration, in Input) (Created, error) {
	l, err := s.newLink(integ.WorkspaceID, actor, in)
	if err != nil {
		return Created{}, err
	}
	l.IntegrationID, l.Name = integ.ID, integ.Name
	return s.store(ctx, actor, l, map[string]any{"integration": integ.ID})
}

// CreateNew makes a link that creates an integration in ws. Every
// provider must be one the person can connect without settings a link
// cannot ask for (an OAuth provider needs an app in ws for its client):
// the first that cannot is refused with 422, naming it.
func (s *Service) CreateNew(ctx context.Context, actor events.Actor, ws store.Workspace, in NewInput) (Created, error) {
	name := strings.TrimSpace(in.Name)
	switch {
	case name == "":
		return Created{}, problem.Field("name", "is required: the name the new integration gets")
	case len(name) > maxName || !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return Created{}, problem.Field("name", fmt.Sprintf("must be printable text of at most %d bytes", maxName))
	case len(in.Providers) == 0:
		return Created{}, problem.Field("providers", "is required: the providers the person may choose among")
	case len(in.Providers) > maxProviders:
		return Created{}, problem.Field("providers", fmt.Sprintf("holds more than %d providers", maxProviders))
	}
	var providers []string
	for i, ref := range in.Providers {
		p, ok := s.cfg.Catalog.Find(ref)
		if !ok {
			return Created{}, problem.Field(fmt.Sprintf("providers[%d]", i), s.cfg.Catalog.UnknownProvider(ref)+" (see GET /v1/providers)")
		}
		if slices.Contains(providers, p.Name) {
			return Created{}, problem.Field(fmt.Sprintf("providers[%d]", i), p.Name+" is listed twice")
		}
		providers = append(providers, p.Name)
	}
	if taken, err := s.cfg.Store.IntegrationNameTaken(ctx, ws.ID, name); err != nil {
		return Created{}, err
	} else if taken {
		return Created{}, problem.New(http.StatusConflict, "an integration named %q already exists in this workspace", name)
	}
	offers, err := s.offers(ctx, ws, providers)
	if err != nil {
		return Created{}, err
	}
	for i, o := range offers {
		if len(o.Methods) == 0 {
			p := problem.New(http.StatusUnprocessableEntity, "provider %s cannot be offered through a connect link: %s", o.Provider.Name, o.Why)
			p.Errors = []problem.FieldError{{Field: fmt.Sprintf("providers[%d]", i), Message: o.Provider.Name + ": " + o.Why}}
			return Created{}, p
		}
	}
	l, err := s.newLink(ws.ID, actor, in.Input)
	if err != nil {
		return Created{}, err
	}
	l.Providers, l.Name = providers, name
	return s.store(ctx, actor, l, map[string]any{"providers": providers, "name": name})
}

// newLink checks in and starts a link of workspace wsID with a new
// secret (kept in the returned link's hash only; store returns the URL).
func (s *Service) newLink(wsID string, actor events.Actor, in Input) (store.ConnectLink, error) {
	ttl := DefaultTTL
	if in.ExpiresIn != "" {
		d, err := time.ParseDuration(in.ExpiresIn)
		if err != nil {
			return store.ConnectLink{}, problem.Field("expires_in", "must be a duration such as 30m, 2h or 168h")
		}
		if d < MinTTL || d > MaxTTL {
			return store.ConnectLink{}, problem.Field("expires_in", "must be from 1s to 168h (7 days)")
		}
		ttl = d
	}
	if err := CheckReturnURL(in.ReturnURL); err != nil {
		return store.ConnectLink{}, err
	}
	now := s.now().UTC()
	return store.ConnectLink{ID: store.NewID("cnl"), WorkspaceID: wsID, ReturnURL: in.ReturnURL, CreatedBy: actor.TokenID,
		CreatedAt: now, ExpiresAt: now.Add(ttl)}, nil
}

// store gives l a fresh secret, stores it and audits the creation.
func (s *Service) store(ctx context.Context, actor events.Actor, l store.ConnectLink, detail map[string]any) (Created, error) {
	secret := newSecret()
	l.Hash = hashSecret(secret)
	if err := s.cfg.Store.CreateConnectLink(ctx, l); err != nil {
		return Created{}, err
	}
	l.Revision = 1
	detail["expires_at"] = l.ExpiresAt
	if l.ReturnURL != "" {
		detail["return_origin"] = creds.Origin(l.ReturnURL) // the path may be the receiver's own secret
	}
	s.cfg.Recorder.Audit(ctx, actor, l.WorkspaceID, "connect.create", l.ID, detail)
	return Created{Link: l, URL: s.cfg.PublicURL + Path + secret}, nil
}

// secretBytes is the link secret's size: 256 random bits.
const secretBytes = 32

// secretLen is the length of a secret in its URL form.
var secretLen = base64.RawURLEncoding.EncodedLen(secretBytes)

func newSecret() string {
	var b [secretBytes]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// hashSecret is how a secret is stored: a SHA-256, which is enough for
// 256 random bits (no guessable input to slow down).
func hashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// wellFormed reports whether secret could be a link's secret at all, so
// guessed junk never reaches the store.
func wellFormed(secret string) bool {
	if len(secret) != secretLen {
		return false
	}
	for _, c := range secret {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// CheckReturnURL accepts an https URL, or http on a loopback host (for
// development), without user info or fragment.
func CheckReturnURL(raw string) error {
	if raw == "" {
		return nil
	}
	bad := func(why string) error { return problem.Field("return_url", why) }
	if len(raw) > maxReturnURL || strings.ContainsFunc(raw, func(r rune) bool { return r < 0x21 || r == 0x7f || r == '\\' }) {
		return bad(fmt.Sprintf("must be a URL of at most %d characters, without spaces", maxReturnURL))
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return bad("must be an absolute https URL")
	}
	switch {
	case u.User != nil:
		return bad("must not carry a user name or password")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return bad("must not have a fragment (#…)")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && loopback(u.Hostname()):
		return nil
	}
	return bad("must be https (http only on localhost or a loopback address)")
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Reasons a link can no longer be used.
const (
	Used    = "used"
	Expired = "expired"
	Deleted = "deleted"
	Locked  = "locked"
)

// Gone is a link that can no longer be used.
type Gone struct {
	Reason string // Used, Expired, Deleted or Locked
}

func (g *Gone) Error() string { return "connect link " + g.Reason }

// Message says why, for the person holding the link.
func (g *Gone) Message() string {
	switch g.Reason {
	case Used:
		return "This connect link was already used. Each link connects once; ask whoever sent it for a new one."
	case Expired:
		return "This connect link has expired. Ask whoever sent it for a new one."
	case Deleted:
		return "This connect link was deleted. Ask whoever sent it for a new one."
	default:
		return "This connect link is locked after too many failed attempts. Ask whoever sent it for a new one."
	}
}

// ErrUnknown means no link has that secret.
var ErrUnknown = errors.New("connect: no such link")

// State is a link's state as listings show it: open, or why it is gone.
func (s *Service) State(l store.ConnectLink) string {
	if g := s.gone(l); g != nil {
		return g.Reason
	}
	return "open"
}

// gone says why l can no longer be used, or nil.
func (s *Service) gone(l store.ConnectLink) *Gone {
	switch {
	case !l.DeletedAt.IsZero():
		return &Gone{Deleted}
	case !l.UsedAt.IsZero():
		return &Gone{Used}
	case !l.LockedAt.IsZero():
		return &Gone{Locked}
	case !s.now().Before(l.ExpiresAt):
		return &Gone{Expired}
	}
	return nil
}

// Open finds the link whose secret is secret: ErrUnknown when there is
// none, a *Gone when it can no longer be used (a link whose integration
// was deleted counts as deleted). Opening changes nothing: only
// attempts count.
func (s *Service) Open(ctx context.Context, secret string) (store.ConnectLink, error) {
	if !wellFormed(secret) {
		return store.ConnectLink{}, ErrUnknown
	}
	l, err := s.cfg.Store.GetConnectLinkByHash(ctx, hashSecret(secret))
	if errors.Is(err, store.ErrNotFound) {
		return store.ConnectLink{}, ErrUnknown
	}
	if err != nil {
		return store.ConnectLink{}, err
	}
	if g := s.gone(l); g != nil {
		return l, g
	}
	if !l.Creates() {
		in, err := s.cfg.Store.GetIntegration(ctx, l.IntegrationID)
		if errors.Is(err, store.ErrNotFound) || (err == nil && in.WorkspaceID != l.WorkspaceID) {
			return l, &Gone{Deleted}
		}
		if err != nil {
			return store.ConnectLink{}, err
		}
	}
	return l, nil
}

// Matches reports whether secret is l's (the link cookie keeps both).
func Matches(l store.ConnectLink, secret string) bool {
	return wellFormed(secret) && string(hashSecret(secret)) == string(l.Hash)
}

// Get returns the link with id, deleted or not.
func (s *Service) Get(ctx context.Context, id string) (store.ConnectLink, error) {
	return s.cfg.Store.GetConnectLink(ctx, id)
}

// List returns page p of the links that are not deleted.
func (s *Service) List(ctx context.Context, p store.ConnectLinkPage) ([]store.ConnectLink, error) {
	return s.cfg.Store.ListConnectLinks(ctx, p)
}

// Delete deletes l: its URL answers 410 from now on. Deleting a deleted
// link is ErrNotFound.
func (s *Service) Delete(ctx context.Context, actor events.Actor, l store.ConnectLink) error {
	_, err := s.cfg.Store.UpdateConnectLink(ctx, l.ID, func(cur store.ConnectLink) (store.ConnectLink, error) {
		if !cur.DeletedAt.IsZero() {
			return cur, store.ErrNotFound
		}
		cur.DeletedAt = s.now().UTC()
		return cur, nil
	})
	if err != nil {
		return err
	}
	s.cfg.Recorder.Audit(ctx, actor, l.WorkspaceID, "connect.delete", l.ID, map[string]any{"integration": l.IntegrationID})
	return nil
}

// Actor is who acts through l: the link, naming the token that created
// it, from ip.
func Actor(l store.ConnectLink, ip string) events.Actor {
	return events.Actor{TokenID: l.ID, IP: ip, CreatedBy: l.CreatedBy}
}

// ReturnURL is where the browser goes once l connected integ: its
// return_url with integration and status added, or "" when it has none.
func ReturnURL(l store.ConnectLink, integrationID, status string) string {
	if l.ReturnURL == "" {
		return ""
	}
	u, err := url.Parse(l.ReturnURL)
	if err != nil {
		return ""
	}
	q := u.Query()
	q.Set("integration", integrationID)
	q.Set("status", status)
	u.RawQuery = q.Encode()
	return u.String()
}
