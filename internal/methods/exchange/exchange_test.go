package exchange

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/methods/exchange/exchangetest"
	"github.com/stormcreds/storm/internal/oauth"
	"github.com/stormcreds/storm/internal/secret"
)

const testKey = "sk_live_exchange-canary-0123456789"

func mustParse(t *testing.T, doc, kind string) Config {
	t.Helper()
	c, err := ParseConfig(json.RawMessage(doc), kind)
	if err != nil {
		t.Fatalf("ParseConfig(%s): %v", doc, err)
	}
	return c
}

func newExchanger(t *testing.T, doc, kind string, cred Credential, opts Options) *Exchanger {
	t.Helper()
	if opts.HTTPClient == nil {
		opts.HTTPClient = http.DefaultClient
	}
	e, err := New(mustParse(t, doc, kind), kind, cred, opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// call uses a session token on the peer's resource as cfg applies it.
func call(t *testing.T, p *exchangetest.Server, a Apply, tok secret.String) int {
	t.Helper()
	req, _ := http.NewRequest("GET", p.ResourceURL()+"?page=1", nil)
	a.Set(req, tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestExchangeAgainstPeer: every request shape and lifetime spelling
// yields a session token the resource accepts, with the right expiry.
func TestExchangeAgainstPeer(t *testing.T) {
	p := exchangetest.New(t, exchangetest.Options{SessionTTL: 90 * time.Second})
	p.AddKey(testKey)
	p.AddUser("ada@example.com", "pa ss+wörd&=")
	now := time.Now().UTC().Truncate(time.Second)
	apiKey := Credential{APIKey: testKey}
	basic := Credential{Username: "ada@example.com", Password: "pa ss+wörd&="}
	cases := []struct {
		name, kind string
		cred       Credential
		doc        string
		lifetime   time.Duration
	}{
		{"API.md example", KindAPIKey, apiKey, apiDoc, 90 * time.Second},
		{"form", KindAPIKey, apiKey, `{"method":"POST","path":"/auth/form","form":{"key":"{{api_key}}"},"token_pointer":"/token","expires_in_pointer":"/expires_in_str","apply":{"in":"header","name":"X-Session-Token"}}`, 90 * time.Second},
		{"GET query", KindAPIKey, apiKey, `{"method":"GET","path":"/auth/query","form":{"key":"{{api_key}}"},"token_pointer":"/data/session/id","expires_at_pointer":"/expires_at","apply":{"in":"query","name":"session_token"}}`, 90 * time.Second},
		{"header", KindAPIKey, apiKey, `{"method":"POST","path":"/auth/header","headers":{"X-Api-Key":"{{api_key}}"},"token_pointer":"/data/list/0/t","expires_at_pointer":"/expires_at_unix","apply":{"in":"header","name":"Authorization","prefix":"Bearer "}}`, 90 * time.Second},
		{"milliseconds", KindAPIKey, apiKey, `{"method":"PUT","path":"/auth/session","body":{"key":"{{api_key}}"},"token_pointer":"/token","expires_at_pointer":"/expires_at_ms","apply":{"in":"header","name":"Authorization","prefix":"Bearer "}}`, 90 * time.Second},
		{"no lifetime: default TTL", KindAPIKey, apiKey, `{"method":"POST","path":"/auth/session","body":{"key":"{{api_key}}"},"token_pointer":"/token","apply":{"in":"header","name":"Authorization","prefix":"Bearer "}}`, DefaultTTL},
		{"basic, JSON", KindBasic, basic, `{"method":"POST","path":"/auth/session","body":{"username":"{{username}}","password":"{{password}}"},"token_pointer":"/token","expires_in_pointer":"/expires_in","apply":{"in":"header","name":"Authorization","prefix":"Bearer "}}`, 90 * time.Second},
		{"basic, form", KindBasic, basic, `{"method":"POST","path":"/auth/form","form":{"username":"{{username}}","password":"{{password}}"},"token_pointer":"/token","expires_in_pointer":"/expires_in","apply":{"in":"header","name":"Authorization","prefix":"Bearer "}}`, 90 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newExchanger(t, c.doc, c.kind, c.cred, Options{BaseURL: p.URL, Now: func() time.Time { return now }})
			ts, err := e.Refresh(context.Background(), oauth.TokenSet{})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(ts.AccessToken.Reveal(), "sess_") || ts.RefreshToken != "" || !ts.ObtainedAt.Equal(now) {
				t.Fatalf("token set %+v", ts)
			}
			if d := ts.Lifetime() - c.lifetime; d < -2*time.Second || d > 2*time.Second {
				t.Errorf("lifetime %v, want ≈ %v", ts.Lifetime(), c.lifetime)
			}
			if code := call(t, p, e.cfg.Apply, ts.AccessToken); code != 200 {
				t.Fatalf("resource answered %d", code)
			}
		})
	}
}

// TestExchangeBaseURLPrefix: the path is joined under the base URL's
// path, as the proxy joins request paths.
func TestExchangeBaseURLPrefix(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.RequestURI()
		w.Write([]byte(`{"token":"t"}`))
	}))
	defer srv.Close()
	e := newExchanger(t, `{"method":"GET","path":"/auth/session?v=2","form":{"key":"{{api_key}}"},"token_pointer":"/token","apply":{"in":"header","name":"X"}}`,
		KindAPIKey, Credential{APIKey: "k&y"}, Options{BaseURL: srv.URL + "/api/v1"})
	if _, err := e.Exchange(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got != "/api/v1/auth/session?v=2&key=k%26y" {
		t.Fatalf("request went to %q", got)
	}
}

// TestExchangeErrorsAreTyped: a refused key is final (and Refused), an
// outage temporary with its Retry-After; error texts never carry the
// credential, even when the provider echoes it.
func TestExchangeErrorsAreTyped(t *testing.T) {
	p := exchangetest.New(t, exchangetest.Options{EchoCredential: true})
	p.AddKey(testKey)
	e := newExchanger(t, apiDoc, KindAPIKey, Credential{APIKey: "sk_live_wrong-key-0123456789"}, Options{BaseURL: p.URL})
	_, err := e.Refresh(context.Background(), oauth.TokenSet{})
	var oe *oauth.Error
	if !errors.As(err, &oe) || oe.Temporary || !oe.GrantRevoked() || oe.Status != 401 || !Refused(err) {
		t.Fatalf("wrong key: %#v", err)
	}
	if strings.Contains(err.Error(), "wrong-key") || !strings.Contains(err.Error(), "[redacted]") {
		t.Fatalf("error text leaks the key or lost the message: %s", err)
	}

	good := newExchanger(t, apiDoc, KindAPIKey, Credential{APIKey: testKey}, Options{BaseURL: p.URL})
	for _, status := range []int{500, 503, 429} {
		p.FailNext(1, status)
		_, err := good.Refresh(context.Background(), oauth.TokenSet{})
		if !errors.As(err, &oe) || !oe.Temporary || oe.Status != status || oe.RetryAfter != 3*time.Second || Refused(err) {
			t.Errorf("HTTP %d: %#v", status, err)
		}
	}
	p.FailNext(1, 404)
	if _, err := good.Refresh(context.Background(), oauth.TokenSet{}); !errors.As(err, &oe) || oe.Temporary || Refused(err) {
		t.Errorf("HTTP 404: %#v", err)
	}

	answers := []struct {
		name, body string
		temporary  bool
		contains   string
	}{
		{"not JSON", `<html>maintenance</html>`, true, "not JSON"},
		{"no token", `{"session":{}}`, false, "nothing at token_pointer"},
		{"token not a string", `{"token":42}`, false, "not a non-empty string"},
		{"empty token", `{"token":""}`, false, "not a non-empty string"},
		{"bad lifetime", `{"token":"t","expires_in":"soon"}`, false, "expires_in_pointer"},
		{"negative lifetime", `{"token":"t","expires_in":-5}`, false, "expires_in_pointer"},
		{"too large", `{"token":"t","pad":"` + strings.Repeat("x", MaxResponse) + `"}`, false, "KiB"},
	}
	for _, a := range answers {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(a.body)) }))
		e := newExchanger(t, apiDoc, KindAPIKey, Credential{APIKey: testKey}, Options{BaseURL: srv.URL})
		_, err := e.Refresh(context.Background(), oauth.TokenSet{})
		if !errors.As(err, &oe) || oe.Temporary != a.temporary || !strings.Contains(err.Error(), a.contains) {
			t.Errorf("%s: %v (%#v)", a.name, err, err)
		}
		srv.Close()
	}

	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	e = newExchanger(t, apiDoc, KindAPIKey, Credential{APIKey: testKey}, Options{BaseURL: srv.URL})
	if _, err := e.Refresh(context.Background(), oauth.TokenSet{}); !errors.As(err, &oe) || !oe.Temporary || strings.Contains(err.Error(), testKey) {
		t.Errorf("unreachable: %#v", err)
	}
}

// TestCredentialNeverPrinted: Credential and Exchanger redact themselves.
func TestCredentialNeverPrinted(t *testing.T) {
	cred := Credential{APIKey: testKey, Username: "u", Password: "pw-canary-123"}
	e := newExchanger(t, apiDoc, KindAPIKey, cred, Options{BaseURL: "https://api.example.com"})
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "cred", cred, "e", e)
	j, _ := json.Marshal(struct{ C Credential }{cred})
	out := fmt.Sprintf("%v %+v %#v %v %+v", cred, cred, cred, e, e) + logs.String() + string(j)
	if strings.Contains(out, "canary") {
		t.Fatalf("leak: %s", out)
	}
}

func TestApplySetReplacesCallerQuery(t *testing.T) {
	req := httptest.NewRequest("GET", "https://x.test/a?session_token=forged&b=1&session%5Ftoken=forged2", nil)
	Apply{In: "query", Name: "session_token", Prefix: "p:"}.Set(req, "s3cret")
	if req.URL.RawQuery != "b=1&session_token=p%3As3cret" {
		t.Fatalf("query = %q", req.URL.RawQuery)
	}
	Apply{In: "header", Name: "Authorization", Prefix: "Bearer "}.Set(req, "s3cret")
	if req.Header.Get("Authorization") != "Bearer s3cret" {
		t.Fatal(req.Header)
	}
}

func TestNewChecksItsInputs(t *testing.T) {
	c := mustParse(t, apiDoc, KindAPIKey)
	for name, f := range map[string]func() error{
		"no client": func() error {
			_, err := New(c, KindAPIKey, Credential{APIKey: "k"}, Options{BaseURL: "https://x"})
			return err
		},
		"no key": func() error {
			_, err := New(c, KindAPIKey, Credential{}, Options{BaseURL: "https://x", HTTPClient: http.DefaultClient})
			return err
		},
		"relative base": func() error {
			_, err := New(c, KindAPIKey, Credential{APIKey: "k"}, Options{BaseURL: "/x", HTTPClient: http.DefaultClient})
			return err
		},
		"base with creds": func() error {
			_, err := New(c, KindAPIKey, Credential{APIKey: "k"}, Options{BaseURL: "https://u:p@x", HTTPClient: http.DefaultClient})
			return err
		},
		"wrong kind": func() error {
			_, err := New(c, KindBasic, Credential{Username: "u"}, Options{BaseURL: "https://x", HTTPClient: http.DefaultClient})
			return err
		},
	} {
		if f() == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

// tokenCache stands in for the token engine: one exchange at a time,
// renewal when the token is no longer fresh (oauth.TokenSet.FreshAt, the
// engine's rule for handing a token out), and on a 401 a new exchange
// only if nobody replaced the refused token meanwhile.
type tokenCache struct {
	src Source
	mu  sync.Mutex
	cur oauth.TokenSet
}

// Source is what the token engine calls (tokens.Source).
type Source interface {
	Refresh(ctx context.Context, old oauth.TokenSet) (oauth.TokenSet, error)
	Margin() time.Duration
}

var _ Source = (*Exchanger)(nil)

func (c *tokenCache) get(refused secret.String) (oauth.TokenSet, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur.FreshAt(time.Now()) && (refused == "" || c.cur.AccessToken != refused) {
		return c.cur, nil
	}
	ts, err := c.src.Refresh(context.Background(), c.cur)
	if err != nil {
		return oauth.TokenSet{}, err
	}
	c.cur = ts
	return ts, nil
}

// TestSustainedTrafficWithShortSessions: 2-second sessions under
// continuous traffic from 16 goroutines for 6 seconds, with every session
// ended once midway: no request fails, sessions are renewed before they
// expire (about one exchange per second), never one per request, and the
// forced 401s cost one extra exchange.
func TestSustainedTrafficWithShortSessions(t *testing.T) {
	p := exchangetest.New(t, exchangetest.Options{SessionTTL: 2 * time.Second})
	p.AddKey(testKey)
	e := newExchanger(t, apiDoc, KindAPIKey, Credential{APIKey: testKey}, Options{BaseURL: p.URL})
	cache := &tokenCache{src: e}
	var requests, failed, retried atomic.Int64
	deadline := time.Now().Add(6 * time.Second)
	ended := make(chan struct{})
	go func() {
		time.Sleep(3 * time.Second)
		p.EndAllSessions()
		close(ended)
	}()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				ts, err := cache.get("")
				if err != nil {
					t.Error(err)
					return
				}
				code := call(t, p, e.cfg.Apply, ts.AccessToken)
				if code == http.StatusUnauthorized { // the proxy's one retry
					retried.Add(1)
					if ts, err = cache.get(ts.AccessToken); err == nil {
						code = call(t, p, e.cfg.Apply, ts.AccessToken)
					}
				}
				requests.Add(1)
				if code != 200 {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	<-ended
	n := p.Exchanges()
	t.Logf("%d requests in 6 s, %d failed, %d exchanges, %d retried after the forced 401", requests.Load(), failed.Load(), n, retried.Load())
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed", failed.Load(), requests.Load())
	}
	// Renewed with half the 2 s life left: ≈ 6 in 6 s, plus the one the
	// forced 401s cost.
	if n < 5 || n > 9 {
		t.Fatalf("%d exchanges for %d requests", n, requests.Load())
	}
	if retried.Load() == 0 {
		t.Fatal("ending the sessions forced no 401: the test did not test the retry")
	}
}
