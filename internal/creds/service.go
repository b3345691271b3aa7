package creds

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/stormcreds/storm/internal/apps"
	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/methods"
	"github.com/stormcreds/storm/internal/oauth"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/proxy"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/tokens"
	"github.com/stormcreds/storm/internal/vault"
)

// Config configures a Service. Store, Vault, Catalog, Recorder and
// HTTPClient are required.
type Config struct {
	Store    store.Store
	Vault    *vault.Vault
	Catalog  *catalog.Catalog
	Recorder *events.Recorder
	// Proxy carries proxied requests; its guarded client also sends
	// verification and token requests, so they obey the same egress
	// rules.
	Proxy *proxy.Proxy
	// Now defaults to time.Now.
	Now func() time.Time
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// CacheTTL bounds how long a decrypted credential is reused by
	// /access and /proxy before it is re-read from the store; changes
	// made on this instance take effect at once, changes made through
	// another instance within CacheTTL. Default 1s.
	CacheTTL time.Duration
	// PublicURL is the server's external base URL; the OAuth redirect URI
	// is PublicURL + CallbackPath. Required for OAuth 2.0.
	PublicURL string
	// ExpiryWarning is how long before a credential expires (a client
	// certificate's notAfter) it is flagged and credential.expiring is
	// emitted; default 14 days.
	ExpiryWarning time.Duration
	// KeyAgeWarning is the key age past which a rotation is recommended;
	// default 90 days.
	KeyAgeWarning time.Duration
	// Tokens configures the token engine; Store, Vault and Sources are
	// filled in by New.
	Tokens tokens.Config
	// Apps hands out the client secrets of apps (shared/API.md "Apps");
	// nil: integrations cannot use apps.
	Apps *apps.Clients
}

// Service is the credential lifecycle. It is safe for concurrent use.
type Service struct {
	store    store.Store
	vault    *vault.Vault
	catalog  *catalog.Catalog
	recorder *events.Recorder
	proxy    *proxy.Proxy
	client   *http.Client
	now      func() time.Time
	logger   *slog.Logger
	ttl      time.Duration

	expiryWarning, keyAgeWarning time.Duration

	publicURL  string
	discovery  *oauth.Discovery
	tokens     *tokens.Engine
	appClients *apps.Clients
	// links admits authorizations started from connect links (links.go).
	links LinkGate

	cache   useCache
	touched sync.Map // integration id → time.Time of the last LastUsedAt write

	// owner names this instance in leases it takes itself (dynamic
	// client registration).
	owner string
	// resources caches protected-resource discovery (mcp.go).
	resources resourceCache

	roots sync.Map // sha256(ca_pem) → *x509.CertPool, see rootsFor

	reloadMu sync.Mutex
	reloads  map[string]*reload // integration id → store read in flight

	// Background work (revoking replaced tokens at the provider) is
	// counted so Close can wait for it before the store closes.
	bgMu     sync.Mutex
	bg       sync.WaitGroup
	bgClosed bool
	bgCtx    context.Context
	bgStop   context.CancelFunc
}

// background runs fn in a goroutine that Close waits for, with a context
// Close cancels when its grace period ends; after Close it runs nothing.
func (s *Service) background(fn func(ctx context.Context)) {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.bgClosed {
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		fn(s.bgCtx)
	}()
}

// Close lets background work finish until ctx ends, cancels what is left,
// and closes the token engine (waiting for refreshes in flight to
// commit). Nothing of the service touches the store after it returns.
func (s *Service) Close(ctx context.Context) {
	s.bgMu.Lock()
	s.bgClosed = true
	s.bgMu.Unlock()
	done := make(chan struct{})
	go func() { s.bg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.bgStop()
		<-done
	}
	s.bgStop()
	s.tokens.Close()
}

// New validates cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Vault == nil || cfg.Catalog == nil || cfg.Recorder == nil || cfg.Proxy == nil {
		return nil, errors.New("creds: Store, Vault, Catalog, Recorder and Proxy are required")
	}
	s := &Service{store: cfg.Store, vault: cfg.Vault, catalog: cfg.Catalog, recorder: cfg.Recorder, proxy: cfg.Proxy, client: cfg.Proxy.Client(),
		now: cfg.Now, logger: cfg.Logger, ttl: cfg.CacheTTL, reloads: map[string]*reload{}, appClients: cfg.Apps}
	s.bgCtx, s.bgStop = context.WithCancel(context.Background())
	var owner [8]byte
	rand.Read(owner[:])
	s.owner = "creds-" + hex.EncodeToString(owner[:])
	if s.now == nil {
		s.now = time.Now
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if s.ttl == 0 {
		s.ttl = time.Second
	}
	s.expiryWarning, s.keyAgeWarning = cfg.ExpiryWarning, cfg.KeyAgeWarning
	if s.expiryWarning == 0 {
		s.expiryWarning = 14 * 24 * time.Hour
	}
	if s.keyAgeWarning == 0 {
		s.keyAgeWarning = 90 * 24 * time.Hour
	}
	s.publicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	s.discovery = &oauth.Discovery{Client: s.client, Now: s.now}
	tc := cfg.Tokens
	tc.Store, tc.Vault, tc.Sources = cfg.Store, cfg.Vault, s.source
	if tc.Now == nil {
		tc.Now = s.now
	}
	if tc.Logger == nil {
		tc.Logger = s.logger
	}
	// A token set refreshed here (in the background too) replaces the
	// cached one at once: requests must not keep presenting a token the
	// provider may already have dropped with a restart, which a 401 retry
	// could not then repair (it takes the newest stored token).
	committed := tc.Committed
	tc.Committed = func(id string) {
		s.cache.invalidate(id)
		if committed != nil {
			committed(id)
		}
	}
	var err error
	if s.tokens, err = tokens.New(tc); err != nil {
		return nil, err
	}
	return s, nil
}

// Limits on integration input.
const (
	maxNameLen   = 200
	maxConfigLen = 96 << 10 // room for a CA bundle (ca_pem ≤ 64 KiB)
)

// secretPaths are the config members that hold secrets: they are sealed
// into Integration.SecretConfig and shown as Mask.
var secretPaths = [][]string{{"client_secret"}, {"oauth2", "client_secret"}, {"service_account", "client_secret"},
	{"consumer_secret"}, {"oauth1", "consumer_secret"}}

// Mask replaces a write-only secret in responses.
const Mask = "********"

// CreateInput is what a caller supplies to create an integration.
type CreateInput struct {
	Name       string
	Provider   string
	AuthMethod string
	Config     map[string]any
	// App, when set, names an app of the workspace whose client the
	// integration uses; Provider and AuthMethod default to the app's.
	App string
}

// CreateIntegration validates in and stores a new pending integration.
func (s *Service) CreateIntegration(ctx context.Context, actor events.Actor, ws store.Workspace, in CreateInput) (store.Integration, error) {
	integ, err := s.newIntegration(ctx, ws, in, "")
	if err != nil {
		return store.Integration{}, err
	}
	if err := s.insertIntegration(ctx, actor, integ); err != nil {
		return store.Integration{}, err
	}
	return integ, nil
}

// NewIntegration validates in as CreateIntegration does and returns the
// integration it would store, without storing it: a connect link that
// creates an integration does so only once a credential works.
func (s *Service) NewIntegration(ctx context.Context, ws store.Workspace, in CreateInput) (store.Integration, error) {
	return s.newIntegration(ctx, ws, in, "")
}

// newIntegration validates in and builds the integration, with id when
// it is set (an authorization that creates the integration it began
// for), else a new one.
func (s *Service) newIntegration(ctx context.Context, ws store.Workspace, in CreateInput, id string) (store.Integration, error) {
	if err := checkName(in.Name); err != nil {
		return store.Integration{}, err
	}
	if in.App != "" {
		if err := s.withApp(ctx, ws, &in); err != nil {
			return store.Integration{}, err
		}
	}
	p, ok := s.catalog.Find(in.Provider)
	if !ok {
		return store.Integration{}, problem.Field("provider", s.catalog.UnknownProvider(in.Provider)+" (see GET /v1/providers)")
	}
	in.Provider = p.Name // "Stripe" is stripe
	if in.AuthMethod == "" && len(p.AuthMethods) == 1 {
		in.AuthMethod = p.AuthMethods[0]
	}
	if in.AuthMethod == "" {
		return store.Integration{}, problem.Field("auth_method", "is required: one of "+strings.Join(p.AuthMethods, ", "))
	}
	if !contains(p.AuthMethods, in.AuthMethod) {
		return store.Integration{}, problem.Field("auth_method", fmt.Sprintf("%s does not support %q (supported: %s)", in.Provider, in.AuthMethod, strings.Join(p.AuthMethods, ", ")))
	}
	if id == "" {
		id = store.NewID("int")
	}
	now := s.now().UTC()
	integ := store.Integration{ID: id, WorkspaceID: ws.ID, Name: in.Name, Provider: in.Provider, AuthMethod: in.AuthMethod,
		Status: store.StatusPending, StatusReason: "no credential saved yet", CreatedAt: now, UpdatedAt: now, AppID: in.App}
	if err := s.setConfig(&integ, in.Config, nil); err != nil {
		return store.Integration{}, err
	}
	if err := s.checkMethodConfig(ctx, integ); err != nil {
		return store.Integration{}, err
	}
	if integ.AuthMethod == catalog.MethodOAuth2 {
		if err := s.checkOAuthConfig(ctx, &integ); err != nil {
			return store.Integration{}, err
		}
	}
	return integ, nil
}

// insertIntegration stores an integration built by newIntegration, with
// its event and audit record.
func (s *Service) insertIntegration(ctx context.Context, actor events.Actor, integ store.Integration) error {
	if err := s.store.CreateIntegration(ctx, integ); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return problem.New(http.StatusConflict, "an integration named %q already exists in this workspace", integ.Name)
		}
		if errors.Is(err, store.ErrNotFound) && integ.AppID != "" {
			return problem.Field("app", fmt.Sprintf("app %q was deleted meanwhile", integ.AppID))
		}
		return err
	}
	data := map[string]any{"provider": integ.Provider, "auth_method": integ.AuthMethod}
	detail := map[string]any{"provider": integ.Provider, "name": integ.Name}
	if integ.AppID != "" {
		data["app"], detail["app"] = integ.AppID, integ.AppID
	}
	s.recorder.Emit(ctx, events.New(integ.WorkspaceID, integ.ID, events.IntegrationCreated, integ.CreatedAt, data))
	s.recorder.Audit(ctx, actor, integ.WorkspaceID, "integration.create", integ.ID, detail)
	return nil
}

// setConfig validates cfg for integ's provider and stores it, sealing
// secret members. prevSecrets holds the current secrets so a masked value
// in a PATCH keeps them.
func (s *Service) setConfig(integ *store.Integration, cfg map[string]any, prevSecrets map[string]string) error {
	if cfg == nil {
		cfg = map[string]any{}
	}
	secrets := map[string]string{}
	for _, path := range secretPaths {
		key := strings.Join(path, ".")
		parent, leaf := lookupParent(cfg, path)
		if parent == nil {
			continue
		}
		v, present := parent[leaf]
		if !present {
			continue
		}
		str, ok := v.(string)
		if !ok {
			return problem.Field("config."+key, "must be a string")
		}
		if str == Mask {
			if old, ok := prevSecrets[key]; ok {
				secrets[key] = old
			}
		} else if str != "" {
			secrets[key] = str
		}
		parent[leaf] = Mask
	}
	if _, err := s.catalog.ResolveMethod(integ.Provider, integ.AuthMethod, cfg); err != nil {
		return fromValidation(err, "config.")
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return problem.Field("config", "is not a JSON object")
	}
	if len(b) > maxConfigLen {
		return problem.Field("config", fmt.Sprintf("is larger than %d bytes", maxConfigLen))
	}
	integ.Config = b
	integ.SecretConfig = nil
	if len(secrets) > 0 {
		pt, _ := json.Marshal(secrets)
		ct, err := s.vault.Seal(pt, configAD(*integ))
		clear(pt)
		if err != nil {
			return err
		}
		integ.SecretConfig = ct
	}
	return nil
}

func configAD(in store.Integration) vault.AD { return vault.ConfigAD(in) }

func (s *Service) secretConfig(in store.Integration) (map[string]string, error) {
	out := map[string]string{}
	if len(in.SecretConfig) == 0 {
		return out, nil
	}
	pt, err := s.vault.Open(in.SecretConfig, configAD(in))
	if err != nil {
		return nil, fmt.Errorf("open secret config of %s: %w", in.ID, err)
	}
	defer clear(pt)
	if err := json.Unmarshal(pt, &out); err != nil {
		return nil, fmt.Errorf("secret config of %s is malformed", in.ID)
	}
	return out, nil
}

func lookupParent(cfg map[string]any, path []string) (map[string]any, string) {
	m := cfg
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			return nil, ""
		}
		m = next
	}
	return m, path[len(path)-1]
}

// fromValidation turns a catalog validation error into a 400 with
// field errors under prefix.
func fromValidation(err error, prefix string) error {
	var verr *catalog.ValidationError
	if errors.As(err, &verr) {
		var fields []problem.FieldError
		for _, fe := range verr.Errors {
			field := prefix + fe.Field
			if fe.Field == "" { // the config as a whole: "config", not "config."
				field = strings.TrimSuffix(prefix, ".")
			}
			fields = append(fields, problem.FieldError{Field: field, Message: fe.Message})
		}
		return problem.Invalid("the integration's config is not valid for its provider", fields...)
	}
	return problem.Field("config", err.Error())
}

func checkName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return problem.Field("name", "is required")
	case len(name) > maxNameLen:
		return problem.Field("name", fmt.Sprintf("is longer than %d bytes", maxNameLen))
	case !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return problem.Field("name", "must be printable text")
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// UpdateInput is a PATCH of an integration; nil members are unchanged.
type UpdateInput struct {
	Name     *string
	Config   map[string]any
	Disabled *bool
	// transform, when set, computes the new config from the current one
	// inside the update (an app's change applied to its integrations); it
	// may return errUnchanged.
	transform func(cur store.Integration, cfg map[string]any) (map[string]any, error)
}

// UpdateIntegration applies in to the integration. A config change that
// moves any endpoint keeps no secret bound to the old ones: a masked
// secret is refused, and every credential version is revoked in the same
// transaction (OAuth tokens also at the old provider), so the integration
// waits for a new Save or Authorize (shared/API.md "Changing where a
// secret goes").
func (s *Service) UpdateIntegration(ctx context.Context, actor events.Actor, id string, in UpdateInput) (store.Integration, error) {
	if in.Name != nil {
		if err := checkName(*in.Name); err != nil {
			return store.Integration{}, err
		}
	}
	var masked []string
	if in.Config != nil {
		masked = maskedSecrets(in.Config) // before setConfig rewrites them
	}
	var (
		changed []string
		moved   map[string]endpointChange
		before  store.Integration
		retired []store.Credential
		gone    []revoked
	)
	set, err := s.store.Mutate(ctx, id, func(set *store.CredentialSet) error {
		changed, moved, retired, gone = changed[:0], nil, retired[:0], gone[:0]
		cur := set.Integration
		before = cur
		now := s.now().UTC()
		if in.Name != nil && *in.Name != cur.Name {
			cur.Name = *in.Name
			changed = append(changed, "name")
		}
		newConfig := in.Config
		switch {
		case in.transform != nil:
			old, err := decodeConfig(cur.Config)
			if err != nil {
				return err
			}
			if newConfig, err = in.transform(cur, old); err != nil {
				return err
			}
		case newConfig != nil && cur.AppID != "":
			a, appCfg, err := s.loadApp(ctx, cur.WorkspaceID, cur.AppID, "app")
			if err != nil {
				return err
			}
			// A registered client is not in the integration's config: it
			// follows the server's issuer (mcp.go).
			if !apps.IsRegistered(a) {
				if newConfig, err = apps.Apply(a.Provider, a.AuthMethod, appCfg, newConfig, true); err != nil {
					return err
				}
			}
		}
		if newConfig != nil {
			prev, err := s.secretConfig(cur)
			if err != nil {
				return err
			}
			if err := s.setConfig(&cur, newConfig, prev); err != nil {
				return err
			}
			if err := s.checkMethodConfig(ctx, cur); err != nil {
				return err
			}
			changed = append(changed, "config")
			if moved = movedEndpoints(s.endpointsOf(before), s.endpointsOf(cur)); len(moved) > 0 {
				if len(masked) > 0 {
					return errSecretBound(masked[0], moved)
				}
				changed = append(changed, "endpoints")
				for i := range set.Credentials { // the live versions
					c := &set.Credentials[i]
					retired = append(retired, *c)
					gone = append(gone, retire(set, c, now, revokedByEndpoint, nil))
				}
				if len(retired) > 0 && cur.Status != store.StatusDisabled {
					status, reason := store.StatusPending, "the integration's endpoints changed: save the credential again"
					if cur.AuthMethod == catalog.MethodOAuth2 || cur.AuthMethod == catalog.MethodOAuth1 {
						status, reason = store.StatusReconnectRequired, "the integration's endpoints changed: authorize again"
					}
					if status != cur.Status && status == store.StatusReconnectRequired {
						set.Events = append(set.Events, statusEvent(cur, status, reason, now))
					}
					cur.Status, cur.StatusReason = status, reason
				}
			}
		}
		if in.Disabled != nil {
			switch {
			case *in.Disabled && cur.Status != store.StatusDisabled:
				cur.Status, cur.StatusReason = store.StatusDisabled, "disabled by a user"
				changed = append(changed, "status")
			case !*in.Disabled && cur.Status == store.StatusDisabled:
				cur.Status, cur.StatusReason = store.StatusPending, "no credential saved yet"
				if activeOf(set.Credentials) != nil {
					cur.Status, cur.StatusReason = store.StatusConnected, "enabled by a user"
				}
				changed = append(changed, "status")
			}
		}
		cur.UpdatedAt = now
		set.Integration = cur
		return nil
	})
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.Integration{}, problem.New(http.StatusConflict, "an integration with that name already exists in this workspace")
		}
		return store.Integration{}, err
	}
	updated := set.Integration
	s.cache.invalidate(id)
	s.recorder.Emit(ctx, events.New(updated.WorkspaceID, id, events.IntegrationUpdated, updated.UpdatedAt, map[string]any{"changed": changed, "status": updated.Status}))
	detail := map[string]any{"changed": changed}
	if len(moved) > 0 {
		detail["endpoints"] = moved
	}
	s.recorder.Audit(ctx, actor, updated.WorkspaceID, "integration.update", id, detail)
	s.auditRevoked(ctx, actor, updated, gone)
	// Tokens issued by the old authorization server are revoked there:
	// it is where they belong, and they will not be used again.
	for _, c := range retired {
		s.background(func(ctx context.Context) { s.revokeAtProvider(ctx, before, c) })
	}
	return updated, nil
}

// DeleteIntegration destroys the integration and all of its key
// material, after revoking OAuth tokens at the provider (RFC 7009) where
// it has an endpoint. API keys cannot be revoked at the provider by
// Storm; the user revokes them there.
func (s *Service) DeleteIntegration(ctx context.Context, actor events.Actor, integ store.Integration) error {
	if integ.AuthMethod == catalog.MethodOAuth2 {
		creds, err := s.store.ListCredentials(ctx, integ.ID)
		if err != nil {
			return err
		}
		for _, c := range creds {
			if c.State != store.StateRevoked {
				s.revokeAtProvider(ctx, integ, c)
			}
		}
	}
	if err := s.store.DeleteIntegration(ctx, integ.ID); err != nil {
		return err
	}
	s.cache.invalidate(integ.ID)
	s.recorder.Emit(ctx, events.New(integ.WorkspaceID, integ.ID, events.IntegrationDeleted, s.now(), map[string]any{"provider": integ.Provider}))
	s.recorder.Audit(ctx, actor, integ.WorkspaceID, "integration.delete", integ.ID, map[string]any{"name": integ.Name})
	return nil
}

func activeOf(creds []store.Credential) *store.Credential {
	for i := range creds {
		if creds[i].State == store.StateActive {
			return &creds[i]
		}
	}
	return nil
}

func previousOf(creds []store.Credential) *store.Credential {
	for i := range creds {
		if creds[i].State == store.StatePrevious {
			return &creds[i]
		}
	}
	return nil
}

// statusFromVerify maps a verification result to an integration status
// and its reason, built from the result's fixed text only.
func statusFromVerify(res methods.Result) (status, reason string) {
	switch {
	case res.OK:
		return store.StatusConnected, "verified"
	case res.Rejected():
		return store.StatusReconnectRequired, res.Error
	default:
		return store.StatusDegraded, "verification failed: " + res.Error
	}
}

// Tokens is the token engine; the server runs its background loop.
func (s *Service) Tokens() *tokens.Engine { return s.tokens }

// checkMethodConfig checks, without calling anyone, the settings an auth
// method reads from the config beyond what the catalog checks: an OAuth
// 1.0a client (signature method, RSA key, realm) and an exchange block.
func (s *Service) checkMethodConfig(ctx context.Context, integ store.Integration) error {
	resolved, err := s.resolve(integ)
	if err != nil {
		return err
	}
	switch integ.AuthMethod {
	case catalog.MethodOAuth1:
		_, err = s.oauth1ClientOf(ctx, integ, resolved)
	case catalog.MethodAPIKey, catalog.MethodBasic:
		_, err = s.exchangeOf(integ, resolved)
	}
	return err
}
