package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/server/servertest"
)

// appSecretStates lists an app's secret versions' states in order.
func appSecretStates(t *testing.T, env *servertest.Env, app string) []string {
	t.Helper()
	var out []string
	for _, x := range env.Must(200, "GET", "/v1/apps/"+app+"/secrets", "", nil)["secrets"].([]any) {
		out = append(out, x.(map[string]any)["state"].(string))
	}
	return out
}

// TestBrowserApps: create an app on the Apps page, add an integration
// that uses it (the add-integration form offers it), authorize through
// it, then rotate its secret the way the page guides: add the new secret,
// the provider drops the old one, revoke the old one. The page shows
// which secret was used, the integrations using the app, refuses to
// revoke the last secret, and never shows a secret.
func TestBrowserApps(t *testing.T) {
	const first, second = "browser-app-secret-one-4c2e", "browser-app-secret-two-9d1f"
	as := oauthtest.New(t, oauthtest.Options{})
	as.RemoveClientSecret(oauthtest.DefaultClientID, oauthtest.DefaultClientSecret)
	as.AddClientSecret(oauthtest.DefaultClientID, first)
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	as.AddRedirectURI(oauthtest.DefaultClientID, env.URL+"/oauth/callback")
	c := startChrome(t, env)
	c.signIn(env.AdminToken)

	c.submit(`nav.nav a[href="/apps"]`, 200)
	if !strings.Contains(c.text("main"), "No apps yet") {
		t.Fatalf("empty apps page: %s", c.text("main"))
	}
	c.typeInto("#f-app-name", "Test AS app")
	c.typeInto("#f-config-client_id", oauthtest.DefaultClientID)
	c.typeInto("#f-config-client_secret", first)
	c.typeInto("#f-config-scopes", "offline openid")
	c.typeInto("#f-config-issuer", as.Issuer)
	c.shot("new-app")
	c.submit("#app-form button[type=submit]", 200)
	if !strings.HasPrefix(c.path(), "/apps/app_") || !strings.Contains(c.text("#flash"), "App created") {
		t.Fatalf("after creating: %s %s", c.path(), c.text("main"))
	}
	appPage := c.path()
	app := strings.TrimPrefix(appPage, "/apps/")
	if got := c.text(`#secret-versions tr[data-state="active"] th`); got != "v1" {
		t.Fatalf("secret rows: %q", c.text("#secret-versions"))
	}

	// Add an integration with this app: the form offers it, preselected.
	c.submit("#add-integration", 200)
	if got := eval[string](c, `document.getElementById("f-app").value`); got != app {
		t.Fatalf("the add-integration form offers app %q, want %q", got, app)
	}
	c.typeInto("#f-name", "Customer one")
	c.typeInto("#f-config-base_url", as.URL)
	c.shot("add-integration-with-app")
	c.submit("form[action='/integrations'] button[type=submit]", 200)
	if !strings.HasPrefix(c.path(), "/integrations/int_") {
		t.Fatalf("after adding: %s %s", c.path(), c.text("main"))
	}
	integ := strings.TrimPrefix(c.path(), "/integrations/")
	c.submit("#authorize-button", 200)
	c.submit(`button[value="approve"]`, 200)
	if c.badge() != "Connected" {
		t.Fatalf("after authorizing through the app: %q", c.badge())
	}
	if href := eval[string](c, `document.getElementById("app-link").getAttribute("href")`); href != appPage {
		t.Fatalf("the integration links to %q, want its app %s", href, appPage)
	}

	c.open(appPage)
	if got := c.text(`#app-integrations tr[data-integration="` + integ + `"]`); !strings.Contains(got, "Customer one") || !strings.Contains(got, "Connected") {
		t.Fatalf("integrations using the app: %q", c.text("#integrations"))
	}
	if used := c.text(`#secret-versions tr[data-state="active"] td:nth-of-type(4)`); used == "never" {
		t.Fatal("the secret the exchange used shows as never used")
	}

	// Rotation: 1. the provider gets a new secret; 2. add it here.
	as.AddClientSecret(oauthtest.DefaultClientID, second)
	c.typeInto("#client_secret", second)
	c.submit("#add-secret", 200)
	if f := c.text("#flash"); !strings.Contains(f, "Added secret v2") {
		t.Fatalf("adding: %s", f)
	}
	if got := strings.Join(appSecretStates(t, env, app), " "); got != "previous active" {
		t.Fatalf("after adding: %s", got)
	}
	if cur := c.text(`#rotation li[aria-current="step"]`); !strings.Contains(cur, "Delete the old secret at") {
		t.Fatalf("rotation guide is at %q", cur)
	}
	c.shot("rotation")
	// 3. the provider drops the old one; a refresh uses the new one.
	as.RemoveClientSecret(oauthtest.DefaultClientID, first)
	ctx := context.Background()
	cs, _ := env.Server.Store.ListCredentials(ctx, integ)
	ts, _ := env.Server.Creds.Tokens().Tokens(cs[0])
	if _, err := env.Server.Creds.Tokens().RefreshAfter401(ctx, cs[0], ts.AccessToken, time.Time{}); err != nil {
		t.Fatalf("refresh with the new secret: %v", err)
	}
	// 4. revoke the old one here.
	c.open(appPage)
	if used := c.text(`#secret-versions tr[data-state="active"] td:nth-of-type(4)`); used == "never" {
		t.Fatal("the new secret shows as never used after a refresh with it")
	}
	c.submit("#revoke-previous", 200)
	if f := c.text("#flash"); !strings.Contains(f, "Revoked secret v1") {
		t.Fatalf("revoking: %s", f)
	}
	if got := strings.Join(appSecretStates(t, env, app), " "); got != "revoked active" {
		t.Fatalf("after revoking: %s", got)
	}
	// The last secret cannot be revoked.
	c.submit(`#secret-versions tr[data-state="active"] button`, 200)
	if f := c.text("#flash"); !strings.Contains(f, "last secret") {
		t.Fatalf("revoking the last secret: %s", f)
	}
	if got := strings.Join(appSecretStates(t, env, app), " "); got != "revoked active" {
		t.Fatalf("a refused revocation changed the secrets: %s", got)
	}
	c.shot("app")
	noSecrets(t, c.html(), first, second)
	if strings.Contains(c.text("#danger"), "Delete this app") {
		t.Fatal("an app in use offers to be deleted")
	}

	// A viewer sees the app but none of its forms.
	viewer := env.NewToken("viewer", "default")
	v := startChrome(t, env)
	v.signIn(viewer)
	v.open(appPage)
	if eval[bool](v, `!!document.getElementById("add-secret-form") || !!document.querySelector("#secret-versions button")`) {
		t.Fatal("a viewer is offered the app's forms")
	}
	if !strings.Contains(v.text("#secret-versions"), "v2") {
		t.Fatalf("viewer's secret rows: %s", v.text("#secret-versions"))
	}
}

// TestBrowserRegisteredApp: the client Storm registered for a remote MCP
// server is on the Apps page with the authorization server's issuer; its
// page says Storm manages it (no secret rotation, no adopting), lists the
// MCP integrations that use it, and shows no secret.
func TestBrowserRegisteredApp(t *testing.T) {
	as := oauthtest.NewDCR(t, oauthtest.DCROptions{})
	mcp := oauthtest.NewProtectedResource(t, as, oauthtest.ResourceOptions{})
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	in := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "Docs MCP", "provider": "mcp", "config": map[string]any{"base_url": mcp.URL}})
	app, _ := in["app"].(string)
	if app == "" {
		t.Fatalf("the MCP integration names no app: %v", in)
	}
	c := startChrome(t, env)
	c.signIn(env.AdminToken)

	c.submit(`nav.nav a[href="/apps"]`, 200)
	if row := c.text(`tr[data-app="` + app + `"]`); !strings.Contains(row, "Registered by Storm at "+as.Issuer) {
		t.Fatalf("apps row: %q", row)
	}
	c.shot("registered-app-list")
	c.open("/apps/" + app)
	if note := c.text("#registered"); !strings.Contains(note, as.Issuer) {
		t.Fatalf("registered note: %q", note)
	}
	if !strings.Contains(c.text("#app-integrations"), "Docs MCP") {
		t.Fatalf("integrations: %q", c.text("#integrations"))
	}
	if eval[bool](c, `document.getElementById("add-secret") !== null || document.getElementById("adopt") !== null || document.getElementById("add-integration") !== null`) {
		t.Fatal("a registered app's page offers to rotate its secret, adopt or add integrations")
	}
	c.shot("registered-app")
	cfg := env.Must(200, "GET", "/v1/apps/"+app, "", nil)["config"].(map[string]any)
	if secret := as.ClientSecret(cfg["client_id"].(string)); secret == "" || strings.Contains(c.html(), secret) {
		t.Fatal("the registered app's page shows its client secret (or it has none)")
	}
}
