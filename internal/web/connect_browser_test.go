package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/server/servertest"
)

// These tests open connect links in a Chromium with a fresh profile that
// never signed in to Storm, as the owner of the external account would.

// appSite is the "app" a link returns to: a page on another loopback
// origin that records where the browser arrived.
type appSite struct {
	*httptest.Server
	mu       sync.Mutex
	arrived  []string
	referers []string
	mux      *http.ServeMux
}

func newAppSite(t *testing.T) *appSite {
	a := &appSite{mux: http.NewServeMux()}
	a.mux.HandleFunc("GET /done", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.arrived = append(a.arrived, r.URL.RequestURI())
		a.referers = append(a.referers, r.Header.Get("Referer"))
		a.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>App</title><h1 id="app">Welcome back to the app</h1>`)
	})
	a.Server = httptest.NewServer(a.mux)
	t.Cleanup(a.Close)
	return a
}

// connectedAt checks the browser arrived at the app's /done with id and
// status connected.
func (c *chrome) connectedAt(app *appSite, id string) {
	c.t.Helper()
	c.waitFor("the app's page", `document.getElementById("app") !== null`)
	loc := eval[string](c, `location.href`)
	u, _ := url.Parse(loc)
	if !strings.HasPrefix(loc, app.URL+"/done?") || u.Query().Get("status") != "connected" || (id != "" && u.Query().Get("integration") != id) {
		c.t.Fatalf("arrived at %s, want %s/done?integration=%s&status=connected", loc, app.URL, id)
	}
}

// noStormSession checks the browser holds no Storm sign-in.
func (c *chrome) noStormSession() {
	c.t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	cookies, err := chromedp.Run(ctx, chromedp.Action[[]*network.Cookie](func(ctx context.Context, tg *chromedp.Target) ([]*network.Cookie, error) {
		res, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{c.env.URL + "/", c.env.URL + "/connect/x"}})
		return res.Cookies, err
	}))
	if err != nil {
		c.t.Fatalf("cookies: %v", err)
	}
	names := []string{}
	for _, ck := range cookies {
		names = append(names, ck.Name)
		if strings.Contains(ck.Name, "storm_session") {
			c.t.Fatalf("the link's browser holds a Storm session cookie %s", ck.Name)
		}
	}
	if !slices.Contains(names, "storm_connect") {
		c.t.Fatalf("cookies %v: no link cookie", names)
	}
}

// TestBrowserConnectAPIKey: the owner opens the link in a browser that
// never signed in, pastes a wrong key (the provider's answer is shown,
// nothing changes), then the right one, and lands on the app's page
// with the integration's id. The link is then spent.
func TestBrowserConnectAPIKey(t *testing.T) {
	const bad, good = "sk_owner_wrong_0000", "sk_owner_right_1111"
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	app := newAppSite(t)
	id, _ := apiKeyIntegration(t, env, "Acme for Bob", good)
	_, path := linkFor(t, env, id, map[string]any{"return_url": app.URL + "/done"})

	c := startChrome(t, env)
	start := time.Now()
	if got := c.open(path); got != 200 {
		t.Fatalf("link page: %d", got)
	}
	c.shot("connect-link")
	c.picture("connect-link")
	if h := c.text("h1"); h != "Acme for Bob" {
		t.Fatalf("h1 %q", h)
	}
	if what := c.text("#connect-what"); what != "Custom API · API key" || c.text("#connect-workspace") != "default asks you to connect an account to Storm." {
		t.Fatalf("what: %q / %q", what, c.text("#connect-workspace"))
	}
	if eval[bool](c, `!!document.querySelector("nav.nav, form[action='/signout'], a[href^='/integrations']")`) {
		t.Fatal("the link page shows Storm's navigation")
	}
	// The key field is labelled for screen readers.
	if l := eval[string](c, `document.getElementById("api_key").labels[0].textContent`); l != "API key" {
		t.Fatalf("api_key label %q", l)
	}
	c.typeInto("#api_key", bad)
	c.submit("#save-form button[type=submit]", 422)
	if msg := c.text("#save-error"); !strings.Contains(msg, "Nothing was changed") || !strings.Contains(msg, "HTTP 401") {
		t.Fatalf("refused key: %s", msg)
	}
	c.shot("connect-link-refused")
	noSecrets(t, c.html(), bad)
	if got := credentialStates(t, env, id); len(got) != 0 {
		t.Fatalf("refused key stored: %v", got)
	}
	c.typeInto("#api_key", good)
	c.submit("#save-form button[type=submit]", 200)
	c.connectedAt(app, id)
	took := time.Since(start)
	if status(t, env, id) != "connected" {
		t.Fatalf("status %s", status(t, env, id))
	}
	c.noStormSession()
	app.mu.Lock()
	if len(app.referers) != 1 || app.referers[0] != "" {
		t.Errorf("the app got Referer %q", app.referers)
	}
	app.mu.Unlock()
	if got := c.open(path); got != http.StatusGone || !strings.Contains(c.text("main"), "already used") {
		t.Fatalf("spent link: %d %s", got, c.text("main"))
	}
	t.Logf("time from open to connected (wrong key first): %v", took.Round(time.Millisecond))
}

// TestBrowserConnectOAuth: a link to an OAuth 2.0 integration that uses an
// app: Authorize goes to the fosite server (the page's form-action allows
// it), the owner approves, and the browser comes back through Storm to
// the app, connected. A denial first is shown on the link's page and
// counted, and changes nothing.
func TestBrowserConnectOAuth(t *testing.T) {
	as := oauthtest.New(t, oauthtest.Options{})
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	as.AddRedirectURI(oauthtest.DefaultClientID, env.URL+"/oauth/callback")
	app := newAppSite(t)
	appID := env.Must(201, "POST", "/v1/apps", "", map[string]any{"name": "Test AS app", "provider": "custom", "auth_method": "oauth2",
		"config": map[string]any{"client_id": oauthtest.DefaultClientID, "client_secret": oauthtest.DefaultClientSecret,
			"scopes": []string{"offline", "openid"}, "issuer": as.Issuer}})["id"].(string)
	id := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "Bob's account", "app": appID,
		"config": map[string]any{"base_url": as.URL, "verify": map[string]any{"method": "GET", "path": "/userinfo"}}})["id"].(string)
	linkID, path := linkFor(t, env, id, map[string]any{"return_url": app.URL + "/done"})

	c := startChrome(t, env)
	start := time.Now()
	c.open(path)
	if !strings.Contains(c.text("#connect-what"), "OAuth 2.0") {
		t.Fatalf("what: %s", c.text("main"))
	}
	c.shot("connect-oauth")
	c.submit("#authorize-button", 200) // the provider's consent page
	if !strings.Contains(c.text("body"), "allow") {
		t.Fatalf("not on the consent page: %s", c.text("body"))
	}
	c.submit(`button[value="deny"]`, 200)
	if !strings.HasPrefix(c.path(), path) || !strings.Contains(c.text("#last-error"), "did not grant access") {
		t.Fatalf("after denying: %s %s", c.path(), c.text("main"))
	}
	if v := linkView(t, env, linkID); v["failed_attempts"] != 1.0 || status(t, env, id) != "pending" {
		t.Fatalf("after denying: %v, %s", v, status(t, env, id))
	}
	c.submit("#authorize-button", 200)
	c.submit(`button[value="approve"]`, 200)
	c.connectedAt(app, id)
	took := time.Since(start)
	if status(t, env, id) != "connected" {
		t.Fatalf("status %s", status(t, env, id))
	}
	env.Must(200, "GET", "/v1/integrations/"+id+"/access", "", nil)
	c.noStormSession()
	t.Logf("time from open to connected (OAuth, a denial first): %v", took.Round(time.Millisecond))
}

// TestBrowserConnectServiceAccount: the link's setup dialog opens in place
// as a modal (focus inside it, Escape closes it), a malformed file is
// refused inside the dialog, and the credentials file connects the
// integration; without a return_url the page says Connected.
func TestBrowserConnectServiceAccount(t *testing.T) {
	const secret = "svc-one-link-secret-5b6a"
	as := oauthtest.New(t, oauthtest.Options{})
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	id := clientCredentialsIntegration(t, env, as, "Reporting (link)", secret)
	_, path := linkFor(t, env, id, nil)
	dir := t.TempDir()
	badFile, goodFile := filepath.Join(dir, "client.txt"), filepath.Join(dir, "client.json")
	os.WriteFile(badFile, []byte("client_id=svc-one\n"), 0o600)
	os.WriteFile(goodFile, clientFile(t, "svc-one", secret), 0o600)

	c := startChrome(t, env)
	c.open(path)
	c.do("open the setup dialog", chromedp.Click(chromedp.CSS("#setup-open")))
	c.waitFor("the modal dialog", `document.getElementById("setup").matches(":modal")`)
	if !eval[bool](c, `document.getElementById("setup").contains(document.activeElement)`) {
		t.Fatal("focus is not in the dialog")
	}
	if l := eval[string](c, `document.getElementById("setup").getAttribute("aria-labelledby")`); l != "setup-h" {
		t.Fatalf("dialog label %q", l)
	}
	c.do("escape", chromedp.KeyEvent("\x1b"))
	c.waitFor("the dialog to close", `!document.getElementById("setup").open`)
	c.do("open it again", chromedp.Click(chromedp.CSS("#setup-open")))
	c.waitFor("the modal dialog", `document.getElementById("setup").matches(":modal")`)
	c.shot("connect-setup-dialog")
	c.do("choose a malformed file", chromedp.SetUploadFiles(chromedp.CSS("#f-file"), []string{badFile}))
	c.submit("#upload-form button.primary", 400)
	c.waitFor("the dialog, modal again", `document.getElementById("setup").matches(":modal")`)
	if msg := c.text("#f-file-error"); msg == "" {
		t.Fatal("no error at the file field")
	}
	c.do("choose the key file", chromedp.SetUploadFiles(chromedp.CSS("#f-file"), []string{goodFile}))
	c.submit("#upload-form button.primary", 200)
	if h := c.text("h1"); h != "Connected" || !strings.Contains(c.text("#connected-what"), "Reporting (link)") {
		t.Fatalf("after upload: %s", c.text("main"))
	}
	if got := credentialStates(t, env, id); !slices.Equal(got, []string{"active"}) || status(t, env, id) != "connected" {
		t.Fatalf("versions %v, status %s", got, status(t, env, id))
	}
	noSecrets(t, c.html(), secret)
}

// TestBrowserConnectCreatesIntegration: a link that creates an
// integration: the owner picks the provider among those offered, pastes
// the key and lands on the app's page with the new integration's id.
func TestBrowserConnectCreatesIntegration(t *testing.T) {
	const good = "acme-created-key-31ad"
	up := servertest.NewUpstream(t, good)
	opts := servertest.Options{NoBackground: true, DataDir: t.TempDir()}
	operatorProviders(t, opts.DataDir, map[string]string{
		"acme-keys":  acmeKeyProvider("acme-keys", tlsUpstream(t, up)),
		"acme-other": acmeKeyProvider("acme-other", tlsUpstream(t, up)),
	})
	env := servertest.Start(t, opts)
	app := newAppSite(t)
	_, path := newLink(t, env, "/v1/connect", map[string]any{"providers": []string{"acme-other", "acme-keys"}, "name": "Dana's Acme",
		"return_url": app.URL + "/done"})

	c := startChrome(t, env)
	c.open(path)
	if got := c.text("#connect-h"); got != "Choose the service to connect" {
		t.Fatalf("choices: %s", c.text("main"))
	}
	c.shot("connect-choose")
	c.submit(`.providers-choice a[href*="provider=acme-keys"]`, 200)
	if !strings.Contains(c.text("#connect-what"), "Acme acme-keys · API key") {
		t.Fatalf("chosen: %s", c.text("main"))
	}
	c.typeInto("#api_key", good)
	c.submit("#save-form button[type=submit]", 200)
	c.connectedAt(app, "")
	u, _ := url.Parse(eval[string](c, `location.href`))
	id := u.Query().Get("integration")
	in := env.Must(200, "GET", "/v1/integrations/"+id, "", nil)
	if in["name"] != "Dana's Acme" || in["provider"] != "acme-keys" || in["status"] != "connected" {
		t.Fatalf("created: %v", in)
	}
}

// snippetRe finds the README's connect snippet.
var snippetRe = regexp.MustCompile("(?s)<!-- connect-snippet -->\\s*```html\\n(.*?)```")

// TestBrowserConnectPopup runs the README's embedding snippet from a page
// on a second loopback origin: the link opens in a popup, the owner
// connects there, and the page receives {"type":"storm:connect",
// "integration","status"} from Storm's origin (postMessage with the
// page's exact origin); the popup closes.
func TestBrowserConnectPopup(t *testing.T) {
	const good = "sk_popup_right_2222"
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := snippetRe.FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no connect snippet")
	}
	snippet := string(m[1])
	if n := strings.Count(snippet, "\n"); n > 25 {
		t.Fatalf("the snippet has %d lines", n)
	}
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	id, _ := apiKeyIntegration(t, env, "Popup Co", good)
	app := newAppSite(t)
	var linkURL string
	app.mux.HandleFunc("POST /connect-link", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"url": linkURL})
	})
	app.mux.HandleFunc("GET /app", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		page := strings.ReplaceAll(snippet, `"https://storm.example.com"`, `"`+env.URL+`"`)
		fmt.Fprint(w, `<!doctype html><title>App</title><script>
			window.seen = [];
			window.addEventListener("message", (e) => window.seen.push({origin: e.origin, data: e.data}));
			function connected(integration, status) { window.result = {integration, status}; }
			</script>`+page)
	})
	_, path := linkFor(t, env, id, map[string]any{"return_url": app.URL + "/done"})
	linkURL = env.URL + path
	if strings.HasPrefix(app.URL, env.URL) || app.URL == env.URL {
		t.Fatal("the app must be on another origin")
	}

	c := startChrome(t, env)
	c.load("open the app", chromedp.Navigate(app.URL+"/app"))
	ctx, cancel := c.ctx()
	defer cancel()
	popupCh := chromedp.WaitNewTarget(c.base, func(info *target.Info) bool { return strings.Contains(info.URL, "/connect/") })
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#connect"))); err != nil {
		t.Fatal(err)
	}
	var popupID target.ID
	select {
	case popupID = <-popupCh:
	case <-time.After(10 * time.Second):
		t.Fatal("no popup opened")
	}
	pctx, pcancel := chromedp.NewContext(c.base, chromedp.WithTargetID(popupID))
	defer pcancel()
	step := func(what string, a ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, scancel := context.WithTimeout(pctx, stepTimeout)
		defer scancel()
		if err := chromedp.Do(sctx, a...); err != nil {
			t.Fatalf("popup: %s: %v", what, err)
		}
	}
	// Attach with the context itself: the target's event loop lives as
	// long as the context of the first Do.
	if err := chromedp.Do(pctx); err != nil {
		t.Fatalf("attach to the popup: %v", err)
	}
	step("wait for the link page", chromedp.WaitVisible(chromedp.CSS("#api_key")))
	{
		sctx, scancel := context.WithTimeout(pctx, stepTimeout)
		hasOpener, err := chromedp.Run(sctx, chromedp.Evaluate[bool](`!!window.opener && document.querySelector("input[data-opener]").value === "1"`))
		scancel()
		if err != nil || !hasOpener {
			t.Fatalf("the popup has no opener, or its form does not say so (%v)", err)
		}
	}
	step("type the key", chromedp.SendKeys(chromedp.CSS("#api_key"), good))
	step("save", chromedp.Click(chromedp.CSS("#save-form button[type=submit]")))

	c.waitFor("the outcome", `!!window.result`)
	got := eval[map[string]any](c, `({result: window.result, seen: window.seen})`)
	seen := got["seen"].([]any)
	if len(seen) != 1 {
		t.Fatalf("messages seen: %v", seen)
	}
	msg := seen[0].(map[string]any)
	data := msg["data"].(map[string]any)
	if msg["origin"] != env.URL || data["type"] != "storm:connect" || data["integration"] != id || data["status"] != "connected" {
		t.Fatalf("message %v, want from %s about %s", msg, env.URL, id)
	}
	if c.text("#connect") != "Connected" {
		t.Fatalf("the app's button says %q", c.text("#connect"))
	}
	// The popup closed itself.
	deadline := time.Now().Add(10 * time.Second)
	for {
		targets, err := chromedp.Targets(c.base)
		if err != nil {
			t.Fatal(err)
		}
		open := false
		for _, ti := range targets {
			open = open || ti.TargetID == popupID
		}
		if !open {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the popup did not close")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if status(t, env, id) != "connected" {
		t.Fatalf("status %s", status(t, env, id))
	}
	app.mu.Lock()
	defer app.mu.Unlock()
	if len(app.arrived) != 0 {
		t.Fatalf("the popup also navigated to the app: %v", app.arrived)
	}
}

// TestBrowserConnectWithoutJavaScript: with scripts off the link page
// works: the setup dialog opens through its link, a key is saved and the
// browser is redirected to return_url (the page's form-action allows
// that redirect).
func TestBrowserConnectWithoutJavaScript(t *testing.T) {
	const good = "sk_nojs_right_3333"
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	app := newAppSite(t)
	id, _ := apiKeyIntegration(t, env, "No script", good)
	_, path := linkFor(t, env, id, map[string]any{"return_url": app.URL + "/done"})
	as := oauthtest.New(t, oauthtest.Options{})
	saID := clientCredentialsIntegration(t, env, as, "No script SA", "svc-nojs-secret-1234")
	_, saPath := linkFor(t, env, saID, nil)

	c := startChrome(t, env)
	c.do("turn JavaScript off", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	}))
	start := time.Now()
	c.open(path)
	if v := eval[string](c, `document.querySelector("input[data-opener]").value`); v != "" {
		t.Fatalf("the opener field is set without a script: %q", v)
	}
	c.typeInto("#api_key", good)
	c.submit("#save-form button[type=submit]", 200)
	c.connectedAt(app, id)
	t.Logf("time from open to connected (the right key, no script): %v", time.Since(start).Round(time.Millisecond))

	c.open(saPath)
	c.submit("#setup-open", 200)
	if !eval[bool](c, `document.getElementById("setup").open`) || !strings.Contains(c.path(), "setup=1") {
		t.Fatalf("the setup dialog did not open without a script: %s", c.path())
	}
}

// TestBrowserSendConnectLink: on the integration page an editor makes a
// link (Send a connect link), sees its URL once and copies it with one
// click; opened in another browser that never signed in, it shows the
// integration's controls.
func TestBrowserSendConnectLink(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	id, _ := apiKeyIntegration(t, env, "Send me", "k-send")
	c := startChrome(t, env)
	c.signIn(env.AdminToken)
	c.open("/integrations/" + id)
	c.do("open Send a connect link", chromedp.Click(chromedp.CSS("#connect-link > summary")))
	c.do("choose 2 hours", chromedp.SetValue(chromedp.CSS("#link-expires"), "2h"))
	c.submit("#send-link", 200)
	linkURL := eval[string](c, `document.getElementById("link-url").value`)
	if !strings.HasPrefix(linkURL, env.URL+"/connect/") || !eval[bool](c, `document.getElementById("connect-link").open`) {
		t.Fatalf("link url %q", linkURL)
	}
	c.shot("send-connect-link")
	c.do("allow the clipboard", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		for _, name := range []string{"clipboard-read", "clipboard-write"} {
			if _, err := cdp.Call(ctx, tg, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
				Permission: &cdpbrowser.PermissionDescriptor{Name: name}, Setting: cdpbrowser.PermissionSettingGranted, Origin: env.URL}); err != nil {
				return err
			}
		}
		return nil
	}))
	c.do("copy", chromedp.Click(chromedp.CSS(`button[data-copy="link-url"]`)))
	c.waitFor("copied", `!document.querySelector("[data-copied]").hidden`)
	ctx, cancel := c.ctx()
	copied, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAsValue, chromedp.EvalAwaitPromise))
	cancel()
	if err != nil || copied != linkURL {
		t.Fatalf("clipboard %q (%v), want %q", copied, err, linkURL)
	}
	// Shown once: a reload does not show it again.
	c.open("/integrations/" + id)
	if eval[bool](c, `!!document.getElementById("link-url")`) {
		t.Fatal("the link's URL is shown again")
	}
	links := env.Must(200, "GET", "/v1/integrations/"+id+"/connect", "", nil)["links"].([]any)
	if len(links) != 1 {
		t.Fatalf("links: %v", links)
	}
	exp, _ := time.Parse(time.RFC3339, links[0].(map[string]any)["expires_at"].(string))
	if d := time.Until(exp); d < 119*time.Minute || d > 121*time.Minute {
		t.Fatalf("expires in %v, want 2h", d)
	}

	other := startChrome(t, env)
	other.load("open the link", chromedp.Navigate(linkURL))
	if h := other.text("h1"); h != "Send me" || !eval[bool](other, `!!document.getElementById("api_key")`) {
		t.Fatalf("the link in another browser: %s", other.text("main"))
	}
}
