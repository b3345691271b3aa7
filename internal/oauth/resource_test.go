package oauth_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/oauth"
	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/secret"
)

const redirect = "http://127.0.0.1:8455/oauth/callback"

// countingClient counts the requests of the client under test, so a
// test can show that every request went through the caller's client.
type countingClient struct {
	n    int
	urls []string
}

func (c *countingClient) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n++
	c.urls = append(c.urls, r.URL.String())
	return http.DefaultTransport.RoundTrip(r)
}

func callResource(t *testing.T, pr *oauthtest.ProtectedResource, token secret.String) int {
	t.Helper()
	req, _ := http.NewRequest("POST", pr.URL, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	oauth.PlacementOf(nil).Apply(req, token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestProtectedResourceFlow is the whole path for a remote MCP server
// known only by its URL: RFC 9728 metadata (found each way), RFC 8414 or
// OIDC metadata, RFC 7591 registration (confidential and public
// clients), authorization with PKCE S256, code exchange and refresh,
// each carrying the RFC 8707 resource; the tokens work at the resource.
func TestProtectedResourceFlow(t *testing.T) {
	cases := []struct {
		name       string
		as         oauthtest.DCROptions
		rs         oauthtest.ResourceOptions
		method     string // registered token_endpoint_auth_method
		foundAt    func(pr *oauthtest.ProtectedResource) string
		wantScopes []string
	}{
		{"metadata from the 401, confidential client", oauthtest.DCROptions{}, oauthtest.ResourceOptions{},
			oauth.AuthMethodClientSecretBasic, func(pr *oauthtest.ProtectedResource) string { return pr.MetadataURL },
			[]string{"mcp:read", "mcp:write", "offline_access"}},
		{"only in the 401's resource_metadata", oauthtest.DCROptions{}, oauthtest.ResourceOptions{MetadataOnlyInChallenge: true},
			oauth.AuthMethodClientSecretBasic, func(pr *oauthtest.ProtectedResource) string { return pr.Origin + "/meta/resource.json" },
			[]string{"mcp:read", "mcp:write", "offline_access"}},
		{"path-inserted well-known, public client", oauthtest.DCROptions{AuthMethods: []string{"none"}}, oauthtest.ResourceOptions{NoChallengeMetadata: true},
			oauth.AuthMethodNone, func(pr *oauthtest.ProtectedResource) string {
				return pr.Origin + "/.well-known/oauth-protected-resource/mcp"
			}, []string{"mcp:read", "mcp:write", "offline_access"}},
		{"root well-known", oauthtest.DCROptions{}, oauthtest.ResourceOptions{RootMetadata: true, Path: "/v1/mcp"},
			oauth.AuthMethodClientSecretBasic, func(pr *oauthtest.ProtectedResource) string {
				return pr.Origin + "/.well-known/oauth-protected-resource"
			},
			[]string{"mcp:read", "mcp:write", "offline_access"}},
		{"OIDC discovery fallback, no offline_access", oauthtest.DCROptions{OIDCOnly: true, ScopesSupported: []string{"mcp:read", "mcp:write"}},
			oauthtest.ResourceOptions{}, oauth.AuthMethodClientSecretBasic, func(pr *oauthtest.ProtectedResource) string { return pr.MetadataURL },
			[]string{"mcp:read", "mcp:write"}},
		{"client_secret_post only", oauthtest.DCROptions{AuthMethods: []string{"client_secret_post"}}, oauthtest.ResourceOptions{},
			oauth.AuthMethodClientSecretPost, func(pr *oauthtest.ProtectedResource) string { return pr.MetadataURL },
			[]string{"mcp:read", "mcp:write", "offline_access"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			as := oauthtest.NewDCR(t, c.as)
			pr := oauthtest.NewProtectedResource(t, as, c.rs)
			counter := &countingClient{}
			hc := &http.Client{Transport: counter}

			d := &oauth.Discovery{Client: hc}
			ra, err := d.Resource(ctx, pr.URL)
			if err != nil {
				t.Fatal(err)
			}
			if ra.Resource != pr.URL || ra.MetadataURL != c.foundAt(pr) || ra.Issuer != as.Issuer || ra.Server.RegistrationEndpoint != as.RegisterURL() {
				t.Fatalf("discovered %+v", ra)
			}
			if !slices.Equal(ra.Scopes, c.wantScopes) {
				t.Errorf("scopes = %v, want %v", ra.Scopes, c.wantScopes)
			}

			md := ra.ClientMetadata([]string{redirect}, "Storm credentials")
			if md.TokenEndpointAuthMethod != c.method {
				t.Fatalf("asks for %s, want %s", md.TokenEndpointAuthMethod, c.method)
			}
			reg, err := oauth.Register(ctx, hc, ra.Server.RegistrationEndpoint, md, "")
			if err != nil {
				t.Fatal(err)
			}
			rc, ok := as.Client(reg.ClientID)
			if !ok || rc.AuthMethod != c.method || (c.method == oauth.AuthMethodNone) != (reg.ClientSecret == "") || rc.Name != "Storm credentials" {
				t.Fatalf("registered %+v / %v", rc, reg)
			}
			if !slices.Equal(rc.GrantTypes, []string{"authorization_code", "refresh_token"}) {
				t.Errorf("grant types %v", rc.GrantTypes)
			}

			app := ra.App(reg, redirect, hc)
			const verifier = "verifier-0123456789-0123456789-0123456789-0123"
			authURL := app.AuthCodeURL("state-0123456789abcdef", verifier)
			q := mustQuery(t, authURL)
			if q.Get("resource") != pr.URL || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" ||
				q.Get("scope") != strings.Join(c.wantScopes, " ") {
				t.Fatalf("authorization URL %s", authURL)
			}
			back, err := as.Approve(ctx, authURL)
			if err != nil {
				t.Fatal(err)
			}
			if back.Query().Get("iss") != as.Issuer || back.Query().Get("state") != "state-0123456789abcdef" {
				t.Fatalf("callback %s", back)
			}
			ts, err := app.Exchange(ctx, back.Query().Get("code"), verifier)
			if err != nil {
				t.Fatal(err)
			}
			if ts.RefreshToken == "" || ts.Expiry.IsZero() {
				t.Fatalf("token set without refresh token or expiry")
			}
			if code := callResource(t, pr, ts.AccessToken); code != 200 {
				t.Fatalf("resource answered %d with the token", code)
			}
			next, err := app.Refresh(ctx, ts)
			if err != nil {
				t.Fatal(err)
			}
			if next.AccessToken == ts.AccessToken || next.RefreshToken == ts.RefreshToken || next.RefreshToken == "" {
				t.Fatal("refresh did not rotate the tokens")
			}
			if code := callResource(t, pr, next.AccessToken); code != 200 {
				t.Fatalf("resource answered %d with the refreshed token", code)
			}
			authz, tok := as.SeenResources()
			if !slices.Equal(authz, []string{pr.URL}) || !slices.Equal(tok, []string{pr.URL, pr.URL}) {
				t.Fatalf("resource parameters seen: authorize %q, token %q", authz, tok)
			}
			for _, u := range counter.urls {
				if strings.Contains(u, "/authorize") {
					t.Errorf("the client under test drove the browser step: %s", u)
				}
			}
			if counter.n < 4 {
				t.Errorf("only %d requests went through the caller's client", counter.n)
			}
		})
	}
}

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// TestTokenIsBoundToItsResource: a token obtained for one resource is
// refused by another resource of the same authorization server, and the
// server refuses to move a grant to another resource at refresh.
func TestTokenIsBoundToItsResource(t *testing.T) {
	ctx := context.Background()
	as := oauthtest.NewDCR(t, oauthtest.DCROptions{})
	pr1 := oauthtest.NewProtectedResource(t, as, oauthtest.ResourceOptions{Path: "/one"})
	pr2 := oauthtest.NewProtectedResource(t, as, oauthtest.ResourceOptions{Path: "/two"})
	d := &oauth.Discovery{}
	ra, err := d.Resource(ctx, pr1.URL)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := oauth.Register(ctx, nil, ra.Server.RegistrationEndpoint, ra.ClientMetadata([]string{redirect}, "Storm"), "")
	if err != nil {
		t.Fatal(err)
	}
	app := ra.App(reg, redirect, nil)
	const verifier = "verifier-0123456789-0123456789-0123456789-9999"
	back, err := as.Approve(ctx, app.AuthCodeURL("state-0123456789abcdef", verifier))
	if err != nil {
		t.Fatal(err)
	}
	moved := *app
	moved.Resource = pr2.URL
	_, err = moved.Exchange(ctx, back.Query().Get("code"), verifier)
	var oe *oauth.Error
	if !errors.As(err, &oe) || oe.Code != "invalid_target" {
		t.Fatalf("code exchange for another resource: %v", err)
	}
	ts, err := app.Exchange(ctx, back.Query().Get("code"), verifier)
	if err != nil {
		t.Fatal(err)
	}
	if callResource(t, pr1, ts.AccessToken) != 200 || callResource(t, pr2, ts.AccessToken) != 401 {
		t.Fatal("the token is not bound to its resource")
	}
	_, err = moved.Refresh(ctx, ts)
	if !errors.As(err, &oe) || oe.Code != "invalid_target" || oe.Temporary {
		t.Fatalf("refresh for another resource: %v", err)
	}
}

// TestAuthorizationServerRequiresTheResource: without RFC 8707 the
// authorization server refuses (the peer checks what the client must
// send), so the App's resource is what makes the flow work.
func TestAuthorizationServerRequiresTheResource(t *testing.T) {
	ctx := context.Background()
	as := oauthtest.NewDCR(t, oauthtest.DCROptions{})
	pr := oauthtest.NewProtectedResource(t, as, oauthtest.ResourceOptions{})
	ra, err := (&oauth.Discovery{}).Resource(ctx, pr.URL)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := oauth.Register(ctx, nil, ra.Server.RegistrationEndpoint, ra.ClientMetadata([]string{redirect}, "Storm"), "")
	if err != nil {
		t.Fatal(err)
	}
	app := ra.App(reg, redirect, nil)
	app.Resource = ""
	_, err = as.Approve(ctx, app.AuthCodeURL("state-0123456789abcdef", "verifier-0123456789-0123456789-0123456789-0000"))
	var ae *oauthtest.AuthorizeError
	if !errors.As(err, &ae) || ae.Code != "invalid_target" {
		t.Fatalf("authorize without resource: %v", err)
	}
}

// TestResourceMetadataMustNameTheResource: metadata about another
// resource (RFC 9728 §3.3) is refused wherever it was found.
func TestResourceMetadataMustNameTheResource(t *testing.T) {
	as := oauthtest.NewDCR(t, oauthtest.DCROptions{})
	for _, o := range []oauthtest.ResourceOptions{
		{Resource: "http://127.0.0.1:1/elsewhere"},                            // via the 401
		{Resource: "http://127.0.0.1:1/elsewhere", NoChallengeMetadata: true}, // via the well-known
		{Resource: "https://evil.example/mcp", RootMetadata: true},            // via the root well-known
	} {
		pr := oauthtest.NewProtectedResource(t, as, o)
		if _, err := (&oauth.Discovery{}).Resource(context.Background(), pr.URL); err == nil || !strings.Contains(err.Error(), "not") {
			t.Errorf("%+v: %v", o, err)
		}
	}
	// At the path-inserted URL the match must be exact: a trailing slash
	// is another resource.
	pr := oauthtest.NewProtectedResource(t, as, oauthtest.ResourceOptions{NoChallengeMetadata: true})
	if _, err := (&oauth.Discovery{}).Resource(context.Background(), pr.URL+"/"); err == nil {
		t.Error("a resource URL with a trailing slash matched metadata without one")
	}
}

func TestResourceDiscoveryFailures(t *testing.T) {
	ctx := context.Background()
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	cases := map[string]string{
		"no metadata anywhere": plain.URL + "/mcp",
		"not https":            "http://mcp.example.com/mcp",
		"credentials":          "https://u:p@mcp.example.com/mcp",
		"fragment":             "https://mcp.example.com/mcp#x",
		"relative":             "/mcp",
	}
	for name, u := range cases {
		_, err := (&oauth.Discovery{}).Resource(ctx, u)
		var oe *oauth.Error
		if !errors.As(err, &oe) || strings.Contains(err.Error(), "u:p") {
			t.Errorf("%s: %v", name, err)
		}
	}
	// An authorization server that cannot do S256.
	as := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		host := "http://" + r.Host
		switch r.URL.Path {
		case "/.well-known/oauth-protected-resource/mcp":
			w.Write([]byte(`{"resource":"` + host + `/mcp","authorization_servers":["` + host + `"]}`))
		case "/.well-known/oauth-authorization-server":
			w.Write([]byte(`{"issuer":"` + host + `","authorization_endpoint":"` + host + `/a","token_endpoint":"` + host + `/t","code_challenge_methods_supported":["plain"]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer as.Close()
	if _, err := (&oauth.Discovery{}).Resource(ctx, as.URL+"/mcp"); err == nil || !strings.Contains(err.Error(), "S256") {
		t.Errorf("no S256: %v", err)
	}
}

// TestRegistrationErrorsAreTyped: a refused registration names the RFC
// 7591 error and description, bounded; an outage is temporary.
func TestRegistrationErrorsAreTyped(t *testing.T) {
	ctx := context.Background()
	as := oauthtest.NewDCR(t, oauthtest.DCROptions{RefuseRegistrations: "invalid_redirect_uri"})
	md := oauth.ClientMetadata{RedirectURIs: []string{redirect}, TokenEndpointAuthMethod: oauth.AuthMethodNone}
	_, err := oauth.Register(ctx, nil, as.RegisterURL(), md, "")
	var re *oauth.RegistrationError
	if !errors.As(err, &re) || re.Code != "invalid_redirect_uri" || re.Status != 400 || re.Temporary || !strings.Contains(err.Error(), "registrations are refused") {
		t.Fatalf("refused: %#v", err)
	}

	real := oauthtest.NewDCR(t, oauthtest.DCROptions{AuthMethods: []string{"client_secret_basic"}})
	_, err = oauth.Register(ctx, nil, real.RegisterURL(), oauth.ClientMetadata{RedirectURIs: []string{"http://evil.example/cb"}}, "")
	if !errors.As(err, &re) || re.Code != "invalid_redirect_uri" {
		t.Fatalf("non-loopback http redirect: %#v", err)
	}
	_, err = oauth.Register(ctx, nil, real.RegisterURL(), md, "")
	if !errors.As(err, &re) || re.Code != "invalid_client_metadata" {
		t.Fatalf("unsupported auth method: %#v", err)
	}

	answers := []struct {
		name      string
		status    int
		body      string
		temporary bool
		contains  string
	}{
		{"long description", 400, `{"error":"invalid_client_metadata","error_description":"` + strings.Repeat("x", 5000) + `"}`, false, "invalid_client_metadata"},
		{"outage", 503, `oops`, true, "HTTP 503"},
		{"no client_id", 201, `{"client_secret":"s"}`, false, "client_id"},
		{"no secret for a confidential client", 201, `{"client_id":"c","token_endpoint_auth_method":"client_secret_basic"}`, false, "client_secret"},
		{"unsupported method assigned", 201, `{"client_id":"c","client_secret":"s","token_endpoint_auth_method":"private_key_jwt"}`, false, "private_key_jwt"},
		{"other redirect registered", 201, `{"client_id":"c","token_endpoint_auth_method":"none","redirect_uris":["https://elsewhere.example/cb"]}`, false, "redirect URI"},
		{"not JSON", 201, `<html>`, false, "not a JSON"},
	}
	for _, a := range answers {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(a.status)
			w.Write([]byte(a.body))
		}))
		_, err := oauth.Register(ctx, nil, srv.URL+"/register", md, "")
		srv.Close()
		if !errors.As(err, &re) || re.Temporary != a.temporary || !strings.Contains(err.Error(), a.contains) || len(re.Description) > 210 {
			t.Errorf("%s: %v", a.name, err)
		}
	}
	if _, err := oauth.Register(ctx, nil, "http://example.com/register", md, ""); err == nil {
		t.Error("a plain-http registration endpoint was accepted")
	}
}

func TestRegistrationRedacts(t *testing.T) {
	r := oauth.Registration{ClientID: "cid", ClientSecret: "secret-canary", RegistrationAccessToken: "rat-canary"}
	b, _ := r.MarshalJSON()
	for _, s := range []string{r.String(), r.GoString(), string(b)} {
		if strings.Contains(s, "canary") {
			t.Fatalf("leak: %s", s)
		}
	}
}

func TestResourceMetadataURL(t *testing.T) {
	cases := map[string]string{
		"https://example.com":                   "https://example.com/.well-known/oauth-protected-resource",
		"https://example.com/":                  "https://example.com/.well-known/oauth-protected-resource",
		"https://example.com/resource1":         "https://example.com/.well-known/oauth-protected-resource/resource1",
		"https://example.com/a/b/":              "https://example.com/.well-known/oauth-protected-resource/a/b/",
		"https://example.com:8443/mcp?tenant=1": "https://example.com:8443/.well-known/oauth-protected-resource/mcp?tenant=1",
		"http://127.0.0.1:9/mcp":                "http://127.0.0.1:9/.well-known/oauth-protected-resource/mcp",
		"https://example.com/a%2Fb":             "https://example.com/.well-known/oauth-protected-resource/a%2Fb",
	}
	for in, want := range cases {
		if got, err := oauth.ResourceMetadataURL(in); err != nil || got != want {
			t.Errorf("ResourceMetadataURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"http://example.com/mcp", "https://example.com/#f", "mailto:x@y", "https://u@example.com/"} {
		if _, err := oauth.ResourceMetadataURL(bad); err == nil {
			t.Errorf("ResourceMetadataURL(%q) accepted", bad)
		}
	}
}

// TestRefreshWithResourceErrorsAreTyped: the hand-built refresh (the
// one that carries the resource) classifies failures like x/oauth2's: a
// rotated-away refresh token is invalid_grant and final, an outage is
// temporary.
func TestRefreshWithResourceErrorsAreTyped(t *testing.T) {
	ctx := context.Background()
	as := oauthtest.NewDCR(t, oauthtest.DCROptions{AuthMethods: []string{"none"}})
	pr := oauthtest.NewProtectedResource(t, as, oauthtest.ResourceOptions{})
	ra, err := (&oauth.Discovery{}).Resource(ctx, pr.URL)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := oauth.Register(ctx, nil, ra.Server.RegistrationEndpoint, ra.ClientMetadata([]string{redirect}, "Storm"), "")
	if err != nil {
		t.Fatal(err)
	}
	app := ra.App(reg, redirect, nil)
	const verifier = "verifier-0123456789-0123456789-0123456789-5555"
	back, err := as.Approve(ctx, app.AuthCodeURL("state-0123456789abcdef", verifier))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := app.Exchange(ctx, back.Query().Get("code"), verifier)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.Refresh(ctx, ts); err != nil {
		t.Fatal(err)
	}
	_, err = app.Refresh(ctx, ts) // the old refresh token was rotated away
	var oe *oauth.Error
	if !errors.As(err, &oe) || oe.Code != "invalid_grant" || !oe.GrantRevoked() || strings.Contains(err.Error(), ts.RefreshToken.Reveal()) {
		t.Fatalf("reused refresh token: %#v", err)
	}

	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(503)
	}))
	defer down.Close()
	broken := *app
	broken.Endpoints.TokenURL = down.URL
	_, err = broken.Refresh(ctx, ts)
	if !errors.As(err, &oe) || !oe.Temporary || oe.Status != 503 || oe.RetryAfter.Seconds() != 7 {
		t.Fatalf("outage: %#v", err)
	}
}
