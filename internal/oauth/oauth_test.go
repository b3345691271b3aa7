package oauth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/oauth"
	"github.com/stormcreds/storm/internal/oauth/oauthtest"
)

func TestDiscoveryChecksIssuer(t *testing.T) {
	good := oauthtest.New(t, oauthtest.Options{})
	d := &oauth.Discovery{}
	md, err := d.Lookup(context.Background(), good.Issuer)
	if err != nil || md.TokenEndpoint != good.TokenURL() || !md.AuthorizationResponseIssuer {
		t.Fatalf("lookup = %+v, %v", md, err)
	}
	bad := oauthtest.New(t, oauthtest.Options{WrongIssuerInMetadata: true})
	if _, err := d.Lookup(context.Background(), bad.Issuer); err == nil || !strings.Contains(err.Error(), "names issuer") {
		t.Fatalf("a server speaking for another issuer was accepted: %v", err)
	}
	for _, iss := range []string{"ftp://x", "https://x/?q=1", "not a url"} {
		if _, err := d.Lookup(context.Background(), iss); err == nil {
			t.Errorf("issuer %q accepted", iss)
		}
	}
}

// TestRefreshErrorsAreTyped: the refresh policy decides on the error's
// type, not on strings.
func TestRefreshErrorsAreTyped(t *testing.T) {
	as := oauthtest.New(t, oauthtest.Options{})
	app := &oauth.App{Def: catalog.OAuth2{AuthStyle: "basic", Scopes: []string{"offline"}, PKCE: true},
		ClientID: oauthtest.DefaultClientID, ClientSecret: oauthtest.DefaultClientSecret, RedirectURL: "http://127.0.0.1/cb",
		Endpoints: oauth.Endpoints{AuthorizeURL: as.AuthorizeURL(), TokenURL: as.TokenURL(), RevokeURL: as.RevokeURL()}}
	as.AddRedirectURI(oauthtest.DefaultClientID, "http://127.0.0.1/cb")
	back, err := as.Approve(context.Background(), app.AuthCodeURL("state-0123456789", "verifier-0123456789-0123456789-0123456789-0123"))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := app.Exchange(context.Background(), back.Query().Get("code"), "verifier-0123456789-0123456789-0123456789-0123")
	if err != nil || ts.RefreshToken == "" || ts.Expiry.IsZero() {
		t.Fatalf("exchange: %v %v", ts, err)
	}
	if strings.Contains(ts.String(), ts.AccessToken.Reveal()) {
		t.Fatal("token set prints its token")
	}
	as.FailNext(1, 503)
	_, err = app.Refresh(context.Background(), ts)
	var oerr *oauth.Error
	if !errors.As(err, &oerr) || !oerr.Temporary || oerr.GrantRevoked() || oerr.Status != 503 {
		t.Fatalf("503: %#v", err)
	}
	as.RevokeAll()
	_, err = app.Refresh(context.Background(), ts)
	if !errors.As(err, &oerr) || oerr.Temporary || !oerr.GrantRevoked() || oerr.Code != "invalid_grant" {
		t.Fatalf("revoked grant: %#v", err)
	}
	if strings.Contains(err.Error(), ts.RefreshToken.Reveal()) {
		t.Fatal("error carries the refresh token")
	}
	if err := app.Revoke(context.Background(), ts.AccessToken, "access_token"); err != nil {
		t.Fatalf("revoking an invalid token is still a 200: %v", err)
	}
}

func TestFreshness(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		lifetime, left time.Duration
		fresh          bool
	}{
		{time.Hour, 61 * time.Second, true},
		{time.Hour, 59 * time.Second, false}, // less than 60s left
		{60 * time.Second, 31 * time.Second, true},
		{60 * time.Second, 29 * time.Second, false}, // less than half its lifetime
	}
	for _, c := range cases {
		ts := oauth.TokenSet{AccessToken: "at", ObtainedAt: now.Add(c.left - c.lifetime), Expiry: now.Add(c.left)}
		if got := ts.FreshAt(now); got != c.fresh {
			t.Errorf("lifetime %v, %v left: fresh=%v, want %v", c.lifetime, c.left, got, c.fresh)
		}
	}
	if !(oauth.TokenSet{AccessToken: "at"}).FreshAt(now) {
		t.Error("a token without expiry is always fresh")
	}
	if (oauth.TokenSet{}).FreshAt(now) || (oauth.TokenSet{}).ValidAt(now) {
		t.Error("no token at all counts as fresh")
	}
}

func TestJWTExpiryFromToken(t *testing.T) {
	as := oauthtest.New(t, oauthtest.Options{})
	as.JWTAccessTokens(true)
	as.OmitExpiresIn(true)
	as.AddRedirectURI(oauthtest.DefaultClientID, "http://127.0.0.1/cb")
	app := &oauth.App{Def: catalog.OAuth2{AuthStyle: "basic", PKCE: true}, ClientID: oauthtest.DefaultClientID,
		ClientSecret: oauthtest.DefaultClientSecret, RedirectURL: "http://127.0.0.1/cb",
		Endpoints: oauth.Endpoints{AuthorizeURL: as.AuthorizeURL(), TokenURL: as.TokenURL()}}
	v := "verifier-0123456789-0123456789-0123456789-0123"
	back, err := as.Approve(context.Background(), app.AuthCodeURL("state-0123456789", v))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := app.Exchange(context.Background(), back.Query().Get("code"), v)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(ts.Expiry); d < 50*time.Minute || d > 61*time.Minute {
		t.Fatalf("expiry from JWT exp: %v from now", d)
	}
}
