package serviceaccount

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/stormcreds/storm/internal/oauth"
	"github.com/stormcreds/storm/internal/secret"
)

// mintJWTBearer uses the RFC 7523 §2.1 JWT bearer grant: a JWT signed
// with the account's private key is the authorization grant.
type mintJWTBearer struct {
	signer *mintSigner
	claims mintClaims // the grant assertion
	scope  string     // the scope parameter; empty with ScopeClaim
	extra  url.Values // MintConfig.ExtraTokenParams
	// auth is client-secret authentication; clientAssertion, when its iss
	// is set, private_key_jwt client authentication.
	auth            *mintClientAuth
	clientAssertion mintClaims
	endpoint        mintEndpoint
}

// mintJWTKey reads and checks a jwt_bearer credential's key.
func mintJWTKey(m Material) (crypto.Signer, *mintSigner, error) {
	if m.KeyPEM == "" {
		return nil, nil, errors.New("serviceaccount: the jwt_bearer credential has no private key")
	}
	key, err := PrivateKey(m.KeyPEM)
	if err != nil {
		return nil, nil, fmt.Errorf("serviceaccount: the private key: %w", err)
	}
	signer, err := newMintSigner(key, m.KeyID)
	if err != nil {
		return nil, nil, err
	}
	return key, signer, nil
}

func newMintJWTBearer(m Material, cfg MintConfig) (Minter, error) {
	if err := mintCheckTokenURL("token_url", cfg.TokenURL); err != nil {
		return nil, err
	}
	key, signer, err := mintJWTKey(m)
	if err != nil {
		return nil, err
	}
	aud := cfg.Audience
	if aud == "" {
		aud = cfg.TokenURL
	}
	claims, err := mintGrantClaims(cfg, key, aud, mintAssertionLifetime)
	if err != nil {
		return nil, err
	}
	j := &mintJWTBearer{
		signer:   signer,
		claims:   claims,
		extra:    mintExtraParams(cfg.ExtraTokenParams),
		endpoint: mintEndpoint{url: cfg.TokenURL, client: cfg.HTTPClient, now: cfg.Now, ttl: cfg.TokenTTL},
	}
	if !cfg.ScopeClaim {
		j.scope = mintJoinScopes(cfg.Scopes)
	}
	switch cfg.ClientAuth {
	case "":
		// The older rule: authenticate when a client is configured.
		if cfg.ClientID != "" {
			j.auth = &mintClientAuth{id: cfg.ClientID, secret: cfg.ClientSecret, post: cfg.AuthStyle == mintAuthStylePost}
		}
	case mintClientAuthBasic, mintClientAuthPost:
		if cfg.ClientID == "" || cfg.ClientSecret == "" {
			return nil, fmt.Errorf("serviceaccount: client_auth %s needs a client_id and a client_secret", cfg.ClientAuth)
		}
		j.auth = &mintClientAuth{id: cfg.ClientID, secret: cfg.ClientSecret, post: cfg.ClientAuth == mintClientAuthPost}
	case mintClientAuthPrivateKeyJWT:
		if cfg.ClientID == "" {
			return nil, errors.New("serviceaccount: client_auth private_key_jwt needs a client_id")
		}
		j.clientAssertion = mintClientAssertion(cfg.ClientID, cfg.TokenURL)
	case mintClientAuthNone:
	}
	return j, nil
}

// Refresh mints a new access token with a fresh assertion (new jti);
// old is ignored.
func (j *mintJWTBearer) Refresh(ctx context.Context, _ oauth.TokenSet) (oauth.TokenSet, error) {
	if err := ctx.Err(); err != nil {
		return oauth.TokenSet{}, oauth.Classify(mintOp, err)
	}
	now := j.endpoint.now()
	assertion, err := j.signer.sign(j.claims, now)
	if err != nil {
		return oauth.TokenSet{}, err
	}
	form := url.Values{}
	for k, v := range j.extra {
		form[k] = append([]string(nil), v...)
	}
	form.Set("grant_type", GrantTypeJWTBearer)
	form.Set("assertion", assertion)
	if j.scope != "" {
		form.Set("scope", j.scope)
	}
	if j.clientAssertion.iss != "" {
		if err := j.signer.addClientAssertion(form, j.clientAssertion, now); err != nil {
			return oauth.TokenSet{}, err
		}
	}
	return j.endpoint.post(ctx, form, j.auth)
}

// mintSelfSigned signs JWTs that are themselves the bearer token
// (Snowflake key-pair authentication): no token endpoint is involved.
type mintSelfSigned struct {
	signer *mintSigner
	claims mintClaims
	now    func() time.Time
}

func newMintSelfSigned(m Material, cfg MintConfig) (Minter, error) {
	key, signer, err := mintJWTKey(m)
	if err != nil {
		return nil, err
	}
	ttl := cfg.TokenTTL
	if ttl == 0 {
		ttl = mintSelfSignedMaxTTL
	}
	// mintCheckConfig refused a TokenURL, so the aud is Audience or none.
	claims, err := mintGrantClaims(cfg, key, cfg.Audience, ttl)
	if err != nil {
		return nil, err
	}
	return &mintSelfSigned{signer: signer, claims: claims, now: cfg.Now}, nil
}

// Refresh signs a new JWT (new iat, exp and jti); old is ignored. The
// token set's Scope is empty: the scopes, if any, are in the JWT.
func (s *mintSelfSigned) Refresh(ctx context.Context, _ oauth.TokenSet) (oauth.TokenSet, error) {
	if err := ctx.Err(); err != nil {
		return oauth.TokenSet{}, oauth.Classify(mintOp, err)
	}
	// Whole seconds, so that Expiry is exactly the JWT's exp.
	now := s.now().UTC().Truncate(time.Second)
	tok, err := s.signer.sign(s.claims, now)
	if err != nil {
		return oauth.TokenSet{}, err
	}
	return oauth.TokenSet{AccessToken: secret.String(tok), TokenType: "Bearer", ObtainedAt: now,
		Expiry: now.Add(s.claims.lifetime)}, nil
}
