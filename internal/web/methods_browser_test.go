package web_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/stormcreds/storm/internal/methods/oauth1/oauth1test"
	"github.com/stormcreds/storm/internal/methods/serviceaccount/githubapptest"
	"github.com/stormcreds/storm/internal/server/servertest"
)

// TestBrowserOAuth1Authorize: an OAuth 1.0a integration's Authorize
// button takes the browser to the provider (temporary credentials
// obtained with the shared callback URL), the provider sends it back to
// /oauth/callback with oauth_token and oauth_verifier, and the page shows
// Connected; the proxy's signed requests are accepted by the provider.
func TestBrowserOAuth1Authorize(t *testing.T) {
	const consumerSecret = "browser-consumer-secret-0042"
	peer := oauth1test.New(t, oauth1test.Options{})
	peer.AddConsumer(oauth1test.Consumer{Key: "browser-consumer", Secret: consumerSecret})
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	id := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "Photos (OAuth 1.0a)", "provider": "custom", "auth_method": "oauth1",
		"config": map[string]any{"base_url": peer.URL + "/api", "oauth1": map[string]any{
			"request_token_url": peer.RequestTokenURL(), "authorize_url": peer.AuthorizeURL(), "access_token_url": peer.AccessTokenURL(),
			"signature_method": "HMAC-SHA1", "consumer_key": "browser-consumer", "consumer_secret": consumerSecret}}})["id"].(string)
	page := "/integrations/" + id

	c := startChrome(t, env)
	c.signIn(env.AdminToken)
	c.open(page)
	if c.badge() != "Pending" || !strings.Contains(c.text("#credentials"), "Callback URL: "+env.URL+"/oauth/callback") {
		t.Fatalf("before: badge %q, credentials %q", c.badge(), c.text("#credentials"))
	}
	c.shot("oauth1-pending")
	// The test provider has no consent page: the browser's approval is a
	// header on its requests.
	c.do("approve at the provider", func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{})
		if err == nil {
			_, err = cdp.Call(ctx, tg, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{oauth1test.DecisionHeader: "approve"}})
		}
		return chromedp.Void{}, err
	})
	c.submit("#authorize-button", 200)
	if got := c.path(); got != page {
		t.Fatalf("after authorizing: back at %s, want %s", got, page)
	}
	if c.badge() != "Connected" || peer.AccessTokenCalls() != 1 {
		t.Fatalf("after Authorize: badge %q, %d access-token calls", c.badge(), peer.AccessTokenCalls())
	}
	c.shot("oauth1-connected")
	if got := credentialStates(t, env, id); !slices.Equal(got, []string{"active"}) {
		t.Fatalf("versions: %v", got)
	}
	if r := env.Do("GET", "/v1/integrations/"+id+"/proxy/items?a=1&a=2", "", nil); r.Status != 200 || peer.Rejected() != 0 {
		t.Fatalf("proxied: %d %s (%s)", r.Status, r.Body, peer.LastRejection())
	}
	noSecrets(t, c.html(), consumerSecret)
}

// TestBrowserGitHubAppUpload: a GitHub App integration's setup dialog
// takes the app's .pem: a key of another app is refused at the file
// field with GitHub's reason (the dialog stays open, nothing stored);
// the app's own key connects it.
func TestBrowserGitHubAppUpload(t *testing.T) {
	appKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	gh := githubapptest.New(t, githubapptest.Options{})
	gh.AddApp("31337", &appKey.PublicKey)
	gh.AddApp("4", &otherKey.PublicKey)
	gh.AddInstallation("31337", "271828")
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	id := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "Octo App", "provider": "custom", "auth_method": "service_account",
		"config": map[string]any{"base_url": gh.BaseURL(), "verify": map[string]any{"method": "GET", "path": "/installation/repositories"},
			"service_account": map[string]any{"kind": "github_app", "app_id": "31337", "installation_id": "271828"}}})["id"].(string)
	dir := t.TempDir()
	pemOf := func(k *rsa.PrivateKey) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	}
	otherFile, goodFile := filepath.Join(dir, "other-app.private-key.pem"), filepath.Join(dir, "octo-app.private-key.pem")
	os.WriteFile(otherFile, pemOf(otherKey), 0o600)
	os.WriteFile(goodFile, pemOf(appKey), 0o600)

	c := startChrome(t, env)
	c.signIn(env.AdminToken)
	c.open("/integrations/" + id)
	if !strings.Contains(c.text(".page-head .sub"), "GitHub App") {
		t.Fatalf("kind label: %q", c.text(".page-head .sub"))
	}
	c.do("open the setup dialog", chromedp.Click(chromedp.CSS("#setup-open")))
	c.waitFor("the modal dialog", `document.getElementById("setup").matches(":modal")`)
	if accept := eval[string](c, `document.getElementById("f-file").accept`); !strings.Contains(accept, ".pem") {
		t.Fatalf("file input accepts %q", accept)
	}
	c.do("choose another app's key", chromedp.SetUploadFiles(chromedp.CSS("#f-file"), []string{otherFile}))
	c.submit("#upload-form button.primary", 422)
	if !eval[bool](c, `document.getElementById("setup").open`) {
		t.Fatal("the dialog closed on a refused key")
	}
	if msg := c.text("#f-file-error"); !strings.Contains(msg, "does not belong to app 31337") {
		t.Fatalf("file field error: %q", msg)
	}
	c.shot("github-app-refused")
	if got := credentialStates(t, env, id); len(got) != 0 {
		t.Fatalf("another app's key was stored: %v", got)
	}
	c.do("choose the app's key", chromedp.SetUploadFiles(chromedp.CSS("#f-file"), []string{goodFile}))
	c.submit("#upload-form button.primary", 200)
	if c.badge() != "Connected" || !strings.Contains(c.text("#flash"), "Saved version 1") || gh.Mints() != 1 {
		t.Fatalf("after upload: %q, %q, %d mints", c.badge(), c.text("#flash"), gh.Mints())
	}
	c.shot("github-app-connected")
	lines := strings.Split(strings.TrimSpace(string(pemOf(appKey))), "\n")
	noSecrets(t, c.html(), lines[2])
}
