package creds

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/methods"
	"github.com/stormcreds/storm/internal/methods/serviceaccount"
	"github.com/stormcreds/storm/internal/oauth"
	"github.com/stormcreds/storm/internal/outcome"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/secret"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/tokens"
)

// saMember is where a credential's material document keeps the
// service account's key.
const saMember = "service_account"

// saSettings is an integration's service-account configuration: the
// provider's (or custom) definition plus the integration's own values.
type saSettings struct {
	def          catalog.ServiceAccount
	issuer       string
	subject      string
	clientID     string
	clientSecret secret.String
	caPEM        string
	scopes       []string
	custom       bool
	// appID and installationID are a GitHub App's (github_app); baseURL
	// is the integration's REST API root, where installation tokens are
	// minted.
	appID, installationID, baseURL string
}

func (s *Service) saSettings(integ store.Integration, resolved catalog.Resolved) (saSettings, error) {
	if resolved.Provider.ServiceAccount == nil {
		return saSettings{}, problem.New(http.StatusUnprocessableEntity, "provider %s has no service-account settings", integ.Provider)
	}
	cfg, err := decodeConfig(integ.Config)
	if err != nil {
		return saSettings{}, err
	}
	secrets, err := s.secretConfig(integ)
	if err != nil {
		return saSettings{}, err
	}
	nested, _ := cfg["service_account"].(map[string]any)
	st := saSettings{def: *resolved.Provider.ServiceAccount,
		issuer:   firstString(cfg["issuer"], nested["issuer"]),
		subject:  firstString(cfg["subject"], nested["subject"]),
		clientID: firstString(cfg["client_id"], nested["client_id"]),
		caPEM:    firstString(cfg["ca_pem"], nested["ca_pem"]),
		scopes:   resolved.Provider.ServiceAccount.Scopes,
		custom:   integ.Provider == catalog.Custom,

		appID:          idString(cfg["app_id"], nested["app_id"]),
		installationID: idString(cfg["installation_id"], nested["installation_id"]),
		baseURL:        resolved.BaseURL.String(),
	}
	st.clientSecret = secret.String(secrets["client_secret"])
	if st.clientSecret == "" {
		st.clientSecret = secret.String(secrets["service_account.client_secret"])
	}
	if list, ok := cfg["scopes"].([]any); ok {
		st.scopes = nil
		for _, v := range list {
			if str, ok := v.(string); ok {
				st.scopes = append(st.scopes, str)
			}
		}
	}
	return st, nil
}

// minter adapts a serviceaccount.Minter to the token engine.
type minter struct{ serviceaccount.Minter }

func (minter) Margin() time.Duration { return 0 }

func (s *Service) newMinter(st saSettings, m serviceaccount.Material) (tokens.Source, error) {
	clientAuth := st.def.ClientAuth
	if clientAuth == "" && st.def.Kind == serviceaccount.KindJWTBearer && !st.custom {
		// A catalog jwt_bearer entry without client_auth means the
		// assertion alone authenticates; custom integrations authenticate
		// whenever they give a client id.
		clientAuth = "none"
	}
	mc := serviceaccount.MintConfig{
		TokenURL: st.def.TokenURL, Audience: st.def.Audience, Issuer: st.issuer, Subject: st.subject, Scopes: st.scopes,
		ClientID: st.clientID, ClientSecret: st.clientSecret.Reveal(), HTTPClient: s.client, Now: s.now,
		ClientAuth: clientAuth, GrantType: st.def.GrantType, ExtraTokenParams: st.def.ExtraTokenParams,
		ScopeClaim: st.def.ScopeClaim, Claims: st.def.Claims, SelfSigned: st.def.SelfSigned, TokenTTL: time.Duration(st.def.TokenTTL),
	}
	if st.def.Kind == serviceaccount.KindGitHubApp {
		mc.AppID, mc.InstallationID, mc.BaseURL = st.appID, st.installationID, st.baseURL
	}
	mt, err := serviceaccount.NewMinter(m, mc)
	if err != nil {
		return nil, problem.New(http.StatusUnprocessableEntity, "service account: %v", err)
	}
	return minter{mt}, nil
}

// mints reports whether a kind obtains access tokens.
func mints(kind string) bool {
	switch kind {
	case serviceaccount.KindGoogle, serviceaccount.KindJWTBearer, serviceaccount.KindClientCredentials, serviceaccount.KindGitHubApp:
		return true
	}
	return false
}

func saMaterial(doc tokens.Material) (serviceaccount.Material, error) {
	var m serviceaccount.Material
	raw, ok := doc[saMember]
	if !ok {
		return m, errors.New("the credential holds no service-account key")
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, errors.New("the stored service-account key is malformed")
	}
	return m, nil
}

// saSource is the token engine's Source for a minting service account.
func (s *Service) saSource(integ store.Integration, doc tokens.Material) (tokens.Source, error) {
	resolved, err := s.resolve(integ)
	if err != nil {
		return nil, err
	}
	st, err := s.saSettings(integ, resolved)
	if err != nil {
		return nil, err
	}
	m, err := saMaterial(doc)
	if err != nil {
		return nil, err
	}
	return s.newMinter(st, m)
}

// openSA builds the usable form of a service-account credential: a
// token (minted by the engine), a SigV4 signer or a client-certificate
// proxy.
func (s *Service) openSA(integ store.Integration, resolved catalog.Resolved, c store.Credential, doc tokens.Material) (*usable, error) {
	m, err := saMaterial(doc)
	if err != nil {
		return nil, err
	}
	st, err := s.saSettings(integ, resolved)
	if err != nil {
		return nil, err
	}
	u := &usable{cred: c, kind: m.Kind, sa: m}
	switch {
	case mints(m.Kind):
		if u.tokens, err = doc.Tokens(); err != nil {
			return nil, err
		}
		u.secret, u.placement = u.tokens.AccessToken, oauth.PlacementOf(nil)
		u.placement.Headers = st.def.Headers
	case m.Kind == serviceaccount.KindAWS:
		if u.signer, err = serviceaccount.NewSigV4(m, st.def.Region, st.def.Service, s.now); err != nil {
			return nil, problem.New(http.StatusUnprocessableEntity, "AWS signing: %v", err)
		}
		u.secret = secret.String(m.SecretAccessKey)
	case m.Kind == serviceaccount.KindMTLS:
		cert, err := tls.X509KeyPair([]byte(m.CertPEM), []byte(m.KeyPEM))
		if err != nil {
			return nil, errors.New("the stored client certificate cannot be loaded")
		}
		roots, err := s.rootsFor(st.caPEM)
		if err != nil {
			return nil, err
		}
		u.proxy = s.proxy.WithClientCert(cert, roots)
	default:
		return nil, fmt.Errorf("unknown service-account kind %q", m.Kind)
	}
	return u, nil
}

// prepareSA validates an upload and returns the new version's material
// document and its usable form (for verification before it is saved).
func (s *Service) prepareSA(ctx context.Context, integ store.Integration, resolved catalog.Resolved, in SaveInput, cred *store.Credential) (tokens.Material, *usable, error) {
	st, err := s.saSettings(integ, resolved)
	if err != nil {
		return nil, nil, err
	}
	now := s.now()
	var m serviceaccount.Material
	var info serviceaccount.Info
	if in.File != nil {
		m, info, err = serviceaccount.ParseFile(st.def.Kind, in.File, in.Form, now)
	} else {
		m, info, err = serviceaccount.Parse(st.def.Kind, in.Body, now)
	}
	if err != nil {
		return nil, nil, err
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, nil, err
	}
	doc := tokens.Material{saMember: raw}
	cred.Hint, cred.ExpiresAt = info.Hint, info.NotAfter
	cred.Fingerprint = s.vault.Fingerprint(info.FingerprintInput)
	if mints(m.Kind) {
		// The first token comes now (it is also the best verification a
		// key has); when verification is skipped the engine mints soon.
		cred.RefreshAt = now.UTC()
		if !in.SkipVerify {
			src, err := s.newMinter(st, m)
			if err != nil {
				return nil, nil, err
			}
			ts, err := src.Refresh(ctx, oauth.TokenSet{})
			if err != nil {
				res := mintFailure(err, append(saSecrets(m), st.clientSecret.Reveal())...)
				vf := &VerifyFailed{Result: res}
				var ge *serviceaccount.GitHubAppError
				if errors.As(err, &ge) {
					// Name what GitHub refused: the key (of another app),
					// or the installation.
					field := ge.Field()
					if field != "key_pem" {
						field = "config." + field
					} else if in.File != nil {
						field = "file"
					}
					vf.Field, vf.Message = field, ge.Error()
				}
				return nil, nil, vf
			}
			doc.SetTokens(ts)
			cred.RefreshAt = tokens.NextRefresh(ts, 0, true)
		}
	}
	u, err := s.openSA(integ, resolved, *cred, doc)
	if err != nil {
		return nil, nil, err
	}
	return doc, u, nil
}

// mintFailure is the verification result of a first mint that failed:
// the reason and fixed text from the error's type, and the token
// endpoint's description as a scrubbed excerpt (secrets are every secret
// the request could have carried).
func mintFailure(err error, secrets ...string) methodsResult {
	res := methods.Failed(outcome.Of(err), 0, err)
	var oerr *oauth.Error
	if errors.As(err, &oerr) {
		res.Status = oerr.Status
		if oerr.Status != 0 {
			msg := oerr.Code
			if msg != "" && oerr.Description != "" {
				msg += ": "
			}
			res.Message = secret.Excerpt(msg+oerr.Description, methods.MaxMessage, secrets...)
		}
	}
	return res
}

// saSecrets lists the secrets of service-account material, for scrubbing
// a token endpoint's answer. A PEM key counts without its armor lines,
// which are not secret and would otherwise match words such as
// "private key".
func saSecrets(m serviceaccount.Material) []string {
	out := []string{m.ClientSecret, pemBody(m.KeyPEM), m.SecretAccessKey, m.SessionToken}
	var g struct {
		PrivateKey string `json:"private_key"`
	}
	if len(m.Google) > 0 && json.Unmarshal(m.Google, &g) == nil {
		out = append(out, pemBody(g.PrivateKey))
	}
	return out
}

func pemBody(p string) string {
	var b strings.Builder
	for line := range strings.Lines(p) {
		if !strings.HasPrefix(strings.TrimSpace(line), "-----") {
			b.WriteString(strings.TrimSpace(line))
		}
	}
	return b.String()
}

// rootsFor returns the CA pool for a ca_pem (nil: the system roots). The
// same text always yields the same pool, so the client-certificate proxy
// (cached by pool identity) and its connections are reused across cache
// reloads.
func (s *Service) rootsFor(caPEM string) (*x509.CertPool, error) {
	if caPEM == "" {
		return nil, nil
	}
	key := sha256.Sum256([]byte(caPEM))
	if p, ok := s.roots.Load(key); ok {
		return p.(*x509.CertPool), nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(caPEM)) {
		return nil, problem.Field("config.ca_pem", "holds no PEM certificate")
	}
	p, _ := s.roots.LoadOrStore(key, pool)
	return p.(*x509.CertPool), nil
}

// idString reads an identifier that may come as a JSON string or number
// (a GitHub App id sent as 12345).
func idString(vs ...any) string {
	for _, v := range vs {
		switch v := v.(type) {
		case string:
			if v != "" {
				return v
			}
		case float64:
			if v > 0 && v == float64(int64(v)) {
				return fmt.Sprint(int64(v))
			}
		case json.Number:
			return v.String()
		}
	}
	return ""
}
