package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/server/servertest"
)

// TestVerifyAfterTokenRotatedElsewhere: verifying with an access token
// that another instance has just replaced (this provider revokes the old
// one on refresh) retries with the newest token, as the proxy does,
// instead of reporting the integration reconnect_required. The cluster
// test caught scheduled verification doing that.
func TestVerifyAfterTokenRotatedElsewhere(t *testing.T) {
	o := startOAuth(t, servertest.Options{NoBackground: true, CredentialCacheTTL: time.Hour}, oauthtest.Options{})
	id := o.integration("Verify after rotation")
	base := "/v1/integrations/" + id
	o.connect(id)
	o.Must(200, "GET", base+"/proxy/userinfo", "", nil) // caches the current token
	creds, err := o.Server.Store.ListCredentials(context.Background(), id)
	if err != nil || len(creds) != 1 {
		t.Fatal(creds, err)
	}
	old, err := o.Server.Creds.Tokens().Tokens(creds[0])
	if err != nil {
		t.Fatal(err)
	}
	// A refresh elsewhere: the provider drops the old access token.
	if _, err := o.Server.Creds.Tokens().RefreshAfter401(context.Background(), creds[0], old.AccessToken, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if o.AS.Valid(old.AccessToken.Reveal()) {
		t.Fatal("the provider still accepts the old token; the test proves nothing")
	}
	before := o.AS.RefreshRequests()
	if v := o.Must(200, "POST", base+"/verify", "", nil); v["ok"] != true {
		t.Fatalf("verify after a refresh elsewhere = %v", v)
	}
	if n := o.AS.RefreshRequests() - before; n != 0 {
		t.Fatalf("%d extra refreshes: the newer stored token should have been used", n)
	}
	if st := o.Must(200, "GET", base, "", nil)["status"]; st != "connected" {
		t.Fatalf("status = %v", st)
	}
	if types := eventTypes(t, o.Env, id); strings.Contains(types, "reconnect_required") || strings.Contains(types, "verification.failed") {
		t.Fatalf("events = %s", types)
	}
}
