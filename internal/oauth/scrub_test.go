package oauth_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/oauth"
	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/outcome"
)

// echoingFront forwards token requests to the real authorization server
// and, when it refuses one, repeats what the request carried in its
// error_description, in other forms: as careless providers do.
func echoingFront(t *testing.T, as *oauthtest.Server) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		_, clientSecret, _ := r.BasicAuth()
		clientSecret, _ = url.QueryUnescape(clientSecret)
		req, _ := http.NewRequest(r.Method, as.TokenURL(), bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		defer resp.Body.Close()
		var answer map[string]any
		json.NewDecoder(resp.Body).Decode(&answer)
		if resp.StatusCode >= 400 {
			rt, code := form.Get("refresh_token"), form.Get("code")
			answer["error_description"] = "rejected " + strings.ToUpper(rt) + " / " + url.QueryEscape(rt[:len(rt)/2]) +
				" / " + base64.StdEncoding.EncodeToString([]byte("client:"+clientSecret)) + " / " + spaced(clientSecret) + " / " + code
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.StatusCode)
		json.NewEncoder(w).Encode(answer)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func spaced(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && i%3 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// TestOAuthErrorDescriptionScrubbed: a token endpoint's
// error_description that repeats the refresh token, the client secret or
// the code, in any case or encoding, reaches neither the error's text nor
// its fields.
func TestOAuthErrorDescriptionScrubbed(t *testing.T) {
	as := oauthtest.New(t, oauthtest.Options{})
	as.AddRedirectURI(oauthtest.DefaultClientID, "http://127.0.0.1/cb")
	front := echoingFront(t, as)
	app := &oauth.App{Def: catalog.OAuth2{AuthStyle: "basic", Scopes: []string{"offline"}, PKCE: true},
		ClientID: oauthtest.DefaultClientID, ClientSecret: oauthtest.DefaultClientSecret, RedirectURL: "http://127.0.0.1/cb",
		Endpoints: oauth.Endpoints{AuthorizeURL: as.AuthorizeURL(), TokenURL: front.URL}}
	v := "verifier-0123456789-0123456789-0123456789-0123"
	back, err := as.Approve(context.Background(), app.AuthCodeURL("state-0123456789", v))
	if err != nil {
		t.Fatal(err)
	}
	code := back.Query().Get("code")
	ts, err := app.Exchange(context.Background(), code, v)
	if err != nil {
		t.Fatal(err)
	}
	// The code is spent: a second exchange is refused, and echoed.
	_, exchangeErr := app.Exchange(context.Background(), code, v)
	as.RevokeAll()
	_, refreshErr := app.Refresh(context.Background(), ts)
	secrets := []string{ts.RefreshToken.Reveal(), oauthtest.DefaultClientSecret, code}
	for name, err := range map[string]error{"exchange": exchangeErr, "refresh": refreshErr} {
		var oerr *oauth.Error
		if !errors.As(err, &oerr) || oerr.Status != 400 || outcome.Of(err) != outcome.Rejected && outcome.Of(err) != outcome.Unexpected {
			t.Fatalf("%s: %#v", name, err)
		}
		if !strings.HasPrefix(oerr.Description, "rejected ") || strings.Count(oerr.Description, "[redacted]") < 3 {
			t.Fatalf("%s: the description was not kept, scrubbed: %q", name, oerr.Description)
		}
		for _, text := range []string{err.Error(), oerr.Description, oerr.Code} {
			for _, s := range secrets {
				if piece := pieceOf(text, s); piece != "" {
					t.Errorf("%s: %q of a secret in %q", name, piece, text)
				}
			}
		}
		if len(err.Error()) > 300 {
			t.Errorf("%s: error text is not bounded: %d bytes", name, len(err.Error()))
		}
	}
}

// pieceOf returns 8 characters of secret found in text, in any case
// (ignoring whitespace), or "".
func pieceOf(text, secret string) string {
	probe := strings.ToLower(strings.Join(strings.Fields(text), ""))
	for i := 0; i+8 <= len(secret); i++ {
		if strings.Contains(probe, strings.ToLower(secret[i:i+8])) {
			return secret[i : i+8]
		}
	}
	return ""
}

// TestOAuthNetworkErrorTextIsFixed: an unreachable token endpoint or
// issuer is described by a fixed text; the resolver's answer is only in
// the error's log value.
func TestOAuthNetworkErrorTextIsFixed(t *testing.T) {
	app := &oauth.App{ClientID: "c", ClientSecret: "client-secret-0123456789",
		Endpoints: oauth.Endpoints{AuthorizeURL: "http://storm-oauth-unresolvable.invalid/a", TokenURL: "http://storm-oauth-unresolvable.invalid/t"}}
	_, err := app.Refresh(context.Background(), oauth.TokenSet{RefreshToken: "refresh-token-0123456789"})
	var oerr *oauth.Error
	if !errors.As(err, &oerr) || err.Error() != "oauth refresh: "+outcome.CauseDNS.Text() || outcome.Of(err) != outcome.Unreachable {
		t.Fatalf("refresh error = %v", err)
	}
	_, err = (&oauth.Discovery{}).Lookup(context.Background(), "http://storm-oauth-unresolvable.invalid")
	if err == nil || strings.Contains(err.Error(), "lookup") || strings.Contains(err.Error(), "no such host") {
		t.Fatalf("discovery error = %v", err)
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "err", err)
	if !strings.Contains(logs.String(), "lookup storm-oauth-unresolvable.invalid") {
		t.Fatalf("the log lacks the raw cause: %s", logs.String())
	}
}

// TestErrorCodeIsAnIdentifier: only an identifier is kept as the error
// code (it is stored and shown as is); other text in "error" becomes
// part of the bounded description.
func TestErrorCodeIsAnIdentifier(t *testing.T) {
	resp := &http.Response{StatusCode: 400, Header: http.Header{}}
	cases := []struct{ body, code, desc string }{
		{`{"error":"invalid_grant","error_description":"expired"}`, "invalid_grant", "expired"},
		{`{"error":"Your refresh token abc is not valid <b>here</b>"}`, "", "Your refresh token abc is not valid <b>here</b>"},
		{`{"error":"` + strings.Repeat("x", 65) + `","error_description":"d"}`, "", strings.Repeat("x", 65) + ": d"},
		{`{"error_description":"` + strings.Repeat("é", 1000) + `"}`, "", strings.Repeat("é", 512)},
	}
	for _, c := range cases {
		e := oauth.ErrorFromResponse("refresh", resp, []byte(c.body))
		if e.Code != c.code || e.Description != c.desc {
			t.Errorf("%.60s: code %q, description %.80q", c.body, e.Code, e.Description)
		}
		if n := len([]rune(e.Error())); n > 300 {
			t.Errorf("%.60s: error text of %d characters", c.body, n)
		}
	}
}
