package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProvidersValidate: `storm providers validate FILE...` works offline
// (no server, no token), prints every problem as file:line: field:
// message, and fails when any file has one.
func TestProvidersValidate(t *testing.T) {
	dir := t.TempDir()
	good := `name: acme-internal
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
	bad := strings.Replace(strings.Replace(good, "in: header", "in: cookie", 1), "[dev-tools]", "[devtools]", 1)
	okFile, badFile := filepath.Join(dir, "ok.yaml"), filepath.Join(dir, "bad.yaml")
	os.WriteFile(okFile, []byte(good), 0o600)
	os.WriteFile(badFile, []byte(bad), 0o600)

	r := &invocation{env: map[string]string{"STORM_SERVER": "http://127.0.0.1:1"}} // nothing listens there
	if err := r.exec("providers", "validate", okFile); err != nil {
		t.Fatalf("a valid file: %v\n%s", err, r.stdout.String())
	}
	if got := r.stdout.String(); got != okFile+": ok\n" {
		t.Errorf("stdout %q", got)
	}

	r = &invocation{env: map[string]string{}}
	err := r.exec("providers", "validate", okFile, badFile)
	if err == nil || err.Error() != "1 of 2 files have problems" {
		t.Fatalf("error %v", err)
	}
	for _, want := range []string{
		badFile + `:3: categories[0]: unknown category "devtools"`,
		badFile + `:8: api_key.in: must be header, query or basic, not "cookie"`,
	} {
		if !strings.Contains(r.stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout.String())
		}
	}

	r = &invocation{env: map[string]string{}}
	if err := r.exec("providers", "validate", "--json", badFile); err == nil {
		t.Fatal("a bad file passed with --json")
	}
	var out struct {
		Files []struct {
			File     string
			OK       bool
			Problems []struct {
				Line  int
				Field string
			}
		}
	}
	if err := json.Unmarshal(r.stdout.Bytes(), &out); err != nil || len(out.Files) != 1 || out.Files[0].OK || len(out.Files[0].Problems) != 2 ||
		out.Files[0].Problems[0].Line != 3 {
		t.Errorf("JSON %s (%v)", r.stdout.String(), err)
	}

	r = &invocation{env: map[string]string{}}
	if err := r.exec("providers", "validate"); err == nil || !strings.Contains(err.Error(), "want at least one FILE") {
		t.Errorf("no file: %v", err)
	}
	r = &invocation{env: map[string]string{}}
	if err := r.exec("providers", "validate", filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("a missing file passed")
	}
}
