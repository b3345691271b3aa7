package server_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/api"
	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/server"
	"github.com/stormcreds/storm/internal/server/servertest"
)

// TestAuthSchemeIsCaseInsensitive: the Authorization scheme is matched
// without regard to case (RFC 7235 §2.1) and extra spaces around the
// token are tolerated; anything that is not a Bearer token is still 401.
func TestAuthSchemeIsCaseInsensitive(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	get := func(header string) int {
		t.Helper()
		req, err := http.NewRequest("GET", env.URL+"/v1/workspaces", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", header)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tok := env.AdminToken
	for _, h := range []string{"Bearer " + tok, "bearer " + tok, "BEARER " + tok, "BeArEr " + tok,
		"Bearer  " + tok, "Bearer " + tok + "  ", "  Bearer   " + tok} {
		if got := get(h); got != http.StatusOK {
			t.Errorf("Authorization %q…: %d, want 200", h[:min(len(h), 12)], got)
		}
	}
	for _, h := range []string{"", "Bearer", "Bearer ", "Bearer    ", "Basic " + tok, "Bearertoken" + tok, tok,
		"Bearer " + tok + "x", "Bearer " + tok + " " + tok} {
		if got := get(h); got != http.StatusUnauthorized {
			t.Errorf("Authorization %q…: %d, want 401", h[:min(len(h), 14)], got)
		}
	}
}

// problemFields returns the errors[].field values of a problem+json
// answer.
func problemFields(t *testing.T, r servertest.Response) []string {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("%d answer is %s, not problem+json: %s", r.Status, ct, r.Body)
	}
	var out []string
	errs, _ := r.JSON(t)["errors"].([]any)
	for _, e := range errs {
		f, _ := e.(map[string]any)["field"].(string)
		out = append(out, f)
	}
	return out
}

// TestBaseURLDotSegmentsRefusedAtCreateAndPatch: a base_url whose path
// has dot segments (plain or percent-encoded) is a 400 naming
// config.base_url when the integration is created or patched — not a 500
// on every proxied request — and a refused PATCH changes nothing.
func TestBaseURLDotSegmentsRefusedAtCreateAndPatch(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	up := servertest.NewUpstream(t, "key-one-aaaaaaaaaaaa")
	config := func(base string) map[string]any {
		return map[string]any{
			"base_url": base,
			"api_key":  map[string]any{"in": "header", "name": "Authorization", "prefix": "Bearer "},
			"verify":   map[string]any{"method": "GET", "path": "/me"},
		}
	}
	for _, path := range []string{"/v1/../x", "/v1/%2e%2e/x", "/v1/%2E%2E", "/./v1", "/v1/./x", "/v1/.%2e/x"} {
		r := env.Do("POST", "/v1/integrations", "", map[string]any{"name": "dots" + path, "provider": "custom",
			"auth_method": "api_key", "config": config(up.URL + path)})
		if r.Status != http.StatusBadRequest || !slices.Equal(problemFields(t, r), []string{"config.base_url"}) {
			t.Errorf("create with base_url …%s: %d %s", path, r.Status, r.Body)
		}
	}
	if n := len(env.Must(200, "GET", "/v1/integrations", "", nil)["integrations"].([]any)); n != 0 {
		t.Fatalf("%d integrations stored by refused creates", n)
	}

	id := env.CustomIntegration("Acme", up)
	base := "/v1/integrations/" + id
	env.Must(200, "PUT", base+"/credentials", "", map[string]any{"api_key": "key-one-aaaaaaaaaaaa"})
	before := env.Must(200, "GET", base, "", nil)
	for _, path := range []string{"/api/../admin", "/api/%2e%2e/admin", "/./api"} {
		r := env.Do("PATCH", base, "", map[string]any{"config": config(up.URL + path)})
		if r.Status != http.StatusBadRequest || !slices.Equal(problemFields(t, r), []string{"config.base_url"}) {
			t.Errorf("patch to base_url …%s: %d %s", path, r.Status, r.Body)
		}
	}
	after := env.Must(200, "GET", base, "", nil)
	if after["updated_at"] != before["updated_at"] || fmt.Sprint(after["config"]) != fmt.Sprint(before["config"]) {
		t.Fatalf("a refused PATCH changed the integration: %v → %v", before, after)
	}
	if r := env.Do("GET", base+"/proxy/me", "", nil); r.Status != http.StatusOK {
		t.Fatalf("proxy after refused patches: %d %s", r.Status, r.Body)
	}
}

// TestCustomOAuth2UsesPKCEByDefault: a custom OAuth 2.0 integration
// whose config does not mention pkce sends code_challenge_method=S256
// and a challenge, and its code exchange sends the matching verifier
// (the authorization server refuses the exchange otherwise); an explicit
// "pkce": false still turns PKCE off.
func TestCustomOAuth2UsesPKCEByDefault(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	create := func(as *oauthtest.Server, name string, pkce any) string {
		t.Helper()
		as.AddRedirectURI(oauthtest.DefaultClientID, env.URL+"/oauth/callback")
		// Explicit endpoints and no issuer: nothing is discovered, so
		// only the config decides about PKCE.
		o := map[string]any{"authorize_url": as.AuthorizeURL(), "token_url": as.TokenURL(),
			"client_id": oauthtest.DefaultClientID, "client_secret": oauthtest.DefaultClientSecret, "scopes": []string{"offline"}}
		if pkce != nil {
			o["pkce"] = pkce
		}
		in := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": name, "provider": "custom", "auth_method": "oauth2",
			"config": map[string]any{"base_url": as.URL, "oauth2": o}})
		return in["id"].(string)
	}
	connect := func(as *oauthtest.Server, id string) url.Values {
		t.Helper()
		u := env.Must(200, "POST", "/v1/integrations/"+id+"/authorize", "", map[string]any{})["authorize_url"].(string)
		q := mustURL(t, u).Query()
		back, err := as.Approve(context.Background(), u)
		if err != nil {
			t.Fatalf("approve: %v", err)
		}
		resp, err := noRedirect.Get(back.String())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return q
	}

	// The server requires PKCE (fosite's EnforcePKCE): without a
	// challenge the authorization fails, without the right verifier the
	// exchange does.
	strict := oauthtest.New(t, oauthtest.Options{})
	id := create(strict, "PKCE by default", nil)
	q := connect(strict, id)
	if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) < 43 {
		t.Fatalf("authorize URL without PKCE S256: %v", q)
	}
	if st := env.Must(200, "GET", "/v1/integrations/"+id, "", nil)["status"]; st != "connected" || strict.TokenRequests() == 0 {
		t.Fatalf("status %v after the exchange (%d token requests): the verifier was not accepted", st, strict.TokenRequests())
	}

	lax := oauthtest.New(t, oauthtest.Options{PKCEOptional: true})
	id = create(lax, "PKCE off", false)
	q = connect(lax, id)
	if q.Has("code_challenge") || q.Has("code_challenge_method") {
		t.Fatalf("\"pkce\": false still sent PKCE: %v", q)
	}
	if st := env.Must(200, "GET", "/v1/integrations/"+id, "", nil)["status"]; st != "connected" {
		t.Fatalf("status %v without PKCE", st)
	}
}

// TestAdminTokenWithWorkspaceRefused: an admin token spans every
// workspace, so asking for one "in" a workspace is a 400 naming the
// field, and nothing is created; without a workspace, or as an editor,
// the request succeeds.
func TestAdminTokenWithWorkspaceRefused(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	env.Must(201, "POST", "/v1/workspaces", "", map[string]any{"name": "acme"})
	count := func() int { return len(env.Must(200, "GET", "/v1/tokens", "", nil)["tokens"].([]any)) }
	before := count()
	for _, ws := range []string{"acme", "default"} {
		r := env.Do("POST", "/v1/tokens", "", map[string]any{"name": "ops", "role": "admin", "workspace": ws})
		if r.Status != http.StatusBadRequest || !slices.Equal(problemFields(t, r), []string{"workspace"}) ||
			!strings.Contains(string(r.Body), "editor") {
			t.Errorf("admin token in workspace %s: %d %s", ws, r.Status, r.Body)
		}
	}
	if n := count(); n != before {
		t.Fatalf("refused requests created tokens: %d → %d", before, n)
	}
	admin := env.Must(201, "POST", "/v1/tokens", "", map[string]any{"name": "ops", "role": "admin"})
	if admin["role"] != "admin" || admin["token"] == "" {
		t.Fatalf("admin token without workspace: %v", admin)
	}
	// It does span workspaces.
	env.Must(200, "GET", "/v1/integrations?workspace=acme", admin["token"].(string), nil)
	editor := env.Must(201, "POST", "/v1/tokens", "", map[string]any{"name": "acme editor", "role": "editor", "workspace": "acme"})
	if editor["workspace_name"] != "acme" {
		t.Fatalf("editor token: %v", editor)
	}
	if r := env.Do("GET", "/v1/integrations?workspace=default", editor["token"].(string), nil); r.Status != http.StatusNotFound {
		t.Fatalf("editor of acme reading default: %d", r.Status)
	}
}

// TestListTokens: GET /v1/tokens (admin) lists tokens by workspace or
// all of them, in pages (limit, after, next), with last_used_at written
// at most once a minute — and never a secret.
func TestListTokens(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	env.Must(201, "POST", "/v1/workspaces", "", map[string]any{"name": "acme"})
	secrets := map[string]string{} // id → secret
	inAcme := map[string]bool{}
	for i := range 5 {
		ws := "default"
		if i%2 == 0 {
			ws = "acme"
		}
		tok := env.Must(201, "POST", "/v1/tokens", "", map[string]any{"name": fmt.Sprintf("t%d", i), "role": "worker", "workspace": ws})
		secrets[tok["id"].(string)] = tok["token"].(string)
		if ws == "acme" {
			inAcme[tok["id"].(string)] = true
		}
	}

	// Walk every page of size 2; the union is every token, in id order.
	walk := func(query string) []map[string]any {
		t.Helper()
		var all []map[string]any
		after := ""
		for range 20 {
			q := query + "&limit=2"
			if after != "" {
				q += "&after=" + url.QueryEscape(after)
			}
			r := env.Do("GET", "/v1/tokens?"+q, "", nil)
			if r.Status != 200 {
				t.Fatalf("GET /v1/tokens?%s: %d %s", q, r.Status, r.Body)
			}
			for secret := range maps.Values(secrets) {
				if strings.Contains(string(r.Body), secret) {
					t.Fatal("a token secret appears in the listing")
				}
			}
			page := r.JSON(t)
			list := page["tokens"].([]any)
			if len(list) > 2 {
				t.Fatalf("page of %d with limit=2", len(list))
			}
			for _, v := range list {
				m := v.(map[string]any)
				for _, k := range []string{"token", "hash", "secret"} {
					if _, ok := m[k]; ok {
						t.Fatalf("listing holds %q: %v", k, m)
					}
				}
				all = append(all, m)
			}
			next, ok := page["next"].(string)
			if !ok {
				return all
			}
			if len(list) != 2 || next != list[1].(map[string]any)["id"] {
				t.Fatalf("next %q on a page of %d", next, len(list))
			}
			after = next
		}
		t.Fatal("pages never end")
		return nil
	}
	ids := func(list []map[string]any) []string {
		var out []string
		for _, m := range list {
			out = append(out, m["id"].(string))
		}
		return out
	}
	acme := walk("workspace=acme")
	if len(acme) != len(inAcme) || !slices.IsSorted(ids(acme)) {
		t.Fatalf("acme's tokens: %v", ids(acme))
	}
	for _, m := range acme {
		if !inAcme[m["id"].(string)] || m["workspace_name"] != "acme" || m["role"] != "worker" || m["created_at"] == nil ||
			m["last_used_at"] != nil || !strings.HasPrefix(m["name"].(string), "t") {
			t.Errorf("acme listing entry %v", m)
		}
	}
	all := walk("")
	if len(all) != len(secrets)+1 || !slices.IsSorted(ids(all)) { // + the bootstrap admin token
		t.Fatalf("every token: %v", ids(all))
	}

	// last_used_at: set by the first use, not rewritten by the next ones
	// within the minute.
	var used string
	for id := range inAcme {
		used = id
		break
	}
	lastUsed := func() any {
		for _, m := range walk("workspace=acme") {
			if m["id"] == used {
				return m["last_used_at"]
			}
		}
		t.Fatal("token gone")
		return nil
	}
	env.Must(200, "GET", "/v1/integrations", secrets[used], nil)
	first := lastUsed()
	if first == nil {
		t.Fatal("last_used_at still null after a request")
	}
	time.Sleep(1100 * time.Millisecond) // RFC 3339 has whole seconds
	env.Must(200, "GET", "/v1/integrations", secrets[used], nil)
	if got := lastUsed(); got != first {
		t.Fatalf("last_used_at rewritten within a minute: %v → %v", first, got)
	}

	// Bad parameters and roles.
	for _, q := range []string{"limit=0", "limit=1001", "limit=x"} {
		r := env.Do("GET", "/v1/tokens?"+q, "", nil)
		if r.Status != 400 || !slices.Equal(problemFields(t, r), []string{"limit"}) {
			t.Errorf("?%s: %d %s", q, r.Status, r.Body)
		}
	}
	if r := env.Do("GET", "/v1/tokens?workspace=nope", "", nil); r.Status != 404 {
		t.Errorf("unknown workspace: %d", r.Status)
	}
	editor := env.NewToken("editor", "acme")
	if r := env.Do("GET", "/v1/tokens", editor, nil); r.Status != 403 {
		t.Errorf("editor listing tokens: %d", r.Status)
	}
	if r := env.Do("GET", "/v1/tokens?limit=1000", "", nil); r.Status != 200 || r.JSON(t)["next"] != nil {
		t.Errorf("limit=1000: %d %s", r.Status, r.Body)
	}
}

// TestOpenFileModesWarned: storm serve starts, but warns once per file
// with the chmod that fixes it, when the data directory, the admin token
// or the SQLite database can be used by other users; a data directory
// Storm created itself draws no warning.
func TestOpenFileModesWarned(t *testing.T) {
	warnings := func(logs string) []string {
		var out []string
		for _, l := range strings.Split(logs, "\n") {
			if strings.Contains(l, `"level":"WARN"`) && strings.Contains(l, "open to other users") {
				out = append(out, l)
			}
		}
		return out
	}
	for _, tc := range []struct{ dir, file os.FileMode }{{0o755, 0o644}, {0o777, 0o666}, {0o750, 0o640}} {
		t.Run(fmt.Sprintf("%04o-%04o", tc.dir, tc.file), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			token, _ := api.NewToken()
			tokenFile, dbFile := filepath.Join(dir, server.AdminTokenFile), filepath.Join(dir, "storm.db")
			for path, body := range map[string]string{tokenFile: token + "\n", dbFile: ""} {
				if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
				os.Chmod(path, tc.file)
			}
			os.Chmod(dir, tc.dir)
			env := servertest.Start(t, servertest.Options{DataDir: dir, NoBackground: true})
			env.Must(200, "GET", "/readyz", "", nil)
			got := warnings(env.Logs.String())
			want := []string{"chmod 700 " + dir, "chmod 600 " + tokenFile, "chmod 600 " + dbFile}
			if len(got) != len(want) {
				t.Fatalf("%d warnings, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
			}
			for _, w := range want {
				if !slices.ContainsFunc(got, func(l string) bool { return strings.Contains(l, w) }) {
					t.Errorf("no warning with %q:\n%s", w, strings.Join(got, "\n"))
				}
			}
		})
	}
	env := servertest.Start(t, servertest.Options{DataDir: filepath.Join(t.TempDir(), "fresh"), NoBackground: true})
	if got := warnings(env.Logs.String()); len(got) != 0 {
		t.Fatalf("a fresh data dir drew warnings:\n%s", strings.Join(got, "\n"))
	}
}
