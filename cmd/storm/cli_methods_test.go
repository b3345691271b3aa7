package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/methods/oauth1/oauth1test"
	"github.com/stormcreds/storm/internal/server/servertest"
)

// TestCLIBasicAndOAuth1Tokens: `storm credentials save` takes a Basic
// user name by flag and the password on stdin, OAuth 1.0a token
// credentials as --token-id with the secret on stdin; neither secret is ever
// printed but by `storm access`; missing flags are one clear line.
func TestCLIBasicAndOAuth1Tokens(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	const pass = "cli-basic-password-0123"
	up := servertest.NewUpstream(t, "cli-user:"+pass)
	peer := oauth1test.New(t, oauth1test.Options{})
	peer.AddConsumer(oauth1test.Consumer{Key: "cli-ck", Secret: "cli-consumer-secret-9876"})
	tok, sec := peer.IssueToken("cli-ck")
	global := []string{"--server", env.URL, "--data-dir", env.DataDir}
	storm := func(stdin string, args ...string) (string, error) {
		t.Helper()
		var out, errOut bytes.Buffer
		err := runCLI(context.Background(), append(append([]string{}, global...), args...), strings.NewReader(stdin), &out, &errOut)
		return out.String() + errOut.String(), err
	}
	create := func(method, cfg string) string {
		t.Helper()
		out, err := storm("", "integrations", "create", "--provider", "custom", "--auth-method", method, "--name", method+" CLI", "--config-json", cfg, "--json")
		if err != nil {
			t.Fatalf("create %s: %v", method, err)
		}
		var in map[string]any
		json.Unmarshal([]byte(out[:strings.LastIndex(out, "}")+1]), &in)
		return in["id"].(string)
	}
	basic := create("basic", `{"base_url":"`+up.URL+`","verify":{"path":"/me"}}`)
	if _, err := storm(pass+"\n", "credentials", "save", basic); err == nil || !strings.Contains(err.Error(), "--username") || strings.Contains(err.Error(), pass) {
		t.Fatalf("without --username: %v", err)
	}
	out, err := storm(pass+"\n", "credentials", "save", basic, "--username", "cli-user")
	if err != nil || strings.Contains(out, pass) || !strings.Contains(out, "active") {
		t.Fatalf("save basic: %v\n%s", err, out)
	}
	if out, err := storm("", "access", basic); err != nil || !strings.Contains(out, `"password": "`+pass+`"`) {
		t.Fatalf("access basic: %v\n%s", err, out)
	}

	o1 := create("oauth1", `{"base_url":"`+peer.URL+`/api","verify":{"path":"/me"},"oauth1":{"signature_method":"HMAC-SHA256","consumer_key":"cli-ck","consumer_secret":"cli-consumer-secret-9876"}}`)
	if _, err := storm(sec+"\n", "credentials", "save", o1); err == nil || !strings.Contains(err.Error(), "--token-id") {
		t.Fatalf("without --token: %v", err)
	}
	out, err = storm(sec+"\n", "credentials", "save", o1, "--token-id", tok)
	if err != nil || strings.Contains(out, sec) || !strings.Contains(out, "active") {
		t.Fatalf("save oauth1: %v\n%s", err, out)
	}
	if out, err := storm("", "proxy", o1, "GET", "/items?a=1&a=2"); err != nil || !strings.Contains(out, `"token":"`+tok+`"`) {
		t.Fatalf("proxy oauth1: %v\n%s", err, out)
	}
}
