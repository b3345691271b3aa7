package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/server/servertest"
)

// TestWalkthroughAgainstRealServer runs the README's walkthrough with the
// CLI against a real server: the token comes from the data dir's
// admin.token, the key from stdin.
func TestWalkthroughAgainstRealServer(t *testing.T) {
	env := servertest.Start(t, servertest.Options{})
	up := servertest.NewUpstream(t, "cli-key-aaaaaaaaaaaaaaaa")
	global := []string{"--server", env.URL, "--data-dir", env.DataDir}
	storm := func(stdin string, args ...string) (string, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		err := runCLI(context.Background(), append(append([]string{}, global...), args...), strings.NewReader(stdin), &out, &errOut)
		return out.String(), err
	}
	must := func(stdin string, args ...string) string {
		t.Helper()
		out, err := storm(stdin, args...)
		if err != nil {
			t.Fatalf("storm %s: %v", strings.Join(args, " "), err)
		}
		return out
	}

	if out := must("", "providers"); !strings.Contains(out, "stripe") || !strings.Contains(out, "openai") {
		t.Fatalf("providers:\n%s", out)
	}
	cfg := `{"base_url":"` + up.URL + `","api_key":{"in":"header","name":"Authorization","prefix":"Bearer "},"verify":{"method":"GET","path":"/me"}}`
	var created map[string]any
	if err := json.Unmarshal([]byte(must("", "integrations", "create", "--provider", "custom", "--auth-method", "api_key", "--name", "Acme API", "--config-json", cfg, "--json")), &created); err != nil {
		t.Fatal(err)
	}
	id, _ := created["id"].(string)
	if !strings.HasPrefix(id, "int_") {
		t.Fatalf("created: %v", created)
	}
	if out := must("", "integrations"); !strings.Contains(out, id) || !strings.Contains(out, "pending") {
		t.Fatalf("integrations:\n%s", out)
	}
	// A wrong key: one clear line, nothing saved.
	_, err := storm("wrong-key-bbbbbbbbbbbb\n", "credentials", "save", id)
	if err == nil || strings.Contains(err.Error(), "wrong-key") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("bad key: err = %v", err)
	}
	out := must("cli-key-aaaaaaaaaaaaaaaa\n", "credentials", "save", id)
	if strings.Contains(out, "cli-key-aaaa") {
		t.Fatalf("save printed the key: %s", out)
	}
	must("", "verify", id)
	if out := must("", "access", id); !strings.Contains(out, "cli-key-aaaaaaaaaaaaaaaa") {
		t.Fatalf("access:\n%s", out)
	}
	if out := must("", "proxy", id, "GET", "/echo/hello"); !strings.Contains(out, `"path":"/echo/hello"`) {
		t.Fatalf("proxy:\n%s", out)
	}
	if out := must("", "events", "--integration", id); !strings.Contains(out, "credential.saved") || !strings.Contains(out, "verification.failed") {
		t.Fatalf("events:\n%s", out)
	}
	if out := must("", "audit"); !strings.Contains(out, "credential.save") {
		t.Fatalf("audit:\n%s", out)
	}
	must("", "workspaces", "create", "acme")
	if out := must("", "tokens", "create", "--name", "acme workers", "--role", "worker", "--workspace", "acme"); !strings.Contains(out, "storm_") {
		t.Fatalf("tokens create:\n%s", out)
	}
	var versions []map[string]any
	listed := must("", "credentials", "list", id, "--json")
	var wrapped struct {
		Credentials []map[string]any `json:"credentials"`
	}
	if json.Unmarshal([]byte(listed), &versions) != nil {
		if err := json.Unmarshal([]byte(listed), &wrapped); err != nil {
			t.Fatalf("credentials list --json: %v\n%s", err, listed)
		}
		versions = wrapped.Credentials
	}
	if len(versions) != 1 {
		t.Fatalf("versions: %v", versions)
	}
	must("", "credentials", "revoke", id, versions[0]["id"].(string))
	if out := must("", "integrations", "show", id); !strings.Contains(out, "pending") {
		t.Fatalf("after revoke:\n%s", out)
	}
	// An unknown integration: a one-line 404.
	if _, err := storm("", "verify", "int_nope"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("unknown integration: %v", err)
	}
}
