package oauthtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/storage"
	"github.com/ory/fosite/token/jwt"
)

// DCROptions configures a DCRServer; the zero value is a sensible
// default.
type DCROptions struct {
	// IssuerPath is the path of the issuer URL; default "/tenant", so the
	// RFC 8414 metadata is at /.well-known/oauth-authorization-server/tenant.
	IssuerPath string
	// OIDCOnly serves the metadata only at {issuer}/.well-known/openid-configuration
	// (a server a client finds by the OIDC fallback).
	OIDCOnly bool
	// AuthMethods are the token_endpoint_auth_methods_supported; default
	// client_secret_basic and none.
	AuthMethods []string
	// ScopesSupported default to mcp:read, mcp:write and offline_access.
	ScopesSupported []string
	// RefuseRegistrations makes /register answer 400 with this RFC 7591
	// error code (invalid_client_metadata, invalid_redirect_uri, …).
	RefuseRegistrations string
	// ResourceOptional accepts authorization and token requests without
	// an RFC 8707 resource (by default one is required).
	ResourceOptional bool
	// AccessTokenTTL defaults to an hour.
	AccessTokenTTL time.Duration
	// Subject is the user who approves; default "alice".
	Subject string
}

// DCRServer is an authorization server for OAuth-protected resources
// (remote MCP servers): RFC 8414 metadata for an issuer with a path,
// RFC 7591 dynamic client registration (clients are added to fosite's
// store at run time), authorization code with PKCE S256 (required),
// refresh tokens with rotation, RFC 8707 resource indicators (a token is
// bound to the one resource it was requested for), RFC 9207 iss. Its
// methods are safe for concurrent use.
type DCRServer struct {
	URL    string // origin, e.g. http://127.0.0.1:41234
	Issuer string // URL + IssuerPath

	t    testing.TB
	opts DCROptions
	srv  *httptest.Server

	mu        sync.Mutex // serialises fosite and its store, as in Server
	provider  fosite.OAuth2Provider
	strategy  *oauth2.HMACSHAStrategy
	store     *memoryStore
	resources map[string]bool
	clients   map[string]RegisteredClient

	seenMu            sync.Mutex
	authorizeResource []string
	tokenResource     []string

	registrations, tokenRequests, refreshRequests, authorizeRequests atomic.Int64
}

// RegisteredClient is what a registration created.
type RegisteredClient struct {
	ID, AuthMethod, Name string
	RedirectURIs         []string
	GrantTypes           []string
}

// NewDCR starts a DCRServer; it is closed when the test ends.
func NewDCR(t testing.TB, opts DCROptions) *DCRServer {
	t.Helper()
	if opts.IssuerPath == "" {
		opts.IssuerPath = "/tenant"
	}
	opts.IssuerPath = "/" + strings.Trim(opts.IssuerPath, "/")
	if len(opts.AuthMethods) == 0 {
		opts.AuthMethods = []string{"client_secret_basic", "none"}
	}
	if opts.ScopesSupported == nil {
		opts.ScopesSupported = []string{"mcp:read", "mcp:write", "offline_access"}
	}
	if opts.AccessTokenTTL <= 0 {
		opts.AccessTokenTTL = DefaultAccessTokenTTL
	}
	if opts.Subject == "" {
		opts.Subject = DefaultSubject
	}
	s := &DCRServer{t: t, opts: opts, resources: map[string]bool{}, clients: map[string]RegisteredClient{}}
	p := opts.IssuerPath
	mux := http.NewServeMux()
	if !opts.OIDCOnly {
		mux.HandleFunc("GET /.well-known/oauth-authorization-server"+p, s.handleMetadata)
	}
	mux.HandleFunc("GET "+p+"/.well-known/openid-configuration", s.handleMetadata)
	mux.HandleFunc(p+"/authorize", s.handleAuthorize)
	mux.HandleFunc("POST "+p+"/token", s.handleToken)
	mux.HandleFunc("POST "+p+"/register", s.handleRegister)
	mux.HandleFunc("POST "+p+"/revoke", s.handleRevoke)

	s.srv = httptest.NewUnstartedServer(mux)
	s.URL = "http://" + s.srv.Listener.Addr().String()
	s.Issuer = s.URL + p

	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		t.Fatalf("oauthtest: %v", err)
	}
	config := &fosite.Config{
		AccessTokenLifespan:            opts.AccessTokenTTL,
		RefreshTokenLifespan:           DefaultRefreshTokenTTL,
		AuthorizeCodeLifespan:          10 * time.Minute,
		GlobalSecret:                   secret,
		AccessTokenIssuer:              s.Issuer,
		TokenURL:                       s.TokenURL(),
		ScopeStrategy:                  fosite.ExactScopeStrategy,
		AudienceMatchingStrategy:       s.audienceStrategy,
		RefreshTokenScopes:             []string{}, // every code exchange gets a refresh token
		EnforcePKCE:                    true,
		EnforcePKCEForPublicClients:    true,
		EnablePKCEPlainChallengeMethod: false,
		ClientSecretsHasher:            plainHasher{},
		SendDebugMessagesToClients:     true,
	}
	s.store = &memoryStore{MemoryStore: storage.NewMemoryStore()}
	s.strategy = compose.NewOAuth2HMACStrategy(config)
	s.provider = compose.Compose(config, s.store, s.strategy,
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2TokenRevocationFactory,
		compose.OAuth2PKCEFactory,
	)
	s.srv.Start()
	t.Cleanup(s.srv.Close)
	return s
}

// Endpoint URLs.
func (s *DCRServer) AuthorizeURL() string { return s.Issuer + "/authorize" }
func (s *DCRServer) TokenURL() string     { return s.Issuer + "/token" }
func (s *DCRServer) RegisterURL() string  { return s.Issuer + "/register" }
func (s *DCRServer) RevokeURL() string    { return s.Issuer + "/revoke" }

// MetadataURL is where the metadata is: RFC 8414's path-inserted URL, or
// the OIDC one with OIDCOnly.
func (s *DCRServer) MetadataURL() string {
	if s.opts.OIDCOnly {
		return s.Issuer + "/.well-known/openid-configuration"
	}
	return s.URL + "/.well-known/oauth-authorization-server" + s.opts.IssuerPath
}

// AddResource makes uri a resource this server issues tokens for.
func (s *DCRServer) AddResource(uri string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resources[uri] = true
}

// audienceStrategy lets fosite carry a granted resource into refreshed
// tokens: any resource this server knows is acceptable.
func (s *DCRServer) audienceStrategy(_ []string, needle []string) error {
	for _, n := range needle {
		if !s.resources[n] { // called with s.mu held
			return fosite.ErrInvalidRequest.WithHintf("unknown resource %q", n)
		}
	}
	return nil
}

// Counters.
func (s *DCRServer) Registrations() int64     { return s.registrations.Load() }
func (s *DCRServer) TokenRequests() int64     { return s.tokenRequests.Load() }
func (s *DCRServer) RefreshRequests() int64   { return s.refreshRequests.Load() }
func (s *DCRServer) AuthorizeRequests() int64 { return s.authorizeRequests.Load() }

// SeenResources returns the resource parameter of every authorization
// and token request received ("" where there was none).
func (s *DCRServer) SeenResources() (authorize, token []string) {
	s.seenMu.Lock()
	defer s.seenMu.Unlock()
	return slices.Clone(s.authorizeResource), slices.Clone(s.tokenResource)
}

// Client returns a registered client.
func (s *DCRServer) Client(id string) (RegisteredClient, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	return c, ok
}

// ClientSecret is the secret the server issued to a registered client
// ("" for a public client), so a test can check the client keeps it to
// itself.
func (s *DCRServer) ClientSecret(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.store.Clients[id]
	if !ok {
		return ""
	}
	return string(c.GetHashedSecret()) // plainHasher: the secret itself
}

// ForgetClient deletes a registered client, as a server that expires
// or loses registrations does: requests with it are then invalid_client.
func (s *DCRServer) ForgetClient(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.store.Clients, id)
	delete(s.clients, id)
}

// ValidFor reports whether accessToken is live and was issued for
// resource.
func (s *DCRServer) ValidFor(accessToken, resource string) bool {
	if accessToken == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	use, ar, err := s.provider.IntrospectToken(context.Background(), accessToken, fosite.AccessToken, s.newSession(""))
	return err == nil && use == fosite.AccessToken && slices.Contains(ar.GetGrantedAudience(), resource)
}

// Approve drives the browser: the user approves at authorizeURL; the
// redirect to the client (with code, state and iss) is returned. An
// OAuth error redirect comes back with an *AuthorizeError.
func (s *DCRServer) Approve(ctx context.Context, authorizeURL string) (*url.URL, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authorizeURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set(DecisionHeader, "approve")
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 300 || resp.StatusCode > 399 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("oauthtest: authorize endpoint answered %s without redirecting: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	loc, err := resp.Location()
	if err != nil {
		return nil, err
	}
	if code := loc.Query().Get("error"); code != "" {
		return loc, &AuthorizeError{Code: code, Description: loc.Query().Get("error_description"), Redirect: loc}
	}
	return loc, nil
}

func (s *DCRServer) newSession(subject string) *oauth2.JWTSession {
	return &oauth2.JWTSession{JWTClaims: &jwt.JWTClaims{Subject: subject, Issuer: s.Issuer, Extra: map[string]interface{}{}},
		JWTHeader: &jwt.Headers{}, Subject: subject, Username: subject}
}

func (s *DCRServer) handleMetadata(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                         s.Issuer,
		"authorization_endpoint":                         s.AuthorizeURL(),
		"token_endpoint":                                 s.TokenURL(),
		"registration_endpoint":                          s.RegisterURL(),
		"revocation_endpoint":                            s.RevokeURL(),
		"scopes_supported":                               s.opts.ScopesSupported,
		"response_types_supported":                       []string{"code"},
		"grant_types_supported":                          []string{"authorization_code", "refresh_token"},
		"token_endpoint_auth_methods_supported":          s.opts.AuthMethods,
		"code_challenge_methods_supported":               []string{"S256"},
		"authorization_response_iss_parameter_supported": true,
	})
}

// invalidTarget is RFC 8707 §2's error.
func invalidTarget(why string) *fosite.RFC6749Error {
	return &fosite.RFC6749Error{ErrorField: "invalid_target", DescriptionField: why, CodeField: http.StatusBadRequest}
}

// resourceParam checks a request's RFC 8707 resource parameters.
func (s *DCRServer) resourceParam(form url.Values) (string, *fosite.RFC6749Error) {
	vals := form["resource"]
	switch {
	case len(vals) == 0:
		if s.opts.ResourceOptional {
			return "", nil
		}
		return "", invalidTarget("the resource parameter (RFC 8707) is required")
	case len(vals) > 1:
		return "", invalidTarget("one resource per request")
	}
	if u, err := url.Parse(vals[0]); err != nil || !u.IsAbs() || u.Fragment != "" {
		return "", invalidTarget("the resource must be an absolute URI without fragment")
	}
	if !s.resources[vals[0]] {
		return "", invalidTarget("unknown resource")
	}
	return vals[0], nil
}

func (s *DCRServer) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	s.authorizeRequests.Add(1)
	ctx := r.Context()
	_ = r.ParseForm()
	s.seenMu.Lock()
	s.authorizeResource = append(s.authorizeResource, r.Form.Get("resource"))
	s.seenMu.Unlock()
	rw := &issWriter{ResponseWriter: w, iss: s.Issuer}

	s.mu.Lock()
	defer s.mu.Unlock()
	ar, err := s.provider.NewAuthorizeRequest(ctx, r)
	if err != nil {
		s.provider.WriteAuthorizeError(ctx, rw, ar, err)
		return
	}
	resource, rerr := s.resourceParam(r.Form)
	if rerr != nil {
		s.provider.WriteAuthorizeError(ctx, rw, ar, rerr)
		return
	}
	if r.Header.Get(DecisionHeader) != "approve" {
		s.provider.WriteAuthorizeError(ctx, rw, ar, fosite.ErrAccessDenied.WithHint("The resource owner did not approve."))
		return
	}
	for _, scope := range ar.GetRequestedScopes() {
		ar.GrantScope(scope)
	}
	if resource != "" {
		ar.GrantAudience(resource)
	}
	resp, err := s.provider.NewAuthorizeResponse(ctx, ar, s.newSession(s.opts.Subject))
	if err != nil {
		s.provider.WriteAuthorizeError(ctx, rw, ar, err)
		return
	}
	s.provider.WriteAuthorizeResponse(ctx, rw, ar, resp)
}

func (s *DCRServer) handleToken(w http.ResponseWriter, r *http.Request) {
	s.tokenRequests.Add(1)
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	_ = r.ParseForm()
	if r.PostForm.Get("grant_type") == "refresh_token" {
		s.refreshRequests.Add(1)
	}
	s.seenMu.Lock()
	s.tokenResource = append(s.tokenResource, r.PostForm.Get("resource"))
	s.seenMu.Unlock()
	ctx := r.Context()

	s.mu.Lock()
	defer s.mu.Unlock()
	resource, rerr := s.resourceParam(r.PostForm)
	if rerr != nil {
		s.provider.WriteAccessError(ctx, w, nil, rerr)
		return
	}
	// The grant was for one resource; a token request may only narrow
	// to it (RFC 8707 §2.2), never move to another. fosite copies a
	// code's audience only when it issues the tokens, so the code's
	// session is read here first.
	if grant := r.PostForm.Get("grant_type"); resource != "" && grant == "authorization_code" {
		sig := s.strategy.AuthorizeCodeSignature(ctx, r.PostForm.Get("code"))
		if req, err := s.store.GetAuthorizeCodeSession(ctx, sig, s.newSession("")); err == nil && !slices.Contains(req.GetGrantedAudience(), resource) {
			s.provider.WriteAccessError(ctx, w, nil, invalidTarget("the grant is not for this resource"))
			return
		}
	}
	ar, err := s.provider.NewAccessRequest(ctx, r, s.newSession(""))
	if err != nil {
		s.provider.WriteAccessError(ctx, w, ar, err)
		return
	}
	if resource != "" && ar.GetGrantTypes().ExactOne("refresh_token") && !slices.Contains(ar.GetGrantedAudience(), resource) {
		s.provider.WriteAccessError(ctx, w, ar, invalidTarget("the grant is not for this resource"))
		return
	}
	resp, err := s.provider.NewAccessResponse(ctx, ar)
	if err != nil {
		s.provider.WriteAccessError(ctx, w, ar, err)
		return
	}
	body := resp.ToMap()
	if exp := ar.GetSession().GetExpiresAt(fosite.AccessToken); !exp.IsZero() {
		body["expires_in"] = max(int64(time.Until(exp)/time.Second), 1)
	}
	writeJSON(w, http.StatusOK, body)
}

func (s *DCRServer) handleRevoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.provider.NewRevocationRequest(ctx, r)
	s.provider.WriteRevocationResponse(ctx, w, err)
}

// registrationRequest is the part of RFC 7591 §2 this server reads; other
// members are ignored, as §2 allows.
type registrationRequest struct {
	RedirectURIs            []string `json:"redirect_uris"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	ClientName              string   `json:"client_name"`
	Scope                   string   `json:"scope"`
}

func registrationError(w http.ResponseWriter, code, description string) {
	writeJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": description})
}

func (s *DCRServer) handleRegister(w http.ResponseWriter, r *http.Request) {
	s.registrations.Add(1)
	if s.opts.RefuseRegistrations != "" {
		registrationError(w, s.opts.RefuseRegistrations, "oauthtest: registrations are refused")
		return
	}
	if mt := r.Header.Get("Content-Type"); !strings.HasPrefix(mt, "application/json") {
		registrationError(w, "invalid_client_metadata", "send application/json")
		return
	}
	var req registrationRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		registrationError(w, "invalid_client_metadata", "the body is not a JSON object")
		return
	}
	if len(req.RedirectURIs) == 0 {
		registrationError(w, "invalid_redirect_uri", "redirect_uris is required")
		return
	}
	for _, ru := range req.RedirectURIs {
		if err := checkRedirectURI(ru); err != nil {
			registrationError(w, "invalid_redirect_uri", err.Error())
			return
		}
	}
	if len(req.GrantTypes) == 0 {
		req.GrantTypes = []string{"authorization_code"}
	}
	for _, g := range req.GrantTypes {
		if g != "authorization_code" && g != "refresh_token" {
			registrationError(w, "invalid_client_metadata", "unsupported grant type "+g)
			return
		}
	}
	if len(req.ResponseTypes) == 0 {
		req.ResponseTypes = []string{"code"}
	}
	if !slices.Equal(req.ResponseTypes, []string{"code"}) {
		registrationError(w, "invalid_client_metadata", "only response type code")
		return
	}
	if req.TokenEndpointAuthMethod == "" {
		req.TokenEndpointAuthMethod = "client_secret_basic"
	}
	if !slices.Contains(s.opts.AuthMethods, req.TokenEndpointAuthMethod) {
		registrationError(w, "invalid_client_metadata", "unsupported token_endpoint_auth_method")
		return
	}
	for _, sc := range strings.Fields(req.Scope) {
		if !slices.Contains(s.opts.ScopesSupported, sc) {
			registrationError(w, "invalid_client_metadata", "unsupported scope "+sc)
			return
		}
	}
	id := "dcr-" + randomHex(8)
	var secret string
	dc := &fosite.DefaultClient{ID: id, RedirectURIs: req.RedirectURIs, GrantTypes: req.GrantTypes, ResponseTypes: req.ResponseTypes,
		Scopes: s.opts.ScopesSupported, Public: req.TokenEndpointAuthMethod == "none"}
	if !dc.Public {
		secret = randomHex(24)
		dc.Secret = []byte(secret)
	}
	client := &fosite.DefaultOpenIDConnectClient{DefaultClient: dc, TokenEndpointAuthMethod: req.TokenEndpointAuthMethod}
	s.mu.Lock()
	s.store.Clients[id] = client
	s.clients[id] = RegisteredClient{ID: id, AuthMethod: req.TokenEndpointAuthMethod, Name: req.ClientName,
		RedirectURIs: slices.Clone(req.RedirectURIs), GrantTypes: slices.Clone(req.GrantTypes)}
	s.mu.Unlock()

	ans := map[string]any{
		"client_id": id, "client_id_issued_at": time.Now().Unix(),
		"redirect_uris": req.RedirectURIs, "grant_types": req.GrantTypes, "response_types": req.ResponseTypes,
		"token_endpoint_auth_method": req.TokenEndpointAuthMethod, "client_name": req.ClientName,
	}
	if secret != "" {
		ans["client_secret"], ans["client_secret_expires_at"] = secret, 0
	}
	writeJSON(w, http.StatusCreated, ans)
}

// checkRedirectURI accepts https URIs, and http on loopback (RFC 8252),
// absolute and without fragment.
func checkRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "":
		return errors.New("a redirect URI must be absolute")
	case u.Fragment != "":
		return errors.New("a redirect URI must not have a fragment")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http":
		if ip := net.ParseIP(u.Hostname()); (ip != nil && ip.IsLoopback()) || u.Hostname() == "localhost" {
			return nil
		}
	}
	return errors.New("a redirect URI must be https (http only on loopback)")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
