package web_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/methods/oauth1/oauth1test"
	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/server/servertest"
)

// TestUIBasicCredentials: a Basic integration is added through the
// custom form, its page asks for a user name and password (the password
// input never echoes), a refused password is shown and changes nothing,
// the right one connects it.
func TestUIBasicCredentials(t *testing.T) {
	const pass = "ui-basic-password-77aa"
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	up := servertest.NewUpstream(t, "ui-user:"+pass)
	b := newBrowser(t, env)
	b.signIn(env.AdminToken)
	form := "/integrations/new?provider=custom&method=basic"
	if p := b.get(form); !strings.Contains(p.Body, `name="config.exchange"`) || !strings.Contains(p.Body, `name="config.verify.path"`) {
		t.Fatalf("custom basic form: %.1500s", text(p.Body))
	}
	p := b.post("/integrations", url.Values{"provider": {"custom"}, "method": {"basic"}, "name": {"Basic UI"}, "workspace": {"default"},
		"config.base_url": {up.URL}, "config.verify.method": {"GET"}, "config.verify.path": {"/me"}}, form)
	if p.Status != http.StatusSeeOther {
		t.Fatalf("create: %d %.1500s", p.Status, text(p.Body))
	}
	page := strings.TrimSuffix(p.Header.Get("Location"), "#credentials")
	id := strings.TrimPrefix(page, "/integrations/")
	if p := b.get(page); !strings.Contains(p.Body, `id="username"`) || !strings.Contains(p.Body, `type="password" id="password"`) {
		t.Fatalf("basic page: %.1500s", p.Body)
	}
	p = b.post(page+"/credentials", url.Values{"username": {"ui-user"}, "password": {"wrong-password-0000"}}, page)
	if p.Status != http.StatusUnprocessableEntity || !strings.Contains(p.Body, "Nothing was changed") || strings.Contains(p.Body, "wrong-password-0000") {
		t.Fatalf("refused password: %d %.1500s", p.Status, text(p.Body))
	}
	p = b.post(page+"/credentials", url.Values{"username": {"ui:user"}, "password": {pass}}, page)
	if p.Status != http.StatusBadRequest || !strings.Contains(text(p.Body), "username cannot contain a colon") {
		t.Fatalf("bad user name: %d %.1500s", p.Status, text(p.Body))
	}
	if got := credentialStates(t, env, id); len(got) != 0 {
		t.Fatalf("refused saves stored %v", got)
	}
	if p = b.post(page+"/credentials", url.Values{"username": {"ui-user"}, "password": {pass}}, page); p.Status != http.StatusSeeOther {
		t.Fatalf("save: %d %.1500s", p.Status, text(p.Body))
	}
	if p = b.get(page); !strings.Contains(p.Body, "badge-connected") || strings.Contains(p.Body, pass) || !strings.Contains(text(p.Body), "ui-user") {
		t.Fatalf("after save: %.1500s", text(p.Body))
	}
}

// TestUIOAuth1PastedTokens: an OAuth 1.0a integration without endpoints
// (NetSuite token-based authentication) shows a token form instead of
// Authorize; pasted tokens are verified with a signed request.
func TestUIOAuth1PastedTokens(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	peer := oauth1test.New(t, oauth1test.Options{})
	peer.AddConsumer(oauth1test.Consumer{Key: "ui-ck", Secret: "ui-consumer-secret-1234"})
	tok, sec := peer.IssueToken("ui-ck")
	b := newBrowser(t, env)
	b.signIn(env.AdminToken)
	if p := b.get("/integrations/new?provider=custom&method=oauth1"); !strings.Contains(p.Body, `name="config.oauth1.signature_method"`) ||
		!strings.Contains(p.Body, `<option value="HMAC-SHA256"`) || !strings.Contains(p.Body, "/oauth/callback") {
		t.Fatalf("custom oauth1 form: %.2000s", text(p.Body))
	}
	id := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "TBA", "provider": "custom", "auth_method": "oauth1",
		"config": map[string]any{"base_url": peer.URL + "/api", "verify": map[string]any{"path": "/me"},
			"oauth1": map[string]any{"signature_method": "HMAC-SHA256", "realm": "1234567_SB1", "consumer_key": "ui-ck", "consumer_secret": "ui-consumer-secret-1234"}}})["id"].(string)
	page := "/integrations/" + id
	p := b.get(page)
	if strings.Contains(p.Body, `id="authorize-button"`) || !strings.Contains(p.Body, `id="token_secret"`) {
		t.Fatalf("oauth1 token page: %.2000s", text(p.Body))
	}
	if p = b.post(page+"/credentials", url.Values{"token": {tok}, "token_secret": {sec}}, page); p.Status != http.StatusSeeOther {
		t.Fatalf("save: %d %.1500s", p.Status, text(p.Body))
	}
	if got := credentialStates(t, env, id); !slices.Equal(got, []string{"active"}) || peer.Verified() == 0 {
		t.Fatalf("versions %v, %d verified requests", got, peer.Verified())
	}
	if p = b.get(page); strings.Contains(p.Body, sec) || strings.Contains(p.Body, "ui-consumer-secret-1234") {
		t.Fatal("the page shows a secret")
	}
}

// TestUIMCPServerForm: the mcp provider asks only for the server's URL
// (a client is optional), and the integration is created from it.
func TestUIMCPServerForm(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	as := oauthtest.NewDCR(t, oauthtest.DCROptions{})
	res := oauthtest.NewProtectedResource(t, as, oauthtest.ResourceOptions{})
	b := newBrowser(t, env)
	b.signIn(env.AdminToken)
	form := "/integrations/new?provider=mcp"
	p := b.get(form)
	if !strings.Contains(p.Body, `name="config.base_url"`) || !strings.Contains(p.Body, "OAuth client (optional)") ||
		strings.Contains(p.Body, `name="config.client_id" value="" autocomplete="off" spellcheck="false" required`) {
		t.Fatalf("mcp form: %.2000s", text(p.Body))
	}
	p = b.post("/integrations", url.Values{"provider": {"mcp"}, "method": {"oauth2"}, "name": {"Docs MCP"}, "workspace": {"default"},
		"config.base_url": {res.URL}}, form)
	if p.Status != http.StatusSeeOther || as.Registrations() != 1 {
		t.Fatalf("create: %d (%d registrations) %.1500s", p.Status, as.Registrations(), text(p.Body))
	}
	if p = b.get(strings.TrimSuffix(p.Header.Get("Location"), "#credentials")); !strings.Contains(p.Body, `id="authorize-button"`) {
		t.Fatalf("mcp page: %.1500s", text(p.Body))
	}
}
