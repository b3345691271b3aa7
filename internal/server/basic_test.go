package server_test

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/server/servertest"
)

// TestBasicLifecycle: HTTP Basic end to end on both stores — bad input
// and a refused password change nothing; Save verifies; /access reveals
// {"type":"basic","username","password"}; the proxy applies HTTP Basic;
// rotation (save new → verify → revoke old at the provider and in Storm)
// under continuous traffic through two instances costs 0 failed
// requests; events and audit record it, and the password appears nowhere
// but /access.
func TestBasicLifecycle(t *testing.T) { backends(t, testBasicLifecycle) }

func testBasicLifecycle(t *testing.T, opts servertest.Options) {
	env := servertest.Start(t, opts)
	stale := opts
	stale.DataDir, stale.CredentialCacheTTL = env.DataDir, time.Hour
	other := servertest.Start(t, stale)
	const user = "svc-storm"
	passwords := []string{"basic-pass-0-aaaaaaaaaaaa", "basic-pass-1-bbbbbbbbbbbb", "basic-pass-2-cccccccccccc"}
	up := servertest.NewUpstream(t, user+":"+passwords[0])
	in := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "Basic API", "provider": "custom", "auth_method": "basic",
		"config": map[string]any{"base_url": up.URL, "verify": map[string]any{"method": "GET", "path": "/me"}}})
	id := in["id"].(string)
	base := "/v1/integrations/" + id

	// Bad input: 400 naming the field, nothing stored.
	for _, tc := range []struct {
		body  any
		field string
	}{
		{map[string]any{"username": "a:b", "password": passwords[0]}, "username"},
		{map[string]any{"username": user}, "password"},
		{map[string]any{"username": user, "password": "line\nbreak"}, "password"},
		{map[string]any{"username": user, "password": passwords[0], "api_key": "x"}, "api_key"},
	} {
		r := env.Do("PUT", base+"/credentials", "", tc.body)
		if r.Status != 400 || !slices.Contains(problemFields(t, r), tc.field) {
			t.Fatalf("%v: %d %s, want 400 naming %s", tc.body, r.Status, r.Body, tc.field)
		}
	}
	// A password the provider refuses: 422 (rejected), nothing stored.
	wrong := "wrong-password-dddddddddddd"
	r := env.Do("PUT", base+"/credentials", "", map[string]any{"username": user, "password": wrong})
	if r.Status != 422 || r.JSON(t)["reason"] != "rejected" {
		t.Fatalf("wrong password: %d %s", r.Status, r.Body)
	}
	if n := len(env.Must(200, "GET", base+"/credentials", "", nil)["credentials"].([]any)); n != 0 {
		t.Fatalf("%d credentials after refused saves", n)
	}

	c1 := env.Must(200, "PUT", base+"/credentials", "", map[string]any{"username": user, "password": passwords[0]})
	if c1["state"] != "active" || c1["verified_at"] == nil || c1["hint"] != user+" · …aaaa" {
		t.Fatalf("saved %v", c1)
	}
	if v := env.Must(200, "POST", base+"/verify", "", nil); v["ok"] != true {
		t.Fatalf("verify %v", v)
	}
	worker := env.NewToken("worker", "default")
	a := env.Must(200, "GET", base+"/access", worker, nil)
	if a["type"] != "basic" || a["username"] != user || a["password"] != passwords[0] {
		t.Fatalf("access %v", a)
	}
	env.Must(200, "GET", base+"/proxy/echo/x", worker, nil)
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+passwords[0]))
	if got := up.LastAuthorization(); len(got) != 1 || got[0] != want {
		t.Fatalf("upstream saw Authorization %v", got)
	}

	// Rotation under continuous traffic through two instances; the
	// second caches the old password for an hour, so its requests meet
	// the revoked one and are retried with the new one.
	tr := startTraffic(t, []*servertest.Env{env, other}, base+"/proxy/echo/sync", worker, 8)
	tr.progress(100)
	cred := c1["id"].(string)
	for i := 1; i < len(passwords); i++ {
		up.AddKey(user + ":" + passwords[i])
		tr.progress(50)
		next := env.Must(200, "PUT", base+"/credentials", "", map[string]any{"username": user, "password": passwords[i]})["id"].(string)
		tr.progress(50)
		if v := env.Must(200, "POST", base+"/verify", "", nil); v["ok"] != true {
			t.Fatalf("verify after save: %v", v)
		}
		up.RevokeKey(user + ":" + passwords[i-1])
		tr.progress(50)
		env.Must(200, "POST", base+"/credentials/"+cred+"/revoke", "", nil)
		tr.progress(50)
		cred = next
	}
	total := tr.finish(t, "basic rotation")
	t.Logf("%d proxied requests during 2 Basic rotations, 0 failed, %d met a revoked password upstream (and were retried)", total, up.Rejected.Load())
	if up.Rejected.Load() == 0 {
		t.Fatal("no request met a revoked password: the retry path was not exercised")
	}
	if s := stateCounts(t, env, id); s["active"] != 1 || s["revoked"] != 2 {
		t.Fatalf("states %v", s)
	}
	types := eventTypes(t, env, id)
	for _, w := range []string{"verification.failed", "credential.saved", "integration.connected", "credential.revoked"} {
		if !strings.Contains(types, w) {
			t.Errorf("events %s lack %s", types, w)
		}
	}
	actions := strings.Join(auditActions(t, env), " ")
	for _, w := range []string{"credential.save_rejected", "credential.save", "credential.revoke"} {
		if !strings.Contains(actions, w) {
			t.Errorf("audit %s lacks %s", actions, w)
		}
	}
	// The access answer above is the only place a password may appear.
	noSecretsOutsideAccess(t, env, append(passwords, wrong)...)
}
