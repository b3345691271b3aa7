package serviceaccount

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/stormcreds/storm/internal/oauth"
)

// mintGrantClientCredentials is RFC 6749 §4.4's grant_type.
const mintGrantClientCredentials = "client_credentials"

// mintClientSecret uses the RFC 6749 §4.4 client credentials grant with
// a client secret (x/oauth2/clientcredentials).
type mintClientSecret struct {
	conf clientcredentials.Config
	cfg  MintConfig
}

// mintPrivateKeyJWT uses the client credentials grant with RFC 7523
// §2.2 client authentication (OpenID Connect's private_key_jwt): a JWT
// with iss = sub = client_id and aud the token endpoint, signed with the
// client's private key.
type mintPrivateKeyJWT struct {
	signer    *mintSigner
	assertion mintClaims
	grantType string
	scope     string
	params    url.Values // ExtraTokenParams and audience
	endpoint  mintEndpoint
}

func newMintClientCredentials(m Material, cfg MintConfig) (Minter, error) {
	if err := mintCheckTokenURL("token_url", cfg.TokenURL); err != nil {
		return nil, err
	}
	if m.ClientID == "" {
		return nil, errors.New("serviceaccount: the client_credentials credential has no client_id")
	}
	auth := cfg.ClientAuth
	if auth == "" {
		// The older rule: the secret when there is one, else the key.
		switch {
		case m.ClientSecret != "":
			auth = mintClientAuthBasic
			if cfg.AuthStyle == mintAuthStylePost {
				auth = mintClientAuthPost
			}
		case m.KeyPEM != "":
			auth = mintClientAuthPrivateKeyJWT
		}
	}
	params := mintExtraParams(cfg.ExtraTokenParams)
	if cfg.Audience != "" {
		params.Set("audience", cfg.Audience)
	}
	grantType := cfg.GrantType
	if grantType == "" {
		grantType = mintGrantClientCredentials
	}

	switch {
	case m.ClientSecret == "" && m.KeyPEM == "":
		return nil, errors.New("serviceaccount: the client_credentials credential has neither a client_secret nor a private key")
	case auth == mintClientAuthBasic || auth == mintClientAuthPost:
		if m.ClientSecret == "" {
			return nil, fmt.Errorf("serviceaccount: client_auth %s needs a client_secret, but the credential holds a private key only (that is client_auth private_key_jwt)", auth)
		}
		style := oauth2.AuthStyleInHeader
		if auth == mintClientAuthPost {
			style = oauth2.AuthStyleInParams
		}
		if grantType != mintGrantClientCredentials {
			// x/oauth2 lets grant_type, and no other parameter it sets, be
			// replaced.
			params.Set("grant_type", grantType)
		}
		if len(params) == 0 {
			params = nil
		}
		return &mintClientSecret{cfg: cfg, conf: clientcredentials.Config{
			ClientID:       m.ClientID,
			ClientSecret:   m.ClientSecret,
			TokenURL:       cfg.TokenURL,
			Scopes:         cfg.Scopes,
			EndpointParams: params,
			AuthStyle:      style,
		}}, nil
	case auth == mintClientAuthPrivateKeyJWT:
		if m.KeyPEM == "" {
			return nil, errors.New("serviceaccount: client_auth private_key_jwt needs a private key, but the credential holds a client_secret only (that is client_auth basic or post)")
		}
		key, err := PrivateKey(m.KeyPEM)
		if err != nil {
			return nil, fmt.Errorf("serviceaccount: the private key: %w", err)
		}
		signer, err := newMintSigner(key, m.KeyID)
		if err != nil {
			return nil, err
		}
		return &mintPrivateKeyJWT{signer: signer, assertion: mintClientAssertion(m.ClientID, cfg.TokenURL),
			grantType: grantType, scope: mintJoinScopes(cfg.Scopes), params: params,
			endpoint: mintEndpoint{url: cfg.TokenURL, client: cfg.HTTPClient, now: cfg.Now, ttl: cfg.TokenTTL}}, nil
	}
	// mintCheckConfig refused any other client_auth.
	return nil, fmt.Errorf("serviceaccount: client_auth %q cannot be used with client_credentials", mintTruncate(auth))
}

// Refresh mints a new access token; old is ignored.
func (c *mintClientSecret) Refresh(ctx context.Context, _ oauth.TokenSet) (oauth.TokenSet, error) {
	if err := ctx.Err(); err != nil {
		return oauth.TokenSet{}, oauth.Classify(mintOp, err)
	}
	tok, err := c.conf.Token(mintOAuth2Context(ctx, c.cfg.HTTPClient))
	if err != nil {
		return oauth.TokenSet{}, mintClassifyOAuth2(err)
	}
	return mintTokenSetFromOAuth2(tok, c.cfg.Now().UTC(), c.cfg.TokenTTL)
}

// Refresh mints a new access token with a fresh client assertion; old is
// ignored.
func (p *mintPrivateKeyJWT) Refresh(ctx context.Context, _ oauth.TokenSet) (oauth.TokenSet, error) {
	if err := ctx.Err(); err != nil {
		return oauth.TokenSet{}, oauth.Classify(mintOp, err)
	}
	form := url.Values{}
	for k, v := range p.params {
		form[k] = append([]string(nil), v...)
	}
	form.Set("grant_type", p.grantType)
	if err := p.signer.addClientAssertion(form, p.assertion, p.endpoint.now()); err != nil {
		return oauth.TokenSet{}, err
	}
	if p.scope != "" {
		form.Set("scope", p.scope)
	}
	return p.endpoint.post(ctx, form, nil)
}
