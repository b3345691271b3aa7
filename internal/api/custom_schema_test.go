package api_test

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/stormcreds/storm/internal/server/servertest"
)

// TestCustomConfigSchemaMatchesServer (issue 13): openapi.yaml's JSON
// Schema of a custom integration's config names exactly the settings the
// server accepts, at every level (the server's "unknown setting" answer
// lists them), its enums are accepted, and each per-method example
// creates an integration.
func TestCustomConfigSchemaMatchesServer(t *testing.T) {
	b, err := os.ReadFile("../../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Components struct {
			Schemas map[string]map[string]any `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	schemas := spec.Components.Schemas
	props := func(name string) map[string]any {
		s := schemas[name]
		if s == nil {
			t.Fatalf("openapi.yaml has no schema %s", name)
		}
		if s["additionalProperties"] != false {
			t.Errorf("%s allows unknown settings; the server refuses them", name)
		}
		p, _ := s["properties"].(map[string]any)
		return p
	}
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	n := 0
	create := func(method string, config map[string]any) (int, map[string]any) {
		n++
		r := env.Do("POST", "/v1/integrations", "", map[string]any{"name": fmt.Sprintf("schema %s %d", method, n),
			"provider": "custom", "auth_method": method, "config": config})
		var body map[string]any
		json.Unmarshal(r.Body, &body)
		return r.Status, body
	}
	fieldErrors := func(body map[string]any) map[string]string {
		out := map[string]string{}
		errs, _ := body["errors"].([]any)
		for _, e := range errs {
			m := e.(map[string]any)
			out[m["field"].(string)], _ = m["message"].(string)
		}
		return out
	}
	known := regexp.MustCompile(`unknown setting \(known: ([^)]*)\)`)

	base := func() map[string]any {
		return map[string]any{"base_url": "https://api.acme.test",
			"api_key": map[string]any{"in": "header", "name": "Authorization"},
			"verify":  map[string]any{"method": "GET", "path": "/me"}}
	}
	for _, level := range []struct{ at, schema, method string }{
		{"", "CustomConfig", "api_key"},
		{"api_key", "CustomAPIKey", "api_key"},
		{"verify", "CustomVerify", "api_key"},
		{"oauth2", "CustomOAuth2", "oauth2"},
		{"service_account", "CustomServiceAccount", "service_account"},
	} {
		t.Run(level.schema, func(t *testing.T) {
			cfg := base()
			section := cfg
			if level.at != "" {
				if cfg[level.at] == nil {
					cfg[level.at] = map[string]any{}
				}
				section = cfg[level.at].(map[string]any)
			}
			section["zz_not_a_setting"] = "x"
			status, body := create(level.method, cfg)
			field := "config." + strings.TrimPrefix(level.at+".zz_not_a_setting", ".")
			m := known.FindStringSubmatch(fieldErrors(body)[field])
			if status != 400 || m == nil {
				t.Fatalf("an unknown setting at %q: %d %v", level.at, status, body)
			}
			server := strings.Split(m[1], ", ")
			var schema []string
			for k := range props(level.schema) {
				schema = append(schema, k)
			}
			sort.Strings(server)
			sort.Strings(schema)
			if !slices.Equal(server, schema) {
				t.Errorf("%s: openapi.yaml names %v\nthe server knows     %v", level.schema, schema, server)
			}
		})
	}

	// Enum values the schema lists are values the server takes.
	for _, in := range []string{"header", "query", "basic"} {
		k := map[string]any{"in": in}
		if in != "basic" {
			k["name"] = "X-Key"
		}
		cfg := base()
		cfg["api_key"] = k
		if status, body := create("api_key", cfg); status != 201 {
			t.Errorf("api_key.in %s: %d %v", in, status, body)
		}
	}
	for _, m := range []string{"GET", "HEAD", "POST"} {
		cfg := base()
		cfg["verify"] = map[string]any{"method": m, "path": "/me"}
		if status, body := create("api_key", cfg); status != 201 {
			t.Errorf("verify.method %s: %d %v", m, status, body)
		}
	}
	for _, name := range []string{"CustomConfigAPIKey", "CustomConfigOAuth2", "CustomConfigServiceAccount"} {
		method := map[string]string{"CustomConfigAPIKey": "api_key", "CustomConfigOAuth2": "oauth2", "CustomConfigServiceAccount": "service_account"}[name]
		examples, _ := schemas[name]["examples"].([]any)
		if len(examples) == 0 {
			t.Errorf("%s has no example", name)
		}
		for _, ex := range examples {
			cfg := jsonish(ex).(map[string]any)
			if status, body := create(method, cfg); status != 201 {
				t.Errorf("%s example: %d %v", name, status, body)
			}
		}
	}
}

// jsonish turns YAML-decoded values into what encoding/json decodes.
func jsonish(v any) any {
	b, _ := json.Marshal(v)
	var out any
	json.Unmarshal(b, &out)
	return out
}
