package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/server/servertest"
)

// TestWorkspaceIsolation: another workspace's objects answer 404, never
// 403, so their existence does not leak.
func TestWorkspaceIsolation(t *testing.T) {
	env := servertest.Start(t, servertest.Options{})
	up := servertest.NewUpstream(t, "key-iso-aaaaaaaaaaaa")
	id := env.CustomIntegration("Default's", up)
	env.Must(200, "PUT", "/v1/integrations/"+id+"/credentials", "", map[string]any{"api_key": "key-iso-aaaaaaaaaaaa"})
	env.Must(201, "POST", "/v1/workspaces", "", map[string]any{"name": "other"})
	for _, role := range []string{"editor", "worker", "viewer"} {
		tok := env.NewToken(role, "other")
		for _, c := range []struct{ method, path string }{
			{"GET", "/v1/integrations/" + id},
			{"GET", "/v1/integrations/" + id + "/credentials"},
			{"GET", "/v1/integrations/" + id + "/access"},
			{"GET", "/v1/integrations/" + id + "/proxy/echo/x"},
			{"PATCH", "/v1/integrations/" + id},
			{"DELETE", "/v1/integrations/" + id},
			{"PUT", "/v1/integrations/" + id + "/credentials"},
			{"POST", "/v1/integrations/" + id + "/verify"},
			{"GET", "/v1/integrations?workspace=default"},
			{"GET", "/v1/events?workspace=default"},
			{"GET", "/v1/audit?workspace=default"},
		} {
			r := env.Do(c.method, c.path, tok, map[string]any{"name": "x"})
			// A role too weak for the verb gets 403 before any lookup;
			// everything it may do answers 404.
			if r.Status != 404 && r.Status != 403 {
				t.Errorf("%s %s %s: %d %s", role, c.method, c.path, r.Status, r.Body)
			}
			if r.Status == 403 && strings.Contains(string(r.Body), id) {
				t.Errorf("%s %s %s: 403 names the object", role, c.method, c.path)
			}
		}
		// Their own list is empty; the default workspace's integration
		// does not appear.
		list := env.Must(200, "GET", "/v1/integrations", tok, nil)["integrations"].([]any)
		if len(list) != 0 {
			t.Errorf("%s sees %d integrations of another workspace", role, len(list))
		}
		events := env.Must(200, "GET", "/v1/events?integration="+id, tok, nil)["events"].([]any)
		if len(events) != 0 {
			t.Errorf("%s sees another workspace's events", role)
		}
	}
}

func TestRoles(t *testing.T) {
	env := servertest.Start(t, servertest.Options{})
	up := servertest.NewUpstream(t, "key-role-aaaaaaaaaaaa")
	id := env.CustomIntegration("Roles", up)
	base := "/v1/integrations/" + id
	env.Must(200, "PUT", base+"/credentials", "", map[string]any{"api_key": "key-role-aaaaaaaaaaaa"})
	tokens := map[string]string{}
	for _, role := range []string{"editor", "worker", "viewer"} {
		tokens[role] = env.NewToken(role, "default")
	}
	cases := []struct {
		method, path string
		allowed      string // least role
	}{
		{"GET", base, "viewer"},
		{"GET", base + "/credentials", "viewer"},
		{"GET", "/v1/providers", "viewer"},
		{"GET", base + "/access", "worker"},
		{"GET", base + "/proxy/echo/a", "worker"},
		{"POST", base + "/verify", "editor"},
		{"POST", "/v1/workspaces", "admin"},
		{"POST", "/v1/tokens", "admin"},
	}
	rank := map[string]int{"viewer": 1, "worker": 2, "editor": 3, "admin": 4}
	for _, c := range cases {
		for role, tok := range tokens {
			r := env.Do(c.method, c.path, tok, nil)
			if rank[role] >= rank[c.allowed] {
				if r.Status == 401 || r.Status == 403 {
					t.Errorf("%s %s as %s: %d, want allowed", c.method, c.path, role, r.Status)
				}
			} else if r.Status != 403 {
				t.Errorf("%s %s as %s: %d, want 403", c.method, c.path, role, r.Status)
			}
		}
	}
	// No token, a bad token, a deleted token: 401.
	for _, tok := range []string{"storm_nope", strings.Repeat("x", 5000)} {
		if r := env.Do("GET", base, tok, nil); r.Status != 401 {
			t.Errorf("bad token: %d", r.Status)
		}
	}
	req, _ := http.NewRequest("GET", env.URL+base, nil)
	resp, _ := http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("no token: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	created := env.Must(201, "POST", "/v1/tokens", "", map[string]any{"name": "short-lived", "role": "viewer"})
	env.Must(200, "GET", base, created["token"].(string), nil)
	env.Must(204, "DELETE", "/v1/tokens/"+created["id"].(string), "", nil)
	if r := env.Do("GET", base, created["token"].(string), nil); r.Status != 401 {
		t.Errorf("deleted token still works: %d", r.Status)
	}
}

// snapshot captures everything a failed request must leave unchanged.
func snapshot(env *servertest.Env, id string) string {
	var b bytes.Buffer
	for _, p := range []string{"/v1/integrations", "/v1/workspaces", "/v1/integrations/" + id, "/v1/integrations/" + id + "/credentials"} {
		b.Write(env.Do("GET", p, "", nil).Body)
	}
	return b.String()
}

func TestBadInputChangesNothing(t *testing.T) {
	env := servertest.Start(t, servertest.Options{})
	up := servertest.NewUpstream(t, "key-bad-aaaaaaaaaaaa")
	id := env.CustomIntegration("Bad input", up)
	base := "/v1/integrations/" + id
	env.Must(200, "PUT", base+"/credentials", "", map[string]any{"api_key": "key-bad-aaaaaaaaaaaa"})
	before := snapshot(env, id)
	huge := `{"api_key":"` + strings.Repeat("a", 300<<10) + `"}`
	cases := []struct {
		method, path string
		body         any
		status       int
	}{
		{"POST", "/v1/integrations", `{"name":`, 400},
		{"POST", "/v1/integrations", `{"name":"x","provider":"custom","bogus":1}`, 400},
		{"POST", "/v1/integrations", `{"name":"x","provider":"no-such"}`, 400},
		{"POST", "/v1/integrations", `{"name":"","provider":"openai"}`, 400},
		{"POST", "/v1/integrations", `{"name":"x","provider":"openai","auth_method":"oauth2"}`, 400},
		{"POST", "/v1/integrations", `{"name":"x","provider":"zendesk","config":{"subdomain":"evil.com/"}}`, 400},
		{"POST", "/v1/integrations", `{"name":"x","provider":"custom","config":{"base_url":"ftp://x"}}`, 400},
		{"POST", "/v1/integrations", `{"name":"Bad input","provider":"openai"}`, 409},
		{"POST", "/v1/integrations", `{"a":1} {"b":2}`, 400},
		{"PUT", base + "/credentials", huge, 413},
		{"PUT", base + "/credentials", `{"api_key":"has space in it"}`, 400},
		{"PUT", base + "/credentials", `{"api_key":""}`, 400},
		{"PUT", base + "/credentials", `{}`, 400},
		{"PUT", base + "/credentials", `{"api_key":"key-unknown-to-upstream"}`, 422},
		{"PUT", base + "/credentials?verify=maybe", `{"api_key":"x"}`, 400},
		{"PATCH", base, `{"status":"connected"}`, 400},
		{"PATCH", base, `{"name":"\u0000"}`, 400},
		{"POST", base + "/credentials/cred_nope/revoke", nil, 404},
		{"POST", "/v1/workspaces", `{"name":"Has Spaces"}`, 400},
		{"POST", "/v1/workspaces", `{"name":"default"}`, 409},
		{"POST", "/v1/tokens", `{"name":"t","role":"root"}`, 400},
		{"POST", "/v1/tokens", `{"name":"t","role":"viewer","workspace":"nope"}`, 404},
		{"GET", "/v1/events?limit=0", nil, 400},
		{"GET", "/v1/events?after=evt_nope", nil, 400},
		{"GET", "/v1/nothing-here", nil, 404},
	}
	for _, c := range cases {
		r := env.Do(c.method, c.path, "", c.body)
		if r.Status != c.status {
			t.Errorf("%s %s: %d, want %d: %s", c.method, c.path, r.Status, c.status, r.Body)
			continue
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("%s %s: content type %q", c.method, c.path, ct)
		}
		var p map[string]any
		if json.Unmarshal(r.Body, &p) != nil || p["title"] == nil || p["status"] != float64(c.status) || p["detail"] == "" {
			t.Errorf("%s %s: not a problem document: %s", c.method, c.path, r.Body)
		}
	}
	if after := snapshot(env, id); after != before {
		t.Fatalf("failed requests changed state:\nbefore %s\nafter  %s", before, after)
	}
}

// TestNoPlaintextOnDisk: secrets appear in no file of the data directory
// (database, WAL, key file, token file).
func TestNoPlaintextOnDisk(t *testing.T) {
	dir := t.TempDir()
	env := servertest.Start(t, servertest.Options{DataDir: dir})
	const key = "sk_live_CONFIDENTIAL_canary_7f3a9b"
	const clientSecret = "client-secret-CANARY-41b2"
	up := servertest.NewUpstream(t, key)
	id := env.CustomIntegration("Confidential", up)
	env.Must(200, "PUT", "/v1/integrations/"+id+"/credentials", "", map[string]any{"api_key": key})
	env.Must(200, "PATCH", "/v1/integrations/"+id, "", map[string]any{"config": map[string]any{
		"base_url": up.URL, "api_key": map[string]any{"in": "header", "name": "Authorization", "prefix": "Bearer "},
		"verify": map[string]any{"method": "GET", "path": "/me"}, "client_secret": clientSecret}})
	if in := env.Must(200, "GET", "/v1/integrations/"+id, "", nil); !strings.Contains(string(mustJSON(in)), `"client_secret":"********"`) {
		t.Fatalf("client secret not masked: %v", in)
	}
	assertAbsent(t, dir, key, clientSecret, "CONFIDENTIAL", "CANARY")
	// Control: the scan does see what is stored in the clear.
	if !dirContains(t, dir, "Confidential") {
		t.Fatal("the integration's name is nowhere on disk: the scan reads nothing")
	}
}

func dirContains(t *testing.T, dir, needle string) bool {
	found := false
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(path)
			found = found || bytes.Contains(b, []byte(needle))
		}
		return err
	})
	return found
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// assertAbsent fails if any file under dir contains any of needles.
func assertAbsent(t *testing.T, dir string, needles ...string) {
	t.Helper()
	n := 0
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		n++
		for _, s := range needles {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s contains %q", path, s)
			}
		}
		return nil
	})
	if n < 3 {
		t.Fatalf("only %d files checked", n)
	}
}
