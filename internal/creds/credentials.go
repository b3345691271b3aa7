package creds

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/methods"
	"github.com/stormcreds/storm/internal/methods/apikey"
	"github.com/stormcreds/storm/internal/oauth"
	"github.com/stormcreds/storm/internal/outcome"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/tokens"
)

// SaveInput is a Save of new secret material.
type SaveInput struct {
	APIKey string
	// Username and Password are a Basic credential.
	Username, Password string
	// Token and TokenSecret are OAuth 1.0a token credentials issued out
	// of band (NetSuite token-based authentication).
	Token, TokenSecret string
	// Body is a service account's JSON upload; File and Form a
	// multipart one (the file part and the other fields).
	Body map[string]json.RawMessage
	File []byte
	Form map[string]string
	// SkipVerify saves without the verification request (?verify=false).
	SkipVerify bool
}

// methodsResult is a verification outcome.
type methodsResult = methods.Result

// VerifyFailed is returned by Save when the new credential did not work;
// nothing was changed. Field, when set, names the input at fault (a
// GitHub App key of another app) and Message says why.
type VerifyFailed struct {
	Result         methods.Result
	Field, Message string
}

func (e *VerifyFailed) Error() string { return "verification failed: " + e.Result.Reason.Text() }

// Problem renders the failure as a 422 carrying the reason and the
// verification result (shared/API.md "Verification outcome").
func (e *VerifyFailed) Problem() *problem.Problem {
	p := problem.New(http.StatusUnprocessableEntity, "the new credential did not work, nothing was changed: %s", e.Result.Reason.Text())
	p.Extra = map[string]any{"reason": e.Result.Reason, "verification": verifyView(e.Result)}
	if e.Field != "" {
		p.Errors = []problem.FieldError{{Field: e.Field, Message: e.Message}}
	}
	return p
}

// verifyView is a result as the API shows it: ok is null when nothing
// was checked; error is the fixed text of reason; provider_message the
// scrubbed excerpt of the provider's own words.
func verifyView(r methods.Result) map[string]any {
	v := map[string]any{"ok": r.OK, "status": r.Status, "latency_ms": r.Latency.Milliseconds(), "error": r.Error}
	if !r.Checked() {
		v["ok"] = nil
	}
	if r.Reason != "" {
		v["reason"] = r.Reason
	}
	if r.Message != "" {
		v["provider_message"] = r.Message
	}
	return v
}

// failureData is a failed verification as events record it: nothing in
// it comes verbatim from the network.
func failureData(r methods.Result) map[string]any {
	data := map[string]any{"status": r.Status, "reason": r.Reason, "error": r.Error}
	if r.Message != "" {
		data["provider_message"] = r.Message
	}
	return data
}

// logVerify puts a failed verification's raw cause (resolver, addresses,
// ports) in the server log, the one place it may go.
func (s *Service) logVerify(integ store.Integration, during string, r methods.Result) {
	if r.OK || !r.Checked() {
		return
	}
	attrs := []any{"integration", integ.ID, "during", during, "reason", r.Reason, "status", r.Status}
	if r.Cause != nil {
		attrs = append(attrs, "err", r.Cause)
	}
	s.logger.Info("verification failed", attrs...)
}

// Save stores a new credential version for integ (an API key or a
// service-account key): verified first unless in.SkipVerify, then made
// active with the version it replaces kept as previous (the rotation
// overlap) and any older previous revoked.
func (s *Service) Save(ctx context.Context, actor events.Actor, integ store.Integration, in SaveInput) (store.Credential, error) {
	return s.save(ctx, actor, integ, in, false)
}

// CreateAndSave creates the integration in describes together with its
// first credential: the credential is checked (verified, minted or
// exchanged) as Save does before anything is stored, so a credential that
// does not work leaves nothing behind, not even the integration. A
// connect link that creates an integration connects through it.
func (s *Service) CreateAndSave(ctx context.Context, actor events.Actor, ws store.Workspace, create CreateInput, in SaveInput) (store.Integration, store.Credential, error) {
	integ, err := s.newIntegration(ctx, ws, create, "")
	if err != nil {
		return store.Integration{}, store.Credential{}, err
	}
	cred, err := s.save(ctx, actor, integ, in, true)
	if err != nil {
		return store.Integration{}, store.Credential{}, err
	}
	updated, err := s.store.GetIntegration(ctx, integ.ID)
	return updated, cred, err
}

// save is Save; create says integ is not stored yet and is created
// together with the credential (CreateAndSave), so a refusal is not
// recorded against it.
func (s *Service) save(ctx context.Context, actor events.Actor, integ store.Integration, in SaveInput, create bool) (store.Credential, error) {
	rejected := s.rejected
	if create {
		rejected = func(context.Context, events.Actor, store.Integration, methods.Result) {}
	}
	resolved, err := s.resolve(integ)
	if err != nil {
		return store.Credential{}, err
	}
	now := s.now().UTC()
	cred := store.Credential{ID: store.NewID("cred"), IntegrationID: integ.ID, WorkspaceID: integ.WorkspaceID, State: store.StateActive, CreatedAt: now}
	var doc tokens.Material
	var u *usable
	exchanged := false
	switch integ.AuthMethod {
	case catalog.MethodAPIKey:
		key, err := apikey.Parse(in.APIKey)
		if err != nil {
			return store.Credential{}, err
		}
		cred.Hint, cred.Fingerprint = apikey.Hint(key), s.vault.Fingerprint([]byte(key.Reveal()))
		raw, _ := json.Marshal(key.Reveal())
		doc = tokens.Material{apiKeyMember: raw}
		if resolved.Provider.ExchangeFor(catalog.MethodAPIKey) == nil {
			if u, err = s.apiKeyUsable(cred, resolved, key); err != nil {
				return store.Credential{}, err
			}
		}
	case catalog.MethodBasic:
		m, err := parseBasic(in.Username, in.Password)
		if err != nil {
			return store.Credential{}, err
		}
		cred.Hint, cred.Fingerprint = basicHint(m), s.vault.Fingerprint(basicFingerprintInput(m))
		raw, _ := json.Marshal(m)
		doc = tokens.Material{basicMember: raw}
		if resolved.Provider.ExchangeFor(catalog.MethodBasic) == nil {
			if u, err = s.openBasic(integ, resolved, cred, doc); err != nil {
				return store.Credential{}, err
			}
		}
	case catalog.MethodOAuth1:
		if doc, u, err = s.prepareOAuth1(ctx, integ, resolved, in, &cred); err != nil {
			return store.Credential{}, err
		}
	case catalog.MethodServiceAccount:
		if doc, u, err = s.prepareSA(ctx, integ, resolved, in, &cred); err != nil {
			if vf := (*VerifyFailed)(nil); errors.As(err, &vf) {
				rejected(ctx, actor, integ, vf.Result)
			}
			return store.Credential{}, err
		}
	default:
		return store.Credential{}, problem.New(http.StatusUnprocessableEntity, "integrations using %s get credentials through Authorize, not Save", integ.AuthMethod)
	}
	if u == nil {
		// An exchange block: the first session token now (the best check
		// a key or password has, before any verify request).
		if u, err = s.prepareExchange(ctx, integ, resolved, in, &cred, doc); err != nil {
			if vf := (*VerifyFailed)(nil); errors.As(err, &vf) {
				rejected(ctx, actor, integ, vf.Result)
			}
			return store.Credential{}, err
		}
		exchanged = !in.SkipVerify
	}
	var verifiedAt time.Time
	switch {
	case in.SkipVerify:
	case resolved.Provider.Verify != nil:
		res := methods.Verify(ctx, u.client(s.client), resolved.BaseURL, resolved.Provider.Verify, u, u.secrets()...)
		if !res.OK {
			rejected(ctx, actor, integ, res)
			return store.Credential{}, &VerifyFailed{Result: res}
		}
		verifiedAt = s.now().UTC()
	case u.tokenBased() || exchanged:
		verifiedAt = now // minting or exchanging a token was the verification
	}
	cred.VerifiedAt = verifiedAt
	if cred.Secret, err = s.tokens.Seal(cred, doc); err != nil {
		return store.Credential{}, err
	}
	if create {
		if err := s.insertIntegration(ctx, actor, integ); err != nil {
			return store.Credential{}, err
		}
	}
	var gone []revoked
	var same store.Credential
	set, err := s.store.Mutate(ctx, integ.ID, func(set *store.CredentialSet) error {
		gone = gone[:0]
		if err := s.sameEndpoints(integ, set.Integration); err != nil {
			return err
		}
		// Saving the active secret again is verified like any save, and
		// then changes nothing: no new version, and above all no
		// revocation of the version kept as the rotation fallback.
		if a := activeOf(set.Credentials); a != nil && cred.Fingerprint != "" && a.Fingerprint == cred.Fingerprint {
			same = *a
			return errUnchanged
		}
		cred.Version = set.MaxVersion + 1
		for i := range set.Credentials {
			c := &set.Credentials[i]
			switch c.State {
			case store.StatePrevious:
				gone = append(gone, retire(set, c, now, revokedBySave, map[string]any{"replaced_by": cred.ID}))
			case store.StateActive:
				c.State, c.RefreshAt = store.StatePrevious, time.Time{}
			}
		}
		set.Credentials = append(set.Credentials, cred)
		in := &set.Integration
		wasConnected := in.Status == store.StatusConnected
		if in.Status != store.StatusDisabled {
			in.Status, in.StatusReason = store.StatusConnected, "credential saved and verified"
			if verifiedAt.IsZero() {
				in.StatusReason = "credential saved without verification"
			}
		}
		if !verifiedAt.IsZero() {
			in.LastVerifiedAt = verifiedAt
		}
		in.UpdatedAt = now
		set.Events = append(set.Events, events.New(in.WorkspaceID, in.ID, events.CredentialSaved, now,
			map[string]any{"credential": cred.ID, "version": cred.Version, "hint": cred.Hint, "verified": !verifiedAt.IsZero()}))
		if !wasConnected && in.Status == store.StatusConnected {
			set.Events = append(set.Events, events.New(in.WorkspaceID, in.ID, events.IntegrationConnected, now, nil))
		}
		return nil
	})
	if errors.Is(err, errUnchanged) {
		s.recorder.Audit(ctx, actor, integ.WorkspaceID, "credential.save", same.ID, map[string]any{"integration": integ.ID, "version": same.Version, "unchanged": true})
		return same, nil
	}
	if err != nil {
		if create {
			s.undoCreate(ctx, actor, integ)
		}
		return store.Credential{}, err
	}
	s.cache.invalidate(integ.ID)
	saved := set.Credentials[len(set.Credentials)-1]
	s.recorder.Audit(ctx, actor, integ.WorkspaceID, "credential.save", saved.ID, map[string]any{"integration": integ.ID, "version": saved.Version, "verified": !verifiedAt.IsZero()})
	s.auditRevoked(ctx, actor, integ, gone)
	return saved, nil
}

// rejected records a Save whose new credential did not work.
func (s *Service) rejected(ctx context.Context, actor events.Actor, integ store.Integration, res methods.Result) {
	s.logVerify(integ, "save", res)
	data := failureData(res)
	data["during"] = "save"
	s.recorder.Emit(ctx, events.New(integ.WorkspaceID, integ.ID, events.VerificationFailed, s.now(), data))
	s.recorder.Audit(ctx, actor, integ.WorkspaceID, "credential.save_rejected", integ.ID, map[string]any{"status": res.Status, "reason": res.Reason})
}

// retire revokes c, destroys its key material and records the
// revocation in set's events; why says what replaced or removed it. The
// caller audits the returned revocation after the commit (see
// auditRevoked), so every revocation is in both logs.
func retire(set *store.CredentialSet, c *store.Credential, now time.Time, why string, extra map[string]any) revoked {
	wasActive := c.State == store.StateActive
	c.State, c.RevokedAt, c.Secret, c.RefreshAt = store.StateRevoked, now, nil, time.Time{}
	in := &set.Integration
	data := map[string]any{"credential": c.ID, "version": c.Version, "was_active": wasActive, "reason": why}
	for k, v := range extra {
		data[k] = v
	}
	set.Events = append(set.Events, events.New(in.WorkspaceID, in.ID, events.CredentialRevoked, now, data))
	return revoked{id: c.ID, version: c.Version, why: why}
}

// revoked is a revocation waiting for its audit record.
type revoked struct {
	id      string
	version int
	why     string
}

// Reasons a credential version is revoked.
const (
	revokedByUser      = "revoked"          // POST …/revoke
	revokedBySave      = "replaced"         // a newer save pushed it out of the overlap
	revokedByAuthorize = "reauthorized"     // a new authorization replaced the token set
	revokedByEndpoint  = "endpoint_changed" // the integration's endpoints changed
)

// auditRevoked writes one audit record per revocation.
func (s *Service) auditRevoked(ctx context.Context, actor events.Actor, integ store.Integration, list []revoked) {
	for _, r := range list {
		s.recorder.Audit(ctx, actor, integ.WorkspaceID, "credential.revoke", r.id, map[string]any{"integration": integ.ID, "version": r.version, "reason": r.why})
	}
}

func (s *Service) resolve(integ store.Integration) (catalog.Resolved, error) {
	cfg, err := decodeConfig(integ.Config)
	if err != nil {
		return catalog.Resolved{}, err
	}
	resolved, err := s.catalog.ResolveMethod(integ.Provider, integ.AuthMethod, cfg)
	if err != nil {
		return catalog.Resolved{}, fromValidation(err, "config.")
	}
	// A service account may verify differently from a person's
	// credential (no /me for an app).
	if sa := resolved.Provider.ServiceAccount; integ.AuthMethod == catalog.MethodServiceAccount && sa != nil && sa.Verify != nil {
		resolved.Provider.Verify = sa.Verify
	}
	return resolved, nil
}

// Revoke revokes one credential version and destroys its key material.
// Revoking the active version while a previous one exists rolls back to
// the previous one; revoking the only active version leaves the
// integration pending. Revoking a revoked version changes nothing.
func (s *Service) Revoke(ctx context.Context, actor events.Actor, integ store.Integration, credID string) (store.Credential, error) {
	// OAuth tokens are revoked at the provider first (RFC 7009), while
	// the material still exists; the version is revoked here whatever
	// the provider answers, and the event says whether it confirmed.
	providerRevoked := false
	if integ.AuthMethod == catalog.MethodOAuth2 {
		c, err := s.store.GetCredential(ctx, credID)
		if err == nil && c.IntegrationID == integ.ID && c.State != store.StateRevoked {
			providerRevoked = s.revokeAtProvider(ctx, integ, c)
		}
	}
	now := s.now().UTC()
	var gone revoked
	set, err := s.store.Mutate(ctx, integ.ID, func(set *store.CredentialSet) error {
		var target *store.Credential
		for i := range set.Credentials {
			if set.Credentials[i].ID == credID {
				target = &set.Credentials[i]
			}
		}
		if target == nil {
			return errNotLive
		}
		wasActive := target.State == store.StateActive
		gone = retire(set, target, now, revokedByUser, map[string]any{"provider_revoked": providerRevoked})
		in := &set.Integration
		in.UpdatedAt = now
		if wasActive {
			if prev := previousOf(set.Credentials); prev != nil {
				prev.State = store.StateActive
			} else if in.Status != store.StatusDisabled {
				in.Status, in.StatusReason = store.StatusPending, "the active credential was revoked"
			}
		}
		return nil
	})
	if errors.Is(err, errNotLive) {
		return s.revokedVersion(ctx, integ, credID)
	}
	if err != nil {
		return store.Credential{}, err
	}
	s.cache.invalidate(integ.ID)
	s.auditRevoked(ctx, actor, integ, []revoked{gone})
	var out store.Credential
	for _, c := range set.Credentials {
		if c.ID == credID {
			out = c // as stored
		}
	}
	return out, nil
}

// errNotLive says that the version a mutation names is not among the
// integration's live ones (store.CredentialSet).
var errNotLive = errors.New("not a live credential version")

// revokedVersion answers Revoke for a version that was not live when the
// revocation held the integration: integ's version credID if it is
// revoked (revocation is final, so it still is), else not found.
func (s *Service) revokedVersion(ctx context.Context, integ store.Integration, credID string) (store.Credential, error) {
	c, err := s.store.GetCredential(ctx, credID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Credential{}, err
	}
	if err != nil || c.IntegrationID != integ.ID || c.State != store.StateRevoked {
		return store.Credential{}, problem.NotFound("credential", credID)
	}
	return c, nil
}

// Verify sends the provider's verification request with the active
// credential and updates the integration's status from the answer.
func (s *Service) Verify(ctx context.Context, actor events.Actor, integ store.Integration) (methods.Result, error) {
	picked := s.now()
	u, err := s.use(ctx, integ.ID, picked)
	if err != nil {
		return methods.Result{}, err
	}
	if u.active == nil {
		return methods.Result{}, problem.New(http.StatusConflict, "integration %s has no active credential: save one first", integ.ID)
	}
	if u.active.tokenBased() {
		// A token that cannot be refreshed fails verification; the token
		// engine has already set the status and recorded why.
		if u, err = s.usableEntry(ctx, integ.ID, picked); err != nil {
			res, ok := tokenFailure(err)
			if !ok {
				return methods.Result{}, err
			}
			s.logVerify(integ, "verify", res)
			return res, nil
		}
	}
	if u.resolved.Provider.Verify == nil {
		// Nothing to send: say so (ok is null), and leave the status,
		// last_verified_at and the event log as they are.
		res := methods.NotChecked()
		s.recorder.Audit(ctx, actor, integ.WorkspaceID, "integration.verify", integ.ID, map[string]any{"ok": nil, "reason": res.Reason})
		return res, nil
	}
	res := methods.Verify(ctx, u.active.client(s.client), u.resolved.BaseURL, u.resolved.Provider.Verify, u.active, u.active.secrets()...)
	if u.active.tokenBased() && res.Status == http.StatusUnauthorized {
		// The token may have been replaced meanwhile (another instance
		// refreshed it, and some providers revoke the old access token on
		// refresh): as the proxy does, try once more with the newest
		// token before calling the credential rejected. A grant the
		// provider refuses to refresh is marked by the engine.
		if ts, err := s.tokens.RefreshAfter401(ctx, u.active.cred, u.active.tokens.AccessToken, time.Time{}); err == nil {
			active := *u.active
			active.secret, active.tokens = ts.AccessToken, ts
			res = methods.Verify(ctx, active.client(s.client), u.resolved.BaseURL, u.resolved.Provider.Verify, &active, active.secrets()...)
		}
	}
	now := s.now().UTC()
	_, err = s.store.Mutate(ctx, integ.ID, func(set *store.CredentialSet) error {
		in := &set.Integration
		in.LastVerifiedAt = now
		if res.OK {
			for i := range set.Credentials {
				if set.Credentials[i].ID == u.active.cred.ID {
					set.Credentials[i].VerifiedAt = now
				}
			}
		}
		if in.Status == store.StatusDisabled {
			return nil
		}
		status, reason := statusFromVerify(res)
		if status != in.Status {
			set.Events = append(set.Events, statusEvent(*in, status, reason, now))
		}
		in.Status, in.StatusReason = status, reason
		if !res.OK {
			set.Events = append(set.Events, events.New(in.WorkspaceID, in.ID, events.VerificationFailed, now, failureData(res)))
		}
		return nil
	})
	if err != nil {
		return methods.Result{}, err
	}
	s.logVerify(integ, "verify", res)
	s.cache.invalidate(integ.ID)
	audit := map[string]any{"ok": res.OK, "status": res.Status}
	if res.Reason != "" {
		audit["reason"] = res.Reason
	}
	s.recorder.Audit(ctx, actor, integ.WorkspaceID, "integration.verify", integ.ID, audit)
	return res, nil
}

// tokenFailure is the verification result when no usable token could be
// had because of the provider: the token endpoint's own reason when the
// error carries it, else rejected for a grant that needs authorizing
// again and unreachable for a provider that is unavailable for now. ok is
// false for any other error (a disabled integration, a store failure),
// which is the caller's answer as it is.
func tokenFailure(err error) (res methods.Result, ok bool) {
	var oerr *oauth.Error
	if errors.As(err, &oerr) {
		return methods.Failed(oerr.Outcome(), oerr.Status, err), true
	}
	if p, isProblem := problem.As(err); isProblem {
		switch {
		case p.Extra["status"] == store.StatusReconnectRequired:
			return methods.Failed(outcome.Rejected, 0, err), true
		case p.Status == http.StatusServiceUnavailable:
			return methods.Failed(outcome.Unreachable, 0, err), true
		}
	}
	return methods.Result{}, false
}

func statusEvent(in store.Integration, status, reason string, now time.Time) store.Event {
	typ := map[string]string{
		store.StatusConnected:         events.IntegrationConnected,
		store.StatusDegraded:          events.IntegrationDegraded,
		store.StatusReconnectRequired: events.IntegrationReconnectRequired,
	}[status]
	if status == store.StatusConnected && (in.Status == store.StatusDegraded || in.Status == store.StatusReconnectRequired) {
		typ = events.IntegrationRecovered
	}
	return events.New(in.WorkspaceID, in.ID, typ, now, map[string]any{"from": in.Status, "reason": reason})
}

// VerifyView renders a verification result as the API's verify answer.
func VerifyView(r methods.Result) map[string]any { return verifyView(r) }

// errNoUse is returned when an integration cannot hand out a credential.
func errNoUse(id, why string) error {
	return problem.New(http.StatusConflict, "integration %s cannot be used: %s", id, why)
}
