package apikey_test

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/methods/apikey"
	"github.com/stormcreds/storm/internal/secret"
)

func resolve(t *testing.T, c *catalog.Catalog, provider string, cfg map[string]any) catalog.Resolved {
	t.Helper()
	r, err := c.Resolve(provider, cfg)
	if err != nil {
		t.Fatalf("%s: %v", provider, err)
	}
	return r
}

func apply(t *testing.T, r catalog.Resolved, req *http.Request, key string) *apikey.Key {
	t.Helper()
	k, err := apikey.New(*r.Provider.APIKey, secret.String(key))
	if err != nil {
		t.Fatalf("%s: %v", r.Provider.Name, err)
	}
	if err := k.Apply(req); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestApplyPerProvider(t *testing.T) {
	c, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	const trelloApp = "0123456789abcdef0123456789abcdef"
	tests := []struct {
		provider string
		config   map[string]any
		check    func(*http.Request) bool
	}{
		{"openai", nil, func(r *http.Request) bool { return r.Header.Get("Authorization") == "Bearer k-1" }},
		{"anthropic", nil, func(r *http.Request) bool {
			return r.Header.Get("X-Api-Key") == "k-1" && r.Header.Get("Anthropic-Version") == "2023-06-01"
		}},
		{"pagerduty", nil, func(r *http.Request) bool { return r.Header.Get("Authorization") == "Token token=k-1" }},
		{"close", nil, func(r *http.Request) bool { u, p, ok := r.BasicAuth(); return ok && u == "k-1" && p == "" }},
		{"mailgun", nil, func(r *http.Request) bool { u, p, ok := r.BasicAuth(); return ok && u == "api" && p == "k-1" }},
		{"zendesk", map[string]any{"subdomain": "acme", "email": "ops@example.com"}, func(r *http.Request) bool {
			u, p, ok := r.BasicAuth()
			return ok && u == "ops@example.com/token" && p == "k-1"
		}},
		{"trello", map[string]any{"app_key": trelloApp}, func(r *http.Request) bool {
			q := r.URL.Query()
			// The key replaces the caller's token=, extras keep the caller's.
			return q.Get("token") == "k-1" && q.Get("key") == trelloApp && q.Get("keep") == "1" && len(q["token"]) == 1
		}},
	}
	for _, tc := range tests {
		r := resolve(t, c, tc.provider, tc.config)
		req, _ := http.NewRequest("GET", r.BaseURL.String()+"/x?keep=1&token=caller", nil)
		apply(t, r, req, "k-1")
		if !tc.check(req) {
			t.Errorf("%s: headers %v query %s", tc.provider, req.Header, req.URL.RawQuery)
		}
	}
	// Extra headers are defaults: a caller may pin its own media type,
	// but never its own Authorization.
	r := resolve(t, c, "github", nil)
	req, _ := http.NewRequest("GET", "https://api.github.com/user", nil)
	req.Header.Set("Accept", "application/vnd.github.raw+json")
	req.Header.Set("Authorization", "Bearer caller")
	apply(t, r, req, "k-1")
	if req.Header.Get("Accept") != "application/vnd.github.raw+json" || req.Header.Get("Authorization") != "Bearer k-1" ||
		req.Header.Get("X-GitHub-Api-Version") != "2022-11-28" {
		t.Errorf("github headers %v", req.Header)
	}
}

// Every catalog provider with API keys applies a key somewhere a
// provider would read it.
func TestEveryProviderApplies(t *testing.T) {
	c, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range c.List() {
		if p.APIKey == nil || p.Name == catalog.Custom {
			continue
		}
		cfg := map[string]any{}
		for _, f := range p.Config {
			if f.Required {
				cfg[f.Name] = sample(t, p.Name, f)
			}
		}
		r, err := c.Resolve(p.Name, cfg)
		if err != nil {
			t.Errorf("%s: %v (add a sample for its config)", p.Name, err)
			continue
		}
		req, _ := http.NewRequest("GET", r.BaseURL.String(), nil)
		apply(t, r, req, "test-key-123")
		user, pass, _ := req.BasicAuth()
		if !strings.Contains(req.Header.Get(p.APIKey.Name)+req.URL.RawQuery+user+pass, "test-key-123") {
			t.Errorf("%s: key not applied: headers %v query %q", p.Name, req.Header, req.URL.RawQuery)
		}
		n++
	}
	if n < 45 {
		t.Fatalf("only %d API-key providers", n)
	}
}

// sample returns a value for a required config field: the catalog
// tests' sample (internal/catalog/testdata/samples.yaml) when it has one.
func sample(t *testing.T, provider string, f catalog.ConfigField) string {
	t.Helper()
	if f.Default != "" {
		return f.Default
	}
	samplesOnce.Do(func() {
		b, err := os.ReadFile("../../catalog/testdata/samples.yaml")
		if err == nil {
			err = yaml.Unmarshal(b, &samples)
		}
		if err != nil {
			t.Fatalf("catalog samples: %v", err)
		}
	})
	if v, ok := samples.Providers[provider][f.Name]; ok {
		return v
	}
	if v, ok := samples.Values[f.Name]; ok {
		return v
	}
	return "acme"
}

var (
	samplesOnce sync.Once
	samples     struct {
		Values    map[string]string            `yaml:"values"`
		Providers map[string]map[string]string `yaml:"providers"`
	}
)

func TestParse(t *testing.T) {
	for in, want := range map[string]string{"  sk_live_abc \n": "sk_live_abc", "k": "k"} {
		got, err := apikey.Parse(in)
		if err != nil || got.Reveal() != want {
			t.Errorf("Parse(%q) = %q, %v", in, got.Reveal(), err)
		}
	}
	for _, in := range []string{"", "   ", "a b", "a\nb", "a\x00b", "ключ", strings.Repeat("k", apikey.MaxLen+1)} {
		if _, err := apikey.Parse(in); err == nil {
			t.Errorf("Parse(%q) accepted", in)
		} else if strings.Contains(err.Error(), in) && len(in) > 3 {
			t.Errorf("Parse error repeats the input: %v", err)
		}
	}
}

func TestHintShowsAtMostFourCharacters(t *testing.T) {
	cases := map[string]string{
		"sk_live_4eC39HqLyjWDarjtT1zdp7dc": "sk_…p7dc",
		"ghp_abcdefghijklmnopqrstuvwxyz12": "ghp_…yz12",
		"0123456789abcdef0123":             "…0123",
		"short12345":                       "…45",
		"tiny":                             "…",
	}
	for key, want := range cases {
		if got := apikey.Hint(secret.String(key)); got != want {
			t.Errorf("Hint(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestKeyRedacts(t *testing.T) {
	k, err := apikey.New(catalog.APIKey{In: catalog.InHeader, Name: "Authorization", Prefix: "Bearer "}, "sk_secret_value")
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprintf("%v %+v %s", k, k, k); strings.Contains(s, "sk_secret_value") {
		t.Fatalf("key printed: %s", s)
	}
	if k.Access().APIKey != "sk_secret_value" || k.Access().Prefix != "Bearer " {
		t.Fatalf("access = %+v", k.Access())
	}
}
