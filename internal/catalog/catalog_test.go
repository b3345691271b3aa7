package catalog

import (
	"encoding/json"
	"errors"
	"maps"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/stormcreds/storm/internal/proxy"
)

var (
	loadOnce sync.Once
	loaded   *Catalog
	loadErr  error
)

func mustLoad(tb testing.TB) *Catalog {
	tb.Helper()
	loadOnce.Do(func() { loaded, loadErr = Load() })
	if loadErr != nil {
		tb.Fatalf("Load: %v", loadErr)
	}
	return loaded
}

// sampleConfig returns a valid value for a config field of a provider:
// testdata/samples.yaml holds one for every required field name used in
// the embedded catalog.
func sampleConfig(tb testing.TB, provider, field string) (string, bool) {
	tb.Helper()
	samplesOnce.Do(func() {
		b, err := os.ReadFile("testdata/samples.yaml")
		if err == nil {
			err = yaml.Unmarshal(b, &samples)
		}
		samplesErr = err
	})
	if samplesErr != nil {
		tb.Fatalf("testdata/samples.yaml: %v", samplesErr)
	}
	if v, ok := samples.Providers[provider][field]; ok {
		return v, true
	}
	v, ok := samples.Values[field]
	return v, ok
}

var (
	samplesOnce sync.Once
	samplesErr  error
	samples     struct {
		Values    map[string]string            `yaml:"values"`
		Providers map[string]map[string]string `yaml:"providers"`
	}
)

// sampleShared holds a value for each shared key a provider's
// service_account.requires may name.
var sampleShared = map[string]string{
	"client_id":       "storm-test-client",
	"client_secret":   "storm-test-secret",
	"issuer":          "storm-test-issuer",
	"subject":         "svc@acme.example",
	"app_id":          "12345",
	"installation_id": "67890",
}

func TestEmbeddedCatalog(t *testing.T) {
	c := mustLoad(t)
	list := c.List()
	if !slices.IsSortedFunc(list, func(a, b Provider) int { return strings.Compare(a.Name, b.Name) }) {
		t.Error("List is not sorted by name")
	}
	var apiKey, oauth, serviceAccount []string
	for _, p := range list {
		t.Run(p.Name, func(t *testing.T) {
			if !strings.HasPrefix(p.DocsURL, "https://") {
				t.Errorf("docs_url %q is not https", p.DocsURL)
			}
			if len(p.Categories) == 0 {
				t.Error("no category: every catalog entry is in at least one, so the picker's filters find it")
			}
			if p.Name == Custom || p.Name == MCP {
				return
			}
			if !strings.HasPrefix(p.BaseURL, "https://") {
				t.Errorf("base_url %q is not https", p.BaseURL)
			}
			if p.Supports(MethodAPIKey) && p.ExchangeFor(MethodAPIKey) == nil && (p.APIKey == nil || p.Verify == nil) {
				t.Fatalf("want api_key and verify sections")
			}
			checkCatalogNewMethods(t, p)
			if p.Supports(MethodOAuth2) {
				checkCatalogOAuth2(t, p)
			}
			cfg := map[string]any{}
			for _, f := range p.Config {
				if f.Required {
					v, ok := sampleConfig(t, p.Name, f.Name)
					if !ok {
						t.Fatalf("no sample value for required field %q; add one to testdata/samples.yaml", f.Name)
					}
					cfg[f.Name] = v
				}
			}
			if p.Supports(MethodOAuth2) {
				cfg["client_id"] = "storm-test-client"
			}
			r, err := c.Resolve(p.Name, cfg)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if r.BaseURL.Scheme != "https" || r.BaseURL.Hostname() == "" {
				t.Errorf("resolved base URL %v is not https with a host", r.BaseURL)
			}
			if v := r.Provider.Verify; v != nil {
				u, err := endpoint(r, v.Path)
				if err != nil || u.Host != r.BaseURL.Host {
					t.Errorf("verify endpoint %v (err %v) leaves %s", u, err, r.BaseURL.Host)
				}
			}
			if p.Supports(MethodServiceAccount) {
				checkCatalogServiceAccount(t, c, p, cfg, r)
			}
			if o := r.Provider.OAuth2; o != nil {
				for name, raw := range map[string]string{"authorize_url": o.AuthorizeURL, "token_url": o.TokenURL,
					"refresh_url": o.RefreshURL, "revoke_url": o.RevokeURL, "issuer": o.Issuer} {
					if raw == "" {
						continue
					}
					u, err := url.Parse(raw)
					if err != nil || u.Scheme != "https" || u.Hostname() == "" || strings.ContainsAny(raw, "{}") {
						t.Errorf("resolved %s %q is not an expanded https URL", name, raw)
					}
				}
				for k, v := range o.Headers {
					if strings.ContainsAny(v, "{}") {
						t.Errorf("resolved oauth2.headers.%s %q still has a placeholder", k, v)
					}
				}
			}
		})
		if p.Name == Custom || p.Name == MCP {
			continue
		}
		if p.Supports(MethodAPIKey) {
			apiKey = append(apiKey, p.Name)
		}
		if p.Supports(MethodOAuth2) {
			oauth = append(oauth, p.Name)
		}
		if p.Supports(MethodServiceAccount) {
			serviceAccount = append(serviceAccount, p.Name)
		}
	}
	// The catalog's promise (issue 11): at least 300 providers, 120 with
	// OAuth 2.0, 150 with API keys, 25 with service accounts, and a verify
	// request for 85% of them.
	var verified int
	for _, p := range list {
		if p.Verify != nil || (p.ServiceAccount != nil && p.ServiceAccount.Verify != nil) {
			verified++
		}
	}
	total := len(list) - 1 // custom is not a provider of its own
	for _, m := range []struct {
		what      string
		got, want int
	}{
		{"providers", total, 300}, {"oauth2 providers", len(oauth), 120}, {"api_key providers", len(apiKey), 150},
		{"service_account providers", len(serviceAccount), 25}, {"providers with a verify request (per cent)", verified * 100 / total, 85},
	} {
		if m.got < m.want {
			t.Errorf("%d %s, want at least %d", m.got, m.what, m.want)
		}
	}
	t.Logf("%d of %d providers (%.1f%%) have a verify request", verified, total, float64(verified)*100/float64(total))
	custom, ok := c.Get(Custom)
	if !ok {
		t.Fatal("no custom provider")
	}
	for _, m := range []string{MethodAPIKey, MethodOAuth2, MethodServiceAccount} {
		if !custom.Supports(m) {
			t.Errorf("custom does not support %s", m)
		}
	}
	t.Logf("%d providers, %d with api_key, %d with oauth2: %s", len(list), len(apiKey), len(oauth), strings.Join(oauth, " "))
	t.Logf("%d with service_account: %s", len(serviceAccount), strings.Join(serviceAccount, " "))
}

// checkCatalogServiceAccount holds a catalog entry's service_account
// section to the rules every provider must meet, and resolves it for a
// service-account integration. cfg holds the provider's required config
// fields; r is the provider resolved with them.
func checkCatalogServiceAccount(t *testing.T, c *Catalog, p Provider, cfg map[string]any, r Resolved) {
	t.Helper()
	s := p.ServiceAccount
	if s == nil {
		t.Fatal("service_account in auth_methods without a service_account section")
	}
	if len(p.AuthMethods) > 1 && !strings.HasPrefix(s.DocsURL, "https://") {
		t.Errorf("service_account.docs_url %q: a provider with other auth methods needs its service-account docs link", s.DocsURL)
	}
	switch s.Kind {
	case "jwt_bearer":
		if s.TokenURL == "" && !s.SelfSigned {
			t.Error("jwt_bearer without token_url")
		}
	case "client_credentials":
		if s.TokenURL == "" || s.ClientAuth == "" {
			t.Errorf("client_credentials token_url %q client_auth %q", s.TokenURL, s.ClientAuth)
		}
	case "aws_sigv4":
		if s.Region == "" || s.Service == "" {
			t.Errorf("aws_sigv4 region %q service %q", s.Region, s.Service)
		}
	}
	if s.TokenURL != "" && !strings.HasPrefix(s.TokenURL, "https://") {
		t.Errorf("service_account.token_url %q is not https", s.TokenURL)
	}
	// Minting a token proves a key of the minting kinds; a signature or a
	// client certificate proves nothing until a request is made.
	mints := s.Kind == "google" || s.Kind == "jwt_bearer" || s.Kind == "client_credentials"
	if p.Verify == nil && s.Verify == nil && !mints && p.Name != "swish" {
		t.Error("no verify request for service accounts")
	}

	cfg = maps.Clone(cfg)
	for _, k := range s.Requires {
		if _, ok := cfg[k]; !ok {
			v, ok := sampleShared[k]
			if !ok {
				v, _ = sampleConfig(t, p.Name, k)
			}
			if v == "" {
				t.Fatalf("no sample value for service_account.requires %q", k)
			}
			cfg[k] = v
		}
	}
	sr, err := c.ResolveMethod(p.Name, MethodServiceAccount, cfg)
	if err != nil {
		t.Fatalf("ResolveMethod: %v", err)
	}
	if sr.BaseURL.String() != r.BaseURL.String() {
		t.Errorf("base URL %v, want %v", sr.BaseURL, r.BaseURL)
	}
	rs := sr.Provider.ServiceAccount
	for name, raw := range map[string]string{"token_url": rs.TokenURL} {
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "https" || u.Hostname() == "" || strings.ContainsAny(raw, "{}") {
			t.Errorf("resolved service_account.%s %q is not an expanded https URL", name, raw)
		}
	}
	for field, m := range map[string]map[string]string{"audience": {"": rs.Audience}, "extra_token_params": rs.ExtraTokenParams,
		"headers": rs.Headers, "region": {"": rs.Region}} {
		for k, v := range m {
			if strings.ContainsAny(v, "{}") {
				t.Errorf("resolved service_account.%s %s %q still has a placeholder", field, k, v)
			}
		}
	}
	for k, v := range rs.Claims {
		if strings.ContainsAny(strings.ReplaceAll(v, "{"+PublicKeyFPVar+"}", ""), "{}") {
			t.Errorf("resolved claim %s %q still has a placeholder", k, v)
		}
	}
	if rs.Kind == "aws_sigv4" && !regionRe.MatchString(rs.Region) {
		t.Errorf("resolved region %q", rs.Region)
	}
	if v := rs.Verify; v != nil {
		u, err := endpoint(sr, v.Path)
		if err != nil || u.Host != sr.BaseURL.Host {
			t.Errorf("service_account verify endpoint %v (err %v) leaves %s", u, err, sr.BaseURL.Host)
		}
	}
	// Every key the provider requires is enforced.
	for _, k := range s.Requires {
		without := maps.Clone(cfg)
		delete(without, k)
		_, err := c.ResolveMethod(p.Name, MethodServiceAccount, without)
		if err == nil {
			t.Errorf("ResolveMethod accepted a config without required %q", k)
		} else if got := fieldErrs(t, err); !slices.Equal(got, []string{k}) {
			t.Errorf("without %q: fields %v (%v)", k, got, err)
		}
	}
}

// checkCatalogOAuth2 holds a catalog entry's oauth2 section to the rules
// every provider must meet, whatever validation allows for custom.
func checkCatalogOAuth2(t *testing.T, p Provider) {
	t.Helper()
	o := p.OAuth2
	if o == nil {
		t.Fatal("oauth2 in auth_methods without an oauth2 section")
	}
	if o.ProtectedResource {
		return // checkCatalogNewMethods
	}
	if o.AuthStyle != "basic" && o.AuthStyle != "post" {
		t.Errorf("auth_style %q, want basic or post set explicitly", o.AuthStyle)
	}
	if (o.AuthorizeURL == "" || o.TokenURL == "") && o.Issuer == "" {
		t.Errorf("want authorize_url and token_url, or issuer")
	}
	for name, u := range map[string]string{"authorize_url": o.AuthorizeURL, "token_url": o.TokenURL,
		"refresh_url": o.RefreshURL, "revoke_url": o.RevokeURL, "issuer": o.Issuer} {
		if u != "" && !strings.HasPrefix(u, "https://") {
			t.Errorf("%s %q is not https", name, u)
		}
	}
	if p.Supports(MethodAPIKey) && !strings.HasPrefix(o.DocsURL, "https://") {
		t.Errorf("oauth2.docs_url %q: a provider that also takes API keys needs its OAuth docs link", o.DocsURL)
	}
	if o.TokenHeader == "" || (o.TokenHeader == "Authorization" && o.TokenPrefix == "") {
		t.Errorf("token header %q prefix %q: defaults not filled", o.TokenHeader, o.TokenPrefix)
	}
	if o.NoExpiry && o.DefaultTTL > 0 {
		t.Errorf("no_expiry with default_ttl")
	}
	for k := range o.ExtraAuthorizeParams {
		if slices.Contains(protectedAuthorizeParams, strings.ToLower(k)) {
			t.Errorf("extra_authorize_params overrides %s", k)
		}
	}
	for k := range o.ExtraTokenParams {
		if slices.Contains(protectedTokenParams, strings.ToLower(k)) {
			t.Errorf("extra_token_params overrides %s", k)
		}
	}
}

func TestGetReturnsCopy(t *testing.T) {
	c := mustLoad(t)
	p, _ := c.Get("github")
	p.APIKey.Headers["Accept"] = "changed"
	p.AuthMethods[0] = "changed"
	p.OAuth2.Headers["Accept"] = "changed"
	p.OAuth2.Scopes[0] = "changed"
	q, _ := c.Get("github")
	if q.APIKey.Headers["Accept"] == "changed" || q.AuthMethods[0] == "changed" ||
		q.OAuth2.Headers["Accept"] == "changed" || q.OAuth2.Scopes[0] == "changed" {
		t.Fatal("Get exposed the catalog's own entry")
	}
}

// valid is a minimal valid provider file that the cases below break.
const valid = `
name: acme
display_name: Acme
docs_url: https://acme.example/docs
base_url: https://{subdomain}.acme.example
auth_methods: [api_key]
config:
  - name: subdomain
    label: Subdomain
    required: true
    pattern: '^[a-z0-9-]+$'
api_key:
  in: header
  name: Authorization
  prefix: 'Bearer '
verify:
  method: GET
  path: /me
`

func TestLoadFSRejects(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string // substrings of the error
	}{
		{"duplicate name", map[string]string{"a.yaml": valid, "b.yaml": valid},
			[]string{"b.yaml", "duplicate provider name \"acme\" (also in a.yaml)"}},
		{"unknown field", map[string]string{"acme.yaml": valid + "verfy:\n  method: GET\n"},
			[]string{"acme.yaml", "field verfy not found"}},
		{"bad placeholder", map[string]string{"acme.yaml": strings.Replace(valid, "{subdomain}.acme", "{tenant}.acme", 1)},
			[]string{"acme.yaml", "base_url: placeholder {tenant} is not a declared config field"}},
		{"malformed placeholder", map[string]string{"acme.yaml": strings.Replace(valid, "{subdomain}.acme", "{subdomain.acme", 1)},
			[]string{"base_url: unclosed"}},
		{"key in base_url", map[string]string{"acme.yaml": strings.Replace(valid, "{subdomain}.acme", "{key}.acme", 1)},
			[]string{"base_url: {key} is only allowed in the api_key section"}},
		{"missing pattern for base_url field", map[string]string{"acme.yaml": strings.Replace(valid, "    pattern: '^[a-z0-9-]+$'\n", "", 1)},
			[]string{"base_url: config field \"subdomain\" is used in a URL and needs a pattern"}},
		{"loose pattern", map[string]string{"acme.yaml": strings.Replace(valid, "'^[a-z0-9-]+$'", "'.+'", 1)},
			[]string{"accepts \"evil.com/x\""}},
		{"pattern does not compile", map[string]string{"acme.yaml": strings.Replace(valid, "'^[a-z0-9-]+$'", "'[a-'", 1)},
			[]string{"config[0].pattern: does not compile"}},
		{"http base_url", map[string]string{"acme.yaml": strings.Replace(valid, "https://{subdomain}", "http://{subdomain}", 1)},
			[]string{"base_url: must be an https URL"}},
		{"bad auth style", map[string]string{"acme.yaml": strings.Replace(valid, "auth_methods: [api_key]", "auth_methods: [api_key, oauth2]", 1) +
			"oauth2:\n  authorize_url: https://acme.example/authorize\n  token_url: https://acme.example/token\n  auth_style: header\n"},
			[]string{"oauth2.auth_style: must be basic or post"}},
		{"oauth2 without token_url", map[string]string{"acme.yaml": strings.Replace(valid, "auth_methods: [api_key]", "auth_methods: [api_key, oauth2]", 1) +
			"oauth2:\n  authorize_url: https://acme.example/authorize\n  auth_style: basic\n"},
			[]string{"oauth2.token_url: token_url or issuer is required"}},
		{"bad duration", map[string]string{"acme.yaml": strings.Replace(valid, "auth_methods: [api_key]", "auth_methods: [api_key, oauth2]", 1) +
			"oauth2:\n  issuer: https://acme.example\n  auth_style: basic\n  default_ttl: soon\n"},
			[]string{"duration"}},
		{"bad service account kind", map[string]string{"acme.yaml": strings.Replace(valid, "auth_methods: [api_key]", "auth_methods: [api_key, service_account]", 1) +
			"service_account:\n  kind: kerberos\n"},
			[]string{"service_account.kind: must be one of"}},
		{"section without method", map[string]string{"acme.yaml": valid + "service_account:\n  kind: mtls\n"},
			[]string{"service_account: is set but service_account is not in auth_methods"}},
		{"method without section", map[string]string{"acme.yaml": strings.Replace(valid, "auth_methods: [api_key]", "auth_methods: [api_key, oauth2]", 1)},
			[]string{"oauth2: is required by auth method oauth2"}},
		{"unknown method", map[string]string{"acme.yaml": strings.Replace(valid, "auth_methods: [api_key]", "auth_methods: [api_key, saml]", 1)},
			[]string{"auth_methods[1]: unknown auth method \"saml\""}},
		{"bad in", map[string]string{"acme.yaml": strings.Replace(valid, "in: header", "in: cookie", 1)},
			[]string{"api_key.in: must be header, query or basic"}},
		{"header without name", map[string]string{"acme.yaml": strings.Replace(valid, "  name: Authorization\n", "", 1)},
			[]string{"api_key.name: is required with in=header"}},
		{"basic without key", map[string]string{"acme.yaml": strings.Replace(valid, "  in: header\n  name: Authorization\n  prefix: 'Bearer '\n",
			"  in: basic\n  username: api\n  password: secret\n", 1)},
			[]string{"basic auth needs {key}"}},
		{"verify path", map[string]string{"acme.yaml": strings.Replace(valid, "path: /me", "path: me", 1)},
			[]string{"verify.path: must start with a single /"}},
		{"verify path the proxy refuses", map[string]string{"acme.yaml": strings.Replace(valid, "path: /me", "path: '/me/../admin'", 1)},
			[]string{"verify.path:", "dot or blank segment"}},
		{"verify path with a space", map[string]string{"acme.yaml": strings.Replace(valid, "path: /me", "path: '/m e'", 1)},
			[]string{"verify.path:", "percent-encoded"}},
		{"verify method", map[string]string{"acme.yaml": strings.Replace(valid, "method: GET", "method: DELETE", 1)},
			[]string{"verify.method: must be GET, HEAD or POST"}},
		{"body with GET", map[string]string{"acme.yaml": valid + "  body: '{}'\n"},
			[]string{"verify.body: is only sent with method POST"}},
		{"missing docs_url", map[string]string{"acme.yaml": strings.Replace(valid, "docs_url: https://acme.example/docs\n", "", 1)},
			[]string{"docs_url: is required"}},
		{"http docs_url", map[string]string{"acme.yaml": strings.Replace(valid, "docs_url: https://", "docs_url: http://", 1)},
			[]string{"docs_url: must be an https URL"}},
		{"bad name", map[string]string{"acme.yaml": strings.Replace(valid, "name: acme", "name: Acme", 1)},
			[]string{"name: must be a lowercase slug"}},
		{"reserved field name", map[string]string{"acme.yaml": strings.Replace(valid, "{subdomain}", "{key}", 1)}, // fails in base_url
			[]string{"{key} is only allowed"}},
		{"header value brace", map[string]string{"acme.yaml": strings.Replace(valid, "prefix: 'Bearer '", "prefix: 'Bearer {'", 1)},
			[]string{"api_key.prefix: unclosed"}},
		{"empty file", map[string]string{"acme.yaml": ""}, []string{"acme.yaml: empty file"}},
		{"two documents", map[string]string{"acme.yaml": valid + "---\n" + valid}, []string{"want one YAML document"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for name, body := range tc.files {
				fsys[name] = &fstest.MapFile{Data: []byte(body)}
			}
			_, err := LoadFS(fsys)
			if err == nil {
				t.Fatal("LoadFS accepted a bad catalog")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// validOAuth is a minimal valid OAuth-only provider that the cases below
// break. Lines are appended under oauth2 with oauthWith.
const validOAuth = `
name: acme
display_name: Acme
docs_url: https://acme.example/docs
base_url: https://{subdomain}.acme.example
auth_methods: [oauth2]
config:
  - name: subdomain
    label: Subdomain
    required: true
    pattern: '^[a-z0-9-]+$'
oauth2:
  authorize_url: https://{subdomain}.acme.example/oauth/authorize
  token_url: https://{subdomain}.acme.example/oauth/token
  scopes: [read]
  auth_style: basic
`

func oauthWith(lines ...string) string {
	return validOAuth + "  " + strings.Join(lines, "\n  ") + "\n"
}

func TestLoadFSRejectsOAuth2(t *testing.T) {
	both := strings.Replace(valid, "auth_methods: [api_key]", "auth_methods: [api_key, oauth2]", 1) +
		"oauth2:\n  issuer: https://id.acme.example\n  auth_style: post\n"
	tests := []struct {
		name string
		file string
		want []string
	}{
		{"missing auth_style", strings.Replace(validOAuth, "  auth_style: basic\n", "", 1),
			[]string{"oauth2.auth_style: is required (basic or post)"}},
		{"neither endpoints nor issuer", strings.Replace(strings.Replace(validOAuth, "  authorize_url: https://{subdomain}.acme.example/oauth/authorize\n", "", 1),
			"  token_url: https://{subdomain}.acme.example/oauth/token\n", "", 1),
			[]string{"oauth2.token_url: token_url or issuer is required", "oauth2.authorize_url: authorize_url or issuer is required"}},
		{"http token_url", strings.Replace(validOAuth, "token_url: https://", "token_url: http://", 1),
			[]string{"oauth2.token_url: must be an https URL"}},
		{"http revoke_url", oauthWith("revoke_url: http://acme.example/revoke"), []string{"oauth2.revoke_url: must be an https URL"}},
		{"http issuer", oauthWith("issuer: http://acme.example"), []string{"oauth2.issuer: must be an https URL"}},
		{"issuer with query", oauthWith("issuer: https://acme.example/?tenant=x"), []string{"oauth2.issuer: must not have a query"}},
		{"undeclared placeholder", strings.Replace(validOAuth, "{subdomain}.acme.example/oauth/token", "{tenant}.acme.example/oauth/token", 1),
			[]string{"oauth2.token_url: placeholder {tenant} is not a declared config field"}},
		{"protected authorize param", oauthWith("extra_authorize_params:", "  redirect_uri: https://evil.example/cb"),
			[]string{"oauth2.extra_authorize_params.redirect_uri: is set by the OAuth client"}},
		{"protected authorize param any case", oauthWith("extra_authorize_params:", "  State: fixed"),
			[]string{"oauth2.extra_authorize_params.State: is set by the OAuth client"}},
		{"protected scope param", oauthWith("extra_authorize_params:", "  scope: admin"),
			[]string{"oauth2.extra_authorize_params.scope: is set by the OAuth client"}},
		{"protected token param", oauthWith("extra_token_params:", "  grant_type: password"),
			[]string{"oauth2.extra_token_params.grant_type: is set by the OAuth client"}},
		{"empty param value", oauthWith("extra_authorize_params:", "  prompt: ''"),
			[]string{"oauth2.extra_authorize_params.prompt: must not be empty"}},
		{"bad param name", oauthWith("extra_authorize_params:", "  'a b': x"),
			[]string{"oauth2.extra_authorize_params.a b: is not a valid parameter name"}},
		{"control character in param", oauthWith("extra_token_params:", "  x: \"a\\nb\""),
			[]string{"oauth2.extra_token_params.x: must not contain control characters"}},
		{"three-character scope separator", oauthWith("scope_separator: ' + '"), nil}, // valid
		{"letter scope separator", oauthWith("scope_separator: x"), []string{"oauth2.scope_separator: must be one to three"}},
		{"scope with separator", strings.Replace(validOAuth, "scopes: [read]", "scopes: ['a,b']", 1) + "  scope_separator: ','\n",
			[]string{"oauth2.scopes[0]: contains the scope separator \",\""}},
		{"scope with space", strings.Replace(validOAuth, "scopes: [read]", "scopes: ['read write']", 1),
			[]string{"oauth2.scopes[0]: must be non-empty and without spaces"}},
		{"duplicate scope", strings.Replace(validOAuth, "scopes: [read]", "scopes: [read, read]", 1),
			[]string{"oauth2.scopes[1]: duplicate scope"}},
		{"negative duration", oauthWith("refresh_token_ttl: -1h"), []string{"oauth2.refresh_token_ttl: must not be negative"}},
		{"no_expiry with default_ttl", oauthWith("no_expiry: true", "default_ttl: 1h"), []string{"oauth2.no_expiry: excludes default_ttl"}},
		{"margin not below default_ttl", oauthWith("default_ttl: 5m", "refresh_margin: 5m"),
			[]string{"oauth2.refresh_margin: must be shorter than default_ttl"}},
		{"forbidden token header", oauthWith("token_header: Host"), []string{"oauth2.token_header: header Host cannot be set"}},
		{"header repeats token header", oauthWith("headers:", "  authorization: x"), []string{"oauth2.headers.authorization: repeats the token header"}},
		{"header with key", oauthWith("headers:", "  X-Key: '{key}'"), []string{"oauth2.headers.X-Key: {key} is only allowed in the api_key section"}},
		{"client_id where api keys are taken", both + "  headers:\n    Client-Id: '{client_id}'\n",
			[]string{"oauth2.headers.Client-Id: {client_id} is only allowed for a catalog provider whose only auth method is oauth2"}},
		{"bad token body format", oauthWith("token_body_format: xml"), []string{"oauth2.token_body_format: must be form or json"}},
		{"http oauth docs", oauthWith("docs_url: http://acme.example/oauth"), []string{"oauth2.docs_url: must be an https URL"}},
		{"api key provider without verify stays an error", strings.Replace(both, "verify:\n  method: GET\n  path: /me\n", "", 1),
			[]string{"verify: is required for a provider that takes API keys"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadFS(fstest.MapFS{"acme.yaml": &fstest.MapFile{Data: []byte(tc.file)}})
			if tc.want == nil {
				if err != nil {
					t.Fatalf("LoadFS rejected a valid file: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("LoadFS accepted a bad catalog")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadFSOAuth2Valid(t *testing.T) {
	issuerOnly := strings.Replace(strings.Replace(validOAuth, "  authorize_url: https://{subdomain}.acme.example/oauth/authorize\n", "", 1),
		"  token_url: https://{subdomain}.acme.example/oauth/token\n", "  issuer: https://{subdomain}.acme.example\n", 1)
	for name, file := range map[string]string{
		"endpoints":   validOAuth,
		"issuer only": issuerOnly,
		"everything": oauthWith("issuer: https://{subdomain}.acme.example/", "revoke_url: https://{subdomain}.acme.example/oauth/revoke",
			"refresh_url: https://{subdomain}.acme.example/oauth/refresh", "docs_url: https://acme.example/docs#oauth",
			"scope_separator: ','", "pkce: true", "rotates_refresh_tokens: true", "default_ttl: 2h", "refresh_margin: 5m",
			"refresh_token_ttl: 1440h", "extra_authorize_params:", "  access_type: offline", "extra_token_params:", "  audience: api",
			"token_header: X-Acme-Token", "token_body_format: json", "headers:", "  X-Acme-Site: '{subdomain}'", "  Client-Id: '{client_id}'"),
	} {
		t.Run(name, func(t *testing.T) {
			c, err := LoadFS(fstest.MapFS{"acme.yaml": &fstest.MapFile{Data: []byte(file)}})
			if err != nil {
				t.Fatal(err)
			}
			p, _ := c.Get("acme")
			if o := p.OAuth2; name == "everything" && (o.TokenHeader != "X-Acme-Token" || o.TokenPrefix != "") {
				t.Errorf("token header %q prefix %q: an explicit header takes no default prefix", o.TokenHeader, o.TokenPrefix)
			}
			if o := p.OAuth2; name != "everything" && (o.TokenHeader != "Authorization" || o.TokenPrefix != "Bearer ") {
				t.Errorf("token header %q prefix %q, want the Bearer default", o.TokenHeader, o.TokenPrefix)
			}
		})
	}
}

func TestLoadFSValid(t *testing.T) {
	c, err := LoadFS(fstest.MapFS{"acme.yaml": &fstest.MapFile{Data: []byte(valid)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get("acme"); !ok {
		t.Fatal("acme not loaded")
	}
}

// fieldErrs returns the field paths of a *ValidationError.
func fieldErrs(t *testing.T, err error) []string {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a *ValidationError", err, err)
	}
	var fields []string
	for _, e := range ve.Errors {
		fields = append(fields, e.Field)
	}
	return fields
}

func TestResolveSubdomainProvider(t *testing.T) {
	c := mustLoad(t)
	r, err := c.Resolve("zendesk", map[string]any{"subdomain": "acme", "email": "ops@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.BaseURL.String(); got != "https://acme.zendesk.com" {
		t.Errorf("base URL %s", got)
	}
	if k := r.Provider.APIKey; k.Username != "ops@example.com/token" || k.Password != "{key}" {
		t.Errorf("basic templates %q / %q", k.Username, k.Password)
	}
	if r.Vars["subdomain"] != "acme" {
		t.Errorf("vars %v", r.Vars)
	}

	tests := []struct {
		name   string
		config map[string]any
		want   []string
	}{
		{"path injection", map[string]any{"subdomain": "evil.com/x", "email": "a@b.co"}, []string{"subdomain"}},
		{"dot", map[string]any{"subdomain": "a.b", "email": "a@b.co"}, []string{"subdomain"}},
		{"userinfo", map[string]any{"subdomain": "evil.com@x", "email": "a@b.co"}, []string{"subdomain"}},
		{"upper case", map[string]any{"subdomain": "ACME", "email": "a@b.co"}, []string{"subdomain"}},
		{"missing", map[string]any{"email": "a@b.co"}, []string{"subdomain"}},
		{"empty", map[string]any{"subdomain": "", "email": "a@b.co"}, []string{"subdomain"}},
		{"not a string", map[string]any{"subdomain": true, "email": "a@b.co"}, []string{"subdomain"}},
		{"bad email", map[string]any{"subdomain": "acme", "email": "a:b@c.co"}, []string{"email"}},
		{"newline", map[string]any{"subdomain": "acme", "email": "a@b.co\r\nX: y"}, []string{"email"}},
		{"unknown key", map[string]any{"subdomain": "acme", "email": "a@b.co", "region": "eu"}, []string{"region"}},
		{"scopes not a list", map[string]any{"subdomain": "acme", "email": "a@b.co", "scopes": "read"}, []string{"scopes"}},
		{"several", map[string]any{"subdomain": "a.b", "colour": "red"}, []string{"colour", "subdomain", "email"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Resolve("zendesk", tc.config)
			if err == nil {
				t.Fatal("Resolve accepted bad config")
			}
			got := fieldErrs(t, err)
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(got, want) {
				t.Errorf("fields %v, want %v (%v)", got, want, err)
			}
		})
	}
}

func TestResolveDefaultsAndEnums(t *testing.T) {
	c := mustLoad(t)
	tests := []struct {
		provider string
		config   map[string]any
		base     string
		verify   string
		wantErr  bool
	}{
		{"datadog", nil, "https://api.datadoghq.com", "/api/v1/validate", false},
		{"datadog", map[string]any{"site": "datadoghq.eu"}, "https://api.datadoghq.eu", "/api/v1/validate", false},
		{"datadog", map[string]any{"site": "evil.com"}, "", "", true},
		{"gitlab", nil, "https://gitlab.com/api/v4", "/user", false},
		{"gitlab", map[string]any{"host": "git.example.org:8443"}, "https://git.example.org:8443/api/v4", "/user", false},
		{"gitlab", map[string]any{"host": "git.example.org/evil"}, "", "", true},
		{"twilio", map[string]any{"account_sid": "AC0123456789abcdef0123456789abcdef"}, "https://api.twilio.com",
			"/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef.json", false},
		{"harvest", map[string]any{"account_id": float64(123456)}, "https://api.harvestapp.com/v2", "/users/me", false},
		{"harvest", map[string]any{"account_id": 1.5}, "", "", true},
	}
	for _, tc := range tests {
		r, err := c.Resolve(tc.provider, tc.config)
		if tc.wantErr {
			if err == nil {
				t.Errorf("%s %v: accepted", tc.provider, tc.config)
			} else {
				fieldErrs(t, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %v: %v", tc.provider, tc.config, err)
			continue
		}
		if r.BaseURL.String() != tc.base || r.Provider.Verify.Path != tc.verify {
			t.Errorf("%s: base %s verify %s", tc.provider, r.BaseURL, r.Provider.Verify.Path)
		}
	}
	if _, err := c.Resolve("nosuch", nil); !errors.Is(err, ErrUnknownProvider) {
		t.Errorf("unknown provider: %v", err)
	}
	r, err := c.Resolve("harvest", map[string]any{"account_id": "42"})
	if err != nil || r.Provider.APIKey.Headers["Harvest-Account-Id"] != "42" {
		t.Errorf("harvest header %v, %v", r.Provider.APIKey.Headers, err)
	}
}

func TestResolveOAuth2(t *testing.T) {
	c := mustLoad(t)
	ok := []struct {
		name, provider string
		config         map[string]any
		check          func(t *testing.T, o *OAuth2)
	}{
		{"microsoft common tenant", "microsoft", nil, func(t *testing.T, o *OAuth2) {
			if o.AuthorizeURL != "https://login.microsoftonline.com/common/oauth2/v2.0/authorize" ||
				o.TokenURL != "https://login.microsoftonline.com/common/oauth2/v2.0/token" || o.Issuer != "" {
				t.Errorf("endpoints %s %s issuer %q", o.AuthorizeURL, o.TokenURL, o.Issuer)
			}
		}},
		{"microsoft named tenant", "microsoft", map[string]any{"tenant": "contoso.onmicrosoft.com"}, func(t *testing.T, o *OAuth2) {
			if o.TokenURL != "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token" {
				t.Errorf("token_url %s", o.TokenURL)
			}
		}},
		{"gitlab self-managed", "gitlab", map[string]any{"host": "git.example.org:8443"}, func(t *testing.T, o *OAuth2) {
			if o.Issuer != "https://git.example.org:8443" || o.RevokeURL != "https://git.example.org:8443/oauth/revoke" {
				t.Errorf("issuer %s revoke %s", o.Issuer, o.RevokeURL)
			}
		}},
		{"auth0 issuer keeps its slash", "auth0", map[string]any{"domain": "acme.us.auth0.com"}, func(t *testing.T, o *OAuth2) {
			if o.Issuer != "https://acme.us.auth0.com/" || o.TokenURL != "https://acme.us.auth0.com/oauth/token" {
				t.Errorf("issuer %s token %s", o.Issuer, o.TokenURL)
			}
		}},
		{"client id header", "twitch", map[string]any{"client_id": "abc123", "client_secret": "s"}, func(t *testing.T, o *OAuth2) {
			if o.Headers["Client-Id"] != "abc123" {
				t.Errorf("headers %v", o.Headers)
			}
		}},
		{"config field header", "notion", map[string]any{"notion_version": "2025-09-03"}, func(t *testing.T, o *OAuth2) {
			if o.Headers["Notion-Version"] != "2025-09-03" || o.TokenBodyFormat != "json" {
				t.Errorf("headers %v body %q", o.Headers, o.TokenBodyFormat)
			}
		}},
		{"default scopes and bearer", "github", nil, func(t *testing.T, o *OAuth2) {
			if !slices.Equal(o.Scopes, []string{"read:user"}) || o.TokenHeader != "Authorization" || o.TokenPrefix != "Bearer " ||
				o.Headers["Accept"] != "application/vnd.github+json" || !o.NoExpiry || o.AuthStyle != "post" {
				t.Errorf("oauth2 %+v", o)
			}
		}},
		{"scopes override", "github", map[string]any{"client_id": "x", "client_secret": "y", "scopes": []any{"repo", "read:org"}},
			func(t *testing.T, o *OAuth2) {
				if !slices.Equal(o.Scopes, []string{"repo", "read:org"}) {
					t.Errorf("scopes %v", o.Scopes)
				}
			}},
		{"empty scopes override", "github", map[string]any{"scopes": []any{}}, func(t *testing.T, o *OAuth2) {
			if o.Scopes == nil || len(o.Scopes) != 0 {
				t.Errorf("scopes %#v, want an empty list", o.Scopes)
			}
		}},
		{"own token header", "shopify", map[string]any{"shop": "acme-store"}, func(t *testing.T, o *OAuth2) {
			if o.TokenHeader != "X-Shopify-Access-Token" || o.TokenPrefix != "" || o.ScopeSeparator != "," {
				t.Errorf("token header %q prefix %q sep %q", o.TokenHeader, o.TokenPrefix, o.ScopeSeparator)
			}
		}},
		{"oauth keys on a provider with both methods", "zendesk", map[string]any{"subdomain": "acme", "email": "a@b.co", "client_id": "x"},
			func(t *testing.T, o *OAuth2) {
				if o.AuthorizeURL != "https://acme.zendesk.com/oauth/authorizations/new" {
					t.Errorf("authorize_url %s", o.AuthorizeURL)
				}
			}},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			r, err := c.Resolve(tc.provider, tc.config)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, r.Provider.OAuth2)
		})
	}
	// Resolving expanded copies, never the catalog's own entries.
	if p, _ := c.Get("microsoft"); !strings.Contains(p.OAuth2.TokenURL, "{tenant}") {
		t.Errorf("catalog token_url expanded in place: %s", p.OAuth2.TokenURL)
	}
	if p, _ := c.Get("twitch"); p.OAuth2.Headers["Client-Id"] != "{client_id}" {
		t.Errorf("catalog headers expanded in place: %v", p.OAuth2.Headers)
	}

	bad := []struct {
		name, provider string
		config         map[string]any
		want           []string
	}{
		{"client id header without client id", "twitch", nil, []string{"client_id"}},
		{"client id with a newline", "twitch", map[string]any{"client_id": "a\r\nX-Evil: 1"}, []string{"client_id"}},
		{"tenant path injection", "microsoft", map[string]any{"tenant": "evil.com/x"}, []string{"tenant"}},
		{"scope with a space", "github", map[string]any{"scopes": []any{"read user"}}, []string{"scopes[0]"}},
		{"scopes not strings", "github", map[string]any{"scopes": []any{1}}, []string{"scopes"}},
		{"oauth key on api_key provider", "openai", map[string]any{"client_id": "x"}, []string{"client_id"}},
		{"missing my domain", "salesforce", map[string]any{}, []string{"my_domain"}},
		{"sandbox pattern", "quickbooks", map[string]any{"api_host": "quickbooks.api.intuit.com.evil.com"}, []string{"api_host"}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Resolve(tc.provider, tc.config)
			if err == nil {
				t.Fatal("Resolve accepted bad config")
			}
			got := fieldErrs(t, err)
			slices.Sort(got)
			if want := slices.Sorted(slices.Values(tc.want)); !slices.Equal(got, want) {
				t.Errorf("fields %v, want %v (%v)", got, want, err)
			}
		})
	}
}

func TestResolveCustom(t *testing.T) {
	c := mustLoad(t)
	ok := []struct {
		name   string
		config string
		check  func(t *testing.T, r Resolved)
	}{
		{"api key", `{"base_url":"https://api.example.com/v1","api_key":{"in":"header","name":"Authorization","prefix":"Bearer "},
			"verify":{"method":"get","path":"/me"}}`, func(t *testing.T, r Resolved) {
			if r.BaseURL.String() != "https://api.example.com/v1" || r.Provider.Verify.Method != "GET" ||
				!slices.Equal(r.Provider.AuthMethods, []string{MethodAPIKey, MethodBasic}) || r.Provider.DocsURL == "" {
				t.Errorf("resolved %+v", r.Provider)
			}
		}},
		{"http for tests", `{"base_url":"http://127.0.0.1:41234","api_key":{"in":"query","name":"api_key"}}`, nil},
		{"basic with key as user", `{"base_url":"https://api.example.com","api_key":{"in":"basic","username":"{key}"}}`,
			func(t *testing.T, r Resolved) {
				if r.Provider.APIKey.Password != "" {
					t.Errorf("password %q, want empty", r.Provider.APIKey.Password)
				}
			}},
		{"oauth2 issuer only", `{"base_url":"https://api.example.com","oauth2":{"issuer":"https://id.example.com","client_id":"abc","client_secret":"s","scopes":["read"],"pkce":true}}`,
			func(t *testing.T, r Resolved) {
				if o := r.Provider.OAuth2; o.AuthStyle != "basic" || !o.PKCE || o.Scopes[0] != "read" {
					t.Errorf("oauth2 %+v", o)
				}
			}},
		{"oauth2 http endpoints for tests", `{"base_url":"http://127.0.0.1:41234","oauth2":{"authorize_url":"http://127.0.0.1:41234/authorize",
			"token_url":"http://127.0.0.1:41234/token","revoke_url":"http://127.0.0.1:41234/revoke","client_id":"c","client_secret":"s",
			"auth_style":"post","scope_separator":",","scopes":["a","b"],"pkce":true,"rotates_refresh_tokens":true,"default_ttl":"30m",
			"extra_authorize_params":{"access_type":"offline"}}}`, func(t *testing.T, r Resolved) {
			o := r.Provider.OAuth2
			if o.TokenURL != "http://127.0.0.1:41234/token" || o.AuthStyle != "post" || o.ScopeSeparator != "," || !o.RotatesRefreshTokens ||
				o.DefaultTTL != Duration(30*time.Minute) || o.ExtraAuthorizeParams["access_type"] != "offline" ||
				o.TokenHeader != "Authorization" || o.TokenPrefix != "Bearer " {
				t.Errorf("oauth2 %+v", o)
			}
		}},
		{"oauth2 quirks", `{"base_url":"https://api.example.com","oauth2":{"issuer":"https://id.example.com/","no_expiry":true,
			"token_header":"X-Token","token_prefix":"Token ","headers":{"X-Version":"2"},"token_body_format":"json",
			"refresh_url":"https://id.example.com/refresh","refresh_token_ttl":"1440h"}}`, func(t *testing.T, r Resolved) {
			o := r.Provider.OAuth2
			if !o.NoExpiry || o.TokenHeader != "X-Token" || o.TokenPrefix != "Token " || o.Headers["X-Version"] != "2" ||
				o.TokenBodyFormat != "json" || o.RefreshURL != "https://id.example.com/refresh" || o.Issuer != "https://id.example.com/" {
				t.Errorf("oauth2 %+v", o)
			}
		}},
		// HTTP Basic needs nothing but the base URL.
		{"basic only", `{"base_url":"https://api.example.com"}`, func(t *testing.T, r Resolved) {
			if !slices.Equal(r.Provider.AuthMethods, []string{MethodBasic}) {
				t.Errorf("auth methods %v", r.Provider.AuthMethods)
			}
		}},
		{"service account", `{"base_url":"https://sts.example.com","service_account":{"kind":"aws_sigv4","region":"eu-west-1","service":"execute-api"}}`, nil},
		{"jwt bearer", `{"base_url":"https://api.example.com","service_account":{"kind":"jwt_bearer","token_url":"https://id.example.com/token","scopes":["a"]},
			"issuer":"me","subject":"svc"}`, nil},
		{"all three", `{"base_url":"https://api.example.com","api_key":{"in":"header","name":"X-Key"},
			"oauth2":{"authorize_url":"https://id.example.com/a","token_url":"https://id.example.com/t","auth_style":"post","default_ttl":"1h"},
			"service_account":{"kind":"mtls"}}`, func(t *testing.T, r Resolved) {
			if len(r.Provider.AuthMethods) != 4 || r.Provider.OAuth2.DefaultTTL != Duration(time.Hour) {
				t.Errorf("resolved %+v", r.Provider)
			}
		}},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			r, err := c.Resolve(Custom, decode(t, tc.config))
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}

	bad := []struct {
		name, config string
		want         []string
	}{
		{"missing base_url", `{"api_key":{"in":"header","name":"X-Key"}}`, []string{"base_url"}},
		{"no base url", `{"verify":{"path":"/me"}}`, []string{"base_url"}},
		{"bad in", `{"base_url":"https://api.example.com","api_key":{"in":"cookie","name":"k"}}`, []string{"api_key.in"}},
		{"missing in", `{"base_url":"https://api.example.com","api_key":{}}`, []string{"api_key.in"}},
		{"unknown key", `{"base_url":"https://api.example.com","api_key":{"in":"header","name":"X"},"colour":"red"}`, []string{"colour"}},
		{"unknown nested key", `{"base_url":"https://api.example.com","api_key":{"in":"header","name":"X","where":"x"}}`, []string{"api_key.where"}},
		{"ftp", `{"base_url":"ftp://files.example.com","api_key":{"in":"header","name":"X"}}`, []string{"base_url"}},
		{"userinfo", `{"base_url":"https://u:p@api.example.com","api_key":{"in":"header","name":"X"}}`, []string{"base_url"}},
		{"no host", `{"base_url":"https:///x","api_key":{"in":"header","name":"X"}}`, []string{"base_url"}},
		{"placeholder", `{"base_url":"https://{tenant}.example.com","api_key":{"in":"header","name":"X"}}`, []string{"base_url"}},
		{"query in base", `{"base_url":"https://api.example.com/?a=b","api_key":{"in":"header","name":"X"}}`, []string{"base_url"}},
		{"wrong type", `{"base_url":42,"api_key":{"in":"header","name":"X"}}`, []string{"base_url"}},
		{"header injection", `{"base_url":"https://api.example.com","api_key":{"in":"header","name":"X","headers":{"X-A":"a\r\nB: c"}}}`,
			[]string{"api_key.headers.X-A"}},
		{"verify path", `{"base_url":"https://api.example.com","api_key":{"in":"header","name":"X"},"verify":{"path":"//evil.com/x"}}`,
			[]string{"verify.path"}},
		{"oauth2 no endpoints", `{"base_url":"https://api.example.com","oauth2":{"client_id":"x"}}`,
			[]string{"oauth2.token_url", "oauth2.authorize_url"}},
		{"oauth2 bad style", `{"base_url":"https://api.example.com","oauth2":{"issuer":"https://id.example.com","auth_style":"jwt"}}`,
			[]string{"oauth2.auth_style"}},
		{"oauth2 only a token url", `{"base_url":"https://api.example.com","oauth2":{"token_url":"https://id.example.com/token"}}`,
			[]string{"oauth2.authorize_url"}},
		{"oauth2 protected authorize param", `{"base_url":"https://api.example.com","oauth2":{"issuer":"https://id.example.com",
			"extra_authorize_params":{"redirect_uri":"https://evil.example/cb","prompt":"consent"}}}`,
			[]string{"oauth2.extra_authorize_params.redirect_uri"}},
		{"oauth2 protected token param", `{"base_url":"https://api.example.com","oauth2":{"issuer":"https://id.example.com",
			"extra_token_params":{"code_verifier":"x"}}}`, []string{"oauth2.extra_token_params.code_verifier"}},
		{"oauth2 param not a string", `{"base_url":"https://api.example.com","oauth2":{"issuer":"https://id.example.com",
			"extra_token_params":{"n":1}}}`, []string{"oauth2.extra_token_params.n"}},
		{"oauth2 word separator", `{"base_url":"https://api.example.com","oauth2":{"issuer":"https://id.example.com","scope_separator":"and"}}`,
			[]string{"oauth2.scope_separator"}},
		{"oauth2 ftp token url", `{"base_url":"https://api.example.com","oauth2":{"issuer":"https://id.example.com","token_url":"ftp://id.example.com/t"}}`,
			[]string{"oauth2.token_url"}},
		{"oauth2 issuer with query", `{"base_url":"https://api.example.com","oauth2":{"issuer":"https://id.example.com/?tenant=a"}}`,
			[]string{"oauth2.issuer"}},
		{"oauth2 placeholder", `{"base_url":"https://api.example.com","oauth2":{"issuer":"https://{tenant}.example.com"}}`,
			[]string{"oauth2.issuer"}},
		{"oauth2 client id placeholder", `{"base_url":"https://api.example.com","oauth2":{"issuer":"https://id.example.com",
			"headers":{"Client-Id":"{client_id}"}}}`, []string{"oauth2.headers.Client-Id"}},
		{"oauth2 no expiry and ttl", `{"base_url":"https://api.example.com","oauth2":{"issuer":"https://id.example.com","no_expiry":true,"default_ttl":"1h"}}`,
			[]string{"oauth2.no_expiry"}},
		{"oauth2 scope with space", `{"base_url":"https://api.example.com","oauth2":{"issuer":"https://id.example.com","scopes":["a b"]}}`,
			[]string{"oauth2.scopes[0]"}},
		{"oauth2 headers not an object", `{"base_url":"https://api.example.com","oauth2":{"issuer":"https://id.example.com","headers":"x"}}`,
			[]string{"oauth2.headers"}},
		{"oauth2 unknown setting", `{"base_url":"https://api.example.com","oauth2":{"issuer":"https://id.example.com","docs_url":"https://x"}}`,
			[]string{"oauth2.docs_url"}},
		{"top-level scope with space", `{"base_url":"https://api.example.com","oauth2":{"issuer":"https://id.example.com"},"scopes":["a b"]}`,
			[]string{"scopes[0]"}},
		{"sa kind", `{"base_url":"https://api.example.com","service_account":{"kind":"kerberos"}}`, []string{"service_account.kind"}},
		{"sa token_url", `{"base_url":"https://api.example.com","service_account":{"kind":"client_credentials"}}`, []string{"service_account.token_url"}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Resolve(Custom, decode(t, tc.config))
			if err == nil {
				t.Fatal("Resolve accepted bad config")
			}
			got := fieldErrs(t, err)
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tc.want))
			if !slices.Equal(got, want) {
				t.Errorf("fields %v, want %v (%v)", got, want, err)
			}
		})
	}
}

func decode(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return m
}

// endpoint joins a verify path (with optional query) onto the base URL
// the way verification does.
func endpoint(r Resolved, pathAndQuery string) (*url.URL, error) {
	p, q, _ := strings.Cut(pathAndQuery, "?")
	return proxy.JoinPath(r.BaseURL, strings.TrimPrefix(p, "/"), q)
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"a": "x", "b": "{a}"}
	tests := []struct {
		in, want string
		err      bool
	}{
		{"plain", "plain", false},
		{"{a}-{a}", "x-x", false},
		{"{b}", "{a}", false}, // values are not expanded again
		{"{c}", "", true},
		{"{a", "", true},
		{"a}", "", true},
		{"{A}", "", true},
		{"{}", "", true},
	}
	for _, tc := range tests {
		got, err := Expand(tc.in, vars)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("Expand(%q) = %q, %v", tc.in, got, err)
		}
	}
	if _, err := Expand("{c}", vars); !errors.Is(err, ErrUnknownPlaceholder) {
		t.Errorf("unknown placeholder error %v", err)
	}
}

func TestDuration(t *testing.T) {
	var o struct {
		D Duration `yaml:"d" json:"d"`
	}
	if err := yaml.Unmarshal([]byte("d: 90s"), &o); err != nil || o.D != Duration(90*time.Second) {
		t.Fatalf("yaml: %v %v", o.D, err)
	}
	if err := yaml.Unmarshal([]byte("d: soon"), &o); err == nil {
		t.Error("yaml accepted a bad duration")
	}
	b, _ := yaml.Marshal(o)
	if strings.TrimSpace(string(b)) != "d: 1m30s" {
		t.Errorf("yaml out %q", b)
	}
	if err := json.Unmarshal([]byte(`{"d":"1h"}`), &o); err != nil || o.D != Duration(time.Hour) {
		t.Fatalf("json: %v %v", o.D, err)
	}
	if err := json.Unmarshal([]byte(`{"d":3600}`), &o); err == nil {
		t.Error("json accepted a number")
	}
	b, _ = json.Marshal(o)
	if string(b) != `{"d":"1h0m0s"}` {
		t.Errorf("json out %s", b)
	}
	// Zero durations are omitted, as omitempty promises.
	b, _ = json.Marshal(OAuth2{AuthStyle: "basic"})
	if strings.Contains(string(b), "ttl") {
		t.Errorf("zero durations marshalled: %s", b)
	}
}

func TestValidationErrorJSON(t *testing.T) {
	c := mustLoad(t)
	_, err := c.Resolve("shopify", map[string]any{"shop": "evil.com/x"})
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("%v", err)
	}
	b, _ := json.Marshal(ve)
	if !strings.Contains(string(b), `"field":"shop"`) {
		t.Errorf("json %s", b)
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "shop" {
		t.Errorf("errors.As FieldError: %v", fe)
	}
}

func FuzzResolveCustom(f *testing.F) {
	c := mustLoad(f)
	for _, s := range []string{
		`{"base_url":"https://api.example.com","api_key":{"in":"header","name":"Authorization","prefix":"Bearer "}}`,
		`{"base_url":"http://127.0.0.1:8080/x","api_key":{"in":"basic","username":"{key}"},"verify":{"path":"/me?x=1"}}`,
		`{"base_url":"https://api.example.com","oauth2":{"issuer":"https://id.example.com","client_id":"c","scopes":["a"],"pkce":true}}`,
		`{"base_url":"http://127.0.0.1:9","oauth2":{"authorize_url":"http://127.0.0.1:9/a","token_url":"http://127.0.0.1:9/t",` +
			`"auth_style":"post","scope_separator":",","extra_authorize_params":{"prompt":"consent"},"headers":{"X-V":"1"},"token_header":"X-T"}}`,
		`{"base_url":"https://api.example.com","service_account":{"kind":"client_credentials","token_url":"https://id.example.com/t",` +
			`"client_auth":"post","grant_type":"account_credentials","extra_token_params":{"account_id":"1"},"headers":{"X-V":"1"}}}`,
		`{"base_url":"https://a.example.com","service_account":{"kind":"jwt_bearer","self_signed":true,"claims":{"iss":"A.{public_key_fp}"}}}`,
		`{"base_url":"https://s3.example.com","service_account":{"kind":"aws_sigv4","region":"eu-west-1","service":"s3"}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		var cfg map[string]any
		if json.Unmarshal([]byte(data), &cfg) != nil {
			return
		}
		r, err := c.Resolve(Custom, cfg)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Errors) == 0 {
				t.Fatalf("error %v is not a non-empty *ValidationError", err)
			}
			for _, e := range ve.Errors {
				if e.Message == "" {
					t.Fatalf("bad field error %+v", e)
				}
			}
			return
		}
		u := r.BaseURL
		if u == nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil {
			t.Fatalf("accepted base URL %v from %s", u, data)
		}
		if v := r.Provider.Verify; v != nil {
			e, err := endpoint(r, v.Path)
			if err != nil || e.Scheme != u.Scheme || e.Host != u.Host {
				t.Fatalf("verify endpoint %v (%v) leaves %v", e, err, u)
			}
		}
		if o := r.Provider.OAuth2; o != nil {
			checkResolvedOAuth2(t, o, data)
		}
		if s := r.Provider.ServiceAccount; s != nil {
			checkResolvedServiceAccount(t, s, data)
		}
	})
}

// checkResolvedServiceAccount states what an accepted custom
// service_account section guarantees to the minter, whatever the input.
func checkResolvedServiceAccount(t *testing.T, s *ServiceAccount, data string) {
	t.Helper()
	if !slices.Contains(ServiceAccountKinds, s.Kind) {
		t.Fatalf("accepted kind %q from %s", s.Kind, data)
	}
	if s.TokenURL != "" {
		e, err := url.Parse(s.TokenURL)
		if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Hostname() == "" || e.User != nil || strings.Contains(s.TokenURL, "#") {
			t.Fatalf("accepted token URL %q from %s", s.TokenURL, data)
		}
	}
	switch {
	case (s.Kind == "client_credentials" || (s.Kind == "jwt_bearer" && !s.SelfSigned)) && s.TokenURL == "":
		t.Fatalf("accepted %s without token_url from %s", s.Kind, data)
	case s.Kind == "client_credentials" && !slices.Contains(saClientAuths, s.ClientAuth):
		t.Fatalf("accepted client_auth %q from %s", s.ClientAuth, data)
	case s.Kind == "aws_sigv4" && (!regionRe.MatchString(s.Region) || !serviceRe.MatchString(s.Service)):
		t.Fatalf("accepted region %q service %q from %s", s.Region, s.Service, data)
	case s.SelfSigned && s.TokenURL != "":
		t.Fatalf("accepted a self-signed JWT with a token URL from %s", data)
	}
	for k, v := range s.ExtraTokenParams {
		if slices.ContainsFunc(protectedSATokenParams, func(p string) bool { return strings.EqualFold(p, k) }) || v == "" || hasControl(k+v) {
			t.Fatalf("accepted token param %q=%q from %s", k, v, data)
		}
	}
	for k, v := range s.Claims {
		if slices.Contains(protectedClaims, k) || v == "" || hasControl(v) {
			t.Fatalf("accepted claim %q=%q from %s", k, v, data)
		}
	}
	for k, v := range s.Headers {
		if !headerNameRe.MatchString(k) || strings.EqualFold(k, "Authorization") || hasControl(v) || strings.ContainsAny(v, "{}") {
			t.Fatalf("accepted header %q: %q from %s", k, v, data)
		}
	}
}

// checkResolvedOAuth2 states what an accepted custom oauth2 section
// guarantees to the OAuth client, whatever the input was.
func checkResolvedOAuth2(t *testing.T, o *OAuth2, data string) {
	t.Helper()
	if (o.AuthorizeURL == "" || o.TokenURL == "") && o.Issuer == "" {
		t.Fatalf("accepted oauth2 without endpoints or issuer from %s", data)
	}
	for _, raw := range []string{o.AuthorizeURL, o.TokenURL, o.RefreshURL, o.RevokeURL, o.Issuer} {
		if raw == "" {
			continue
		}
		e, err := url.Parse(raw)
		if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Hostname() == "" || e.User != nil || strings.Contains(raw, "#") {
			t.Fatalf("accepted oauth2 URL %q from %s", raw, data)
		}
	}
	if o.AuthStyle != "basic" && o.AuthStyle != "post" {
		t.Fatalf("accepted auth_style %q from %s", o.AuthStyle, data)
	}
	for k, v := range o.ExtraAuthorizeParams {
		if slices.Contains(protectedAuthorizeParams, strings.ToLower(k)) || v == "" || hasControl(k+v) {
			t.Fatalf("accepted authorize param %q=%q from %s", k, v, data)
		}
	}
	for k, v := range o.ExtraTokenParams {
		if slices.Contains(protectedTokenParams, strings.ToLower(k)) || v == "" || hasControl(k+v) {
			t.Fatalf("accepted token param %q=%q from %s", k, v, data)
		}
	}
	if o.TokenHeader == "" || hasControl(o.TokenPrefix) {
		t.Fatalf("token header %q prefix %q from %s", o.TokenHeader, o.TokenPrefix, data)
	}
	for k, v := range o.Headers {
		if !headerNameRe.MatchString(k) || hasControl(v) || strings.ContainsAny(v, "{}") {
			t.Fatalf("accepted header %q: %q from %s", k, v, data)
		}
	}
}

// TestPendingMethods keeps testdata/pending_methods.yaml, the entries
// waiting for auth methods Storm does not have yet, honest: each names a
// catalog provider and a pending method it does not offer already.
func TestPendingMethods(t *testing.T) {
	c := mustLoad(t)
	b, err := os.ReadFile("testdata/pending_methods.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Pending []struct {
			Provider, Method, Note string
		} `yaml:"pending"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Pending) == 0 {
		t.Fatal("no pending entries")
	}
	seen := map[string]bool{}
	for _, e := range doc.Pending {
		p, ok := c.Get(e.Provider)
		switch {
		case !ok:
			t.Errorf("%s: not in the catalog", e.Provider)
		case !slices.Contains([]string{"basic", "oauth1", "github_app", "exchange"}, e.Method):
			t.Errorf("%s: %q is not a pending method", e.Provider, e.Method)
		case p.Supports(e.Method):
			t.Errorf("%s: already offers %s; drop the line", e.Provider, e.Method)
		case e.Note == "":
			t.Errorf("%s: say what the method takes", e.Provider)
		case seen[e.Provider+"/"+e.Method]:
			t.Errorf("%s/%s: listed twice", e.Provider, e.Method)
		}
		seen[e.Provider+"/"+e.Method] = true
	}
}
