package serviceaccount

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
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
	// the key file's token_uri is used unless TokenURL overrides it, and
	// for a SelfSigned jwt_bearer, which has none (and refuses one).
	TokenURL string
	// Audience is, for jwt_bearer, the assertion's aud claim (default
	// TokenURL; a SelfSigned JWT has no aud unless Audience is set). For
	// client_credentials it is sent as an "audience" token parameter
	// (Auth0-style APIs); a private_key_jwt client assertion's aud is
	// always TokenURL. Google ignores it.
	Audience string
	// Issuer is the jwt_bearer assertion's iss; default ClientID. An
	// "iss" in Claims wins over both.
	Issuer string
	// Subject is the jwt_bearer assertion's sub (default the iss) or, for
	// google, the user to impersonate with domain-wide delegation. A
	// "sub" in Claims wins.
	Subject string
	Scopes  []string
	// ClientID and ClientSecret authenticate jwt_bearer token requests
	// where the server requires client authentication (RFC 7523 §3.1 lets
	// it). client_credentials uses the Material's client instead.
	ClientID     string
	ClientSecret string
	// AuthStyle is how a client secret is sent: "basic" (default, RFC
	// 6749 §2.3.1 HTTP Basic) or "post" (client_id/client_secret in the
	// form). It is the older spelling of ClientAuth's basic and post; when
	// both are set they must agree.
	AuthStyle string
	// ClientAuth is how the client authenticates at TokenURL (the
	// catalog's client_auth):
	//   - "basic" or "post": client_secret_basic / client_secret_post with
	//     the Material's client_id and secret (client_credentials), or
	//     ClientID and ClientSecret (jwt_bearer; both required).
	//   - "private_key_jwt": an RFC 7523 §2.2 client assertion (iss = sub =
	//     the client id, aud TokenURL) signed with Material.KeyPEM; for
	//     jwt_bearer the client id is ClientID.
	//   - "none" (jwt_bearer only): the assertion alone.
	//   - "": the older rules. client_credentials uses the Material's
	//     secret (sent as AuthStyle says) or else its private key
	//     (private_key_jwt); jwt_bearer authenticates with ClientID and
	//     ClientSecret as AuthStyle says when ClientID is set, else not at
	//     all.
	ClientAuth string
	// GrantType replaces client_credentials' grant_type for providers
	// with a grant of the same shape (Zoom's account_credentials).
	GrantType string
	// ExtraTokenParams are added to the token request (jwt_bearer and
	// client_credentials). A parameter the minter sets (grant_type,
	// assertion, client_id, client_secret, client_assertion,
	// client_assertion_type, scope, audience; in any case) is refused.
	ExtraTokenParams map[string]string
	// ScopeClaim (jwt_bearer): Scopes go in the assertion's
	// space-separated "scope" claim (DocuSign) instead of a scope
	// parameter of the token request.
	ScopeClaim bool
	// Claims (jwt_bearer) are added to the assertion as string claims:
	// Box's box_sub_type, or iss and sub where the provider fixes their
	// shape (Snowflake); "iss" and "sub" here replace Issuer and Subject.
	// aud, exp, iat, nbf, jti and scope are refused. Values are used as
	// they are except that {public_key_fp} becomes the signing key's
	// PublicKeyFingerprint.
	Claims map[string]string
	// SelfSigned (jwt_bearer): there is no token endpoint; each Refresh
	// signs a new JWT (iss, sub, iat, exp = iat + TokenTTL, jti, the
	// Claims, aud only when Audience is set, scope with ScopeClaim) and
	// returns it as the bearer access token (Snowflake key-pair
	// authentication). No HTTP request is made; HTTPClient may be nil.
	// TokenURL, ClientAuth, GrantType, ExtraTokenParams and Scopes without
	// ScopeClaim are refused.
	SelfSigned bool
	// TokenTTL is how long a token lasts when nothing else says. For a
	// SelfSigned JWT it is the lifetime: at most an hour, default an hour.
	// Otherwise it is the lifetime of an access token whose response has
	// no expires_in (Salesforce) and is not a JWT with an exp; zero means
	// oauth.DefaultTTL. Never negative.
	TokenTTL time.Duration
	// AppID, InstallationID and BaseURL (github_app only): the GitHub App
	// (its numeric app id, or its client id), the installation whose
	// token is minted, and the REST API root — https://api.github.com
	// (the default) or a GitHub Enterprise Server's https://HOST/api/v3.
	AppID          string
	InstallationID string
	BaseURL        string
	// HTTPClient talks to the token endpoint; required (Storm's guarded
	// client, so token endpoints obey the egress rules) except with
	// SelfSigned.
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
	GrantTypeJWTBearer     = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	ClientAssertionTypeJWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// mintAssertionLifetime is the lifetime of a grant or client
	// assertion, which is used at once: Box refuses an exp more than 60 s
	// after iat and Salesforce one more than 3 minutes (Box's own SDKs
	// use 30 s).
	mintAssertionLifetime   = 30 * time.Second
	mintMaxTokenResponse    = 1 << 20
	mintOp                  = "refresh" // oauth.Error.Op of a failed mint
	mintAuthStyleBasic      = "basic"
	mintAuthStylePost       = "post"
	mintMaxExpiresInSeconds = 1 << 31

	// ClientAuth values.
	mintClientAuthBasic         = mintAuthStyleBasic
	mintClientAuthPost          = mintAuthStylePost
	mintClientAuthPrivateKeyJWT = "private_key_jwt"
	mintClientAuthNone          = "none"

	// mintSelfSignedMaxTTL bounds (and is the default of) a self-signed
	// JWT's lifetime: Snowflake refuses an exp more than an hour after iat.
	mintSelfSignedMaxTTL = time.Hour
	// mintPublicKeyFPVar in a claim stands for PublicKeyFingerprint of the
	// signing key (catalog.PublicKeyFPVar in braces).
	mintPublicKeyFPVar = "{public_key_fp}"
)

// Token parameters and assertion claims the minter sets itself:
// ExtraTokenParams and Claims may add to a request or assertion, never
// replace one of these (the catalog's protected lists).
var (
	mintProtectedParams = []string{"grant_type", "assertion", "client_id", "client_secret",
		"client_assertion", "client_assertion_type", "scope", "audience"}
	mintProtectedClaims = []string{"aud", "exp", "iat", "nbf", "jti", "scope"}
)

// NewMinter returns the minter for m's kind. Kinds that do not mint
// tokens (mtls, aws_sigv4), missing or invalid settings and unusable keys
// are errors, which never contain key material.
func NewMinter(m Material, cfg MintConfig) (Minter, error) {
	switch m.Kind {
	case KindMTLS, KindAWS:
		return nil, fmt.Errorf("serviceaccount: %s credentials do not mint access tokens", m.Kind)
	case "":
		return nil, errors.New("serviceaccount: the credential has no kind")
	case KindGoogle, KindJWTBearer, KindClientCredentials, KindGitHubApp:
	default:
		return nil, fmt.Errorf("serviceaccount: unknown kind %q", mintTruncate(m.Kind))
	}
	selfSigned := m.Kind == KindJWTBearer && cfg.SelfSigned
	if cfg.HTTPClient == nil && !selfSigned {
		return nil, errors.New("serviceaccount: minting needs an HTTP client")
	}
	if err := mintCheckConfig(m.Kind, cfg); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Scopes = append([]string(nil), cfg.Scopes...)
	switch m.Kind {
	case KindGoogle:
		return newMintGoogle(m, cfg)
	case KindJWTBearer:
		if selfSigned {
			return newMintSelfSigned(m, cfg)
		}
		return newMintJWTBearer(m, cfg)
	case KindGitHubApp:
		return newMintGitHubApp(m, cfg)
	default:
		return newMintClientCredentials(m, cfg)
	}
}

// mintCheckConfig checks the settings that do not depend on the
// material: known values, and no setting the kind has no use for (a
// configuration that says more than is applied would mislead).
func mintCheckConfig(kind string, cfg MintConfig) error {
	switch cfg.AuthStyle {
	case "", mintAuthStyleBasic, mintAuthStylePost:
	default:
		return fmt.Errorf("serviceaccount: auth style %q is not one of basic, post", mintTruncate(cfg.AuthStyle))
	}
	switch cfg.ClientAuth {
	case "":
	case mintClientAuthBasic, mintClientAuthPost:
		if cfg.AuthStyle != "" && cfg.AuthStyle != cfg.ClientAuth {
			return fmt.Errorf("serviceaccount: auth style %s contradicts client_auth %s", cfg.AuthStyle, cfg.ClientAuth)
		}
	case mintClientAuthPrivateKeyJWT, mintClientAuthNone:
		if cfg.AuthStyle != "" {
			return fmt.Errorf("serviceaccount: auth style %s does not apply to client_auth %s (no client secret is sent)", cfg.AuthStyle, cfg.ClientAuth)
		}
	default:
		return fmt.Errorf("serviceaccount: client_auth %q is not one of basic, post, private_key_jwt, none", mintTruncate(cfg.ClientAuth))
	}
	if cfg.TokenTTL < 0 {
		return errors.New("serviceaccount: token_ttl must not be negative")
	}
	for _, k := range mintSortedKeys(cfg.ExtraTokenParams) {
		switch {
		case k == "":
			return errors.New("serviceaccount: extra token parameter names must not be empty")
		case slices.ContainsFunc(mintProtectedParams, func(p string) bool { return strings.EqualFold(p, k) }):
			return fmt.Errorf("serviceaccount: extra token parameter %q is set by the minter and cannot be overridden", mintTruncate(k))
		}
	}
	for _, k := range mintSortedKeys(cfg.Claims) {
		switch {
		case k == "":
			return errors.New("serviceaccount: claim names must not be empty")
		case slices.Contains(mintProtectedClaims, k):
			return fmt.Errorf("serviceaccount: claim %q is set by the minter and cannot be overridden", k)
		}
	}

	unused := func(field string, set bool) error {
		if set {
			return fmt.Errorf("serviceaccount: %s is not used with kind %s", field, kind)
		}
		return nil
	}
	var checks []error
	if kind != KindGitHubApp {
		checks = append(checks, unused("app_id", cfg.AppID != ""), unused("installation_id", cfg.InstallationID != ""),
			unused("base_url", cfg.BaseURL != ""))
	}
	switch kind {
	case KindGitHubApp:
		checks = append(checks, unused("token_url", cfg.TokenURL != ""), unused("audience", cfg.Audience != ""),
			unused("issuer", cfg.Issuer != ""), unused("subject", cfg.Subject != ""), unused("scopes", len(cfg.Scopes) > 0),
			unused("client_id", cfg.ClientID != ""), unused("client_secret", cfg.ClientSecret != ""),
			unused("auth_style", cfg.AuthStyle != ""), unused("client_auth", cfg.ClientAuth != ""),
			unused("grant_type", cfg.GrantType != ""), unused("extra_token_params", len(cfg.ExtraTokenParams) > 0),
			unused("scope_claim", cfg.ScopeClaim), unused("claims", len(cfg.Claims) > 0), unused("self_signed", cfg.SelfSigned))
	case KindGoogle:
		checks = append(checks, unused("client_auth", cfg.ClientAuth != ""), unused("grant_type", cfg.GrantType != ""),
			unused("extra_token_params", len(cfg.ExtraTokenParams) > 0), unused("scope_claim", cfg.ScopeClaim),
			unused("claims", len(cfg.Claims) > 0), unused("self_signed", cfg.SelfSigned))
	case KindJWTBearer:
		checks = append(checks, unused("grant_type", cfg.GrantType != ""))
	case KindClientCredentials:
		checks = append(checks, unused("scope_claim", cfg.ScopeClaim), unused("claims", len(cfg.Claims) > 0),
			unused("self_signed", cfg.SelfSigned))
		if cfg.ClientAuth == mintClientAuthNone {
			return errors.New("serviceaccount: client_credentials needs client authentication (client_auth basic, post or private_key_jwt)")
		}
	}
	for _, err := range checks {
		if err != nil {
			return err
		}
	}
	if kind == KindJWTBearer && cfg.SelfSigned {
		const why = "a self-signed JWT is itself the token; there is no token request"
		switch {
		case cfg.TokenURL != "":
			return errors.New("serviceaccount: a self-signed JWT has no token_url: " + why)
		case cfg.ClientAuth != "" && cfg.ClientAuth != mintClientAuthNone, cfg.AuthStyle != "":
			return errors.New("serviceaccount: client_auth does not apply: " + why)
		case len(cfg.ExtraTokenParams) > 0:
			return errors.New("serviceaccount: extra_token_params do not apply: " + why)
		case len(cfg.Scopes) > 0 && !cfg.ScopeClaim:
			return errors.New("serviceaccount: scopes need scope_claim with a self-signed JWT: " + why)
		case cfg.TokenTTL > mintSelfSignedMaxTTL:
			return fmt.Errorf("serviceaccount: token_ttl of a self-signed JWT must be at most %v", mintSelfSignedMaxTTL)
		}
	}
	return nil
}

// mintExtraParams copies ExtraTokenParams into a form.
func mintExtraParams(params map[string]string) url.Values {
	v := url.Values{}
	for k, p := range params {
		v.Set(k, p)
	}
	return v
}

func mintSortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
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

// mintClaims are the claims of one kind of JWT a minter signs.
type mintClaims struct {
	iss, sub string
	aud      string // none when empty
	// extra are claims besides iss, sub, aud, iat, exp and jti.
	extra    map[string]any
	lifetime time.Duration
}

// sign returns a compact JWT with c's iss, sub, aud and extra claims,
// iat now, exp now + c.lifetime and a fresh 128-bit jti.
func (a *mintSigner) sign(c mintClaims, now time.Time) (string, error) {
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", &oauth.Error{Op: mintOp, Description: "no randomness for the assertion's jti", Temporary: true}
	}
	now = now.UTC()
	std := josejwt.Claims{
		Issuer:   c.iss,
		Subject:  c.sub,
		IssuedAt: josejwt.NewNumericDate(now),
		Expiry:   josejwt.NewNumericDate(now.Add(c.lifetime)),
		ID:       base64.RawURLEncoding.EncodeToString(jti),
	}
	if c.aud != "" {
		std.Audience = josejwt.Audience{c.aud}
	}
	b := josejwt.Signed(a.signer).Claims(std)
	if len(c.extra) > 0 {
		b = b.Claims(c.extra)
	}
	tok, err := b.CompactSerialize()
	if err != nil {
		// The signer's error could in theory describe the key; keep it out.
		return "", &oauth.Error{Op: mintOp, Description: "signing the assertion failed"}
	}
	return tok, nil
}

// PublicKeyFingerprint is "SHA256:" + base64 (standard, padded) of the
// SHA-256 of the DER SubjectPublicKeyInfo of key's public key: what
// Snowflake shows as RSA_PUBLIC_KEY_FP and the {public_key_fp} of a
// catalog claim.
func PublicKeyFingerprint(key crypto.Signer) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return "", errors.New("serviceaccount: the public key cannot be encoded")
	}
	sum := sha256.Sum256(der)
	return "SHA256:" + base64.StdEncoding.EncodeToString(sum[:]), nil
}

// mintGrantClaims builds the claims of a jwt_bearer assertion (or
// self-signed JWT) from cfg: iss is Claims' iss, else Issuer, else
// ClientID; sub is Claims' sub, else Subject, else iss; the other Claims
// are added with {public_key_fp} expanded, and with ScopeClaim the scopes
// as "scope".
func mintGrantClaims(cfg MintConfig, key crypto.Signer, aud string, lifetime time.Duration) (mintClaims, error) {
	c := mintClaims{iss: cfg.Issuer, sub: cfg.Subject, aud: aud, lifetime: lifetime}
	if c.iss == "" {
		c.iss = cfg.ClientID
	}
	var fp string
	for _, k := range mintSortedKeys(cfg.Claims) {
		v := cfg.Claims[k]
		if strings.Contains(v, mintPublicKeyFPVar) {
			if fp == "" {
				var err error
				if fp, err = PublicKeyFingerprint(key); err != nil {
					return mintClaims{}, err
				}
			}
			v = strings.ReplaceAll(v, mintPublicKeyFPVar, fp)
		}
		switch k {
		case "iss":
			c.iss = v
		case "sub":
			c.sub = v
		default:
			if c.extra == nil {
				c.extra = map[string]any{}
			}
			c.extra[k] = v
		}
	}
	if c.iss == "" {
		return mintClaims{}, errors.New("serviceaccount: jwt_bearer needs an issuer (or a client_id)")
	}
	if c.sub == "" {
		c.sub = c.iss
	}
	if cfg.ScopeClaim && len(cfg.Scopes) > 0 {
		if c.extra == nil {
			c.extra = map[string]any{}
		}
		c.extra["scope"] = mintJoinScopes(cfg.Scopes)
	}
	return c, nil
}

// mintClientAssertion are the claims of an RFC 7523 §2.2 client
// assertion (private_key_jwt): iss = sub = the client id, aud the token
// endpoint.
func mintClientAssertion(clientID, tokenURL string) mintClaims {
	return mintClaims{iss: clientID, sub: clientID, aud: tokenURL, lifetime: mintAssertionLifetime}
}

// mintAddClientAssertion signs a client assertion into form.
func (a *mintSigner) addClientAssertion(form url.Values, c mintClaims, now time.Time) error {
	assertion, err := a.sign(c, now)
	if err != nil {
		return err
	}
	form.Set("client_id", c.iss)
	form.Set("client_assertion_type", ClientAssertionTypeJWT)
	form.Set("client_assertion", assertion)
	return nil
}

// ---- hand-built token requests ----

// mintEndpoint posts forms to one token endpoint and parses the answers.
type mintEndpoint struct {
	url    string
	client *http.Client
	now    func() time.Time
	ttl    time.Duration // MintConfig.TokenTTL
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
	ts, err := mintParseTokenResponse(resp, body, e.now().UTC(), e.ttl)
	if oe, ok := err.(*oauth.Error); ok {
		mintWithholdEcho(oe, form.Get("assertion"), form.Get("client_assertion"), form.Get("client_secret"), auth)
	}
	return ts, err
}

// mintWithholdEcho drops an error's code and description when the server
// echoed a secret of the request into them, in any form secret.Scrub
// knows (cut, re-cased, encoded): a client secret, or the signature of an
// assertion (which is what makes it usable).
func mintWithholdEcho(oe *oauth.Error, assertion, clientAssertion, formSecret string, auth *mintClientAuth) {
	var pieces []string
	for _, a := range []string{assertion, clientAssertion} {
		if i := strings.LastIndexByte(a, '.'); i >= 0 {
			pieces = append(pieces, a[i+1:])
		}
	}
	pieces = append(pieces, formSecret)
	if auth != nil {
		pieces = append(pieces, auth.secret)
	}
	if text := oe.Code + "\n" + oe.Description; secret.Scrub(text, pieces...) != text {
		oe.Code, oe.Description = "", "the server's error description repeated the request and is withheld"
	}
}

// mintParseTokenResponse reads an RFC 6749 §5.1 token response (JSON, or
// form-encoded as some providers send) into a token set obtained at now,
// or the §5.2 error into an *oauth.Error. A response without expires_in
// expires at the access token's JWT exp, else after ttl (when not zero)
// or oauth.DefaultTTL.
func mintParseTokenResponse(resp *http.Response, body []byte, now time.Time, ttl time.Duration) (oauth.TokenSet, error) {
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
	ts.Expiry = mintExpiry(r.AccessToken, secs, time.Time{}, now, ttl)
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
// an id_token), else the access token's JWT exp, else now + ttl (the
// provider's documented lifetime, MintConfig.TokenTTL) when ttl is not
// zero, else oauth.DefaultTTL (the oauth package's rule: a minted token
// can always be minted again, so an early refresh is harmless).
func mintExpiry(accessToken string, expiresIn int64, fallback, now time.Time, ttl time.Duration) time.Time {
	if expiresIn > 0 {
		return now.Add(time.Duration(expiresIn) * time.Second)
	}
	if !fallback.IsZero() {
		return fallback.UTC()
	}
	if exp, ok := oauth.JWTExpiry(accessToken); ok {
		return exp
	}
	if ttl > 0 {
		return now.Add(ttl)
	}
	return now.Add(oauth.DefaultTTL)
}

// mintTokenSetFromOAuth2 converts an x/oauth2 token obtained at now. The
// expiry is recomputed from expires_in against now, so that Expiry and
// ObtainedAt share a clock; ttl is as for mintExpiry.
func mintTokenSetFromOAuth2(tok *oauth2.Token, now time.Time, ttl time.Duration) (oauth.TokenSet, error) {
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
	ts.Expiry = mintExpiry(tok.AccessToken, secs, fallback, now, ttl)
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
