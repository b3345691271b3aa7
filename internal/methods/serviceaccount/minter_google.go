package serviceaccount

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"

	"golang.org/x/oauth2/google"
	"golang.org/x/oauth2/jwt"

	"github.com/stormcreds/storm/internal/oauth"
)

// mintGoogle mints Google access tokens from a service-account JSON key
// (the JWT bearer flow of golang.org/x/oauth2/google), optionally
// impersonating a Workspace user (domain-wide delegation).
type mintGoogle struct {
	conf *jwt.Config
	cfg  MintConfig
}

func newMintGoogle(m Material, cfg MintConfig) (Minter, error) {
	if len(m.Google) == 0 {
		return nil, errors.New("serviceaccount: the Google key file is missing")
	}
	conf, err := google.JWTConfigFromJSON(m.Google, cfg.Scopes...)
	if err != nil {
		// The parse error is not repeated: it could quote the file.
		return nil, errors.New(`serviceaccount: the Google key file cannot be used (want a JSON key of "type": "service_account")`)
	}
	if conf.Email == "" {
		return nil, errors.New("serviceaccount: the Google key file has no client_email")
	}
	// x/oauth2 parses the key only when minting, and a parse failure then
	// would look temporary: check it now. Google keys are RSA.
	key, err := PrivateKey(string(conf.PrivateKey))
	if err != nil {
		return nil, fmt.Errorf("serviceaccount: the Google key file's private_key: %w", err)
	}
	if _, ok := key.(*rsa.PrivateKey); !ok {
		return nil, errors.New("serviceaccount: the Google key file's private_key is not an RSA key")
	}
	if cfg.Subject != "" {
		conf.Subject = cfg.Subject
	}
	if cfg.TokenURL != "" {
		conf.TokenURL = cfg.TokenURL
	}
	if err := mintCheckTokenURL("the token URL (token_uri)", conf.TokenURL); err != nil {
		return nil, err
	}
	return &mintGoogle{conf: conf, cfg: cfg}, nil
}

// Refresh mints a new access token; old is ignored.
func (g *mintGoogle) Refresh(ctx context.Context, _ oauth.TokenSet) (oauth.TokenSet, error) {
	if err := ctx.Err(); err != nil {
		return oauth.TokenSet{}, oauth.Classify(mintOp, err)
	}
	// A fresh TokenSource per call: nothing is cached, ctx bounds it.
	tok, err := g.conf.TokenSource(mintOAuth2Context(ctx, g.cfg.HTTPClient)).Token()
	if err != nil {
		return oauth.TokenSet{}, mintClassifyOAuth2(err)
	}
	return mintTokenSetFromOAuth2(tok, g.cfg.Now().UTC(), g.cfg.TokenTTL)
}
