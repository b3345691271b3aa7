package serviceaccount

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	josejwt "github.com/go-jose/go-jose/v3/jwt"

	"github.com/stormcreds/storm/internal/oauth"
	"github.com/stormcreds/storm/internal/oauth/oauthtest"
)

// ---- helpers (prefixed: other files of this package have tests too) ----

// mintRSAKeys are generated once: RSA generation is slow under -race.
var mintRSAKeys = sync.OnceValue(func() []*rsa.PrivateKey {
	keys := make([]*rsa.PrivateKey, 3)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	return keys
})

func mintECKey(t *testing.T, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mintPEM(t *testing.T, key crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// mintRecorder is a transport that records every request's headers and
// form before passing it on.
type mintRecorder struct {
	mu       sync.Mutex
	forms    []url.Values
	headers  []http.Header
	delegate http.RoundTripper
}

func (r *mintRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	req.Body.Close()
	form, _ := url.ParseQuery(string(body))
	r.mu.Lock()
	r.forms = append(r.forms, form)
	r.headers = append(r.headers, req.Header.Clone())
	r.mu.Unlock()
	req = req.Clone(req.Context())
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	return r.delegate.RoundTrip(req)
}

func (r *mintRecorder) last() (url.Values, http.Header) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.forms[len(r.forms)-1], r.headers[len(r.headers)-1]
}

func mintClient() (*http.Client, *mintRecorder) {
	rec := &mintRecorder{delegate: http.DefaultTransport}
	return &http.Client{Transport: rec, Timeout: 10 * time.Second}, rec
}

// mintClock is a fixed clock close to the real one (real servers check
// assertion times against their own clock).
func mintClock() (time.Time, func() time.Time) {
	now := time.Now().UTC().Truncate(time.Second)
	return now, func() time.Time { return now }
}

func mintNew(t *testing.T, m Material, cfg MintConfig) Minter {
	t.Helper()
	mn, err := NewMinter(m, cfg)
	if err != nil {
		t.Fatalf("NewMinter: %v", err)
	}
	return mn
}

func mintOAuthError(t *testing.T, err error) *oauth.Error {
	t.Helper()
	var oe *oauth.Error
	if !errors.As(err, &oe) {
		t.Fatalf("error %v (%T) is not an *oauth.Error", err, err)
	}
	return oe
}

// mintNoLeak fails when err's text contains any of secrets.
func mintNoLeak(t *testing.T, err error, secrets ...string) {
	t.Helper()
	msg := err.Error()
	for _, s := range append(secrets, "PRIVATE KEY", "eyJ") {
		if s != "" && strings.Contains(msg, s) {
			t.Errorf("error %q leaks %.20q…", msg, s)
		}
	}
}

func mintUserinfoSub(t *testing.T, s *oauthtest.Server, token string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.UserinfoURL(), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Sub string `json:"sub"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != 200 {
		t.Fatalf("userinfo: HTTP %d", resp.StatusCode)
	}
	return body.Sub
}

func mintCheckLifetime(t *testing.T, ts oauth.TokenSet, now time.Time, want time.Duration) {
	t.Helper()
	if !ts.ObtainedAt.Equal(now) {
		t.Errorf("ObtainedAt = %v, want %v", ts.ObtainedAt, now)
	}
	if got := ts.Lifetime(); got < want-5*time.Second || got > want+time.Second {
		t.Errorf("lifetime = %v, want ≈ %v (expiry %v)", got, want, ts.Expiry)
	}
}

// ---- client_credentials with a client secret (oauthtest / fosite) ----

func TestMintClientCredentialsSecret(t *testing.T) {
	s := oauthtest.New(t, oauthtest.Options{})
	s.AddClient(oauthtest.Client{ID: "svc-cc", Secret: "svc-cc-s3cret"})
	m := Material{Kind: KindClientCredentials, ClientID: "svc-cc", ClientSecret: "svc-cc-s3cret"}

	for _, style := range []string{"", "basic", "post"} {
		t.Run("style="+style, func(t *testing.T) {
			hc, rec := mintClient()
			now, clock := mintClock()
			mn := mintNew(t, m, MintConfig{TokenURL: s.TokenURL(), Scopes: []string{"read", "write"}, AuthStyle: style, HTTPClient: hc, Now: clock})
			ts, err := mn.Refresh(context.Background(), oauth.TokenSet{RefreshToken: "ignored"})
			if err != nil {
				t.Fatal(err)
			}
			if !s.Valid(ts.AccessToken.Reveal()) {
				t.Error("minted token is not valid at the server")
			}
			if ts.Scope != "read write" || !strings.EqualFold(ts.TokenType, "bearer") || ts.RefreshToken != "" {
				t.Errorf("token set = scope %q type %q refresh %v", ts.Scope, ts.TokenType, ts.RefreshToken != "")
			}
			mintCheckLifetime(t, ts, now, time.Hour)
			if sub := mintUserinfoSub(t, s, ts.AccessToken.Reveal()); sub != "svc-cc" {
				t.Errorf("sub = %q", sub)
			}
			form, hdr := rec.last()
			if form.Get("grant_type") != "client_credentials" {
				t.Errorf("grant_type = %q", form.Get("grant_type"))
			}
			inForm := form.Get("client_secret") != ""
			inHeader := strings.HasPrefix(hdr.Get("Authorization"), "Basic ")
			if style == "post" && (!inForm || inHeader) || style != "post" && (inForm || !inHeader) {
				t.Errorf("style %q: secret in form %v, in header %v", style, inForm, inHeader)
			}
		})
	}
}

func TestMintClientCredentialsErrors(t *testing.T) {
	s := oauthtest.New(t, oauthtest.Options{})
	s.AddClient(oauthtest.Client{ID: "svc-cc", Secret: "svc-cc-s3cret"})
	hc, _ := mintClient()

	t.Run("wrong secret is final", func(t *testing.T) {
		mn := mintNew(t, Material{Kind: KindClientCredentials, ClientID: "svc-cc", ClientSecret: "wrong-s3cret-value"},
			MintConfig{TokenURL: s.TokenURL(), HTTPClient: hc})
		_, err := mn.Refresh(context.Background(), oauth.TokenSet{})
		oe := mintOAuthError(t, err)
		if oe.Code != "invalid_client" || oe.Temporary || !oe.GrantRevoked() || oe.Status != http.StatusUnauthorized {
			t.Errorf("err = %+v", oe)
		}
		mintNoLeak(t, err, "wrong-s3cret-value")
	})
	t.Run("503 is temporary", func(t *testing.T) {
		mn := mintNew(t, Material{Kind: KindClientCredentials, ClientID: "svc-cc", ClientSecret: "svc-cc-s3cret"},
			MintConfig{TokenURL: s.TokenURL(), HTTPClient: hc})
		s.FailNext(1, http.StatusServiceUnavailable)
		_, err := mn.Refresh(context.Background(), oauth.TokenSet{})
		oe := mintOAuthError(t, err)
		if !oe.Temporary || oe.GrantRevoked() || oe.Status != http.StatusServiceUnavailable {
			t.Errorf("err = %+v", oe)
		}
		if _, err := mn.Refresh(context.Background(), oauth.TokenSet{}); err != nil {
			t.Errorf("after the failure: %v", err)
		}
	})
	t.Run("unreachable is temporary", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		mn := mintNew(t, Material{Kind: KindClientCredentials, ClientID: "svc-cc", ClientSecret: "svc-cc-s3cret"},
			MintConfig{TokenURL: dead.URL + "/token", HTTPClient: hc})
		_, err := mn.Refresh(context.Background(), oauth.TokenSet{})
		if oe := mintOAuthError(t, err); !oe.Temporary || oe.Status != 0 {
			t.Errorf("err = %+v", oe)
		}
		mintNoLeak(t, err, "svc-cc-s3cret")
	})
	t.Run("missing expires_in", func(t *testing.T) {
		mn := mintNew(t, Material{Kind: KindClientCredentials, ClientID: "svc-cc", ClientSecret: "svc-cc-s3cret"},
			MintConfig{TokenURL: s.TokenURL(), HTTPClient: hc})
		s.OmitExpiresIn(true)
		defer s.OmitExpiresIn(false)
		ts, err := mn.Refresh(context.Background(), oauth.TokenSet{})
		if err != nil {
			t.Fatal(err)
		}
		if l := ts.Lifetime(); l != oauth.DefaultTTL {
			t.Errorf("lifetime without expires_in = %v, want %v", l, oauth.DefaultTTL)
		}
	})
}

// ---- client_credentials with private_key_jwt (RFC 7523 §2.2) ----

// mintAssertionServer is a token endpoint that authenticates clients by
// private_key_jwt: it verifies the client_assertion's signature with the
// registered public key and checks alg, kid, iss, sub, aud, exp, iat and
// jti (replays are refused).
type mintAssertionServer struct {
	*httptest.Server
	t        *testing.T
	clientID string
	kid      string
	pub      crypto.PublicKey
	alg      string

	mu   sync.Mutex
	seen map[string]bool
}

func newMintAssertionServer(t *testing.T, clientID, kid string, pub crypto.PublicKey, alg string) *mintAssertionServer {
	a := &mintAssertionServer{t: t, clientID: clientID, kid: kid, pub: pub, alg: alg, seen: map[string]bool{}}
	a.Server = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.Close)
	return a
}

func (a *mintAssertionServer) TokenURL() string { return a.URL + "/oauth2/token" }

func (a *mintAssertionServer) fail(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func (a *mintAssertionServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/oauth2/token" {
		http.NotFound(w, r)
		return
	}
	if err := r.ParseForm(); err != nil {
		a.fail(w, 400, "invalid_request", "bad form")
		return
	}
	f := r.PostForm
	if f.Get("grant_type") != "client_credentials" ||
		f.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" ||
		r.Header.Get("Authorization") != "" || f.Has("client_secret") {
		a.fail(w, 400, "invalid_request", "want client_credentials with a JWT client assertion only")
		return
	}
	if id := f.Get("client_id"); id != "" && id != a.clientID {
		a.fail(w, 401, "invalid_client", "unknown client")
		return
	}
	tok, err := josejwt.ParseSigned(f.Get("client_assertion"))
	if err != nil || len(tok.Headers) != 1 {
		a.fail(w, 400, "invalid_request", "client_assertion is not a JWS")
		return
	}
	if h := tok.Headers[0]; h.Algorithm != a.alg || h.KeyID != a.kid {
		a.fail(w, 401, "invalid_client", fmt.Sprintf("header alg %q kid %q", h.Algorithm, h.KeyID))
		return
	}
	var c josejwt.Claims
	if err := tok.Claims(a.pub, &c); err != nil {
		a.fail(w, 401, "invalid_client", "signature verification failed")
		return
	}
	if err := c.ValidateWithLeeway(josejwt.Expected{Issuer: a.clientID, Subject: a.clientID,
		Audience: josejwt.Audience{a.TokenURL()}, Time: time.Now()}, 5*time.Second); err != nil {
		a.fail(w, 401, "invalid_client", "claims: "+err.Error())
		return
	}
	if c.Expiry == nil || c.IssuedAt == nil || c.Expiry.Time().Sub(c.IssuedAt.Time()) > 60*time.Second || c.ID == "" {
		a.fail(w, 401, "invalid_client", "exp, iat (exp ≤ iat+60s) and jti are required")
		return
	}
	a.mu.Lock()
	replay := a.seen[c.ID]
	a.seen[c.ID] = true
	a.mu.Unlock()
	if replay {
		a.fail(w, 401, "invalid_client", "jti replayed")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"access_token": "at-" + c.ID, "token_type": "Bearer", "expires_in": "600", "scope": f.Get("scope")})
}

func TestMintClientCredentialsPrivateKeyJWT(t *testing.T) {
	cases := []struct {
		name string
		key  crypto.Signer
		alg  string
	}{
		{"RSA", mintRSAKeys()[0], "RS256"},
		{"EC P-256", mintECKey(t, elliptic.P256()), "ES256"},
		{"EC P-384", mintECKey(t, elliptic.P384()), "ES384"},
		{"EC P-521", mintECKey(t, elliptic.P521()), "ES512"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := newMintAssertionServer(t, "cc-client", "key-2024", tc.key.Public(), tc.alg)
			hc, rec := mintClient()
			now, clock := mintClock()
			m := Material{Kind: KindClientCredentials, ClientID: "cc-client", KeyPEM: mintPEM(t, tc.key), KeyID: "key-2024"}
			mn := mintNew(t, m, MintConfig{TokenURL: srv.TokenURL(), Scopes: []string{"api.read", "api.write"}, HTTPClient: hc, Now: clock})

			ts1, err := mn.Refresh(context.Background(), oauth.TokenSet{})
			if err != nil {
				t.Fatal(err)
			}
			form1, _ := rec.last()
			ts2, err := mn.Refresh(context.Background(), ts1)
			if err != nil {
				t.Fatalf("second mint (fresh jti): %v", err)
			}
			if ts1.AccessToken == ts2.AccessToken {
				t.Error("two mints reused a jti")
			}
			if ts2.Scope != "api.read api.write" || ts2.TokenType != "Bearer" {
				t.Errorf("scope %q type %q", ts2.Scope, ts2.TokenType)
			}
			mintCheckLifetime(t, ts2, now, 10*time.Minute) // expires_in sent as a string

			// The server refuses a replayed assertion: the minter never
			// sends one.
			resp, err := http.PostForm(srv.TokenURL(), form1)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 401 {
				t.Errorf("replayed client assertion: HTTP %d", resp.StatusCode)
			}
		})
	}

	t.Run("wrong key is final", func(t *testing.T) {
		registered := mintECKey(t, elliptic.P256())
		srv := newMintAssertionServer(t, "cc-client", "k1", registered.Public(), "ES256")
		other := mintECKey(t, elliptic.P256())
		otherPEM := mintPEM(t, other)
		hc, rec := mintClient()
		mn := mintNew(t, Material{Kind: KindClientCredentials, ClientID: "cc-client", KeyPEM: otherPEM, KeyID: "k1"},
			MintConfig{TokenURL: srv.TokenURL(), HTTPClient: hc})
		_, err := mn.Refresh(context.Background(), oauth.TokenSet{})
		oe := mintOAuthError(t, err)
		if oe.Code != "invalid_client" || oe.Temporary || !oe.GrantRevoked() {
			t.Errorf("err = %+v", oe)
		}
		form, _ := rec.last()
		mintNoLeak(t, err, form.Get("client_assertion"), otherPEM)
	})
}

// ---- jwt_bearer (RFC 7523 §2.1) against oauthtest (fosite) ----

func TestMintJWTBearer(t *testing.T) {
	cases := []struct {
		name string
		key  crypto.Signer
	}{
		{"RSA", mintRSAKeys()[1]},
		{"EC P-256", mintECKey(t, elliptic.P256())},
		{"EC P-384", mintECKey(t, elliptic.P384())},
	}
	s := oauthtest.New(t, oauthtest.Options{})
	for i, tc := range cases {
		for _, style := range []string{"basic", "post"} {
			t.Run(tc.name+"/"+style, func(t *testing.T) {
				iss := fmt.Sprintf("https://idp-%d-%s.example", i, style)
				s.AddJWTBearerKey(iss, "svc-account", "kid-1", tc.key.Public())
				hc, rec := mintClient()
				now, clock := mintClock()
				mn := mintNew(t, Material{Kind: KindJWTBearer, KeyPEM: mintPEM(t, tc.key), KeyID: "kid-1"}, MintConfig{
					TokenURL: s.TokenURL(), Issuer: iss, Subject: "svc-account", Scopes: []string{"read", "write"},
					ClientID: oauthtest.DefaultClientID, ClientSecret: oauthtest.DefaultClientSecret, AuthStyle: style,
					HTTPClient: hc, Now: clock,
				})

				// Two mints: each has its own jti, so both succeed.
				ts1, err := mn.Refresh(context.Background(), oauth.TokenSet{})
				if err != nil {
					t.Fatal(err)
				}
				form1, hdr1 := rec.last()
				ts2, err := mn.Refresh(context.Background(), ts1)
				if err != nil {
					t.Fatalf("second mint: %v", err)
				}
				form2, _ := rec.last()
				for _, ts := range []oauth.TokenSet{ts1, ts2} {
					if !s.Valid(ts.AccessToken.Reveal()) {
						t.Error("minted token is not valid at the server")
					}
					if ts.Scope != "read write" {
						t.Errorf("scope = %q", ts.Scope)
					}
					mintCheckLifetime(t, ts, now, time.Hour)
				}
				if sub := mintUserinfoSub(t, s, ts2.AccessToken.Reveal()); sub != "svc-account" {
					t.Errorf("sub = %q", sub)
				}

				c1, h1 := mintAssertionClaims(t, form1.Get("assertion"), tc.key.Public())
				c2, _ := mintAssertionClaims(t, form2.Get("assertion"), tc.key.Public())
				if c1.ID == c2.ID || len(c1.ID) < 22 {
					t.Errorf("jti %q then %q", c1.ID, c2.ID)
				}
				wantAlg := map[string]string{"RSA": "RS256", "EC P-256": "ES256", "EC P-384": "ES384"}[tc.name]
				if h1.Algorithm != wantAlg || h1.KeyID != "kid-1" {
					t.Errorf("header alg %q kid %q", h1.Algorithm, h1.KeyID)
				}
				if c1.Issuer != iss || c1.Subject != "svc-account" || len(c1.Audience) != 1 || c1.Audience[0] != s.TokenURL() ||
					!c1.IssuedAt.Time().Equal(now) || !c1.Expiry.Time().Equal(now.Add(30*time.Second)) {
					t.Errorf("claims = %+v", c1)
				}
				if form1.Get("grant_type") != GrantTypeJWTBearer || form1.Get("scope") != "read write" {
					t.Errorf("form grant_type %q scope %q", form1.Get("grant_type"), form1.Get("scope"))
				}
				inForm := form1.Get("client_secret") != ""
				inHeader := hdr1.Get("Authorization") != ""
				if style == "post" && (!inForm || inHeader) || style == "basic" && (inForm || !inHeader) {
					t.Errorf("client auth in form %v, in header %v", inForm, inHeader)
				}

				// The server refuses a replayed assertion.
				req, _ := http.NewRequest(http.MethodPost, s.TokenURL(), strings.NewReader(form1.Encode()))
				req.Header = hdr1.Clone()
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode == 200 {
					t.Error("the server accepted a replayed assertion")
				}
			})
		}
	}
}

func mintAssertionClaims(t *testing.T, assertion string, pub crypto.PublicKey) (josejwt.Claims, jose.Header) {
	t.Helper()
	tok, err := josejwt.ParseSigned(assertion)
	if err != nil {
		t.Fatalf("assertion: %v", err)
	}
	var c josejwt.Claims
	if err := tok.Claims(pub, &c); err != nil {
		t.Fatalf("assertion signature: %v", err)
	}
	return c, tok.Headers[0]
}

func TestMintJWTBearerErrors(t *testing.T) {
	s := oauthtest.New(t, oauthtest.Options{})
	registered := mintRSAKeys()[1]
	s.AddJWTBearerKey("https://idp.example", "svc-account", "k1", registered.Public())
	cfg := func(hc *http.Client) MintConfig {
		return MintConfig{TokenURL: s.TokenURL(), Issuer: "https://idp.example", Subject: "svc-account",
			ClientID: oauthtest.DefaultClientID, ClientSecret: oauthtest.DefaultClientSecret, HTTPClient: hc}
	}

	t.Run("a different key is final", func(t *testing.T) {
		otherPEM := mintPEM(t, mintRSAKeys()[2])
		hc, rec := mintClient()
		mn := mintNew(t, Material{Kind: KindJWTBearer, KeyPEM: otherPEM, KeyID: "k1"}, cfg(hc))
		_, err := mn.Refresh(context.Background(), oauth.TokenSet{})
		oe := mintOAuthError(t, err)
		if oe.Code != "invalid_grant" || oe.Temporary || !oe.GrantRevoked() || oe.Status != http.StatusBadRequest {
			t.Errorf("err = %+v", oe)
		}
		form, _ := rec.last()
		mintNoLeak(t, err, form.Get("assertion"), otherPEM, oauthtest.DefaultClientSecret)
	})
	t.Run("an EC key where RSA is registered is final", func(t *testing.T) {
		hc, _ := mintClient()
		mn := mintNew(t, Material{Kind: KindJWTBearer, KeyPEM: mintPEM(t, mintECKey(t, elliptic.P256())), KeyID: "k1"}, cfg(hc))
		_, err := mn.Refresh(context.Background(), oauth.TokenSet{})
		if oe := mintOAuthError(t, err); oe.Temporary || !oe.GrantRevoked() {
			t.Errorf("err = %+v", oe)
		}
	})
	t.Run("503 is temporary", func(t *testing.T) {
		hc, _ := mintClient()
		mn := mintNew(t, Material{Kind: KindJWTBearer, KeyPEM: mintPEM(t, registered), KeyID: "k1"}, cfg(hc))
		s.FailNext(1, http.StatusServiceUnavailable)
		_, err := mn.Refresh(context.Background(), oauth.TokenSet{})
		oe := mintOAuthError(t, err)
		if !oe.Temporary || oe.GrantRevoked() || oe.Status != 503 || oe.Code != "temporarily_unavailable" {
			t.Errorf("err = %+v", oe)
		}
		if _, err := mn.Refresh(context.Background(), oauth.TokenSet{}); err != nil {
			t.Errorf("after the failure: %v", err)
		}
	})
	t.Run("no client authentication is refused", func(t *testing.T) {
		hc, _ := mintClient()
		c := cfg(hc)
		c.ClientID, c.ClientSecret = "", ""
		mn := mintNew(t, Material{Kind: KindJWTBearer, KeyPEM: mintPEM(t, registered), KeyID: "k1"}, c)
		_, err := mn.Refresh(context.Background(), oauth.TokenSet{})
		if oe := mintOAuthError(t, err); oe.Temporary || oe.Status < 400 {
			t.Errorf("err = %+v", oe)
		}
	})
	t.Run("cancelled context is temporary", func(t *testing.T) {
		hc, _ := mintClient()
		mn := mintNew(t, Material{Kind: KindJWTBearer, KeyPEM: mintPEM(t, registered), KeyID: "k1"}, cfg(hc))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := mn.Refresh(ctx, oauth.TokenSet{})
		if oe := mintOAuthError(t, err); !oe.Temporary || !errors.Is(err, context.Canceled) {
			t.Errorf("err = %+v", oe)
		}
	})
	t.Run("missing expires_in: JWT exp, else default", func(t *testing.T) {
		hc, _ := mintClient()
		now, clock := mintClock()
		c := cfg(hc)
		c.Now = clock
		mn := mintNew(t, Material{Kind: KindJWTBearer, KeyPEM: mintPEM(t, registered), KeyID: "k1"}, c)
		s.OmitExpiresIn(true)
		defer s.OmitExpiresIn(false)
		ts, err := mn.Refresh(context.Background(), oauth.TokenSet{})
		if err != nil {
			t.Fatal(err)
		}
		if !ts.Expiry.Equal(now.Add(oauth.DefaultTTL)) {
			t.Errorf("opaque token without expires_in: expiry %v, want %v", ts.Expiry, now.Add(oauth.DefaultTTL))
		}
		s.JWTAccessTokens(true)
		defer s.JWTAccessTokens(false)
		ts, err = mn.Refresh(context.Background(), oauth.TokenSet{})
		if err != nil {
			t.Fatal(err)
		}
		exp, ok := oauth.JWTExpiry(ts.AccessToken.Reveal())
		if !ok || !ts.Expiry.Equal(exp) {
			t.Errorf("JWT access token without expires_in: expiry %v, want its exp %v", ts.Expiry, exp)
		}
	})
}

// ---- google ----

// mintGoogleServer is a Google-style token endpoint: it verifies the
// RS256 assertion of the JWT bearer grant with the service account's
// public key and checks kid, iss, aud, scope and sub.
type mintGoogleServer struct {
	*httptest.Server
	pub      *rsa.PublicKey
	kid      string
	email    string
	aud      func() string
	wantSub  string
	wantScop string
	status   int // answer this error status instead, when set
}

func (g *mintGoogleServer) serve(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code, desc string) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	if g.status != 0 {
		fail(g.status, "internal_failure", "try again")
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/token" || r.ParseForm() != nil {
		fail(400, "invalid_request", "bad request")
		return
	}
	if r.PostForm.Get("grant_type") != GrantTypeJWTBearer {
		fail(400, "unsupported_grant_type", "Invalid grant_type")
		return
	}
	jws, err := jose.ParseSigned(r.PostForm.Get("assertion"))
	if err != nil || len(jws.Signatures) != 1 {
		fail(400, "invalid_grant", "Invalid JWT")
		return
	}
	if h := jws.Signatures[0].Header; h.Algorithm != "RS256" || h.KeyID != g.kid {
		fail(400, "invalid_grant", "Invalid JWT header")
		return
	}
	payload, err := jws.Verify(g.pub)
	if err != nil {
		fail(400, "invalid_grant", "Invalid JWT Signature.")
		return
	}
	var c struct {
		Iss, Scope, Aud, Sub string
		Iat, Exp             int64
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		fail(400, "invalid_grant", "Invalid JWT claims")
		return
	}
	now := time.Now().Unix()
	switch {
	case c.Iss != g.email:
		fail(401, "invalid_client", "The OAuth client was not found.")
	case c.Aud != g.aud():
		fail(400, "invalid_grant", "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe (aud)")
	case c.Iat > now+60 || c.Exp < now || c.Exp-c.Iat > 3600:
		fail(400, "invalid_grant", "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe")
	case c.Scope != g.wantScop:
		fail(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
	case c.Sub != g.wantSub:
		fail(401, "unauthorized_client", "Client is unauthorized to retrieve access tokens using this method.")
	default:
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		json.NewEncoder(w).Encode(map[string]any{"access_token": "ya29.minted-for-" + c.Sub, "expires_in": 3599, "token_type": "Bearer"})
	}
}

func mintGoogleFile(t *testing.T, key *rsa.PrivateKey, kid, email, tokenURI string) []byte {
	t.Helper()
	f := map[string]string{
		"type": "service_account", "project_id": "storm-test", "private_key_id": kid,
		"private_key": mintPEM(t, key), "client_email": email, "client_id": "1234567890",
		"auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": tokenURI,
	}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMintGoogle(t *testing.T) {
	key := mintRSAKeys()[0]
	const email = "storm@storm-test.iam.gserviceaccount.com"
	const kid = "0123456789abcdef0123456789abcdef01234567"
	scopes := []string{"https://www.googleapis.com/auth/drive.readonly", "https://www.googleapis.com/auth/gmail.readonly"}

	newServer := func(t *testing.T, sub string) *mintGoogleServer {
		g := &mintGoogleServer{pub: &key.PublicKey, kid: kid, email: email, wantSub: sub, wantScop: strings.Join(scopes, " ")}
		g.Server = httptest.NewServer(http.HandlerFunc(g.serve))
		g.aud = func() string { return g.URL + "/token" }
		t.Cleanup(g.Close)
		return g
	}

	for _, sub := range []string{"", "admin@example.com"} {
		t.Run("subject="+sub, func(t *testing.T) {
			g := newServer(t, sub)
			hc, _ := mintClient()
			now, clock := mintClock()
			m := Material{Kind: KindGoogle, Google: mintGoogleFile(t, key, kid, email, g.URL+"/token")}
			mn := mintNew(t, m, MintConfig{Subject: sub, Scopes: scopes, HTTPClient: hc, Now: clock})
			ts, err := mn.Refresh(context.Background(), oauth.TokenSet{})
			if err != nil {
				t.Fatal(err)
			}
			if ts.AccessToken.Reveal() != "ya29.minted-for-"+sub || ts.TokenType != "Bearer" {
				t.Errorf("token = %q %q", ts.AccessToken.Reveal(), ts.TokenType)
			}
			if !ts.ObtainedAt.Equal(now) || !ts.Expiry.Equal(now.Add(3599*time.Second)) {
				t.Errorf("obtained %v expiry %v", ts.ObtainedAt, ts.Expiry)
			}
		})
	}

	t.Run("TokenURL overrides token_uri", func(t *testing.T) {
		g := newServer(t, "")
		hc, _ := mintClient()
		m := Material{Kind: KindGoogle, Google: mintGoogleFile(t, key, kid, email, "https://oauth2.googleapis.com/token")}
		mn := mintNew(t, m, MintConfig{TokenURL: g.URL + "/token", Scopes: scopes, HTTPClient: hc})
		if _, err := mn.Refresh(context.Background(), oauth.TokenSet{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a different key is final", func(t *testing.T) {
		g := newServer(t, "")
		hc, rec := mintClient()
		m := Material{Kind: KindGoogle, Google: mintGoogleFile(t, mintRSAKeys()[2], kid, email, g.URL+"/token")}
		mn := mintNew(t, m, MintConfig{Scopes: scopes, HTTPClient: hc})
		_, err := mn.Refresh(context.Background(), oauth.TokenSet{})
		oe := mintOAuthError(t, err)
		if oe.Code != "invalid_grant" || oe.Description != "Invalid JWT Signature." || oe.Temporary || !oe.GrantRevoked() || oe.Status != 400 {
			t.Errorf("err = %+v", oe)
		}
		form, _ := rec.last()
		mintNoLeak(t, err, form.Get("assertion"))
	})

	t.Run("delegation not allowed is final", func(t *testing.T) {
		g := newServer(t, "")
		hc, _ := mintClient()
		m := Material{Kind: KindGoogle, Google: mintGoogleFile(t, key, kid, email, g.URL+"/token")}
		mn := mintNew(t, m, MintConfig{Subject: "someone@example.com", Scopes: scopes, HTTPClient: hc})
		_, err := mn.Refresh(context.Background(), oauth.TokenSet{})
		if oe := mintOAuthError(t, err); oe.Code != "unauthorized_client" || !oe.GrantRevoked() {
			t.Errorf("err = %+v", oe)
		}
	})

	t.Run("503 is temporary", func(t *testing.T) {
		g := newServer(t, "")
		g.status = http.StatusServiceUnavailable
		hc, _ := mintClient()
		m := Material{Kind: KindGoogle, Google: mintGoogleFile(t, key, kid, email, g.URL+"/token")}
		mn := mintNew(t, m, MintConfig{Scopes: scopes, HTTPClient: hc})
		_, err := mn.Refresh(context.Background(), oauth.TokenSet{})
		if oe := mintOAuthError(t, err); !oe.Temporary || oe.GrantRevoked() || oe.Status != 503 {
			t.Errorf("err = %+v", oe)
		}
	})
}

// ---- construction and parsing ----

func TestMintNewMinterErrors(t *testing.T) {
	hc := &http.Client{}
	ecPEM := mintPEM(t, mintECKey(t, elliptic.P256()))
	rsaPEM := mintPEM(t, mintRSAKeys()[0])
	good := mintGoogleFile(t, mintRSAKeys()[0], "kid", "a@b.iam.gserviceaccount.com", "https://oauth2.googleapis.com/token")
	ecGoogle := bytes.Replace(good, []byte(strings.ReplaceAll(rsaPEM, "\n", `\n`)), []byte(strings.ReplaceAll(ecPEM, "\n", `\n`)), 1)
	cases := []struct {
		name string
		m    Material
		cfg  MintConfig
		want string
	}{
		{"mtls", Material{Kind: KindMTLS, KeyPEM: ecPEM, CertPEM: "x"}, MintConfig{TokenURL: "https://t", HTTPClient: hc}, "do not mint"},
		{"aws", Material{Kind: KindAWS, AccessKeyID: "AKIA", SecretAccessKey: "s"}, MintConfig{HTTPClient: hc}, "do not mint"},
		{"unknown kind", Material{Kind: "saml"}, MintConfig{HTTPClient: hc}, "unknown kind"},
		{"no client", Material{Kind: KindClientCredentials, ClientID: "c", ClientSecret: "s"}, MintConfig{TokenURL: "https://t/token"}, "HTTP client"},
		{"bad auth style", Material{Kind: KindClientCredentials, ClientID: "c", ClientSecret: "s"}, MintConfig{TokenURL: "https://t/token", AuthStyle: "jwt", HTTPClient: hc}, "auth style"},
		{"cc no token url", Material{Kind: KindClientCredentials, ClientID: "c", ClientSecret: "s"}, MintConfig{HTTPClient: hc}, "token_url is required"},
		{"cc relative token url", Material{Kind: KindClientCredentials, ClientID: "c", ClientSecret: "s"}, MintConfig{TokenURL: "/token", HTTPClient: hc}, "absolute"},
		{"cc token url with credentials", Material{Kind: KindClientCredentials, ClientID: "c", ClientSecret: "s"}, MintConfig{TokenURL: "https://u:pw@t/token", HTTPClient: hc}, "credentials"},
		{"cc no client id", Material{Kind: KindClientCredentials, ClientSecret: "s"}, MintConfig{TokenURL: "https://t/token", HTTPClient: hc}, "client_id"},
		{"cc no secret or key", Material{Kind: KindClientCredentials, ClientID: "c"}, MintConfig{TokenURL: "https://t/token", HTTPClient: hc}, "neither"},
		{"cc bad key", Material{Kind: KindClientCredentials, ClientID: "c", KeyPEM: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}, MintConfig{TokenURL: "https://t/token", HTTPClient: hc}, "private key"},
		{"jwt no token url", Material{Kind: KindJWTBearer, KeyPEM: ecPEM}, MintConfig{Issuer: "i", HTTPClient: hc}, "token_url"},
		{"jwt no key", Material{Kind: KindJWTBearer}, MintConfig{TokenURL: "https://t/token", Issuer: "i", HTTPClient: hc}, "no private key"},
		{"jwt no issuer", Material{Kind: KindJWTBearer, KeyPEM: ecPEM}, MintConfig{TokenURL: "https://t/token", HTTPClient: hc}, "issuer"},
		{"google empty", Material{Kind: KindGoogle}, MintConfig{HTTPClient: hc}, "missing"},
		{"google not json", Material{Kind: KindGoogle, Google: []byte(`{"private_key": "` + strings.ReplaceAll(rsaPEM, "\n", `\n`))}, MintConfig{HTTPClient: hc}, "service_account"},
		{"google wrong type", Material{Kind: KindGoogle, Google: []byte(`{"type":"authorized_user","client_secret":"zzz"}`)}, MintConfig{HTTPClient: hc}, "service_account"},
		{"google EC key", Material{Kind: KindGoogle, Google: ecGoogle}, MintConfig{HTTPClient: hc}, "not an RSA key"},
		{"google bad token url", Material{Kind: KindGoogle, Google: good}, MintConfig{TokenURL: "ftp://x/token", HTTPClient: hc}, "absolute"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mn, err := NewMinter(tc.m, tc.cfg)
			if err == nil {
				t.Fatalf("NewMinter = %T, want an error", mn)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			mintNoLeak(t, err, "AAAA", "zzz", "pw@")
		})
	}
	// Sanity: the good variants do construct.
	for _, m := range []Material{
		{Kind: KindGoogle, Google: good},
		{Kind: KindClientCredentials, ClientID: "c", KeyPEM: ecPEM},
		{Kind: KindJWTBearer, KeyPEM: rsaPEM},
	} {
		if _, err := NewMinter(m, MintConfig{TokenURL: "https://t/token", ClientID: "c", HTTPClient: hc}); err != nil {
			t.Errorf("NewMinter(%s): %v", m.Kind, err)
		}
	}
}

func TestMintParseTokenResponse(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	resp := func(status int, ct string, hdr ...string) *http.Response {
		h := http.Header{"Content-Type": {ct}}
		for i := 0; i+1 < len(hdr); i += 2 {
			h.Set(hdr[i], hdr[i+1])
		}
		return &http.Response{StatusCode: status, Header: h}
	}
	jwtAT := "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString([]byte(`{"exp":1893553445}`)) + ".sig"

	t.Run("ok", func(t *testing.T) {
		for _, tc := range []struct {
			name, ct, body string
			want           time.Time
		}{
			{"json number", "application/json", `{"access_token":"a","token_type":"Bearer","expires_in":120,"scope":"x y"}`, now.Add(2 * time.Minute)},
			{"json string", "application/json; charset=utf-8", `{"access_token":"a","token_type":"Bearer","expires_in":"120","scope":"x y"}`, now.Add(2 * time.Minute)},
			{"form", "application/x-www-form-urlencoded", `access_token=a&token_type=Bearer&expires_in=120&scope=x+y`, now.Add(2 * time.Minute)},
			{"no expires_in", "application/json", `{"access_token":"a","token_type":"Bearer","scope":"x y"}`, now.Add(oauth.DefaultTTL)},
			{"zero expires_in", "application/json", `{"access_token":"a","token_type":"Bearer","expires_in":0,"scope":"x y"}`, now.Add(oauth.DefaultTTL)},
		} {
			ts, err := mintParseTokenResponse(resp(200, tc.ct), []byte(tc.body), now, 0)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if ts.AccessToken.Reveal() != "a" || ts.TokenType != "Bearer" || ts.Scope != "x y" || !ts.ObtainedAt.Equal(now) || !ts.Expiry.Equal(tc.want) {
				t.Errorf("%s: %+v expiry %v", tc.name, ts.Scope, ts.Expiry)
			}
		}
		ts, err := mintParseTokenResponse(resp(200, "application/json"), []byte(`{"access_token":"`+jwtAT+`","token_type":"Bearer"}`), now, 0)
		if err != nil || !ts.Expiry.Equal(time.Unix(1893553445, 0)) {
			t.Errorf("JWT exp: %v %v", ts.Expiry, err)
		}
	})
	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			name      string
			r         *http.Response
			body      string
			code      string
			temporary bool
			revoked   bool
		}{
			{"invalid_grant", resp(400, "application/json"), `{"error":"invalid_grant","error_description":"bad key"}`, "invalid_grant", false, true},
			{"invalid_client 401", resp(401, "application/json"), `{"error":"invalid_client"}`, "invalid_client", false, true},
			{"other 4xx", resp(400, "application/json"), `{"error":"invalid_scope"}`, "invalid_scope", false, true},
			{"503", resp(503, "text/html"), `<html>down</html>`, "", true, false},
			{"429", resp(429, "application/json", "Retry-After", "7"), `{"error":"slow_down"}`, "slow_down", true, false},
			{"error in 200", resp(200, "application/json"), `{"error":"invalid_grant"}`, "invalid_grant", false, true},
			{"form error", resp(400, "application/x-www-form-urlencoded"), `error=invalid_grant&error_description=nope`, "invalid_grant", false, true},
			{"200 no token", resp(200, "application/json"), `{"token_type":"Bearer"}`, "", true, false},
			{"200 not json", resp(200, "text/html"), `<html>login</html>`, "", true, false},
			{"error not a string", resp(400, "application/json"), `{"error":{"message":"x"}}`, "", false, true},
		} {
			_, err := mintParseTokenResponse(tc.r, []byte(tc.body), now, 0)
			oe := mintOAuthError(t, err)
			if oe.Code != tc.code || oe.Temporary != tc.temporary || oe.GrantRevoked() != tc.revoked || oe.Status != tc.r.StatusCode {
				t.Errorf("%s: %+v", tc.name, oe)
			}
			if tc.name == "429" && oe.RetryAfter != 7*time.Second {
				t.Errorf("429: RetryAfter = %v", oe.RetryAfter)
			}
		}
	})
}

// A server that echoes the request into its error description does not
// get the assertion or secret into Storm's errors.
func TestMintEchoedSecretsWithheld(t *testing.T) {
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		_, pw, _ := r.BasicAuth()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		desc := r.PostForm.Get("assertion") + r.PostForm.Get("client_assertion") + pw
		if a := r.PostForm.Get("assertion") + r.PostForm.Get("client_assertion"); a != "" {
			desc = "bad signature " + a[strings.LastIndexByte(a, '.')+1:]
		}
		json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant", "error_description": desc})
	}))
	t.Cleanup(echo.Close)
	hc, rec := mintClient()
	key := mintPEM(t, mintECKey(t, elliptic.P256()))
	for _, m := range []Material{
		{Kind: KindJWTBearer, KeyPEM: key},
		{Kind: KindClientCredentials, ClientID: "c", KeyPEM: key},
	} {
		mn := mintNew(t, m, MintConfig{TokenURL: echo.URL, Issuer: "i", ClientID: "c", ClientSecret: "echoed-s3cret", HTTPClient: hc})
		_, err := mn.Refresh(context.Background(), oauth.TokenSet{})
		oe := mintOAuthError(t, err)
		form, _ := rec.last()
		a := form.Get("assertion") + form.Get("client_assertion")
		mintNoLeak(t, err, a[strings.LastIndexByte(a, '.')+1:], "echoed-s3cret")
		if oe.Temporary || oe.Status != 400 {
			t.Errorf("%s: %+v", m.Kind, oe)
		}
	}
}

// ---- provider shapes: catalog fields (client_auth, grant_type,
// extra_token_params, scope_claim, claims, self_signed, token_ttl) ----

// mintTokenEndpoint is a token endpoint whose handler checks a request
// and returns the status and JSON to answer with.
func mintTokenEndpoint(t *testing.T, check func(r *http.Request) (int, map[string]any)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/token" || r.URL.RawQuery != "" || r.ParseForm() != nil ||
			r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			t.Errorf("request %s %s (%s)", r.Method, r.URL, r.Header.Get("Content-Type"))
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		status, body := check(r)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// mintTokenError is an RFC 6749 §5.2 error answer.
func mintTokenError(status int, code string) (int, map[string]any) {
	return status, map[string]any{"error": code}
}

// mintFormKeys lists a form's parameter names, sorted.
func mintFormKeys(f url.Values) []string {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// mintJWTClaims verifies a JWT's signature with pub and returns all its
// claims (numbers as float64) and its header.
func mintJWTClaims(t *testing.T, token string, pub crypto.PublicKey) (map[string]any, jose.Header) {
	t.Helper()
	tok, err := josejwt.ParseSigned(token)
	if err != nil {
		t.Fatalf("JWT: %v", err)
	}
	var m map[string]any
	if err := tok.Claims(pub, &m); err != nil {
		t.Fatalf("JWT signature: %v", err)
	}
	return m, tok.Headers[0]
}

// mintUnix reads a NumericDate claim.
func mintUnix(m map[string]any, k string) time.Time {
	f, _ := m[k].(float64)
	return time.Unix(int64(f), 0).UTC()
}

// mintNoHTTP is a client that fails the test if it is used.
func mintNoHTTP(t *testing.T) *http.Client {
	return &http.Client{Transport: mintRoundTripFunc(func(r *http.Request) (*http.Response, error) {
		t.Errorf("unexpected HTTP request to %s", r.URL)
		return nil, errors.New("no HTTP expected")
	})}
}

type mintRoundTripFunc func(*http.Request) (*http.Response, error)

func (f mintRoundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Zoom Server-to-Server OAuth: client_credentials' shape with grant_type
// account_credentials, the account_id parameter and HTTP Basic.
func TestMintZoomAccountCredentials(t *testing.T) {
	srv := mintTokenEndpoint(t, func(r *http.Request) (int, map[string]any) {
		id, pw, ok := r.BasicAuth()
		f := r.PostForm
		switch {
		case !ok || id != "zoom-client" || pw != "zoom-s3cret":
			return mintTokenError(401, "invalid_client")
		case f.Get("grant_type") != "account_credentials":
			return mintTokenError(400, "unsupported_grant_type")
		case f.Get("account_id") != "AbC_12-x":
			return mintTokenError(400, "invalid_request")
		case !slices.Equal(mintFormKeys(f), []string{"account_id", "grant_type"}):
			t.Errorf("form has %v", mintFormKeys(f))
			return mintTokenError(400, "invalid_request")
		}
		return 200, map[string]any{"access_token": "zoom-at", "token_type": "bearer", "expires_in": 3599, "scope": "user:read:user:admin"}
	})
	hc, _ := mintClient()
	now, clock := mintClock()
	m := Material{Kind: KindClientCredentials, ClientID: "zoom-client", ClientSecret: "zoom-s3cret"}
	mn := mintNew(t, m, MintConfig{TokenURL: srv.URL + "/token", ClientAuth: "basic", GrantType: "account_credentials",
		ExtraTokenParams: map[string]string{"account_id": "AbC_12-x"}, HTTPClient: hc, Now: clock})
	ts, err := mn.Refresh(context.Background(), oauth.TokenSet{})
	if err != nil {
		t.Fatal(err)
	}
	if ts.AccessToken.Reveal() != "zoom-at" || ts.Scope != "user:read:user:admin" || ts.RefreshToken != "" {
		t.Errorf("token set: %q scope %q", ts.AccessToken.Reveal(), ts.Scope)
	}
	mintCheckLifetime(t, ts, now, 3599*time.Second)

	// The same grant with private_key_jwt goes through the hand-built
	// request: grant_type and the extra parameter are there too.
	key := mintECKey(t, elliptic.P256())
	hc2, rec := mintClient()
	mn = mintNew(t, Material{Kind: KindClientCredentials, ClientID: "zoom-client", KeyPEM: mintPEM(t, key)},
		MintConfig{TokenURL: srv.URL + "/token", ClientAuth: "private_key_jwt", GrantType: "account_credentials",
			ExtraTokenParams: map[string]string{"account_id": "AbC_12-x"}, HTTPClient: hc2})
	if _, err := mn.Refresh(context.Background(), oauth.TokenSet{}); err == nil {
		t.Error("the Basic-only server accepted a client assertion")
	}
	form, hdr := rec.last()
	if form.Get("grant_type") != "account_credentials" || form.Get("account_id") != "AbC_12-x" ||
		form.Get("client_assertion") == "" || hdr.Get("Authorization") != "" {
		t.Errorf("private_key_jwt form %v", mintFormKeys(form))
	}
}

// DocuSign JWT grant: the scopes go in the assertion's scope claim, not
// in the token request; aud is a bare host name.
func TestMintDocuSignScopeClaim(t *testing.T) {
	key := mintRSAKeys()[1]
	const host = "account-d.docusign.com"
	var srv *httptest.Server
	srv = mintTokenEndpoint(t, func(r *http.Request) (int, map[string]any) {
		f := r.PostForm
		if r.Header.Get("Authorization") != "" || !slices.Equal(mintFormKeys(f), []string{"assertion", "grant_type"}) ||
			f.Get("grant_type") != GrantTypeJWTBearer {
			t.Errorf("form %v, Authorization %q", mintFormKeys(f), r.Header.Get("Authorization"))
			return mintTokenError(400, "invalid_request")
		}
		c, _ := mintJWTClaims(t, f.Get("assertion"), &key.PublicKey)
		if c["iss"] != "integration-key" || c["sub"] != "user-guid" || c["aud"] != host || c["scope"] != "signature impersonation" {
			t.Errorf("claims %v", c)
			return mintTokenError(400, "invalid_grant")
		}
		return 200, map[string]any{"access_token": "ds-at", "token_type": "Bearer", "expires_in": 28800}
	})
	hc, rec := mintClient()
	now, clock := mintClock()
	mn := mintNew(t, Material{Kind: KindJWTBearer, KeyPEM: mintPEM(t, key)}, MintConfig{
		TokenURL: srv.URL + "/token", Audience: host, Issuer: "integration-key", Subject: "user-guid",
		Scopes: []string{"signature", "impersonation"}, ScopeClaim: true, HTTPClient: hc, Now: clock})
	ts, err := mn.Refresh(context.Background(), oauth.TokenSet{})
	if err != nil {
		t.Fatal(err)
	}
	mintCheckLifetime(t, ts, now, 8*time.Hour)
	form, _ := rec.last()
	if form.Has("scope") {
		t.Error("the token request has a scope parameter")
	}
	c, _ := mintJWTClaims(t, form.Get("assertion"), &key.PublicKey)
	if !mintUnix(c, "iat").Equal(now) || !mintUnix(c, "exp").Equal(now.Add(30*time.Second)) {
		t.Errorf("iat %v exp %v, want %v + 30s", c["iat"], c["exp"], now)
	}
}

// Box JWT: extra claims (box_sub_type), the kid header, the client id and
// secret in the form, exp at most 60 s after iat.
func TestMintBoxExtraClaims(t *testing.T) {
	key := mintRSAKeys()[0]
	var srv *httptest.Server
	srv = mintTokenEndpoint(t, func(r *http.Request) (int, map[string]any) {
		f := r.PostForm
		if f.Get("client_id") != "box-client" || f.Get("client_secret") != "box-s3cret" || r.Header.Get("Authorization") != "" {
			return mintTokenError(400, "invalid_client")
		}
		if f.Get("grant_type") != GrantTypeJWTBearer || f.Has("scope") {
			return mintTokenError(400, "invalid_request")
		}
		c, h := mintJWTClaims(t, f.Get("assertion"), &key.PublicKey)
		exp, iat := mintUnix(c, "exp"), mintUnix(c, "iat")
		jti, _ := c["jti"].(string)
		switch {
		case h.KeyID != "box-pub-key" || h.Algorithm != "RS256":
			return mintTokenError(400, "invalid_grant")
		case c["iss"] != "box-client" || c["sub"] != "1234567" || c["box_sub_type"] != "enterprise" || c["aud"] != srv.URL+"/token":
			t.Errorf("claims %v", c)
			return mintTokenError(400, "invalid_grant")
		case exp.Sub(iat) > 60*time.Second || exp.Before(time.Now().Add(-5*time.Second)) || len(jti) < 16:
			t.Errorf("exp %v iat %v jti %q", exp, iat, jti)
			return mintTokenError(400, "invalid_grant")
		}
		return 200, map[string]any{"access_token": "box-at", "token_type": "bearer", "expires_in": 3600, "restricted_to": []any{}}
	})
	hc, _ := mintClient()
	now, clock := mintClock()
	// As the catalog has it: no issuer, so iss is the client id.
	mn := mintNew(t, Material{Kind: KindJWTBearer, KeyPEM: mintPEM(t, key), KeyID: "box-pub-key"}, MintConfig{
		TokenURL: srv.URL + "/token", Audience: srv.URL + "/token", Subject: "1234567", ClientID: "box-client",
		ClientSecret: "box-s3cret", ClientAuth: "post", Claims: map[string]string{"box_sub_type": "enterprise"},
		HTTPClient: hc, Now: clock})
	ts, err := mn.Refresh(context.Background(), oauth.TokenSet{})
	if err != nil {
		t.Fatal(err)
	}
	mintCheckLifetime(t, ts, now, time.Hour)
}

// mintSnowflakeFP is the fingerprint of testdata/rsa2048_pkcs8.pem as
// Snowflake documents computing it:
//
//	openssl pkey -in rsa2048_pkcs8.pem -pubout -outform DER |
//	  openssl dgst -sha256 -binary | openssl enc -base64
const mintSnowflakeFP = "SHA256:OX34yV+qB1jY0D/AcIMi2lEzMzyjJIKzEh/H2G5i3G4="

func TestMintPublicKeyFingerprint(t *testing.T) {
	for file, want := range map[string]string{
		"rsa2048_pkcs8.pem": mintSnowflakeFP,
		"rsa2048_pkcs1.pem": mintSnowflakeFP,
		"ec256_sec1.pem":    "SHA256:+GP/ZWwV4LwqzA4yeh3uS4MHuHJSQug9VjxrBFx62oI=", // the same openssl pipeline
	} {
		pemText, err := os.ReadFile("testdata/" + file)
		if err != nil {
			t.Fatal(err)
		}
		key, err := PrivateKey(string(pemText))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := PublicKeyFingerprint(key); err != nil || got != want {
			t.Errorf("%s: fingerprint %q, %v; want %q", file, got, err, want)
		}
	}
}

// Snowflake key-pair authentication: no token endpoint; the signed JWT
// is the token.
func TestMintSnowflakeSelfSigned(t *testing.T) {
	pemText, err := os.ReadFile("testdata/rsa2048_pkcs8.pem")
	if err != nil {
		t.Fatal(err)
	}
	key, err := PrivateKey(string(pemText))
	if err != nil {
		t.Fatal(err)
	}
	m := Material{Kind: KindJWTBearer, KeyPEM: string(pemText)}
	claims := map[string]string{"iss": "MYORG-ACCT.STORM_SVC.{public_key_fp}", "sub": "MYORG-ACCT.STORM_SVC"}

	for _, tc := range []struct {
		name string
		ttl  time.Duration
		want time.Duration
		hc   *http.Client
	}{
		{"token_ttl 1h", time.Hour, time.Hour, mintNoHTTP(t)},
		{"token_ttl 10m", 10 * time.Minute, 10 * time.Minute, mintNoHTTP(t)},
		{"default ttl, no HTTP client", 0, time.Hour, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now().UTC().Add(-time.Minute).Truncate(time.Second).Add(400 * time.Millisecond)
			at := now.Truncate(time.Second)
			mn := mintNew(t, m, MintConfig{SelfSigned: true, Claims: claims, TokenTTL: tc.ttl, HTTPClient: tc.hc,
				Now: func() time.Time { return now }})
			ts1, err := mn.Refresh(context.Background(), oauth.TokenSet{})
			if err != nil {
				t.Fatal(err)
			}
			ts2, err := mn.Refresh(context.Background(), ts1)
			if err != nil {
				t.Fatal(err)
			}
			if ts1.AccessToken == ts2.AccessToken {
				t.Error("two mints gave the same JWT (no fresh jti)")
			}
			if ts2.TokenType != "Bearer" || ts2.RefreshToken != "" || !ts2.ObtainedAt.Equal(at) || !ts2.Expiry.Equal(at.Add(tc.want)) {
				t.Errorf("token set: type %q obtained %v expiry %v", ts2.TokenType, ts2.ObtainedAt, ts2.Expiry)
			}
			c, h := mintJWTClaims(t, ts2.AccessToken.Reveal(), key.Public())
			if h.Algorithm != "RS256" {
				t.Errorf("alg %q", h.Algorithm)
			}
			if c["iss"] != "MYORG-ACCT.STORM_SVC."+mintSnowflakeFP || c["sub"] != "MYORG-ACCT.STORM_SVC" {
				t.Errorf("iss %q sub %q", c["iss"], c["sub"])
			}
			if !mintUnix(c, "iat").Equal(at) || !mintUnix(c, "exp").Equal(at.Add(tc.want)) {
				t.Errorf("iat %v exp %v", mintUnix(c, "iat"), mintUnix(c, "exp"))
			}
			delete(c, "jti")
			for _, k := range []string{"iss", "sub", "iat", "exp"} {
				delete(c, k)
			}
			if len(c) != 0 {
				t.Errorf("unexpected claims %v (no aud: there is no token endpoint)", c)
			}
			// The engine sees a JWT expiry that agrees.
			if exp, ok := oauth.JWTExpiry(ts2.AccessToken.Reveal()); !ok || !exp.Equal(ts2.Expiry) {
				t.Errorf("JWT exp %v, expiry %v", exp, ts2.Expiry)
			}
		})
	}

	t.Run("audience and scope claim", func(t *testing.T) {
		mn := mintNew(t, m, MintConfig{SelfSigned: true, Issuer: "svc", Audience: "https://api.example",
			Scopes: []string{"a", "b"}, ScopeClaim: true, Claims: map[string]string{"kfp": "key={public_key_fp}"}})
		ts, err := mn.Refresh(context.Background(), oauth.TokenSet{})
		if err != nil {
			t.Fatal(err)
		}
		c, _ := mintJWTClaims(t, ts.AccessToken.Reveal(), key.Public())
		if c["iss"] != "svc" || c["sub"] != "svc" || c["aud"] != "https://api.example" || c["scope"] != "a b" || c["kfp"] != "key="+mintSnowflakeFP {
			t.Errorf("claims %v", c)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		mn := mintNew(t, m, MintConfig{SelfSigned: true, Claims: claims})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := mn.Refresh(ctx, oauth.TokenSet{}); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v", err)
		}
	})
}

// Salesforce: the token response has no expires_in; TokenTTL says how
// long the token lasts.
func TestMintTokenTTL(t *testing.T) {
	key := mintRSAKeys()[2]
	srv := mintTokenEndpoint(t, func(r *http.Request) (int, map[string]any) {
		f := r.PostForm
		if r.Header.Get("Authorization") != "" || f.Has("client_id") || f.Get("grant_type") != GrantTypeJWTBearer {
			t.Errorf("form %v, Authorization %q", mintFormKeys(f), r.Header.Get("Authorization"))
			return mintTokenError(400, "invalid_client")
		}
		c, _ := mintJWTClaims(t, f.Get("assertion"), &key.PublicKey)
		if c["aud"] != "https://login.salesforce.com" || c["iss"] != "consumer-key" || c["sub"] != "svc@example.com" {
			t.Errorf("claims %v", c)
			return mintTokenError(400, "invalid_grant")
		}
		return 200, map[string]any{"access_token": "00Dxx0000001gPL!AR8AQJXg5oj8jXSgxJfA0lBog", "scope": "api",
			"instance_url": "https://acme.my.salesforce.com", "token_type": "Bearer", "issued_at": "1278448101416"}
	})
	for _, tc := range []struct {
		name       string
		ttl        time.Duration
		clientAuth string
		want       time.Duration
	}{
		{"token_ttl 2h", 2 * time.Hour, "", 2 * time.Hour},
		{"no token_ttl", 0, "", oauth.DefaultTTL},
		{"client_auth none with a client id", 90 * time.Minute, "none", 90 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hc, _ := mintClient()
			now, clock := mintClock()
			cfg := MintConfig{TokenURL: srv.URL + "/token", Audience: "https://login.salesforce.com", Issuer: "consumer-key",
				Subject: "svc@example.com", TokenTTL: tc.ttl, ClientAuth: tc.clientAuth, HTTPClient: hc, Now: clock}
			if tc.clientAuth == "none" {
				cfg.ClientID = "ignored-client"
			}
			ts, err := mintNew(t, Material{Kind: KindJWTBearer, KeyPEM: mintPEM(t, key)}, cfg).Refresh(context.Background(), oauth.TokenSet{})
			if err != nil {
				t.Fatal(err)
			}
			if ts.Scope != "api" {
				t.Errorf("scope %q", ts.Scope)
			}
			mintCheckLifetime(t, ts, now, tc.want)
		})
	}

	t.Run("client_credentials with a secret", func(t *testing.T) {
		s := oauthtest.New(t, oauthtest.Options{})
		s.AddClient(oauthtest.Client{ID: "svc-cc", Secret: "svc-cc-s3cret"})
		s.OmitExpiresIn(true)
		hc, _ := mintClient()
		now, clock := mintClock()
		mn := mintNew(t, Material{Kind: KindClientCredentials, ClientID: "svc-cc", ClientSecret: "svc-cc-s3cret"},
			MintConfig{TokenURL: s.TokenURL(), ClientAuth: "basic", TokenTTL: 20 * time.Minute, HTTPClient: hc, Now: clock})
		ts, err := mn.Refresh(context.Background(), oauth.TokenSet{})
		if err != nil {
			t.Fatal(err)
		}
		mintCheckLifetime(t, ts, now, 20*time.Minute)
	})

	t.Run("parse", func(t *testing.T) {
		now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}}
		jwtAT := "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString([]byte(`{"exp":1893553445}`)) + ".sig"
		for _, tc := range []struct {
			body string
			want time.Time
		}{
			{`{"access_token":"a"}`, now.Add(2 * time.Hour)},
			{`{"access_token":"a","expires_in":60}`, now.Add(time.Minute)},
			{`{"access_token":"` + jwtAT + `"}`, time.Unix(1893553445, 0)}, // the JWT's exp says more
		} {
			ts, err := mintParseTokenResponse(resp, []byte(tc.body), now, 2*time.Hour)
			if err != nil || !ts.Expiry.Equal(tc.want) {
				t.Errorf("%s: expiry %v (%v), want %v", tc.body, ts.Expiry, err, tc.want)
			}
		}
	})
}

// ClientAuth drives client_credentials: private_key_jwt uses the key even
// when a secret is there too; basic and post use the secret.
func TestMintClientCredentialsClientAuth(t *testing.T) {
	key := mintECKey(t, elliptic.P256())
	keyPEM := mintPEM(t, key)
	both := Material{Kind: KindClientCredentials, ClientID: "cc-client", ClientSecret: "cc-s3cret", KeyPEM: keyPEM}

	t.Run("private_key_jwt with audience and extra params", func(t *testing.T) {
		srv := newMintAssertionServer(t, "cc-client", "", key.Public(), "ES256")
		hc, rec := mintClient()
		mn := mintNew(t, both, MintConfig{TokenURL: srv.TokenURL(), ClientAuth: "private_key_jwt", Audience: "https://api.example/",
			ExtraTokenParams: map[string]string{"resource": "https://api.example/v2"}, Scopes: []string{"read"}, HTTPClient: hc})
		ts, err := mn.Refresh(context.Background(), oauth.TokenSet{})
		if err != nil {
			t.Fatal(err) // the server verified the assertion's aud: the token URL
		}
		if ts.Scope != "read" {
			t.Errorf("scope %q", ts.Scope)
		}
		form, hdr := rec.last()
		if form.Get("audience") != "https://api.example/" || form.Get("resource") != "https://api.example/v2" ||
			form.Has("client_secret") || hdr.Get("Authorization") != "" {
			t.Errorf("form %v", form)
		}
		c, _ := mintJWTClaims(t, form.Get("client_assertion"), key.Public())
		if c["aud"] != srv.TokenURL() || c["iss"] != "cc-client" || c["sub"] != "cc-client" {
			t.Errorf("client assertion claims %v", c)
		}
	})

	t.Run("basic uses the secret", func(t *testing.T) {
		s := oauthtest.New(t, oauthtest.Options{})
		s.AddClient(oauthtest.Client{ID: "cc-client", Secret: "cc-s3cret"})
		hc, rec := mintClient()
		mn := mintNew(t, both, MintConfig{TokenURL: s.TokenURL(), ClientAuth: "basic", HTTPClient: hc})
		if _, err := mn.Refresh(context.Background(), oauth.TokenSet{}); err != nil {
			t.Fatal(err)
		}
		form, hdr := rec.last()
		if !strings.HasPrefix(hdr.Get("Authorization"), "Basic ") || form.Has("client_assertion") || form.Get("grant_type") != "client_credentials" {
			t.Errorf("form %v Authorization %q", mintFormKeys(form), hdr.Get("Authorization"))
		}
	})

	t.Run("secret only", func(t *testing.T) {
		_, err := NewMinter(Material{Kind: KindClientCredentials, ClientID: "cc-client", ClientSecret: "cc-s3cret"},
			MintConfig{TokenURL: "https://t/token", ClientAuth: "private_key_jwt", HTTPClient: &http.Client{}})
		if err == nil || !strings.Contains(err.Error(), "private_key_jwt needs a private key") {
			t.Errorf("err = %v", err)
		}
		mintNoLeak(t, err, "cc-s3cret")
	})
	t.Run("key only", func(t *testing.T) {
		for _, auth := range []string{"basic", "post"} {
			_, err := NewMinter(Material{Kind: KindClientCredentials, ClientID: "cc-client", KeyPEM: keyPEM},
				MintConfig{TokenURL: "https://t/token", ClientAuth: auth, HTTPClient: &http.Client{}})
			if err == nil || !strings.Contains(err.Error(), "needs a client_secret") {
				t.Errorf("%s: err = %v", auth, err)
			}
		}
	})
}

// Auth0-style client credentials: Audience is an "audience" parameter.
func TestMintClientCredentialsAudienceParam(t *testing.T) {
	srv := mintTokenEndpoint(t, func(r *http.Request) (int, map[string]any) {
		f := r.PostForm
		switch {
		case f.Get("client_id") != "auth0-client" || f.Get("client_secret") != "auth0-s3cret":
			return mintTokenError(401, "access_denied")
		case f.Get("grant_type") != "client_credentials" || f.Get("audience") != "https://api.example.com/":
			t.Errorf("form %v", f)
			return mintTokenError(403, "access_denied")
		}
		return 200, map[string]any{"access_token": "auth0-at", "token_type": "Bearer", "expires_in": 86400, "scope": f.Get("scope")}
	})
	hc, _ := mintClient()
	now, clock := mintClock()
	mn := mintNew(t, Material{Kind: KindClientCredentials, ClientID: "auth0-client", ClientSecret: "auth0-s3cret"},
		MintConfig{TokenURL: srv.URL + "/token", ClientAuth: "post", Audience: "https://api.example.com/",
			Scopes: []string{"read:users"}, HTTPClient: hc, Now: clock})
	ts, err := mn.Refresh(context.Background(), oauth.TokenSet{})
	if err != nil {
		t.Fatal(err)
	}
	if ts.Scope != "read:users" {
		t.Errorf("scope %q", ts.Scope)
	}
	mintCheckLifetime(t, ts, now, 24*time.Hour)
}

// jwt_bearer with private_key_jwt client authentication and extra token
// parameters.
func TestMintJWTBearerClientAssertion(t *testing.T) {
	key := mintECKey(t, elliptic.P384())
	var srv *httptest.Server
	srv = mintTokenEndpoint(t, func(r *http.Request) (int, map[string]any) {
		f := r.PostForm
		if f.Get("client_assertion_type") != ClientAssertionTypeJWT || f.Get("client_id") != "app" || f.Get("tenant") != "t1" ||
			f.Get("scope") != "x" || r.Header.Get("Authorization") != "" {
			t.Errorf("form %v", f)
			return mintTokenError(400, "invalid_request")
		}
		ca, _ := mintJWTClaims(t, f.Get("client_assertion"), key.Public())
		ga, _ := mintJWTClaims(t, f.Get("assertion"), key.Public())
		if ca["iss"] != "app" || ca["sub"] != "app" || ca["aud"] != srv.URL+"/token" || ca["jti"] == ga["jti"] ||
			ga["iss"] != "issuer" || ga["sub"] != "someone" || ga["aud"] != "https://aud.example" {
			t.Errorf("client assertion %v, assertion %v", ca, ga)
			return mintTokenError(400, "invalid_client")
		}
		return 200, map[string]any{"access_token": "at", "expires_in": 300}
	})
	hc, _ := mintClient()
	mn := mintNew(t, Material{Kind: KindJWTBearer, KeyPEM: mintPEM(t, key)}, MintConfig{TokenURL: srv.URL + "/token",
		Audience: "https://aud.example", Issuer: "issuer", Subject: "someone", Scopes: []string{"x"}, ClientID: "app",
		ClientAuth: "private_key_jwt", ExtraTokenParams: map[string]string{"tenant": "t1"}, HTTPClient: hc})
	if _, err := mn.Refresh(context.Background(), oauth.TokenSet{}); err != nil {
		t.Fatal(err)
	}
}

func TestMintConfigErrors(t *testing.T) {
	hc := &http.Client{}
	key := mintPEM(t, mintECKey(t, elliptic.P256()))
	google := mintGoogleFile(t, mintRSAKeys()[0], "kid", "a@b.iam.gserviceaccount.com", "https://oauth2.googleapis.com/token")
	jwtM := Material{Kind: KindJWTBearer, KeyPEM: key}
	ccM := Material{Kind: KindClientCredentials, ClientID: "c", ClientSecret: "s"}
	jwt := func(f func(*MintConfig)) MintConfig {
		c := MintConfig{TokenURL: "https://t/token", Issuer: "i", HTTPClient: hc}
		f(&c)
		return c
	}
	cc := func(f func(*MintConfig)) MintConfig {
		c := MintConfig{TokenURL: "https://t/token", HTTPClient: hc}
		f(&c)
		return c
	}
	self := func(f func(*MintConfig)) MintConfig {
		c := MintConfig{SelfSigned: true, Issuer: "i"}
		f(&c)
		return c
	}
	cases := []struct {
		name string
		m    Material
		cfg  MintConfig
		want string
	}{
		{"unknown client auth", ccM, cc(func(c *MintConfig) { c.ClientAuth = "tls_client_auth" }), "client_auth"},
		{"auth style contradicts", ccM, cc(func(c *MintConfig) { c.ClientAuth, c.AuthStyle = "basic", "post" }), "contradicts"},
		{"auth style with private_key_jwt", ccM, cc(func(c *MintConfig) { c.ClientAuth, c.AuthStyle = "private_key_jwt", "post" }), "does not apply"},
		{"cc none", ccM, cc(func(c *MintConfig) { c.ClientAuth = "none" }), "needs client authentication"},
		{"negative ttl", ccM, cc(func(c *MintConfig) { c.TokenTTL = -time.Second }), "negative"},
		{"protected param", ccM, cc(func(c *MintConfig) { c.ExtraTokenParams = map[string]string{"Scope": "x"} }), `"Scope"`},
		{"protected param audience", ccM, cc(func(c *MintConfig) { c.ExtraTokenParams = map[string]string{"audience": "x"} }), "cannot be overridden"},
		{"protected param jwt", jwtM, jwt(func(c *MintConfig) { c.ExtraTokenParams = map[string]string{"assertion": "x"} }), "cannot be overridden"},
		{"empty param", ccM, cc(func(c *MintConfig) { c.ExtraTokenParams = map[string]string{"": "x"} }), "empty"},
		{"protected claim", jwtM, jwt(func(c *MintConfig) { c.Claims = map[string]string{"aud": "x"} }), `claim "aud"`},
		{"protected claim scope", jwtM, jwt(func(c *MintConfig) { c.Claims = map[string]string{"scope": "x"} }), "cannot be overridden"},
		{"cc claims", ccM, cc(func(c *MintConfig) { c.Claims = map[string]string{"x": "y"} }), "claims is not used"},
		{"cc scope claim", ccM, cc(func(c *MintConfig) { c.ScopeClaim = true }), "scope_claim is not used"},
		{"cc self signed", ccM, cc(func(c *MintConfig) { c.SelfSigned = true }), "self_signed is not used"},
		{"jwt grant type", jwtM, jwt(func(c *MintConfig) { c.GrantType = "x" }), "grant_type is not used"},
		{"jwt basic without secret", jwtM, jwt(func(c *MintConfig) { c.ClientAuth, c.ClientID = "basic", "c" }), "client_secret"},
		{"jwt post without client", jwtM, jwt(func(c *MintConfig) { c.ClientAuth, c.ClientSecret = "post", "s" }), "client_id"},
		{"jwt private_key_jwt without client", jwtM, jwt(func(c *MintConfig) { c.ClientAuth = "private_key_jwt" }), "client_id"},
		{"jwt no issuer with claims", jwtM, jwt(func(c *MintConfig) { c.Issuer, c.Claims = "", map[string]string{"sub": "s"} }), "issuer"},
		{"google claims", Material{Kind: KindGoogle, Google: google}, MintConfig{HTTPClient: hc, Claims: map[string]string{"x": "y"}}, "not used with kind google"},
		{"google client auth", Material{Kind: KindGoogle, Google: google}, MintConfig{HTTPClient: hc, ClientAuth: "post"}, "not used with kind google"},
		{"self-signed token url", jwtM, self(func(c *MintConfig) { c.TokenURL = "https://t/token" }), "no token_url"},
		{"self-signed client auth", jwtM, self(func(c *MintConfig) { c.ClientAuth = "post" }), "client_auth does not apply"},
		{"self-signed extra params", jwtM, self(func(c *MintConfig) { c.ExtraTokenParams = map[string]string{"a": "b"} }), "extra_token_params"},
		{"self-signed scopes", jwtM, self(func(c *MintConfig) { c.Scopes = []string{"a"} }), "scope_claim"},
		{"self-signed ttl over an hour", jwtM, self(func(c *MintConfig) { c.TokenTTL = 61 * time.Minute }), "at most"},
		{"self-signed no key", Material{Kind: KindJWTBearer}, self(func(*MintConfig) {}), "no private key"},
		{"self-signed no issuer", jwtM, self(func(c *MintConfig) { c.Issuer = "" }), "issuer"},
		{"cc no client", ccM, MintConfig{TokenURL: "https://t/token", SelfSigned: false}, "HTTP client"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mn, err := NewMinter(tc.m, tc.cfg)
			if err == nil {
				t.Fatalf("NewMinter = %T, want an error", mn)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			mintNoLeak(t, err)
		})
	}
}
