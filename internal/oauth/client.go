package oauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/proxy"
	"github.com/stormcreds/storm/internal/secret"
)

// DefaultTTL is assumed for an access token whose response had no
// expires_in, no JWT exp and whose provider declares no default, when a
// refresh token exists: refreshing an hour-old token early is harmless,
// never refreshing a token that did expire is not.
const DefaultTTL = time.Hour

// App is one integration's OAuth client: the provider's (resolved)
// definition, the client registration and the redirect URI. It is
// immutable and safe for concurrent use.
type App struct {
	Def          catalog.OAuth2 // templates expanded
	ClientID     string
	ClientSecret secret.String
	RedirectURL  string
	Scopes       []string // nil: Def.Scopes
	// Endpoints are the authorize, token and revoke URLs, from Def or,
	// when Def names only an issuer, from discovery (see Discovery.App).
	Endpoints Endpoints
	// HTTPClient talks to the authorization server; use the proxy's
	// guarded client so token endpoints obey the egress rules.
	HTTPClient *http.Client
	// Resource is the RFC 8707 resource indicator sent in authorization
	// and token requests (an OAuth-protected resource such as a remote
	// MCP server, see ResourceAuth.App); empty sends none.
	Resource string
	// Now defaults to time.Now.
	Now func() time.Time
}

// Endpoints of an authorization server.
type Endpoints struct {
	Issuer       string
	AuthorizeURL string
	TokenURL     string
	RevokeURL    string
	// IssParameter is true when the server advertises RFC 9207
	// (authorization_response_iss_parameter_supported): the callback
	// must then carry iss.
	IssParameter bool
	PKCEMethods  []string
}

func (a *App) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *App) config() *oauth2.Config {
	scopes := a.Scopes
	if scopes == nil {
		scopes = a.Def.Scopes
	}
	if sep := a.Def.ScopeSeparator; sep != "" && sep != " " && len(scopes) > 1 {
		// x/oauth2 joins with spaces; providers that want another
		// separator get one pre-joined scope.
		scopes = []string{strings.Join(scopes, sep)}
	}
	style := oauth2.AuthStyleInHeader
	if a.Def.AuthStyle == "post" {
		style = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{
		ClientID: a.ClientID, ClientSecret: a.ClientSecret.Reveal(), RedirectURL: a.RedirectURL, Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: a.Endpoints.AuthorizeURL, TokenURL: a.Endpoints.TokenURL, AuthStyle: style},
	}
}

// UsesPKCE reports whether the authorization request carries a PKCE
// challenge: always, unless the provider is known not to accept one.
func (a *App) UsesPKCE() bool {
	if len(a.Endpoints.PKCEMethods) > 0 {
		for _, m := range a.Endpoints.PKCEMethods {
			if m == "S256" {
				return true
			}
		}
		return false
	}
	return a.Def.PKCE
}

// AuthCodeURL is the URL the user's browser is sent to. verifier is the
// PKCE code verifier (ignored when the provider cannot do PKCE).
func (a *App) AuthCodeURL(state, verifier string) string {
	var opts []oauth2.AuthCodeOption
	if a.UsesPKCE() {
		opts = append(opts, oauth2.S256ChallengeOption(verifier))
	}
	for k, v := range a.Def.ExtraAuthorizeParams {
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	if a.Resource != "" {
		opts = append(opts, oauth2.SetAuthURLParam("resource", a.Resource))
	}
	return a.config().AuthCodeURL(state, opts...)
}

func (a *App) ctx(ctx context.Context) context.Context {
	if a.HTTPClient == nil {
		return ctx
	}
	return context.WithValue(ctx, oauth2.HTTPClient, a.HTTPClient)
}

// Exchange trades an authorization code for a token set.
func (a *App) Exchange(ctx context.Context, code, verifier string) (TokenSet, error) {
	var opts []oauth2.AuthCodeOption
	if a.UsesPKCE() {
		opts = append(opts, oauth2.VerifierOption(verifier))
	}
	for k, v := range a.Def.ExtraTokenParams {
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	if a.Resource != "" {
		opts = append(opts, oauth2.SetAuthURLParam("resource", a.Resource))
	}
	tok, err := a.config().Exchange(a.ctx(ctx), code, opts...)
	if err != nil {
		e := classify("exchange", err)
		e.Scrub(a.ClientSecret.Reveal(), code, verifier)
		return TokenSet{}, e
	}
	return a.tokenSet(tok, ""), nil
}

// Refresh obtains a new token set with ts's refresh token. A response
// without a refresh token keeps the old one; one without expires_in gets
// the JWT exp or the provider's default lifetime. ctx bounds this one
// call (no TokenSource outlives it).
func (a *App) Refresh(ctx context.Context, ts TokenSet) (TokenSet, error) {
	if ts.RefreshToken == "" {
		return TokenSet{}, &Error{Op: "refresh", Code: "no_refresh_token", Description: "the provider issued no refresh token; authorize again"}
	}
	if a.Resource != "" {
		return a.refreshWithResource(ctx, ts) // x/oauth2 cannot add it
	}
	cfg := a.config()
	if a.Def.RefreshURL != "" {
		cfg.Endpoint.TokenURL = a.Def.RefreshURL
	}
	// An expired token forces the source to refresh now.
	src := cfg.TokenSource(a.ctx(ctx), &oauth2.Token{RefreshToken: ts.RefreshToken.Reveal(), Expiry: time.Unix(1, 0)})
	tok, err := src.Token()
	if err != nil {
		e := classify("refresh", err)
		e.Scrub(a.ClientSecret.Reveal(), ts.RefreshToken.Reveal())
		return TokenSet{}, e
	}
	return a.tokenSet(tok, ts.RefreshToken), nil
}

func (a *App) tokenSet(tok *oauth2.Token, oldRefresh secret.String) TokenSet {
	now := a.now().UTC()
	ts := TokenSet{AccessToken: secret.String(tok.AccessToken), RefreshToken: secret.String(tok.RefreshToken),
		TokenType: tok.TokenType, Expiry: tok.Expiry.UTC(), ObtainedAt: now}
	if s, ok := tok.Extra("scope").(string); ok {
		ts.Scope = s
	}
	if ts.RefreshToken == "" {
		ts.RefreshToken = oldRefresh
	}
	if tok.Expiry.IsZero() && !a.Def.NoExpiry {
		switch exp, ok := jwtExpiry(tok.AccessToken); {
		case ok:
			ts.Expiry = exp
		case a.Def.DefaultTTL > 0:
			ts.Expiry = now.Add(time.Duration(a.Def.DefaultTTL))
		case ts.RefreshToken != "":
			ts.Expiry = now.Add(DefaultTTL)
		}
	}
	return ts
}

// Revoke asks the server to revoke token (RFC 7009). A 200 is success,
// even for a token that was already invalid; servers without a
// revocation endpoint make this a no-op.
func (a *App) Revoke(ctx context.Context, token secret.String, hint string) error {
	if a.Endpoints.RevokeURL == "" || token == "" {
		return nil
	}
	form := url.Values{"token": {token.Reveal()}, "token_type_hint": {hint}}
	if a.Def.AuthStyle == "post" {
		form.Set("client_id", a.ClientID)
		if a.ClientSecret != "" {
			form.Set("client_secret", a.ClientSecret.Reveal())
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.Endpoints.RevokeURL, strings.NewReader(form.Encode()))
	if err != nil {
		return &Error{Op: "revoke", Err: errors.New("bad revocation URL")}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if a.Def.AuthStyle != "post" {
		req.SetBasicAuth(url.QueryEscape(a.ClientID), url.QueryEscape(a.ClientSecret.Reveal()))
	}
	client := a.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return classify("revoke", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	return &Error{Op: "revoke", Status: resp.StatusCode, Temporary: temporaryStatus(resp.StatusCode), RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
}

func redact(err error) error { return proxy.RedactError(err) }

// Margin is the provider's refresh margin (tokens.Source).
func (a *App) Margin() time.Duration { return time.Duration(a.Def.RefreshMargin) }

// Check reports a misconfigured app before it is used.
func (a *App) Check() error {
	switch {
	case a.ClientID == "":
		return fmt.Errorf("oauth: client_id is required")
	case a.Endpoints.AuthorizeURL == "" || a.Endpoints.TokenURL == "":
		return fmt.Errorf("oauth: the provider's authorize and token URLs are unknown")
	}
	return nil
}
