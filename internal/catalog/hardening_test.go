package catalog

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// TestBaseURLWithDotSegmentsRefused: a base URL whose path could resolve
// elsewhere (dot segments in any encoding, empty segments, encoded
// slashes) is refused where it is set — a custom integration's config and
// a catalog entry — instead of failing every proxied request later.
func TestBaseURLWithDotSegmentsRefused(t *testing.T) {
	c := mustLoad(t)
	bad := []string{
		"https://api.example.com/v1/../x",
		"https://api.example.com/..",
		"https://api.example.com/v1/%2e%2e/x",
		"https://api.example.com/v1/%2E%2e",
		"https://api.example.com/v1/.%2e/x",
		"https://api.example.com/./v1",
		"https://api.example.com/v1/.",
		"https://api.example.com/v1/%2e/x",
		"https://api.example.com/v1/..;/x",
		"https://api.example.com/v1//x",
		"https://api.example.com/v1/a%2fb",
		"https://api.example.com/v1/a%5cb",
		"https://api.example.com/v1/a\\b",
	}
	for _, base := range bad {
		cfg := map[string]any{"base_url": base, "api_key": map[string]any{"in": "header", "name": "X-Key"}}
		_, err := c.Resolve(Custom, cfg)
		if err == nil {
			t.Errorf("custom base_url %q accepted", base)
			continue
		}
		if got := fieldErrs(t, err); !slices.Equal(got, []string{"base_url"}) {
			t.Errorf("custom base_url %q: fields %v, want [base_url] (%v)", base, got, err)
		}
	}
	for _, base := range []string{"https://api.example.com", "https://api.example.com/", "https://api.example.com/v1",
		"https://api.example.com/v1/", "https://api.example.com/v1.2/x", "https://api.example.com/..well/x",
		"https://api.example.com/a%20b", "http://127.0.0.1:8080/api"} {
		cfg := map[string]any{"base_url": base, "api_key": map[string]any{"in": "header", "name": "X-Key"}}
		if _, err := c.Resolve(Custom, cfg); err != nil {
			t.Errorf("custom base_url %q refused: %v", base, err)
		}
	}

	// A catalog entry is held to the same rule when it is loaded.
	for _, path := range []string{"/v1/../admin", "/v1/%2e%2e/admin", "/./v1"} {
		file := strings.Replace(valid, "https://{subdomain}.acme.example", "https://{subdomain}.acme.example"+path, 1)
		_, err := LoadFS(fstest.MapFS{"acme.yaml": {Data: []byte(file)}})
		if err == nil || !strings.Contains(err.Error(), "base_url: must have a plain path") {
			t.Errorf("catalog base_url with %s: %v", path, err)
		}
	}
}

// TestCustomOAuth2PKCEDefaultsToS256: a custom OAuth 2.0 config that does
// not mention pkce gets PKCE; only an explicit false turns it off.
func TestCustomOAuth2PKCEDefaultsToS256(t *testing.T) {
	c := mustLoad(t)
	for _, tc := range []struct {
		name string
		pkce any // nil: not set
		want bool
	}{
		{"unset", nil, true},
		{"true", true, true},
		{"false", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := map[string]any{"authorize_url": "https://id.example.com/authorize", "token_url": "https://id.example.com/token", "client_id": "c"}
			if tc.pkce != nil {
				o["pkce"] = tc.pkce
			}
			r, err := c.Resolve(Custom, map[string]any{"base_url": "https://api.example.com", "oauth2": o})
			if err != nil {
				t.Fatal(err)
			}
			if r.Provider.OAuth2.PKCE != tc.want {
				t.Errorf("PKCE = %v, want %v", r.Provider.OAuth2.PKCE, tc.want)
			}
		})
	}
	// JSON null reads as "not set", like every other setting.
	r, err := c.Resolve(Custom, map[string]any{"base_url": "https://api.example.com",
		"oauth2": map[string]any{"issuer": "https://id.example.com", "pkce": nil}})
	if err != nil || !r.Provider.OAuth2.PKCE {
		t.Errorf("pkce null: PKCE = %v, %v; want true", r.Provider.OAuth2.PKCE, err)
	}
}
