package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/stormcreds/storm/internal/server/servertest"
	"github.com/stormcreds/storm/internal/store/postgres"
)

// copyOf returns a new browser holding the same cookies as b: what a
// thief who copied them would have.
func copyOf(t *testing.T, b *browser) *browser {
	t.Helper()
	u, _ := url.Parse(b.env.URL)
	stolen := newBrowser(t, b.env)
	stolen.http.Jar.SetCookies(u, b.http.Jar.Cookies(u))
	return stolen
}

// signedOut reports whether p is the redirect to the sign-in page that
// a request without a live session gets.
func signedOut(p page) bool {
	return p.Status == http.StatusSeeOther && strings.HasPrefix(p.Header.Get("Location"), "/signin")
}

// TestSignOutEndsSessionOnServer: after signing out, a copy of the
// session cookie taken while signed in is worth nothing — on the
// instance that signed out and on every other instance of the cluster.
func TestSignOutEndsSessionOnServer(t *testing.T) {
	t.Run("one instance", func(t *testing.T) {
		env := servertest.Start(t, servertest.Options{NoBackground: true})
		b := newBrowser(t, env)
		b.signIn(env.AdminToken)
		stolen := copyOf(t, b)
		if p := stolen.get("/integrations"); p.Status != http.StatusOK {
			t.Fatalf("copied cookie before sign-out: %d", p.Status)
		}
		if p := b.post("/signout", url.Values{}, "/integrations"); p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/signin" {
			t.Fatalf("sign out: %d %s", p.Status, p.Header.Get("Location"))
		}
		for _, path := range []string{"/integrations", "/integrations/new"} {
			if p := copyOf(t, stolen).get(path); !signedOut(p) || !strings.Contains(p.Header.Get("Location"), "ended=1") {
				t.Errorf("copied cookie after sign-out, GET %s: %d %s", path, p.Status, p.Header.Get("Location"))
			}
		}
		// A form posted with the copy does nothing either.
		before := len(env.Must(200, "GET", "/v1/integrations", "", nil)["integrations"].([]any))
		form := url.Values{"csrf": {"x"}, "provider": {"custom"}, "auth_method": {"api_key"}, "name": {"x"}}
		if p := copyOf(t, stolen).post("/integrations", form, ""); !signedOut(p) {
			t.Errorf("form posted with the copy: %d %s", p.Status, p.Header.Get("Location"))
		}
		if after := len(env.Must(200, "GET", "/v1/integrations", "", nil)["integrations"].([]any)); after != before {
			t.Errorf("integrations %d → %d", before, after)
		}
		// Signing in again works and is a new session.
		b.signIn(env.AdminToken)
		if p := b.get("/integrations"); p.Status != http.StatusOK {
			t.Fatalf("signed in again: %d", p.Status)
		}
		if p := stolen.get("/integrations"); !signedOut(p) {
			t.Errorf("old copy after a new sign-in: %d", p.Status)
		}
	})

	t.Run("across instances", func(t *testing.T) {
		opts := servertest.Options{NoBackground: true, Database: postgres.TestURL(t)}
		a := servertest.Start(t, opts)
		opts.DataDir = a.DataDir // the same key file
		other := servertest.Start(t, opts)
		b := newBrowser(t, a)
		b.signIn(a.AdminToken)
		// The copy is replayed against the other instance.
		stolen := newBrowser(t, other)
		ua, _ := url.Parse(a.URL)
		uo, _ := url.Parse(other.URL)
		stolen.http.Jar.SetCookies(uo, b.http.Jar.Cookies(ua))
		if p := stolen.get("/integrations"); p.Status != http.StatusOK {
			t.Fatalf("copied cookie on the other instance before sign-out: %d %s", p.Status, p.Header.Get("Location"))
		}
		if p := b.post("/signout", url.Values{}, "/integrations"); p.Status != http.StatusSeeOther {
			t.Fatalf("sign out: %d", p.Status)
		}
		if p := stolen.get("/integrations"); !signedOut(p) {
			t.Errorf("copied cookie on the other instance after sign-out: %d %s", p.Status, p.Header.Get("Location"))
		}
	})
}

// TestSignInAcceptsPastedBearerHeader: a token pasted with its
// "Bearer " scheme (any case) signs in like the bare token.
func TestSignInAcceptsPastedBearerHeader(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	for _, prefix := range []string{"Bearer ", "bearer  ", "BEARER "} {
		newBrowser(t, env).signIn(prefix + env.AdminToken)
	}
}

// TestBrowserSignOutEndsSession: in Chromium, the session cookie copied
// while signed in (HttpOnly, so read through the DevTools protocol, as
// malware or a shared profile would) opens nothing after the person
// clicks Sign out.
func TestBrowserSignOutEndsSession(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	c := startChrome(t, env)
	c.signIn(env.AdminToken)
	ctx, cancel := c.ctx()
	defer cancel()
	cookies, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) ([]*network.Cookie, error) {
		res, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{env.URL}})
		return res.Cookies, err
	})
	if err != nil {
		t.Fatal(err)
	}
	stolen := newBrowser(t, env)
	u, _ := url.Parse(env.URL)
	for _, ck := range cookies {
		stolen.http.Jar.SetCookies(u, []*http.Cookie{{Name: ck.Name, Value: ck.Value, Path: ck.Path}})
	}
	if p := copyOf(t, stolen).get("/integrations"); p.Status != http.StatusOK {
		t.Fatalf("copied cookies before sign-out: %d %s", p.Status, p.Header.Get("Location"))
	}
	c.submit("form[action='/signout'] button[type=submit]", 200)
	if p := c.path(); p != "/signin" {
		t.Fatalf("after sign-out: %s", p)
	}
	if p := copyOf(t, stolen).get("/integrations"); !signedOut(p) {
		t.Fatalf("copied cookies after sign-out: %d", p.Status)
	}
}
