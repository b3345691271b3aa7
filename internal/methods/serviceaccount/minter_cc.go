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

// mintClientSecret uses the RFC 6749 §4.4 client credentials grant with
// a client secret (x/oauth2/clientcredentials).
type mintClientSecret struct {
	conf clientcredentials.Config
	cfg  MintConfig
}

// mintPrivateKeyJWT uses the client credentials grant with RFC 7523
// §2.2 client authentication (OpenID Connect's private_key_jwt): a JWT
// with iss = sub = client_id signed with the client's private key.
type mintPrivateKeyJWT struct {
	signer   *mintSigner
	clientID string
	aud      string
	scope    string
	endpoint mintEndpoint
}

func newMintClientCredentials(m Material, cfg MintConfig) (Minter, error) {
	if err := mintCheckTokenURL("token_url", cfg.TokenURL); err != nil {
		return nil, err
	}
	if m.ClientID == "" {
		return nil, errors.New("serviceaccount: the client_credentials credential has no client_id")
	}
	switch {
	case m.ClientSecret != "":
		style := oauth2.AuthStyleInHeader
		if cfg.AuthStyle == mintAuthStylePost {
			style = oauth2.AuthStyleInParams
		}
		return &mintClientSecret{cfg: cfg, conf: clientcredentials.Config{
			ClientID:     m.ClientID,
			ClientSecret: m.ClientSecret,
			TokenURL:     cfg.TokenURL,
			Scopes:       cfg.Scopes,
			AuthStyle:    style,
		}}, nil
	case m.KeyPEM != "":
		key, err := PrivateKey(m.KeyPEM)
		if err != nil {
			return nil, fmt.Errorf("serviceaccount: the private key: %w", err)
		}
		signer, err := newMintSigner(key, m.KeyID)
		if err != nil {
			return nil, err
		}
		aud := cfg.Audience
		if aud == "" {
			aud = cfg.TokenURL
		}
		return &mintPrivateKeyJWT{signer: signer, clientID: m.ClientID, aud: aud, scope: mintJoinScopes(cfg.Scopes),
			endpoint: mintEndpoint{url: cfg.TokenURL, client: cfg.HTTPClient, now: cfg.Now}}, nil
	}
	return nil, errors.New("serviceaccount: the client_credentials credential has neither a client_secret nor a private key")
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
	return mintTokenSetFromOAuth2(tok, c.cfg.Now().UTC())
}

// Refresh mints a new access token with a fresh client assertion; old is
// ignored.
func (p *mintPrivateKeyJWT) Refresh(ctx context.Context, _ oauth.TokenSet) (oauth.TokenSet, error) {
	if err := ctx.Err(); err != nil {
		return oauth.TokenSet{}, oauth.Classify(mintOp, err)
	}
	assertion, err := p.signer.sign(p.clientID, p.clientID, p.aud, p.endpoint.now())
	if err != nil {
		return oauth.TokenSet{}, err
	}
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"client_id":             {p.clientID},
		"client_assertion_type": {ClientAssertionTypeJWT},
		"client_assertion":      {assertion},
	}
	if p.scope != "" {
		form.Set("scope", p.scope)
	}
	return p.endpoint.post(ctx, form, nil)
}
