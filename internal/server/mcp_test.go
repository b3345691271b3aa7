package server_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/server/servertest"
)

// mcpConnect authorizes integration id at as (approving as the user) and
// completes the callback; it returns the authorization URL Storm built.
func mcpConnect(t *testing.T, env *servertest.Env, as *oauthtest.DCRServer, id string) *url.URL {
	t.Helper()
	au := env.Must(200, "POST", "/v1/integrations/"+id+"/authorize", "", map[string]any{})["authorize_url"].(string)
	redirect, err := as.Approve(context.Background(), au)
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := getNoRedirect(t, redirect.String()); resp.StatusCode != 200 || !strings.Contains(body, "is connected") {
		t.Fatalf("callback: %d %s", resp.StatusCode, body)
	}
	u, _ := url.Parse(au)
	return u
}

// TestMCPServerFromURL: a remote MCP server (provider mcp) end to end on
// both stores, against an authorization server with RFC 7591
// registration and RFC 9728 metadata in front of a resource that checks
// tokens. From the server's URL alone Storm discovers the authorization
// server, registers one client (sealed: its secret is nowhere on disk or
// in any answer) reused by a second integration of the workspace while
// another workspace gets its own, and authorizes with PKCE S256, the
// resource indicator and the discovered scopes plus offline_access. The
// proxy works; 3-second tokens are refreshed (resource included) under
// continuous traffic with 0 failed requests; Reconnect replaces the
// tokens. A server without metadata, or one refusing registration, is a
// 422 naming the field, and nothing is stored.
func TestMCPServerFromURL(t *testing.T) { backends(t, testMCPServer) }

func testMCPServer(t *testing.T, opts servertest.Options) {
	dir := t.TempDir()
	opts.DataDir = dir
	opts.Tokens.Interval = 100 * time.Millisecond
	env := servertest.Start(t, opts)
	as := oauthtest.NewDCR(t, oauthtest.DCROptions{AccessTokenTTL: 3 * time.Second})
	mcp := oauthtest.NewProtectedResource(t, as, oauthtest.ResourceOptions{})
	other := oauthtest.NewProtectedResource(t, as, oauthtest.ResourceOptions{Path: "/v1/mcp"})

	// Refused before anything is stored.
	plain := servertest.NewUpstream(t, "irrelevant-key-0000")
	r := env.Do("POST", "/v1/integrations", "", map[string]any{"name": "Not MCP", "provider": "mcp", "config": map[string]any{"base_url": plain.URL + "/mcp"}})
	if r.Status != 422 || !slices.Contains(problemFields(t, r), "config.base_url") {
		t.Fatalf("server without metadata: %d %s", r.Status, r.Body)
	}
	refusing := oauthtest.NewDCR(t, oauthtest.DCROptions{RefuseRegistrations: "invalid_client_metadata"})
	closed := oauthtest.NewProtectedResource(t, refusing, oauthtest.ResourceOptions{})
	r = env.Do("POST", "/v1/integrations", "", map[string]any{"name": "Closed", "provider": "mcp", "config": map[string]any{"base_url": closed.URL}})
	if r.Status != 422 || !slices.Contains(problemFields(t, r), "config.client_id") || !strings.Contains(string(r.Body), "invalid_client_metadata") {
		t.Fatalf("registration refused: %d %s", r.Status, r.Body)
	}
	if n := len(env.Must(200, "GET", "/v1/integrations", "", nil)["integrations"].([]any)); n != 0 {
		t.Fatalf("%d integrations after refused creates", n)
	}

	in := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "Linear MCP", "provider": "mcp", "config": map[string]any{"base_url": mcp.URL}})
	id := in["id"].(string)
	if in["auth_method"] != "oauth2" || as.Registrations() != 1 {
		t.Fatalf("created %v with %d registrations", in, as.Registrations())
	}
	if cfg := in["config"].(map[string]any); len(cfg) != 1 || cfg["base_url"] != mcp.URL {
		t.Fatalf("config %v: the registration is not the integration's config", cfg)
	}
	au := mcpConnect(t, env, as, id)
	q := au.Query()
	clientID := q.Get("client_id")
	if q.Get("resource") != mcp.URL || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" ||
		!slices.Equal(strings.Fields(q.Get("scope")), []string{"mcp:read", "mcp:write", "offline_access"}) || !strings.HasPrefix(clientID, "dcr-") {
		t.Fatalf("authorize URL %s", au)
	}
	if c, ok := as.Client(clientID); !ok || c.Name != "Storm credentials" || !slices.Equal(c.RedirectURIs, []string{env.URL + "/oauth/callback"}) {
		t.Fatalf("registered client %+v", c)
	}
	clientSecret := as.ClientSecret(clientID)
	if clientSecret == "" {
		t.Fatal("the registration has no client secret to keep sealed")
	}
	if in := env.Must(200, "GET", "/v1/integrations/"+id, "", nil); in["status"] != "connected" {
		t.Fatalf("status %v", in["status"])
	}
	authz, tok := as.SeenResources()
	if !slices.Contains(authz, mcp.URL) || !slices.Contains(tok, mcp.URL) || slices.Contains(tok, "") {
		t.Fatalf("resource indicators sent: authorize %v, token %v", authz, tok)
	}

	worker := env.NewToken("worker", "default")
	a := env.Must(200, "GET", "/v1/integrations/"+id+"/access", worker, nil)
	if at := checkBearer(t, a); !as.ValidFor(at, mcp.URL) {
		t.Fatal("/access handed out a token not valid for the resource")
	}
	// …/proxy (no "/") is the server URL itself (/mcp).
	if body := env.Must(200, "GET", "/v1/integrations/"+id+"/proxy", worker, nil); body["jsonrpc"] != "2.0" {
		t.Fatalf("proxied %v", body)
	}

	// A second integration of the workspace (another resource of the same
	// authorization server) reuses the registration; another workspace
	// registers its own.
	second := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "Second MCP", "provider": "mcp", "config": map[string]any{"base_url": other.URL}})["id"].(string)
	if au := mcpConnect(t, env, as, second); au.Query().Get("client_id") != clientID || au.Query().Get("resource") != other.URL {
		t.Fatalf("second integration authorized as %s for %s", au.Query().Get("client_id"), au.Query().Get("resource"))
	}
	if as.Registrations() != 1 {
		t.Fatalf("%d registrations for two integrations of one workspace", as.Registrations())
	}
	env.Must(201, "POST", "/v1/workspaces", "", map[string]any{"name": "team-b"})
	env.Must(201, "POST", "/v1/integrations", "", map[string]any{"workspace": "team-b", "name": "Team B MCP", "provider": "mcp",
		"config": map[string]any{"base_url": mcp.URL}})
	if as.Registrations() != 2 {
		t.Fatalf("%d registrations after another workspace's integration, want 2", as.Registrations())
	}

	// Refresh under continuous traffic.
	refreshes := as.RefreshRequests()
	tr := startTraffic(t, []*servertest.Env{env}, "/v1/integrations/"+id+"/proxy", worker, 4)
	tr.during(5 * time.Second)
	total := tr.finish(t, "MCP tokens expiring every 3 s")
	n := as.RefreshRequests() - refreshes
	t.Logf("%d proxied MCP requests over 5s of 3s tokens: %d refreshes for the two connected integrations, 0 failed", total, n)
	if n < 2 || n > 16 {
		t.Fatalf("%d refreshes in 5 s of 3 s tokens for two integrations: want renewals before expiry, not per request", n)
	}
	if _, tok := as.SeenResources(); slices.Contains(tok, "") {
		t.Fatal("a refresh request carried no resource indicator")
	}

	// Reconnect: a new token set replaces the old one.
	mcpConnect(t, env, as, id)
	if s := stateCounts(t, env, id); s["active"] != 1 || s["revoked"] < 1 {
		t.Fatalf("states after reconnect %v", s)
	}
	if as.Registrations() != 2 {
		t.Fatalf("reconnect registered again (%d registrations)", as.Registrations())
	}
	noSecretsOutsideAccess(t, env, clientSecret)
	if opts.Database == "" {
		assertAbsent(t, dir, clientSecret)
	}
	_ = http.StatusOK
}

// TestMCPRegistrationIsAnApp (issue 15): the client Storm registers for a
// remote MCP server is an app of the workspace (origin registered, with
// the authorization server's issuer), listed by GET /v1/apps with the
// integrations that use it; a second MCP integration of the workspace on
// the same authorization server reuses it (the server sees exactly one
// registration request) and authorizes with it; deleting the app while
// they use it is 409, and its client secret is in no answer; a person
// cannot rotate its secret (409). Once unused it can be deleted, and the
// next MCP integration registers again.
func TestMCPRegistrationIsAnApp(t *testing.T) { backends(t, testMCPRegistrationIsAnApp) }

func testMCPRegistrationIsAnApp(t *testing.T, opts servertest.Options) {
	env := servertest.Start(t, opts)
	as := oauthtest.NewDCR(t, oauthtest.DCROptions{})
	mcp := oauthtest.NewProtectedResource(t, as, oauthtest.ResourceOptions{})
	other := oauthtest.NewProtectedResource(t, as, oauthtest.ResourceOptions{Path: "/v1/mcp"})

	first := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "MCP one", "provider": "mcp", "config": map[string]any{"base_url": mcp.URL}})
	list := env.Must(200, "GET", "/v1/apps?workspace=default", "", nil)["apps"].([]any)
	if len(list) != 1 {
		t.Fatalf("apps after an MCP integration registered: %v", list)
	}
	app := list[0].(map[string]any)
	appID := app["id"].(string)
	cfg := app["config"].(map[string]any)
	if app["origin"] != "registered" || app["issuer"] != as.Issuer || app["redirect_uri"] != env.URL+"/oauth/callback" ||
		app["provider"] != "mcp" || app["auth_method"] != "oauth2" || app["integrations"] != float64(1) || !strings.HasPrefix(cfg["client_id"].(string), "dcr-") {
		t.Fatalf("registered app %v", app)
	}
	if first["app"] != appID {
		t.Fatalf("the integration does not name its registered app: %v", first["app"])
	}
	clientID := cfg["client_id"].(string)
	clientSecret := as.ClientSecret(clientID)
	if clientSecret == "" || cfg["client_secret"] != "********" {
		t.Fatalf("registered client secret: %q, shown as %v", clientSecret, cfg["client_secret"])
	}

	second := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "MCP two", "provider": "mcp", "config": map[string]any{"base_url": other.URL}})
	if as.Registrations() != 1 {
		t.Fatalf("the authorization server saw %d registrations for two integrations of one workspace, want 1", as.Registrations())
	}
	if second["app"] != appID {
		t.Fatalf("the second integration uses %v, not the registered app %s", second["app"], appID)
	}
	if au := mcpConnect(t, env, as, second["id"].(string)); au.Query().Get("client_id") != clientID {
		t.Fatalf("second integration authorized as %s", au.Query().Get("client_id"))
	}
	if n := env.Must(200, "GET", "/v1/apps/"+appID, "", nil)["integrations"]; n != float64(2) {
		t.Fatalf("the registered app counts %v integrations, want 2", n)
	}

	r := env.Do("DELETE", "/v1/apps/"+appID, "", nil)
	if r.Status != 409 {
		t.Fatalf("DELETE of a registered app in use: %d %s", r.Status, r.Body)
	}
	if r := env.Do("POST", "/v1/apps/"+appID+"/secrets", "", map[string]any{"client_secret": "rotated-by-hand-0001"}); r.Status != 409 {
		t.Fatalf("adding a secret to a registered app: %d %s", r.Status, r.Body)
	}
	noSecretsOutsideAccess(t, env, clientSecret)

	env.Must(204, "DELETE", "/v1/integrations/"+first["id"].(string), "", nil)
	env.Must(204, "DELETE", "/v1/integrations/"+second["id"].(string), "", nil)
	env.Must(204, "DELETE", "/v1/apps/"+appID, "", nil)
	env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "MCP three", "provider": "mcp", "config": map[string]any{"base_url": mcp.URL}})
	if as.Registrations() != 2 {
		t.Fatalf("after the registered app was deleted: %d registrations, want 2", as.Registrations())
	}
}

// TestMCPRegistrationRefusedRegistersIntoTheSameApp (issue 15): when the
// authorization server forgets Storm's registered client, the refresh's
// invalid_client is final for the integration (reconnect_required) and
// the next authorization registers a new client into the same app (the
// integrations keep their link; the old client secret is revoked), which
// then connects.
func TestMCPRegistrationRefusedRegistersIntoTheSameApp(t *testing.T) {
	backends(t, testMCPRegistrationRefused)
}

func testMCPRegistrationRefused(t *testing.T, opts servertest.Options) {
	opts.NoBackground = true
	env := servertest.Start(t, opts)
	as := oauthtest.NewDCR(t, oauthtest.DCROptions{AccessTokenTTL: time.Second})
	mcp := oauthtest.NewProtectedResource(t, as, oauthtest.ResourceOptions{})
	in := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "MCP", "provider": "mcp", "config": map[string]any{"base_url": mcp.URL}})
	id, appID := in["id"].(string), in["app"].(string)
	old := mcpConnect(t, env, as, id).Query().Get("client_id")

	as.ForgetClient(old)
	time.Sleep(1500 * time.Millisecond) // the access token expires: /access must refresh
	worker := env.NewToken("worker", "default")
	if r := env.Do("GET", "/v1/integrations/"+id+"/access", worker, nil); r.Status == 200 {
		t.Fatalf("/access with a forgotten client: %d %s", r.Status, r.Body)
	}
	if st := env.Must(200, "GET", "/v1/integrations/"+id, "", nil)["status"]; st != "reconnect_required" {
		t.Fatalf("status after the server refused the client: %v", st)
	}

	au := mcpConnect(t, env, as, id)
	if cid := au.Query().Get("client_id"); cid == old || !strings.HasPrefix(cid, "dcr-") || as.Registrations() != 2 {
		t.Fatalf("after the refusal: authorized as %s (old %s) with %d registrations", cid, old, as.Registrations())
	}
	list := env.Must(200, "GET", "/v1/apps", "", nil)["apps"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["id"] != appID || list[0].(map[string]any)["integrations"] != float64(1) {
		t.Fatalf("apps after registering again: %v", list)
	}
	var states []string
	for _, x := range env.Must(200, "GET", "/v1/apps/"+appID+"/secrets", "", nil)["secrets"].([]any) {
		states = append(states, x.(map[string]any)["state"].(string))
	}
	if !slices.Equal(states, []string{"revoked", "active"}) {
		t.Fatalf("secrets of the app after registering again: %v", states)
	}
	if st := env.Must(200, "GET", "/v1/integrations/"+id, "", nil)["status"]; st != "connected" {
		t.Fatalf("status after authorizing again: %v", st)
	}
	env.Must(200, "GET", "/v1/integrations/"+id+"/access", worker, nil)
}
