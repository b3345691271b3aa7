package oauth1test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dghubble "github.com/dghubble/oauth1"
	mrjones "github.com/mrjones/oauth"
)

// rfcRequest builds a request as RFC 5849 prints it, received over TLS
// when https.
func rfcRequest(method, target, host, auth, body string, https bool) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	r.Host = host
	r.RequestURI = target
	r.Header.Set("Authorization", auth)
	if body != "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if https {
		r.TLS = &tls.ConnectionState{}
	}
	return r
}

func rfcServer(t *testing.T, unix int64) *Server {
	s := NewUnstarted(t, Options{
		Now:              func() time.Time { return time.Unix(unix, 0) },
		RequestTokenPath: "/initiate", AccessTokenPath: "/token",
	})
	s.AddConsumer(Consumer{Key: "dpf43f3p2l4k3l03", Secret: "kd94hf93k423kf44"})
	s.AddTemporary("dpf43f3p2l4k3l03", "hh5s93j4hdidpola", "hdhd0244k9j7ao03", "hfdp7dh39dks9884")
	s.AddToken("dpf43f3p2l4k3l03", "nnch734d00sl2jdk", "pfkkdhi9sl3r4s00")
	return s
}

// TestRFC5849ExampleRequests: the provider accepts the requests of RFC
// 5849 §1.2 exactly as printed (header layout, encoding, signatures) and
// refuses them once anything signed changes.
func TestRFC5849ExampleRequests(t *testing.T) {
	cases := []struct {
		name, method, target, auth string
		https                      bool
		unix                       int64
		want                       string
	}{
		{"temporary credentials", "POST", "/initiate", `OAuth realm="Photos",
        oauth_consumer_key="dpf43f3p2l4k3l03",
        oauth_signature_method="HMAC-SHA1",
        oauth_timestamp="137131200",
        oauth_nonce="wIjqoS",
        oauth_callback="http%3A%2F%2Fprinter.example.com%2Fready",
        oauth_signature="74KNZJeDHnMBp0EMJ9ZHt%2FXKycU%3D"`, true, 137131200, "oauth_callback_confirmed=true"},
		{"token credentials", "POST", "/token", `OAuth realm="Photos",
        oauth_consumer_key="dpf43f3p2l4k3l03",
        oauth_token="hh5s93j4hdidpola",
        oauth_signature_method="HMAC-SHA1",
        oauth_timestamp="137131201",
        oauth_nonce="walatlh",
        oauth_verifier="hfdp7dh39dks9884",
        oauth_signature="gKgrFCywp7rO0OXSjdot%2FIHF7IU%3D"`, true, 137131201, "oauth_token_secret="},
		{"protected resource", "GET", "/photos?file=vacation.jpg&size=original", `OAuth realm="Photos",
        oauth_consumer_key="dpf43f3p2l4k3l03",
        oauth_token="nnch734d00sl2jdk",
        oauth_signature_method="HMAC-SHA1",
        oauth_timestamp="137131202",
        oauth_nonce="chapoH",
        oauth_signature="MdpQcU8iPSUjWoN%2FUDMsK2sui9I%3D"`, false, 137131202, `"params":[["file","vacation.jpg"],["size","original"]]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := rfcServer(t, c.unix)
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, rfcRequest(c.method, c.target, "photos.example.net", strings.ReplaceAll(c.auth, "\n", "\r\n"), "", c.https))
			if rec.Code != 200 || !strings.Contains(rec.Body.String(), c.want) {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}

			// Changes to what is signed: the scheme, the host, the path.
			for _, tamper := range []struct {
				target, host string
				https        bool
			}{
				{c.target, "photos.example.net", !c.https},
				{c.target, "photos.example.org", c.https},
				{c.target + "x", "photos.example.net", c.https},
			} {
				s := rfcServer(t, c.unix)
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, rfcRequest(c.method, tamper.target, tamper.host, c.auth, "", tamper.https))
				if rec.Code == 200 {
					t.Errorf("tampered request %+v accepted", tamper)
				}
			}
		})
	}
}

// TestRFC5849Section3Example: the request of RFC 5849 §3.1/§3.4.1.1
// (repeated a3, empty c@ and c2, b5 with an encoded %, a form body). Its
// printed signature (bYT5…) does not match the RFC's own base string and
// secrets; the correct HMAC-SHA1 is accepted, the printed one refused.
func TestRFC5849Section3Example(t *testing.T) {
	for sig, want := range map[string]int{"r6%2FTJjbCOr97%2F%2BUU0NsvSne7s5g%3D": 200, "bYT5CMsGcbgUdFHObYMEfcx6bsw%3D": 401} {
		s := NewUnstarted(t, Options{Now: func() time.Time { return time.Unix(137131201, 0) }})
		s.AddConsumer(Consumer{Key: "9djdj82h48djs9d2", Secret: "j49sk3j29djd"})
		s.AddToken("9djdj82h48djs9d2", "kkk9d7dh3k39sjv7", "dh893hdasih9")
		auth := `OAuth realm="Example", oauth_consumer_key="9djdj82h48djs9d2", oauth_token="kkk9d7dh3k39sjv7", oauth_signature_method="HMAC-SHA1", oauth_timestamp="137131201", oauth_nonce="7d8f3e4a", oauth_signature="` + sig + `"`
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, rfcRequest("POST", "/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b", "example.com", auth, "c2&a3=2+q", false))
		if rec.Code != want {
			t.Errorf("signature %s: %d %s", sig, rec.Code, rec.Body)
		}
	}
}

// TestPLAINTEXTExample is RFC 5849 §2.1's PLAINTEXT request.
func TestPLAINTEXTExample(t *testing.T) {
	s := NewUnstarted(t, Options{RequestTokenPath: "/request_temp_credentials"})
	s.AddConsumer(Consumer{Key: "jd83jd92dhsh93js", Secret: "ja893SD9"})
	auth := `OAuth realm="Example", oauth_consumer_key="jd83jd92dhsh93js", oauth_signature_method="PLAINTEXT", oauth_callback="http%3A%2F%2Fclient.example.net%2Fcb%3Fx%3D1", oauth_signature="ja893SD9%26"`
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, rfcRequest("POST", "/request_temp_credentials", "server.example.com", auth, "", true))
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, rfcRequest("POST", "/request_temp_credentials", "server.example.com", strings.Replace(auth, "ja893SD9%26", "ja893SD8%26", 1), "", true))
	if rec.Code != 401 {
		t.Fatalf("wrong PLAINTEXT signature: %d", rec.Code)
	}
}

// TestNonceAndTimestampChecks: a nonce is single-use for a timestamp,
// client and token; timestamps outside the window are refused.
func TestNonceAndTimestampChecks(t *testing.T) {
	photos := `OAuth realm="Photos", oauth_consumer_key="dpf43f3p2l4k3l03", oauth_token="nnch734d00sl2jdk", oauth_signature_method="HMAC-SHA1", oauth_timestamp="137131202", oauth_nonce="chapoH", oauth_signature="MdpQcU8iPSUjWoN%2FUDMsK2sui9I%3D"`
	s := rfcServer(t, 137131202)
	for i, want := range []int{200, 401} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, rfcRequest("GET", "/photos?file=vacation.jpg&size=original", "photos.example.net", photos, "", false))
		if rec.Code != want || (i == 1 && !strings.Contains(rec.Body.String(), "nonce_used")) {
			t.Fatalf("attempt %d: %d %s", i, rec.Code, rec.Body)
		}
	}
	for _, offset := range []int64{-301, 301} {
		s := rfcServer(t, 137131202+offset)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, rfcRequest("GET", "/photos?file=vacation.jpg&size=original", "photos.example.net", photos, "", false))
		if rec.Code != 401 || !strings.Contains(rec.Body.String(), "timestamp_refused") {
			t.Fatalf("clock %+ds: %d %s", offset, rec.Code, rec.Body)
		}
	}
}

// TestProtocolParametersOnce: duplicated protocol parameters, or protocol
// parameters in two places, are a 400 (RFC 5849 §3.2, §3.5).
func TestProtocolParametersOnce(t *testing.T) {
	s := rfcServer(t, 137131202)
	base := `OAuth oauth_consumer_key="dpf43f3p2l4k3l03", oauth_token="nnch734d00sl2jdk", oauth_signature_method="PLAINTEXT", oauth_signature="kd94hf93k423kf44%26pfkkdhi9sl3r4s00"`
	cases := map[string]*http.Request{
		"duplicate in header": rfcRequest("GET", "/p", "h", base+`, oauth_token="x"`, "", false),
		"header and query":    rfcRequest("GET", "/p?oauth_nonce=1", "h", base, "", false),
		"bad version":         rfcRequest("GET", "/p", "h", base+`, oauth_version="2.0"`, "", false),
		"unquoted":            rfcRequest("GET", "/p", "h", `OAuth oauth_consumer_key=dpf43f3p2l4k3l03`, "", false),
	}
	for name, r := range cases {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, r)
		if rec.Code != 400 {
			t.Errorf("%s: %d %s", name, rec.Code, rec.Body)
		}
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, rfcRequest("GET", "/p", "h", base, "", false))
	if rec.Code != 200 {
		t.Errorf("PLAINTEXT without nonce and timestamp: %d %s", rec.Code, rec.Body)
	}
}

// ---- cross-checks with independent client libraries ----

func newCrossServer(t *testing.T, pub *rsa.PublicKey) *Server {
	s := New(t, Options{})
	s.AddConsumer(Consumer{Key: "cross-key", Secret: "cross secret/&+", PublicKey: pub})
	return s
}

// TestCrossCheckDghubble runs github.com/dghubble/oauth1 through the
// whole flow and signed requests. It is right on everything but repeated
// parameter names: it signs only the first value of each name, so a
// request with a=1&a=2 fails verification (the provider sees both).
func TestCrossCheckDghubble(t *testing.T) {
	ctx := context.Background()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	s := newCrossServer(t, &key.PublicKey)
	signers := map[string]dghubble.Signer{
		"HMAC-SHA1":   nil, // the library's default
		"HMAC-SHA256": &dghubble.HMAC256Signer{ConsumerSecret: "cross secret/&+"},
		"RSA-SHA1":    &dghubble.RSASigner{PrivateKey: key},
	}
	for name, signer := range signers {
		t.Run(name, func(t *testing.T) {
			cfg := &dghubble.Config{ConsumerKey: "cross-key", ConsumerSecret: "cross secret/&+", CallbackURL: "https://client.example/cb",
				Endpoint: dghubble.Endpoint{RequestTokenURL: s.RequestTokenURL(), AuthorizeURL: s.AuthorizeURL(), AccessTokenURL: s.AccessTokenURL()},
				Realm:    "Cross", Signer: signer}
			rt, rs, err := cfg.RequestToken()
			if err != nil {
				t.Fatalf("request token: %v (%s)", err, s.LastRejection())
			}
			authURL, _ := cfg.AuthorizationURL(rt)
			back, err := s.Approve(ctx, authURL.String())
			if err != nil {
				t.Fatal(err)
			}
			at, as, err := cfg.AccessToken(rt, rs, back.Query().Get("oauth_verifier"))
			if err != nil {
				t.Fatalf("access token: %v (%s)", err, s.LastRejection())
			}
			hc := cfg.Client(ctx, dghubble.NewToken(at, as))
			ok := []struct{ method, path, body string }{
				{"GET", "/r?b=2&a=1&e=&sp=a%20b&pct=%25%2B", ""},
				{"POST", "/r?q=1", "x=1&y=%C3%A9&z="},
			}
			for _, r := range ok {
				if code := send(t, hc, r.method, s.ResourceURL(r.path), r.body); code != 200 {
					t.Errorf("%s %s: %d (%s)", r.method, r.path, code, s.LastRejection())
				}
			}
			// Where the library is wrong.
			if code := send(t, hc, "GET", s.ResourceURL("/r?a=1&a=2"), ""); code != 401 {
				t.Errorf("repeated names: %d; the library signs only the first value, so 401 was expected", code)
			}
		})
	}
}

// TestCrossCheckMrjones runs github.com/mrjones/oauth through the flow
// and signed requests. It is right on plain query parameters (repeated
// names included) but wrong when a form body comes with a query (it
// signs only the body) and on names that need encoding (c@ is encoded
// once, not twice, in the base string).
func TestCrossCheckMrjones(t *testing.T) {
	s := newCrossServer(t, nil)
	c := mrjones.NewConsumer("cross-key", "cross secret/&+", mrjones.ServiceProvider{
		RequestTokenUrl: s.RequestTokenURL(), AuthorizeTokenUrl: s.AuthorizeURL(), AccessTokenUrl: s.AccessTokenURL(), HttpMethod: http.MethodPost})
	rt, loginURL, err := c.GetRequestTokenAndUrl("https://client.example/cb")
	if err != nil {
		t.Fatalf("request token: %v (%s)", err, s.LastRejection())
	}
	back, err := s.Approve(context.Background(), loginURL)
	if err != nil {
		t.Fatal(err)
	}
	at, err := c.AuthorizeToken(rt, back.Query().Get("oauth_verifier"))
	if err != nil {
		t.Fatalf("access token: %v (%s)", err, s.LastRejection())
	}
	hc, err := c.MakeHttpClient(at)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/r?b=2&a=1&e=&sp=a%20b", "", 200},
		{"GET", "/r?a=2&a=1&a=3", "", 200},
		{"POST", "/r", "x=1&y=%C3%A9", 200},
		{"POST", "/r?q=1", "x=1", 401}, // the query is not signed
		{"GET", "/r?c%40=1", "", 401},  // the name is not encoded
	} {
		if code := send(t, hc, r.method, s.ResourceURL(r.path), r.body); code != r.want {
			t.Errorf("%s %s %q: %d, want %d (%s)", r.method, r.path, r.body, code, r.want, s.LastRejection())
		}
	}
}

func send(t *testing.T, hc *http.Client, method, rawURL, body string) int {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, rawURL, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
