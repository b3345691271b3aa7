package catalog_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stormcreds/storm/internal/catalog"
)

// schemaValidMethods uses the auth methods added with issue 10: Basic
// with a token exchange, OAuth 1.0a three-legged, a GitHub App.
const schemaValidMethods = `name: acme
display_name: Acme
categories: [crm]
docs_url: https://acme.example/docs/auth
base_url: https://api.acme.example
auth_methods: [basic, oauth1, service_account]
basic:
  username_label: Client ID
  password_label: Client secret
exchange:
  method: POST
  path: /auth/token
  form:
    client_id: '{{username}}'
    client_secret: '{{password}}'
  token_pointer: /access_token
  expires_in_pointer: /expires_in
  apply: {in: header, name: Authorization, prefix: 'Bearer '}
oauth1:
  request_token_url: https://acme.example/oauth/request_token
  authorize_url: https://acme.example/oauth/authorize
  access_token_url: https://acme.example/oauth/access_token
  signature_method: HMAC-SHA256
verify:
  method: GET
  path: /me
service_account:
  kind: github_app
  requires: [app_id, installation_id]
  verify:
    method: GET
    path: /installation/repositories
`

// TestSchemaAndValidatorAgreeOnNewMethods: the schema and the Go
// validator accept the same definition using basic, oauth1, exchange and
// github_app, and reject the same bad ones.
func TestSchemaAndValidatorAgreeOnNewMethods(t *testing.T) {
	s := compileSchema(t)
	goOK := func(src string) error {
		_, err := catalog.LoadFS(fstest.MapFS{"acme.yaml": &fstest.MapFile{Data: []byte(src)}})
		return err
	}
	if err := goOK(schemaValidMethods); err != nil {
		t.Fatalf("Go rejects the valid definition: %v", err)
	}
	if err := s.Validate(asJSON(t, []byte(schemaValidMethods))); err != nil {
		t.Fatalf("the schema rejects the valid definition: %v", err)
	}
	r := func(old, new string) string {
		if !strings.Contains(schemaValidMethods, old) {
			t.Fatalf("%q is not in the valid definition", old)
		}
		return strings.Replace(schemaValidMethods, old, new, 1)
	}
	const mcp = "name: acme\ndisplay_name: Acme MCP\ncategories: [ai]\ndocs_url: https://acme.example/docs/mcp\n" +
		"base_url: https://mcp.acme.example/mcp\nauth_methods: [oauth2]\noauth2:\n  protected_resource: true\n"
	if err := goOK(mcp); err != nil {
		t.Fatalf("Go rejects the protected resource: %v", err)
	}
	if err := s.Validate(asJSON(t, []byte(mcp))); err != nil {
		t.Fatalf("the schema rejects the protected resource: %v", err)
	}
	for name, src := range map[string]string{
		"oauth1 without section":        r("[basic, oauth1, service_account]", "[basic, oauth2, service_account]"),
		"oauth1 section without method": r("[basic, oauth1, service_account]", "[basic, service_account]"),
		"bad signature method":          r("signature_method: HMAC-SHA256", "signature_method: HMAC-MD5"),
		"two of three endpoints":        r("  access_token_url: https://acme.example/oauth/access_token\n", ""),
		"realm_format without realm":    r("  signature_method: HMAC-SHA256\n", "  signature_method: HMAC-SHA256\n  realm_format: netsuite\n"),
		"exchange body and form":        r("  token_pointer: /access_token\n", "  body: {a: b}\n  token_pointer: /access_token\n"),
		"exchange pointer":              r("token_pointer: /access_token", "token_pointer: access_token"),
		"exchange without apply":        r("  apply: {in: header, name: Authorization, prefix: 'Bearer '}\n", ""),
		"exchange apply in body":        r("apply: {in: header", "apply: {in: body"),
		"exchange path template":        r("path: /auth/token", "path: /auth/{tenant}"),
		"both expiry pointers":          r("  expires_in_pointer: /expires_in\n", "  expires_in_pointer: /expires_in\n  expires_at_pointer: /expires_at\n"),
		"basic label with braces":       r("username_label: Client ID", "username_label: '{client}'"),
		"basic Authorization header":    r("  password_label: Client secret\n", "  password_label: Client secret\n  headers:\n    Authorization: x\n"),
		"github_app without verify":     r("  verify:\n    method: GET\n    path: /installation/repositories\n", ""),
		"github_app with token_url":     r("  kind: github_app\n", "  kind: github_app\n  token_url: https://acme.example/token\n"),
		"reserved consumer_key":         schemaValidMethods + "config:\n  - name: consumer_key\n    label: Key\n",
		"protected resource with endpoints": strings.Replace(mcp, "  protected_resource: true\n",
			"  protected_resource: true\n  token_url: https://acme.example/token\n", 1),
	} {
		t.Run(name, func(t *testing.T) {
			goErr := goOK(src)
			schemaErr := s.Validate(asJSON(t, []byte(src)))
			if goErr == nil || schemaErr == nil {
				t.Errorf("Go: %v\nschema: %v\nboth should reject", goErr, schemaErr)
			}
		})
	}
}
