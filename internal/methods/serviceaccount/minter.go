package serviceaccount

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v3"
	josejwt "github.com/go-jose/go-jose/v3/jwt"
	"golang.org/x/oauth2"

	"github.com/stormcreds/storm/internal/oauth"
	"github.com/stormcreds/storm/internal/secret"
)

// MintConfig comes from the integration's config (and provider catalog
// entry). None of it is secret except ClientSecret.
type MintConfig struct {
	// TokenURL is the token endpoint. Required except for google, where
	// the key file's token_uri is used unless TokenURL overrides it.
	TokenURL string
	// Audience is the assertion's aud claim (jwt_bearer, and
	// client_credentials with private_key_jwt); default TokenURL.
	Audience string
	// Issuer is the jwt_bearer assertion's iss; default ClientID.
	Issuer string
	// Subject is the jwt_bearer assertion's sub (default Issuer) or, for
	// google, the user to impersonate with domain-wide delegation.
	Subject string
	Scopes  []string
	// ClientID and ClientSecret authenticate jwt_bearer token requests
	// where the server requires client authentication (RFC 7523 §3.1 lets
	// it). client_credentials uses the Material's client instead.
	ClientID     string
	ClientSecret string
	// AuthStyle is how a client secret is sent: "basic" (default, RFC
	// 6749 §2.3.1 HTTP Basic) or "post" (client_id/client_secret in the
	// form).
	AuthStyle string
	// HTTPClient talks to the token endpoint; required (Storm's guarded
	// client, so token endpoints obey the egress rules).
	HTTPClient *http.Client
	// Now defaults to time.Now.
	Now func() time.Time
}

// Minter mints access tokens from service-account material. Refresh
// ignores the old token set's refresh token (there is none to use) and
// mints anew. Failures are *oauth.Error: Temporary for 5xx, 408, 429 and
// network errors; GrantRevoked (final) when the server refused the key,
// assertion or client. A Minter is safe for concurrent use.
type Minter interface {
	Refresh(ctx context.Context, old oauth.TokenSet) (oauth.TokenSet, error)
}

// Grant and assertion type URNs (RFC 7523).
const (
	GrantTypeJWTBearer      = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	ClientAssertionTypeJWT  = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	mintAssertionLifetime   = 5 * time.Minute
	mintMaxTokenResponse    = 1 << 20
	mintOp                  = "refresh" // oauth.Error.Op of a failed mint
	mintAuthStyleBasic      = "basic"
	mintAuthStylePost       = "post"
	mintMaxExpiresInSeconds = 1 << 31
)

// NewMinter returns the minter for m's kind. Kinds that do not mint
// tokens (mtls, aws_sigv4), missing or invalid settings and unusable keys
// are errors, which never contain key material.
func NewMinter(m Material, cfg MintConfig) (Minter, error) {
	if cfg.HTTPClient == nil {
		return nil, errors.New("serviceaccount: minting needs an HTTP client")
	}
	switch cfg.AuthStyle {
	case "", mintAuthStyleBasic, mintAuthStylePost:
	default:
		return nil, fmt.Errorf("serviceaccount: auth style %q is not one of basic, post", mintTruncate(cfg.AuthStyle))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Scopes = append([]string(nil), cfg.Scopes...)
	switch m.Kind {
	case KindGoogle:
		return newMintGoogle(m, cfg)
	case KindJWTBearer:
		return newMintJWTBearer(m, cfg)
	case KindClientCredentials:
		return newMintClientCredentials(m, cfg)
	case KindMTLS, KindAWS:
		return nil, fmt.Errorf("serviceaccount: %s credentials do not mint access tokens", m.Kind)
	case "":
		return nil, errors.New("serviceaccount: the credential has no kind")
	}
	return nil, fmt.Errorf("serviceaccount: unknown kind %q", mintTruncate(m.Kind))
}

// mintCheckTokenURL accepts an absolute http(s) URL without credentials or
// fragment. The URL is not repeated in the error (it could carry
// userinfo).
func mintCheckTokenURL(what, raw string) error {
	if raw == "" {
		return fmt.Errorf("serviceaccount: %s is required", what)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("serviceaccount: %s is not a URL", what)
	case u.Scheme != "https" && u.Scheme != "http", u.Host == "", u.Opaque != "":
		return fmt.Errorf("serviceaccount: %s must be an absolute http(s) URL", what)
	case u.User != nil:
		return fmt.Errorf("serviceaccount: %s must not contain credentials", what)
	case u.Fragment != "":
		return fmt.Errorf("serviceaccount: %s must not have a fragment", what)
	}
	return nil
}

// ---- signed assertions ----

// mintSigner signs JWT assertions with one private key.
type mintSigner struct {
	signer jose.Signer
}

// newMintSigner picks the JWS algorithm for key: RS256 for RSA,
// ES256/ES384/ES512 by EC curve, EdDSA for Ed25519. kid, when set, goes
// into the header.
func newMintSigner(key crypto.Signer, kid string) (*mintSigner, error) {
	var alg jose.SignatureAlgorithm
	switch k := key.(type) {
	case *rsa.PrivateKey:
		alg = jose.RS256
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			alg = jose.ES256
		case elliptic.P384():
			alg = jose.ES384
		case elliptic.P521():
			alg = jose.ES512
		default:
			return nil, errors.New("serviceaccount: the EC key uses an unsupported curve")
		}
	case ed25519.PrivateKey:
		alg = jose.EdDSA
	default:
		return nil, errors.New("serviceaccount: unsupported private key algorithm")
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		return nil, errors.New("serviceaccount: the private key cannot sign")
	}
	return &mintSigner{signer: s}, nil
}

// sign returns a compact JWT with iss, sub, aud, iat, exp (iat + 5 min)
// and a fresh 128-bit jti.
func (a *mintSigner) sign(iss, sub, aud string, now time.Time) (string, error) {
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", &oauth.Error{Op: mintOp, Description: "no randomness for the assertion's jti", Temporary: true}
	}
	now = now.UTC()
	claims := josejwt.Claims{
		Issuer:   iss,
		Subject:  sub,
		Audience: josejwt.Audience{aud},
		IssuedAt: josejwt.NewNumericDate(now),
		Expiry:   josejwt.NewNumericDate(now.Add(mintAssertionLifetime)),
		ID:       base64.RawURLEncoding.EncodeToString(jti),
	}
	tok, err := josejwt.Signed(a.signer).Claims(claims).CompactSerialize()
	if err != nil {
		// The signer's error could in theory describe the key; keep it out.
		return "", &oauth.Error{Op: mintOp, Description: "signing the assertion failed"}
	}
	return tok, nil
}

// ---- hand-built token requests ----

// mintEndpoint posts forms to one token endpoint and parses the answers.
type mintEndpoint struct {
	url    string
	client *http.Client
	now    func() time.Time
}

// mintClientAuth is optional client-secret authentication of a token request.
type mintClientAuth struct {
	id, secret string
	post       bool // in the form instead of HTTP Basic
}

// post sends form (plus client authentication) and parses the answer.
// Neither the form (which carries the assertion) nor the secret ever
// reaches an error.
func (e *mintEndpoint) post(ctx context.Context, form url.Values, auth *mintClientAuth) (oauth.TokenSet, error) {
	if auth != nil && auth.post {
		form.Set("client_id", auth.id)
		if auth.secret != "" {
			form.Set("client_secret", auth.secret)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, strings.NewReader(form.Encode()))
	if err != nil {
		return oauth.TokenSet{}, &oauth.Error{Op: mintOp, Description: "cannot build the token request"}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if auth != nil && !auth.post {
		req.SetBasicAuth(url.QueryEscape(auth.id), url.QueryEscape(auth.secret))
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return oauth.TokenSet{}, oauth.Classify(mintOp, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, mintMaxTokenResponse))
	if err != nil {
		oe := oauth.Classify(mintOp, err)
		oe.Status = resp.StatusCode
		return oauth.TokenSet{}, oe
	}
	ts, err := mintParseTokenResponse(resp, body, e.now().UTC())
	if oe, ok := err.(*oauth.Error); ok {
		mintWithholdEcho(oe, form.Get("assertion"), form.Get("client_assertion"), form.Get("client_secret"), auth)
	}
	return ts, err
}

// mintWithholdEcho drops an error's code and description when the server
// echoed a secret of the request into them: a client secret, or the
// signature of an assertion (which is what makes it usable).
func mintWithholdEcho(oe *oauth.Error, assertion, clientAssertion, formSecret string, auth *mintClientAuth) {
	var pieces []string
	for _, a := range []string{assertion, clientAssertion} {
		if i := strings.LastIndexByte(a, '.'); i >= 0 && len(a)-i > 16 {
			pieces = append(pieces, a[i+1:i+17])
		}
	}
	pieces = append(pieces, formSecret)
	if auth != nil {
		pieces = append(pieces, auth.secret, url.QueryEscape(auth.secret))
	}
	for _, p := range pieces {
		if len(p) >= 6 && (strings.Contains(oe.Description, p) || strings.Contains(oe.Code, p)) {
			oe.Code, oe.Description = "", "the server's error description repeated the request and is withheld"
			return
		}
	}
}

// mintParseTokenResponse reads an RFC 6749 §5.1 token response (JSON, or
// form-encoded as some providers send) into a token set obtained at now,
// or the §5.2 error into an *oauth.Error. A response without expires_in
// expires at the access token's JWT exp or after oauth.DefaultTTL.
func mintParseTokenResponse(resp *http.Response, body []byte, now time.Time) (oauth.TokenSet, error) {
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return oauth.TokenSet{}, oauth.ErrorFromResponse(mintOp, resp, body)
	}
	var r struct {
		AccessToken string          `json:"access_token"`
		TokenType   string          `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
		Scope       string          `json:"scope"`
		Error       json.RawMessage `json:"error"`
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "application/x-www-form-urlencoded" || (mt == "text/plain" && !json.Valid(body)) {
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return oauth.TokenSet{}, mintBadResponse(resp)
		}
		r.AccessToken, r.TokenType, r.Scope = v.Get("access_token"), v.Get("token_type"), v.Get("scope")
		if s := v.Get("expires_in"); s != "" {
			r.ExpiresIn = json.RawMessage(strconv.Quote(s))
		}
		if s := v.Get("error"); s != "" {
			r.Error = json.RawMessage(strconv.Quote(s))
		}
	} else if err := json.Unmarshal(body, &r); err != nil {
		return oauth.TokenSet{}, mintBadResponse(resp)
	}
	if r.AccessToken == "" {
		if len(r.Error) > 0 && string(r.Error) != "null" {
			// An error in a 2xx body (some providers do this).
			return oauth.TokenSet{}, oauth.ErrorFromResponse(mintOp, resp, body)
		}
		return oauth.TokenSet{}, &oauth.Error{Op: mintOp, Status: resp.StatusCode,
			Description: "the token response has no access_token", Temporary: true}
	}
	ts := oauth.TokenSet{AccessToken: secret.String(r.AccessToken), TokenType: r.TokenType, Scope: r.Scope, ObtainedAt: now}
	secs, _ := mintExpiresIn(r.ExpiresIn)
	ts.Expiry = mintExpiry(r.AccessToken, secs, time.Time{}, now)
	return ts, nil
}

// mintBadResponse: a 2xx answer that is not a token response (an HTML
// page from a proxy, say) is worth retrying, as x/oauth2's parse errors
// are.
func mintBadResponse(resp *http.Response) *oauth.Error {
	return &oauth.Error{Op: mintOp, Status: resp.StatusCode, Description: "the token response cannot be parsed", Temporary: true}
}

// mintExpiresIn reads expires_in as a JSON number or a numeric string
// (some providers quote it).
func mintExpiresIn(raw json.RawMessage) (int64, bool) {
	if len(raw) == 0 {
		return 0, false
	}
	s := string(raw)
	if uq, err := strconv.Unquote(s); err == nil {
		s = uq
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f <= 0 || f > mintMaxExpiresInSeconds {
		return 0, false
	}
	return int64(f), true
}

// mintExtraExpiresIn reads expires_in from an x/oauth2 token's raw response.
func mintExtraExpiresIn(v any) (int64, bool) {
	switch v := v.(type) {
	case float64:
		return mintExpiresIn(json.RawMessage(strconv.FormatFloat(v, 'f', -1, 64)))
	case int64:
		return mintExpiresIn(json.RawMessage(strconv.FormatInt(v, 10)))
	case json.Number:
		return mintExpiresIn(json.RawMessage(v))
	case string:
		return mintExpiresIn(json.RawMessage(strconv.Quote(v)))
	}
	return 0, false
}

// mintExpiry is the token's expiry: now + expires_in when the server gave
// it, else fallback (an expiry x/oauth2 derived otherwise, such as from
// an id_token), else the access token's JWT exp, else oauth.DefaultTTL
// (the oauth package's rule: a minted token can always be minted again,
// so an early refresh is harmless).
func mintExpiry(accessToken string, expiresIn int64, fallback, now time.Time) time.Time {
	if expiresIn > 0 {
		return now.Add(time.Duration(expiresIn) * time.Second)
	}
	if !fallback.IsZero() {
		return fallback.UTC()
	}
	if exp, ok := oauth.JWTExpiry(accessToken); ok {
		return exp
	}
	return now.Add(oauth.DefaultTTL)
}

// mintTokenSetFromOAuth2 converts an x/oauth2 token obtained at now. The
// expiry is recomputed from expires_in against now, so that Expiry and
// ObtainedAt share a clock.
func mintTokenSetFromOAuth2(tok *oauth2.Token, now time.Time) (oauth.TokenSet, error) {
	if tok == nil || tok.AccessToken == "" {
		return oauth.TokenSet{}, &oauth.Error{Op: mintOp, Description: "the token response has no access_token", Temporary: true}
	}
	ts := oauth.TokenSet{AccessToken: secret.String(tok.AccessToken), TokenType: tok.TokenType, ObtainedAt: now}
	if s, ok := tok.Extra("scope").(string); ok {
		ts.Scope = s
	}
	secs, ok := mintExtraExpiresIn(tok.Extra("expires_in"))
	if !ok && tok.ExpiresIn > 0 {
		secs = tok.ExpiresIn
	}
	fallback := time.Time{}
	if secs <= 0 {
		fallback = tok.Expiry
	}
	ts.Expiry = mintExpiry(tok.AccessToken, secs, fallback, now)
	return ts, nil
}

// mintOAuth2Context makes x/oauth2 use client.
func mintOAuth2Context(ctx context.Context, client *http.Client) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, client)
}

// mintClassifyOAuth2 turns an x/oauth2 error into an *oauth.Error, reading
// the RFC 6749 error from the body where x/oauth2 did not (its jwt
// package leaves RetrieveError.ErrorCode empty).
func mintClassifyOAuth2(err error) *oauth.Error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.ErrorCode == "" && re.Response != nil {
		return oauth.ErrorFromResponse(mintOp, re.Response, re.Body)
	}
	return oauth.Classify(mintOp, err)
}

func mintJoinScopes(scopes []string) string { return strings.Join(scopes, " ") }

// mintTruncate shortens a (non-secret) configured value quoted in an
// error.
func mintTruncate(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}
