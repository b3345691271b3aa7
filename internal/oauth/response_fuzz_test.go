package oauth_test

import (
	"encoding/base64"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stormcreds/storm/internal/oauth"
)

var fuzzCodeRe = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

// FuzzErrorFromResponse parses arbitrary token-endpoint error answers.
// The kept code is an identifier (or empty), the description is bounded
// valid text where the body was, Retry-After is within an hour, and
// after Scrub neither the client secret nor the grant the request sent
// shows in the error's text or log value, whatever the server echoed.
func FuzzErrorFromResponse(f *testing.F) {
	const clientSecret = "client-secret-0123456789"
	f.Add(400, "application/json", "", []byte(`{"error":"invalid_grant","error_description":"refresh token rt-abcdef123456 expired"}`), "rt-abcdef123456")
	f.Add(401, "application/x-www-form-urlencoded", "", []byte("error=invalid_client&error_description=bad+secret+client-secret-0123456789"), "code-xyz-987654")
	f.Add(503, "text/html", "120", []byte("<html>down</html>"), "")
	f.Add(429, "application/json", "Wed, 21 Oct 2015 07:28:00 GMT", []byte(`{"error":{"code":1},"error_description":null}`), "")
	f.Add(400, "application/json", "-1", []byte(`{"error":"not an identifier: cm-tok-12345678","error_description":"x"}`), "cm-tok-12345678")
	f.Fuzz(func(t *testing.T, status int, contentType, retry string, body []byte, grant string) {
		status = 100 + abs(status)%500
		resp := &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {contentType}, "Retry-After": {retry}}}
		e := oauth.ErrorFromResponse("refresh", resp, body)
		if e.Status != status || e.Op != "refresh" {
			t.Fatalf("status %d op %q", e.Status, e.Op)
		}
		if e.Code != "" && !fuzzCodeRe.MatchString(e.Code) {
			t.Fatalf("code %q is not an identifier", e.Code)
		}
		if len(e.Description) > 1<<10 || (utf8.Valid(body) && !utf8.ValidString(e.Description)) {
			t.Fatalf("description of %d bytes, valid UTF-8 %v", len(e.Description), utf8.ValidString(e.Description))
		}
		if e.RetryAfter < 0 || e.RetryAfter > time.Hour {
			t.Fatalf("Retry-After %q gave %v", retry, e.RetryAfter)
		}
		if e.Temporary != ((status >= 500 || status == 408 || status == 429) && e.Code != "invalid_grant" && e.Code != "invalid_client") {
			t.Fatalf("status %d code %q: temporary %v", status, e.Code, e.Temporary)
		}
		e.Scrub(clientSecret, grant)
		text := e.Error() + " " + e.LogValue().String()
		if strings.Contains(text, clientSecret) {
			t.Fatalf("client secret in %q", text)
		}
		if len(grant) >= 8 && !strings.ContainsAny(grant, "[]") && strings.Contains(text, grant) {
			t.Fatalf("grant %q in %q", grant, text)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -(n + 1)
	}
	return n
}

// FuzzJWTExpiry reads the exp claim of arbitrary access tokens (used only
// to schedule a refresh). An accepted expiry is after 1970 and before the
// year 5138, and a token built around a plain exp reads back exactly.
func FuzzJWTExpiry(f *testing.F) {
	enc := base64.RawURLEncoding.EncodeToString
	f.Add(enc([]byte(`{"alg":"none"}`))+"."+enc([]byte(`{"exp":1700000000}`))+".sig", int64(1700000000))
	f.Add("a."+enc([]byte(`{"exp":1.7e9}`))+"=.b", int64(-5))
	f.Add("a.b.c", int64(0))
	f.Add("..", int64(1e11))
	f.Fuzz(func(t *testing.T, token string, exp int64) {
		if at, ok := oauth.JWTExpiry(token); ok {
			if at.Unix() <= 0 || at.Unix() > 1e11 || strings.Count(token, ".") != 2 {
				t.Fatalf("JWTExpiry(%q) = %v", token, at)
			}
		}
		tok := "h." + enc([]byte(`{"sub":"x","exp":`+strconv.FormatInt(exp, 10)+`}`)) + ".s"
		at, ok := oauth.JWTExpiry(tok)
		if want := exp > 0 && exp <= 1e11; ok != want || (ok && at.Unix() != exp) {
			t.Fatalf("exp %d read as %v, %v", exp, at, ok)
		}
	})
}
