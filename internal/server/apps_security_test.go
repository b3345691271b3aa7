package server_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/server/servertest"
)

// TestInvalidClientNeverFinalForAppIntegrations: the provider stops
// accepting the app's only secret (it switched before Storm knew). The
// refresh gets invalid_client: the integration stays connected and keeps
// its still-valid token, the app is evented (app.client_rejected, with no
// secret used instead), the refresh backs off instead of giving up, and
// once the new secret is added to the app the next attempt succeeds with
// the same grant.
func TestInvalidClientNeverFinalForAppIntegrations(t *testing.T) {
	const ttl = 4 * time.Second
	opts := servertest.Options{NoBackground: true}
	opts.Tokens.MaxBackoff = 300 * time.Millisecond
	o := startOAuth(t, opts, oauthtest.Options{AccessTokenTTL: ttl})
	const oldSecret, newSecret = "only-secret-aaaaaaaaaaaaaaaa", "switched-secret-bbbbbbbbbbbbbb"
	o.AS.RemoveClientSecret(oauthtest.DefaultClientID, oauthtest.DefaultClientSecret)
	o.AS.AddClientSecret(oauthtest.DefaultClientID, oldSecret)
	app := o.createApp("switching", oldSecret)
	id := o.appIntegration("customer", app)
	base := "/v1/integrations/" + id
	o.connect(id)
	first := o.Must(200, "GET", base+"/access", "", nil)["access_token"]

	o.AS.AddClientSecret(oauthtest.DefaultClientID, newSecret)
	o.AS.RemoveClientSecret(oauthtest.DefaultClientID, oldSecret)
	expireSoon(ttl) // due, still valid
	for range 5 {
		a := o.Must(200, "GET", base+"/access", "", nil)
		if a["access_token"] != first {
			t.Fatal("a different token while the client was refused")
		}
	}
	in := o.Must(200, "GET", base, "", nil)
	if in["status"] != "connected" {
		t.Fatalf("status while the app's client is refused = %v (%v), want connected", in["status"], in["status_reason"])
	}
	n, data := countEvents(t, o.Env, "app.client_rejected")
	if n == 0 || data[0]["used_instead"] != nil || data[0]["integration"] != id || data[0]["app"] != app {
		t.Fatalf("app.client_rejected events = %d %v", n, data)
	}
	_, failed := countEvents(t, o.Env, "token.refresh_failed")
	if len(failed) == 0 || failed[0]["final"] != false || failed[0]["app_client_rejected"] != true {
		t.Fatalf("token.refresh_failed = %v, want a non-final one", failed)
	}
	types := eventTypes(t, o.Env, id)
	if strings.Contains(types, "reconnect_required") || strings.Contains(types, "integration.degraded") {
		t.Fatalf("integration events = %s", types)
	}

	o.Must(201, "POST", "/v1/apps/"+app+"/secrets", "", map[string]any{"client_secret": newSecret})
	time.Sleep(400 * time.Millisecond) // past the capped backoff
	a := o.Must(200, "GET", base+"/access", "", nil)
	if a["access_token"] == first {
		t.Fatal("not refreshed after the app got the provider's new secret")
	}
	if got := o.Must(200, "GET", base, "", nil)["status"]; got != "connected" {
		t.Fatalf("status after recovery = %v", got)
	}
	// Control: an integration holding its own client still treats
	// invalid_client as final (the integration's own problem).
	own := o.integration("own client")
	o.AS.AddClientSecret(oauthtest.DefaultClientID, oauthtest.DefaultClientSecret)
	o.connect(own)
	o.AS.RemoveClientSecret(oauthtest.DefaultClientID, oauthtest.DefaultClientSecret)
	expireSoon(ttl)
	if r := o.Do("GET", "/v1/integrations/"+own+"/access", "", nil); r.Status != 409 {
		t.Fatalf("own-client integration refused by the provider: %d %s", r.Status, r.Body)
	}
}

// TestAdoptIntegrationsIntoApp: integrations that each hold a copy of
// one client move into an app made from one of them; their own client
// secrets are destroyed, their tokens stay and keep refreshing through
// the app. An integration of another client is left alone, one whose
// secret is not the app's is skipped with the reason.
func TestAdoptIntegrationsIntoApp(t *testing.T) { backends(t, testAdopt) }

func testAdopt(t *testing.T, opts servertest.Options) {
	o := startOAuth(t, opts, oauthtest.Options{})
	var ids []string
	for i := range 3 {
		id := o.integration(fmt.Sprintf("copy %d", i))
		o.connect(id)
		ids = append(ids, id)
	}
	odd := o.Must(201, "POST", "/v1/integrations", "", map[string]any{
		"name": "stale secret", "provider": "custom", "auth_method": "oauth2",
		"config": map[string]any{"base_url": o.AS.URL, "oauth2": map[string]any{
			"issuer": o.AS.Issuer, "client_id": oauthtest.DefaultClientID, "client_secret": "an-old-copy-of-the-secret", "scopes": []string{"offline", "openid"}, "pkce": true}}})["id"].(string)
	otherClient := o.Must(201, "POST", "/v1/integrations", "", map[string]any{
		"name": "another client", "provider": "custom", "auth_method": "oauth2",
		"config": map[string]any{"base_url": o.AS.URL, "oauth2": map[string]any{"issuer": o.AS.Issuer, "client_id": "someone-else", "client_secret": "x-secret-123456789"}}})["id"].(string)
	ctx := context.Background()
	before := map[string]string{}
	for _, id := range ids {
		cs, _ := o.Server.Store.ListCredentials(ctx, id)
		before[id] = cs[0].ID
	}

	a := o.Must(201, "POST", "/v1/apps", "", map[string]any{"name": "shared client", "from_integration": ids[0]})
	app := a["id"].(string)
	if cfg := a["config"].(map[string]any); a["provider"] != "custom" || cfg["client_id"] != oauthtest.DefaultClientID ||
		cfg["issuer"] != o.AS.Issuer || cfg["client_secret"] != "********" {
		t.Fatalf("app made from an integration = %v", a)
	}
	res := o.Must(200, "POST", "/v1/apps/"+app+"/adopt", "", nil)
	adopted := fmt.Sprint(res["adopted"])
	for _, id := range ids {
		if !strings.Contains(adopted, id) {
			t.Errorf("%s was not adopted: %v", id, res)
		}
	}
	if strings.Contains(adopted, otherClient) || strings.Contains(adopted, odd) {
		t.Fatalf("adopted more than the identical clients: %v", res)
	}
	skipped := fmt.Sprint(res["skipped"])
	if !strings.Contains(skipped, odd) || !strings.Contains(skipped, "secret") {
		t.Fatalf("the integration with another secret was not skipped with a reason: %v", res)
	}
	if res["app"].(map[string]any)["integrations"] != float64(3) {
		t.Fatalf("app after adopt = %v", res["app"])
	}
	if r := o.Must(200, "POST", "/v1/apps/"+app+"/adopt", "", map[string]any{"integrations": []string{otherClient, ids[1], "int_unknown"}}); len(r["adopted"].([]any)) != 0 || len(r["skipped"].([]any)) != 3 {
		t.Fatalf("explicit adopt of a mismatch, an adopted and an unknown integration = %v", r)
	}
	for _, id := range ids {
		in, err := o.Server.Store.GetIntegration(ctx, id)
		if err != nil || in.AppID != app {
			t.Fatalf("%s uses app %q: %v", id, in.AppID, err)
		}
		if sec, _ := o.Server.Creds.OwnClientSecret(ctx, in); sec != "" {
			t.Fatalf("%s still holds its own client secret", id)
		}
		cs, _ := o.Server.Store.ListCredentials(ctx, id)
		if len(cs) != 1 || cs[0].ID != before[id] || cs[0].State != "active" {
			t.Fatalf("%s's tokens changed on adoption: %+v", id, cs)
		}
		ts, _ := o.Server.Creds.Tokens().Tokens(cs[0])
		if _, err := o.Server.Creds.Tokens().RefreshAfter401(ctx, cs[0], ts.AccessToken, time.Time{}); err != nil {
			t.Fatalf("refresh of adopted %s: %v", id, err)
		}
		if st := o.Must(200, "GET", "/v1/integrations/"+id, "", nil)["status"]; st != "connected" {
			t.Fatalf("adopted %s is %v", id, st)
		}
	}
	if x := secretsOf(t, o.Env, app); len(x) != 1 || x[0]["last_used_at"] == nil {
		t.Fatalf("app secrets after refreshes through it = %v", x)
	}
}

// TestAppSecretNeverInAnswersLogsEventsOrAudit runs the app flows with
// canary client secrets — create, add, fall back, revoke, integrations
// authorizing, refreshing and handing out tokens — and finds the secrets
// in no answer (/access included), log line, event, audit record or file.
func TestAppSecretNeverInAnswersLogsEventsOrAudit(t *testing.T) {
	dir := t.TempDir()
	const ttl = 2 * time.Second
	o := startOAuth(t, servertest.Options{DataDir: dir, NoBackground: true}, oauthtest.Options{AccessTokenTTL: ttl})
	first, second, refused := "canary-app-secret-one-7c1d", "canary-app-secret-two-93ab", "canary-app-refused-11ef"
	canaries := []string{first, second, refused}
	for _, c := range canaries[:3] {
		canaries = append(canaries, strings.ToUpper(c), url.QueryEscape(c), base64.StdEncoding.EncodeToString([]byte(c))[:16])
	}
	o.AS.RemoveClientSecret(oauthtest.DefaultClientID, oauthtest.DefaultClientSecret)
	o.AS.AddClientSecret(oauthtest.DefaultClientID, first)
	app := o.createApp("canary app", first)
	id := o.appIntegration("canary integration", app)
	base := "/v1/integrations/" + id
	o.connect(id)
	o.Do("POST", "/v1/apps", "", map[string]any{"name": "bad", "provider": "custom", "config": map[string]any{"client_secret": refused, "token_url": "nope"}})
	o.Must(201, "POST", "/v1/apps/"+app+"/secrets", "", map[string]any{"client_secret": refused}) // the provider refuses it: fallback
	expireSoon(ttl)
	o.Must(200, "GET", base+"/access", "", nil)
	o.Do("GET", base+"/proxy/userinfo", "", nil)
	xs := secretsOf(t, o.Env, app)
	o.Must(200, "POST", "/v1/apps/"+app+"/secrets/"+xs[1]["id"].(string)+"/revoke", "", nil)
	o.AS.AddClientSecret(oauthtest.DefaultClientID, second)
	o.Must(201, "POST", "/v1/apps/"+app+"/secrets", "", map[string]any{"client_secret": second})
	o.Do("PATCH", "/v1/apps/"+app, "", map[string]any{"config": map[string]any{"client_id": oauthtest.DefaultClientID, "token_url": "https://elsewhere.example/token", "client_secret": "********"}})
	o.Do("PATCH", base, "", map[string]any{"config": map[string]any{"base_url": o.AS.URL, "oauth2": map[string]any{"client_secret": second}}})
	o.Must(200, "PATCH", "/v1/apps/"+app, "", map[string]any{"name": "renamed"})
	for _, path := range []string{"/v1/apps", "/v1/apps/" + app, "/v1/apps/" + app + "/secrets", "/v1/apps/" + app + "/integrations",
		base, "/v1/integrations", "/v1/events?limit=1000", "/v1/audit?limit=1000", "/metrics"} {
		if r := o.Do("GET", path, "", nil); r.Status != 200 {
			t.Fatalf("GET %s: %d", path, r.Status)
		}
	}
	if n, _ := countEvents(t, o.Env, "app.client_rejected"); n == 0 {
		t.Fatal("no refusal happened: the canary did not run as intended")
	}

	scanned := 0
	for _, x := range o.Transcript() {
		scanned++
		text := string(x.Body) + fmt.Sprint(x.Header)
		for _, c := range canaries {
			if strings.Contains(text, c) {
				t.Errorf("%s %s (%d) reveals %s: %s", x.Method, x.Path, x.Status, c, x.Body)
			}
		}
	}
	for _, c := range canaries {
		if strings.Contains(o.Logs.String(), c) {
			t.Errorf("logs reveal %s", c)
		}
	}
	assertAbsent(t, dir, canaries...)
	if n, _ := o.AS.SecretReceived(first); scanned < 20 || n == 0 {
		t.Fatalf("the flows did not run as intended (%d exchanges, first secret sent %d times)", scanned, n)
	}
}

// TestAppSecretOnlySentToItsTokenEndpoint: an app's client secret goes to
// the app's token endpoint and nowhere else — not to the integrations'
// API (the proxy), and not to a new authorization server when the app is
// moved: moving it with the stored (masked) secret is refused, moving it
// with a new secret revokes the old ones, and the integrations' tokens
// from the old server are retired rather than sent to the new one.
func TestAppSecretOnlySentToItsTokenEndpoint(t *testing.T) {
	o := startOAuth(t, servertest.Options{NoBackground: true}, oauthtest.Options{})
	elsewhere := oauthtest.New(t, oauthtest.Options{}) // another authorization server, also the API's host
	const secret, secondSecret = "first-server-secret-1234567890", "second-server-secret-0987654321"
	o.AS.AddClientSecret(oauthtest.DefaultClientID, secret)
	app := o.createApp("first server", secret)
	id := o.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "api elsewhere", "app": app,
		"config": map[string]any{"base_url": elsewhere.URL, "verify": map[string]any{"method": "GET", "path": "/userinfo"}}})["id"].(string)
	base := "/v1/integrations/" + id
	o.connect(id)
	o.Do("GET", base+"/proxy/userinfo", "", nil)
	o.Do("POST", base+"/verify", "", nil)
	cs, _ := o.Server.Store.ListCredentials(context.Background(), id)
	ts, _ := o.Server.Creds.Tokens().Tokens(cs[0])
	o.Server.Creds.Tokens().RefreshAfter401(context.Background(), cs[0], ts.AccessToken, time.Time{})

	// The integration may not move its token endpoint away from the app's.
	r := o.Do("PATCH", base, "", map[string]any{"config": map[string]any{"base_url": elsewhere.URL, "oauth2": map[string]any{"token_url": elsewhere.TokenURL()}}})
	if r.Status != 400 || !strings.Contains(string(r.Body), `"field":"config.oauth2.token_url"`) {
		t.Fatalf("integration PATCH of the app's token_url: %d %s", r.Status, r.Body)
	}
	moved := map[string]any{"client_id": oauthtest.DefaultClientID, "issuer": elsewhere.Issuer, "scopes": []string{"offline", "openid"}}
	for _, sec := range []any{"********", nil} {
		body := map[string]any{"config": moved}
		if sec != nil {
			c := map[string]any{}
			for k, v := range moved {
				c[k] = v
			}
			c["client_secret"] = sec
			body["config"] = c
		}
		r := o.Do("PATCH", "/v1/apps/"+app, "", body)
		if r.Status != 422 || !strings.Contains(string(r.Body), `"field":"config.client_secret"`) {
			t.Fatalf("moving the app with the stored secret (%v): %d %s", sec, r.Status, r.Body)
		}
	}
	if got := o.Must(200, "GET", "/v1/apps/"+app, "", nil)["config"].(map[string]any)["issuer"]; got != o.AS.Issuer {
		t.Fatalf("a refused move changed the app: issuer %v", got)
	}
	withNew := map[string]any{"client_secret": secondSecret}
	for k, v := range moved {
		withNew[k] = v
	}
	o.Must(200, "PATCH", "/v1/apps/"+app, "", map[string]any{"config": withNew})
	xs := secretsOf(t, o.Env, app)
	if len(xs) != 2 || xs[0]["state"] != "revoked" || xs[1]["state"] != "active" {
		t.Fatalf("secrets after the move = %v", xs)
	}
	in := o.Must(200, "GET", base, "", nil)
	if in["status"] != "reconnect_required" {
		t.Fatalf("integration after its app moved = %v (%v)", in["status"], in["status_reason"])
	}
	if r := o.Do("GET", base+"/access", "", nil); r.Status == 200 {
		t.Fatalf("a token from the old server is still handed out: %s", r.Body)
	}
	// Reconnect at the new server.
	elsewhere.AddClientSecret(oauthtest.DefaultClientID, secondSecret)
	elsewhere.AddRedirectURI(oauthtest.DefaultClientID, o.URL+"/oauth/callback")
	u := o.Must(200, "POST", base+"/authorize", "", map[string]any{})["authorize_url"].(string)
	back, err := elsewhere.Approve(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := noRedirect.Get(back.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	o.Must(200, "GET", base+"/access", "", nil)

	if n, _ := elsewhere.SecretReceived(secret); n != 0 {
		t.Fatalf("the first server's secret reached the other server %d times", n)
	}
	if n, _ := o.AS.SecretReceived(secondSecret); n != 0 {
		t.Fatalf("the second server's secret reached the first server %d times", n)
	}
	if n, _ := o.AS.SecretReceived(secret); n < 2 {
		t.Fatalf("control: the first server got its secret %d times", n)
	}
	if n, _ := elsewhere.SecretReceived(secondSecret); n == 0 {
		t.Fatal("control: the second server never got its secret")
	}
	if elsewhere.UserinfoRequests() == 0 {
		t.Fatal("control: the API host was never called")
	}
}
