package apps_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/apps"
	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/problem"
)

func loadCatalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

func fields(err error) []string {
	p, ok := problem.As(err)
	if !ok {
		return nil
	}
	var out []string
	for _, f := range p.Errors {
		out = append(out, f.Field)
	}
	if len(out) == 0 && p.Detail != "" {
		out = append(out, "detail: "+p.Detail)
	}
	return out
}

// TestParse: an app's flat config is split into settings and secret,
// and what the app may not hold is refused naming the field.
func TestParse(t *testing.T) {
	cat := loadCatalog(t)
	for _, tc := range []struct {
		name, provider, method string
		raw                    map[string]any
		want                   map[string]any // nil: an error
		secret                 string
		field                  string
	}{
		{name: "catalog", provider: "github", method: "oauth2",
			raw:  map[string]any{"client_id": "Iv1.x", "client_secret": "s3cret", "scopes": []any{"repo"}},
			want: map[string]any{"client_id": "Iv1.x", "scopes": []any{"repo"}}, secret: "s3cret"},
		{name: "public client", provider: "github", method: "oauth2",
			raw: map[string]any{"client_id": "Iv1.x"}, want: map[string]any{"client_id": "Iv1.x"}},
		{name: "catalog endpoint", provider: "github", method: "oauth2",
			raw: map[string]any{"client_id": "x", "token_url": "https://evil.example/token"}, field: "config.token_url"},
		{name: "pinned tenant", provider: "aha", method: "oauth2",
			raw: map[string]any{"client_id": "x", "subdomain": "acme"}, want: map[string]any{"client_id": "x", "subdomain": "acme"}},
		{name: "pinned tenant leaves the domain", provider: "aha", method: "oauth2",
			raw: map[string]any{"client_id": "x", "subdomain": "evil.example/x"}, field: "config.subdomain"},
		{name: "tenant left to integrations", provider: "aha", method: "oauth2",
			raw: map[string]any{"client_id": "x"}, want: map[string]any{"client_id": "x"}},
		{name: "custom", provider: "custom", method: "oauth2",
			raw:  map[string]any{"client_id": "c", "client_secret": "s", "token_url": "https://as.example/token", "authorize_url": "https://as.example/auth", "pkce": true},
			want: map[string]any{"client_id": "c", "token_url": "https://as.example/token", "authorize_url": "https://as.example/auth", "pkce": true}, secret: "s"},
		{name: "custom without a server", provider: "custom", method: "oauth2",
			raw: map[string]any{"client_id": "c"}, field: "config.token_url"},
		{name: "custom bad URL", provider: "custom", method: "oauth2",
			raw: map[string]any{"client_id": "c", "issuer": "https://as.example", "token_url": "javascript:alert(1)"}, field: "config.token_url"},
		{name: "no client id", provider: "github", method: "oauth2", raw: map[string]any{"client_secret": "s"}, field: "config.client_id"},
		{name: "empty secret", provider: "github", method: "oauth2", raw: map[string]any{"client_id": "x", "client_secret": ""}, field: "config.client_secret"},
		{name: "secret not a string", provider: "github", method: "oauth2", raw: map[string]any{"client_id": "x", "client_secret": 5.0}, field: "config.client_secret"},
		{name: "scopes with spaces", provider: "github", method: "oauth2", raw: map[string]any{"client_id": "x", "scopes": []any{"a b"}}, field: "config.scopes"},
		{name: "an integration's setting", provider: "custom", method: "oauth2", raw: map[string]any{"client_id": "x", "issuer": "https://as.example", "base_url": "https://api.example"}, field: "config.base_url"},
		{name: "api key", provider: "github", method: "api_key", raw: map[string]any{}, field: "auth_method"},
		{name: "unknown provider", provider: "nope", method: "oauth2", raw: map[string]any{}, field: "provider"},
		{name: "oauth1 custom", provider: "custom", method: "oauth1",
			raw: map[string]any{"consumer_key": "ck", "consumer_secret": "cs", "request_token_url": "https://x.example/rt",
				"authorize_url": "https://x.example/a", "access_token_url": "https://x.example/at", "signature_method": "HMAC-SHA256"},
			want: map[string]any{"consumer_key": "ck", "request_token_url": "https://x.example/rt", "authorize_url": "https://x.example/a",
				"access_token_url": "https://x.example/at", "signature_method": "HMAC-SHA256"}, secret: "cs"},
		{name: "oauth1 bad signature", provider: "custom", method: "oauth1",
			raw: map[string]any{"consumer_key": "ck", "request_token_url": "https://x.example/rt", "authorize_url": "https://x.example/a",
				"access_token_url": "https://x.example/at", "signature_method": "MD5"}, field: "config.signature_method"},
		{name: "oauth1 client_id", provider: "custom", method: "oauth1", raw: map[string]any{"client_id": "x"}, field: "config.client_id"},
		{name: "oauth1 catalog", provider: "netsuite", method: "oauth1", raw: map[string]any{"consumer_key": "ck", "consumer_secret": "cs"},
			want: map[string]any{"consumer_key": "ck"}, secret: "cs"},
		{name: "oauth1 catalog pinned setting", provider: "netsuite", method: "oauth1",
			raw: map[string]any{"consumer_key": "ck", "account_id": "1234567-sb1"}, want: map[string]any{"consumer_key": "ck", "account_id": "1234567-sb1"}},
		{name: "oauth1 catalog bad pinned setting", provider: "netsuite", method: "oauth1",
			raw: map[string]any{"consumer_key": "ck", "account_id": "Not An Account"}, field: "config.account_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, secret, err := apps.Parse(cat, tc.provider, tc.method, tc.raw)
			if tc.want == nil {
				if err == nil || !strings.Contains(strings.Join(fields(err), " "), tc.field) {
					t.Fatalf("Parse = %v, %v; want a problem naming %s (got %v)", cfg, err, tc.field, fields(err))
				}
				if p, _ := problem.As(err); p != nil && strings.Contains(p.Error(), "s3cret") {
					t.Fatal("the problem repeats the secret")
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v %v", err, fields(err))
			}
			if !reflect.DeepEqual(cfg, tc.want) || secret != tc.secret {
				t.Fatalf("Parse = %v, %q; want %v, %q", cfg, secret, tc.want, tc.secret)
			}
			if _, ok := tc.raw["client_secret"]; ok && tc.raw["client_secret"] == nil {
				t.Fatal("Parse changed its input")
			}
		})
	}
}

// TestApply: an integration's config gets the app's client and endpoints;
// strictly, what it sets differently (or a secret) is refused naming the
// field; otherwise the app wins (the app changed) and InSync tells.
func TestApply(t *testing.T) {
	appCfg := map[string]any{"client_id": "c", "issuer": "https://as.example", "pkce": true, "scopes": []any{"openid"}}
	integ := map[string]any{"base_url": "https://api.example", "oauth2": map[string]any{"scopes": []any{"read"}}}
	got, err := apps.Apply("custom", "oauth2", appCfg, integ, true)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"base_url": "https://api.example", "oauth2": map[string]any{"scopes": []any{"read"}, "client_id": "c", "issuer": "https://as.example", "pkce": true}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Apply = %v\nwant %v", got, want)
	}
	if _, has := integ["oauth2"].(map[string]any)["client_id"]; has {
		t.Fatal("Apply changed its input")
	}
	if !apps.InSync("custom", "oauth2", appCfg, got) || apps.InSync("custom", "oauth2", appCfg, integ) {
		t.Fatal("InSync misjudges")
	}
	// Applying again is the same (what a PATCH sending the config back does).
	if again, err := apps.Apply("custom", "oauth2", appCfg, got, true); err != nil || !reflect.DeepEqual(again, got) {
		t.Fatalf("Apply again = %v, %v", again, err)
	}
	for name, bad := range map[string]map[string]any{
		"config.oauth2.client_secret": {"oauth2": map[string]any{"client_secret": "mine"}},
		"config.client_secret":        {"client_secret": "mine"},
		"config.oauth2.token_url":     {"oauth2": map[string]any{"token_url": "https://elsewhere.example/token"}},
		"config.oauth2.client_id":     {"oauth2": map[string]any{"client_id": "another"}},
		"config.client_id":            {"client_id": "another"},
		"config.oauth2.issuer":        {"oauth2": map[string]any{"issuer": "https://elsewhere.example"}},
	} {
		if _, err := apps.Apply("custom", "oauth2", appCfg, bad, true); !strings.Contains(strings.Join(fields(err), " "), name) {
			t.Errorf("%v: %v, want a problem naming %s", bad, fields(err), name)
		}
	}
	// The app moved: non-strict Apply follows it and drops what it no
	// longer has.
	moved := map[string]any{"client_id": "c2", "token_url": "https://new.example/token", "authorize_url": "https://new.example/auth"}
	synced, err := apps.Apply("custom", "oauth2", moved, got, false)
	if err != nil {
		t.Fatal(err)
	}
	o := synced["oauth2"].(map[string]any)
	if o["client_id"] != "c2" || o["token_url"] != "https://new.example/token" || o["issuer"] != nil || o["pkce"] != nil || o["scopes"] == nil {
		t.Fatalf("synced = %v", synced)
	}
	if apps.InSync("custom", "oauth2", moved, got) || !apps.InSync("custom", "oauth2", moved, synced) {
		t.Fatal("InSync misjudges a moved app")
	}

	// A catalog provider: the client id at the top, pinned settings too.
	cat := map[string]any{"client_id": "x", "subdomain": "acme"}
	out, err := apps.Apply("aha", "oauth2", cat, map[string]any{}, true)
	if err != nil || out["client_id"] != "x" || out["subdomain"] != "acme" {
		t.Fatalf("catalog Apply = %v, %v", out, err)
	}
	if _, err := apps.Apply("aha", "oauth2", cat, map[string]any{"subdomain": "other"}, true); !strings.Contains(strings.Join(fields(err), " "), "config.subdomain") {
		t.Fatalf("another tenant than the app's: %v", fields(err))
	}
	if out, err := apps.Apply("aha", "oauth2", map[string]any{"client_id": "x"}, map[string]any{"subdomain": "mine"}, true); err != nil || out["subdomain"] != "mine" {
		t.Fatalf("a tenant the app leaves open: %v, %v", out, err)
	}

	// OAuth 1.0a: the consumer goes under oauth1; its secret is refused.
	o1 := map[string]any{"consumer_key": "ck", "access_token_url": "https://x.example/at"}
	out, err = apps.Apply("custom", "oauth1", o1, map[string]any{"base_url": "https://api.example"}, true)
	if err != nil || out["oauth1"].(map[string]any)["consumer_key"] != "ck" {
		t.Fatalf("oauth1 Apply = %v, %v", out, err)
	}
	if _, err := apps.Apply("custom", "oauth1", o1, map[string]any{"oauth1": map[string]any{"consumer_secret": "x"}}, true); !strings.Contains(strings.Join(fields(err), " "), "config.oauth1.consumer_secret") {
		t.Fatalf("oauth1 secret: %v", fields(err))
	}
}

// TestOwn: an integration's own client, in an app's flat form.
func TestOwn(t *testing.T) {
	got := apps.Own("custom", "oauth2", map[string]any{"base_url": "https://api.example",
		"oauth2": map[string]any{"client_id": "c", "client_secret": "********", "token_url": "https://as.example/t", "scopes": []any{"a"}}}, nil)
	if !reflect.DeepEqual(got, map[string]any{"client_id": "c", "token_url": "https://as.example/t"}) {
		t.Fatalf("Own = %v", got)
	}
	got = apps.Own("github", "oauth2", map[string]any{"client_id": "x", "client_secret": "********", "scopes": []any{"repo"}}, nil)
	if !reflect.DeepEqual(got, map[string]any{"client_id": "x"}) {
		t.Fatalf("Own = %v", got)
	}
}
