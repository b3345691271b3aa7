package server_test

import (
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/server/servertest"
)

// TestCreateWarnsAtOnce (issue 13): an integration whose base URL the
// egress guard blocks is still created (201), and the answer warns at
// once, naming STORM_ALLOW_PRIVATE_UPSTREAMS; so does an API-key
// integration without a verify request, whose keys are saved unchecked.
// A PATCH answers with the same warnings.
func TestCreateWarnsAtOnce(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true, DenyPrivateUpstreams: true})
	keyCfg := map[string]any{"in": "header", "name": "Authorization", "prefix": "Bearer "}
	in := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "Local", "provider": "custom", "auth_method": "api_key",
		"config": map[string]any{"base_url": "http://127.0.0.1:9", "api_key": keyCfg, "verify": map[string]any{"method": "GET", "path": "/me"}}})
	warns, _ := in["warnings"].([]any)
	if len(warns) != 1 || !strings.Contains(warns[0].(string), "config.base_url points at 127.0.0.1") || !strings.Contains(warns[0].(string), "STORM_ALLOW_PRIVATE_UPSTREAMS=true") {
		t.Fatalf("warnings: %v", in["warnings"])
	}
	for _, host := range []string{"localhost", "[::1]", "10.1.2.3", "169.254.169.254"} {
		r := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "Local " + host, "provider": "custom", "auth_method": "api_key",
			"config": map[string]any{"base_url": "http://" + host + ":8080", "api_key": keyCfg, "verify": map[string]any{"method": "GET", "path": "/me"}}})
		if w, _ := r["warnings"].([]any); len(w) != 1 {
			t.Errorf("%s: warnings %v", host, r["warnings"])
		}
	}
	public := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "Public", "provider": "custom", "auth_method": "api_key",
		"config": map[string]any{"base_url": "https://api.example.com", "api_key": keyCfg, "verify": map[string]any{"method": "GET", "path": "/me"}}})
	if _, ok := public["warnings"]; ok {
		t.Fatalf("a public base URL warned: %v", public["warnings"])
	}
	unchecked := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "Unchecked", "provider": "custom", "auth_method": "api_key",
		"config": map[string]any{"base_url": "https://api.example.com", "api_key": keyCfg}})
	w, _ := unchecked["warnings"].([]any)
	if len(w) != 1 || !strings.Contains(w[0].(string), "no verify request") || !strings.Contains(w[0].(string), "?verify=false") {
		t.Fatalf("no verify request: %v", unchecked["warnings"])
	}
	patched := env.Must(200, "PATCH", "/v1/integrations/"+public["id"].(string), "", map[string]any{"config": map[string]any{
		"base_url": "http://192.168.1.1", "api_key": keyCfg, "verify": map[string]any{"method": "GET", "path": "/me"}}})
	if w, _ := patched["warnings"].([]any); len(w) != 1 || !strings.Contains(w[0].(string), "192.168.1.1") {
		t.Fatalf("patch warnings: %v", patched["warnings"])
	}
	// The integration itself never carries them.
	if got := env.Must(200, "GET", "/v1/integrations/"+in["id"].(string), "", nil); got["warnings"] != nil {
		t.Fatalf("GET carries warnings: %v", got)
	}
}

// TestAuditNamesActors: audit records carry the acting token's name.
func TestAuditNamesActors(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	env.Must(201, "POST", "/v1/workspaces", "", map[string]any{"name": "acme"})
	list := env.Must(200, "GET", "/v1/audit", "", nil)["audit"].([]any)
	if len(list) == 0 {
		t.Fatal("no audit records")
	}
	last := list[len(list)-1].(map[string]any)
	if last["action"] != "workspace.create" || last["actor_name"] != "bootstrap admin" || !strings.HasPrefix(last["actor"].(string), "tok_") {
		t.Fatalf("audit record: %v", last)
	}
}
