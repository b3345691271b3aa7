package oauthtest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/storage"
	"github.com/ory/fosite/token/jwt"
)

// Defaults used when Options leaves a field empty.
const (
	DefaultClientID        = "storm-test"
	DefaultClientSecret    = "storm-test-secret"
	DefaultSubject         = "alice"
	DefaultAccessTokenTTL  = time.Hour
	DefaultRefreshTokenTTL = 30 * 24 * time.Hour

	// DecisionHeader carries the resource owner's decision ("approve" or
	// "deny") on a GET of the authorize endpoint. Approve and Deny set it;
	// without it (and without Options.AutoApprove) the endpoint answers with
	// an HTML consent page whose buttons POST the decision.
	DecisionHeader = "X-Oauthtest-Decision"

	// WrongIssuer is the issuer advertised in the metadata when
	// Options.WrongIssuerInMetadata is set.
	WrongIssuer = "https://wrong-issuer.example.com"

	// GrantTypeJWTBearer is the RFC 7523 grant type.
	GrantTypeJWTBearer = "urn:ietf:params:oauth:grant-type:jwt-bearer"
)

// Options configures a Server. The zero value is a sensible default.
//
// Token lifetimes have one-second granularity: fosite rounds expiry times to
// the second.
type Options struct {
	AccessTokenTTL  time.Duration // default 1h
	RefreshTokenTTL time.Duration // default 30 days

	// DisableRefreshTokenRotation keeps refresh tokens stable: a refresh
	// answers with the same refresh token, which stays valid. By default
	// every refresh returns a new refresh token and invalidates the old one;
	// presenting an invalidated refresh token again revokes the whole grant
	// (the latest refresh token and access token of that authorization).
	DisableRefreshTokenRotation bool

	// PKCEOptional stops requiring PKCE. By default every authorization
	// request must carry an S256 code_challenge ("plain" is never accepted).
	PKCEOptional bool

	// Clients replaces the default client, a confidential client
	// DefaultClientID / DefaultClientSecret without redirect URIs (add them
	// with AddRedirectURI).
	Clients []Client

	// Subject is the logged-in user who approves or denies authorization
	// requests. Default "alice".
	Subject string

	// AutoApprove makes a plain GET of the authorize endpoint (no
	// DecisionHeader) approve at once, so a "browser" that simply follows
	// redirects completes the flow.
	AutoApprove bool

	// WrongIssuerInMetadata makes both metadata documents advertise
	// WrongIssuer instead of the server's real issuer.
	WrongIssuerInMetadata bool

	// IssParam overrides the RFC 9207 iss parameter added to authorize
	// redirects (default: the issuer). OmitIssParam leaves it out.
	IssParam     string
	OmitIssParam bool
}

// Client is an OAuth client registered with the server.
type Client struct {
	ID     string
	Secret string // required unless Public
	// RedirectURIs must match exactly, except that loopback http URIs
	// (127.0.0.1, [::1]) match any port (RFC 8252).
	RedirectURIs []string
	Public       bool     // no client secret; may not use client_credentials
	Scopes       []string // scopes the client may request; empty means any
}

// AuthorizeError is returned by Approve and Deny when the authorization
// server redirected back to the client with an unexpected OAuth error.
type AuthorizeError struct {
	Code        string // the "error" parameter, e.g. "invalid_request"
	Description string // the "error_description" parameter
	Redirect    *url.URL
}

func (e *AuthorizeError) Error() string {
	return fmt.Sprintf("oauthtest: authorization failed: %s: %s", e.Code, e.Description)
}

// Server is a running authorization server. Its methods are safe for
// concurrent use.
type Server struct {
	URL    string // base URL, e.g. http://127.0.0.1:41234
	Issuer string // equal to URL

	t    testing.TB
	opts Options
	srv  *httptest.Server

	key   *ecdsa.PrivateKey
	keyID string

	// mu serialises every use of the fosite provider and its storage.
	// fosite's MemoryStore is not safe for concurrent use (e.g.
	// RevokeRefreshToken writes the token map under the wrong mutex), and
	// serialising also makes refresh-token rotation deterministic.
	mu       sync.Mutex
	provider fosite.OAuth2Provider
	config   *fosite.Config
	store    *memoryStore
	clients  map[string]*fosite.DefaultClient

	tokenRequests     atomic.Int64
	refreshRequests   atomic.Int64
	revokeRequests    atomic.Int64
	userinfoRequests  atomic.Int64
	authorizeRequests atomic.Int64

	delay         atomic.Int64 // time.Duration
	omitRT        atomic.Bool
	omitExpiresIn atomic.Bool
	jwtAccess     atomic.Bool

	failMu     sync.Mutex
	failN      int
	failStatus int

	// received counts the client secrets the token and revocation
	// endpoints were sent, accepted or not (see SecretReceived).
	receivedMu sync.Mutex
	received   map[string]*secretUse
}

type secretUse struct {
	n    int64
	last time.Time
}

// New starts a Server; it is closed when the test ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.AccessTokenTTL <= 0 {
		opts.AccessTokenTTL = DefaultAccessTokenTTL
	}
	if opts.RefreshTokenTTL <= 0 {
		opts.RefreshTokenTTL = DefaultRefreshTokenTTL
	}
	if opts.Subject == "" {
		opts.Subject = DefaultSubject
	}
	if len(opts.Clients) == 0 {
		opts.Clients = []Client{{ID: DefaultClientID, Secret: DefaultClientSecret}}
	}

	s := &Server{t: t, opts: opts, clients: map[string]*fosite.DefaultClient{}, received: map[string]*secretUse{}}

	mux := http.NewServeMux()
	mux.HandleFunc("/authorize", s.handleAuthorize)
	mux.HandleFunc("/token", s.handleToken)
	mux.HandleFunc("/revoke", s.handleRevoke)
	mux.HandleFunc("/introspect", s.handleIntrospect)
	mux.HandleFunc("/userinfo", s.handleUserinfo)
	mux.HandleFunc("/me", s.handleUserinfo)
	mux.HandleFunc("/jwks.json", s.handleJWKS)
	mux.HandleFunc("/.well-known/oauth-authorization-server", s.handleMetadata)
	mux.HandleFunc("/.well-known/openid-configuration", s.handleMetadata)

	// Configure everything before the server accepts connections.
	s.srv = httptest.NewUnstartedServer(mux)
	s.URL = "http://" + s.srv.Listener.Addr().String()
	s.Issuer = s.URL

	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		t.Fatalf("oauthtest: %v", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("oauthtest: %v", err)
	}
	s.key = key
	kid := make([]byte, 8)
	_, _ = rand.Read(kid)
	s.keyID = fmt.Sprintf("%x", kid)

	s.config = &fosite.Config{
		AccessTokenLifespan:            opts.AccessTokenTTL,
		RefreshTokenLifespan:           opts.RefreshTokenTTL,
		AuthorizeCodeLifespan:          10 * time.Minute,
		GlobalSecret:                   secret,
		AccessTokenIssuer:              s.Issuer,
		IDTokenIssuer:                  s.Issuer,
		TokenURL:                       s.TokenURL(),
		ScopeStrategy:                  scopeStrategy,
		AudienceMatchingStrategy:       fosite.DefaultAudienceMatchingStrategy,
		RefreshTokenScopes:             []string{}, // every code exchange gets a refresh token
		EnforcePKCE:                    !opts.PKCEOptional,
		EnforcePKCEForPublicClients:    !opts.PKCEOptional,
		EnablePKCEPlainChallengeMethod: false,
		ClientSecretsHasher:            plainHasher{}, // bcrypt would cost ~100ms per request under -race
		SendDebugMessagesToClients:     true,
		JWTScopeClaimKey:               jwt.JWTScopeFieldString,
	}

	s.store = &memoryStore{MemoryStore: storage.NewMemoryStore()}
	for _, c := range opts.Clients {
		if err := s.addClientLocked(c); err != nil {
			t.Fatalf("oauthtest: %v", err)
		}
	}

	hmacStrategy := compose.NewOAuth2HMACStrategy(s.config)
	keyGetter := func(context.Context) (interface{}, error) { return s.key, nil }
	strategy := &tokenStrategy{
		HMACSHAStrategy: hmacStrategy,
		jwt:             compose.NewOAuth2JWTStrategy(keyGetter, hmacStrategy, s.config),
		useJWT:          &s.jwtAccess,
	}
	s.provider = compose.Compose(s.config, s.store, strategy,
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2ClientCredentialsGrantFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.RFC7523AssertionGrantFactory,
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2TokenRevocationFactory,
		compose.OAuth2PKCEFactory, // must follow the authorize code handler
	)

	s.srv.Start()
	t.Cleanup(s.srv.Close)
	return s
}

// Endpoint URLs.
func (s *Server) AuthorizeURL() string  { return s.URL + "/authorize" }
func (s *Server) TokenURL() string      { return s.URL + "/token" }
func (s *Server) RevokeURL() string     { return s.URL + "/revoke" }
func (s *Server) IntrospectURL() string { return s.URL + "/introspect" }
func (s *Server) UserinfoURL() string   { return s.URL + "/userinfo" }
func (s *Server) JWKSURL() string       { return s.URL + "/jwks.json" }

// MetadataURL is the RFC 8414 metadata document's URL.
func (s *Server) MetadataURL() string { return s.URL + "/.well-known/oauth-authorization-server" }

// PublicKey is the ECDSA P-256 key that verifies JWT access tokens (ES256).
func (s *Server) PublicKey() crypto.PublicKey { return &s.key.PublicKey }

// AddClient registers another client.
func (s *Server) AddClient(c Client) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.addClientLocked(c); err != nil {
		s.t.Fatalf("oauthtest: %v", err)
	}
}

func (s *Server) addClientLocked(c Client) error {
	if c.ID == "" {
		return errors.New("client without ID")
	}
	if _, dup := s.clients[c.ID]; dup {
		return fmt.Errorf("duplicate client %q", c.ID)
	}
	if !c.Public && c.Secret == "" {
		return fmt.Errorf("confidential client %q without secret", c.ID)
	}
	grants := []string{"authorization_code", "refresh_token"}
	if !c.Public {
		grants = append(grants, "client_credentials", GrantTypeJWTBearer)
	}
	dc := &fosite.DefaultClient{
		ID:            c.ID,
		RedirectURIs:  append([]string(nil), c.RedirectURIs...),
		GrantTypes:    grants,
		ResponseTypes: []string{"code"},
		Scopes:        append([]string(nil), c.Scopes...),
		Public:        c.Public,
	}
	if !c.Public {
		dc.Secret = []byte(c.Secret)
	}
	s.clients[c.ID] = dc
	s.store.Clients[c.ID] = dc
	return nil
}

// AddClientSecret makes a confidential client accept secret as well as
// the secrets it has: both authenticate until one is removed, the way
// providers such as Azure AD and Okta let two client secrets live side by
// side during a rotation.
func (s *Server) AddClientSecret(clientID, secret string) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[clientID]
	if !ok || c.Public || secret == "" {
		s.t.Fatalf("oauthtest: AddClientSecret: unknown or public client %q, or empty secret", clientID)
	}
	if len(c.Secret) == 0 {
		c.Secret = []byte(secret)
		return
	}
	c.RotatedSecrets = append(c.RotatedSecrets, []byte(secret))
}

// RemoveClientSecret stops accepting secret for a client: requests that
// send it get invalid_client from then on. Removing the last secret
// leaves the client with none that works.
func (s *Server) RemoveClientSecret(clientID, secret string) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[clientID]
	if !ok {
		s.t.Fatalf("oauthtest: RemoveClientSecret: unknown client %q", clientID)
	}
	var keep [][]byte
	for _, sec := range append([][]byte{c.Secret}, c.RotatedSecrets...) {
		if len(sec) > 0 && string(sec) != secret {
			keep = append(keep, sec)
		}
	}
	c.Secret, c.RotatedSecrets = nil, nil
	if len(keep) > 0 {
		c.Secret, c.RotatedSecrets = keep[0], keep[1:]
	}
}

// SecretReceived reports how many token and revocation requests carried
// secret as their client secret (HTTP Basic or client_secret form
// parameter), whether the server accepted it or not, and when the last
// one arrived.
func (s *Server) SecretReceived(secret string) (n int64, last time.Time) {
	s.receivedMu.Lock()
	defer s.receivedMu.Unlock()
	if u := s.received[secret]; u != nil {
		return u.n, u.last
	}
	return 0, time.Time{}
}

// recordSecret notes the client secret r carries, if any. The form must
// be parsed.
func (s *Server) recordSecret(r *http.Request) {
	sec := r.PostForm.Get("client_secret")
	if _, pw, ok := r.BasicAuth(); ok {
		if un, err := url.QueryUnescape(pw); err == nil {
			pw = un
		}
		sec = pw
	}
	if sec == "" {
		return
	}
	s.receivedMu.Lock()
	defer s.receivedMu.Unlock()
	u := s.received[sec]
	if u == nil {
		u = &secretUse{}
		s.received[sec] = u
	}
	u.n++
	u.last = time.Now()
}

// AddRedirectURI registers uri as a redirect URI of the client.
func (s *Server) AddRedirectURI(clientID, uri string) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[clientID]
	if !ok {
		s.t.Fatalf("oauthtest: AddRedirectURI: unknown client %q", clientID)
	}
	c.RedirectURIs = append(c.RedirectURIs, uri)
}

// AddJWTBearerKey trusts pub (an *ecdsa.PublicKey or *rsa.PublicKey) to sign
// RFC 7523 assertions with the given iss, sub and kid. The assertion's aud
// must be TokenURL() and it needs exp, iat and jti. The token request must
// also authenticate a confidential client. Empty scopes means any scope.
func (s *Server) AddJWTBearerKey(issuer, subject, keyID string, pub crypto.PublicKey, scopes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.store.MemoryStore
	ipk, ok := st.IssuerPublicKeys[issuer]
	if !ok {
		ipk = storage.IssuerPublicKeys{Issuer: issuer, KeysBySub: map[string]storage.SubjectPublicKeys{}}
	}
	spk, ok := ipk.KeysBySub[subject]
	if !ok {
		spk = storage.SubjectPublicKeys{Subject: subject, Keys: map[string]storage.PublicKeyScopes{}}
	}
	spk.Keys[keyID] = storage.PublicKeyScopes{
		Key:    &jose.JSONWebKey{Key: pub, KeyID: keyID, Use: "sig"},
		Scopes: scopes,
	}
	ipk.KeysBySub[subject] = spk
	st.IssuerPublicKeys[issuer] = ipk
}

// Counters.

// TokenRequests counts every call of the token endpoint, including injected failures.
func (s *Server) TokenRequests() int64 { return s.tokenRequests.Load() }

// RefreshRequests counts token endpoint calls with grant_type=refresh_token,
// including injected failures.
func (s *Server) RefreshRequests() int64 { return s.refreshRequests.Load() }

// RevokeRequests counts calls of the revocation endpoint.
func (s *Server) RevokeRequests() int64 { return s.revokeRequests.Load() }

// UserinfoRequests counts calls of /userinfo and /me.
func (s *Server) UserinfoRequests() int64 { return s.userinfoRequests.Load() }

// AuthorizeRequests counts calls of the authorize endpoint.
func (s *Server) AuthorizeRequests() int64 { return s.authorizeRequests.Load() }

// Fault injection and behaviour switches.

// FailNext makes the next n token endpoint calls answer status with a JSON
// OAuth error body, without processing them. It replaces any pending
// failures; n <= 0 cancels them.
func (s *Server) FailNext(n int, status int) {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	s.failN, s.failStatus = n, status
}

func (s *Server) takeFailure() int {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	if s.failN <= 0 {
		return 0
	}
	s.failN--
	return s.failStatus
}

// SetDelay makes the token endpoint wait d before handling each request
// (requests wait concurrently; the processing itself is serialised).
func (s *Server) SetDelay(d time.Duration) { s.delay.Store(int64(d)) }

// OmitRefreshToken makes refresh responses carry no refresh_token. The
// presented refresh token is then not rotated and stays valid, like at
// providers that issue a refresh token only once.
func (s *Server) OmitRefreshToken(on bool) { s.omitRT.Store(on) }

// OmitExpiresIn makes token responses lack expires_in.
func (s *Server) OmitExpiresIn(on bool) { s.omitExpiresIn.Store(on) }

// JWTAccessTokens makes newly issued access tokens ES256-signed JWTs
// (RFC 9068 style: typ at+jwt, iss, sub, client_id, scope, iat, exp, jti)
// instead of opaque tokens. Tokens already issued stay as they are and both
// kinds remain usable.
func (s *Server) JWTAccessTokens(on bool) { s.jwtAccess.Store(on) }

// RevokeAll is the user revoking every grant: all access tokens, refresh
// tokens and pending authorization codes become invalid; refreshing then
// fails with invalid_grant and /userinfo with 401.
func (s *Server) RevokeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.store.MemoryStore
	clear(st.AccessTokens)
	clear(st.AccessTokenRequestIDs)
	clear(st.RefreshTokens)
	clear(st.RefreshTokenRequestIDs)
	clear(st.AuthorizeCodes)
	clear(st.PKCES)
}

// Valid reports whether accessToken is a currently valid access token.
func (s *Server) Valid(accessToken string) bool {
	return s.introspect(context.Background(), accessToken, fosite.AccessToken) != nil
}

// ValidRefreshToken reports whether refreshToken is a currently usable
// refresh token (without using it).
func (s *Server) ValidRefreshToken(refreshToken string) bool {
	return s.introspect(context.Background(), refreshToken, fosite.RefreshToken) != nil
}

// introspect returns the request behind an active token of the given kind, or nil.
func (s *Server) introspect(ctx context.Context, token string, use fosite.TokenUse) fosite.AccessRequester {
	if token == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	got, ar, err := s.provider.IntrospectToken(ctx, token, use, s.newSession(""))
	// fosite falls back to the other token kind; don't accept that.
	if err != nil || got != use {
		return nil
	}
	return ar
}

// Approve drives the browser step: it GETs authorizeURL as the logged-in
// user, who approves, and returns the redirect Location (the client's
// redirect_uri with code, state and iss). If the server instead redirected
// with an OAuth error (e.g. a missing PKCE challenge), the Location is
// returned together with an *AuthorizeError. If it did not redirect at all
// (unknown client, unregistered redirect_uri) the error carries the body.
func (s *Server) Approve(ctx context.Context, authorizeURL string) (*url.URL, error) {
	return s.decide(ctx, authorizeURL, "approve")
}

// Deny is Approve with the user refusing: the returned Location carries
// error=access_denied (an *AuthorizeError is returned only for other errors).
func (s *Server) Deny(ctx context.Context, authorizeURL string) (*url.URL, error) {
	return s.decide(ctx, authorizeURL, "deny")
}

func (s *Server) decide(ctx context.Context, authorizeURL, decision string) (*url.URL, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authorizeURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set(DecisionHeader, decision)
	hc := &http.Client{
		Transport:     s.srv.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 300 || resp.StatusCode > 399 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("oauthtest: authorize endpoint answered %s without redirecting: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	loc, err := resp.Location()
	if err != nil {
		return nil, fmt.Errorf("oauthtest: authorize redirect: %w", err)
	}
	params := loc.Query()
	if loc.Fragment != "" {
		if fq, err := url.ParseQuery(loc.Fragment); err == nil && (fq.Has("code") || fq.Has("error")) {
			params = fq
		}
	}
	if code := params.Get("error"); code != "" && !(decision == "deny" && code == "access_denied") {
		return loc, &AuthorizeError{Code: code, Description: params.Get("error_description"), Redirect: loc}
	}
	return loc, nil
}

func (s *Server) newSession(subject string) *oauth2.JWTSession {
	return &oauth2.JWTSession{
		JWTClaims: &jwt.JWTClaims{Subject: subject, Issuer: s.Issuer, Extra: map[string]interface{}{}},
		JWTHeader: &jwt.Headers{Extra: map[string]interface{}{"kid": s.keyID, "typ": "at+jwt"}},
		Subject:   subject,
		Username:  subject,
	}
}

// ---- HTTP handlers ----

var consentPage = template.Must(template.New("consent").Parse(`<!doctype html>
<html><head><title>oauthtest consent</title></head><body>
<p>{{.Subject}}, allow <b>{{.Client}}</b> access to: {{.Scopes}}?</p>
<form method="post" action="{{.Action}}">
<button name="oauthtest_decision" value="approve">Approve</button>
<button name="oauthtest_decision" value="deny">Deny</button>
</form></body></html>
`))

func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	s.authorizeRequests.Add(1)
	ctx := r.Context()
	decision := r.Header.Get(DecisionHeader)
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		_ = r.ParseForm()
		if d := r.PostForm.Get("oauthtest_decision"); d != "" {
			decision = d
		}
	}
	if decision == "" && s.opts.AutoApprove {
		decision = "approve"
	}

	iss := s.Issuer
	if s.opts.IssParam != "" {
		iss = s.opts.IssParam
	}
	rw := &issWriter{ResponseWriter: w, iss: iss, omit: s.opts.OmitIssParam}

	s.mu.Lock()
	defer s.mu.Unlock()

	ar, err := s.provider.NewAuthorizeRequest(ctx, r)
	if err != nil {
		s.provider.WriteAuthorizeError(ctx, rw, ar, err)
		return
	}
	switch decision {
	case "approve":
		for _, scope := range ar.GetRequestedScopes() {
			ar.GrantScope(scope)
		}
		for _, aud := range ar.GetRequestedAudience() {
			ar.GrantAudience(aud)
		}
		resp, err := s.provider.NewAuthorizeResponse(ctx, ar, s.newSession(s.opts.Subject))
		if err != nil {
			s.provider.WriteAuthorizeError(ctx, rw, ar, err)
			return
		}
		s.provider.WriteAuthorizeResponse(ctx, rw, ar, resp)
	case "deny":
		s.provider.WriteAuthorizeError(ctx, rw, ar,
			fosite.ErrAccessDenied.WithHintf("The resource owner %q denied the request.", s.opts.Subject))
	case "":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = consentPage.Execute(w, map[string]interface{}{
			"Subject": s.opts.Subject,
			"Client":  ar.GetClient().GetID(),
			"Scopes":  strings.Join(ar.GetRequestedScopes(), " "),
			"Action":  r.URL.RequestURI(),
		})
	default:
		http.Error(w, "oauthtest: unknown decision "+decision, http.StatusBadRequest)
	}
}

// issWriter adds the RFC 9207 iss parameter to authorize redirects (fosite
// v0.49 does not), both to successful and to error responses.
type issWriter struct {
	http.ResponseWriter
	iss  string
	omit bool
}

func (w *issWriter) WriteHeader(code int) {
	if code >= 300 && code < 400 && !w.omit {
		if u, err := url.Parse(w.Header().Get("Location")); err == nil && u.String() != "" {
			if fq, err := url.ParseQuery(u.Fragment); err == nil && u.Fragment != "" && (fq.Has("code") || fq.Has("error")) {
				fq.Set("iss", w.iss)
				u.Fragment = fq.Encode()
			} else {
				q := u.Query()
				q.Set("iss", w.iss)
				u.RawQuery = q.Encode()
			}
			w.Header().Set("Location", u.String())
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

type keepRefreshTokenKey struct{}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	s.tokenRequests.Add(1)
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	_ = r.ParseForm() // fosite parses again; the parsed form is reused
	s.recordSecret(r)
	grant := r.PostForm.Get("grant_type")
	isRefresh := grant == "refresh_token"
	if isRefresh {
		s.refreshRequests.Add(1)
	}

	if d := time.Duration(s.delay.Load()); d > 0 {
		timer := time.NewTimer(d)
		select {
		case <-timer.C:
		case <-r.Context().Done():
			timer.Stop()
			return
		}
	}
	if status := s.takeFailure(); status != 0 {
		writeInjectedFailure(w, status)
		return
	}

	omitRT := s.omitRT.Load()
	omitExpiresIn := s.omitExpiresIn.Load()
	keepRT := isRefresh && (omitRT || s.opts.DisableRefreshTokenRotation)
	ctx := r.Context()
	if keepRT {
		ctx = context.WithValue(ctx, keepRefreshTokenKey{}, true)
	}

	s.mu.Lock()
	defer s.mu.Unlock()

	ar, err := s.provider.NewAccessRequest(ctx, r, s.newSession(""))
	if err != nil {
		s.provider.WriteAccessError(ctx, w, ar, err)
		return
	}
	sess, _ := ar.GetSession().(*oauth2.JWTSession)
	if ar.GetGrantTypes().ExactOne("client_credentials") {
		// fosite validates but leaves granting to the application.
		for _, scope := range ar.GetRequestedScopes() {
			ar.GrantScope(scope)
		}
		for _, aud := range ar.GetRequestedAudience() {
			ar.GrantAudience(aud)
		}
		if sess != nil {
			sess.SetSubject(ar.GetClient().GetID())
		}
	}
	if sess != nil && sess.JWTClaims != nil && sess.JWTClaims.Subject == "" {
		sess.JWTClaims.Subject = sess.Subject // the JWT bearer handler sets only Subject
	}

	resp, err := s.provider.NewAccessResponse(ctx, ar)
	if err != nil {
		s.provider.WriteAccessError(ctx, w, ar, err)
		return
	}
	body := resp.ToMap()
	if keepRT {
		if omitRT {
			delete(body, "refresh_token")
		} else {
			body["refresh_token"] = r.PostForm.Get("refresh_token")
		}
	}
	if omitExpiresIn {
		delete(body, "expires_in")
	} else if exp := ar.GetSession().GetExpiresAt(fosite.AccessToken); !exp.IsZero() {
		// fosite truncates, which yields expires_in=0 (read by many
		// clients as "never expires") for lifetimes around a second.
		secs := int64(time.Until(exp) / time.Second)
		if secs < 1 {
			secs = 1
		}
		body["expires_in"] = secs
	}
	writeJSON(w, http.StatusOK, body)
}

func writeInjectedFailure(w http.ResponseWriter, status int) {
	code := "server_error"
	switch {
	case status == http.StatusBadRequest:
		code = "invalid_request"
	case status == http.StatusUnauthorized:
		code = "invalid_client"
		w.Header().Set("WWW-Authenticate", `Basic realm="oauthtest"`)
	case status == http.StatusTooManyRequests, status == http.StatusServiceUnavailable:
		code = "temporarily_unavailable"
	}
	writeJSON(w, status, map[string]string{
		"error":             code,
		"error_description": fmt.Sprintf("oauthtest: injected failure (HTTP %d)", status),
	})
}

func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	s.revokeRequests.Add(1)
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	_ = r.ParseForm()
	s.recordSecret(r)
	ctx := r.Context()
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.provider.NewRevocationRequest(ctx, r)
	s.provider.WriteRevocationResponse(ctx, w, err)
}

func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s.mu.Lock()
	defer s.mu.Unlock()
	ir, err := s.provider.NewIntrospectionRequest(ctx, r, s.newSession(""))
	if err != nil {
		s.provider.WriteIntrospectionError(ctx, w, err)
		return
	}
	s.provider.WriteIntrospectionResponse(ctx, w, ir)
}

func (s *Server) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	s.userinfoRequests.Add(1)
	const prefix = "bearer "
	h := r.Header.Get("Authorization")
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="oauthtest"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_request", "error_description": "missing bearer token"})
		return
	}
	ar := s.introspect(r.Context(), strings.TrimSpace(h[len(prefix):]), fosite.AccessToken)
	if ar == nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="oauthtest", error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": "the access token is invalid, expired or revoked"})
		return
	}
	sub := ar.GetSession().GetSubject()
	if sub == "" && ar.GetClient() != nil {
		sub = ar.GetClient().GetID()
	}
	writeJSON(w, http.StatusOK, map[string]string{"sub": sub})
}

func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) {
	issuer := s.Issuer
	if s.opts.WrongIssuerInMetadata {
		issuer = WrongIssuer
	}
	authMethods := []string{"client_secret_basic", "client_secret_post", "none"}
	writeJSON(w, http.StatusOK, map[string]interface{}{
		"issuer":                                         issuer,
		"authorization_endpoint":                         s.AuthorizeURL(),
		"token_endpoint":                                 s.TokenURL(),
		"revocation_endpoint":                            s.RevokeURL(),
		"introspection_endpoint":                         s.IntrospectURL(),
		"userinfo_endpoint":                              s.UserinfoURL(),
		"jwks_uri":                                       s.JWKSURL(),
		"response_types_supported":                       []string{"code"},
		"response_modes_supported":                       []string{"query"},
		"grant_types_supported":                          []string{"authorization_code", "refresh_token", "client_credentials", GrantTypeJWTBearer},
		"token_endpoint_auth_methods_supported":          authMethods,
		"revocation_endpoint_auth_methods_supported":     authMethods,
		"introspection_endpoint_auth_methods_supported":  []string{"client_secret_basic", "client_secret_post"},
		"code_challenge_methods_supported":               []string{"S256"},
		"authorization_response_iss_parameter_supported": true,
	})
}

func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	jwk := jose.JSONWebKey{Key: &s.key.PublicKey, KeyID: s.keyID, Algorithm: "ES256", Use: "sig"}
	writeJSON(w, http.StatusOK, map[string]interface{}{"keys": []jose.JSONWebKey{jwk}})
}

func writeJSON(w http.ResponseWriter, status int, v interface{}) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
