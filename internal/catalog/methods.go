package catalog

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
)

// The auth methods and provider added with issue 10: HTTP Basic, OAuth
// 1.0a, token exchange and OAuth-protected resources (remote MCP
// servers). The schema is additive: every field here is optional for an
// entry that does not use the method.

// MCP is the provider of remote MCP servers and any other OAuth-protected
// resource found from its URL alone: like Custom it takes its base URL
// (the server's URL) from each integration's config, and everything else
// from discovery (RFC 9728, RFC 8414) and registration (RFC 7591).
const MCP = "mcp"

// OAuth1SignatureMethods are the signature methods of OAuth 1.0a that
// Storm signs with (package methods/oauth1), in the order a UI offers
// them. HMAC-SHA256 is NetSuite's.
var OAuth1SignatureMethods = []string{"HMAC-SHA1", "HMAC-SHA256", "RSA-SHA1", "PLAINTEXT"}

// RealmNetSuite is the OAuth1.RealmFormat of NetSuite token-based
// authentication: the realm is the account id upper-cased with "_" for
// "-" ("1234567-sb1" → "1234567_SB1").
const RealmNetSuite = "netsuite"

// Basic says how HTTP Basic credentials (a user name and a password,
// saved together) are applied; the section is optional, as HTTP Basic
// needs no settings.
type Basic struct {
	// UsernameLabel and PasswordLabel are what the provider calls the
	// two values ("Account SID", "Auth token").
	UsernameLabel string `yaml:"username_label,omitempty" json:"username_label,omitempty"`
	PasswordLabel string `yaml:"password_label,omitempty" json:"password_label,omitempty"`
	// Headers are extra headers (templates) sent with every request.
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	// DocsURL is the provider's documentation of Basic authentication,
	// where it differs from docs_url.
	DocsURL string `yaml:"docs_url,omitempty" json:"docs_url,omitempty"`
}

// OAuth1 describes a provider's OAuth 1.0a (RFC 5849) service. With all
// three endpoints a person authorizes Storm (the three-legged flow);
// without any, token credentials are issued out of band and saved
// (NetSuite token-based authentication). The integration's config holds
// the client: consumer_key and consumer_secret (for RSA-SHA1, the PEM
// private key).
type OAuth1 struct {
	RequestTokenURL string `yaml:"request_token_url,omitempty" json:"request_token_url,omitempty"` // template
	AuthorizeURL    string `yaml:"authorize_url,omitempty" json:"authorize_url,omitempty"`         // template
	AccessTokenURL  string `yaml:"access_token_url,omitempty" json:"access_token_url,omitempty"`   // template
	// SignatureMethod is one of OAuth1SignatureMethods.
	SignatureMethod string `yaml:"signature_method" json:"signature_method"`
	// Realm goes into the Authorization header (template); RealmFormat
	// "netsuite" turns it into NetSuite's form of an account id.
	Realm       string `yaml:"realm,omitempty" json:"realm,omitempty"`
	RealmFormat string `yaml:"realm_format,omitempty" json:"realm_format,omitempty"`
	// Headers are extra headers (templates) sent with every request.
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	DocsURL string            `yaml:"docs_url,omitempty" json:"docs_url,omitempty"`
}

// ThreeLegged reports whether a person authorizes Storm at the provider
// (all three endpoints are known); otherwise tokens are saved.
func (o *OAuth1) ThreeLegged() bool {
	return o != nil && o.RequestTokenURL != "" && o.AuthorizeURL != "" && o.AccessTokenURL != ""
}

// Exchange is a token exchange: the saved API key, or user name and
// password, is swapped for a short-lived session token, which is what
// requests carry (shared/API.md "Token exchange"). Templates
// {{api_key}}, {{username}} and {{password}} appear in body, form and
// header values only; which of them are used says which auth method the
// block belongs to (Kind). Package methods/exchange performs it and holds
// it to every rule; validation here checks its shape.
type Exchange struct {
	Method string `yaml:"method" json:"method"`
	// Path is relative to the base URL ("/auth/session").
	Path    string            `yaml:"path" json:"path"`
	Body    map[string]any    `yaml:"body,omitempty" json:"body,omitempty"`
	Form    map[string]string `yaml:"form,omitempty" json:"form,omitempty"`
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	// TokenPointer, ExpiresInPointer and ExpiresAtPointer are RFC 6901
	// JSON pointers into the answer.
	TokenPointer     string        `yaml:"token_pointer" json:"token_pointer"`
	ExpiresInPointer string        `yaml:"expires_in_pointer,omitempty" json:"expires_in_pointer,omitempty"`
	ExpiresAtPointer string        `yaml:"expires_at_pointer,omitempty" json:"expires_at_pointer,omitempty"`
	Apply            ExchangeApply `yaml:"apply" json:"apply"`
	// DefaultTTL is the session's documented lifetime, for answers that
	// do not say (default an hour); RefreshMargin how long before expiry
	// it is renewed. Catalog entries only.
	DefaultTTL    Duration `yaml:"default_ttl,omitempty" json:"default_ttl,omitempty"`
	RefreshMargin Duration `yaml:"refresh_margin,omitempty" json:"refresh_margin,omitempty"`
	DocsURL       string   `yaml:"docs_url,omitempty" json:"docs_url,omitempty"`
}

// ExchangeApply says how requests carry the session token.
type ExchangeApply struct {
	In     string `yaml:"in" json:"in"` // header or query
	Name   string `yaml:"name" json:"name"`
	Prefix string `yaml:"prefix,omitempty" json:"prefix,omitempty"`
}

var exchangeTemplateRe = regexp.MustCompile(`\{\{[^{}]*\}\}`)

// templates lists the {{…}} templates used in e's values.
func (e *Exchange) templates() []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, k := range sortedKeys(v) {
				walk(v[k])
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		case string:
			out = append(out, exchangeTemplateRe.FindAllString(v, -1)...)
		}
	}
	walk(e.Body)
	for _, k := range sortedKeys(e.Form) {
		walk(e.Form[k])
	}
	for _, k := range sortedKeys(e.Headers) {
		walk(e.Headers[k])
	}
	return out
}

// Kind is the auth method the block belongs to: MethodAPIKey when it
// sends {{api_key}}, MethodBasic when it sends {{username}} or
// {{password}}, "" when it sends neither (or both kinds: invalid).
func (e *Exchange) Kind() string {
	if e == nil {
		return ""
	}
	key, basic := false, false
	for _, t := range e.templates() {
		switch t {
		case "{{api_key}}":
			key = true
		case "{{username}}", "{{password}}":
			basic = true
		}
	}
	switch {
	case key && !basic:
		return MethodAPIKey
	case basic && !key:
		return MethodBasic
	}
	return ""
}

// ExchangeFor returns the exchange block that applies to an integration
// using method, or nil. A catalog block belongs to the method whose
// credential it sends; a custom integration's block to the integration's
// method, api_key or basic (package methods/exchange then holds its
// templates to that method).
func (p Provider) ExchangeFor(method string) *Exchange {
	switch {
	case p.Exchange == nil:
		return nil
	case p.Name == Custom && (method == MethodAPIKey || method == MethodBasic):
		return p.Exchange
	case p.Exchange.Kind() == method:
		return p.Exchange
	}
	return nil
}

// needsVerify reports whether a catalog provider must hold a verify
// request: it takes API keys or Basic credentials that no exchange
// checks (an exchange that works is itself the check).
func needsVerify(p *Provider) bool {
	for _, m := range []string{MethodAPIKey, MethodBasic} {
		if p.Supports(m) && p.ExchangeFor(m) == nil {
			return true
		}
	}
	return false
}

func validateBasic(b *Basic, t *templates) {
	fe := t.fe
	for _, l := range []struct{ field, v string }{{"basic.username_label", b.UsernameLabel}, {"basic.password_label", b.PasswordLabel}} {
		if len(l.v) > 64 || hasControl(l.v) || strings.ContainsAny(l.v, "{}") {
			fe.add(l.field, "must be a short label without control characters or braces")
		}
	}
	checkHeaders("basic.headers", b.Headers, t)
	if b.DocsURL != "" {
		if err := checkDocsURL(b.DocsURL); err != nil {
			fe.add("basic.docs_url", "%s", err)
		}
	}
}

// checkHeaders checks extra request headers (templates).
func checkHeaders(at string, h map[string]string, t *templates) {
	for _, name := range sortedKeys(h) {
		hat := at + "." + name
		switch {
		case !headerNameRe.MatchString(name):
			t.fe.add(hat, "is not a valid header name")
		case isForbiddenHeader(name), strings.EqualFold(name, "Authorization"):
			t.fe.add(hat, "header %s cannot be set", name)
		}
		t.text(hat, h[name], false)
	}
}

func validateOAuth1(o *OAuth1, t *templates) {
	fe := t.fe
	const at = "oauth1."
	urls := []struct{ field, v string }{
		{"request_token_url", o.RequestTokenURL}, {"authorize_url", o.AuthorizeURL}, {"access_token_url", o.AccessTokenURL},
	}
	set := 0
	for _, u := range urls {
		if u.v != "" {
			set++
			t.url(at+u.field, u.v, absURL)
		}
	}
	if set != 0 && set != len(urls) {
		for _, u := range urls {
			if u.v == "" {
				fe.add(at+u.field, "is required with the other OAuth 1.0a endpoints (give all three for the three-legged flow, or none when tokens are issued out of band)")
			}
		}
	}
	switch {
	case o.SignatureMethod == "":
		fe.add(at+"signature_method", "is required (one of %s)", strings.Join(OAuth1SignatureMethods, ", "))
	case !slices.Contains(OAuth1SignatureMethods, o.SignatureMethod):
		fe.add(at+"signature_method", "must be one of %s, not %q", strings.Join(OAuth1SignatureMethods, ", "), o.SignatureMethod)
	}
	if strings.ContainsAny(o.Realm, `"\`) || len(o.Realm) > 256 {
		fe.add(at+"realm", "must be at most 256 characters without quotes or backslashes")
	}
	t.text(at+"realm", o.Realm, false)
	switch o.RealmFormat {
	case "", RealmNetSuite:
	default:
		fe.add(at+"realm_format", "must be empty or %q", RealmNetSuite)
	}
	if o.RealmFormat != "" && o.Realm == "" {
		fe.add(at+"realm_format", "needs a realm to format")
	}
	checkHeaders(at+"headers", o.Headers, t)
	if o.DocsURL != "" {
		if err := checkDocsURL(o.DocsURL); err != nil {
			fe.add(at+"docs_url", "%s", err)
		}
	}
}

// Exchange limits, as package methods/exchange sets them.
const (
	maxExchangeValues = 200
	maxExchangeValue  = 4096
)

// validateExchange checks an exchange block's shape; p is its provider.
func validateExchange(e *Exchange, p *Provider, t *templates) {
	fe := t.fe
	const at = "exchange."
	switch e.Method {
	case "GET", "POST", "PUT":
	case "":
		fe.add(at+"method", "is required (GET, POST or PUT)")
	default:
		fe.add(at+"method", "must be GET, POST or PUT, not %q", e.Method)
	}
	switch {
	case e.Path == "":
		fe.add(at+"path", "is required (relative to the base URL)")
	case strings.ContainsAny(e.Path, "{}"):
		fe.add(at+"path", "takes no templates: the credential never goes into a URL path")
	default:
		if err := checkPath(e.Path); err != nil {
			fe.add(at+"path", "%s", err)
		}
	}
	switch {
	case e.Body != nil && e.Form != nil:
		fe.add(at+"body", "and exchange.form are exclusive: give one")
	case e.Body != nil && e.Method == "GET":
		fe.add(at+"body", "cannot be sent with GET (use form, which goes into the query)")
	}
	tmpls := e.templates()
	for _, tm := range tmpls {
		if tm != "{{api_key}}" && tm != "{{username}}" && tm != "{{password}}" && !t.custom {
			fe.add(at+"body", "unknown template %s (known: {{api_key}}, {{username}}, {{password}})", tm)
		}
	}
	kind := e.Kind()
	switch {
	case t.custom:
		// The integration's method decides; package methods/exchange
		// names each template that does not fit it.
	case len(tmpls) == 0:
		fe.add("exchange", "never sends the credential: put {{api_key}}, or {{username}} and {{password}}, in a body, form or header value")
	case kind == "":
		fe.add("exchange", "mixes {{api_key}} with {{username}}/{{password}}: an exchange belongs to one auth method")
	case !p.Supports(kind):
		fe.add("exchange", "sends the %s credential, but %s is not in auth_methods", kind, kind)
	}
	values := len(e.Form) + len(e.Headers)
	for _, k := range sortedKeys(e.Form) {
		if k == "" || len(e.Form[k]) > maxExchangeValue || hasControl(e.Form[k]) {
			fe.add(at+"form."+k, "needs a name and a value of at most %d bytes without control characters", maxExchangeValue)
		}
	}
	for _, k := range sortedKeys(e.Headers) {
		switch {
		case !headerNameRe.MatchString(k):
			fe.add(at+"headers."+k, "is not a valid header name")
		case isForbiddenHeader(k), strings.EqualFold(k, "Content-Type"):
			fe.add(at+"headers."+k, "header %s cannot be set", k)
		case hasControl(e.Headers[k]):
			fe.add(at+"headers."+k, "must not contain control characters")
		}
	}
	if b, err := json.Marshal(e.Body); err != nil {
		fe.add(at+"body", "must be a JSON object")
	} else if len(b) > 16<<10 {
		fe.add(at+"body", "is larger than 16 KiB")
	}
	if values > maxExchangeValues {
		fe.add("exchange", "has more than %d values", maxExchangeValues)
	}
	checkPointer(fe, at+"token_pointer", e.TokenPointer, true)
	checkPointer(fe, at+"expires_in_pointer", e.ExpiresInPointer, false)
	checkPointer(fe, at+"expires_at_pointer", e.ExpiresAtPointer, false)
	if e.ExpiresInPointer != "" && e.ExpiresAtPointer != "" {
		fe.add(at+"expires_at_pointer", "and exchange.expires_in_pointer are exclusive: give one")
	}
	switch e.Apply.In {
	case InHeader:
		switch {
		case !headerNameRe.MatchString(e.Apply.Name):
			fe.add(at+"apply.name", "must be a header name")
		case isForbiddenHeader(e.Apply.Name):
			fe.add(at+"apply.name", "header %s cannot be set", e.Apply.Name)
		}
	case InQuery:
		if !queryNameRe.MatchString(e.Apply.Name) {
			fe.add(at+"apply.name", "must be a query parameter name")
		}
	case "":
		fe.add(at+"apply.in", "is required (header or query)")
	default:
		fe.add(at+"apply.in", "must be header or query, not %q", e.Apply.In)
	}
	if hasControl(e.Apply.Prefix) || strings.Contains(e.Apply.Prefix, "{") {
		fe.add(at+"apply.prefix", "must be plain text without control characters or braces")
	}
	if e.DefaultTTL < 0 || e.RefreshMargin < 0 {
		fe.add(at+"default_ttl", "and refresh_margin must not be negative")
	}
	if e.DefaultTTL > 0 && e.RefreshMargin >= e.DefaultTTL {
		fe.add(at+"refresh_margin", "must be shorter than default_ttl")
	}
	if e.DocsURL != "" {
		if err := checkDocsURL(e.DocsURL); err != nil {
			fe.add(at+"docs_url", "%s", err)
		}
	}
}

// checkPointer checks RFC 6901 syntax: "/" then tokens in which "~" is
// only "~0" or "~1".
func checkPointer(fe *fieldErrors, field, p string, required bool) {
	if p == "" {
		if required {
			fe.add(field, `is required (an RFC 6901 JSON pointer such as "/token")`)
		}
		return
	}
	if !strings.HasPrefix(p, "/") || len(p) > 1024 || hasControl(p) {
		fe.add(field, `must be an RFC 6901 JSON pointer starting with "/"`)
		return
	}
	for i := 0; i < len(p); i++ {
		if p[i] == '~' && (i+1 == len(p) || (p[i+1] != '0' && p[i+1] != '1')) {
			fe.add(field, `has a "~" that is not "~0" or "~1" (RFC 6901 §3)`)
			return
		}
	}
}

// cloneJSON deep-copies a decoded JSON (or YAML) value.
func cloneJSON(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = cloneJSON(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = cloneJSON(x)
		}
		return out
	}
	return v
}

func (e *Exchange) clone() *Exchange {
	if e == nil {
		return nil
	}
	c := *e
	if e.Body != nil {
		c.Body = cloneJSON(e.Body).(map[string]any)
	}
	c.Form = cloneMap(e.Form)
	c.Headers = cloneMap(e.Headers)
	return &c
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// exchangeFromConfig reads a custom integration's exchange block. Its
// members are checked in full by package methods/exchange, which names
// the fields; here a block that does not even decode is refused.
func exchangeFromConfig(m map[string]any, fe *fieldErrors) *Exchange {
	b, err := json.Marshal(m)
	if err != nil {
		fe.add("exchange", "must be a JSON object")
		return nil
	}
	var e Exchange
	if err := json.Unmarshal(b, &e); err != nil {
		fe.add("exchange", "is not an exchange block (method, path, body or form, token_pointer, apply)")
		return nil
	}
	return &e
}

// validateProtectedResource checks the oauth2 section of an
// OAuth-protected resource: nothing but the token's placement, headers
// and the refresh tunables may be set, as discovery supplies the rest.
func validateProtectedResource(o *OAuth2, t *templates) {
	fe := t.fe
	for _, f := range []struct{ field, v string }{
		{"authorize_url", o.AuthorizeURL}, {"token_url", o.TokenURL}, {"refresh_url", o.RefreshURL},
		{"revoke_url", o.RevokeURL}, {"issuer", o.Issuer}, {"token_body_format", o.TokenBodyFormat},
	} {
		if f.v != "" {
			fe.add("oauth2."+f.field, "is discovered for a protected resource (RFC 9728, RFC 8414): leave it out")
		}
	}
	if len(o.ExtraAuthorizeParams)+len(o.ExtraTokenParams) > 0 || o.ScopeSeparator != "" || o.RotatesRefreshTokens || o.NoExpiry {
		fe.add("oauth2", "a protected resource takes only protected_resource, scopes, headers, default_ttl, refresh_margin and docs_url")
	}
	switch o.AuthStyle {
	case "", "basic", "post":
	default:
		fe.add("oauth2.auth_style", "must be basic or post, not %q", o.AuthStyle)
	}
	if o.AuthStyle == "" {
		o.AuthStyle = "basic" // the registration's method replaces it
	}
	// PKCE S256 always (the MCP authorization spec requires it).
	o.PKCE = true
	checkScopes("oauth2.scopes", o.Scopes, fe)
	if o.DocsURL != "" {
		if err := checkDocsURL(o.DocsURL); err != nil {
			fe.add("oauth2.docs_url", "%s", err)
		}
	}
	if o.DefaultTTL < 0 || o.RefreshMargin < 0 {
		fe.add("oauth2.default_ttl", "and refresh_margin must not be negative")
	}
	o.TokenHeader, o.TokenPrefix = "Authorization", "Bearer "
	for _, name := range sortedKeys(o.Headers) {
		at := "oauth2.headers." + name
		switch {
		case !headerNameRe.MatchString(name):
			fe.add(at, "is not a valid header name")
		case isForbiddenHeader(name), strings.EqualFold(name, "Authorization"):
			fe.add(at, "header %s cannot be set", name)
		}
		t.text(at, o.Headers[name], false)
	}
}

// mcpKeys are the keys of an mcp integration's config: the server's URL
// and, optionally, a client registered by hand and scopes that replace
// the discovered ones.
var mcpKeys = []string{"base_url", "client_id", "client_secret", "scopes"}

// resolveMCP builds the definition of a remote MCP server (or any
// OAuth-protected resource) from its URL: OAuth 2.0 with everything else
// discovered. As for custom, http URLs are allowed here: whether a
// loopback or private address may be reached is the egress guard's
// decision.
func (c *Catalog) resolveMCP(config map[string]any) (Resolved, error) {
	fe := &fieldErrors{}
	r := &reader{fe: fe}
	r.only(config, "", mcpKeys)
	p := Provider{Name: MCP, DisplayName: "Remote MCP server", AuthMethods: []string{MethodOAuth2}}
	if e, ok := c.byName[MCP]; ok {
		p.DisplayName, p.DocsURL, p.Categories = e.DisplayName, e.DocsURL, slices.Clone(e.Categories)
	}
	p.BaseURL = r.str(config, "", "base_url")
	if _, isString := config["base_url"].(string); p.BaseURL == "" && (isString || config["base_url"] == nil) {
		fe.add("base_url", "is required: the MCP server's URL, such as https://mcp.example.com/mcp")
	}
	for _, k := range []string{"client_id", "client_secret", "scopes"} {
		r.shared(config, "", k)
	}
	p.OAuth2 = &OAuth2{ProtectedResource: true, Scopes: r.strs(config, "", "scopes")}
	if err := fe.err(); err != nil {
		return Resolved{}, err
	}
	validateProvider(&p, fe, true)
	if err := fe.err(); err != nil {
		return Resolved{}, err
	}
	return expandProvider(p, map[string]string{}, true, "")
}
