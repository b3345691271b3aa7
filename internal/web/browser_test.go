package web_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/web"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/server/servertest"
)

// These tests drive the UI in a real headless Chromium (Debian's
// chromium package) against a Storm, a fake provider API that checks
// keys and a real OAuth 2.0 authorization server (fosite). Without
// Chromium they skip, except under CI, where they fail.
//
// A failed test saves a screenshot of the page it was on; every test
// also saves screenshots of the pages it passes through when
// STORM_SCREENSHOTS names a directory. The paths are logged.

// chromiumPath finds the browser: $STORM_CHROMIUM, else chromium on the
// PATH.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("STORM_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed; .ci/run installs it (apt-get install chromium)")
	}
	t.Skip("chromium is not installed (apt-get install chromium): browser tests skipped")
	return ""
}

// chrome is one browser (fresh profile) driving one Storm.
type chrome struct {
	t     *testing.T
	env   *servertest.Env
	base  context.Context // the browser tab; never carries a deadline
	shots string
	n     int
}

// stepTimeout bounds one browser action (navigations included).
const stepTimeout = 30 * time.Second

func startChrome(t *testing.T, env *servertest.Env) *chrome {
	t.Helper()
	path := chromiumPath(t)
	c := &chrome{t: t, env: env, shots: os.Getenv("STORM_SCREENSHOTS")}
	failDir := c.shots
	if failDir == "" {
		failDir = filepath.Join(t.TempDir(), "screenshots") // created before the cleanup below, so removed after it
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	c.base = ctx
	t.Cleanup(func() {
		if t.Failed() {
			c.save(failDir, "failure")
		}
		cancelTab()
		cancelAlloc()
	})
	start := time.Now()
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium (%s): %v", path, err)
	}
	t.Logf("chromium started in %v", time.Since(start).Round(time.Millisecond))
	return c
}

func (c *chrome) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.base, stepTimeout)
}

// save writes a full-page screenshot to dir and logs its path.
func (c *chrome) save(dir, name string) {
	ctx, cancel := c.ctx()
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		c.t.Logf("screenshot %s: %v", name, err)
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c.t.Logf("screenshot dir: %v", err)
		return
	}
	c.n++
	file := filepath.Join(dir, fmt.Sprintf("%s-%02d-%s.png", strings.ReplaceAll(c.t.Name(), "/", "_"), c.n, name))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		c.t.Logf("screenshot %s: %v", name, err)
		return
	}
	c.t.Logf("screenshot: %s", file)
}

// picture writes a screenshot of what the window shows to
// docs/screenshots/NAME.png for the README, only when
// STORM_UPDATE_SCREENSHOTS=1 (so test runs and CI never rewrite the
// committed pictures). The page is scrolled to its top first.
func (c *chrome) picture(name string) {
	c.t.Helper()
	if os.Getenv("STORM_UPDATE_SCREENSHOTS") != "1" {
		return
	}
	ctx, cancel := c.ctx()
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		c.t.Fatalf("picture %s: %v", name, err)
	}
	dir := filepath.Join("..", "..", "docs", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c.t.Fatal(err)
	}
	file := filepath.Join(dir, name+".png")
	if err := os.WriteFile(file, png, 0o644); err != nil {
		c.t.Fatal(err)
	}
	c.t.Logf("picture for the README: %s", file)
}

// shot saves a screenshot of the current page when STORM_SCREENSHOTS is
// set.
func (c *chrome) shot(name string) {
	if c.shots != "" {
		c.save(c.shots, name)
	}
}

// load runs actions that navigate (a click on a link or a submit
// button) and returns the HTTP status of the page that loaded.
func (c *chrome) load(what string, steps ...chromedp.Action[chromedp.Void]) int64 {
	c.t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, steps...)
	if err != nil {
		c.t.Fatalf("%s: %v", what, err)
	}
	return resp.Status
}

func (c *chrome) open(path string) int64 {
	c.t.Helper()
	return c.load("open "+path, chromedp.Navigate(c.env.URL+path))
}

// submit clicks a button that submits a form and wants status.
func (c *chrome) submit(sel string, want int64) {
	c.t.Helper()
	if got := c.load("click "+sel, chromedp.Click(chromedp.CSS(sel))); got != want {
		c.t.Fatalf("click %s: status %d, want %d; page: %.1500s", sel, got, want, c.text("main"))
	}
}

func (c *chrome) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		c.t.Fatalf("%s: %v", what, err)
	}
}

// typeInto types text into the input sel, after clearing it.
func (c *chrome) typeInto(sel, text string) {
	c.t.Helper()
	c.do("type into "+sel, chromedp.Clear(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), text))
}

func (c *chrome) text(sel string) string {
	c.t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		c.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.Join(strings.Fields(s), " ")
}

func eval[T any](c *chrome, js string) T {
	c.t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		c.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// waitFor polls a JavaScript predicate on the current page.
func (c *chrome) waitFor(what, js string) {
	c.t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		c.t.Fatalf("waiting for %s: %v; page: %.1000s", what, err, c.text("main"))
	}
}

func (c *chrome) path() string {
	return eval[string](c, `location.pathname + location.search`)
}

// badge is the integration's status as its page shows it.
func (c *chrome) badge() string { return c.text(".page-head .badge") }

// html is the whole document, for checking no secret is in it.
func (c *chrome) html() string { return eval[string](c, `document.documentElement.outerHTML`) }

func (c *chrome) signIn(token string) {
	c.t.Helper()
	if got := c.open("/"); got != 200 || c.path() != "/signin" {
		c.t.Fatalf("/ went to %s (%d)", c.path(), got)
	}
	c.shot("sign-in")
	c.typeInto("#token", token)
	c.submit("form[action='/signin'] button[type=submit]", 200)
	if p := c.path(); p != "/integrations" {
		c.t.Fatalf("after sign-in: %s", p)
	}
}

func noSecrets(t *testing.T, page string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(page, s) {
			t.Fatalf("the page shows a secret (%.6s…)", s)
		}
	}
}

// TestBrowserAPIKey: sign in, add a custom API integration through the
// provider picker, save a key (a refused one first), rotate, verify and
// revoke the old key, as the product page's rotation procedure says.
func TestBrowserAPIKey(t *testing.T) {
	const bad, key1, key2 = "sk_test_refused_0000", "sk_test_first_1111", "sk_test_second_2222"
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	up := servertest.NewUpstream(t, key1)
	c := startChrome(t, env)

	c.open("/signin")
	c.picture("sign-in")
	c.signIn(env.AdminToken)
	if !strings.Contains(c.text("main"), "No integrations yet") {
		t.Fatalf("empty list: %s", c.text("main"))
	}
	c.submit("main a.button.primary", 200) // Add integration
	c.shot("add-integration")
	c.picture("add-integration")
	// The search filters as you type.
	c.do("search", chromedp.SendKeys(chromedp.CSS("#q"), "custom api"))
	c.waitFor("the filter", `document.querySelectorAll("li[data-search]:not([hidden])").length === 1`)
	if got := c.text("#provider-count"); got != "1 provider" {
		t.Fatalf("count = %q", got)
	}
	c.submit(`li[data-search]:not([hidden]) a`, 200)
	if got := c.text("h1"); got != "Add Custom API" {
		t.Fatalf("after picking: %q", got)
	}
	c.submit(`.choices a[href*="method=api_key"]`, 200)
	c.typeInto("#f-name", "Acme API")
	c.typeInto("#f-config-base_url", up.URL)
	c.typeInto("#f-config-verify-path", "/me")
	c.shot("add-integration-form")
	c.submit("form[action='/integrations'] button[type=submit]", 200)
	if !strings.HasPrefix(c.path(), "/integrations/int_") || c.badge() != "Pending" {
		t.Fatalf("after adding: %s, badge %q", c.path(), c.badge())
	}
	page := c.path()
	id := strings.TrimPrefix(page, "/integrations/")

	// A key the provider refuses: its answer is shown, nothing changes.
	if typ := eval[string](c, `document.getElementById("api_key").type + " " + document.getElementById("api_key").autocomplete`); typ != "password off" {
		t.Fatalf("api_key input: %s", typ)
	}
	c.typeInto("#api_key", bad)
	c.submit("#save-form button[type=submit]", 422)
	if msg := c.text("#save-error"); !strings.Contains(msg, "Nothing was changed") || !strings.Contains(msg, "HTTP 401") || !strings.Contains(msg, "invalid api key") {
		t.Fatalf("refused key: %s", msg)
	}
	c.shot("refused-key")
	if got := credentialStates(t, env, id); len(got) != 0 {
		t.Fatalf("refused key stored: %v", got)
	}

	// Save: verified, active, Connected.
	c.typeInto("#api_key", key1)
	c.submit("#save-form button[type=submit]", 200)
	if c.badge() != "Connected" || !strings.Contains(c.text("#flash"), "Saved version 1") {
		t.Fatalf("after save: badge %q, flash %q", c.badge(), c.text("#flash"))
	}

	// Rotate: 1. generate a new key at the provider; 3. paste it and Save.
	up.AddKey(key2)
	c.typeInto("#api_key", key2)
	c.submit("#save-form button[type=submit]", 200)
	if got := credentialStates(t, env, id); !slices.Equal(got, []string{"previous", "active"}) {
		t.Fatalf("after rotation: %v", got)
	}
	if cur := c.text(`#rotation li[aria-current="step"]`); !strings.Contains(cur, "Verify the connection still works, then revoke the old key") {
		t.Fatalf("rotation guide is at %q", cur)
	}
	c.shot("rotation")
	// 4. Verify, then revoke the old key.
	c.submit("#verify-button", 200)
	if f := c.text("#flash"); !strings.Contains(f, "Verified") || !strings.Contains(f, "HTTP 200") {
		t.Fatalf("verify: %s", f)
	}
	c.submit("#revoke-previous", 200)
	if f := c.text("#flash"); !strings.Contains(f, "Revoked version 1") {
		t.Fatalf("revoke: %s", f)
	}
	up.RevokeKey(key1)
	if got := credentialStates(t, env, id); !slices.Equal(got, []string{"revoked", "active"}) {
		t.Fatalf("after revoke: %v", got)
	}
	if got := c.text(`tr[data-state="revoked"] th`); got != "v1" {
		t.Fatalf("revoked row: %q", got)
	}
	// Activity is folded below Credentials; opened, it reads as sentences.
	c.do("open the activity", chromedp.Click(chromedp.CSS("#activity > summary")))
	if ev := c.text("#activity"); !strings.Contains(ev, "Key revoked · version 1") || !strings.Contains(ev, "Key revoked by bootstrap admin · version 1") ||
		!strings.Contains(ev, "Key saved by bootstrap admin · verified · version 2") || strings.Contains(ev, "credential.") {
		t.Fatalf("activity: %s", ev)
	}
	c.shot("integration")
	c.do("to the top", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	c.picture("integration")
	noSecrets(t, c.html(), bad, key1, key2)

	c.open("/integrations")
	if got := c.text(`tr[data-integration="` + id + `"] .badge`); got != "Connected" {
		t.Fatalf("list badge = %q", got)
	}
	c.shot("integrations")
	if c.shots != "" { // how a phone shows the same pages
		c.do("phone viewport", chromedp.EmulateViewport(390, 844))
		c.shot("integrations-phone")
		c.open(page)
		c.shot("integration-phone")
	}
}

// TestBrowserOAuth: Authorize against the in-process fosite server and
// come back Connected; the grant is revoked at the provider, the next
// refresh fails, the page shows the Reconnect prompt, and Reconnect
// brings it back.
func TestBrowserOAuth(t *testing.T) {
	const ttl = 2 * time.Second
	as := oauthtest.New(t, oauthtest.Options{AccessTokenTTL: ttl})
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	id := oauthIntegration(t, env, as, "Acme OAuth")
	page := "/integrations/" + id
	c := startChrome(t, env)
	c.signIn(env.AdminToken)

	c.open(page)
	if c.badge() != "Pending" {
		t.Fatalf("badge before = %q", c.badge())
	}
	c.shot("oauth-pending")
	authorize := func(button string) {
		t.Helper()
		c.submit(button, 200) // the provider's consent page
		if !strings.Contains(c.text("body"), "allow") {
			t.Fatalf("not on the consent page: %s", c.text("body"))
		}
		c.shot("consent")
		c.submit(`button[value="approve"]`, 200)
		if got := c.path(); got != page {
			t.Fatalf("after approving: back at %s, want %s", got, page)
		}
	}
	authorize("#authorize-button")
	if c.badge() != "Connected" {
		t.Fatalf("after Authorize: %q", c.badge())
	}
	c.shot("oauth-connected")

	// The user revokes the grant at the provider; the next refresh fails
	// for good.
	as.RevokeAll()
	time.Sleep(ttl/2 + 300*time.Millisecond)
	if r := env.Do("GET", "/v1/integrations/"+id+"/access", "", nil); r.Status != 409 {
		t.Fatalf("access after the grant was revoked: %d %s", r.Status, r.Body)
	}
	c.open(page)
	if c.badge() != "Reconnect required" || !strings.Contains(c.text("#reconnect"), "Reconnect required") {
		t.Fatalf("no Reconnect prompt: badge %q", c.badge())
	}
	c.shot("oauth-reconnect")
	authorize("#reconnect-button")
	if c.badge() != "Connected" || eval[bool](c, `!!document.getElementById("reconnect")`) {
		t.Fatalf("after Reconnect: %q", c.badge())
	}
	if got := credentialStates(t, env, id); !slices.Equal(got, []string{"revoked", "active"}) {
		t.Fatalf("versions after Reconnect: %v", got)
	}
	env.Must(200, "GET", "/v1/integrations/"+id+"/access", "", nil)
	noSecrets(t, c.html(), oauthtest.DefaultClientSecret)
}

// TestBrowserServiceAccount: the setup dialog opens in place; a
// malformed file is refused by field; the credentials file is uploaded
// and the integration is Connected.
func TestBrowserServiceAccount(t *testing.T) {
	const secret = "svc-one-browser-secret-7a3c"
	as := oauthtest.New(t, oauthtest.Options{})
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	id := clientCredentialsIntegration(t, env, as, "Reporting service account", secret)
	dir := t.TempDir()
	badFile, goodFile := filepath.Join(dir, "client.txt"), filepath.Join(dir, "client.json")
	os.WriteFile(badFile, []byte("client_id=svc-one\n"), 0o600)
	os.WriteFile(goodFile, clientFile(t, "svc-one", secret), 0o600)

	c := startChrome(t, env)
	c.signIn(env.AdminToken)
	c.open("/integrations/" + id)
	c.do("open the setup dialog", chromedp.Click(chromedp.CSS("#setup-open")))
	c.waitFor("the modal dialog", `document.getElementById("setup").matches(":modal")`)
	c.shot("setup-dialog")
	c.picture("setup-dialog")

	c.do("choose a malformed file", chromedp.SetUploadFiles(chromedp.CSS("#f-file"), []string{badFile}))
	c.submit("#upload-form button.primary", 400)
	if !eval[bool](c, `document.getElementById("setup").open`) {
		t.Fatal("the dialog closed on a refused file")
	}
	if msg := c.text("#f-file-error"); msg == "" {
		t.Fatal("no error at the file field")
	}
	c.shot("setup-dialog-error")
	if got := credentialStates(t, env, id); len(got) != 0 {
		t.Fatalf("a malformed file was stored: %v", got)
	}

	c.do("choose the key file", chromedp.SetUploadFiles(chromedp.CSS("#f-file"), []string{goodFile}))
	c.submit("#upload-form button.primary", 200)
	if c.badge() != "Connected" || !strings.Contains(c.text("#flash"), "Saved version 1") {
		t.Fatalf("after upload: %q, %q", c.badge(), c.text("#flash"))
	}
	if got := credentialStates(t, env, id); !slices.Equal(got, []string{"active"}) {
		t.Fatalf("versions: %v", got)
	}
	c.shot("service-account")
	noSecrets(t, c.html(), secret)
}

// TestBrowserCSRF: a form whose CSRF token was taken out is refused, and
// nothing is saved.
func TestBrowserCSRF(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	id, _ := apiKeyIntegration(t, env, "CSRF", "sk_csrf_key_1234")
	c := startChrome(t, env)
	c.signIn(env.AdminToken)
	c.open("/integrations/" + id)
	c.do("remove the CSRF token", chromedp.Evaluate[chromedp.Void](`document.querySelector("#save-form input[name=csrf]").remove()`))
	c.typeInto("#api_key", "sk_csrf_key_1234")
	c.submit("#save-form button[type=submit]", 403)
	if h := c.text("h1"); h != "Form refused" {
		t.Fatalf("refusal page: %q", h)
	}
	if got := credentialStates(t, env, id); len(got) != 0 {
		t.Fatalf("a refused form saved: %v", got)
	}
	// The skip link is the first stop of the keyboard.
	c.open("/integrations/" + id)
	c.do("tab", chromedp.KeyEvent("\t"))
	if got := eval[string](c, `document.activeElement.className`); got != "skip" {
		t.Fatalf("first tab stop: %q", got)
	}
}

// TestBrowserSetupDialogShowsItsErrors (issue 13): a credentials file the
// provider refuses reopens the setup dialog with the reason inside it,
// on top of the backdrop, and with the settings that were sent; before,
// the reason was rendered behind the modal's backdrop and the dialog
// came back empty.
func TestBrowserSetupDialogShowsItsErrors(t *testing.T) {
	const secret = "svc-one-right-secret-99"
	as := oauthtest.New(t, oauthtest.Options{})
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	id := clientCredentialsIntegration(t, env, as, "Reporting", secret)
	wrongFile := filepath.Join(t.TempDir(), "client.json")
	os.WriteFile(wrongFile, clientFile(t, "svc-one", "svc-one-wrong-secret-00"), 0o600)

	c := startChrome(t, env)
	c.signIn(env.AdminToken)
	c.open("/integrations/" + id)
	c.do("open the setup dialog", chromedp.Click(chromedp.CSS("#setup-open")))
	c.waitFor("the modal dialog", `document.getElementById("setup").matches(":modal")`)
	c.do("choose the file", chromedp.SetUploadFiles(chromedp.CSS("#f-file"), []string{wrongFile}))
	c.typeInto("#f-client_id", "svc-one")
	c.submit("#upload-form button.primary", 422)

	c.waitFor("the dialog, modal again", `document.getElementById("setup").matches(":modal")`)
	msg := c.text("#setup #setup-error")
	if !strings.Contains(msg, "refused the credential") || !strings.Contains(msg, "Nothing was changed") {
		t.Fatalf("the error in the dialog: %q", msg)
	}
	// It is what a person sees at that spot: not covered by the backdrop.
	onTop := eval[bool](c, `(() => {
		const e = document.getElementById("setup-error"), r = e.getBoundingClientRect();
		const hit = document.elementFromPoint(r.left + r.width / 2, r.top + Math.min(r.height / 2, 10));
		return !!hit && e.contains(hit);
	})()`)
	if !onTop {
		t.Fatal("the error is hidden behind the dialog's backdrop")
	}
	if eval[bool](c, `!!document.getElementById("save-error")`) {
		t.Fatal("the error is also rendered behind the backdrop")
	}
	if got := eval[string](c, `document.getElementById("f-client_id").value`); got != "svc-one" {
		t.Fatalf("the dialog came back without its settings: client id %q", got)
	}
	c.shot("setup-dialog-refused")
	if got := credentialStates(t, env, id); len(got) != 0 {
		t.Fatalf("a refused file was stored: %v", got)
	}
	noSecrets(t, c.html(), secret, "svc-one-wrong-secret-00")
}

// TestBrowserIntegrationsList (issue 13): the list has a search, a status
// filter and pages, all query parameters served by the server, so they
// work with JavaScript turned off.
func TestBrowserIntegrationsList(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	up := servertest.NewUpstream(t, "list-key-aaaaaaaaaaaaaaaa")
	var connected []string
	for i := range 30 {
		name := fmt.Sprintf("Acme %02d", i)
		if i%3 == 0 {
			name = fmt.Sprintf("Globex %02d", i)
		}
		id := env.CustomIntegration(name, up)
		if i%5 == 0 {
			env.Must(200, "PUT", "/v1/integrations/"+id+"/credentials", "", map[string]any{"api_key": "list-key-aaaaaaaaaaaaaaaa"})
			connected = append(connected, id)
		}
	}
	c := startChrome(t, env)
	c.do("turn JavaScript off", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	}))
	c.signIn(env.AdminToken)
	rows := func() int { return eval[int](c, `document.querySelectorAll("tr[data-integration]").length`) }

	c.open("/integrations")
	if n := rows(); n != 25 || c.text("#list-count") != "1–25 of 30" {
		t.Fatalf("page 1: %d rows, %q", n, c.text("#list-count"))
	}
	c.shot("integrations-list")
	c.picture("integrations")
	c.submit("#list-next", 200)
	if n := rows(); n != 5 || c.text("#list-count") != "26–30 of 30" || c.path() != "/integrations?page=2" {
		t.Fatalf("page 2: %d rows, %q at %s", n, c.text("#list-count"), c.path())
	}
	c.submit("#list-prev", 200)
	if n := rows(); n != 25 {
		t.Fatalf("back to page 1: %d rows", n)
	}

	// Search: by name, case ignored.
	c.typeInto("#list-q", "globex")
	c.submit("#list-filter button[type=submit]", 200)
	if n := rows(); n != 10 || c.text("#list-count") != "1–10 of 10 matching" {
		t.Fatalf("search globex: %d rows, %q", n, c.text("#list-count"))
	}
	if names := c.text("table.list tbody"); strings.Contains(names, "Acme") {
		t.Fatalf("search globex shows %s", names)
	}
	// Status filter on top of the search.
	c.do("choose Connected", chromedp.SetValue(chromedp.CSS("#list-status"), "connected"))
	c.submit("#list-filter button[type=submit]", 200)
	if n := rows(); n != 2 || !strings.Contains(c.path(), "status=connected") {
		t.Fatalf("globex and connected: %d rows at %s", n, c.path())
	}
	// The status filter alone, and its counts.
	c.open("/integrations?status=connected")
	if n := rows(); n != len(connected) {
		t.Fatalf("connected: %d rows, want %d", n, len(connected))
	}
	if opt := eval[string](c, `document.querySelector('#list-status option[value="connected"]').textContent`); opt != fmt.Sprintf("Connected (%d)", len(connected)) {
		t.Fatalf("status option %q", opt)
	}
	for _, id := range connected {
		if got := c.text(`tr[data-integration="` + id + `"] .badge`); got != "Connected" {
			t.Fatalf("%s: %q", id, got)
		}
	}
	c.open("/integrations?q=nothing-like-this")
	if !strings.Contains(c.text("#no-match"), "No integration matches") {
		t.Fatalf("no match: %s", c.text("main"))
	}
	c.submit("#no-match a", 200)
	if rows() != 25 {
		t.Fatalf("after clearing: %d rows", rows())
	}
}

// TestBrowserIntegrationsListMore (issue 14): the list reads a bounded
// chunk of integrations per request and links to the next chunk, so a
// workspace with very many costs the same per page.
func TestBrowserIntegrationsListMore(t *testing.T) {
	defer web.SetListChunk(4)()
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	up := servertest.NewUpstream(t)
	for i := range 6 {
		env.CustomIntegration(fmt.Sprintf("Chunk %02d", i), up)
	}
	c := startChrome(t, env)
	c.signIn(env.AdminToken)
	rows := func() int { return eval[int](c, `document.querySelectorAll("tr[data-integration]").length`) }
	c.open("/integrations")
	if n := rows(); n != 4 || !eval[bool](c, `!!document.querySelector("#list-more a")`) {
		t.Fatalf("first chunk: %d rows, more link %v", n, eval[bool](c, `!!document.querySelector("#list-more a")`))
	}
	c.submit("#list-more a", 200)
	if n := rows(); n != 2 || eval[bool](c, `!!document.querySelector("#list-more")`) {
		t.Fatalf("second chunk: %d rows at %s", n, c.path())
	}
	// The search stays within the chunk it was made from.
	c.typeInto("#list-q", "chunk")
	c.submit("#list-filter button[type=submit]", 200)
	if n := rows(); n != 2 || !strings.Contains(c.path(), "after=") {
		t.Fatalf("search in the second chunk: %d rows at %s", n, c.path())
	}
}
