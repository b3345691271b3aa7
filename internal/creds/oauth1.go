package creds

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/methods/apikey"
	"github.com/stormcreds/storm/internal/methods/oauth1"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/secret"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/tokens"
)

// oauth1Member is where a credential's material document keeps OAuth
// 1.0a token credentials.
const oauth1Member = "oauth1"

// oauth1Material is a version's token credentials: an access token from
// the three-legged flow, or a token id and secret issued out of band
// (NetSuite token-based authentication).
type oauth1Material struct {
	Token       string `json:"token"`
	TokenSecret string `json:"token_secret"`
}

// oauth1Client is an integration's OAuth 1.0a client: how it signs, and
// the provider's endpoints.
type oauth1Client struct {
	cfg oauth1.Config
	def catalog.OAuth1
	// field is where the client's settings are in the config: "config."
	// for a catalog provider, "config.oauth1." for custom.
	field string
	// secret is the consumer secret as configured (for RSA-SHA1, the
	// PEM private key): what /access reveals and answers are scrubbed of.
	secret string
	// fromApp: the consumer secret is the app's (its active version),
	// which never appears in any answer, /access included.
	fromApp bool
}

// oauth1ClientOf builds integ's OAuth 1.0a client from its provider
// definition and config. Problems name the config field: a consumer
// secret that is not a usable RSA key for RSA-SHA1, a realm that is not
// an account id where the provider wants NetSuite's form.
//
// An integration that uses an app signs with the app's consumer key
// (copied into its config by apps.Apply) and the app's active consumer
// secret, read from the app every time a client is built: OAuth 1.0a
// has no refresh and no invalid_client, so there is no fallback to the
// previous secret; a rotation takes effect at the next signed request.
func (s *Service) oauth1ClientOf(ctx context.Context, integ store.Integration, resolved catalog.Resolved) (oauth1Client, error) {
	def := resolved.Provider.OAuth1
	if def == nil {
		return oauth1Client{}, problem.New(http.StatusUnprocessableEntity, "provider %s has no OAuth 1.0a settings", integ.Provider)
	}
	cfg, err := decodeConfig(integ.Config)
	if err != nil {
		return oauth1Client{}, err
	}
	secrets, err := s.secretConfig(integ)
	if err != nil {
		return oauth1Client{}, err
	}
	c := oauth1Client{def: *def, field: "config."}
	if integ.Provider == catalog.Custom {
		c.field = "config.oauth1."
	}
	nested, _ := cfg["oauth1"].(map[string]any)
	c.secret = secrets["consumer_secret"]
	if c.secret == "" {
		c.secret = secrets["oauth1.consumer_secret"]
	}
	if integ.AppID != "" {
		if c.secret, err = s.appConsumerSecret(ctx, integ, cfg); err != nil {
			return oauth1Client{}, err
		}
		c.fromApp = true
	}
	c.cfg = oauth1.Config{ConsumerKey: firstString(cfg["consumer_key"], nested["consumer_key"]), SignatureMethod: def.SignatureMethod,
		Realm: def.Realm, Now: s.now}
	if def.SignatureMethod == oauth1.RSASHA1 {
		if c.secret == "" {
			return oauth1Client{}, problem.Field(c.field+"consumer_secret", "is required: RSA-SHA1 signs with the client's RSA private key (PEM)")
		}
		key, err := oauth1.ParsePrivateKey(c.secret)
		if err != nil {
			return oauth1Client{}, problem.Field(c.field+"consumer_secret", "is not a usable RSA private key for RSA-SHA1: "+err.Error())
		}
		c.cfg.PrivateKey = key
	} else {
		c.cfg.ConsumerSecret = secret.String(c.secret)
	}
	if def.RealmFormat == catalog.RealmNetSuite && def.Realm != "" {
		realm, ok := oauth1.NetSuiteRealm(def.Realm)
		if !ok {
			return oauth1Client{}, problem.Field("config.account_id", "is not a NetSuite account id")
		}
		c.cfg.Realm = realm
	}
	if err := c.cfg.Validate(); err != nil {
		return oauth1Client{}, prefixFields(err, c.field)
	}
	return c, nil
}

// appConsumerSecret is the active consumer secret of the app integ
// uses, once its consumer key and endpoints are checked to be the
// integration's (an app's change is applied to its integrations right
// after it commits; until then nothing is signed).
func (s *Service) appConsumerSecret(ctx context.Context, integ store.Integration, cfg map[string]any) (string, error) {
	if s.appClients == nil {
		return "", problem.New(http.StatusServiceUnavailable, "apps are not available on this server")
	}
	if _, _, err := s.checkApp(ctx, integ, cfg); err != nil {
		return "", err
	}
	c, err := s.appClients.Current(ctx, integ.AppID)
	if err != nil {
		return "", err
	}
	return c.Secret.Reveal(), nil
}

func oauth1Of(doc tokens.Material) (oauth1Material, error) {
	var m oauth1Material
	raw, ok := doc[oauth1Member]
	if !ok {
		return m, errors.New("the credential holds no OAuth 1.0a token")
	}
	if err := json.Unmarshal(raw, &m); err != nil || m.Token == "" {
		return m, errors.New("the stored OAuth 1.0a token is malformed")
	}
	return m, nil
}

// openOAuth1 builds the usable form of OAuth 1.0a token credentials: a
// signer for every request.
func (s *Service) openOAuth1(ctx context.Context, integ store.Integration, resolved catalog.Resolved, c store.Credential, doc tokens.Material) (*usable, error) {
	m, err := oauth1Of(doc)
	if err != nil {
		return nil, fmt.Errorf("credential %s: %w", c.ID, err)
	}
	cl, err := s.oauth1ClientOf(ctx, integ, resolved)
	if err != nil {
		return nil, err
	}
	return oauth1Usable(c, cl, m)
}

func oauth1Usable(c store.Credential, cl oauth1Client, m oauth1Material) (*usable, error) {
	signer, err := oauth1.NewSigner(cl.cfg, oauth1.Credentials{Token: m.Token, Secret: secret.String(m.TokenSecret)})
	if err != nil {
		return nil, err
	}
	u := &usable{cred: c, kind: catalog.MethodOAuth1, secret: secret.String(m.TokenSecret), more: []string{cl.secret, m.Token},
		oauth1: signer, headers: cl.def.Headers, fromApp: cl.fromApp,
		oauth1Access: map[string]any{"type": "oauth1", "consumer_key": cl.cfg.ConsumerKey, "consumer_secret": cl.secret,
			"token": m.Token, "token_secret": m.TokenSecret, "signature_method": cl.cfg.SignatureMethod, "realm": cl.cfg.Realm}}
	if cl.fromApp {
		// An app's secret never appears in any answer (issue 15): the
		// caller gets the token credentials and signs through the proxy.
		delete(u.oauth1Access, "consumer_secret")
	}
	return u, nil
}

// prepareOAuth1 checks pasted token credentials (a Save) and returns the
// new version's material and usable form.
func (s *Service) prepareOAuth1(ctx context.Context, integ store.Integration, resolved catalog.Resolved, in SaveInput, cred *store.Credential) (tokens.Material, *usable, error) {
	creds := oauth1.Credentials{Token: in.Token, Secret: secret.String(in.TokenSecret)}
	if err := creds.Validate(); err != nil {
		return nil, nil, err
	}
	cl, err := s.oauth1ClientOf(ctx, integ, resolved)
	if err != nil {
		return nil, nil, err
	}
	m := oauth1Material{Token: in.Token, TokenSecret: in.TokenSecret}
	raw, _ := json.Marshal(m)
	cred.Hint, cred.Fingerprint = apikey.Hint(secret.String(m.Token)), s.vault.Fingerprint([]byte(m.Token+"\x00"+m.TokenSecret))
	u, err := oauth1Usable(*cred, cl, m)
	if err != nil {
		return nil, nil, err
	}
	return tokens.Material{oauth1Member: raw}, u, nil
}

// oauth1StateHash keys a pending OAuth 1.0a authorization by its
// temporary token, which the provider's redirect carries back; the prefix
// keeps it apart from OAuth 2.0 states.
func oauth1StateHash(tempToken string) []byte {
	h := sha256.Sum256([]byte("oauth1\x00" + tempToken))
	return h[:]
}

// authorizeOAuth1 starts the three-legged flow (RFC 5849 §2): temporary
// credentials with oauth_callback = the shared callback, kept sealed
// server-side for 10 minutes and bound to the integration (and to the
// browser when binding is set); the answer is the provider's
// authorization URL.
func (s *Service) authorizeOAuth1(ctx context.Context, actor events.Actor, integ store.Integration, returnTo string, binding []byte, link Link) (string, error) {
	resolved, err := s.resolve(integ)
	if err != nil {
		return "", err
	}
	cl, err := s.oauth1ClientOf(ctx, integ, resolved)
	if err != nil {
		return "", err
	}
	if !cl.def.ThreeLegged() {
		return "", problem.New(http.StatusUnprocessableEntity,
			"%s issues OAuth 1.0a tokens out of band: save them with PUT …/credentials {\"token\",\"token_secret\"}", resolved.Provider.DisplayName)
	}
	temp, err := oauth1.RequestToken(ctx, s.client, cl.cfg, cl.def.RequestTokenURL, s.publicURL+CallbackPath)
	if err != nil {
		return "", s.oauth1Problem(integ, "request_token", err, cl)
	}
	hash := oauth1StateHash(temp.Token)
	pt, _ := json.Marshal(oauth1Material{Token: temp.Token, TokenSecret: temp.Secret.Reveal()})
	sealed, err := s.vault.Seal(pt, stateAD(integ, hash))
	clear(pt)
	if err != nil {
		return "", err
	}
	now := s.now().UTC()
	st := store.OAuthState{Hash: hash, IntegrationID: integ.ID, WorkspaceID: integ.WorkspaceID, Verifier: sealed,
		ReturnTo: returnTo, Actor: actor.TokenID, CreatedAt: now, ExpiresAt: now.Add(StateTTL), LinkID: link.ID, Pending: pendingJSON(link)}
	if binding != nil {
		b := sha256.Sum256(binding)
		st.Binding = b[:]
	}
	if err := s.store.CreateOAuthState(ctx, st); err != nil {
		return "", err
	}
	u, err := oauth1.AuthorizeURL(cl.def.AuthorizeURL, temp)
	if err != nil {
		return "", problem.Field(cl.field+"authorize_url", err.Error())
	}
	s.recorder.Audit(ctx, actor, integ.WorkspaceID, "integration.authorize", integ.ID, authorizeDetail(link, map[string]any{"method": catalog.MethodOAuth1}))
	return u, nil
}

// oauth1Problem explains a failed request-token or access-token call:
// the provider's refusal (status, oauth_problem, scrubbed advice) as a
// 422 naming the client settings, an unreachable provider as a 502.
func (s *Service) oauth1Problem(integ store.Integration, op string, err error, cl oauth1Client) error {
	s.logger.Info("oauth1 call failed", "integration", integ.ID, "op", op, "err", err)
	var oe *oauth1.Error
	if !errors.As(err, &oe) {
		if _, ok := problem.As(err); ok {
			return err
		}
		return problem.New(http.StatusBadGateway, "the OAuth 1.0a provider could not be asked")
	}
	msg := oauth1Text(oe, cl.secret)
	if oe.Status == 0 || oe.Temporary {
		return problem.New(http.StatusBadGateway, "%s", msg)
	}
	p := problem.New(http.StatusUnprocessableEntity, "%s", msg)
	p.Errors = []problem.FieldError{
		{Field: cl.field + "consumer_key", Message: "check the consumer key and secret (the provider refused the signed request)"},
		{Field: cl.field + "consumer_secret", Message: "check the consumer key and secret (the provider refused the signed request)"},
	}
	return p
}

// oauth1Text is a fixed sentence with the provider's status, problem and
// scrubbed advice.
func oauth1Text(oe *oauth1.Error, secrets ...string) string {
	what := "the provider's request-token endpoint"
	if oe.Op == "access_token" {
		what = "the provider's access-token endpoint"
	}
	if oe.Status == 0 {
		return what + " could not be reached"
	}
	msg := fmt.Sprintf("%s answered HTTP %d", what, oe.Status)
	if oe.Problem != "" {
		msg += " (" + secret.Excerpt(oe.Problem, 64, secrets...) + ")"
	}
	if d := secret.Excerpt(oe.Description, 200, secrets...); d != "" {
		msg += ": " + d
	}
	return msg
}

// callbackOAuth1 completes a three-legged authorization from the
// provider's redirect (?oauth_token&oauth_verifier, or ?denied=…).
func (s *Service) callbackOAuth1(ctx context.Context, q url.Values, binding []byte) (store.Integration, string, error) {
	temp := q.Get("oauth_token")
	if temp == "" {
		temp = q.Get("denied")
	}
	if temp == "" || len(temp) > 4096 {
		return store.Integration{}, "", &CallbackError{Message: "The authorization response has no valid oauth_token. Start again from Storm."}
	}
	hash := oauth1StateHash(temp)
	st, err := s.store.ConsumeOAuthState(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return store.Integration{}, "", &CallbackError{Message: "This authorization link is unknown or was already used. Start again from Storm."}
	}
	if err != nil {
		return store.Integration{}, "", err
	}
	link, err := s.claimLink(ctx, st)
	if err != nil {
		return store.Integration{}, "", linkCallbackError(st, err)
	}
	fail := func(msg string) (store.Integration, string, error) {
		link.fail(ctx, msg)
		if st.Pending == nil {
			s.recorder.Emit(ctx, events.New(st.WorkspaceID, st.IntegrationID, events.AuthorizationFailed, s.now(), map[string]any{"reason": msg}))
		}
		return store.Integration{}, "", &CallbackError{Message: msg, Integration: st.IntegrationID, ReturnTo: st.ReturnTo, Redirect: link != nil}
	}
	defer link.fail(ctx, "")
	if !s.now().Before(st.ExpiresAt) {
		return fail("This authorization took longer than 10 minutes and expired. Start again from Storm.")
	}
	if st.Binding != nil {
		b := sha256.Sum256(binding)
		if binding == nil || string(b[:]) != string(st.Binding) {
			return fail("This authorization was started in another browser session. Start again from Storm.")
		}
	}
	var integ store.Integration
	if st.Pending != nil {
		integ, err = s.pendingOf(ctx, st)
		if err != nil {
			return fail(pendingFailure(err))
		}
	} else {
		integ, err = s.store.GetIntegration(ctx, st.IntegrationID)
	}
	if err != nil || integ.WorkspaceID != st.WorkspaceID || integ.AuthMethod != catalog.MethodOAuth1 {
		return fail("The integration this authorization was for no longer exists.")
	}
	if q.Has("denied") {
		return fail("The provider did not grant access. Nothing was changed.")
	}
	pt, err := s.vault.Open(st.Verifier, stateAD(integ, hash))
	if err != nil {
		return fail("The authorization could not be completed. Start again from Storm.")
	}
	var tm oauth1Material
	err = json.Unmarshal(pt, &tm)
	clear(pt)
	if err != nil {
		return fail("The authorization could not be completed. Start again from Storm.")
	}
	tempCreds := oauth1.Credentials{Token: tm.Token, Secret: secret.String(tm.TokenSecret)}
	verifier, err := oauth1.CheckCallback(tempCreds, q)
	if err != nil {
		return fail("The authorization response is not valid (" + truncate(err.Error(), 120) + "). Nothing was changed.")
	}
	resolved, err := s.resolve(integ)
	if err != nil {
		return fail("The provider's settings could not be loaded. Nothing was changed.")
	}
	cl, err := s.oauth1ClientOf(ctx, integ, resolved)
	if err != nil {
		msg := "The provider's settings could not be loaded"
		if p, ok := problem.As(err); ok {
			msg += ": " + p.Detail
		}
		return fail(msg + ". Nothing was changed.")
	}
	access, err := oauth1.AccessToken(ctx, s.client, cl.cfg, cl.def.AccessTokenURL, tempCreds, verifier)
	if err != nil {
		s.logger.Info("oauth1 access token failed", "integration", integ.ID, "err", err)
		var oe *oauth1.Error
		if errors.As(err, &oe) {
			return fail("The provider refused the authorization: " + oauth1Text(oe, cl.secret, tm.TokenSecret, verifier) + ". Nothing was changed.")
		}
		return fail("The provider's access-token endpoint could not be asked. Nothing was changed.")
	}
	m := oauth1Material{Token: access.Token, TokenSecret: access.Secret.Reveal()}
	actor := link.actorOr(events.Actor{TokenID: st.Actor})
	if st.Pending != nil {
		if err := s.insertIntegration(ctx, actor, integ); err != nil {
			if p, ok := problem.As(err); ok {
				return fail("The integration could not be created: " + p.Detail + ". Nothing was changed.")
			}
			return store.Integration{}, "", err
		}
	}
	if _, err := s.saveOAuth1Authorized(ctx, actor, integ, m); err != nil {
		if st.Pending != nil {
			s.undoCreate(ctx, actor, integ)
		}
		return store.Integration{}, "", err
	}
	updated, err := s.store.GetIntegration(ctx, integ.ID)
	if err != nil {
		return store.Integration{}, "", err
	}
	link.done(ctx, updated, st.Pending != nil)
	return updated, st.ReturnTo, nil
}

// saveOAuth1Authorized stores authorized token credentials as the new
// active version; every older version is revoked (a new authorization
// replaces the grant, as Reconnect does for OAuth 2.0).
func (s *Service) saveOAuth1Authorized(ctx context.Context, actor events.Actor, integ store.Integration, m oauth1Material) (store.Credential, error) {
	now := s.now().UTC()
	cred := store.Credential{ID: store.NewID("cred"), IntegrationID: integ.ID, WorkspaceID: integ.WorkspaceID, State: store.StateActive,
		Hint: apikey.Hint(secret.String(m.Token)), Fingerprint: s.vault.Fingerprint([]byte(m.Token + "\x00" + m.TokenSecret)),
		CreatedAt: now, VerifiedAt: now}
	raw, _ := json.Marshal(m)
	sealed, err := s.tokens.Seal(cred, tokens.Material{oauth1Member: raw})
	clear(raw)
	if err != nil {
		return store.Credential{}, err
	}
	cred.Secret = sealed
	saved, _, err := s.storeAuthorized(ctx, actor, integ, cred, now,
		map[string]any{"method": catalog.MethodOAuth1, "hint": cred.Hint}, map[string]any{"method": catalog.MethodOAuth1})
	return saved, err
}
