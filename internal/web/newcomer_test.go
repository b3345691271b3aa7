package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/server/servertest"
)

// TestShortKeyHintRenders: a key too short to show any of it is named as
// such, never an empty "…", in the versions table and the flash.
func TestShortKeyHintRenders(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	id, up := apiKeyIntegration(t, env, "Short", "abc123")
	_ = up
	b := newBrowser(t, env)
	b.signIn(env.AdminToken)
	p := b.post("/integrations/"+id+"/credentials", url.Values{"api_key": {"abc123"}}, "/integrations/"+id)
	if p.Status != http.StatusSeeOther {
		t.Fatalf("save: %d %s", p.Status, text(p.Body))
	}
	page := b.get("/integrations/" + id)
	body := text(page.Body)
	if !strings.Contains(body, "Saved version 1 (short key, no hint)") || !strings.Contains(body, "v1 Active short key, no hint") {
		t.Fatalf("page: %s", body)
	}
	if strings.Contains(page.Body, "<code>…</code>") || strings.Contains(body, "(…)") {
		t.Fatal("an empty hint is shown")
	}
}

// TestPagesNameTheCause: Save and Verify say why a credential does not
// work — refused, unreachable (not judged), or blocked by the egress
// guard (naming STORM_ALLOW_PRIVATE_UPSTREAMS) — and an integration whose
// base URL the guard blocks is created with a notice on its page.
func TestPagesNameTheCause(t *testing.T) {
	up := servertest.NewUpstream(t, "cause-key-aaaaaaaaaaaaaaa")
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	b := newBrowser(t, env)
	b.signIn(env.AdminToken)

	id := env.CustomIntegration("Refusing", up)
	p := b.post("/integrations/"+id+"/credentials", url.Values{"api_key": {"wrong-key-bbbbbbbbbbbbbbb"}}, "/integrations/"+id)
	if p.Status != http.StatusUnprocessableEntity || !strings.Contains(text(p.Body), "Custom API refused the credential. Nothing was changed.") {
		t.Fatalf("refused: %d %s", p.Status, text(p.Body))
	}

	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	deadID := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "Dead", "provider": "custom", "auth_method": "api_key",
		"config": map[string]any{"base_url": deadURL, "api_key": map[string]any{"in": "header", "name": "Authorization", "prefix": "Bearer "}, "verify": map[string]any{"method": "GET", "path": "/me"}}})["id"].(string)
	p = b.post("/integrations/"+deadID+"/credentials", url.Values{"api_key": {"cause-key-aaaaaaaaaaaaaaa"}}, "/integrations/"+deadID)
	if body := text(p.Body); p.Status != http.StatusUnprocessableEntity || !strings.Contains(body, "could not be reached") || !strings.Contains(body, "not judged") {
		t.Fatalf("unreachable: %d %s", p.Status, body)
	}
	// Verify says the same of a saved key once the provider is gone.
	env.Must(200, "PUT", "/v1/integrations/"+id+"/credentials", "", map[string]any{"api_key": "cause-key-aaaaaaaaaaaaaaa"})
	up.RevokeKey("cause-key-aaaaaaaaaaaaaaa")
	if p = b.post("/integrations/"+id+"/verify", url.Values{}, "/integrations/"+id); p.Status != http.StatusSeeOther {
		t.Fatalf("verify: %d", p.Status)
	}
	if body := text(b.get("/integrations/" + id).Body); !strings.Contains(body, "Not working: Custom API refused the credential.") {
		t.Fatalf("verify flash: %s", body)
	}

	// The egress guard: creating succeeds, the page says why it will fail.
	guarded := servertest.Start(t, servertest.Options{NoBackground: true, DenyPrivateUpstreams: true})
	gb := newBrowser(t, guarded)
	gb.signIn(guarded.AdminToken)
	form := url.Values{"provider": {"custom"}, "method": {"api_key"}, "name": {"Local"}, "workspace": {"default"},
		"config.base_url": {up.URL}, "config.api_key.in": {"header"}, "config.api_key.name": {"Authorization"},
		"config.api_key.prefix": {"Bearer "}, "config.verify.method": {"GET"}, "config.verify.path": {"/me"}}
	p = gb.post("/integrations", form, "/integrations/new?provider=custom&method=api_key")
	if p.Status != http.StatusSeeOther {
		t.Fatalf("create: %d %s", p.Status, text(p.Body))
	}
	page := gb.get(strings.TrimSuffix(p.Header.Get("Location"), "#credentials"))
	if body := text(page.Body); !strings.Contains(body, "config.base_url points at 127.0.0.1") || !strings.Contains(body, "STORM_ALLOW_PRIVATE_UPSTREAMS=true") {
		t.Fatalf("no notice on the new integration's page: %s", body)
	}
	localID := strings.TrimPrefix(strings.TrimSuffix(p.Header.Get("Location"), "#credentials"), "/integrations/")
	p = gb.post("/integrations/"+localID+"/credentials", url.Values{"api_key": {"cause-key-aaaaaaaaaaaaaaa"}}, "/integrations/"+localID)
	if body := text(p.Body); p.Status != http.StatusUnprocessableEntity || !strings.Contains(body, "egress guard blocks") || !strings.Contains(body, "STORM_ALLOW_PRIVATE_UPSTREAMS=true") {
		t.Fatalf("blocked: %d %s", p.Status, body)
	}
}

// TestFailedAuthorizationSaysWhatHappened: the callback's error page
// links back to its integration (also when the flow was started from the
// API, with no return_to), and the integration's status reason and page
// say that the last authorization failed and why.
func TestFailedAuthorizationSaysWhatHappened(t *testing.T) {
	as := oauthtest.New(t, oauthtest.Options{})
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	id := oauthIntegration(t, env, as, "Denied")
	start := env.Must(200, "POST", "/v1/integrations/"+id+"/authorize", "", map[string]any{})
	u, err := url.Parse(start["authorize_url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	state := u.Query().Get("state")
	resp, err := http.Get(env.URL + "/oauth/callback?error=access_denied&state=" + url.QueryEscape(state))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		page.Write(buf[:n])
		if err != nil {
			break
		}
	}
	back := regexp.MustCompile(`<a href="([^"]+)" id="back">([^<]+)</a>`).FindStringSubmatch(page.String())
	if resp.StatusCode != http.StatusBadRequest || back == nil || back[1] != "/integrations/"+id || back[2] != "Back to the integration" {
		t.Fatalf("error page (%d): %s", resp.StatusCode, page.String())
	}
	in := env.Must(200, "GET", "/v1/integrations/"+id, "", nil)
	if in["status"] != "pending" || !strings.Contains(in["status_reason"].(string), "the last authorization failed: The provider did not grant access (access_denied)") {
		t.Fatalf("integration after the failure: %v", in)
	}
	b := newBrowser(t, env)
	b.signIn(env.AdminToken)
	body := text(b.get("/integrations/" + id).Body)
	if !strings.Contains(body, "The last authorization failed. The provider did not grant access (access_denied)") || !strings.Contains(body, "Click Authorize to try again") {
		t.Fatalf("integration page: %s", body)
	}
	// A bad state (no integration known) still links somewhere useful.
	resp, err = http.Get(env.URL + "/oauth/callback?state=nope&code=x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad state: %d", resp.StatusCode)
	}
}
