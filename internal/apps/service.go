package apps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/methods/apikey"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/secret"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/vault"
)

// Integrations is what the apps service needs of the credential service
// (creds.Service implements it): the integrations' side of adopting and
// of an app's change.
type Integrations interface {
	// OwnClientSecret returns the client secret an integration holds
	// itself; empty when it holds none.
	OwnClientSecret(ctx context.Context, integ store.Integration) (secret.String, error)
	// AdoptIntoApp makes integration id use app a's client from now on
	// and drops its own client secret; its credentials (tokens) stay.
	// It refuses (400/409) an integration that no longer matches a.
	AdoptIntoApp(ctx context.Context, actor events.Actor, id string, a store.App) error
	// SyncApp re-applies a changed app to integration id, which uses it.
	// Tokens issued for endpoints the app no longer has are retired, as
	// when an integration's own endpoints change.
	SyncApp(ctx context.Context, actor events.Actor, id string, a store.App) error
}

// Config configures a Service. Store, Vault, Catalog, Recorder, Clients
// and Integrations are required.
type Config struct {
	Store        store.Store
	Vault        *vault.Vault
	Catalog      *catalog.Catalog
	Recorder     *events.Recorder
	Clients      *Clients
	Integrations Integrations
	Now          func() time.Time // default time.Now
	Logger       *slog.Logger     // default slog.Default()
	// DrainTimeout bounds how long a revocation waits for this
	// instance's token requests that may still send the revoked secret;
	// default 30s (longer than a token call may take).
	DrainTimeout time.Duration
}

// Service manages apps: creation, changes, client-secret versions and
// adopting integrations. It is safe for concurrent use.
type Service struct {
	cfg Config
}

// New validates cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Vault == nil || cfg.Catalog == nil || cfg.Recorder == nil || cfg.Clients == nil || cfg.Integrations == nil {
		return nil, errors.New("apps: Store, Vault, Catalog, Recorder, Clients and Integrations are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = 30 * time.Second
	}
	return &Service{cfg: cfg}, nil
}

// Mask stands for a stored secret in an app's config, as creds.Mask does
// for integrations: shown in views, and sent back in a PATCH it keeps
// the stored secrets.
const Mask = "********"

// MaxUnrevoked is how many client secrets an app may hold at once: the
// newest, and the previous one while the provider switches.
const MaxUnrevoked = 2

const maxNameLen = 200

// CreateInput is what a caller supplies to create an app.
type CreateInput struct {
	Name       string
	Provider   string
	AuthMethod string
	Config     map[string]any
	// From, when set, is an integration whose own client (id, secret and
	// endpoints) the app takes; Provider and AuthMethod default to its.
	From *store.Integration
}

// Create validates in and stores a new app with its first client secret.
func (s *Service) Create(ctx context.Context, actor events.Actor, ws store.Workspace, in CreateInput) (store.App, []store.AppSecret, error) {
	if err := checkName(in.Name); err != nil {
		return store.App{}, nil, err
	}
	raw := maps.Clone(in.Config)
	if raw == nil {
		raw = map[string]any{}
	}
	if f := in.From; f != nil {
		switch {
		case f.WorkspaceID != ws.ID:
			return store.App{}, nil, problem.NotFound("integration", f.ID)
		case in.Provider != "" && in.Provider != f.Provider:
			return store.App{}, nil, problem.Field("provider", "must be the integration's ("+f.Provider+") or left out")
		case in.AuthMethod != "" && in.AuthMethod != f.AuthMethod:
			return store.App{}, nil, problem.Field("auth_method", "must be the integration's ("+f.AuthMethod+") or left out")
		case f.AppID != "":
			return store.App{}, nil, problem.Field("from_integration", "already uses app "+f.AppID)
		}
		in.Provider, in.AuthMethod = f.Provider, f.AuthMethod
		own, secretValue, err := s.ownClient(ctx, *f)
		if err != nil {
			return store.App{}, nil, err
		}
		for k, v := range own {
			if _, set := raw[k]; !set {
				raw[k] = v
			}
		}
		if _, set := raw[SecretKey(in.AuthMethod)]; !set && secretValue != "" {
			raw[SecretKey(in.AuthMethod)] = secretValue.Reveal()
		}
	}
	if in.AuthMethod == "" {
		in.AuthMethod = s.defaultMethod(in.Provider)
	}
	cfg, secretValue, err := Parse(s.cfg.Catalog, in.Provider, in.AuthMethod, raw)
	if err != nil {
		return store.App{}, nil, err
	}
	now := s.cfg.Now().UTC()
	a := store.App{ID: store.NewID("app"), WorkspaceID: ws.ID, Name: in.Name, Provider: in.Provider, AuthMethod: in.AuthMethod,
		Origin: store.AppOriginManual, CreatedAt: now, UpdatedAt: now}
	a.Config, _ = json.Marshal(cfg)
	var secrets []store.AppSecret
	if secretValue != "" {
		x, err := s.newSecret(a, 1, secret.String(secretValue), now)
		if err != nil {
			return store.App{}, nil, err
		}
		secrets = append(secrets, x)
	}
	if err := s.cfg.Store.CreateApp(ctx, a, secrets); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.App{}, nil, problem.New(http.StatusConflict, "an app named %q already exists in this workspace", in.Name)
		}
		return store.App{}, nil, err
	}
	detail := map[string]any{"name": a.Name, "provider": a.Provider, "auth_method": a.AuthMethod, "client_id": ClientID(a.AuthMethod, cfg)}
	if in.From != nil {
		detail["from_integration"] = in.From.ID
	}
	s.cfg.Recorder.Audit(ctx, actor, ws.ID, "app.create", a.ID, detail)
	stored, err := s.cfg.Store.GetApp(ctx, a.ID)
	if err != nil {
		return store.App{}, nil, err
	}
	xs, err := s.cfg.Store.ListAppSecrets(ctx, a.ID)
	return stored, xs, err
}

// defaultMethod is the provider's only app method, or "" (then Parse
// asks for one).
func (s *Service) defaultMethod(provider string) string {
	p, ok := s.cfg.Catalog.Get(provider)
	if !ok || provider == catalog.Custom {
		return catalog.MethodOAuth2
	}
	var found []string
	for _, m := range p.AuthMethods {
		if m == catalog.MethodOAuth2 || m == MethodOAuth1 {
			found = append(found, m)
		}
	}
	if len(found) == 1 {
		return found[0]
	}
	return ""
}

// ownClient is integ's own client in an app's flat form, and its secret.
func (s *Service) ownClient(ctx context.Context, integ store.Integration) (map[string]any, secret.String, error) {
	cfg, err := Decode(integ.Config)
	if err != nil {
		return nil, "", err
	}
	// An integration's tenant settings (a subdomain) stay its own: the
	// app pins none unless its creator says so.
	own := Own(integ.Provider, integ.AuthMethod, cfg, nil)
	sec, err := s.cfg.Integrations.OwnClientSecret(ctx, integ)
	if err != nil {
		return nil, "", err
	}
	return own, sec, nil
}

func (s *Service) newSecret(a store.App, version int, value secret.String, now time.Time) (store.AppSecret, error) {
	x := store.AppSecret{ID: store.NewID("asec"), AppID: a.ID, WorkspaceID: a.WorkspaceID, Version: version, State: store.StateActive,
		Hint: apikey.Hint(value), Fingerprint: s.cfg.Vault.Fingerprint([]byte(value.Reveal())), CreatedAt: now}
	ct, err := s.cfg.Vault.Seal([]byte(value.Reveal()), vault.AppSecretAD(x))
	if err != nil {
		return store.AppSecret{}, err
	}
	x.Secret = ct
	return x, nil
}

func checkName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return problem.Field("name", "is required")
	case len(name) > maxNameLen:
		return problem.Field("name", fmt.Sprintf("is longer than %d bytes", maxNameLen))
	case !utf8.ValidString(name) || !printable(name):
		return problem.Field("name", "must be printable text")
	}
	return nil
}

// UpdateInput is a PATCH of an app; nil members are unchanged. Config
// replaces the whole config; its secret may be Mask (keep the stored
// secrets), absent (the same) or a new secret, which becomes the newest
// version as if added with AddSecret.
type UpdateInput struct {
	Name   *string
	Config map[string]any
}

// Update applies in to app id. A change of where the secret goes (the
// client id, an endpoint, a setting the app pins) keeps no stored secret:
// the new secret must come with it (a masked or absent one is refused
// with 422), every older version is revoked, and the integrations that
// use the app follow it (their tokens from the old endpoints are retired).
func (s *Service) Update(ctx context.Context, actor events.Actor, id string, in UpdateInput) (store.App, error) {
	if in.Name != nil {
		if err := checkName(*in.Name); err != nil {
			return store.App{}, err
		}
	}
	var (
		changed []string
		moved   []string
		added   *store.AppSecret
		revoked []store.AppSecret
	)
	ch, err := s.cfg.Store.UpdateApp(ctx, id, func(ch *store.AppChange) error {
		changed, moved, added, revoked = changed[:0], moved[:0], nil, revoked[:0]
		a := &ch.App
		now := s.cfg.Now().UTC()
		if in.Name != nil && *in.Name != a.Name {
			a.Name = *in.Name
			changed = append(changed, "name")
		}
		if in.Config != nil && IsRegistered(*a) {
			return errManaged("client")
		}
		if in.Config != nil {
			raw := maps.Clone(in.Config)
			key := SecretKey(a.AuthMethod)
			masked := raw[key] == Mask
			if masked {
				delete(raw, key)
			}
			cfg, newSecret, err := Parse(s.cfg.Catalog, a.Provider, a.AuthMethod, raw)
			if err != nil {
				return err
			}
			old, err := Decode(a.Config)
			if err != nil {
				return err
			}
			moved = movedKeys(old, cfg)
			if len(moved) > 0 && newSecret == "" && len(unrevoked(ch.Secrets)) > 0 {
				p := problem.New(http.StatusUnprocessableEntity, "%s changed: re-enter the secret when the endpoint changes", strings.Join(moved, ", "))
				p.Errors = []problem.FieldError{{Field: "config." + key, Message: "re-enter the secret when the endpoint changes (the stored one is not sent to a new endpoint)"}}
				return p
			}
			a.Config, _ = json.Marshal(cfg)
			changed = append(changed, "config")
			if len(moved) > 0 {
				for i := range ch.Secrets {
					if x := &ch.Secrets[i]; x.State != store.StateRevoked {
						revoked = append(revoked, *x)
						retire(ch, x, now, "endpoint_changed")
					}
				}
			}
			if newSecret != "" {
				x, err := s.addSecret(ch, secret.String(newSecret), now)
				if err != nil {
					return err
				}
				added = &x
			}
		}
		a.UpdatedAt = now
		return nil
	})
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.App{}, problem.New(http.StatusConflict, "an app with that name already exists in this workspace")
		}
		if errors.Is(err, store.ErrNotFound) {
			return store.App{}, problem.NotFound("app", id)
		}
		return store.App{}, err
	}
	a := ch.App
	detail := map[string]any{"changed": changed}
	if len(moved) > 0 {
		detail["moved"] = moved
	}
	if added != nil {
		detail["secret_added"] = added.ID
	}
	s.cfg.Recorder.Audit(ctx, actor, a.WorkspaceID, "app.update", a.ID, detail)
	for _, x := range revoked {
		s.cfg.Recorder.Audit(ctx, actor, a.WorkspaceID, "app.secret.revoke", x.ID, map[string]any{"app": a.ID, "reason": "endpoint_changed"})
	}
	if len(revoked) > 0 {
		s.drain(ctx, a.ID)
	}
	if slices.Contains(changed, "config") {
		if err := s.syncIntegrations(ctx, actor, a); err != nil {
			return a, err
		}
	}
	return a, nil
}

// movedKeys lists the settings that decide where an app's secret goes
// and differ between two configs: all but the scopes and the client's
// PKCE and authentication style.
func movedKeys(old, cur map[string]any) []string {
	var out []string
	keys := map[string]bool{}
	for k := range old {
		keys[k] = true
	}
	for k := range cur {
		keys[k] = true
	}
	for k := range keys {
		switch k {
		case keyScopes, "pkce", "auth_style":
			continue
		}
		if !sameValue(old[k], cur[k]) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// syncIntegrations re-applies a changed app to every integration that
// uses it. A failure leaves the rest to the next change (or retry of
// this one): an integration out of step with its app sends nothing
// until it is synced (creds checks before every token request).
func (s *Service) syncIntegrations(ctx context.Context, actor events.Actor, a store.App) error {
	list, err := s.cfg.Store.ListAppIntegrations(ctx, a.ID)
	if err != nil {
		return err
	}
	var failed []string
	for _, in := range list {
		if err := s.cfg.Integrations.SyncApp(ctx, actor, in.ID, a); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.cfg.Logger.Error("apply an app's change to an integration", "app", a.ID, "integration", in.ID, "err", err)
			failed = append(failed, in.ID)
		}
	}
	if len(failed) > 0 {
		return problem.New(http.StatusServiceUnavailable, "the app changed, but %d of its integrations could not follow yet (%s); send the change again", len(failed), strings.Join(failed, ", "))
	}
	return nil
}

// Delete removes an app that no integration uses (409 otherwise), with
// its secrets.
func (s *Service) Delete(ctx context.Context, actor events.Actor, a store.App) error {
	err := s.cfg.Store.DeleteApp(ctx, a.ID)
	switch {
	case errors.Is(err, store.ErrConflict):
		n := a.Integrations
		if cur, gerr := s.cfg.Store.GetApp(ctx, a.ID); gerr == nil {
			n = cur.Integrations
		}
		p := problem.New(http.StatusConflict, "%d integrations use this app: delete them first (or move them to another app)", n)
		p.Extra = map[string]any{"integrations": n}
		return p
	case errors.Is(err, store.ErrNotFound):
		return problem.NotFound("app", a.ID)
	case err != nil:
		return err
	}
	s.cfg.Recorder.Audit(ctx, actor, a.WorkspaceID, "app.delete", a.ID, map[string]any{"name": a.Name})
	return nil
}

// AddSecret stores value as the app's newest client secret; the one it
// replaces becomes previous (the fallback until it is revoked). It is
// not verified: the provider may not know it yet.
func (s *Service) AddSecret(ctx context.Context, actor events.Actor, appID, value string) (store.AppSecret, error) {
	if err := CheckSecret("client_secret", value); err != nil {
		return store.AppSecret{}, err
	}
	var added store.AppSecret
	ch, err := s.cfg.Store.UpdateApp(ctx, appID, func(ch *store.AppChange) error {
		if IsRegistered(ch.App) {
			return errManaged("client secret")
		}
		now := s.cfg.Now().UTC()
		x, err := s.addSecret(ch, secret.String(value), now)
		added = x
		ch.App.UpdatedAt = now
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.AppSecret{}, problem.NotFound("app", appID)
	}
	if err != nil {
		return store.AppSecret{}, err
	}
	for _, x := range ch.Secrets {
		if x.ID == added.ID {
			added = x
		}
	}
	s.cfg.Recorder.Audit(ctx, actor, ch.App.WorkspaceID, "app.secret.add", added.ID, map[string]any{"app": appID, "version": added.Version, "hint": added.Hint})
	return added, nil
}

// addSecret appends value to ch as the active version; the active one
// becomes previous. It refuses a secret the app already holds and a
// third unrevoked one.
func (s *Service) addSecret(ch *store.AppChange, value secret.String, now time.Time) (store.AppSecret, error) {
	fp := s.cfg.Vault.Fingerprint([]byte(value.Reveal()))
	version := 1
	live := 0
	for _, x := range ch.Secrets {
		version = max(version, x.Version+1)
		if x.State == store.StateRevoked {
			continue
		}
		live++
		if x.Fingerprint == fp {
			return store.AppSecret{}, problem.New(http.StatusConflict, "the app already holds this secret (version %d)", x.Version)
		}
	}
	if live >= MaxUnrevoked {
		return store.AppSecret{}, problem.New(http.StatusConflict,
			"the app already holds %d secrets (the newest and the previous one): revoke the one the provider no longer accepts first", live)
	}
	x, err := s.newSecret(ch.App, version, value, now)
	if err != nil {
		return store.AppSecret{}, err
	}
	for i := range ch.Secrets {
		if ch.Secrets[i].State == store.StateActive {
			ch.Secrets[i].State = store.StatePrevious
		}
	}
	ch.Secrets = append(ch.Secrets, x)
	ch.Events = append(ch.Events, events.New(ch.App.WorkspaceID, "", events.AppSecretAdded, now,
		map[string]any{"app": ch.App.ID, "secret": x.ID, "version": x.Version, "hint": x.Hint}))
	return x, nil
}

// RevokeSecret revokes one client secret version and destroys it.
// Revoking the active one while a previous exists makes the previous
// active again (a secret the provider never accepted can be rolled
// back). Revoking the last unrevoked secret is a 409; revoking a revoked
// one changes nothing. When it returns, this instance sends the secret
// nowhere any more.
func (s *Service) RevokeSecret(ctx context.Context, actor events.Actor, appID, secretID string) (store.AppSecret, error) {
	var out store.AppSecret
	changed := false
	ch, err := s.cfg.Store.UpdateApp(ctx, appID, func(ch *store.AppChange) error {
		changed = false
		if IsRegistered(ch.App) {
			return errManaged("client secret")
		}
		var target *store.AppSecret
		for i := range ch.Secrets {
			if ch.Secrets[i].ID == secretID {
				target = &ch.Secrets[i]
			}
		}
		if target == nil {
			return problem.NotFound("secret", secretID)
		}
		if target.State == store.StateRevoked {
			out = *target
			return nil
		}
		if len(unrevoked(ch.Secrets)) <= 1 {
			return problem.New(http.StatusConflict, "this is the app's last secret: add a new one before revoking it (integrations cannot refresh without one)")
		}
		now := s.cfg.Now().UTC()
		wasActive := target.State == store.StateActive
		retire(ch, target, now, "revoked")
		if wasActive {
			// The newest remaining version becomes active again.
			var best *store.AppSecret
			for i := range ch.Secrets {
				if x := &ch.Secrets[i]; x.State == store.StatePrevious && (best == nil || x.Version > best.Version) {
					best = x
				}
			}
			best.State = store.StateActive
		}
		ch.App.UpdatedAt = now
		changed = true
		out = *target
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.AppSecret{}, problem.NotFound("app", appID)
	}
	if err != nil {
		return store.AppSecret{}, err
	}
	for _, x := range ch.Secrets {
		if x.ID == secretID {
			out = x
		}
	}
	if changed {
		s.cfg.Recorder.Audit(ctx, actor, ch.App.WorkspaceID, "app.secret.revoke", secretID, map[string]any{"app": appID, "version": out.Version, "hint": out.Hint})
		s.drain(ctx, appID)
	}
	return out, nil
}

// retire revokes x within ch: its material is destroyed and an event
// says why.
func retire(ch *store.AppChange, x *store.AppSecret, now time.Time, reason string) {
	x.State, x.Secret, x.RevokedAt = store.StateRevoked, nil, now
	ch.Events = append(ch.Events, events.New(ch.App.WorkspaceID, "", events.AppSecretRevoked, now,
		map[string]any{"app": ch.App.ID, "secret": x.ID, "version": x.Version, "hint": x.Hint, "reason": reason}))
}

func unrevoked(xs []store.AppSecret) []store.AppSecret {
	var out []store.AppSecret
	for _, x := range xs {
		if x.State != store.StateRevoked {
			out = append(out, x)
		}
	}
	return out
}

// drain waits for this instance's token requests that may still send a
// secret that was just revoked.
func (s *Service) drain(ctx context.Context, appID string) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.DrainTimeout)
	defer cancel()
	if err := s.cfg.Clients.Drain(dctx, appID); err != nil {
		s.cfg.Logger.Warn("token requests that read a revoked app secret did not end in time", "app", appID, "err", err)
	}
}

// Skipped is an integration Adopt left where it was, and why.
type Skipped struct {
	Integration string `json:"integration"`
	Reason      string `json:"reason"`
}

// AdoptResult says what Adopt did.
type AdoptResult struct {
	Adopted []string
	Skipped []Skipped
}

// Adopt moves integrations that hold their own copy of app a's client
// (same provider, auth method, client id and endpoints) into a: they use
// the app's client from then on, their own client secret is dropped and
// their tokens stay. ids names them; empty means every such integration
// of the app's workspace. An app without a secret takes the first
// adopted integration's; an integration whose secret is none of the
// app's is skipped (add it as a secret first).
func (s *Service) Adopt(ctx context.Context, actor events.Actor, a store.App, ids []string) (AdoptResult, error) {
	if IsRegistered(a) {
		return AdoptResult{}, errManaged("integrations")
	}
	appCfg, err := Decode(a.Config)
	if err != nil {
		return AdoptResult{}, err
	}
	if len(ids) == 0 {
		// A page at a time: the workspace may have 100,000 integrations.
		err := store.EachIntegration(ctx, s.cfg.Store, a.WorkspaceID, func(in store.Integration) error {
			if in.AppID != "" || in.Provider != a.Provider || in.AuthMethod != a.AuthMethod {
				return nil
			}
			cfg, err := Decode(in.Config)
			if err == nil && ClientID(a.AuthMethod, Own(in.Provider, in.AuthMethod, cfg, nil)) == ClientID(a.AuthMethod, appCfg) {
				ids = append(ids, in.ID)
			}
			return nil
		})
		if err != nil {
			return AdoptResult{}, err
		}
	}
	var res AdoptResult
	skip := func(id, reason string) { res.Skipped = append(res.Skipped, Skipped{Integration: id, Reason: reason}) }
	for _, id := range ids {
		in, err := s.cfg.Store.GetIntegration(ctx, id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && in.WorkspaceID != a.WorkspaceID) {
			skip(id, "no such integration in the app's workspace")
			continue
		}
		if err != nil {
			return res, err
		}
		if reason := s.mismatch(in, a, appCfg); reason != "" {
			skip(id, reason)
			continue
		}
		own, err := s.cfg.Integrations.OwnClientSecret(ctx, in)
		if err != nil {
			return res, err
		}
		if reason, err := s.carrySecret(ctx, actor, a, own); err != nil {
			return res, err
		} else if reason != "" {
			skip(id, reason)
			continue
		}
		if err := s.cfg.Integrations.AdoptIntoApp(ctx, actor, id, a); err != nil {
			if p, ok := problem.As(err); ok {
				skip(id, p.Detail)
				continue
			}
			return res, err
		}
		res.Adopted = append(res.Adopted, id)
	}
	s.cfg.Recorder.Audit(ctx, actor, a.WorkspaceID, "app.adopt", a.ID, map[string]any{"adopted": res.Adopted, "skipped": len(res.Skipped)})
	return res, nil
}

// mismatch says why integration in cannot use app a's client as it is,
// or "" when it can.
func (s *Service) mismatch(in store.Integration, a store.App, appCfg map[string]any) string {
	switch {
	case in.AppID == a.ID:
		return "already uses this app"
	case in.AppID != "":
		return "uses another app (" + in.AppID + ")"
	case in.Provider != a.Provider || in.AuthMethod != a.AuthMethod:
		return fmt.Sprintf("is a %s %s integration; the app is %s %s", in.Provider, in.AuthMethod, a.Provider, a.AuthMethod)
	}
	cfg, err := Decode(in.Config)
	if err != nil {
		return "its config is malformed"
	}
	if got, want := ClientID(a.AuthMethod, Own(in.Provider, in.AuthMethod, cfg, nil)), ClientID(a.AuthMethod, appCfg); got != want {
		return "its client id is not the app's"
	}
	stripped := cloneMap(cfg)
	for _, path := range []string{keyClientSecret, "oauth2." + keyClientSecret, "oauth1." + keyConsumerSecret, keyConsumerSecret} {
		if parent, leaf := lookupParent(stripped, path); parent != nil {
			delete(parent, leaf)
		}
	}
	if _, err := Apply(in.Provider, in.AuthMethod, appCfg, stripped, true); err != nil {
		var fields []string
		if p, ok := problem.As(err); ok {
			for _, f := range p.Errors {
				fields = append(fields, f.Field)
			}
		}
		return "its endpoints or settings differ from the app's (" + strings.Join(fields, ", ") + ")"
	}
	return ""
}

// carrySecret makes sure the secret an adopted integration held works
// through the app: it is one of the app's unrevoked secrets, or becomes
// the app's first. It returns why not otherwise.
func (s *Service) carrySecret(ctx context.Context, actor events.Actor, a store.App, own secret.String) (string, error) {
	appID := a.ID
	if own == "" {
		return "", nil
	}
	fp := s.cfg.Vault.Fingerprint([]byte(own.Reveal()))
	var reason string
	var added store.AppSecret
	_, err := s.cfg.Store.UpdateApp(ctx, appID, func(ch *store.AppChange) error {
		reason, added = "", store.AppSecret{}
		live := unrevoked(ch.Secrets)
		for _, x := range live {
			if x.Fingerprint == fp {
				return nil
			}
		}
		if len(live) > 0 {
			reason = "its client secret is none of the app's: add it to the app (POST /v1/apps/{id}/secrets) or rotate the integration first"
			return errSkip
		}
		now := s.cfg.Now().UTC()
		x, err := s.addSecret(ch, own, now)
		added = x
		ch.App.UpdatedAt = now
		return err
	})
	if errors.Is(err, errSkip) {
		return reason, nil
	}
	if err != nil {
		return "", err
	}
	if added.ID != "" {
		s.cfg.Recorder.Audit(ctx, actor, a.WorkspaceID, "app.secret.add", added.ID, map[string]any{"app": appID, "version": added.Version, "hint": added.Hint, "carried_over": true})
	}
	return "", nil
}

var errSkip = errors.New("apps: skip")
