package catalog_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/methods/exchange"
)

// TestCatalogNewMethodsCoverage: the embedded catalog has at least 20
// Basic providers, 4 OAuth 1.0a ones (NetSuite token-based authentication
// among them), GitHub Apps on github, 10 token exchanges and 5 remote
// MCP servers; every exchange block passes package exchange's own checks
// (which the catalog's shape check cannot import).
func TestCatalogNewMethodsCoverage(t *testing.T) {
	c, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	var basic, oauth1, exchanges, mcp []string
	for _, p := range c.List() {
		if p.Name == catalog.Custom || p.Name == catalog.MCP {
			continue
		}
		if p.Supports(catalog.MethodBasic) && p.Exchange == nil {
			basic = append(basic, p.Name)
		}
		if p.Supports(catalog.MethodOAuth1) {
			oauth1 = append(oauth1, p.Name)
		}
		if o := p.OAuth2; o != nil && o.ProtectedResource {
			mcp = append(mcp, p.Name)
		}
		if e := p.Exchange; e != nil {
			exchanges = append(exchanges, p.Name)
			block := *e
			block.DefaultTTL, block.RefreshMargin, block.DocsURL = 0, 0, ""
			raw, err := json.Marshal(block)
			if err != nil {
				t.Fatal(err)
			}
			// The API's block has no catalog-only members.
			var m map[string]any
			json.Unmarshal(raw, &m)
			for _, k := range []string{"default_ttl", "refresh_margin", "docs_url"} {
				delete(m, k)
			}
			raw, _ = json.Marshal(m)
			if _, err := exchange.ParseConfig(raw, e.Kind()); err != nil {
				t.Errorf("%s: exchange block: %v", p.Name, err)
			}
		}
	}
	t.Logf("basic (%d): %s", len(basic), strings.Join(basic, " "))
	t.Logf("oauth1 (%d): %s", len(oauth1), strings.Join(oauth1, " "))
	t.Logf("exchange (%d): %s", len(exchanges), strings.Join(exchanges, " "))
	t.Logf("mcp (%d): %s", len(mcp), strings.Join(mcp, " "))
	switch {
	case len(basic) < 20:
		t.Errorf("%d basic providers, want at least 20", len(basic))
	case len(oauth1) < 4 || !strings.Contains(" "+strings.Join(oauth1, " ")+" ", " netsuite "):
		t.Errorf("oauth1 providers %v: want at least 4, NetSuite among them", oauth1)
	case len(exchanges) < 10:
		t.Errorf("%d exchange providers, want at least 10", len(exchanges))
	case len(mcp) < 5:
		t.Errorf("%d remote MCP servers, want at least 5", len(mcp))
	}
	gh, _ := c.Get("github")
	if !gh.Supports(catalog.MethodServiceAccount) || gh.ServiceAccount.Kind != "github_app" {
		t.Errorf("github offers no GitHub App: %v %+v", gh.AuthMethods, gh.ServiceAccount)
	}
	r, err := c.ResolveMethod("netsuite", catalog.MethodOAuth1, map[string]any{"account_id": "1234567-sb1", "consumer_key": "ck", "consumer_secret": "cs"})
	if err != nil || r.BaseURL.Host != "1234567-sb1.suitetalk.api.netsuite.com" || r.Provider.OAuth1.Realm != "1234567-sb1" {
		t.Errorf("netsuite resolves to %v (%v)", r.BaseURL, err)
	}
}
