package creds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/methods/exchange"
	"github.com/stormcreds/storm/internal/oauth"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/secret"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/tokens"
)

// A token exchange turns a saved API key, or user name and password, into
// a short-lived session token. The credential version's material holds
// the saved credential and, under the token engine's member, the session
// token: the engine renews it before expiry, one exchange at a time
// across instances, and once more after a 401 (the proxy's retry).

// exchangeSettings is an integration's exchange block, checked, with the
// catalog's session lifetime and margin.
type exchangeSettings struct {
	cfg        exchange.Config
	defaultTTL time.Duration
	margin     time.Duration
}

// exchangeOf returns integ's exchange settings, or nil when it has none.
// A custom integration's block is read from its config as sent, so
// exchange.ParseConfig names every problem ("config.exchange.…"); a
// catalog block was checked when the catalog loaded.
func (s *Service) exchangeOf(integ store.Integration, resolved catalog.Resolved) (*exchangeSettings, error) {
	e := resolved.Provider.ExchangeFor(integ.AuthMethod)
	if e == nil {
		return nil, nil
	}
	var raw json.RawMessage
	if integ.Provider == catalog.Custom {
		cfg, err := decodeConfig(integ.Config)
		if err != nil {
			return nil, err
		}
		if raw, err = json.Marshal(cfg["exchange"]); err != nil {
			return nil, problem.Field("config.exchange", "must be a JSON object")
		}
	} else {
		block := *e
		block.DefaultTTL, block.RefreshMargin, block.DocsURL = 0, 0, ""
		b, err := json.Marshal(exchangeJSON(block))
		if err != nil {
			return nil, err
		}
		raw = b
	}
	cfg, err := exchange.ParseConfig(raw, integ.AuthMethod)
	if err != nil {
		return nil, prefixFields(err, "config.")
	}
	return &exchangeSettings{cfg: cfg, defaultTTL: time.Duration(e.DefaultTTL), margin: time.Duration(e.RefreshMargin)}, nil
}

// exchangeJSON is a catalog block in the shape of the API's exchange
// block (without the catalog-only members).
func exchangeJSON(e catalog.Exchange) map[string]any {
	out := map[string]any{"method": e.Method, "path": e.Path, "token_pointer": e.TokenPointer,
		"apply": map[string]any{"in": e.Apply.In, "name": e.Apply.Name, "prefix": e.Apply.Prefix}}
	if e.Body != nil {
		out["body"] = e.Body
	}
	if e.Form != nil {
		out["form"] = e.Form
	}
	if len(e.Headers) > 0 {
		out["headers"] = e.Headers
	}
	if e.ExpiresInPointer != "" {
		out["expires_in_pointer"] = e.ExpiresInPointer
	}
	if e.ExpiresAtPointer != "" {
		out["expires_at_pointer"] = e.ExpiresAtPointer
	}
	return out
}

// prefixFields puts prefix before the field names of a problem.
func prefixFields(err error, prefix string) error {
	p, ok := problem.As(err)
	if !ok {
		return err
	}
	q := *p
	q.Errors = nil
	for _, fe := range p.Errors {
		q.Errors = append(q.Errors, problem.FieldError{Field: prefix + fe.Field, Message: fe.Message})
	}
	if len(q.Errors) > 0 {
		q.Detail = q.Errors[0].Field + ": " + q.Errors[0].Message
		if n := len(q.Errors) - 1; n > 0 {
			q.Detail += fmt.Sprintf(" (and %d more)", n)
		}
	}
	return &q
}

// exchangeCredential is what an exchange sends from a material document.
func exchangeCredential(method string, doc tokens.Material) (exchange.Credential, []string, error) {
	if method == catalog.MethodBasic {
		m, err := basicOf(doc)
		if err != nil {
			return exchange.Credential{}, nil, err
		}
		return exchange.Credential{Username: m.Username, Password: secret.String(m.Password)}, []string{m.Password}, nil
	}
	var key string
	if err := json.Unmarshal(doc[apiKeyMember], &key); err != nil || key == "" {
		return exchange.Credential{}, nil, errors.New("the credential holds no API key")
	}
	return exchange.Credential{APIKey: secret.String(key)}, []string{key}, nil
}

// exchanger is the token engine's Source for integ's exchange.
func (s *Service) exchanger(integ store.Integration, resolved catalog.Resolved, doc tokens.Material) (*exchange.Exchanger, *exchangeSettings, error) {
	es, err := s.exchangeOf(integ, resolved)
	if err != nil {
		return nil, nil, err
	}
	if es == nil {
		return nil, nil, problem.New(http.StatusConflict, "integration %s has no token exchange", integ.ID)
	}
	cred, _, err := exchangeCredential(integ.AuthMethod, doc)
	if err != nil {
		return nil, nil, err
	}
	ex, err := exchange.New(es.cfg, integ.AuthMethod, cred, exchange.Options{BaseURL: resolved.BaseURL.String(), HTTPClient: s.client,
		Now: s.now, DefaultTTL: es.defaultTTL, Margin: es.margin})
	if err != nil {
		return nil, nil, err
	}
	return ex, es, nil
}

// exchangeSource is the engine's Source for an integration with an
// exchange block.
func (s *Service) exchangeSource(integ store.Integration, doc tokens.Material) (tokens.Source, error) {
	resolved, err := s.resolve(integ)
	if err != nil {
		return nil, err
	}
	ex, _, err := s.exchanger(integ, resolved, doc)
	return ex, err
}

// exchangeUsable is a version whose requests carry the session token its
// exchange obtained.
func (s *Service) exchangeUsable(integ store.Integration, resolved catalog.Resolved, c store.Credential, doc tokens.Material) (*usable, error) {
	es, err := s.exchangeOf(integ, resolved)
	if err != nil {
		return nil, err
	}
	_, saved, err := exchangeCredential(integ.AuthMethod, doc)
	if err != nil {
		return nil, fmt.Errorf("credential %s: %w", c.ID, err)
	}
	u := &usable{cred: c, kind: "token", placement: oauth.PlacementOf(nil), more: saved}
	apply := es.cfg.Apply
	u.exchange = &apply
	u.headers = staticHeaders(resolved.Provider, integ.AuthMethod)
	if _, ok := doc[tokens.TokenMember]; ok {
		if u.tokens, err = doc.Tokens(); err != nil {
			return nil, err
		}
	}
	u.secret = u.tokens.AccessToken
	return u, nil
}

// staticHeaders are a provider's extra headers for requests made with a
// session token: those of its API-key or Basic settings that do not hold
// the key itself (which only goes to the exchange endpoint).
func staticHeaders(p catalog.Provider, method string) map[string]string {
	var src map[string]string
	switch {
	case method == catalog.MethodBasic && p.Basic != nil:
		src = p.Basic.Headers
	case method == catalog.MethodAPIKey && p.APIKey != nil:
		src = p.APIKey.Headers
	}
	out := map[string]string{}
	for k, v := range src {
		if !mentionsKey(v) {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func mentionsKey(tmpl string) bool { return strings.Contains(tmpl, "{"+catalog.KeyVar+"}") }

// prepareExchange makes the first exchange of a Save (unless
// verification is skipped: the engine then exchanges soon) and returns
// the new version's usable form; doc gains the session token. A refused
// exchange is a VerifyFailed, and nothing is stored.
func (s *Service) prepareExchange(ctx context.Context, integ store.Integration, resolved catalog.Resolved, in SaveInput, cred *store.Credential, doc tokens.Material) (*usable, error) {
	ex, es, err := s.exchanger(integ, resolved, doc)
	if err != nil {
		return nil, err
	}
	cred.RefreshAt = s.now().UTC()
	if !in.SkipVerify {
		ts, err := ex.Exchange(ctx)
		if err != nil {
			_, saved, _ := exchangeCredential(integ.AuthMethod, doc)
			return nil, &VerifyFailed{Result: mintFailure(err, saved...)}
		}
		if err := doc.SetTokens(ts); err != nil {
			return nil, err
		}
		cred.RefreshAt = tokens.NextRefresh(ts, es.margin, true)
	}
	return s.exchangeUsable(integ, resolved, *cred, doc)
}
