package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/server"
	"github.com/stormcreds/storm/internal/server/servertest"
	"github.com/stormcreds/storm/internal/store/postgres"
	"github.com/stormcreds/storm/internal/vault"
)

func TestFirstStartCreatesDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "storm-data")
	env := servertest.Start(t, servertest.Options{DataDir: dir})
	for _, f := range []string{server.AdminTokenFile, vault.DefaultKeyFile, "storm.db"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v, want no group/other access", f, fi.Mode().Perm())
		}
	}
	if !strings.HasPrefix(env.AdminToken, "storm_") {
		t.Fatalf("admin token %q lacks the storm_ prefix", env.AdminToken)
	}
	env.Must(200, "GET", "/healthz", "", nil)
	env.Must(200, "GET", "/readyz", "", nil)
	ws := env.Must(200, "GET", "/v1/workspaces", "", nil)["workspaces"].([]any)
	if len(ws) != 1 || ws[0].(map[string]any)["name"] != "default" {
		t.Fatalf("workspaces = %v, want just default", ws)
	}
}

func TestWrongKEKIsAClearStartupError(t *testing.T) {
	dir := t.TempDir()
	srv, err := server.Open(context.Background(), server.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	_, err = server.Open(context.Background(), server.Config{DataDir: dir, KEKURL: "base64key://" + strings.Repeat("A", 43) + "="})
	if !errors.Is(err, vault.ErrWrongKEK) || !strings.Contains(err.Error(), "key-encryption key") {
		t.Fatalf("err = %v, want a clear wrong-KEK error", err)
	}
	// The right key still opens it.
	srv, err = server.Open(context.Background(), server.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
}

// backends runs f against a SQLite and a PostgreSQL backed server.
func backends(t *testing.T, f func(t *testing.T, opts servertest.Options)) {
	t.Run("sqlite", func(t *testing.T) { f(t, servertest.Options{}) })
	t.Run("postgres", func(t *testing.T) { f(t, servertest.Options{Database: postgres.TestURL(t)}) })
}

func TestAPIKeyLifecycle(t *testing.T) { backends(t, testAPIKeyLifecycle) }

func testAPIKeyLifecycle(t *testing.T, opts servertest.Options) {
	env := servertest.Start(t, opts)
	up := servertest.NewUpstream(t, "key-one-aaaaaaaaaaaa")
	id := env.CustomIntegration("Acme", up)
	base := "/v1/integrations/" + id

	if got := env.Must(200, "GET", base, "", nil)["status"]; got != "pending" {
		t.Fatalf("new integration status = %v", got)
	}
	// A key the provider rejects: 422, nothing stored.
	r := env.Do("PUT", base+"/credentials", "", map[string]any{"api_key": "wrong-key-bbbbbbbbbbbb"})
	if r.Status != 422 || !strings.Contains(string(r.Body), "401") {
		t.Fatalf("bad key: %d %s", r.Status, r.Body)
	}
	if strings.Contains(string(r.Body), "wrong-key-bbbbbbbbbbbb") {
		t.Fatalf("the rejected key was echoed back: %s", r.Body)
	}
	if n := len(env.Must(200, "GET", base+"/credentials", "", nil)["credentials"].([]any)); n != 0 {
		t.Fatalf("%d credentials after a failed save", n)
	}
	// A good key: verified, active, connected.
	c1 := env.Must(200, "PUT", base+"/credentials", "", map[string]any{"api_key": "key-one-aaaaaaaaaaaa"})
	if c1["state"] != "active" || c1["version"] != float64(1) || c1["verified_at"] == nil || c1["hint"] != "key-…aaaa" {
		t.Fatalf("saved = %v", c1)
	}
	in := env.Must(200, "GET", base, "", nil)
	if in["status"] != "connected" || in["last_verified_at"] == nil {
		t.Fatalf("after save: %v", in)
	}
	// /access hands it out.
	a := env.Must(200, "GET", base+"/access", "", nil)
	if a["type"] != "api_key" || a["api_key"] != "key-one-aaaaaaaaaaaa" || a["in"] != "header" || a["name"] != "Authorization" || a["prefix"] != "Bearer " {
		t.Fatalf("access = %v", a)
	}
	// /proxy applies it and drops the caller's own Authorization/Cookie.
	req, _ := http.NewRequest("POST", env.URL+base+"/proxy/echo/x?y=1", strings.NewReader("hello"))
	req.Header.Set("Authorization", "Bearer "+env.AdminToken)
	req.Header.Add("Cookie", "session=abc")
	req.Header.Set("X-Custom", "kept")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("proxy status %d", resp.StatusCode)
	}
	if got := up.LastAuthorization(); len(got) != 1 || got[0] != "Bearer key-one-aaaaaaaaaaaa" {
		t.Fatalf("upstream saw Authorization %q", got)
	}
	echo := env.Must(200, "GET", base+"/proxy/echo/y", "", nil)
	if _, ok := echo["headers"].(map[string]any)["Cookie"]; ok {
		t.Fatal("cookie forwarded")
	}
	// Rotation: the second key becomes active, the first previous.
	up.AddKey("key-two-cccccccccccc")
	c2 := env.Must(200, "PUT", base+"/credentials", "", map[string]any{"api_key": "key-two-cccccccccccc"})
	if c2["version"] != float64(2) {
		t.Fatalf("second save = %v", c2)
	}
	states := map[string]string{}
	for _, c := range env.Must(200, "GET", base+"/credentials", "", nil)["credentials"].([]any) {
		c := c.(map[string]any)
		states[c["id"].(string)] = c["state"].(string)
	}
	if states[c1["id"].(string)] != "previous" || states[c2["id"].(string)] != "active" {
		t.Fatalf("states = %v", states)
	}
	if v := env.Must(200, "POST", base+"/verify", "", nil); v["ok"] != true || v["status"] != float64(200) {
		t.Fatalf("verify = %v", v)
	}
	rv := env.Must(200, "POST", base+"/credentials/"+c1["id"].(string)+"/revoke", "", nil)
	if rv["state"] != "revoked" || rv["revoked_at"] == nil {
		t.Fatalf("revoke = %v", rv)
	}
	// Revoking the only active version leaves the integration pending.
	env.Must(200, "POST", base+"/credentials/"+c2["id"].(string)+"/revoke", "", nil)
	if in := env.Must(200, "GET", base, "", nil); in["status"] != "pending" {
		t.Fatalf("status after revoking all = %v", in["status"])
	}
	if r := env.Do("GET", base+"/access", "", nil); r.Status != 409 {
		t.Fatalf("access without a credential: %d %s", r.Status, r.Body)
	}
	// Events tell the story, oldest first.
	var types []string
	for _, e := range env.Must(200, "GET", "/v1/events?integration="+id, "", nil)["events"].([]any) {
		types = append(types, e.(map[string]any)["type"].(string))
	}
	want := "integration.created verification.failed credential.saved integration.connected credential.saved credential.revoked credential.revoked"
	if strings.Join(types, " ") != want {
		t.Fatalf("events = %v\nwant     %v", types, want)
	}
	// Deleting destroys it.
	env.Must(204, "DELETE", base, "", nil)
	env.Must(404, "GET", base, "", nil)
}

func TestVerifyMapsProviderAnswersToStatus(t *testing.T) {
	env := servertest.Start(t, servertest.Options{})
	up := servertest.NewUpstream(t, "key-verify-dddddddddd")
	id := env.CustomIntegration("Verify", up)
	base := "/v1/integrations/" + id
	env.Must(200, "PUT", base+"/credentials", "", map[string]any{"api_key": "key-verify-dddddddddd"})
	up.RevokeKey("key-verify-dddddddddd")
	v := env.Must(200, "POST", base+"/verify", "", nil)
	if v["ok"] != false || v["status"] != float64(401) {
		t.Fatalf("verify = %v", v)
	}
	if strings.Contains(fmt.Sprint(v), "dddddddddd") {
		t.Fatalf("verify result carries the key: %v", v)
	}
	if in := env.Must(200, "GET", base, "", nil); in["status"] != "reconnect_required" {
		t.Fatalf("status = %v", in["status"])
	}
	up.Close() // unreachable: degraded, not reconnect_required
	up.AddKey("key-verify-dddddddddd")
	env.Must(200, "POST", base+"/verify", "", nil)
	if in := env.Must(200, "GET", base, "", nil); in["status"] != "degraded" {
		t.Fatalf("status when unreachable = %v", in["status"])
	}
}

// postgresURL is a fresh PostgreSQL schema for one test.
func postgresURL(t *testing.T) string { return postgres.TestURL(t) }
