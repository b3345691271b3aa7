package serviceaccount

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/stormcreds/storm/internal/oauth"
)

// mintJWTBearer uses the RFC 7523 §2.1 JWT bearer grant: a JWT signed
// with the account's private key is the authorization grant.
type mintJWTBearer struct {
	signer        *mintSigner
	iss, sub, aud string
	scope         string
	auth          *mintClientAuth
	endpoint      mintEndpoint
}

func newMintJWTBearer(m Material, cfg MintConfig) (Minter, error) {
	if err := mintCheckTokenURL("token_url", cfg.TokenURL); err != nil {
		return nil, err
	}
	if m.KeyPEM == "" {
		return nil, errors.New("serviceaccount: the jwt_bearer credential has no private key")
	}
	key, err := PrivateKey(m.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("serviceaccount: the private key: %w", err)
	}
	signer, err := newMintSigner(key, m.KeyID)
	if err != nil {
		return nil, err
	}
	j := &mintJWTBearer{
		signer:   signer,
		iss:      cfg.Issuer,
		sub:      cfg.Subject,
		aud:      cfg.Audience,
		scope:    mintJoinScopes(cfg.Scopes),
		endpoint: mintEndpoint{url: cfg.TokenURL, client: cfg.HTTPClient, now: cfg.Now},
	}
	if j.iss == "" {
		j.iss = cfg.ClientID
	}
	if j.iss == "" {
		return nil, errors.New("serviceaccount: jwt_bearer needs an issuer (or a client_id)")
	}
	if j.sub == "" {
		j.sub = j.iss
	}
	if j.aud == "" {
		j.aud = cfg.TokenURL
	}
	if cfg.ClientID != "" {
		j.auth = &mintClientAuth{id: cfg.ClientID, secret: cfg.ClientSecret, post: cfg.AuthStyle == mintAuthStylePost}
	}
	return j, nil
}

// Refresh mints a new access token with a fresh assertion (new jti);
// old is ignored.
func (j *mintJWTBearer) Refresh(ctx context.Context, _ oauth.TokenSet) (oauth.TokenSet, error) {
	if err := ctx.Err(); err != nil {
		return oauth.TokenSet{}, oauth.Classify(mintOp, err)
	}
	assertion, err := j.signer.sign(j.iss, j.sub, j.aud, j.endpoint.now())
	if err != nil {
		return oauth.TokenSet{}, err
	}
	form := url.Values{"grant_type": {GrantTypeJWTBearer}, "assertion": {assertion}}
	if j.scope != "" {
		form.Set("scope", j.scope)
	}
	return j.endpoint.post(ctx, form, j.auth)
}
