package web_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/api"
	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/server/servertest"
)

// TestHandlerSplit: the server hands the API's paths to the API and
// everything else to the UI.
func TestHandlerSplit(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	b := newBrowser(t, env)
	if p := b.get("/"); p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/signin" {
		t.Fatalf("GET / = %d %s", p.Status, p.Header.Get("Location"))
	}
	for _, c := range []struct {
		path, ctype string
		status      int
	}{
		{"/healthz", "application/json", 200},
		{"/readyz", "application/json", 200},
		{"/metrics", "text/plain", 200},
		{"/v1/integrations", "application/problem+json", 401},
		{"/v1/nothing-here", "application/problem+json", 404},
		{"/oauth/nothing-here", "application/problem+json", 404},
		{"/oauth/callback", "text/html", 400},
		{"/signin", "text/html", 200},
		{"/nothing-here", "text/html", 404},
		{"/integrations", "", 303}, // to sign in
	} {
		p := b.get(c.path)
		if p.Status != c.status || !strings.HasPrefix(p.Header.Get("Content-Type"), c.ctype) {
			t.Errorf("GET %s = %d %s, want %d %s", c.path, p.Status, p.Header.Get("Content-Type"), c.status, c.ctype)
		}
	}
	for _, path := range []string{"/v1/x", "/v1", "/oauth/callback", "/healthz", "/readyz", "/metrics"} {
		if !api.Serves(path) {
			t.Errorf("api.Serves(%q) = false", path)
		}
	}
	for _, path := range []string{"/", "/integrations", "/v10", "/static/storm.css", "/oauthx"} {
		if api.Serves(path) {
			t.Errorf("api.Serves(%q) = true", path)
		}
	}
}

// checkHeaders holds a page to the security headers every page sends.
func checkHeaders(t *testing.T, what string, p page) {
	t.Helper()
	csp := p.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: CSP %q lacks %s", what, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("%s: CSP allows inline code: %q", what, csp)
	}
	if p.Header.Get("X-Content-Type-Options") != "nosniff" || p.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("%s: nosniff %q, frame options %q", what, p.Header.Get("X-Content-Type-Options"), p.Header.Get("X-Frame-Options"))
	}
	if strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") && p.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s: Cache-Control %q", what, p.Header.Get("Cache-Control"))
	}
	if strings.Contains(p.Body, "<script>") || strings.Contains(p.Body, " style=") || strings.Contains(p.Body, " onclick=") {
		t.Errorf("%s: inline script or style in the page", what)
	}
}

// TestSecurityHeaders: every page, error page and asset sends the
// headers; OAuth pages send no Referer.
func TestSecurityHeaders(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	as := oauthtest.New(t, oauthtest.Options{})
	keyID, _ := apiKeyIntegration(t, env, "Headers", "k-1")
	oauthID := oauthIntegration(t, env, as, "Headers OAuth")
	b := newBrowser(t, env)
	checkHeaders(t, "sign-in", b.get("/signin"))
	checkHeaders(t, "404", b.get("/nope"))
	checkHeaders(t, "refused", b.post("/signin", url.Values{"csrf": {""}, "token": {"x"}}, ""))
	b.signIn(env.AdminToken)
	for _, path := range []string{"/integrations", "/integrations/new", "/integrations/new?provider=github",
		"/integrations/new?provider=github&method=oauth2", "/integrations/" + keyID, "/integrations/" + oauthID, "/integrations/int_nope"} {
		p := b.get(path)
		checkHeaders(t, path, p)
		if path != "/integrations/int_nope" && p.Status != 200 {
			t.Errorf("GET %s = %d", path, p.Status)
		}
	}
	if rp := b.get("/integrations/" + keyID).Header.Get("Referrer-Policy"); rp != "same-origin" {
		t.Errorf("API-key page Referrer-Policy %q", rp)
	}
	if rp := b.get("/integrations/" + oauthID).Header.Get("Referrer-Policy"); rp != "no-referrer" {
		t.Errorf("OAuth page Referrer-Policy %q", rp)
	}
	p := b.post("/integrations/"+oauthID+"/authorize", url.Values{}, "/integrations/"+oauthID)
	if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), as.URL) || p.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("authorize: %d Location %q Referrer-Policy %q", p.Status, p.Header.Get("Location"), p.Header.Get("Referrer-Policy"))
	}
	var binding *http.Cookie
	for _, c := range (&http.Response{Header: p.Header}).Cookies() {
		if c.Name == api.BindingCookie {
			binding = c
		}
	}
	if binding == nil || !binding.HttpOnly || binding.SameSite != http.SameSiteLaxMode || binding.Path != "/oauth/callback" || binding.MaxAge <= 0 || binding.MaxAge > 600 || len(binding.Value) < 40 {
		t.Fatalf("binding cookie = %+v", binding)
	}
	for _, name := range []string{"storm.css", "storm.js", "favicon.svg"} {
		p := b.get("/static/" + name)
		if p.Status != 200 || p.Header.Get("X-Content-Type-Options") != "nosniff" || p.Header.Get("Content-Type") == "" {
			t.Errorf("/static/%s: %d %v", name, p.Status, p.Header)
		}
	}
}

// TestSessionCookie: HttpOnly, SameSite=Lax, Secure and __Host- behind
// https; a tampered cookie is no session; a deleted token ends it.
func TestSessionCookie(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	b := newBrowser(t, env)
	cookie := func(p page) *http.Cookie {
		for _, c := range (&http.Response{Header: p.Header}).Cookies() {
			if strings.HasSuffix(c.Name, "storm_session") {
				return c
			}
		}
		return nil
	}
	c := cookie(b.get("/signin"))
	if c == nil || c.Name != "storm_session" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure || c.Path != "/" {
		t.Fatalf("session cookie over http = %+v", c)
	}
	if p := b.post("/signin", url.Values{"token": {"storm_not-a-token"}}, "/signin"); p.Status != http.StatusUnauthorized || !strings.Contains(p.Body, `name="token"`) {
		t.Fatalf("bad token: %d", p.Status)
	}
	editor := env.NewToken("editor", "default")
	b.signIn(editor)
	if p := b.get("/integrations"); p.Status != 200 || !strings.Contains(text(p.Body), "editor token · editor · default") {
		t.Fatalf("signed in: %d %.500s", p.Status, text(p.Body))
	}

	// A tampered cookie is no session.
	u, _ := url.Parse(env.URL)
	good := b.http.Jar.Cookies(u)
	for i := range good {
		v := []byte(good[i].Value)
		v[len(v)/2] ^= 1
		good[i].Value = string(v)
	}
	tampered := newBrowser(t, env)
	tampered.http.Jar.SetCookies(u, good)
	if p := tampered.get("/integrations"); p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), "/signin") {
		t.Fatalf("tampered cookie: %d %s", p.Status, p.Header.Get("Location"))
	}

	// Deleting the token ends the session at once.
	var tokID string
	for _, e := range env.Must(200, "GET", "/v1/audit?limit=1000", "", nil)["audit"].([]any) {
		if m := e.(map[string]any); m["action"] == "ui.sign_in" {
			tokID = m["target"].(string)
		}
	}
	env.Must(204, "DELETE", "/v1/tokens/"+tokID, "", nil)
	if p := b.get("/integrations"); p.Status != http.StatusSeeOther || !strings.Contains(p.Header.Get("Location"), "ended=1") {
		t.Fatalf("after the token was deleted: %d %s", p.Status, p.Header.Get("Location"))
	}

	// Sign out.
	b2 := newBrowser(t, env)
	b2.signIn(env.AdminToken)
	if p := b2.post("/signout", url.Values{}, "/integrations"); p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/signin" {
		t.Fatalf("sign out: %d %s", p.Status, p.Header.Get("Location"))
	}
	if p := b2.get("/integrations"); p.Status != http.StatusSeeOther {
		t.Fatalf("after sign-out: %d", p.Status)
	}

	// Behind https: Secure and the __Host- prefix.
	envs := servertest.Start(t, servertest.Options{NoBackground: true, PublicURL: "https://storm.example.com"})
	c = cookie(newBrowser(t, envs).get("/signin"))
	if c == nil || c.Name != "__Host-storm_session" || !c.Secure || !c.HttpOnly || c.Path != "/" || c.Domain != "" {
		t.Fatalf("session cookie behind https = %+v", c)
	}
}

// TestCSRF: a form without the session's CSRF token, or from another
// site, is refused and changes nothing.
func TestCSRF(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	id, _ := apiKeyIntegration(t, env, "CSRF", "good-key-1")
	b := newBrowser(t, env)
	if p := b.post("/signin", url.Values{"csrf": {""}, "token": {env.AdminToken}}, ""); p.Status != http.StatusForbidden {
		t.Fatalf("sign-in without CSRF: %d", p.Status)
	}
	b.signIn(env.AdminToken)
	page := "/integrations/" + id
	other := newBrowser(t, env)
	other.signIn(env.AdminToken)
	for name, form := range map[string]url.Values{
		"no token":              {"csrf": {""}, "api_key": {"good-key-1"}},
		"wrong token":           {"csrf": {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, "api_key": {"good-key-1"}},
		"another session's one": {"csrf": {other.csrf(page)}, "api_key": {"good-key-1"}},
	} {
		if p := b.post(page+"/credentials", form, page); p.Status != http.StatusForbidden || !strings.Contains(p.Body, "Form refused") {
			t.Errorf("%s: %d %.200s", name, p.Status, text(p.Body))
		}
	}
	if p := b.upload(page+"/credentials", []byte("x"), nil, ""); p.Status != http.StatusForbidden {
		t.Errorf("upload without CSRF: %d", p.Status)
	}
	for _, path := range []string{"/verify", "/disable", "/delete", "/authorize"} {
		if p := b.post(page+path, url.Values{"csrf": {""}, "confirm": {"CSRF"}}, ""); p.Status != http.StatusForbidden {
			t.Errorf("POST %s without CSRF: %d", path, p.Status)
		}
	}
	if p := b.post("/integrations", url.Values{"csrf": {""}, "provider": {"openai"}, "method": {"api_key"}, "name": {"x"}}, ""); p.Status != http.StatusForbidden {
		t.Errorf("create without CSRF: %d", p.Status)
	}
	// Cross-site: refused even with the right token.
	req, _ := http.NewRequest("POST", env.URL+page+"/credentials", strings.NewReader(url.Values{"csrf": {b.csrf(page)}, "api_key": {"good-key-1"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example.com")
	if p := b.do(req); p.Status != http.StatusForbidden {
		t.Errorf("cross-origin post: %d", p.Status)
	}
	if got := credentialStates(t, env, id); len(got) != 0 {
		t.Fatalf("refused forms saved credentials: %v", got)
	}
	if got := status(t, env, id); got != "pending" {
		t.Fatalf("status = %s", got)
	}
	// The same form with the token works.
	if p := b.post(page+"/credentials", url.Values{"api_key": {"good-key-1"}}, page); p.Status != http.StatusSeeOther {
		t.Fatalf("save with CSRF: %d %.300s", p.Status, text(p.Body))
	}
}

// TestRoleAndWorkspaceScoping: a viewer reads but cannot act; another
// workspace's integration does not exist for a workspace token.
func TestRoleAndWorkspaceScoping(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	env.Must(201, "POST", "/v1/workspaces", "", map[string]any{"name": "acme"})
	mine, _ := apiKeyIntegration(t, env, "Default one", "k-default-1")
	up := servertest.NewUpstream(t, "k-acme-1")
	theirs := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"workspace": "acme", "name": "Acme one", "provider": "custom", "auth_method": "api_key",
		"config": map[string]any{"base_url": up.URL, "api_key": map[string]any{"in": "header", "name": "Authorization", "prefix": "Bearer "}, "verify": map[string]any{"method": "GET", "path": "/me"}}})["id"].(string)

	viewer := newBrowser(t, env)
	viewer.signIn(env.NewToken("viewer", "default"))
	list := viewer.get("/integrations")
	if !strings.Contains(list.Body, mine) || strings.Contains(list.Body, theirs) || strings.Contains(list.Body, "Add integration") {
		t.Fatalf("viewer's list: %.800s", text(list.Body))
	}
	p := viewer.get("/integrations/" + mine)
	if p.Status != 200 || strings.Contains(p.Body, `name="api_key"`) || !strings.Contains(p.Body, "can view this integration but not change") {
		t.Fatalf("viewer's integration page: %d %.800s", p.Status, text(p.Body))
	}
	if p := viewer.post("/integrations/"+mine+"/credentials", url.Values{"api_key": {"k-default-1"}}, "/integrations/"+mine); p.Status != http.StatusForbidden {
		t.Fatalf("viewer save: %d", p.Status)
	}
	if p := viewer.get("/integrations/new"); p.Status != http.StatusForbidden {
		t.Fatalf("viewer add: %d", p.Status)
	}
	for _, path := range []string{"/integrations/" + theirs, "/integrations?workspace=acme"} {
		if p := viewer.get(path); p.Status != http.StatusNotFound {
			t.Fatalf("viewer GET %s: %d", path, p.Status)
		}
	}
	editor := newBrowser(t, env)
	editor.signIn(env.NewToken("editor", "default"))
	if p := editor.post("/integrations/"+theirs+"/credentials", url.Values{"api_key": {"k-acme-1"}}, "/integrations/"+mine); p.Status != http.StatusNotFound {
		t.Fatalf("editor saving another workspace's integration: %d", p.Status)
	}
	if got := credentialStates(t, env, theirs); len(got) != 0 {
		t.Fatalf("saved into another workspace: %v", got)
	}
	// An admin sees every workspace.
	admin := newBrowser(t, env)
	admin.signIn(env.AdminToken)
	if p := admin.get("/integrations?workspace=acme"); p.Status != 200 || !strings.Contains(p.Body, theirs) || strings.Contains(p.Body, mine) {
		t.Fatalf("admin's acme list: %d", p.Status)
	}
}

// TestSaveAPIKey: Save verifies first; a refused key shows the provider's
// answer and changes nothing; no page ever shows a key.
func TestSaveAPIKey(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	const key1, key2, bad = "sk_live_first_key_0001", "sk_live_second_key_0002", "sk_live_wrong_key_9999"
	id, up := apiKeyIntegration(t, env, "Keys", key1)
	b := newBrowser(t, env)
	b.signIn(env.AdminToken)
	page := "/integrations/" + id
	var bodies []string
	p := b.post(page+"/credentials", url.Values{"api_key": {bad}}, page)
	bodies = append(bodies, p.Body)
	if p.Status != http.StatusUnprocessableEntity || !strings.Contains(text(p.Body), "HTTP 401") || !strings.Contains(p.Body, "invalid api key") || !strings.Contains(p.Body, "Nothing was changed") {
		t.Fatalf("bad key: %d %.1500s", p.Status, text(p.Body))
	}
	if got := credentialStates(t, env, id); len(got) != 0 {
		t.Fatalf("a refused key was stored: %v", got)
	}
	p = b.post(page+"/credentials", url.Values{"api_key": {key1}}, page)
	if p.Status != http.StatusSeeOther {
		t.Fatalf("save: %d %.500s", p.Status, text(p.Body))
	}
	p = b.get(page)
	bodies = append(bodies, p.Body)
	if !strings.Contains(text(p.Body), "Saved version 1") || !strings.Contains(p.Body, `badge-connected`) {
		t.Fatalf("after save: %.1500s", text(p.Body))
	}
	up.AddKey(key2)
	b.post(page+"/credentials", url.Values{"api_key": {key2}}, page)
	if got := credentialStates(t, env, id); !slices.Equal(got, []string{"previous", "active"}) {
		t.Fatalf("after rotation: %v", got)
	}
	p = b.get(page)
	bodies = append(bodies, p.Body)
	if !strings.Contains(p.Body, `aria-current="step"`) || !strings.Contains(p.Body, "Revoke the old key (v1)") {
		t.Fatalf("rotation guide: %.2000s", text(p.Body))
	}
	for _, body := range append(bodies, b.get("/integrations").Body) {
		for _, k := range []string{key1, key2, bad} {
			if strings.Contains(body, k) {
				t.Fatalf("a page shows the key %s", k)
			}
		}
		if !strings.Contains(body, `autocomplete="off"`) && strings.Contains(body, `type="password"`) {
			t.Fatal("a secret input without autocomplete=off")
		}
	}
}

// TestCreateFromForm: the add-integration form builds the config from
// the provider definition and shows refusals by field.
func TestCreateFromForm(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	up := servertest.NewUpstream(t, "k")
	b := newBrowser(t, env)
	b.signIn(env.AdminToken)
	if p := b.get("/integrations/new?q=zendesk"); !strings.Contains(p.Body, "Zendesk Sell") || !strings.Contains(p.Body, "2 providers") {
		t.Fatalf("search: %.500s", text(p.Body))
	}
	if p := b.get("/integrations/new?provider=zendesk"); !strings.Contains(p.Body, "method=oauth2") || !strings.Contains(p.Body, "When to use") && !strings.Contains(p.Body, "OAuth 2.0") {
		t.Fatalf("method choice: %.500s", text(p.Body))
	}
	form := "/integrations/new?provider=zendesk&method=api_key"
	p := b.get(form)
	if !strings.Contains(p.Body, `name="config.subdomain"`) || !strings.Contains(p.Body, `name="config.email"`) {
		t.Fatalf("zendesk form: %.1000s", text(p.Body))
	}
	p = b.post("/integrations", url.Values{"provider": {"zendesk"}, "method": {"api_key"}, "name": {"Zendesk – acme"},
		"config.subdomain": {"Not A Subdomain!"}, "config.email": {"agent@acme.test"}}, form)
	if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, `id="f-config-subdomain-error"`) || !strings.Contains(p.Body, `value="agent@acme.test"`) {
		t.Fatalf("refused config: %d %.1500s", p.Status, text(p.Body))
	}
	custom := "/integrations/new?provider=custom&method=api_key"
	p = b.post("/integrations", url.Values{"provider": {"custom"}, "method": {"api_key"}, "name": {"Acme API"},
		"config.base_url": {up.URL}, "config.api_key.in": {"header"}, "config.api_key.name": {"Authorization"},
		"config.api_key.prefix": {"Bearer "}, "config.verify.method": {"GET"}, "config.verify.path": {"/me"}}, custom)
	if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), "/integrations/int_") {
		t.Fatalf("create custom: %d %.1500s", p.Status, text(p.Body))
	}
	id := strings.TrimSuffix(strings.TrimPrefix(p.Header.Get("Location"), "/integrations/"), "#credentials")
	in := env.Must(200, "GET", "/v1/integrations/"+id, "", nil)
	cfg := in["config"].(map[string]any)
	if cfg["base_url"] != up.URL || cfg["api_key"].(map[string]any)["prefix"] != "Bearer " || cfg["verify"].(map[string]any)["path"] != "/me" {
		t.Fatalf("config = %v", cfg)
	}
	if p := b.post("/integrations/"+id+"/credentials", url.Values{"api_key": {"k"}}, "/integrations/"+id); p.Status != http.StatusSeeOther {
		t.Fatalf("save into the new integration: %d", p.Status)
	}
}

// TestUploadServiceAccount: the setup dialog's upload saves a service
// account; a malformed file is refused by field and changes nothing.
func TestUploadServiceAccount(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	as := oauthtest.New(t, oauthtest.Options{})
	const secret = "svc-one-canary-secret-5d1e"
	id := clientCredentialsIntegration(t, env, as, "SA", secret)
	b := newBrowser(t, env)
	b.signIn(env.AdminToken)
	page := "/integrations/" + id
	if p := b.get(page + "?setup=1"); !strings.Contains(p.Body, `<dialog id="setup"`) || !strings.Contains(p.Body, `type="file"`) || !strings.Contains(p.Body, " open") {
		t.Fatalf("setup dialog: %.1500s", p.Body)
	}
	p := b.upload(page+"/credentials", []byte("client_id=svc-one\n"), nil, page)
	if p.Status != http.StatusBadRequest || !strings.Contains(p.Body, `id="f-file-error"`) || !strings.Contains(p.Body, "<dialog id=\"setup\" aria-labelledby=\"setup-h\" open") {
		t.Fatalf("malformed file: %d %.2000s", p.Status, text(p.Body))
	}
	if got := credentialStates(t, env, id); len(got) != 0 {
		t.Fatalf("a malformed file was stored: %v", got)
	}
	p = b.upload(page+"/credentials", clientFile(t, "svc-one", "wrong-secret"), nil, page)
	if p.Status != http.StatusUnprocessableEntity || !strings.Contains(p.Body, "Nothing was changed") {
		t.Fatalf("refused key: %d %.1500s", p.Status, text(p.Body))
	}
	p = b.upload(page+"/credentials", clientFile(t, "svc-one", secret), nil, page)
	if p.Status != http.StatusSeeOther {
		t.Fatalf("upload: %d %.1500s", p.Status, text(p.Body))
	}
	p = b.get(page)
	if !strings.Contains(p.Body, "badge-connected") || strings.Contains(p.Body, secret) {
		t.Fatalf("after upload: %.1500s", text(p.Body))
	}
}

// TestDisableAndDelete: disabling and enabling go through creds; a
// deletion needs the integration's name typed.
func TestDisableAndDelete(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	id, _ := apiKeyIntegration(t, env, "Old API", "k-1")
	b := newBrowser(t, env)
	b.signIn(env.AdminToken)
	page := "/integrations/" + id
	if p := b.post(page+"/disable", url.Values{}, page); p.Status != http.StatusSeeOther || status(t, env, id) != "disabled" {
		t.Fatalf("disable: %d %s", p.Status, status(t, env, id))
	}
	if !strings.Contains(b.get(page).Body, "badge-disabled") {
		t.Fatal("no Disabled badge")
	}
	if p := b.post(page+"/enable", url.Values{}, page); p.Status != http.StatusSeeOther || status(t, env, id) != "pending" {
		t.Fatalf("enable: %d %s", p.Status, status(t, env, id))
	}
	b.post(page+"/delete", url.Values{"confirm": {"Old"}}, page)
	env.Must(200, "GET", "/v1/integrations/"+id, "", nil)
	if p := b.post(page+"/delete", url.Values{"confirm": {"Old API"}}, page); p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/integrations" {
		t.Fatalf("delete: %d %s", p.Status, p.Header.Get("Location"))
	}
	env.Must(404, "GET", "/v1/integrations/"+id, "", nil)
	if p := b.get(page); p.Status != http.StatusNotFound {
		t.Fatalf("deleted integration page: %d", p.Status)
	}
}
