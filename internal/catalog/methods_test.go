package catalog

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// entry is a minimal valid catalog file plus extra YAML.
func entry(authMethods, extra string) string {
	return "name: acme\ndisplay_name: Acme\ndocs_url: https://acme.example/docs\nbase_url: https://api.acme.example/v2\n" +
		"auth_methods: [" + authMethods + "]\n" + extra
}

const acmeVerify = "verify:\n  method: GET\n  path: /me\n"

func TestLoadFSNewMethodsValid(t *testing.T) {
	for name, file := range map[string]string{
		"basic without section": entry("basic", acmeVerify),
		"basic with labels": entry("basic", acmeVerify+"basic:\n  username_label: Account SID\n  password_label: Auth token\n"+
			"  headers:\n    X-Acme-Version: '2'\n"),
		"oauth1 three-legged": entry("oauth1", "oauth1:\n  request_token_url: https://acme.example/oauth/request_token\n"+
			"  authorize_url: https://acme.example/oauth/authorize\n  access_token_url: https://acme.example/oauth/access_token\n"+
			"  signature_method: HMAC-SHA1\n"),
		"oauth1 tokens issued out of band": "name: acme\ndisplay_name: Acme\ndocs_url: https://acme.example/docs\n" +
			"base_url: https://{account}.api.acme.example\nauth_methods: [oauth1]\nconfig:\n  - name: account\n    label: Account ID\n" +
			"    required: true\n    pattern: '^[0-9]+(-sb[0-9]+)?$'\noauth1:\n  signature_method: HMAC-SHA256\n  realm: '{account}'\n  realm_format: netsuite\n",
		"exchange for api keys (no placement needed)": entry("api_key", "exchange:\n  method: POST\n  path: /auth/session\n"+
			"  body:\n    key: '{{api_key}}'\n    nested: {ttl: 60}\n  token_pointer: /token\n  expires_in_pointer: /expires_in\n"+
			"  apply: {in: header, name: Authorization, prefix: 'Bearer '}\n  default_ttl: 1h\n  refresh_margin: 5m\n"),
		"exchange for basic": entry("basic", "exchange:\n  method: GET\n  path: /login\n  form:\n    user: '{{username}}'\n"+
			"    pass: '{{password}}'\n  token_pointer: /data/session\n  apply: {in: query, name: session}\n"),
		"protected resource": entry("oauth2", "oauth2:\n  protected_resource: true\n  scopes: [read]\n  docs_url: https://acme.example/mcp\n"),
		"github app": entry("service_account", "service_account:\n  kind: github_app\n  requires: [app_id, installation_id]\n"+
			"  headers:\n    Accept: application/vnd.github+json\n  verify:\n    method: GET\n    path: /installation/repositories\n"),
	} {
		t.Run(name, func(t *testing.T) {
			c, err := LoadFS(fstest.MapFS{"acme.yaml": &fstest.MapFile{Data: []byte(file)}})
			if err != nil {
				t.Fatal(err)
			}
			p, _ := c.Get("acme")
			if o := p.OAuth2; o != nil && o.ProtectedResource && (!o.PKCE || o.TokenHeader != "Authorization") {
				t.Errorf("protected resource defaults not filled: %+v", o)
			}
		})
	}
}

func TestLoadFSNewMethodsRejected(t *testing.T) {
	tests := []struct {
		name, file string
		want       []string
	}{
		{"basic without verify", entry("basic", ""), []string{"verify: is required"}},
		{"basic section without method", entry("api_key", acmeVerify+"api_key: {in: header, name: X-Key}\nbasic:\n  username_label: User\n"),
			[]string{"basic: is set but basic is not in auth_methods"}},
		{"oauth1 without section", entry("oauth1", ""), []string{"oauth1: is required by auth method oauth1"}},
		{"oauth1 wrong signature method", entry("oauth1", "oauth1:\n  signature_method: HMAC-MD5\n"),
			[]string{"oauth1.signature_method: must be one of HMAC-SHA1, HMAC-SHA256, RSA-SHA1, PLAINTEXT"}},
		{"oauth1 partial endpoints", entry("oauth1", "oauth1:\n  request_token_url: https://acme.example/rt\n  signature_method: HMAC-SHA1\n"),
			[]string{"oauth1.authorize_url: is required with the other", "oauth1.access_token_url: is required with the other"}},
		{"oauth1 http endpoint", entry("oauth1", "oauth1:\n  request_token_url: http://acme.example/rt\n  authorize_url: https://acme.example/a\n"+
			"  access_token_url: https://acme.example/at\n  signature_method: HMAC-SHA1\n"), []string{"oauth1.request_token_url: must be an https URL"}},
		{"oauth1 bad realm format", entry("oauth1", "oauth1:\n  signature_method: HMAC-SHA1\n  realm: x\n  realm_format: upper\n"),
			[]string{"oauth1.realm_format: must be empty"}},
		{"exchange without credential", entry("api_key", "exchange:\n  method: POST\n  path: /s\n  body: {key: fixed}\n  token_pointer: /t\n"+
			"  apply: {in: header, name: X-Session}\n"), []string{"exchange: never sends the credential"}},
		{"exchange mixing kinds", entry("api_key, basic", acmeVerify+"api_key: {in: header, name: X-Key}\nexchange:\n  method: POST\n  path: /s\n"+
			"  body: {key: '{{api_key}}', user: '{{username}}'}\n  token_pointer: /t\n  apply: {in: header, name: X-Session}\n"),
			[]string{"exchange: mixes {{api_key}}"}},
		{"exchange for a method not offered", entry("api_key", acmeVerify+"api_key: {in: header, name: X-Key}\nexchange:\n  method: POST\n  path: /s\n"+
			"  body: {user: '{{username}}'}\n  token_pointer: /t\n  apply: {in: header, name: X-Session}\n"),
			[]string{"exchange: sends the basic credential, but basic is not in auth_methods"}},
		{"exchange bad pointer and apply", entry("api_key", "exchange:\n  method: DELETE\n  path: /s/{{api_key}}\n  body: {key: '{{api_key}}'}\n"+
			"  token_pointer: token\n  apply: {in: cookie, name: s}\n"),
			[]string{"exchange.method: must be GET, POST or PUT", "exchange.path: takes no templates", "exchange.token_pointer: must be an RFC 6901",
				"exchange.apply.in: must be header or query"}},
		{"exchange unknown template", entry("api_key", "exchange:\n  method: POST\n  path: /s\n  body: {key: '{{api_key}}', x: '{{secret}}'}\n"+
			"  token_pointer: /t\n  apply: {in: header, name: X-S}\n"), []string{"unknown template {{secret}}"}},
		{"protected resource with endpoints", entry("oauth2", "oauth2:\n  protected_resource: true\n  token_url: https://acme.example/token\n"),
			[]string{"oauth2.token_url: is discovered for a protected resource"}},
		{"github app without verify", entry("service_account", "service_account:\n  kind: github_app\n"),
			[]string{"service_account.verify: is required for kind github_app"}},
		{"github app with a token url", entry("service_account", "service_account:\n  kind: github_app\n  token_url: https://acme.example/t\n"+
			"  verify: {method: GET, path: /installation/repositories}\n"), []string{"service_account.token_url: is not used with kind github_app"}},
		{"reserved field name", entry("basic", acmeVerify+"config:\n  - name: consumer_secret\n    label: Secret\n"),
			[]string{`config[0].name: "consumer_secret" is reserved`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadFS(fstest.MapFS{"acme.yaml": &fstest.MapFile{Data: []byte(tc.file)}})
			if err == nil {
				t.Fatal("LoadFS accepted a bad entry")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestResolveCustomNewMethods(t *testing.T) {
	c := mustLoad(t)
	r, err := c.ResolveMethod(Custom, MethodOAuth1, decode(t, `{"base_url":"http://127.0.0.1:4000/api",
		"oauth1":{"request_token_url":"http://127.0.0.1:4000/rt","authorize_url":"http://127.0.0.1:4000/a","access_token_url":"http://127.0.0.1:4000/at",
		"signature_method":"HMAC-SHA256","realm":"1234567_SB1","consumer_key":"ck","consumer_secret":"cs"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if o := r.Provider.OAuth1; !o.ThreeLegged() || o.SignatureMethod != "HMAC-SHA256" || o.Realm != "1234567_SB1" {
		t.Errorf("oauth1 %+v", o)
	}
	// An exchange block alone makes an API-key integration: the key only
	// ever goes to the exchange endpoint.
	r, err = c.ResolveMethod(Custom, MethodAPIKey, decode(t, `{"base_url":"https://api.example.com",
		"exchange":{"method":"POST","path":"/auth/session","body":{"key":"{{api_key}}"},"token_pointer":"/token",
		"expires_in_pointer":"/expires_in","apply":{"in":"header","name":"Authorization","prefix":"Bearer "}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if e := r.Provider.ExchangeFor(MethodAPIKey); e == nil || e.Apply.Name != "Authorization" || r.Provider.APIKey != nil {
		t.Errorf("exchange %+v, api_key %+v", e, r.Provider.APIKey)
	}
	r, err = c.ResolveMethod(Custom, MethodServiceAccount, decode(t, `{"base_url":"https://ghe.example.com/api/v3",
		"service_account":{"kind":"github_app","app_id":"12345","installation_id":"678"}}`))
	if err != nil || r.Provider.ServiceAccount.Kind != "github_app" {
		t.Fatalf("github_app: %v %+v", err, r.Provider.ServiceAccount)
	}
	for _, tc := range []struct {
		name, config string
		want         []string
	}{
		{"oauth1 signature method", `{"base_url":"https://api.example.com","oauth1":{"signature_method":"RSA-SHA256"}}`,
			[]string{"oauth1.signature_method"}},
		{"oauth1 unknown member", `{"base_url":"https://api.example.com","oauth1":{"signature_method":"PLAINTEXT","callback":"x"}}`,
			[]string{"oauth1.callback"}},
		{"oauth1 realm placeholder", `{"base_url":"https://api.example.com","oauth1":{"signature_method":"PLAINTEXT","realm":"{x}"}}`,
			[]string{"oauth1.realm"}},
		{"exchange not an object", `{"base_url":"https://api.example.com","exchange":"POST /login"}`, []string{"exchange"}},
		{"exchange apply", `{"base_url":"https://api.example.com","exchange":{"method":"POST","path":"/s","body":{"k":"{{api_key}}"},
			"token_pointer":"/t","apply":{"in":"body","name":"x"}}}`, []string{"exchange.apply.in"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Resolve(Custom, decode(t, tc.config))
			if err == nil {
				t.Fatal("accepted")
			}
			if got := fieldErrs(t, err); !slices.Equal(got, tc.want) {
				t.Errorf("fields %v, want %v (%v)", got, tc.want, err)
			}
		})
	}
}

func TestResolveMCP(t *testing.T) {
	c := mustLoad(t)
	r, err := c.ResolveMethod(MCP, MethodOAuth2, map[string]any{"base_url": "http://127.0.0.1:9999/mcp"})
	if err != nil {
		t.Fatal(err)
	}
	o := r.Provider.OAuth2
	if !o.ProtectedResource || !o.PKCE || o.AuthorizeURL != "" || o.Scopes != nil || r.BaseURL.String() != "http://127.0.0.1:9999/mcp" {
		t.Errorf("resolved %+v %+v", r.Provider, o)
	}
	r, err = c.Resolve(MCP, map[string]any{"base_url": "https://mcp.example.com/mcp", "client_id": "c", "client_secret": "s", "scopes": []any{"read"}})
	if err != nil || !slices.Equal(r.Provider.OAuth2.Scopes, []string{"read"}) {
		t.Fatalf("%v %+v", err, r.Provider.OAuth2)
	}
	for name, cfg := range map[string]map[string]any{
		"no url":        {},
		"endpoints":     {"base_url": "https://mcp.example.com", "token_url": "https://evil.example/token"},
		"dot segments":  {"base_url": "https://mcp.example.com/a/../mcp"},
		"not a URL":     {"base_url": "mcp.example.com"},
		"bad scope":     {"base_url": "https://mcp.example.com", "scopes": []any{"a b"}},
		"userinfo host": {"base_url": "https://user:pw@mcp.example.com"},
	} {
		if _, err := c.Resolve(MCP, cfg); err == nil {
			t.Errorf("%s: accepted %v", name, cfg)
		}
	}
	if _, err := c.ResolveMethod(MCP, MethodAPIKey, map[string]any{"base_url": "https://mcp.example.com"}); err == nil {
		t.Error("mcp accepted api_key")
	}
}

func TestExchangeKind(t *testing.T) {
	e := &Exchange{Body: map[string]any{"a": []any{map[string]any{"b": "{{username}}"}}}, Headers: map[string]string{"X": "{{password}}"}}
	if e.Kind() != MethodBasic {
		t.Errorf("kind %q", e.Kind())
	}
	e.Form = map[string]string{"k": "{{api_key}}"}
	if e.Kind() != "" {
		t.Errorf("mixed kind %q", e.Kind())
	}
	var none *Exchange
	if none.Kind() != "" || (Provider{}).ExchangeFor(MethodAPIKey) != nil {
		t.Error("nil exchange has a kind")
	}
	// Clones do not share the nested body.
	p := Provider{Exchange: &Exchange{Body: map[string]any{"n": map[string]any{"k": "{{api_key}}"}}, DefaultTTL: Duration(time.Minute)}}
	q := p.clone()
	q.Exchange.Body["n"].(map[string]any)["k"] = "changed"
	if p.Exchange.Body["n"].(map[string]any)["k"] != "{{api_key}}" {
		t.Error("clone shares the exchange body")
	}
}

// checkCatalogNewMethods holds an embedded entry's basic, oauth1,
// exchange and protected-resource settings to the rules every provider
// must meet.
func checkCatalogNewMethods(t *testing.T, p Provider) {
	t.Helper()
	if p.Supports(MethodBasic) && p.ExchangeFor(MethodBasic) == nil && p.Verify == nil {
		t.Error("basic without a verify request")
	}
	if o := p.OAuth1; o != nil {
		for name, u := range map[string]string{"request_token_url": o.RequestTokenURL, "authorize_url": o.AuthorizeURL, "access_token_url": o.AccessTokenURL} {
			if u != "" && !strings.HasPrefix(u, "https://") {
				t.Errorf("oauth1.%s %q is not https", name, u)
			}
		}
		if len(p.AuthMethods) > 1 && !strings.HasPrefix(o.DocsURL, "https://") {
			t.Errorf("oauth1.docs_url %q: a provider with other auth methods needs its OAuth 1.0a docs link", o.DocsURL)
		}
	}
	if e := p.Exchange; e != nil {
		if e.Kind() == "" || !p.Supports(e.Kind()) {
			t.Errorf("exchange kind %q", e.Kind())
		}
		if !strings.HasPrefix(e.DocsURL, "https://") && !strings.HasPrefix(p.DocsURL, "https://") {
			t.Error("exchange without docs")
		}
	}
	if o := p.OAuth2; o != nil && o.ProtectedResource {
		if !strings.HasPrefix(p.BaseURL, "https://") || !o.PKCE || o.TokenURL != "" || o.AuthorizeURL != "" {
			t.Errorf("protected resource %+v at %s", o, p.BaseURL)
		}
	}
}
