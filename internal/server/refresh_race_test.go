package server_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/server/servertest"
)

// TestRefreshAfter401DuringOwnRefresh: this provider revokes the old
// access token when it answers a refresh. A request made with the old
// token meanwhile gets a 401, and the forced refresh that follows
// (RefreshAfter401) comes while this instance's own refresh is between
// the provider's answer and its commit. It must wait for that refresh
// and use its token, not present the refresh token a second time, which
// makes the provider revoke the whole grant.
func TestRefreshAfter401DuringOwnRefresh(t *testing.T) {
	const ttl = 2 * time.Second
	reached, release := make(chan struct{}), make(chan struct{})
	var once atomic.Bool
	opts := servertest.Options{NoBackground: true}
	opts.Tokens.Hook = func(step string) error {
		if step == "refreshed" && once.CompareAndSwap(false, true) {
			close(reached)
			<-release // the provider has answered; the commit waits
		}
		return nil
	}
	o := startOAuth(t, opts, oauthtest.Options{AccessTokenTTL: ttl})
	id := o.integration("401 during a refresh")
	base := "/v1/integrations/" + id
	o.connect(id)
	ctx := context.Background()
	creds, err := o.Server.Store.ListCredentials(ctx, id)
	if err != nil || len(creds) != 1 {
		t.Fatal(creds, err)
	}
	old, err := o.Server.Creds.Tokens().Tokens(creds[0])
	if err != nil {
		t.Fatal(err)
	}
	expireSoon(ttl)
	access := make(chan int, 1)
	go func() { // a refresh of its own: /access of a token no longer fresh
		req, _ := http.NewRequest("GET", o.URL+base+"/access", nil)
		req.Header.Set("Authorization", "Bearer "+o.AdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			access <- 0
			return
		}
		resp.Body.Close()
		access <- resp.StatusCode
	}()
	<-reached
	if o.AS.Valid(old.AccessToken.Reveal()) {
		t.Fatal("the provider still accepts the old access token; the test proves nothing")
	}
	before := o.AS.RefreshRequests()
	forced := make(chan error, 1)
	go func() {
		_, err := o.Server.Creds.Tokens().RefreshAfter401(ctx, creds[0], old.AccessToken, time.Time{})
		forced <- err
	}()
	time.Sleep(300 * time.Millisecond)
	close(release)
	if code := <-access; code != 200 {
		t.Errorf("/access: %d", code)
	}
	if err := <-forced; err != nil {
		t.Errorf("RefreshAfter401: %v", err)
	}
	if n := o.AS.RefreshRequests() - before; n != 0 {
		t.Errorf("%d more refresh requests: the refresh token was presented again", n)
	}
	if st := o.Must(200, "GET", base, "", nil)["status"]; st != "connected" {
		t.Errorf("status = %v", st)
	}
	a := o.Must(200, "GET", base+"/access", "", nil)
	if !o.AS.Valid(a["access_token"].(string)) {
		t.Errorf("the stored token is not valid at the provider: the grant is dead")
	}
}
