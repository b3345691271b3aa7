package catalog

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// writeDir writes provider files into a temporary directory.
func writeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const byoAcme = `name: acme-internal
display_name: Acme Internal API
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

// TestLoadDirAddsAndReplaces: an operator's files add providers and
// replace embedded ones by name; the rest of the catalog is untouched.
func TestLoadDirAddsAndReplaces(t *testing.T) {
	github := strings.Replace(byoAcme, "name: acme-internal", "name: github", 1)
	github = strings.Replace(github, "Acme Internal API", "GitHub Enterprise (Acme)", 1)
	dir := writeDir(t, map[string]string{"acme.yaml": byoAcme, "github.yaml": github, "notes.txt": "ignored"})
	c, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	embedded := mustLoad(t)
	if got, want := len(c.List()), len(embedded.List())+1; got != want {
		t.Errorf("%d providers, want %d", got, want)
	}
	p, ok := c.Get("acme-internal")
	if !ok || p.APIKey.Name != "X-Acme-Key" || c.Origin("acme-internal") != filepath.Join(dir, "acme.yaml") {
		t.Errorf("acme-internal: %+v, origin %q", p, c.Origin("acme-internal"))
	}
	l, _ := c.Logo("acme-internal")
	if l.Brand || CheckLogoSVG(l.SVG) != nil {
		t.Error("a new provider should get a valid monogram")
	}
	// The public logo route must not tell an operator's provider from a
	// name nobody defined.
	if u, ok := embedded.Logo("acme-internal"); !ok || u.Hash != l.Hash {
		t.Error("an operator's provider's logo differs from an unknown name's")
	}
	if _, ok := c.Logo("Not A Name/.."); ok {
		t.Error("a logo for an impossible name")
	}
	g, _ := c.Get("github")
	if g.DisplayName != "GitHub Enterprise (Acme)" || g.Supports(MethodOAuth2) || c.Origin("github") == "" {
		t.Errorf("github was not replaced: %+v", g)
	}
	if l, _ := c.Logo("github"); !l.Brand {
		t.Error("a replaced provider keeps its brand mark")
	}
	if _, err := c.Resolve("acme-internal", nil); err != nil {
		t.Errorf("resolve: %v", err)
	}
	if s, _ := c.Get("stripe"); c.Origin("stripe") != "" || s.BaseURL != "https://api.stripe.com" {
		t.Error("an embedded provider changed")
	}
	if c, err := LoadDir(t.TempDir()); err != nil || len(c.List()) != len(embedded.List()) {
		t.Errorf("an empty directory: %v", err)
	}
}

// TestLoadDirReportsFileAndLine: every problem in every file is
// reported at once, as file:line: field: message.
func TestLoadDirReportsFileAndLine(t *testing.T) {
	bad := strings.Replace(byoAcme, "  in: header", "  in: cookie", 1) // line 8
	typo := strings.Replace(byoAcme, "verify:", "verfy:", 1)           // line 10
	noDocs := strings.Replace(byoAcme, "docs_url: https://docs.acme.example/auth\n", "", 1)
	loose := byoAcme + "config:\n  - name: host\n    label: Host\n    required: true\n    pattern: '.+'\n"
	loose = strings.Replace(loose, "https://api.acme.example", "https://{host}.acme.example", 1)
	dir := writeDir(t, map[string]string{
		"a-bad.yaml":    bad,
		"b-typo.yaml":   typo,
		"c-nodocs.yaml": strings.Replace(noDocs, "acme-internal", "acme-two", 1),
		"d-loose.yaml":  strings.Replace(loose, "acme-internal", "acme-three", 1),
		"d2-ok.yaml":    strings.Replace(byoAcme, "acme-internal", "acme-five", 1),
		"e-dup.yaml":    strings.Replace(byoAcme, "acme-internal", "acme-five", 1),
		"f-custom.yaml": strings.Replace(byoAcme, "acme-internal", "custom", 1),
		"g-cat.yaml":    strings.Replace(strings.Replace(byoAcme, "[dev-tools]", "[dev-tools, crms]", 1), "acme-internal", "acme-four", 1),
		"h-empty.yaml":  "",
		"i-syntax.yaml": "name: [unclosed\n",
	})
	_, err := LoadDir(dir)
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("want a *LoadError, got %v", err)
	}
	got := err.Error()
	for _, want := range []string{
		filepath.Join(dir, "a-bad.yaml") + `:8: api_key.in: must be header, query or basic, not "cookie"`,
		filepath.Join(dir, "b-typo.yaml") + ":10: field verfy not found",
		filepath.Join(dir, "c-nodocs.yaml") + ":1: docs_url: is required",
		filepath.Join(dir, "d-loose.yaml") + `:5: base_url: the pattern of config field "host" accepts`,
		filepath.Join(dir, "e-dup.yaml") + `:1: name: duplicate provider name "acme-five" (also in ` + filepath.Join(dir, "d2-ok.yaml") + ")",
		filepath.Join(dir, "f-custom.yaml") + ":1: the custom provider takes",
		filepath.Join(dir, "g-cat.yaml") + `:3: categories[1]: unknown category "crms"`,
		filepath.Join(dir, "h-empty.yaml") + ": empty file",
		filepath.Join(dir, "i-syntax.yaml") + ":1:",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors do not contain\n  %s\nin\n%s", want, got)
		}
	}
	if len(le.Problems) < 9 {
		t.Errorf("%d problems, want every file's", len(le.Problems))
	}
}

func TestLoadDirLimits(t *testing.T) {
	if _, err := LoadDir(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing directory was accepted")
	}
	file := filepath.Join(t.TempDir(), "x.yaml")
	os.WriteFile(file, []byte("x"), 0o600)
	if _, err := LoadDir(file); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("a file as the directory: %v", err)
	}
	big := writeDir(t, map[string]string{"big.yaml": byoAcme + "# " + strings.Repeat("x", MaxProviderFileSize) + "\n"})
	if _, err := LoadDir(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a file over the limit: %v", err)
	}
}

func TestValidateFile(t *testing.T) {
	dir := writeDir(t, map[string]string{"ok.yaml": byoAcme, "bad.yaml": strings.Replace(byoAcme, "path: /me", "path: me", 1)})
	if err := ValidateFile(filepath.Join(dir, "ok.yaml")); err != nil {
		t.Errorf("a valid file: %v", err)
	}
	err := ValidateFile(filepath.Join(dir, "bad.yaml"))
	var le *LoadError
	if !errors.As(err, &le) || len(le.Problems) != 1 || le.Problems[0].Line != 12 || le.Problems[0].Field != "verify.path" {
		t.Errorf("a bad file: %#v", err)
	}
	if err := ValidateFile(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("a missing file was accepted")
	}
}

func TestNodeLine(t *testing.T) {
	src := `name: acme
api_key:
  in: header
  headers:
    X-Api.Version: '1'
oauth2:
  scopes: [a, b]
config:
  - name: one
  - name: two
    pattern: x
`
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(src), &root); err != nil {
		t.Fatal(err)
	}
	for field, want := range map[string]int{
		"name": 1, "api_key": 2, "api_key.in": 3, "api_key.headers.X-Api.Version": 5,
		"oauth2.scopes[1]": 7, "config[1].pattern": 11, "config[1]": 10, "config[5].name": 8, "oauth2.scopes[9]": 7,
		"verify": 1, "api_key.prefix": 2, "": 1,
	} {
		if got := nodeLine(&root, field); got != want {
			t.Errorf("%q: line %d, want %d", field, got, want)
		}
	}
}

// TestLoadDirCustomCannotBeReplaced: an operator's file may not redefine
// the custom provider, even one shaped as the embedded entry.
func TestLoadDirCustomCannotBeReplaced(t *testing.T) {
	custom := "name: custom\ndisplay_name: Mine\ncategories: [custom]\ndocs_url: https://x.example\nauth_methods: [api_key]\n"
	dir := writeDir(t, map[string]string{"custom.yaml": custom})
	_, err := LoadDir(dir)
	if err == nil || !strings.Contains(err.Error(), "custom.yaml:1: name: the custom provider cannot be redefined") {
		t.Errorf("got %v", err)
	}
}
