package oauthtest_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	josejwt "github.com/go-jose/go-jose/v3/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/stormcreds/storm/internal/oauth/oauthtest"
)

const redirectURI = "http://127.0.0.1:9/callback"

func newServer(t *testing.T, opts oauthtest.Options) (*oauthtest.Server, *oauth2.Config) {
	t.Helper()
	s := oauthtest.New(t, opts)
	s.AddRedirectURI(oauthtest.DefaultClientID, redirectURI)
	cfg := &oauth2.Config{
		ClientID:     oauthtest.DefaultClientID,
		ClientSecret: oauthtest.DefaultClientSecret,
		Endpoint: oauth2.Endpoint{
			AuthURL:  s.AuthorizeURL(),
			TokenURL: s.TokenURL(),
			// Auto-detection retries every failed request with the other
			// style, which would double the token requests we count.
			AuthStyle: oauth2.AuthStyleInHeader,
		},
		RedirectURL: redirectURI,
		Scopes:      []string{"read", "write"},
	}
	return s, cfg
}

// login runs the whole code flow with PKCE and returns the token.
func login(t *testing.T, s *oauthtest.Server, cfg *oauth2.Config) *oauth2.Token {
	t.Helper()
	ctx := context.Background()
	verifier := oauth2.GenerateVerifier()
	loc, err := s.Approve(ctx, cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatalf("Approve: %v", err)
	}
	tok, err := cfg.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	return tok
}

func refresh(cfg *oauth2.Config, rt string) (*oauth2.Token, error) {
	return cfg.TokenSource(context.Background(), &oauth2.Token{RefreshToken: rt}).Token()
}

func wantOAuthError(t *testing.T, err error, status int, code string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("error = %v, want *oauth2.RetrieveError %d %s", err, status, code)
	}
	if re.Response.StatusCode != status || re.ErrorCode != code {
		t.Fatalf("error = HTTP %d %q (%s), want HTTP %d %q", re.Response.StatusCode, re.ErrorCode, re.ErrorDescription, status, code)
	}
}

// userinfo GETs /userinfo (or path) with the bearer token.
func userinfo(t *testing.T, s *oauthtest.Server, path, token string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// postForm POSTs form to url with the default client's basic auth and decodes the JSON answer.
func postForm(t *testing.T, u string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(oauthtest.DefaultClientID, oauthtest.DefaultClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatalf("POST %s: HTTP %d, body %q: %v", u, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode, body
}

func TestCodeFlowPKCE(t *testing.T) {
	s, cfg := newServer(t, oauthtest.Options{})
	ctx := context.Background()
	verifier := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier))

	loc, err := s.Approve(ctx, authURL)
	if err != nil {
		t.Fatalf("Approve: %v", err)
	}
	q := loc.Query()
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirectURI {
		t.Errorf("redirected to %s, want %s", got, redirectURI)
	}
	if q.Get("state") != "state-0123456789" || q.Get("code") == "" || q.Get("iss") != s.Issuer {
		t.Fatalf("redirect query = %v", q)
	}

	// The verifier is required at the token endpoint.
	_, err = cfg.Exchange(ctx, q.Get("code"))
	wantOAuthError(t, err, http.StatusBadRequest, "invalid_grant")

	// Start again with a fresh code.
	loc, err = s.Approve(ctx, authURL)
	if err != nil {
		t.Fatal(err)
	}
	code := loc.Query().Get("code")
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" || !strings.EqualFold(tok.TokenType, "bearer") {
		t.Fatalf("token = %+v", tok)
	}
	if d := time.Until(tok.Expiry); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("expiry in %v, want ~1h", d)
	}
	if got := tok.Extra("scope"); got != "read write" {
		t.Errorf("scope = %v", got)
	}
	if !s.Valid(tok.AccessToken) {
		t.Error("access token not valid")
	}
	if s.Valid(tok.RefreshToken) {
		t.Error("Valid accepts a refresh token")
	}
	if !s.ValidRefreshToken(tok.RefreshToken) {
		t.Error("refresh token not valid")
	}
	if status, body := userinfo(t, s, "/userinfo", tok.AccessToken); status != 200 || body["sub"] != "alice" {
		t.Errorf("userinfo = %d %v", status, body)
	}

	// Replaying the code fails.
	_, err = cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	wantOAuthError(t, err, http.StatusBadRequest, "invalid_grant")
	if s.TokenRequests() != 3 || s.RefreshRequests() != 0 || s.AuthorizeRequests() != 2 {
		t.Errorf("counters: token %d refresh %d authorize %d", s.TokenRequests(), s.RefreshRequests(), s.AuthorizeRequests())
	}
}

func TestPKCERequired(t *testing.T) {
	s, cfg := newServer(t, oauthtest.Options{})
	ctx := context.Background()

	loc, err := s.Approve(ctx, cfg.AuthCodeURL("state-0123456789"))
	var ae *oauthtest.AuthorizeError
	if !errors.As(err, &ae) || ae.Code != "invalid_request" {
		t.Fatalf("Approve without PKCE: %v", err)
	}
	if loc == nil || loc.Query().Get("code") != "" || loc.Query().Get("iss") != s.Issuer || loc.Query().Get("state") != "state-0123456789" {
		t.Fatalf("error redirect = %v", loc)
	}

	// plain is never accepted.
	_, err = s.Approve(ctx, cfg.AuthCodeURL("state-0123456789",
		oauth2.SetAuthURLParam("code_challenge", "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghij"),
		oauth2.SetAuthURLParam("code_challenge_method", "plain")))
	if !errors.As(err, &ae) || ae.Code != "invalid_request" {
		t.Fatalf("Approve with plain PKCE: %v", err)
	}

	// PKCEOptional accepts flows without PKCE.
	s2, cfg2 := newServer(t, oauthtest.Options{PKCEOptional: true})
	loc, err = s2.Approve(ctx, cfg2.AuthCodeURL("state-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg2.Exchange(ctx, loc.Query().Get("code")); err != nil {
		t.Fatal(err)
	}
}

func TestDeny(t *testing.T) {
	s, cfg := newServer(t, oauthtest.Options{})
	loc, err := s.Deny(context.Background(), cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	if q.Get("error") != "access_denied" || q.Get("state") != "state-0123456789" || q.Get("iss") != s.Issuer || q.Get("code") != "" {
		t.Fatalf("deny redirect = %v", q)
	}
}

func TestApproveErrors(t *testing.T) {
	s, cfg := newServer(t, oauthtest.Options{})
	ctx := context.Background()
	bad := *cfg
	bad.RedirectURL = "http://127.0.0.1:9/elsewhere"
	if _, err := s.Approve(ctx, bad.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))); err == nil {
		t.Fatal("unregistered redirect_uri accepted")
	}
	bad = *cfg
	bad.ClientID = "nobody"
	if _, err := s.Approve(ctx, bad.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))); err == nil {
		t.Fatal("unknown client accepted")
	}
	// Loopback redirect URIs match on any port (RFC 8252).
	other := *cfg
	other.RedirectURL = "http://127.0.0.1:45678/callback"
	if _, err := s.Approve(ctx, other.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))); err != nil {
		t.Fatalf("loopback port: %v", err)
	}
}

func TestRefreshRotationAndReuse(t *testing.T) {
	s, cfg := newServer(t, oauthtest.Options{})
	tok1 := login(t, s, cfg)

	tok2, err := refresh(cfg, tok1.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if tok2.RefreshToken == "" || tok2.RefreshToken == tok1.RefreshToken || tok2.AccessToken == tok1.AccessToken {
		t.Fatalf("refresh did not rotate: %+v", tok2)
	}
	if s.ValidRefreshToken(tok1.RefreshToken) || !s.ValidRefreshToken(tok2.RefreshToken) {
		t.Fatal("after rotation the old RT must be invalid and the new one valid")
	}
	if s.Valid(tok1.AccessToken) || !s.Valid(tok2.AccessToken) {
		t.Fatal("fosite revokes the previous access token on rotation")
	}

	// Reusing the old refresh token fails and revokes the grant.
	_, err = refresh(cfg, tok1.RefreshToken)
	wantOAuthError(t, err, http.StatusBadRequest, "invalid_grant")
	if s.ValidRefreshToken(tok2.RefreshToken) || s.Valid(tok2.AccessToken) {
		t.Fatal("reuse must revoke the newest tokens of the grant")
	}
	_, err = refresh(cfg, tok2.RefreshToken)
	wantOAuthError(t, err, http.StatusBadRequest, "invalid_grant")
	_, err = refresh(cfg, tok1.RefreshToken) // the reused token is gone entirely
	wantOAuthError(t, err, http.StatusBadRequest, "invalid_grant")
	if s.RefreshRequests() != 4 || s.TokenRequests() != 5 {
		t.Errorf("counters: token %d refresh %d", s.TokenRequests(), s.RefreshRequests())
	}

	// Other grants are unaffected.
	tok3 := login(t, s, cfg)
	if _, err := refresh(cfg, tok3.RefreshToken); err != nil {
		t.Fatalf("independent grant: %v", err)
	}
}

func TestRotationDisabled(t *testing.T) {
	s, cfg := newServer(t, oauthtest.Options{DisableRefreshTokenRotation: true})
	tok := login(t, s, cfg)
	for i := 0; i < 3; i++ {
		next, err := refresh(cfg, tok.RefreshToken)
		if err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
		if next.RefreshToken != tok.RefreshToken || next.AccessToken == tok.AccessToken {
			t.Fatalf("refresh %d: %+v", i, next)
		}
		if !s.Valid(next.AccessToken) {
			t.Fatal("new access token invalid")
		}
	}
	if !s.ValidRefreshToken(tok.RefreshToken) {
		t.Fatal("refresh token invalidated")
	}
}

func TestFailNext(t *testing.T) {
	s, cfg := newServer(t, oauthtest.Options{})
	tok := login(t, s, cfg)
	before := s.TokenRequests()

	s.FailNext(2, http.StatusServiceUnavailable)
	for i := 0; i < 2; i++ {
		_, err := refresh(cfg, tok.RefreshToken)
		wantOAuthError(t, err, http.StatusServiceUnavailable, "temporarily_unavailable")
	}
	// Injected failures do not consume the refresh token.
	tok2, err := refresh(cfg, tok.RefreshToken)
	if err != nil {
		t.Fatalf("third refresh: %v", err)
	}
	if got := s.TokenRequests() - before; got != 3 {
		t.Errorf("token requests = %d, want 3", got)
	}
	if s.RefreshRequests() != 3 {
		t.Errorf("refresh requests = %d, want 3", s.RefreshRequests())
	}

	s.FailNext(1, http.StatusTooManyRequests)
	_, err = refresh(cfg, tok2.RefreshToken)
	wantOAuthError(t, err, http.StatusTooManyRequests, "temporarily_unavailable")
	s.FailNext(1, http.StatusInternalServerError)
	_, err = refresh(cfg, tok2.RefreshToken)
	wantOAuthError(t, err, http.StatusInternalServerError, "server_error")
	if _, err := refresh(cfg, tok2.RefreshToken); err != nil {
		t.Fatal(err)
	}
}

func TestRevokeAll(t *testing.T) {
	s, cfg := newServer(t, oauthtest.Options{})
	tok := login(t, s, cfg)
	s.RevokeAll()
	_, err := refresh(cfg, tok.RefreshToken)
	wantOAuthError(t, err, http.StatusBadRequest, "invalid_grant")
	if s.Valid(tok.AccessToken) {
		t.Error("access token still valid")
	}
	if status, _ := userinfo(t, s, "/userinfo", tok.AccessToken); status != http.StatusUnauthorized {
		t.Errorf("userinfo = %d", status)
	}
	// New logins work again.
	tok = login(t, s, cfg)
	if _, err := refresh(cfg, tok.RefreshToken); err != nil {
		t.Fatal(err)
	}
}

func TestOmitRefreshToken(t *testing.T) {
	s, cfg := newServer(t, oauthtest.Options{})
	tok := login(t, s, cfg)
	s.OmitRefreshToken(true)
	for i := 0; i < 2; i++ {
		status, body := postForm(t, s.TokenURL(), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
		if status != 200 || body["access_token"] == nil || body["expires_in"] == nil {
			t.Fatalf("refresh %d: %d %v", i, status, body)
		}
		if _, ok := body["refresh_token"]; ok {
			t.Fatalf("refresh %d carries refresh_token: %v", i, body)
		}
	}
	// x/oauth2 keeps the old refresh token; it keeps working.
	next, err := refresh(cfg, tok.RefreshToken)
	if err != nil || next.RefreshToken != tok.RefreshToken {
		t.Fatalf("refresh = %+v, %v", next, err)
	}
	// Switching omission off: rotation is back.
	s.OmitRefreshToken(false)
	rotated, err := refresh(cfg, tok.RefreshToken)
	if err != nil || rotated.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh = %+v, %v", rotated, err)
	}
	if s.ValidRefreshToken(tok.RefreshToken) {
		t.Fatal("old RT valid after rotation")
	}
}

func TestOmitExpiresIn(t *testing.T) {
	s, cfg := newServer(t, oauthtest.Options{})
	s.OmitExpiresIn(true)
	tok := login(t, s, cfg)
	if !tok.Expiry.IsZero() {
		t.Fatalf("expiry = %v, want none", tok.Expiry)
	}
	status, body := postForm(t, s.TokenURL(), url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
	if status != 200 || body["expires_in"] != nil || body["refresh_token"] == nil {
		t.Fatalf("refresh: %d %v", status, body)
	}
}

func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func TestJWTAccessTokens(t *testing.T) {
	s, cfg := newServer(t, oauthtest.Options{AccessTokenTTL: 5 * time.Minute})
	s.JWTAccessTokens(true)
	s.OmitExpiresIn(true)
	tok := login(t, s, cfg)

	claims := jwtClaims(t, tok.AccessToken)
	exp, _ := claims["exp"].(float64)
	if d := time.Until(time.Unix(int64(exp), 0)); d < 4*time.Minute || d > 6*time.Minute {
		t.Errorf("exp in %v, want ~5m (claims %v)", d, claims)
	}
	if claims["iss"] != s.Issuer || claims["sub"] != "alice" || claims["client_id"] != oauthtest.DefaultClientID || claims["scope"] != "read write" || claims["jti"] == nil || claims["iat"] == nil {
		t.Errorf("claims = %v", claims)
	}

	// Verify with the published JWKS.
	resp, err := http.Get(s.JWKSURL())
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	err = json.NewDecoder(resp.Body).Decode(&set)
	resp.Body.Close()
	if err != nil || len(set.Keys) != 1 {
		t.Fatalf("jwks: %v %v", set, err)
	}
	sig, err := jose.ParseSigned(tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if sig.Signatures[0].Header.KeyID != set.Keys[0].KeyID || sig.Signatures[0].Header.ExtraHeaders["typ"] != "at+jwt" {
		t.Errorf("header = %+v", sig.Signatures[0].Header)
	}
	if _, err := sig.Verify(set.Keys[0]); err != nil {
		t.Fatalf("verify: %v", err)
	}

	if !s.Valid(tok.AccessToken) {
		t.Fatal("JWT access token invalid")
	}
	if status, body := userinfo(t, s, "/me", tok.AccessToken); status != 200 || body["sub"] != "alice" {
		t.Fatalf("userinfo = %d %v", status, body)
	}

	// Refreshed JWTs get fresh iat/exp; switching off goes back to opaque tokens.
	tok2, err := refresh(cfg, tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if c2 := jwtClaims(t, tok2.AccessToken); c2["jti"] == claims["jti"] || c2["sub"] != "alice" {
		t.Errorf("refreshed claims = %v", c2)
	}
	if s.Valid(tok.AccessToken) || !s.Valid(tok2.AccessToken) {
		t.Error("rotation must revoke the previous JWT access token (introspection is stateful)")
	}
	s.JWTAccessTokens(false)
	tok3, err := refresh(cfg, tok2.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(tok3.AccessToken, ".") == 2 || !s.Valid(tok3.AccessToken) {
		t.Errorf("opaque token = %q", tok3.AccessToken)
	}
}

func TestShortTTL(t *testing.T) {
	s, cfg := newServer(t, oauthtest.Options{AccessTokenTTL: time.Second})
	tok := login(t, s, cfg)
	if tok.Expiry.IsZero() {
		t.Fatal("expires_in missing or 0")
	}
	if !s.Valid(tok.AccessToken) {
		t.Fatal("fresh token invalid") // exp is rounded to the second: at least ~0.5s left
	}
	time.Sleep(2100 * time.Millisecond)
	if s.Valid(tok.AccessToken) {
		t.Fatal("expired token still valid")
	}
	if status, _ := userinfo(t, s, "/userinfo", tok.AccessToken); status != http.StatusUnauthorized {
		t.Fatalf("userinfo = %d", status)
	}
	if _, err := refresh(cfg, tok.RefreshToken); err != nil {
		t.Fatal(err)
	}
}

func TestUserinfo(t *testing.T) {
	s, cfg := newServer(t, oauthtest.Options{})
	tok := login(t, s, cfg)
	for _, path := range []string{"/userinfo", "/me"} {
		if status, body := userinfo(t, s, path, tok.AccessToken); status != 200 || body["sub"] != "alice" {
			t.Errorf("%s = %d %v", path, status, body)
		}
	}
	if status, body := userinfo(t, s, "/userinfo", ""); status != 401 || body["error"] != "invalid_request" {
		t.Errorf("no token = %d %v", status, body)
	}
	if status, body := userinfo(t, s, "/userinfo", "garbage"); status != 401 || body["error"] != "invalid_token" {
		t.Errorf("bad token = %d %v", status, body)
	}
	if status, _ := userinfo(t, s, "/userinfo", tok.RefreshToken); status != 401 {
		t.Errorf("refresh token as bearer = %d", status)
	}
	if s.UserinfoRequests() != 5 {
		t.Errorf("userinfo requests = %d", s.UserinfoRequests())
	}
}

func TestRevocationEndpoint(t *testing.T) {
	s, cfg := newServer(t, oauthtest.Options{})
	tok := login(t, s, cfg)
	if status, body := postForm(t, s.RevokeURL(), url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}}); status != 200 {
		t.Fatalf("revoke = %d %v", status, body)
	}
	if s.Valid(tok.AccessToken) {
		t.Fatal("revoked access token valid")
	}
	// fosite revokes the whole grant, refresh token included.
	_, err := refresh(cfg, tok.RefreshToken)
	wantOAuthError(t, err, http.StatusBadRequest, "invalid_grant")

	tok = login(t, s, cfg)
	if status, _ := postForm(t, s.RevokeURL(), url.Values{"token": {tok.RefreshToken}}); status != 200 {
		t.Fatalf("revoke RT = %d", status)
	}
	_, err = refresh(cfg, tok.RefreshToken)
	wantOAuthError(t, err, http.StatusBadRequest, "invalid_grant")
	// Unknown tokens are fine (RFC 7009).
	if status, _ := postForm(t, s.RevokeURL(), url.Values{"token": {"unknown"}}); status != 200 {
		t.Fatalf("revoke unknown = %d", status)
	}
	if s.RevokeRequests() != 3 {
		t.Errorf("revoke requests = %d", s.RevokeRequests())
	}
}

func TestIntrospectionEndpoint(t *testing.T) {
	s, cfg := newServer(t, oauthtest.Options{})
	tok := login(t, s, cfg)
	status, body := postForm(t, s.IntrospectURL(), url.Values{"token": {tok.AccessToken}})
	if status != 200 || body["active"] != true || body["sub"] != "alice" {
		t.Fatalf("introspect = %d %v", status, body)
	}
	status, body = postForm(t, s.IntrospectURL(), url.Values{"token": {"nope"}})
	if status != 200 || body["active"] != false {
		t.Fatalf("introspect = %d %v", status, body)
	}
}

func getMetadata(t *testing.T, u string) map[string]any {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != 200 {
		t.Fatalf("metadata %s: %d %v", u, resp.StatusCode, err)
	}
	return m
}

func TestMetadata(t *testing.T) {
	s := oauthtest.New(t, oauthtest.Options{})
	if s.Issuer != s.URL {
		t.Fatalf("issuer %q != URL %q", s.Issuer, s.URL)
	}
	for _, path := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		m := getMetadata(t, s.URL+path)
		if m["issuer"] != s.Issuer || m["authorization_endpoint"] != s.AuthorizeURL() || m["token_endpoint"] != s.TokenURL() ||
			m["revocation_endpoint"] != s.RevokeURL() || m["userinfo_endpoint"] != s.UserinfoURL() ||
			m["authorization_response_iss_parameter_supported"] != true {
			t.Errorf("%s = %v", path, m)
		}
		if ccm, _ := m["code_challenge_methods_supported"].([]any); len(ccm) != 1 || ccm[0] != "S256" {
			t.Errorf("code_challenge_methods_supported = %v", m["code_challenge_methods_supported"])
		}
	}

	wrong := oauthtest.New(t, oauthtest.Options{WrongIssuerInMetadata: true})
	if m := getMetadata(t, wrong.MetadataURL()); m["issuer"] != oauthtest.WrongIssuer {
		t.Errorf("wrong issuer metadata = %v", m["issuer"])
	}
}

func TestIssParamOverrides(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		opts oauthtest.Options
		want string
		has  bool
	}{
		{oauthtest.Options{IssParam: "https://attacker.example"}, "https://attacker.example", true},
		{oauthtest.Options{OmitIssParam: true}, "", false},
	} {
		s, cfg := newServer(t, tc.opts)
		loc, err := s.Approve(ctx, cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		if err != nil {
			t.Fatal(err)
		}
		if loc.Query().Has("iss") != tc.has || loc.Query().Get("iss") != tc.want || loc.Query().Get("code") == "" {
			t.Errorf("%+v: redirect %v", tc.opts, loc)
		}
	}
}

func TestConsentPageAndAutoApprove(t *testing.T) {
	ctx := context.Background()
	_, cfg := newServer(t, oauthtest.Options{})
	authURL := cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	resp, err := http.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "Approve") {
		t.Fatalf("consent page = %d %s", resp.StatusCode, page)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = noFollow.PostForm(authURL, url.Values{"oauthtest_decision": {"approve"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := resp.Location()
	if resp.StatusCode != http.StatusSeeOther || loc == nil || loc.Query().Get("code") == "" {
		t.Fatalf("consent POST = %d %v", resp.StatusCode, loc)
	}

	// AutoApprove: a "browser" that follows redirects lands on the client's callback.
	codes := make(chan url.Values, 1)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { codes <- r.URL.Query() }))
	defer cb.Close()
	s2 := oauthtest.New(t, oauthtest.Options{AutoApprove: true})
	s2.AddRedirectURI(oauthtest.DefaultClientID, cb.URL+"/cb")
	cfg2 := *cfg
	cfg2.Endpoint.AuthURL, cfg2.Endpoint.TokenURL, cfg2.RedirectURL = s2.AuthorizeURL(), s2.TokenURL(), cb.URL+"/cb"
	verifier := oauth2.GenerateVerifier()
	resp, err = http.Get(cfg2.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	q := <-codes
	if _, err := cfg2.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier)); err != nil || q.Get("iss") != s2.Issuer {
		t.Fatalf("auto-approved flow: %v %v", q, err)
	}
}

func TestPublicClient(t *testing.T) {
	s := oauthtest.New(t, oauthtest.Options{Clients: []oauthtest.Client{{ID: "cli", Public: true, RedirectURIs: []string{redirectURI}}}})
	cfg := &oauth2.Config{
		ClientID:    "cli",
		Endpoint:    oauth2.Endpoint{AuthURL: s.AuthorizeURL(), TokenURL: s.TokenURL(), AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: redirectURI,
	}
	tok := login(t, s, cfg)
	if _, err := refresh(cfg, tok.RefreshToken); err != nil {
		t.Fatal(err)
	}
}

func TestClientCredentials(t *testing.T) {
	s := oauthtest.New(t, oauthtest.Options{})
	cc := clientcredentials.Config{
		ClientID: oauthtest.DefaultClientID, ClientSecret: oauthtest.DefaultClientSecret,
		TokenURL: s.TokenURL(), Scopes: []string{"svc"}, AuthStyle: oauth2.AuthStyleInHeader,
	}
	tok, err := cc.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken != "" || tok.Extra("scope") != "svc" {
		t.Errorf("token = %+v scope %v", tok, tok.Extra("scope"))
	}
	if status, body := userinfo(t, s, "/userinfo", tok.AccessToken); status != 200 || body["sub"] != oauthtest.DefaultClientID {
		t.Errorf("userinfo = %d %v", status, body)
	}
	cc.ClientSecret = "wrong"
	_, err = cc.Token(context.Background())
	wantOAuthError(t, err, http.StatusUnauthorized, "invalid_client")
}

func TestJWTBearer(t *testing.T) {
	s := oauthtest.New(t, oauthtest.Options{})
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s.AddJWTBearerKey("https://idp.example", "svc-account", "k1", &key.PublicKey)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithHeader("kid", "k1").WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	assertion := func(jti string) string {
		now := time.Now()
		a, err := josejwt.Signed(signer).Claims(josejwt.Claims{
			Issuer: "https://idp.example", Subject: "svc-account", Audience: josejwt.Audience{s.TokenURL()},
			IssuedAt: josejwt.NewNumericDate(now), Expiry: josejwt.NewNumericDate(now.Add(5 * time.Minute)), ID: jti,
		}).CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	form := url.Values{"grant_type": {oauthtest.GrantTypeJWTBearer}, "assertion": {assertion("jti-1")}, "scope": {"x"}}
	status, body := postForm(t, s.TokenURL(), form)
	if status != 200 || body["access_token"] == nil {
		t.Fatalf("jwt bearer = %d %v", status, body)
	}
	if st, ui := userinfo(t, s, "/userinfo", body["access_token"].(string)); st != 200 || ui["sub"] != "svc-account" {
		t.Errorf("userinfo = %d %v", st, ui)
	}
	// jti replay is rejected.
	if status, body := postForm(t, s.TokenURL(), form); status == 200 {
		t.Fatalf("replayed assertion accepted: %v", body)
	}
}

// Two concurrent refreshes with the same rotating refresh token: the
// first wins, the second is reuse and revokes the grant — including the
// winner's new refresh token.
func TestConcurrentRefreshIsReuse(t *testing.T) {
	s, cfg := newServer(t, oauthtest.Options{})
	tok := login(t, s, cfg)
	s.SetDelay(300 * time.Millisecond)

	var wg sync.WaitGroup
	results := make([]*oauth2.Token, 2)
	errs := make([]error, 2)
	start := time.Now()
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = refresh(cfg, tok.RefreshToken)
		}()
	}
	wg.Wait()
	if el := time.Since(start); el >= 600*time.Millisecond { // serialised delays would take 600ms
		t.Errorf("delays did not overlap: %v", el)
	}
	var winner *oauth2.Token
	failed := 0
	for i := range 2 {
		if errs[i] == nil {
			winner = results[i]
		} else {
			wantOAuthError(t, errs[i], http.StatusBadRequest, "invalid_grant")
			failed++
		}
	}
	if winner == nil || failed != 1 {
		t.Fatalf("results %v errs %v", results, errs)
	}
	s.SetDelay(0)
	_, err := refresh(cfg, winner.RefreshToken)
	wantOAuthError(t, err, http.StatusBadRequest, "invalid_grant")

	// A client that gives up early is not answered.
	s.SetDelay(time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: "x"}).Token(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

func TestShortStateRejected(t *testing.T) {
	s, cfg := newServer(t, oauthtest.Options{})
	_, err := s.Approve(context.Background(), cfg.AuthCodeURL("short", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	var ae *oauthtest.AuthorizeError
	if !errors.As(err, &ae) || ae.Code != "invalid_state" {
		t.Fatalf("err = %v", err)
	}
}
