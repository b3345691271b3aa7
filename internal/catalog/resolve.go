package catalog

import (
	"cmp"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// ErrUnknownProvider is returned by Resolve for a name not in the catalog.
var ErrUnknownProvider = errors.New("unknown provider")

// Resolved is the effective definition of a provider for one integration.
type Resolved struct {
	// Provider has every template expanded except {key}, which is
	// applied per request (package methods/apikey).
	Provider Provider
	// BaseURL is Provider.BaseURL, parsed.
	BaseURL *url.URL
	// Vars holds the integration's config field values, defaults filled.
	Vars map[string]string
}

// Resolve checks an integration's config against a provider and returns
// its effective definition. For a catalog provider the config holds the
// provider's declared fields (plus client_id, client_secret and scopes
// where it supports OAuth 2.0 or service accounts); for "custom" it holds
// the whole definition as described in the API contract. Problems with
// the config are reported as a *ValidationError whose field paths are
// relative to the config object ("subdomain", "api_key.in"); an unknown
// provider as ErrUnknownProvider.
func (c *Catalog) Resolve(provider string, config map[string]any) (Resolved, error) {
	switch provider {
	case Custom:
		return c.resolveCustom(config)
	case MCP:
		return c.resolveMCP(config)
	}
	p, ok := c.byName[provider]
	if !ok {
		return Resolved{}, fmt.Errorf("catalog: %w %q", ErrUnknownProvider, provider)
	}
	p = p.clone()
	fe := &fieldErrors{}
	vars := c.configVars(p, config, fe)
	if err := fe.err(); err != nil {
		return Resolved{}, err
	}
	clientID, _ := config["client_id"].(string)
	// The integration's scopes replace the provider's defaults (an
	// explicit empty list asks for none). configVars checked them.
	if _, set := config["scopes"]; set && config["scopes"] != nil {
		scopes := (&reader{fe: fe}).strs(config, "", "scopes")
		if o := p.OAuth2; o != nil {
			o.Scopes = scopes
		}
		if s := p.ServiceAccount; s != nil {
			s.Scopes = slices.Clone(scopes)
		}
	}
	return expandProvider(p, vars, false, clientID)
}

// ErrUnsupportedMethod is returned by ResolveMethod for an auth method the
// provider does not offer.
var ErrUnsupportedMethod = errors.New("unsupported auth method")

// ResolveMethod is Resolve for an integration that uses the given auth
// method. It also checks that the provider offers the method and, for a
// service account, that the config sets every key the provider's
// service_account.requires lists (Zoom's account_id, Salesforce's
// subject): settings other auth methods of the provider do without, so
// Resolve cannot demand them.
func (c *Catalog) ResolveMethod(provider, method string, config map[string]any) (Resolved, error) {
	r, err := c.Resolve(provider, config)
	if err != nil {
		return Resolved{}, err
	}
	if !r.Provider.Supports(method) {
		if section, ok := customSections[method]; ok && provider == Custom {
			// A custom integration's config describes the method: say
			// which part is missing rather than that it is unsupported.
			fe := &fieldErrors{}
			fe.add(section, "a custom integration using %s needs this section (see the CustomConfig schema in openapi.yaml)", method)
			return Resolved{}, fe.err()
		}
		return Resolved{}, fmt.Errorf("catalog: %w %q for provider %s (supported: %s)", ErrUnsupportedMethod, method,
			provider, strings.Join(r.Provider.AuthMethods, ", "))
	}
	if s := r.Provider.ServiceAccount; method == MethodServiceAccount && s != nil {
		fe := &fieldErrors{}
		for _, k := range s.Requires {
			v, declared := r.Vars[k]
			if !declared {
				v, _ = config[k].(string) // a shared key, type-checked by Resolve
			}
			if v == "" {
				fe.add(k, "is required for a service-account integration of %s", provider)
			}
		}
		if err := fe.err(); err != nil {
			return Resolved{}, err
		}
	}
	return r, nil
}

// customSections names the config section that gives a custom
// integration each auth method.
var customSections = map[string]string{MethodAPIKey: "api_key", MethodOAuth2: "oauth2", MethodOAuth1: "oauth1", MethodServiceAccount: "service_account"}

// configVars checks config against p's declared fields and returns their
// values with defaults filled in.
func (c *Catalog) configVars(p Provider, config map[string]any, fe *fieldErrors) map[string]string {
	var declared []string
	for _, f := range p.Config {
		declared = append(declared, f.Name)
	}
	shared := slices.DeleteFunc(sharedKeys(p), func(k string) bool { return slices.Contains(declared, k) })
	r := &reader{fe: fe}
	for _, k := range sortedKeys(config) {
		switch {
		case slices.Contains(declared, k):
		case slices.Contains(shared, k):
			r.shared(config, "", k)
		default:
			if known := slices.Concat(declared, shared); len(known) == 0 {
				fe.add(k, "unknown setting: provider %s takes no config", p.Name)
			} else {
				fe.add(k, "unknown setting for provider %s (known: %s)", p.Name, strings.Join(known, ", "))
			}
		}
	}
	vars := map[string]string{}
	for _, f := range p.Config {
		raw, present := config[f.Name]
		s, ok := scalarString(raw)
		if present && raw != nil && !ok {
			fe.add(f.Name, "must be a string")
			continue
		}
		if s == "" {
			s = f.Default
		}
		if s == "" {
			if f.Required {
				fe.add(f.Name, "is required")
			}
			vars[f.Name] = ""
			continue
		}
		if msg := checkValue(s); msg != "" {
			fe.add(f.Name, "%s", msg)
			continue
		}
		if f.Pattern != "" && !c.pattern(f.Pattern).MatchString(s) {
			fe.add(f.Name, "must match %s", f.Pattern)
			continue
		}
		vars[f.Name] = s
	}
	return vars
}

func (c *Catalog) pattern(p string) *regexp.Regexp {
	if re, ok := c.patterns[p]; ok {
		return re
	}
	return regexp.MustCompile(anchor(p)) // validated at load
}

// sharedKeys are the config keys a catalog provider accepts besides its
// declared fields: the OAuth 2.0 app or service-account settings.
func sharedKeys(p Provider) []string {
	var keys []string
	if p.Supports(MethodOAuth2) || p.Supports(MethodServiceAccount) {
		keys = append(keys, "client_id", "client_secret", "scopes")
	}
	if p.Supports(MethodServiceAccount) {
		// ca_pem: extra roots to verify an mTLS server's certificate.
		keys = append(keys, "issuer", "subject", "ca_pem")
		if p.ServiceAccount != nil && p.ServiceAccount.Kind == "github_app" {
			keys = append(keys, "app_id", "installation_id")
		}
	}
	if p.Supports(MethodOAuth1) {
		// The OAuth 1.0a client; the secret is sealed like client_secret.
		keys = append(keys, "consumer_key", "consumer_secret")
	}
	return keys
}

// scalarString accepts a string or an integral JSON number (an account id
// sent as 12345 rather than "12345").
func scalarString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		if _, err := v.Int64(); err == nil {
			return v.String(), true
		}
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return strconv.FormatInt(int64(v), 10), true
		}
	case int:
		return strconv.Itoa(v), true
	case int64:
		return strconv.FormatInt(v, 10), true
	}
	return "", false
}

// customKeys are the top-level keys of a custom integration's config.
var customKeys = []string{"base_url", "api_key", "verify", "oauth2", "service_account",
	"client_id", "client_secret", "scopes", "issuer", "subject", "ca_pem", "oauth1", "exchange"}

// resolveCustom builds a provider from a custom integration's config and
// holds it to the same rules as a catalog entry, except that http URLs are
// allowed: whether a private or loopback address may be reached is the
// egress guard's decision, not the catalog's.
func (c *Catalog) resolveCustom(config map[string]any) (Resolved, error) {
	fe := &fieldErrors{}
	r := &reader{fe: fe}
	r.only(config, "", customKeys)
	p := Provider{Name: Custom, DisplayName: "Custom"}
	if e, ok := c.byName[Custom]; ok {
		p.DisplayName, p.DocsURL, p.Categories = e.DisplayName, e.DocsURL, slices.Clone(e.Categories)
	}
	p.BaseURL = r.str(config, "", "base_url")
	if _, isString := config["base_url"].(string); p.BaseURL == "" && (isString || config["base_url"] == nil) {
		fe.add("base_url", "is required")
	}
	if m := r.obj(config, "", "api_key"); m != nil {
		const at = "api_key."
		r.only(m, at, []string{"in", "name", "prefix", "username", "password", "headers", "query", "label"})
		p.APIKey = &APIKey{
			In: r.str(m, at, "in"), Name: r.str(m, at, "name"), Prefix: r.str(m, at, "prefix"),
			Username: r.str(m, at, "username"), Password: r.str(m, at, "password"),
			Headers: r.strMap(m, at, "headers"), Query: r.strMap(m, at, "query"), Label: r.str(m, at, "label"),
		}
		p.AuthMethods = append(p.AuthMethods, MethodAPIKey)
	}
	if m := r.obj(config, "", "verify"); m != nil {
		const at = "verify."
		r.only(m, at, []string{"method", "path", "expect", "body"})
		p.Verify = &Verify{
			Method: strings.ToUpper(cmp.Or(r.str(m, at, "method"), "GET")),
			Path:   r.str(m, at, "path"), Expect: r.ints(m, at, "expect"), Body: r.str(m, at, "body"),
		}
	}
	if m := r.obj(config, "", "oauth2"); m != nil {
		const at = "oauth2."
		r.only(m, at, []string{"authorize_url", "token_url", "revoke_url", "issuer", "client_id", "client_secret",
			"scopes", "scope_separator", "auth_style", "pkce", "extra_authorize_params", "extra_token_params",
			"rotates_refresh_tokens", "default_ttl", "refresh_margin", "refresh_token_ttl",
			"refresh_url", "no_expiry", "token_header", "token_prefix", "headers", "token_body_format"})
		r.shared(m, at, "client_id")
		r.shared(m, at, "client_secret")
		p.OAuth2 = &OAuth2{
			AuthorizeURL: r.str(m, at, "authorize_url"), TokenURL: r.str(m, at, "token_url"),
			RevokeURL: r.str(m, at, "revoke_url"), Issuer: r.str(m, at, "issuer"),
			Scopes: r.strs(m, at, "scopes"), ScopeSeparator: r.str(m, at, "scope_separator"),
			// RFC 6749 §2.3.1: servers must support HTTP Basic, so it is
			// the safe default when a custom config does not say.
			AuthStyle: cmp.Or(r.str(m, at, "auth_style"), "basic"),
			// PKCE costs nothing where it is not needed and servers
			// that do not know it ignore the parameters (RFC 7636 §5),
			// so only an explicit false turns it off.
			PKCE:                 m["pkce"] == nil || r.boolean(m, at, "pkce"),
			ExtraAuthorizeParams: r.strMap(m, at, "extra_authorize_params"),
			ExtraTokenParams:     r.strMap(m, at, "extra_token_params"),
			RotatesRefreshTokens: r.boolean(m, at, "rotates_refresh_tokens"),
			DefaultTTL:           r.duration(m, at, "default_ttl"),
			RefreshMargin:        r.duration(m, at, "refresh_margin"),
			RefreshTokenTTL:      r.duration(m, at, "refresh_token_ttl"),
			RefreshURL:           r.str(m, at, "refresh_url"),
			NoExpiry:             r.boolean(m, at, "no_expiry"),
			TokenHeader:          r.str(m, at, "token_header"),
			TokenPrefix:          r.str(m, at, "token_prefix"),
			Headers:              r.strMap(m, at, "headers"),
			TokenBodyFormat:      r.str(m, at, "token_body_format"),
		}
		p.AuthMethods = append(p.AuthMethods, MethodOAuth2)
	}
	if m := r.obj(config, "", "service_account"); m != nil {
		const at = "service_account."
		r.only(m, at, []string{"kind", "token_url", "audience", "scopes", "region", "service",
			"issuer", "subject", "client_id", "client_secret", "ca_pem",
			"client_auth", "grant_type", "extra_token_params", "scope_claim", "claims", "self_signed", "token_ttl", "headers",
			"app_id", "installation_id"})
		for _, k := range []string{"issuer", "subject", "client_id", "client_secret", "ca_pem", "app_id", "installation_id"} {
			r.shared(m, at, k)
		}
		p.ServiceAccount = &ServiceAccount{
			Kind: r.str(m, at, "kind"), TokenURL: r.str(m, at, "token_url"), Audience: r.str(m, at, "audience"),
			Scopes: r.strs(m, at, "scopes"), Region: r.str(m, at, "region"), Service: r.str(m, at, "service"),
			ClientAuth: r.str(m, at, "client_auth"), GrantType: r.str(m, at, "grant_type"),
			ExtraTokenParams: r.strMap(m, at, "extra_token_params"), ScopeClaim: r.boolean(m, at, "scope_claim"),
			Claims: r.strMap(m, at, "claims"), SelfSigned: r.boolean(m, at, "self_signed"),
			TokenTTL: r.duration(m, at, "token_ttl"), Headers: r.strMap(m, at, "headers"),
		}
		if sa := p.ServiceAccount; sa.Kind == "client_credentials" && sa.ClientAuth == "" {
			// RFC 6749 §2.3.1: servers must support HTTP Basic, so it is
			// the safe default when a custom config does not say.
			sa.ClientAuth = "basic"
		}
		p.AuthMethods = append(p.AuthMethods, MethodServiceAccount)
	}
	if m := r.obj(config, "", "oauth1"); m != nil {
		const at = "oauth1."
		r.only(m, at, []string{"request_token_url", "authorize_url", "access_token_url", "signature_method", "realm",
			"consumer_key", "consumer_secret"})
		r.shared(m, at, "consumer_key")
		r.shared(m, at, "consumer_secret")
		p.OAuth1 = &OAuth1{
			RequestTokenURL: r.str(m, at, "request_token_url"), AuthorizeURL: r.str(m, at, "authorize_url"),
			AccessTokenURL: r.str(m, at, "access_token_url"), SignatureMethod: r.str(m, at, "signature_method"),
			Realm: r.str(m, at, "realm"),
		}
		if strings.ContainsAny(p.OAuth1.Realm, "{}") {
			fe.add(at+"realm", "must not contain { or }")
		}
		p.AuthMethods = append(p.AuthMethods, MethodOAuth1)
	}
	if m := r.obj(config, "", "exchange"); m != nil {
		p.Exchange = exchangeFromConfig(m, fe)
		if p.Exchange != nil && p.APIKey == nil {
			// The key only goes to the exchange endpoint: no placement.
			p.AuthMethods = append(p.AuthMethods, MethodAPIKey)
		}
	}
	// HTTP Basic needs nothing but the base URL.
	p.AuthMethods = append(p.AuthMethods, MethodBasic)
	for _, k := range []string{"client_id", "client_secret", "scopes", "issuer", "subject", "ca_pem"} {
		r.shared(config, "", k)
	}
	if err := fe.err(); err != nil {
		return Resolved{}, err
	}
	validateProvider(&p, fe, true)
	if err := fe.err(); err != nil {
		return Resolved{}, err
	}
	return expandProvider(p, map[string]string{}, true, "")
}

// expandProvider fills p's templates (all but {key}) from vars, and
// {client_id} in oauth2.headers from clientID.
func expandProvider(p Provider, vars map[string]string, custom bool, clientID string) (Resolved, error) {
	fe := &fieldErrors{}
	// blame names the config key to report: for a catalog provider the
	// field whose value did not fit, for custom the setting itself (its
	// path in the config mirrors the provider's).
	blame := func(field, tmpl string, err error) {
		var pe *placeholderError
		switch {
		case custom:
			fe.add(field, "%s", err)
		case errors.As(err, &pe):
			fe.add(pe.name, "%s", pe.msg)
		default:
			// The values fit their URL parts, yet the URL is bad: blame
			// the first value used, the only thing the user can change.
			if names, _ := placeholders(tmpl); len(names) > 0 {
				fe.add(names[0], "does not make a valid %s: %s", field, err)
			} else {
				fe.add(field, "%s", err)
			}
		}
	}
	expandU := func(field, tmpl string, kind urlKind) string {
		if tmpl == "" {
			return ""
		}
		s, err := expandURL(tmpl, vars, kind != pathURL)
		if err == nil {
			err = checkExpanded(s, kind, custom)
		}
		if err != nil {
			blame(field, tmpl, err)
		}
		return s
	}
	text := func(field, tmpl string) string {
		s, err := expand(tmpl, vars, KeyVar)
		if err != nil {
			blame(field, tmpl, err)
		}
		return s
	}
	textMap := func(field string, m map[string]string) {
		for k, v := range m {
			m[k] = text(field+"."+k, v)
		}
	}
	// oauthHeaders expands oauth2.headers, where {client_id} may appear
	// (validation allowed it only where every integration has one).
	oauthHeaders := func(m map[string]string) {
		hv := vars
		for _, k := range sortedKeys(m) {
			if !mentions(m[k], clientIDVar) {
				continue
			}
			if clientID == "" {
				fe.add(clientIDVar, "is required: provider %s sends it with every API request", p.Name)
				return
			}
			if msg := checkValue(clientID); msg != "" {
				fe.add(clientIDVar, "%s", msg)
				return
			}
			hv = maps.Clone(vars)
			hv[clientIDVar] = clientID
			break
		}
		for k, v := range m {
			s, err := expand(v, hv, "")
			if err != nil {
				blame("oauth2.headers."+k, v, err)
			}
			m[k] = s
		}
	}

	p.BaseURL = expandU("base_url", p.BaseURL, baseURL)
	if k := p.APIKey; k != nil {
		k.Prefix = text("api_key.prefix", k.Prefix)
		k.Username = text("api_key.username", k.Username)
		k.Password = text("api_key.password", k.Password)
		textMap("api_key.headers", k.Headers)
		textMap("api_key.query", k.Query)
	}
	if v := p.Verify; v != nil {
		v.Path = expandU("verify.path", v.Path, pathURL)
	}
	if o := p.OAuth2; o != nil {
		o.AuthorizeURL = expandU("oauth2.authorize_url", o.AuthorizeURL, absURL)
		o.TokenURL = expandU("oauth2.token_url", o.TokenURL, absURL)
		o.RefreshURL = expandU("oauth2.refresh_url", o.RefreshURL, absURL)
		o.RevokeURL = expandU("oauth2.revoke_url", o.RevokeURL, absURL)
		o.Issuer = expandU("oauth2.issuer", o.Issuer, baseURL)
		oauthHeaders(o.Headers)
	}
	if b := p.Basic; b != nil {
		textMap("basic.headers", b.Headers)
	}
	if o := p.OAuth1; o != nil {
		o.RequestTokenURL = expandU("oauth1.request_token_url", o.RequestTokenURL, absURL)
		o.AuthorizeURL = expandU("oauth1.authorize_url", o.AuthorizeURL, absURL)
		o.AccessTokenURL = expandU("oauth1.access_token_url", o.AccessTokenURL, absURL)
		o.Realm = text("oauth1.realm", o.Realm)
		textMap("oauth1.headers", o.Headers)
	}
	if s := p.ServiceAccount; s != nil {
		s.TokenURL = expandU("service_account.token_url", s.TokenURL, absURL)
		s.Audience = text("service_account.audience", s.Audience)
		if tmpl := s.Region; tmpl != "" {
			r, err := expand(tmpl, vars, "")
			if err == nil && !regionRe.MatchString(r) {
				err = errorf("must match %s", regionRe)
			}
			if err != nil {
				blame("service_account.region", tmpl, err)
			}
			s.Region = r
		}
		textMap("service_account.extra_token_params", s.ExtraTokenParams)
		textMap("service_account.headers", s.Headers)
		for k, v := range s.Claims {
			c, err := expand(v, vars, PublicKeyFPVar)
			if err != nil {
				blame("service_account.claims."+k, v, err)
			}
			s.Claims[k] = c
		}
		if v := s.Verify; v != nil {
			v.Path = expandU("service_account.verify.path", v.Path, pathURL)
		}
	}
	if err := fe.err(); err != nil {
		return Resolved{}, err
	}
	base, err := url.Parse(p.BaseURL)
	if err != nil { // checkURL passed, so this is a bug
		return Resolved{}, fmt.Errorf("catalog: base_url: %w", err)
	}
	return Resolved{Provider: p, BaseURL: base, Vars: vars}, nil
}

// reader pulls typed values out of a JSON-decoded config, reporting a
// field error for each value of the wrong type.
type reader struct{ fe *fieldErrors }

func (r *reader) only(m map[string]any, at string, allowed []string) {
	for _, k := range sortedKeys(m) {
		if !slices.Contains(allowed, k) {
			r.fe.add(at+k, "unknown setting (known: %s)", strings.Join(allowed, ", "))
		}
	}
}

func (r *reader) str(m map[string]any, at, key string) string {
	v, ok := m[key]
	if !ok || v == nil {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		r.fe.add(at+key, "must be a string")
	}
	return s
}

func (r *reader) boolean(m map[string]any, at, key string) bool {
	v, ok := m[key]
	if !ok || v == nil {
		return false
	}
	b, ok := v.(bool)
	if !ok {
		r.fe.add(at+key, "must be true or false")
	}
	return b
}

func (r *reader) obj(m map[string]any, at, key string) map[string]any {
	v, ok := m[key]
	if !ok || v == nil {
		return nil
	}
	o, ok := v.(map[string]any)
	if !ok {
		r.fe.add(at+key, "must be an object")
		return nil
	}
	return o
}

func (r *reader) strs(m map[string]any, at, key string) []string {
	v, ok := m[key]
	if !ok || v == nil {
		return nil
	}
	switch v := v.(type) {
	case []string:
		return slices.Clone(v)
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				r.fe.add(at+key, "must be a list of strings")
				return nil
			}
			out = append(out, s)
		}
		return out
	}
	r.fe.add(at+key, "must be a list of strings")
	return nil
}

func (r *reader) strMap(m map[string]any, at, key string) map[string]string {
	v, ok := m[key]
	if !ok || v == nil {
		return nil
	}
	switch v := v.(type) {
	case map[string]string:
		return maps.Clone(v)
	case map[string]any:
		out := make(map[string]string, len(v))
		for k, e := range v {
			s, ok := e.(string)
			if !ok {
				r.fe.add(at+key+"."+k, "must be a string")
				continue
			}
			out[k] = s
		}
		return out
	}
	r.fe.add(at+key, "must be an object of strings")
	return nil
}

func (r *reader) ints(m map[string]any, at, key string) []int {
	v, ok := m[key]
	if !ok || v == nil {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		r.fe.add(at+key, "must be a list of integers")
		return nil
	}
	out := make([]int, 0, len(list))
	for _, e := range list {
		n, err := -1, errors.New("not a number")
		if _, isString := e.(string); !isString {
			if s, ok := scalarString(e); ok {
				n, err = strconv.Atoi(s)
			}
		}
		if err != nil {
			r.fe.add(at+key, "must be a list of integers")
			return nil
		}
		out = append(out, n)
	}
	return out
}

func (r *reader) duration(m map[string]any, at, key string) Duration {
	s := r.str(m, at, key)
	if s == "" {
		return 0
	}
	var d Duration
	if err := d.parse(s); err != nil {
		r.fe.add(at+key, "must be a duration such as \"90s\" or \"1h\"")
	}
	return d
}

// shared type-checks the shared OAuth 2.0 / service-account settings; the
// integration layer reads their values from the config itself.
func (r *reader) shared(m map[string]any, at, key string) {
	switch key {
	case "scopes":
		checkScopes(at+key, r.strs(m, at, key), r.fe)
		return
	case "ca_pem":
		checkCAPEM(at+key, r.str(m, at, key), r.fe)
		return
	}
	if s := r.str(m, at, key); hasControl(s) {
		r.fe.add(at+key, "must not contain control characters")
	}
}

// maxCAPEM bounds a CA bundle in config.
const maxCAPEM = 64 << 10

// checkCAPEM accepts PEM text made only of CERTIFICATE blocks that parse:
// the roots an mTLS server's certificate is verified against.
func checkCAPEM(field, text string, fe *fieldErrors) {
	if text == "" {
		return
	}
	if len(text) > maxCAPEM {
		fe.add(field, "is larger than %d bytes", maxCAPEM)
		return
	}
	rest, n := []byte(text), 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			fe.add(field, "must hold only CERTIFICATE blocks")
			return
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			fe.add(field, "holds a certificate that cannot be parsed")
			return
		}
		n++
	}
	if n == 0 || strings.TrimSpace(string(rest)) != "" {
		fe.add(field, "must be PEM certificates (-----BEGIN CERTIFICATE-----)")
	}
}
