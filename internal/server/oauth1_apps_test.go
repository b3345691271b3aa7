package server_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/methods/oauth1/oauth1test"
	"github.com/stormcreds/storm/internal/server/servertest"
)

// TestOAuth1IntegrationUsesApp (issue 15): an OAuth 1.0a integration that
// references an app (consumer key and secret held by the app, endpoints
// too for provider custom) runs the three-legged flow and signs proxied
// requests with the app's consumer credentials, which the provider
// accepts; its own config may not hold a consumer secret (400 naming
// it). A new consumer secret added to the app signs the very next
// request (no fallback exists in OAuth 1.0a, so nothing keeps the old
// one); the app's consumer secrets appear in no answer, /access included
// (it gives the token credentials; the proxy signs).
func TestOAuth1IntegrationUsesApp(t *testing.T) { backends(t, testOAuth1IntegrationUsesApp) }

func testOAuth1IntegrationUsesApp(t *testing.T, opts servertest.Options) {
	env := servertest.Start(t, opts)
	peer := oauth1test.New(t, oauth1test.Options{})
	peer.AddConsumer(oauth1test.Consumer{Key: o1ConsumerKey, Secret: o1ConsumerSecret})
	const rotated = "storm-consumer-secret-rotated-9876"

	app := env.Must(201, "POST", "/v1/apps", "", map[string]any{"name": "OAuth1 app", "provider": "custom", "auth_method": "oauth1",
		"config": map[string]any{"consumer_key": o1ConsumerKey, "consumer_secret": o1ConsumerSecret, "signature_method": "HMAC-SHA1",
			"realm": "Storm Test", "request_token_url": peer.RequestTokenURL(), "authorize_url": peer.AuthorizeURL(),
			"access_token_url": peer.AccessTokenURL()}})
	appID := app["id"].(string)
	if app["config"].(map[string]any)["consumer_secret"] != "********" {
		t.Fatalf("app config %v", app["config"])
	}
	integConfig := func(extra map[string]any) map[string]any {
		cfg := map[string]any{"base_url": peer.URL + "/api", "verify": map[string]any{"method": "GET", "path": "/verify"}}
		for k, v := range extra {
			cfg[k] = v
		}
		return cfg
	}
	r := env.Do("POST", "/v1/integrations", "", map[string]any{"name": "own secret", "app": appID,
		"config": integConfig(map[string]any{"oauth1": map[string]any{"consumer_secret": "mine-0123456789"}})})
	if r.Status != 400 || !slices.Contains(problemFields(t, r), "config.oauth1.consumer_secret") {
		t.Fatalf("an app's integration with its own consumer secret: %d %s", r.Status, r.Body)
	}

	in := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "OAuth1 via app", "app": appID, "config": integConfig(nil)})
	id := in["id"].(string)
	base := "/v1/integrations/" + id
	if o1, _ := in["config"].(map[string]any)["oauth1"].(map[string]any); in["auth_method"] != "oauth1" || in["app"] != appID ||
		o1["consumer_key"] != o1ConsumerKey || o1["consumer_secret"] != nil {
		t.Fatalf("integration via an oauth1 app: %v", in)
	}
	au := env.Must(200, "POST", base+"/authorize", "", map[string]any{})["authorize_url"].(string)
	redirect, err := peer.Approve(context.Background(), au)
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := getNoRedirect(t, redirect.String()); resp.StatusCode != 200 || !strings.Contains(body, "is connected") {
		t.Fatalf("callback: %d %s", resp.StatusCode, body)
	}
	if got := env.Must(200, "GET", base, "", nil)["status"]; got != "connected" {
		t.Fatalf("status after the callback: %v", got)
	}

	worker := env.NewToken("worker", "default")
	e := proxyEcho(t, env, worker, "GET", base+"/proxy/items?a=1", "", "")
	if e.ConsumerKey != o1ConsumerKey || e.Realm != "Storm Test" || !slices.Equal(e.Params, [][2]string{{"a", "1"}}) {
		t.Fatalf("echo %+v", e)
	}
	a := env.Must(200, "GET", base+"/access", worker, nil)
	if _, has := a["consumer_secret"]; has || a["type"] != "oauth1" || a["consumer_key"] != o1ConsumerKey || !peer.ValidToken(a["token"].(string)) {
		t.Fatalf("access %v", a)
	}

	// Rotation: the provider now wants the new consumer secret; the app
	// gets it, and the next signed request uses it.
	env.Must(201, "POST", "/v1/apps/"+appID+"/secrets", "", map[string]any{"consumer_secret": rotated})
	peer.AddConsumer(oauth1test.Consumer{Key: o1ConsumerKey, Secret: rotated})
	proxyEcho(t, env, worker, "POST", base+"/proxy/items", "application/x-www-form-urlencoded", "x=1")
	if v := env.Must(200, "POST", base+"/verify", "", nil); v["ok"] != true {
		t.Fatalf("verify after rotation %v", v)
	}
	if peer.Rejected() != 0 {
		t.Fatalf("the provider rejected %d signed requests: %s", peer.Rejected(), peer.LastRejection())
	}
	env.Must(200, "GET", base+"/access", worker, nil)
	for _, x := range env.Transcript() {
		if strings.Contains(string(x.Body), o1ConsumerSecret) || strings.Contains(string(x.Body), rotated) {
			t.Fatalf("an app's consumer secret is in the answer to %s", x.Path)
		}
	}
	noSecretsOutsideAccess(t, env, o1ConsumerSecret, rotated)
}
