package oauthtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/stormcreds/storm/internal/oauth/oauthtest"
)

func postJSON(t *testing.T, u, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(u, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// TestDCRRegistration: what RFC 7591 registration accepts and refuses.
func TestDCRRegistration(t *testing.T) {
	s := oauthtest.NewDCR(t, oauthtest.DCROptions{AuthMethods: []string{"client_secret_basic", "none"}})
	cases := []struct {
		name, body string
		status     int
		errCode    string
	}{
		{"confidential", `{"redirect_uris":["https://storm.example/oauth/callback"],"grant_types":["authorization_code","refresh_token"],"client_name":"Storm"}`, 201, ""},
		{"public on loopback", `{"redirect_uris":["http://127.0.0.1:8080/cb"],"token_endpoint_auth_method":"none"}`, 201, ""},
		{"no redirect", `{"client_name":"x"}`, 400, "invalid_redirect_uri"},
		{"http redirect", `{"redirect_uris":["http://storm.example/cb"]}`, 400, "invalid_redirect_uri"},
		{"fragment", `{"redirect_uris":["https://storm.example/cb#x"]}`, 400, "invalid_redirect_uri"},
		{"implicit", `{"redirect_uris":["https://storm.example/cb"],"grant_types":["implicit"]}`, 400, "invalid_client_metadata"},
		{"token response", `{"redirect_uris":["https://storm.example/cb"],"response_types":["token"]}`, 400, "invalid_client_metadata"},
		{"private_key_jwt", `{"redirect_uris":["https://storm.example/cb"],"token_endpoint_auth_method":"private_key_jwt"}`, 400, "invalid_client_metadata"},
		{"unknown scope", `{"redirect_uris":["https://storm.example/cb"],"scope":"admin"}`, 400, "invalid_client_metadata"},
		{"not JSON", `redirect_uris=x`, 400, "invalid_client_metadata"},
	}
	for _, c := range cases {
		status, body := postJSON(t, s.RegisterURL(), c.body)
		if status != c.status || (c.errCode != "" && body["error"] != c.errCode) {
			t.Errorf("%s: %d %v", c.name, status, body)
			continue
		}
		if status == 201 {
			id, _ := body["client_id"].(string)
			rc, ok := s.Client(id)
			if !ok || (rc.AuthMethod == "none") != (body["client_secret"] == nil) {
				t.Errorf("%s: %v / %+v", c.name, body, rc)
			}
		}
	}
	if s.Registrations() != int64(len(cases)) {
		t.Errorf("Registrations() = %d", s.Registrations())
	}
	refusing := oauthtest.NewDCR(t, oauthtest.DCROptions{RefuseRegistrations: "invalid_software_statement"})
	if status, body := postJSON(t, refusing.RegisterURL(), cases[0].body); status != 400 || body["error"] != "invalid_software_statement" {
		t.Errorf("refusing server: %d %v", status, body)
	}
}

func TestDCRMetadataLocations(t *testing.T) {
	get := func(u string) (int, map[string]any) {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	s := oauthtest.NewDCR(t, oauthtest.DCROptions{IssuerPath: "/t1"})
	if status, md := get(s.URL + "/.well-known/oauth-authorization-server/t1"); status != 200 || md["issuer"] != s.Issuer || md["registration_endpoint"] != s.RegisterURL() {
		t.Fatalf("RFC 8414 metadata: %d %v", status, md)
	}
	oidc := oauthtest.NewDCR(t, oauthtest.DCROptions{OIDCOnly: true})
	if status, _ := get(oidc.URL + "/.well-known/oauth-authorization-server/tenant"); status != 404 {
		t.Fatalf("OIDCOnly serves RFC 8414 metadata: %d", status)
	}
	if status, md := get(oidc.Issuer + "/.well-known/openid-configuration"); status != 200 || md["issuer"] != oidc.Issuer {
		t.Fatalf("OIDC metadata: %d %v", status, md)
	}
}

// TestDCRResourceIndicators drives the server with x/oauth2 alone: the
// resource is required in authorization and token requests, must be a
// resource the server knows, and binds the token to that resource.
func TestDCRResourceIndicators(t *testing.T) {
	ctx := context.Background()
	s := oauthtest.NewDCR(t, oauthtest.DCROptions{})
	pr := oauthtest.NewProtectedResource(t, s, oauthtest.ResourceOptions{})
	status, body := postJSON(t, s.RegisterURL(), `{"redirect_uris":["http://127.0.0.1:9/cb"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"]}`)
	if status != 201 {
		t.Fatal(body)
	}
	cfg := &oauth2.Config{ClientID: body["client_id"].(string), RedirectURL: "http://127.0.0.1:9/cb", Scopes: []string{"mcp:read"},
		Endpoint: oauth2.Endpoint{AuthURL: s.AuthorizeURL(), TokenURL: s.TokenURL(), AuthStyle: oauth2.AuthStyleInParams}}
	verifier := oauth2.GenerateVerifier()
	for name, opts := range map[string][]oauth2.AuthCodeOption{
		"no resource":      {oauth2.S256ChallengeOption(verifier)},
		"unknown resource": {oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", "https://other.example/mcp")},
		"no PKCE":          {oauth2.SetAuthURLParam("resource", pr.URL)},
	} {
		_, err := s.Approve(ctx, cfg.AuthCodeURL("state-0123456789", opts...))
		var ae *oauthtest.AuthorizeError
		if !errors.As(err, &ae) {
			t.Errorf("%s: %v", name, err)
		}
	}
	back, err := s.Approve(ctx, cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", pr.URL)))
	if err != nil {
		t.Fatal(err)
	}
	if back.Query().Get("iss") != s.Issuer {
		t.Errorf("no RFC 9207 iss: %s", back)
	}
	code := back.Query().Get("code")
	if _, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err == nil || !strings.Contains(err.Error(), "invalid_target") {
		t.Fatalf("exchange without resource: %v", err)
	}
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", pr.URL))
	if err != nil {
		t.Fatal(err)
	}
	if !s.ValidFor(tok.AccessToken, pr.URL) || s.ValidFor(tok.AccessToken, "https://other.example/mcp") {
		t.Fatal("token not bound to its resource")
	}

	// The resource: 401 with resource_metadata without a token, 200 with one.
	for _, token := range []string{"", "forged", tok.AccessToken} {
		req, _ := http.NewRequest("POST", pr.URL, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		challenge := resp.Header.Get("WWW-Authenticate")
		switch {
		case token == tok.AccessToken && resp.StatusCode != 200:
			t.Errorf("valid token: %d", resp.StatusCode)
		case token != tok.AccessToken && (resp.StatusCode != 401 || !strings.Contains(challenge, `resource_metadata="`+pr.MetadataURL+`"`)):
			t.Errorf("token %q: %d %s", token, resp.StatusCode, challenge)
		case token == "forged" && !strings.Contains(challenge, `error="invalid_token"`):
			t.Errorf("forged token: %s", challenge)
		}
	}
	resp, err := http.Get(pr.MetadataURL)
	if err != nil {
		t.Fatal(err)
	}
	var prm map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&prm)
	resp.Body.Close()
	if prm["resource"] != pr.URL || prm["authorization_servers"].([]any)[0] != s.Issuer {
		t.Fatalf("metadata %v", prm)
	}
	if pr.Served() != 1 || pr.Rejected() != 2 {
		t.Errorf("served %d rejected %d", pr.Served(), pr.Rejected())
	}
}
