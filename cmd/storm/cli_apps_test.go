package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/server/servertest"
)

// TestAppsCommandsAgainstRealServer: integrations holding copies of one
// client are adopted into an app made from one of them, the app's secret
// is rotated (read from stdin, never printed), the old one revoked, a new
// integration uses the app, and a used app cannot be deleted.
func TestAppsCommandsAgainstRealServer(t *testing.T) {
	env := servertest.Start(t, servertest.Options{})
	as := oauthtest.New(t, oauthtest.Options{})
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
	cfg := `{"base_url":"` + as.URL + `","oauth2":{"issuer":"` + as.Issuer + `","client_id":"` + oauthtest.DefaultClientID + `","client_secret":"` + oauthtest.DefaultClientSecret + `"}}`
	var ids []string
	for _, name := range []string{"copy one", "copy two"} {
		var in map[string]any
		json.Unmarshal([]byte(must("", "integrations", "create", "--provider", "custom", "--auth-method", "oauth2", "--name", name, "--config-json", cfg, "--json")), &in)
		ids = append(ids, in["id"].(string))
	}

	out := must("", "apps", "adopt", "--create", "Shared client", "--from", ids[0])
	if !strings.Contains(out, "2 adopted, 0 skipped; 2 integrations use it") {
		t.Fatalf("adopt:\n%s", out)
	}
	var page struct {
		Apps []struct {
			ID string `json:"id"`
		} `json:"apps"`
	}
	json.Unmarshal([]byte(must("", "apps", "list", "--json")), &page)
	if len(page.Apps) != 1 {
		t.Fatalf("apps: %+v", page)
	}
	app := page.Apps[0].ID
	if out := must("", "apps"); !strings.Contains(out, app) || !strings.Contains(out, oauthtest.DefaultClientID) || !strings.Contains(out, "2") {
		t.Fatalf("apps list:\n%s", out)
	}
	if out := must("", "integrations", "show", ids[1]); !strings.Contains(out, app) {
		t.Fatalf("integration show lacks its app:\n%s", out)
	}

	const next = "cli-rotated-secret-0123456789"
	out = must(next+"\n", "apps", "rotate", app)
	if strings.Contains(out, next) || !strings.Contains(out, "active") {
		t.Fatalf("rotate:\n%s", out)
	}
	if _, err := storm("", "apps", "add-secret", app, next); err == nil || strings.Contains(err.Error(), next) {
		t.Fatalf("a secret on the command line: %v", err)
	}
	var secrets struct {
		Secrets []struct{ ID, State string } `json:"secrets"`
	}
	json.Unmarshal([]byte(must("", "apps", "secrets", app, "--json")), &secrets)
	if len(secrets.Secrets) != 2 || secrets.Secrets[0].State != "previous" || secrets.Secrets[1].State != "active" {
		t.Fatalf("secrets: %+v", secrets)
	}
	must("", "apps", "revoke-secret", app, secrets.Secrets[0].ID)
	if _, err := storm("", "apps", "revoke-secret", app, secrets.Secrets[1].ID); err == nil || !strings.Contains(err.Error(), "last secret") {
		t.Fatalf("revoking the last secret: %v", err)
	}
	out = must("", "apps", "show", app)
	for _, want := range []string{"revoked", "active", ids[0], ids[1], "Shared client"} {
		if !strings.Contains(out, want) {
			t.Fatalf("apps show lacks %q:\n%s", want, out)
		}
	}

	var in map[string]any
	json.Unmarshal([]byte(must("", "integrations", "create", "--app", app, "--name", "third", "--config", "base_url="+as.URL, "--json")), &in)
	if in["app"] != app || in["provider"] != "custom" {
		t.Fatalf("integration with --app: %v", in)
	}
	if _, err := storm("", "apps", "delete", app); err == nil || !strings.Contains(err.Error(), "integrations use this app") {
		t.Fatalf("deleting a used app: %v", err)
	}
	for _, args := range [][]string{{"apps", "adopt"}, {"apps", "adopt", "--create", "x"}, {"apps", "create", "--name", "x"}, {"apps", "revoke-secret", app}} {
		if _, err := storm("", args...); err == nil {
			t.Errorf("%v: no usage error", args)
		}
	}
	for _, x := range []string{oauthtest.DefaultClientSecret, next} {
		if strings.Contains(env.Logs.String(), x) {
			t.Errorf("the server log holds a client secret")
		}
	}
}

// TestAppsListShowsRegisteredClients: the client Storm registered for a
// remote MCP server is listed by `storm apps` with its origin and the
// authorization server's issuer, and `storm apps show` says the same.
func TestAppsListShowsRegisteredClients(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	as := oauthtest.NewDCR(t, oauthtest.DCROptions{})
	mcp := oauthtest.NewProtectedResource(t, as, oauthtest.ResourceOptions{})
	app := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "MCP", "provider": "mcp", "config": map[string]any{"base_url": mcp.URL}})["app"].(string)
	run := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := runCLI(context.Background(), append([]string{"--server", env.URL, "--data-dir", env.DataDir}, args...), strings.NewReader(""), &out, &errOut); err != nil {
			t.Fatalf("storm %s: %v %s", strings.Join(args, " "), err, errOut.String())
		}
		return out.String()
	}
	if out := run("apps"); !strings.Contains(out, app) || !strings.Contains(out, "registered at "+as.Issuer) {
		t.Fatalf("apps list:\n%s", out)
	}
	if out := run("apps", "show", app); !strings.Contains(out, "registered at "+as.Issuer) {
		t.Fatalf("apps show:\n%s", out)
	}
}
