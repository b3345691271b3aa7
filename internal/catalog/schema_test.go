package catalog_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/stormcreds/storm/internal/catalog"
)

// schemaFile is the published definition schema.
const schemaFile = "../../docs/provider.schema.json"

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	s, err := c.Compile(schemaFile)
	if err != nil {
		t.Fatalf("compile %s: %v", schemaFile, err)
	}
	return s
}

// asJSON turns a YAML definition into the JSON value the schema sees.
func asJSON(t *testing.T, src []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(src, &v); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json: %v", err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSchemaAcceptsEveryEntry: every embedded provider definition
// validates against docs/provider.schema.json.
func TestSchemaAcceptsEveryEntry(t *testing.T) {
	s := compileSchema(t)
	files, err := filepath.Glob("providers/*.yaml")
	if err != nil || len(files) < 300 {
		t.Fatalf("%d files: %v", len(files), err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(asJSON(t, b)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestSchemaMatchesVocabularies: the schema's enums are the Go
// validator's lists.
func TestSchemaMatchesVocabularies(t *testing.T) {
	b, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Properties struct {
			Categories struct {
				Items struct {
					Enum []string `json:"enum"`
				} `json:"items"`
			} `json:"categories"`
			AuthMethods struct {
				Items struct {
					Enum []string `json:"enum"`
				} `json:"items"`
			} `json:"auth_methods"`
			ServiceAccount struct {
				Properties struct {
					Kind struct {
						Enum []string `json:"enum"`
					} `json:"kind"`
				} `json:"properties"`
			} `json:"service_account"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var cats []string
	for _, c := range catalog.Categories {
		cats = append(cats, c.Name)
	}
	for _, m := range []struct {
		what      string
		got, want []string
	}{
		{"categories", doc.Properties.Categories.Items.Enum, cats},
		{"auth methods", doc.Properties.AuthMethods.Items.Enum, []string{catalog.MethodAPIKey, catalog.MethodOAuth2, catalog.MethodServiceAccount, catalog.MethodBasic, catalog.MethodOAuth1}},
		{"service-account kinds", doc.Properties.ServiceAccount.Properties.Kind.Enum, catalog.ServiceAccountKinds},
	} {
		if !slices.Equal(m.got, m.want) {
			t.Errorf("schema %s %v, Go %v", m.what, m.got, m.want)
		}
	}
}

// schemaValid is a definition both validators accept; the cases below
// break it one way each.
const schemaValid = `name: acme
display_name: Acme
categories: [crm]
docs_url: https://acme.example/docs/auth
base_url: https://api.acme.example
auth_methods: [api_key, oauth2, service_account]
api_key:
  in: header
  name: Authorization
  prefix: 'Bearer '
verify:
  method: GET
  path: /me
oauth2:
  authorize_url: https://acme.example/oauth/authorize
  token_url: https://acme.example/oauth/token
  scopes: [read]
  auth_style: post
service_account:
  kind: client_credentials
  token_url: https://acme.example/oauth/token
  client_auth: basic
`

// TestSchemaAndValidatorAgree: the schema and the Go validator accept the
// same valid definition and reject the same bad ones (those a schema can
// express; the Go validator checks more, such as placeholders).
func TestSchemaAndValidatorAgree(t *testing.T) {
	s := compileSchema(t)
	goOK := func(src string) error {
		_, err := catalog.LoadFS(fstest.MapFS{"acme.yaml": &fstest.MapFile{Data: []byte(src)}})
		return err
	}
	if err := goOK(schemaValid); err != nil {
		t.Fatalf("Go rejects the valid definition: %v", err)
	}
	if err := s.Validate(asJSON(t, []byte(schemaValid))); err != nil {
		t.Fatalf("the schema rejects the valid definition: %v", err)
	}
	r := func(old, new string) string {
		if !strings.Contains(schemaValid, old) {
			t.Fatalf("%q is not in the valid definition", old)
		}
		return strings.Replace(schemaValid, old, new, 1)
	}
	for name, src := range map[string]string{
		"unknown field":              schemaValid + "verfy: {}\n",
		"bad name":                   r("name: acme", "name: Acme"),
		"no display name":            r("display_name: Acme\n", ""),
		"http docs_url":              r("docs_url: https://", "docs_url: http://"),
		"no base_url":                r("base_url: https://api.acme.example\n", ""),
		"unknown category":           r("[crm]", "[crms]"),
		"duplicate category":         r("[crm]", "[crm, crm]"),
		"unknown auth method":        r("[api_key, oauth2, service_account]", "[api_key, oauth2, service_account, saml]"),
		"duplicate auth method":      r("[api_key, oauth2, service_account]", "[api_key, api_key, oauth2, service_account]"),
		"no auth methods":            r("[api_key, oauth2, service_account]", "[]"),
		"section without method":     r("[api_key, oauth2, service_account]", "[api_key, oauth2]"),
		"method without section":     r("service_account:\n  kind: client_credentials\n  token_url: https://acme.example/oauth/token\n  client_auth: basic\n", ""),
		"api key without verify":     r("verify:\n  method: GET\n  path: /me\n", ""),
		"bad placement":              r("in: header", "in: cookie"),
		"header without name":        r("  name: Authorization\n", ""),
		"basic with a name":          r("in: header", "in: basic"),
		"verify method":              r("method: GET", "method: DELETE"),
		"relative verify path":       r("path: /me", "path: me"),
		"body with GET":              r("path: /me", "path: /me\n  body: '{}'"),
		"expect out of range":        r("path: /me", "path: /me\n  expect: [99]"),
		"no auth style":              r("  auth_style: post\n", ""),
		"bad auth style":             r("auth_style: post", "auth_style: header"),
		"oauth2 without endpoints":   r("  authorize_url: https://acme.example/oauth/authorize\n", ""),
		"http token url":             r("  token_url: https://acme.example/oauth/token\n  scopes", "  token_url: http://acme.example/oauth/token\n  scopes"),
		"protected authorize param":  r("  auth_style: post\n", "  auth_style: post\n  extra_authorize_params:\n    redirect_uri: https://evil.example\n"),
		"bad duration":               r("  auth_style: post\n", "  auth_style: post\n  default_ttl: soon\n"),
		"no_expiry with default_ttl": r("  auth_style: post\n", "  auth_style: post\n  no_expiry: true\n  default_ttl: 1h\n"),
		"bad kind":                   r("kind: client_credentials", "kind: kerberos"),
		"cc without client_auth":     r("  client_auth: basic\n", ""),
		"protected claim":            r("  client_auth: basic\n", "  client_auth: basic\n  claims:\n    aud: x\n"),
		"reserved config field":      schemaValid + "config:\n  - name: client_id\n    label: Client\n",
		"config without label":       schemaValid + "config:\n  - name: tenant\n",
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
