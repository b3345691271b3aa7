package server_test

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/methods/serviceaccount/githubapptest"
	"github.com/stormcreds/storm/internal/server/servertest"
)

// pkcs1PEM is key as GitHub issues an app's private key.
func pkcs1PEM(k *rsa.PrivateKey) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
}

// TestGitHubAppInstallationTokens: the github_app kind end to end on both
// stores, against a GitHub-like API that verifies the RS256 app JWT and
// mints installation tokens, at a GitHub Enterprise-style base URL
// (/api/v3). A key of another app is refused with a 422 naming the
// upload (nothing stored); a bad PEM is a 400 naming key_pem; the app's
// .pem uploaded in the setup dialog's shape mints one token, shared by
// 20 concurrent /access callers; tokens that live 3 s are renewed in the
// background before they expire (at about half their life, as short
// tokens are), under continuous proxy traffic with 0 failed requests and
// no mint per request.
func TestGitHubAppInstallationTokens(t *testing.T) { backends(t, testGitHubApp) }

func testGitHubApp(t *testing.T, opts servertest.Options) {
	const ttl = 3 * time.Second
	gh := githubapptest.New(t, githubapptest.Options{Prefix: "/api/v3", TokenTTL: ttl})
	appKey, otherKey := saRSAKeys()[0], saRSAKeys()[1]
	gh.AddApp("12345", &appKey.PublicKey)
	gh.AddApp("999", &otherKey.PublicKey)
	gh.AddInstallation("12345", "4242")

	opts.Tokens.Interval = 100 * time.Millisecond
	env := &saEnv{Env: servertest.Start(t, opts)}
	in := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "GitHub App", "provider": "custom", "auth_method": "service_account",
		"config": map[string]any{"base_url": gh.BaseURL(), "verify": map[string]any{"method": "GET", "path": "/installation/repositories"},
			"service_account": map[string]any{"kind": "github_app", "app_id": "12345", "installation_id": "4242"}}})
	id := in["id"].(string)
	base := "/v1/integrations/" + id

	if r := env.save(base+"/credentials", saUpload{JSON: map[string]any{"key_pem": "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"}}); r.Status != 400 ||
		!slices.Contains(problemFields(t, r), "key_pem") {
		t.Fatalf("bad PEM: %d %s", r.Status, r.Body)
	}
	r := env.save(base+"/credentials", saUpload{File: []byte(pkcs1PEM(otherKey)), Filename: "other-app.2026-01-01.private-key.pem"})
	if r.Status != 422 || !slices.Contains(problemFields(t, r), "file") || !strings.Contains(string(r.Body), "does not belong to app 12345") {
		t.Fatalf("key of another app: %d %s", r.Status, r.Body)
	}
	if n := len(env.Must(200, "GET", base+"/credentials", "", nil)["credentials"].([]any)); n != 0 {
		t.Fatalf("%d credentials after refused saves", n)
	}
	keyPEM := pkcs1PEM(appKey)
	if r := env.save(base+"/credentials", saUpload{File: []byte(keyPEM), Filename: "storm.2026-01-01.private-key.pem"}); r.Status != 200 {
		t.Fatalf("upload: %d %s", r.Status, r.Body)
	}
	if gh.Mints() != 1 {
		t.Fatalf("%d mints for one save", gh.Mints())
	}
	worker := env.NewToken("worker", "default")
	tokens := accessConcurrently(t, []*servertest.Env{env.Env}, id, worker, 20)
	if len(tokens) != 1 || gh.Mints() != 1 {
		t.Fatalf("20 concurrent /access got %d tokens with %d mints, want 1 shared mint", len(tokens), gh.Mints())
	}
	for tok := range tokens {
		if !strings.HasPrefix(tok, "ghs_") || !gh.Valid(tok) {
			t.Fatalf("token %q is not a live installation token", tok)
		}
	}
	if v := env.Must(200, "POST", base+"/verify", "", nil); v["ok"] != true {
		t.Fatalf("verify %v", v)
	}

	// Continuous traffic across several token lifetimes.
	const span = 7 * time.Second
	before := gh.Mints()
	tr := startTraffic(t, []*servertest.Env{env.Env}, base+"/proxy/installation/repositories", worker, 4)
	tr.during(span)
	total := tr.finish(t, "github_app tokens expiring every 3 s")
	mints := gh.Mints() - before
	t.Logf("%d proxied requests over %v of %v installation tokens: %d mints (%.1f per token lifetime, %.0f per hour of such traffic), 0 failed",
		total, span, ttl, mints, float64(mints)*float64(ttl)/float64(span), float64(mints)*float64(time.Hour)/float64(span))
	// Short tokens are renewed at half their life: about two mints per
	// lifetime, never one per request.
	if lifetimes := int64(span / ttl); mints < lifetimes || mints > 4*lifetimes+2 || total < 20*mints {
		t.Fatalf("%d mints for %d requests over %d token lifetimes: want renewals before expiry, not per request", mints, total, lifetimes)
	}
	if in := env.Must(200, "GET", base, "", nil); in["status"] != "connected" {
		t.Fatalf("status %v", in["status"])
	}
	// The secrets canary: the key appears in no answer, event or log.
	lines := strings.Split(strings.TrimSpace(keyPEM), "\n")
	for _, x := range env.exchanges() {
		if strings.Contains(string(x.Body), lines[2]) {
			t.Fatalf("the private key leaked into %s %s", x.Method, x.Path)
		}
	}
	noSecretsOutsideAccess(t, env.Env, lines[2])
}
