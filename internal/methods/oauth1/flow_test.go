package oauth1

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/methods/oauth1/oauth1test"
)

// TestThreeLeggedFlow: request token → authorize → callback → access
// token → a signed request, for every signature method, against the
// provider; temporary credentials work once.
func TestThreeLeggedFlow(t *testing.T) {
	ctx := context.Background()
	for _, method := range Methods {
		t.Run(method, func(t *testing.T) {
			p := newProvider(t, oauth1test.Options{})
			cfg := p.config(method)
			// A callback with its own query: the provider appends to it.
			temp, err := RequestToken(ctx, http.DefaultClient, cfg, p.RequestTokenURL(), "https://storm.example/oauth/callback?x=1")
			if err != nil {
				t.Fatal(err)
			}
			authURL, err := AuthorizeURL(p.AuthorizeURL()+"?lang=en", temp)
			if err != nil || !strings.Contains(authURL, "lang=en&oauth_token=") {
				t.Fatalf("AuthorizeURL = %q, %v", authURL, err)
			}
			back, err := p.Approve(ctx, authURL)
			if err != nil {
				t.Fatal(err)
			}
			if back.Query().Get("x") != "1" {
				t.Errorf("callback lost its query: %s", back)
			}
			verifier, err := CheckCallback(temp, back.Query())
			if err != nil {
				t.Fatal(err)
			}
			tok, err := AccessToken(ctx, http.DefaultClient, cfg, p.AccessTokenURL(), temp, verifier)
			if err != nil {
				t.Fatal(err)
			}
			if tok.Token == "" || tok.Secret == "" || tok.Token == temp.Token || !p.ValidToken(tok.Token) {
				t.Fatalf("token credentials %q not issued by the provider", tok.Token)
			}
			s, _ := NewSigner(cfg, tok)
			if _, status, body := do(t, s, "GET", p.ResourceURL("/me?a=1&a=2"), "", ""); status != 200 {
				t.Fatalf("protected resource: %d %s", status, body)
			}

			// The temporary credentials are spent.
			_, err = AccessToken(ctx, http.DefaultClient, cfg, p.AccessTokenURL(), temp, verifier)
			var oe *Error
			if !errors.As(err, &oe) || oe.Status != 401 || oe.Temporary || oe.Problem != "token_rejected" {
				t.Fatalf("second access-token call: %#v", err)
			}
		})
	}
}

func TestAccessTokenNeedsTheRightVerifier(t *testing.T) {
	ctx := context.Background()
	p := newProvider(t, oauth1test.Options{})
	cfg := p.config(HMACSHA1)
	temp, err := RequestToken(ctx, nil, cfg, p.RequestTokenURL(), "oob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Approve(ctx, p.AuthorizeURL()+"?oauth_token="+url.QueryEscape(temp.Token)); err == nil {
		t.Fatal("an oob callback must not redirect")
	}
	_, err = AccessToken(ctx, nil, cfg, p.AccessTokenURL(), temp, "guessed")
	var oe *Error
	if !errors.As(err, &oe) || oe.Status != 401 || oe.Problem != "verifier_invalid" {
		t.Fatalf("wrong verifier: %v", err)
	}
}

func TestCheckCallback(t *testing.T) {
	temp := Credentials{Token: "temp-token", Secret: "s"}
	cases := []struct {
		query string
		ok    bool
	}{
		{"oauth_token=temp-token&oauth_verifier=v1", true},
		{"oauth_token=other&oauth_verifier=v1", false},
		{"oauth_verifier=v1", false},
		{"oauth_token=temp-token", false},
		{"oauth_token=temp-token&oauth_verifier=%0A", false},
		{"denied=temp-token", false},
	}
	for _, c := range cases {
		q, _ := url.ParseQuery(c.query)
		v, err := CheckCallback(temp, q)
		if (err == nil) != c.ok || (c.ok && v != "v1") {
			t.Errorf("CheckCallback(%s) = %q, %v", c.query, v, err)
		}
	}
	q, _ := url.ParseQuery("denied=temp-token")
	if _, err := CheckCallback(temp, q); !errors.Is(err, ErrDenied) {
		t.Errorf("denied: %v", err)
	}
	if _, err := CheckCallback(Credentials{}, url.Values{"oauth_token": {""}, "oauth_verifier": {"v"}}); err == nil {
		t.Error("empty temporary credentials matched an empty token")
	}
}

// TestDeniedAuthorization: the provider reports a refusal.
func TestDeniedAuthorization(t *testing.T) {
	ctx := context.Background()
	p := newProvider(t, oauth1test.Options{})
	cfg := p.config(HMACSHA256)
	temp, _ := RequestToken(ctx, nil, cfg, p.RequestTokenURL(), "https://storm.example/cb")
	u, _ := AuthorizeURL(p.AuthorizeURL(), temp)
	back, err := p.Deny(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CheckCallback(temp, back.Query()); !errors.Is(err, ErrDenied) {
		t.Fatalf("CheckCallback after a denial: %v", err)
	}
}

// TestFlowErrorsAreTypedBoundedAndScrubbed: a refusal is final, an
// outage temporary; provider text is bounded and never carries a secret.
func TestFlowErrorsAreTypedBoundedAndScrubbed(t *testing.T) {
	ctx := context.Background()
	const cs = "consumer-secret-canary"
	cfg := Config{ConsumerKey: "k", ConsumerSecret: cs, SignatureMethod: PLAINTEXT}
	cases := []struct {
		name      string
		handler   http.HandlerFunc
		status    int
		temporary bool
		problem   string
		contains  string
	}{
		{"refused, form problem", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
			w.WriteHeader(401)
			w.Write([]byte("oauth_problem=signature_invalid&oauth_problem_advice=got+" + cs))
		}, 401, false, "signature_invalid", "got [redacted]"},
		{"refused, JSON echoing the encoded secret", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(403)
			w.Write([]byte(`{"message":"bad signature ` + Encode(cs) + `&"}`))
		}, 403, false, "", "bad signature [redacted]"},
		{"outage", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }, 503, true, "", ""},
		{"rate limited", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(429) }, 429, true, "", ""},
		{"huge plain text", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(400)
			w.Write([]byte(strings.Repeat("é", 100<<10)))
		}, 400, false, "", "é"},
		{"no callback confirmation", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("oauth_token=t&oauth_token_secret=s"))
		}, 200, false, "", "oauth_callback_confirmed"},
		{"not form-encoded", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("%%%")) }, 200, false, "", "not form-encoded"},
		{"no token secret", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("oauth_token=t&oauth_callback_confirmed=true"))
		}, 200, false, "", "oauth_token_secret"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(c.handler)
			defer srv.Close()
			_, err := RequestToken(ctx, srv.Client(), cfg, srv.URL+"/rt", "oob")
			var oe *Error
			if !errors.As(err, &oe) {
				t.Fatalf("error %v is not *Error", err)
			}
			if oe.Status != c.status || oe.Temporary != c.temporary || oe.Problem != c.problem || !strings.Contains(oe.Error(), c.contains) {
				t.Fatalf("error = %#v (%s)", oe, oe)
			}
			if strings.Contains(err.Error(), cs) || strings.Contains(err.Error(), Encode(cs)) || len(oe.Description) > 210 {
				t.Fatalf("error text leaks or is unbounded: %.300s", err)
			}
		})
	}

	// Network failure.
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	_, err := RequestToken(ctx, nil, cfg, srv.URL+"/rt", "oob")
	var oe *Error
	if !errors.As(err, &oe) || !oe.Temporary || oe.Status != 0 {
		t.Fatalf("unreachable: %#v", err)
	}
}

func TestEndpointsAreChecked(t *testing.T) {
	cfg := Config{ConsumerKey: "k", ConsumerSecret: "s", SignatureMethod: HMACSHA1}
	for _, u := range []string{"", "ftp://x/y", "https://user:pw@x/y", "https://x/y#f", "https://x/y?oauth_callback=z", "/relative"} {
		if _, err := RequestToken(context.Background(), nil, cfg, u, "oob"); err == nil || strings.Contains(err.Error(), "pw") {
			t.Errorf("request token URL %q: %v", u, err)
		}
		if _, err := AuthorizeURL(u, Credentials{Token: "t"}); err == nil {
			t.Errorf("authorize URL %q accepted", u)
		}
	}
	if _, err := RequestToken(context.Background(), nil, cfg, "https://x.test/rt", "not a url"); err == nil {
		t.Error("relative callback accepted")
	}
	if _, err := AccessToken(context.Background(), nil, cfg, "https://x.test/at", Credentials{}, "v"); err == nil {
		t.Error("access token without temporary credentials")
	}
}
