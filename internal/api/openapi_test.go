package api_test

import (
	"os"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/stormcreds/storm/internal/server/servertest"
)

// TestOpenAPIMatchesRoutes: every route the server registers is in
// openapi.yaml, and every operation in openapi.yaml is served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	b, err := os.ReadFile("../../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	httpMethods := []string{"get", "head", "post", "put", "patch", "delete", "options"}
	inSpec := map[string]bool{}
	for path, item := range spec.Paths {
		for m := range item {
			for _, hm := range httpMethods {
				if m == hm {
					inSpec[strings.ToUpper(m)+" "+path] = true
				}
			}
		}
	}
	env := servertest.Start(t, servertest.Options{})
	served := map[string]bool{}
	for _, r := range env.Server.API.Routes() {
		path := strings.ReplaceAll(r.Pattern, "...}", "}")
		methods := []string{r.Method}
		if r.Method == "" {
			methods = nil
			for _, m := range httpMethods {
				methods = append(methods, strings.ToUpper(m))
			}
		}
		for _, m := range methods {
			served[m+" "+path] = true
		}
	}
	var missing, extra []string
	for op := range served {
		if !inSpec[op] {
			missing = append(missing, op)
		}
	}
	for op := range inSpec {
		if !served[op] {
			extra = append(extra, op)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("served but not in openapi.yaml: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("in openapi.yaml but not served: %v", extra)
	}
	if len(served) < 20 {
		t.Fatalf("only %d operations served", len(served))
	}
}
