package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stormcreds/storm/client"
	"github.com/stormcreds/storm/internal/server/servertest"
)

// TestTokensCommandsAgainstRealServer: storm tokens lists tokens (every
// page, never a secret, with last use), creates and deletes them; the Go
// client pages with Next and gets the server's 400 for an admin token
// named into a workspace.
func TestTokensCommandsAgainstRealServer(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	env.Must(http.StatusCreated, "POST", "/v1/workspaces", "", map[string]any{"name": "acme"})
	run := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := runCLI(context.Background(), append([]string{"--server", env.URL, "--data-dir", env.DataDir}, args...), strings.NewReader(""), &out, &errOut)
		return out.String(), err
	}
	out, err := run("tokens", "create", "--name", "acme sync", "--role", "worker", "--workspace", "acme", "--json")
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	var created client.Token
	if err := json.Unmarshal([]byte(out), &created); err != nil || !strings.HasPrefix(created.Token, "storm_") {
		t.Fatalf("create output %q: %v", out, err)
	}
	for range 3 {
		if _, err := run("tokens", "create", "--name", "more", "--role", "viewer", "--workspace", "acme"); err != nil {
			t.Fatal(err)
		}
	}
	env.Must(http.StatusOK, "GET", "/v1/integrations", created.Token, nil)

	out, err = run("tokens")
	if err != nil {
		t.Fatalf("tokens: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1+5 || !strings.Contains(lines[0], "LAST USED") || strings.Contains(out, "storm_") {
		t.Fatalf("tokens output:\n%s", out)
	}
	for _, l := range lines[1:] {
		switch {
		case strings.Contains(l, created.ID):
			if !strings.Contains(l, "acme sync") || !strings.Contains(l, "worker") || !strings.Contains(l, "acme") || strings.Contains(l, "never") {
				t.Errorf("used token's row: %s", l)
			}
		case strings.Contains(l, "bootstrap admin"):
			if !strings.Contains(l, "(all)") {
				t.Errorf("admin token's row: %s", l)
			}
		case !strings.Contains(l, "never"):
			t.Errorf("unused token's row: %s", l)
		}
	}
	out, err = run("tokens", "list", "--workspace", "acme", "--json")
	var listed struct{ Tokens []client.APIToken }
	if err != nil || json.Unmarshal([]byte(out), &listed) != nil || len(listed.Tokens) != 4 {
		t.Fatalf("tokens list --workspace acme --json: %v\n%s", err, out)
	}

	// The client pages with Next.
	cl, err := client.New(env.URL, env.AdminToken)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	f := client.TokenFilter{Limit: 2}
	for {
		page, err := cl.Tokens(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		for _, tok := range page.Tokens {
			ids = append(ids, tok.ID)
		}
		if page.Next == "" {
			break
		}
		f.After = page.Next
	}
	if len(ids) != 5 {
		t.Fatalf("paged ids %v", ids)
	}
	_, err = cl.CreateToken(context.Background(), client.TokenRequest{Name: "x", Role: client.RoleAdmin, Workspace: "acme"})
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusBadRequest || !strings.Contains(err.Error(), "workspace") {
		t.Fatalf("admin token in a workspace through the client: %v", err)
	}

	if out, err = run("tokens", "delete", created.ID); err != nil || !strings.Contains(out, "deleted token") {
		t.Fatalf("delete: %v %s", err, out)
	}
	if r := env.Do("GET", "/v1/integrations", created.Token, nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("deleted token still works: %d", r.Status)
	}
}
