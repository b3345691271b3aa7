package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/server/servertest"
)

// TestConnectCommands: "storm connect ID" prints a link's URL (alone on
// stdout), list shows it without the secret, delete makes its page
// answer 410; "connect new" makes a link that creates an integration and
// names a provider it cannot offer; bad durations and return URLs are
// one clear line.
func TestConnectCommands(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	up := servertest.NewUpstream(t, "k")
	id := env.CustomIntegration("CLI link", up)
	global := []string{"--server", env.URL, "--data-dir", env.DataDir}
	run := func(args ...string) (string, string, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		err := runCLI(context.Background(), append(append([]string{}, global...), args...), strings.NewReader(""), &out, &errOut)
		return out.String(), errOut.String(), err
	}

	out, errOut, err := run("connect", id, "--expires", "2h", "--return-url", "https://app.example.com/done")
	url := strings.TrimSpace(out)
	if err != nil || !strings.HasPrefix(url, env.URL+"/connect/") || strings.Count(out, "\n") != 1 || !strings.Contains(errOut, "works once") {
		t.Fatalf("connect: %q %q %v", out, errOut, err)
	}
	secret := strings.TrimPrefix(url, env.URL+"/connect/")
	if resp, err := http.Get(url); err != nil || resp.StatusCode != 200 {
		t.Fatalf("the printed link: %v %v", resp, err)
	}
	out, _, err = run("connect", "list", id)
	if err != nil || !strings.Contains(out, "open") || !strings.Contains(out, "cnl_") || strings.Contains(out, secret) {
		t.Fatalf("list: %q %v", out, err)
	}
	out, _, err = run("connect", "list", "--json")
	var listed struct {
		Links []map[string]any `json:"links"`
	}
	if err != nil || json.Unmarshal([]byte(out), &listed) != nil || len(listed.Links) != 1 || strings.Contains(out, secret) {
		t.Fatalf("list --json: %q %v", out, err)
	}
	linkID := listed.Links[0]["id"].(string)
	if out, _, err = run("connect", "delete", linkID); err != nil || !strings.Contains(out, "deleted connect link "+linkID) {
		t.Fatalf("delete: %q %v", out, err)
	}
	if resp, err := http.Get(url); err != nil || resp.StatusCode != http.StatusGone {
		t.Fatalf("a deleted link: %v %v", resp, err)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"connect", id, "--expires", "8d"}, "expires_in"},
		{[]string{"connect", id, "--expires", "200h"}, "expires_in"},
		{[]string{"connect", id, "--return-url", "http://app.example.com/"}, "return_url"},
		{[]string{"connect", "new", "--provider", "stripe"}, "--name is required"},
		{[]string{"connect", "new", "--name", "X"}, "--provider is required"},
		{[]string{"connect", "new", "--provider", "bitbucket", "--name", "X"}, "bitbucket"},
	} {
		_, _, err := run(tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: %v, want one line about %s", tc.args, err, tc.want)
		}
	}
	out, _, err = run("connect", "new", "--provider", "stripe,openai", "--name", "New one", "--json")
	var made map[string]any
	if err != nil || json.Unmarshal([]byte(out), &made) != nil || made["url"] == nil || made["name"] != "New one" {
		t.Fatalf("connect new: %q %v", out, err)
	}
}
