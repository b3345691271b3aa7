package catalog

import (
	"encoding/json"
	"errors"
	"net/url"
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

// sampleConfig holds a valid value for every required config field name
// used in the embedded catalog, so each provider can be resolved.
var sampleConfig = map[string]string{
	"site":                     "acme",
	"email":                    "ops@example.com",
	"subdomain":                "acme",
	"account_sid":              "AC0123456789abcdef0123456789abcdef",
	"dc":                       "us6",
	"shop":                     "acme-store",
	"application_id":           "ABCDEF1234",
	"service_account_username": "storm.1234.mp-service-account",
	"project_api_key":          "0123456789abcdef0123456789abcdef",
	"app_key":                  "0123456789abcdef0123456789abcdef",
	"account_id":               "123456",
	"domain":                   "acme.okta.com",
	"company_domain":           "acme",
}

func TestEmbeddedCatalog(t *testing.T) {
	c := mustLoad(t)
	list := c.List()
	if !slices.IsSortedFunc(list, func(a, b Provider) int { return strings.Compare(a.Name, b.Name) }) {
		t.Error("List is not sorted by name")
	}
	apiKey := 0
	for _, p := range list {
		t.Run(p.Name, func(t *testing.T) {
			if !strings.HasPrefix(p.DocsURL, "https://") {
				t.Errorf("docs_url %q is not https", p.DocsURL)
			}
			if p.Name == Custom {
				return
			}
			if !strings.HasPrefix(p.BaseURL, "https://") {
				t.Errorf("base_url %q is not https", p.BaseURL)
			}
			if p.APIKey == nil || p.Verify == nil {
				t.Fatalf("want api_key and verify sections")
			}
			cfg := map[string]any{}
			for _, f := range p.Config {
				if f.Required {
					v, ok := sampleConfig[f.Name]
					if !ok {
						t.Fatalf("no sample value for required field %q; add one to sampleConfig", f.Name)
					}
					cfg[f.Name] = v
				}
			}
			r, err := c.Resolve(p.Name, cfg)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if r.BaseURL.Scheme != "https" || r.BaseURL.Hostname() == "" {
				t.Errorf("resolved base URL %v is not https with a host", r.BaseURL)
			}
			u, err := endpoint(r, r.Provider.Verify.Path)
			if err != nil || u.Host != r.BaseURL.Host {
				t.Errorf("verify endpoint %v (err %v) leaves %s", u, err, r.BaseURL.Host)
			}
		})
		if p.Supports(MethodAPIKey) && p.Name != Custom {
			apiKey++
		}
	}
	if apiKey < 45 {
		t.Errorf("%d api_key providers, want at least 45", apiKey)
	}
	custom, ok := c.Get(Custom)
	if !ok {
		t.Fatal("no custom provider")
	}
	for _, m := range []string{MethodAPIKey, MethodOAuth2, MethodServiceAccount} {
		if !custom.Supports(m) {
			t.Errorf("custom does not support %s", m)
		}
	}
	t.Logf("%d providers, %d with api_key", len(list), apiKey)
}

func TestGetReturnsCopy(t *testing.T) {
	c := mustLoad(t)
	p, _ := c.Get("github")
	p.APIKey.Headers["Accept"] = "changed"
	p.AuthMethods[0] = "changed"
	q, _ := c.Get("github")
	if q.APIKey.Headers["Accept"] == "changed" || q.AuthMethods[0] == "changed" {
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
		{"oauth key on api_key provider", map[string]any{"subdomain": "acme", "email": "a@b.co", "client_id": "x"}, []string{"client_id"}},
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
		{"twilio", map[string]any{"account_sid": sampleConfig["account_sid"]}, "https://api.twilio.com",
			"/2010-04-01/Accounts/" + sampleConfig["account_sid"] + ".json", false},
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
				!slices.Equal(r.Provider.AuthMethods, []string{MethodAPIKey}) || r.Provider.DocsURL == "" {
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
		{"service account", `{"base_url":"https://sts.example.com","service_account":{"kind":"aws_sigv4","region":"eu-west-1","service":"execute-api"}}`, nil},
		{"jwt bearer", `{"base_url":"https://api.example.com","service_account":{"kind":"jwt_bearer","token_url":"https://id.example.com/token","scopes":["a"]},
			"issuer":"me","subject":"svc"}`, nil},
		{"all three", `{"base_url":"https://api.example.com","api_key":{"in":"header","name":"X-Key"},
			"oauth2":{"authorize_url":"https://id.example.com/a","token_url":"https://id.example.com/t","auth_style":"post","default_ttl":"1h"},
			"service_account":{"kind":"mtls"}}`, func(t *testing.T, r Resolved) {
			if len(r.Provider.AuthMethods) != 3 || r.Provider.OAuth2.DefaultTTL != Duration(time.Hour) {
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
		{"no auth section", `{"base_url":"https://api.example.com"}`, []string{""}},
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
	})
}
