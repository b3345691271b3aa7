package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/server"
	"github.com/stormcreds/storm/internal/server/servertest"
)

type providerEntry struct {
	Name        string   `json:"name"`
	DisplayName string   `json:"display_name"`
	Categories  []string `json:"categories"`
	AuthMethods []string `json:"auth_methods"`
	DocsURL     string   `json:"docs_url"`
	LogoURL     string   `json:"logo_url"`
	Verify      *bool    `json:"verify"`
}

func listProviders(t *testing.T, env *servertest.Env, query string) ([]providerEntry, string) {
	t.Helper()
	resp := env.Do(http.MethodGet, "/v1/providers"+query, "", nil)
	if resp.Status != http.StatusOK {
		t.Fatalf("GET /v1/providers%s: %d %s", query, resp.Status, resp.Body)
	}
	var body struct {
		Providers []providerEntry `json:"providers"`
		Next      string          `json:"next"`
	}
	decodeInto(t, resp.Body, &body)
	return body.Providers, body.Next
}

// TestProvidersCatalogEntries: GET /v1/providers answers the whole
// catalog, each entry with the contract's fields (API.md "Catalog
// entries").
func TestProvidersCatalogEntries(t *testing.T) {
	env := servertest.Start(t, servertest.Options{})
	list, next := listProviders(t, env, "")
	if len(list) < 300 || next != "" {
		t.Fatalf("%d providers, next %q: want the whole catalog at once", len(list), next)
	}
	for _, p := range list {
		if p.Name == "" || p.DisplayName == "" || p.Categories == nil || len(p.AuthMethods) == 0 ||
			!strings.HasPrefix(p.DocsURL, "https://") || p.Verify == nil ||
			!strings.HasPrefix(p.LogoURL, "/v1/providers/"+p.Name+"/logo.svg?v=") {
			t.Errorf("entry %+v lacks a contract field", p)
		}
	}
	full := env.Do(http.MethodGet, "/v1/providers/github", "", nil).JSON(t)
	if full["logo_url"] == nil || full["oauth2"] == nil {
		t.Errorf("GET /v1/providers/github: %v", full)
	}
}

// TestProvidersPagination: limit and after page through the catalog in
// name order, category filters it, and bad parameters are 400s.
func TestProvidersPagination(t *testing.T) {
	env := servertest.Start(t, servertest.Options{})
	all, _ := listProviders(t, env, "")
	var paged []providerEntry
	after := ""
	for pages := 0; ; pages++ {
		q := "?limit=70"
		if after != "" {
			q += "&after=" + after
		}
		page, next := listProviders(t, env, q)
		if len(page) > 70 || pages > 10 {
			t.Fatalf("page of %d, %d pages", len(page), pages)
		}
		paged = append(paged, page...)
		if next == "" {
			break
		}
		if next != page[len(page)-1].Name {
			t.Fatalf("next %q is not the page's last name", next)
		}
		after = next
	}
	if len(paged) != len(all) {
		t.Fatalf("paged %d, whole %d", len(paged), len(all))
	}
	for i := range all {
		if paged[i].Name != all[i].Name || (i > 0 && all[i-1].Name >= all[i].Name) {
			t.Fatalf("entry %d: %s vs %s, not in name order", i, paged[i].Name, all[i].Name)
		}
	}
	crm, _ := listProviders(t, env, "?category=crm")
	if len(crm) < 10 {
		t.Errorf("%d CRM providers", len(crm))
	}
	for _, p := range crm {
		if !contains(p.Categories, "crm") {
			t.Errorf("%s is not a CRM", p.Name)
		}
	}
	for _, q := range []string{"?limit=0", "?limit=1001", "?limit=x", "?after=no-such-provider", "?category=crms"} {
		if r := env.Do(http.MethodGet, "/v1/providers"+q, "", nil); r.Status != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", q, r.Status)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestProviderLogoIsInertAndCacheable: the logo route needs no token
// (an <img> sends none), answers an SVG that cannot run anything when
// opened on its own (CSP default-src 'none', nosniff), is immutable at
// its versioned URL and revalidates by ETag elsewhere, and does not tell
// which provider names exist.
func TestProviderLogoIsInertAndCacheable(t *testing.T) {
	env := servertest.Start(t, servertest.Options{})
	list, _ := listProviders(t, env, "")
	var github providerEntry
	for _, p := range list {
		if p.Name == "github" {
			github = p
		}
	}
	get := func(path string, header http.Header) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, env.URL+path, nil)
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := get(github.LogoURL, nil)
	h := resp.Header
	if resp.StatusCode != http.StatusOK || h.Get("Content-Type") != "image/svg+xml" ||
		h.Get("Content-Security-Policy") != "default-src 'none'; style-src 'unsafe-inline'" ||
		h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Cache-Control") != "public, max-age=31536000, immutable" ||
		h.Get("ETag") == "" {
		t.Fatalf("logo answer %d %v", resp.StatusCode, h)
	}
	if r := get(github.LogoURL, http.Header{"If-None-Match": {h.Get("ETag")}}); r.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", r.StatusCode)
	}
	if r := get("/v1/providers/github/logo.svg", nil); r.StatusCode != http.StatusOK || r.Header.Get("Cache-Control") != "public, no-cache" {
		t.Errorf("unversioned: %d %q", r.StatusCode, r.Header.Get("Cache-Control"))
	}
	if r := get("/v1/providers/github/logo.svg?v=stale", nil); r.Header.Get("Cache-Control") == "public, max-age=31536000, immutable" {
		t.Error("a stale version was answered as immutable")
	}
	unknown := get("/v1/providers/no-such-provider-xyz/logo.svg", nil)
	if unknown.StatusCode != http.StatusOK || unknown.Header.Get("Content-Type") != "image/svg+xml" {
		t.Errorf("unknown name: %d, want a monogram like any operator-defined name", unknown.StatusCode)
	}
	if r := get("/v1/providers/Bad%20Name/logo.svg", nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("impossible name: %d, want 404", r.StatusCode)
	}
}

const byoProvider = `name: acme-internal
display_name: Acme Internal
categories: [dev-tools]
docs_url: https://docs.acme.example/auth
base_url: https://api.acme.example
auth_methods: [api_key]
api_key:
  in: header
  name: X-Acme-Key
verify:
  method: GET
  path: /me
`

// TestOperatorProviders: definitions in <data-dir>/providers join the
// catalog at start; a bad one stops the start, naming file and line.
func TestOperatorProviders(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "providers"), 0o700)
	os.WriteFile(filepath.Join(dir, "providers", "acme.yaml"), []byte(byoProvider), 0o600)
	env := servertest.Start(t, servertest.Options{DataDir: dir})
	list, _ := listProviders(t, env, "?category=dev-tools")
	found := false
	for _, p := range list {
		found = found || p.Name == "acme-internal"
	}
	if !found {
		t.Fatal("the operator's provider is not listed")
	}
	r := env.Do(http.MethodPost, "/v1/integrations", "", map[string]any{"name": "acme", "provider": "acme-internal", "auth_method": "api_key"})
	if r.Status != http.StatusCreated {
		t.Fatalf("create an integration of the operator's provider: %d %s", r.Status, r.Body)
	}

	bad := t.TempDir()
	os.MkdirAll(filepath.Join(bad, "providers"), 0o700)
	os.WriteFile(filepath.Join(bad, "providers", "acme.yaml"), []byte(strings.Replace(byoProvider, "in: header", "in: cookie", 1)), 0o600)
	_, err := server.Open(context.Background(), server.Config{DataDir: bad})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(bad, "providers", "acme.yaml")+":8: api_key.in:") {
		t.Errorf("start with a bad definition: %v", err)
	}
	if _, err := server.Open(context.Background(), server.Config{DataDir: t.TempDir(), ProvidersDir: filepath.Join(bad, "missing")}); err == nil {
		t.Error("a named providers dir that does not exist was accepted")
	}
}

func decodeInto(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}
