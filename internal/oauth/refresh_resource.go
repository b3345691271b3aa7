package oauth

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// maxTokenResponse bounds a token endpoint answer read here.
const maxTokenResponse = 1 << 20

// refreshWithResource is Refresh for an App with a Resource. RFC 8707
// §2.2 wants the resource in refresh requests too, and x/oauth2's
// refresh sends only grant_type and refresh_token, so this one request
// is built by hand: client authentication as Def.AuthStyle says (a public
// client sends its client_id in the form), the answer read like
// x/oauth2's.
func (a *App) refreshWithResource(ctx context.Context, ts TokenSet) (TokenSet, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {ts.RefreshToken.Reveal()}, "resource": {a.Resource}}
	// No scope: RFC 6749 §6 keeps the scope originally granted.
	if a.Def.AuthStyle == "post" {
		form.Set("client_id", a.ClientID)
		if a.ClientSecret != "" {
			form.Set("client_secret", a.ClientSecret.Reveal())
		}
	}
	tokenURL := a.Endpoints.TokenURL
	if a.Def.RefreshURL != "" {
		tokenURL = a.Def.RefreshURL
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return TokenSet{}, &Error{Op: "refresh", Description: "bad token URL"}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if a.Def.AuthStyle != "post" {
		req.SetBasicAuth(url.QueryEscape(a.ClientID), url.QueryEscape(a.ClientSecret.Reveal()))
	}
	client := a.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return TokenSet{}, classify("refresh", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse))
	if err != nil {
		return TokenSet{}, classify("refresh", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return TokenSet{}, ErrorFromResponse("refresh", resp, body)
	}
	var ans struct {
		AccessToken  string          `json:"access_token"`
		TokenType    string          `json:"token_type"`
		RefreshToken string          `json:"refresh_token"`
		ExpiresIn    json.RawMessage `json:"expires_in"`
		Scope        string          `json:"scope"`
	}
	if err := json.Unmarshal(body, &ans); err != nil || ans.AccessToken == "" {
		return TokenSet{}, &Error{Op: "refresh", Status: resp.StatusCode, Temporary: true, Description: "the token response has no access_token"}
	}
	tok := &oauth2.Token{AccessToken: ans.AccessToken, TokenType: ans.TokenType, RefreshToken: ans.RefreshToken}
	if secs, ok := expiresIn(ans.ExpiresIn); ok && secs > 0 {
		tok.Expiry = a.now().Add(time.Duration(secs) * time.Second)
	}
	extra := map[string]any{}
	if ans.Scope != "" {
		extra["scope"] = ans.Scope
	}
	return a.tokenSet(tok.WithExtra(extra), ts.RefreshToken), nil
}

// expiresIn reads expires_in as a number or a numeric string.
func expiresIn(raw json.RawMessage) (int64, bool) {
	if len(raw) == 0 {
		return 0, false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		s = string(raw)
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || f <= 0 || f > 1<<31 {
		return 0, false
	}
	return int64(f), true
}
