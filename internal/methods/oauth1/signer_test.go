package oauth1

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/methods/oauth1/oauth1test"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/secret"
)

// fixed returns a signer whose nonce and clock are the given values, to
// reproduce the RFC's examples.
func fixed(t *testing.T, cfg Config, tok Credentials, nonce string, unix int64) *Signer {
	t.Helper()
	cfg.Now = func() time.Time { return time.Unix(unix, 0) }
	cfg.OmitVersion = true // the RFC's examples send no oauth_version
	s, err := NewSigner(cfg, tok)
	if err != nil {
		t.Fatal(err)
	}
	s.nonce = func() (string, error) { return nonce, nil }
	return s
}

// headerParams reads name="value" pairs of an Authorization header.
func headerParams(t *testing.T, h string) map[string]string {
	t.Helper()
	if !strings.HasPrefix(h, "OAuth ") {
		t.Fatalf("header %q does not start with OAuth", h)
	}
	out := map[string]string{}
	for _, part := range strings.Split(h[len("OAuth "):], ", ") {
		name, quoted, ok := strings.Cut(part, "=")
		if !ok || len(quoted) < 2 {
			t.Fatalf("malformed header part %q", part)
		}
		v := quoted[1 : len(quoted)-1]
		if name != "realm" {
			var err error
			if v, err = url.PathUnescape(v); err != nil {
				t.Fatal(err)
			}
		}
		out[name] = v
	}
	return out
}

// TestRFC5849SignatureBaseString is the example of RFC 5849 §3.4.1.1:
// repeated names (a3 twice), empty values with and without "=", a value
// with a literal "%3D", "+" in a form body and an encoded "@" in a name.
func TestRFC5849SignatureBaseString(t *testing.T) {
	const want = "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7"
	u, _ := url.Parse("http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b")
	query, _ := ParseForm(u.RawQuery)
	body, _ := ParseForm("c2&a3=2+q")
	proto := []Param{{"oauth_consumer_key", "9djdj82h48djs9d2"}, {"oauth_token", "kkk9d7dh3k39sjv7"},
		{"oauth_signature_method", "HMAC-SHA1"}, {"oauth_timestamp", "137131201"}, {"oauth_nonce", "7d8f3e4a"}}
	uri, err := BaseStringURI(u, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := BaseString("POST", uri, append(append(query, body...), proto...)); got != want {
		t.Fatalf("base string\n got %s\nwant %s", got, want)
	}

	// The same request through Apply, and verified by the test provider.
	// The RFC prints bYT5CMsGcbgUdFHObYMEfcx6bsw= as its signature, which
	// does not match its own base string and secrets (j49sk3j29djd,
	// dh893hdasih9); HMAC-SHA1 over the string above gives r6/TJ…5g=.
	cfg := Config{ConsumerKey: "9djdj82h48djs9d2", ConsumerSecret: "j49sk3j29djd", SignatureMethod: HMACSHA1, Realm: "Example"}
	tok := Credentials{Token: "kkk9d7dh3k39sjv7", Secret: "dh893hdasih9"}
	s := fixed(t, cfg, tok, "7d8f3e4a", 137131201)
	req := httptest.NewRequest(http.MethodPost, "http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b", strings.NewReader("c2&a3=2+q"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if err := s.Apply(req); err != nil {
		t.Fatal(err)
	}
	hp := headerParams(t, req.Header.Get("Authorization"))
	if hp["oauth_signature"] != "r6/TJjbCOr97/+UU0NsvSne7s5g=" || hp["realm"] != "Example" {
		t.Fatalf("header params = %v", hp)
	}
	peer := oauth1test.NewUnstarted(t, oauth1test.Options{Now: func() time.Time { return time.Unix(137131201, 0) }})
	peer.AddConsumer(oauth1test.Consumer{Key: cfg.ConsumerKey, Secret: "j49sk3j29djd"})
	peer.AddToken(cfg.ConsumerKey, tok.Token, "dh893hdasih9")
	rec := httptest.NewRecorder()
	peer.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("provider refused the RFC request: %d %s", rec.Code, rec.Body)
	}
}

// TestRFC5849Section12Example signs the three requests of RFC 5849 §1.2
// and gets the RFC's signatures exactly.
func TestRFC5849Section12Example(t *testing.T) {
	cfg := Config{ConsumerKey: "dpf43f3p2l4k3l03", ConsumerSecret: "kd94hf93k423kf44", SignatureMethod: HMACSHA1, Realm: "Photos"}
	cases := []struct {
		name, method, url string
		tok               Credentials
		extra             []Param
		nonce             string
		ts                int64
		want              string
	}{
		{"temporary credentials", "POST", "https://photos.example.net/initiate", Credentials{},
			[]Param{{"oauth_callback", "http://printer.example.com/ready"}}, "wIjqoS", 137131200, "74KNZJeDHnMBp0EMJ9ZHt/XKycU="},
		{"token credentials", "POST", "https://photos.example.net/token", Credentials{Token: "hh5s93j4hdidpola", Secret: "hdhd0244k9j7ao03"},
			[]Param{{"oauth_verifier", "hfdp7dh39dks9884"}}, "walatlh", 137131201, "gKgrFCywp7rO0OXSjdot/IHF7IU="},
		{"protected resource", "GET", "http://photos.example.net/photos?file=vacation.jpg&size=original",
			Credentials{Token: "nnch734d00sl2jdk", Secret: "pfkkdhi9sl3r4s00"}, nil, "chapoH", 137131202, "MdpQcU8iPSUjWoN/UDMsK2sui9I="},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := fixed(t, cfg, c.tok, c.nonce, c.ts)
			u, _ := url.Parse(c.url)
			query, _ := ParseForm(u.RawQuery)
			h, err := s.header(c.method, u, "", query, c.extra)
			if err != nil {
				t.Fatal(err)
			}
			hp := headerParams(t, h)
			if hp["oauth_signature"] != c.want {
				t.Errorf("oauth_signature = %q, want %q (header %s)", hp["oauth_signature"], c.want, h)
			}
			if hp["realm"] != "Photos" || hp["oauth_nonce"] != c.nonce || hp["oauth_timestamp"] != fmt.Sprint(c.ts) {
				t.Errorf("header = %s", h)
			}
			if _, ok := hp["oauth_version"]; ok {
				t.Error("OmitVersion sent oauth_version")
			}
		})
	}
}

func TestPLAINTEXTSignatureIsTheEncodedSecrets(t *testing.T) {
	// RFC 5849 §2.1 and §2.3 examples.
	got, err := Sign(PLAINTEXT, "ignored", "ja893SD9", "", nil)
	if err != nil || got != "ja893SD9&" {
		t.Fatalf("PLAINTEXT without token = %q, %v", got, err)
	}
	got, _ = Sign(PLAINTEXT, "ignored", "ja893SD9", "xyz4992k83j47x0b", nil)
	if got != "ja893SD9&xyz4992k83j47x0b" {
		t.Fatalf("PLAINTEXT = %q", got)
	}
	got, _ = Sign(PLAINTEXT, "", "a b&c", "d+e", nil)
	if got != "a%20b%26c&d%2Be" {
		t.Fatalf("PLAINTEXT does not encode the secrets: %q", got)
	}
}

// ---- against the test provider ----

var rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

type provider struct {
	*oauth1test.Server
	key, secret string
}

func newProvider(t *testing.T, opts oauth1test.Options) *provider {
	p := &provider{Server: oauth1test.New(t, opts), key: "ck-" + t.Name(), secret: "cs s3cret&+/é"}
	p.AddConsumer(oauth1test.Consumer{Key: p.key, Secret: p.secret, PublicKey: &rsaKey().PublicKey})
	return p
}

func (p *provider) config(method string) Config {
	cfg := Config{ConsumerKey: p.key, SignatureMethod: method, Realm: "Test Realm"}
	if method == RSASHA1 {
		cfg.PrivateKey = rsaKey()
	} else {
		cfg.ConsumerSecret = secret.String(p.secret)
	}
	return cfg
}

// do signs and sends a request, returning the provider's echo.
func do(t *testing.T, s *Signer, method, rawURL, contentType, body string) (oauth1test.Echo, int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, rawURL, rd)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if err := s.Apply(req); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var echo oauth1test.Echo
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &echo); err != nil {
			t.Fatal(err)
		}
	}
	return echo, resp.StatusCode, string(b)
}

// TestSignerAgainstProvider: every method, with realm, query and form
// parameters that are repeated, empty and percent-encoded, is verified by
// a provider that recomputes the base string from the request as
// received.
func TestSignerAgainstProvider(t *testing.T) {
	p := newProvider(t, oauth1test.Options{})
	tok, tokSecret := p.IssueToken(p.key)
	requests := []struct {
		name, method, path, ctype, body string
		want                            [][2]string
	}{
		{"no parameters", "GET", "/r", "", "", [][2]string{}},
		{"repeated query names", "GET", "/r?a=2&a=1&a=2&b=x", "", "", [][2]string{{"a", "2"}, {"a", "1"}, {"a", "2"}, {"b", "x"}}},
		{"empty values", "GET", "/r?e=&f&g=1", "", "", [][2]string{{"e", ""}, {"f", ""}, {"g", "1"}}},
		{"percent-encoded", "GET", "/r%20v/X?b5=%3D%253D&c%40=&a2=r%20b&plus=a+b&pct=%2B%26%25", "", "",
			[][2]string{{"b5", "=%3D"}, {"c@", ""}, {"a2", "r b"}, {"plus", "a b"}, {"pct", "+&%"}}},
		{"unicode", "GET", "/r?q=%E2%82%AC%20%C3%A9", "", "", [][2]string{{"q", "€ é"}}},
		{"form body with repeats", "POST", "/r?a3=a", "application/x-www-form-urlencoded", "c2&a3=2+q&a3=a&z=",
			[][2]string{{"a3", "a"}, {"c2", ""}, {"a3", "2 q"}, {"a3", "a"}, {"z", ""}}},
		{"form body with charset", "PUT", "/r", "application/x-www-form-urlencoded; charset=utf-8", "k=v%21&k=v",
			[][2]string{{"k", "v!"}, {"k", "v"}}},
		{"JSON body is not signed", "POST", "/r?x=1", "application/json", `{"a":"b"}`, [][2]string{{"x", "1"}}},
		{"custom method", "PATCH", "/r?x=1", "", "", [][2]string{{"x", "1"}}},
	}
	for _, method := range Methods {
		cfg := p.config(method)
		s, err := NewSigner(cfg, Credentials{Token: tok, Secret: secret.String(tokSecret)})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range requests {
			t.Run(method+"/"+r.name, func(t *testing.T) {
				echo, status, body := do(t, s, r.method, p.ResourceURL(r.path), r.ctype, r.body)
				if status != http.StatusOK {
					t.Fatalf("provider answered %d: %s", status, body)
				}
				if !reflect.DeepEqual(echo.Params, r.want) || echo.Realm != "Test Realm" || echo.Token != tok || echo.Method != r.method {
					t.Errorf("echo = %+v, want params %q", echo, r.want)
				}
			})
		}
	}
}

// TestSignerRefusedWithWrongSecrets: the provider really checks.
func TestSignerRefusedWithWrongSecrets(t *testing.T) {
	p := newProvider(t, oauth1test.Options{})
	tok, tokSecret := p.IssueToken(p.key)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	cases := []struct {
		name string
		cfg  Config
		tok  Credentials
	}{
		{"consumer secret", Config{ConsumerKey: p.key, ConsumerSecret: "wrong", SignatureMethod: HMACSHA1}, Credentials{tok, secret.String(tokSecret)}},
		{"token secret", p.config(HMACSHA256), Credentials{tok, "wrong"}},
		{"RSA key", Config{ConsumerKey: p.key, PrivateKey: other, SignatureMethod: RSASHA1}, Credentials{tok, secret.String(tokSecret)}},
		{"PLAINTEXT", Config{ConsumerKey: p.key, ConsumerSecret: "wrong", SignatureMethod: PLAINTEXT}, Credentials{tok, secret.String(tokSecret)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := NewSigner(c.cfg, c.tok)
			if err != nil {
				t.Fatal(err)
			}
			_, status, body := do(t, s, "GET", p.ResourceURL("/r?a=1"), "", "")
			if status != http.StatusUnauthorized || !strings.Contains(body, "signature_invalid") {
				t.Fatalf("got %d %s", status, body)
			}
		})
	}
}

// TestEachRequestGetsFreshNonceAndTimestamp: a nonce is never reused and
// the timestamp follows the clock; a replayed request is refused.
func TestEachRequestGetsFreshNonceAndTimestamp(t *testing.T) {
	p := newProvider(t, oauth1test.Options{})
	tok, tokSecret := p.IssueToken(p.key)
	var mu sync.Mutex
	now := time.Now()
	cfg := p.config(HMACSHA1)
	cfg.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s, _ := NewSigner(cfg, Credentials{tok, secret.String(tokSecret)})

	seen := map[string]bool{}
	var seenMu sync.Mutex
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", p.ResourceURL("/r"), nil)
			if err := s.Apply(req); err != nil {
				t.Error(err)
				return
			}
			hp := headerParams(t, req.Header.Get("Authorization"))
			seenMu.Lock()
			if seen[hp["oauth_nonce"]] {
				t.Errorf("nonce %s reused", hp["oauth_nonce"])
			}
			seen[hp["oauth_nonce"]] = true
			seenMu.Unlock()
			if hp["oauth_timestamp"] != fmt.Sprint(now.Unix()) || hp["oauth_version"] != "1.0" {
				t.Errorf("header %v", hp)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("status %d", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	if p.Verified() != 50 {
		t.Fatalf("verified %d of 50", p.Verified())
	}
}

func TestReplayedRequestIsRefused(t *testing.T) {
	p := newProvider(t, oauth1test.Options{})
	tok, tokSecret := p.IssueToken(p.key)
	s, _ := NewSigner(p.config(HMACSHA1), Credentials{tok, secret.String(tokSecret)})
	req, _ := http.NewRequest("GET", p.ResourceURL("/r?a=1"), nil)
	if err := s.Apply(req); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{200, 401} {
		replay, _ := http.NewRequest("GET", req.URL.String(), nil)
		replay.Header = req.Header.Clone()
		resp, err := http.DefaultClient.Do(replay)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("attempt %d: %d %s", i, resp.StatusCode, b)
		}
		if i == 1 && !strings.Contains(string(b), "nonce_used") {
			t.Fatalf("replay refused for another reason: %s", b)
		}
	}
}

func TestTimestampOutsideWindowIsRefused(t *testing.T) {
	p := newProvider(t, oauth1test.Options{Window: time.Minute})
	tok, tokSecret := p.IssueToken(p.key)
	for _, skew := range []time.Duration{-2 * time.Minute, 2 * time.Minute} {
		cfg := p.config(HMACSHA1)
		cfg.Now = func() time.Time { return time.Now().Add(skew) }
		s, _ := NewSigner(cfg, Credentials{tok, secret.String(tokSecret)})
		if _, status, body := do(t, s, "GET", p.ResourceURL("/r"), "", ""); status != 401 || !strings.Contains(body, "timestamp_refused") {
			t.Errorf("skew %v: %d %s", skew, status, body)
		}
	}
}

// TestApplyKeepsTheBody: reading a form body to sign it leaves it intact
// for sending, with or without GetBody (the proxy's buffered bodies).
func TestApplyKeepsTheBody(t *testing.T) {
	s, _ := NewSigner(Config{ConsumerKey: "k", ConsumerSecret: "s", SignatureMethod: HMACSHA1}, Credentials{})
	const body = "a=1&b=2"
	for _, withGetBody := range []bool{true, false} {
		req, _ := http.NewRequest("POST", "https://api.example.com/x", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if !withGetBody {
			req.GetBody = nil
			req.Body = io.NopCloser(strings.NewReader(body))
		}
		if err := s.Apply(req); err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(req.Body)
		if string(got) != body || req.ContentLength != int64(len(body)) || req.GetBody == nil {
			t.Errorf("GetBody=%v: body after Apply = %q (length %d)", withGetBody, got, req.ContentLength)
		}
	}
}

func TestApplyRefuses(t *testing.T) {
	s, _ := NewSigner(Config{ConsumerKey: "k", ConsumerSecret: "s", SignatureMethod: HMACSHA1}, Credentials{Token: "t", Secret: "ts"})
	cases := []struct {
		name, url, ctype string
		body             io.Reader
		want             string
	}{
		{"oauth_ parameter in the query", "https://x.test/a?oauth_token=evil", "", nil, "oauth_"},
		{"oauth_ parameter in the body", "https://x.test/a", "application/x-www-form-urlencoded", strings.NewReader("oauth_verifier=1"), "oauth_"},
		{"malformed query", "https://x.test/a?q=%zz", "", nil, "malformed"},
		{"malformed form body", "https://x.test/a", "application/x-www-form-urlencoded", strings.NewReader("a=%"), "malformed"},
		{"form body too large", "https://x.test/a", "application/x-www-form-urlencoded", bytes.NewReader(bytes.Repeat([]byte("a"), MaxSignedBody+1)), "too large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", c.url, c.body)
			if c.ctype != "" {
				req.Header.Set("Content-Type", c.ctype)
			}
			err := s.Apply(req)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Apply = %v, want an error mentioning %q", err, c.want)
			}
			if req.Header.Get("Authorization") != "" {
				t.Error("a refused request was signed anyway")
			}
		})
	}
	if err := s.Apply(httptest.NewRequest("POST", "https://x.test/a", bytes.NewReader(bytes.Repeat([]byte("a"), MaxSignedBody+1)))); err != nil {
		t.Errorf("a large non-form body must not be read: %v", err)
	}
	if !errors.Is(s.Apply(func() *http.Request {
		r := httptest.NewRequest("POST", "https://x.test/a", bytes.NewReader(bytes.Repeat([]byte("a"), MaxSignedBody+1)))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return r
	}()), ErrBodyTooLarge) {
		t.Error("ErrBodyTooLarge is not wrapped")
	}
}

func TestConfigValidateNamesFields(t *testing.T) {
	cases := []struct {
		name  string
		cfg   Config
		field string
	}{
		{"no key", Config{SignatureMethod: HMACSHA1}, "consumer_key"},
		{"no method", Config{ConsumerKey: "k"}, "signature_method"},
		{"unknown method", Config{ConsumerKey: "k", SignatureMethod: "HMAC-MD5"}, "signature_method"},
		{"lower-case method", Config{ConsumerKey: "k", SignatureMethod: "hmac-sha1"}, "signature_method"},
		{"RSA without key", Config{ConsumerKey: "k", SignatureMethod: RSASHA1}, "consumer_secret"},
		{"RSA with secret", Config{ConsumerKey: "k", SignatureMethod: RSASHA1, PrivateKey: rsaKey(), ConsumerSecret: "s"}, "consumer_secret"},
		{"HMAC with key", Config{ConsumerKey: "k", SignatureMethod: HMACSHA1, PrivateKey: rsaKey()}, "signature_method"},
		{"secret with newline", Config{ConsumerKey: "k", SignatureMethod: HMACSHA1, ConsumerSecret: "a\nb"}, "consumer_secret"},
		{"key with control", Config{ConsumerKey: "k\x00", SignatureMethod: HMACSHA1}, "consumer_key"},
		{"realm with quote", Config{ConsumerKey: "k", SignatureMethod: HMACSHA1, Realm: `a"b`}, "realm"},
		{"long realm", Config{ConsumerKey: "k", SignatureMethod: HMACSHA1, Realm: strings.Repeat("r", 300)}, "realm"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			p, ok := problem.As(err)
			if !ok || p.Status != 400 || len(p.Errors) == 0 || p.Errors[0].Field != c.field {
				t.Fatalf("Validate = %v, want a 400 naming %s", err, c.field)
			}
			if _, err := NewSigner(c.cfg, Credentials{}); err == nil {
				t.Fatal("NewSigner accepted an invalid config")
			}
		})
	}
	for _, m := range []string{HMACSHA1, HMACSHA256, PLAINTEXT} {
		if err := (Config{ConsumerKey: "k", SignatureMethod: m}).Validate(); err != nil {
			t.Errorf("%s with an empty secret (legal in RFC 5849): %v", m, err)
		}
	}
	if err := (Credentials{Token: "t", Secret: ""}).Validate(); err == nil || !strings.Contains(err.Error(), "token_secret") {
		t.Errorf("Credentials.Validate = %v", err)
	}
}

// TestSecretsNeverPrinted: Config, Credentials and Signer redact
// themselves in every format, log line and JSON.
func TestSecretsNeverPrinted(t *testing.T) {
	const cs, ts = "consumer-canary-secret", "token-canary-secret"
	cfg := Config{ConsumerKey: "key", ConsumerSecret: cs, SignatureMethod: HMACSHA1}
	tok := Credentials{Token: "tok", Secret: ts}
	s, _ := NewSigner(cfg, tok)
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "cfg", cfg, "tok", tok, "signer", s)
	j1, _ := json.Marshal(cfg)
	j2, _ := json.Marshal(tok)
	j3, _ := json.Marshal(struct {
		C Config
		T Credentials
	}{cfg, tok})
	out := fmt.Sprintf("%v %+v %#v %s %v %+v %#v %v %+v", cfg, cfg, cfg, tok, tok, tok, tok, s, s) + logs.String() + string(j1) + string(j2) + string(j3)
	if strings.Contains(out, "canary") {
		t.Fatalf("a secret leaked: %s", out)
	}
}

// TestNetSuiteTokenBasedAuth: HMAC-SHA256, the account's realm and
// tokens issued out of band.
func TestNetSuiteTokenBasedAuth(t *testing.T) {
	for in, want := range map[string]string{"1234567": "1234567", "1234567-sb1": "1234567_SB1", "tstdrv12345": "TSTDRV12345", " 123_rp ": "123_RP"} {
		if got, ok := NetSuiteRealm(in); !ok || got != want {
			t.Errorf("NetSuiteRealm(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "12 34", "a/b", "1234567.app", "-x", strings.Repeat("1", 65)} {
		if _, ok := NetSuiteRealm(bad); ok {
			t.Errorf("NetSuiteRealm(%q) accepted", bad)
		}
	}
	p := newProvider(t, oauth1test.Options{})
	p.AddConsumer(oauth1test.Consumer{Key: "ns-consumer", Secret: "ns-secret", Methods: []string{HMACSHA256}})
	tokID, tokSecret := p.IssueToken("ns-consumer")
	realm, _ := NetSuiteRealm("1234567-sb1")
	s, err := NewSigner(Config{ConsumerKey: "ns-consumer", ConsumerSecret: "ns-secret", SignatureMethod: HMACSHA256, Realm: realm},
		Credentials{Token: tokID, Secret: secret.String(tokSecret)})
	if err != nil {
		t.Fatal(err)
	}
	echo, status, body := do(t, s, "GET", p.ResourceURL("/services/rest/record/v1/customer?limit=5&q=name%20IS%20x"), "", "")
	if status != 200 || echo.Realm != "1234567_SB1" {
		t.Fatalf("NetSuite-style request: %d %s %+v", status, body, echo)
	}
	s1, _ := NewSigner(Config{ConsumerKey: "ns-consumer", ConsumerSecret: "ns-secret", SignatureMethod: HMACSHA1, Realm: realm},
		Credentials{Token: tokID, Secret: secret.String(tokSecret)})
	if _, status, _ := do(t, s1, "GET", p.ResourceURL("/x"), "", ""); status != 400 {
		t.Fatalf("HMAC-SHA1 to a SHA-256-only consumer: %d", status)
	}
}

func TestParsePrivateKey(t *testing.T) {
	k := rsaKey()
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	pkcs8 := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	for _, text := range []string{pkcs1, pkcs8} {
		got, err := ParsePrivateKey(text)
		if err != nil || !got.Equal(k) {
			t.Fatalf("ParsePrivateKey: %v", err)
		}
	}
	if _, err := ParsePrivateKey("not pem"); err == nil {
		t.Fatal("garbage accepted")
	}
}
