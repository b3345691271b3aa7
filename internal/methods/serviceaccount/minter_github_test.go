package serviceaccount

import (
	"context"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/methods/serviceaccount/githubapptest"
	"github.com/stormcreds/storm/internal/oauth"
)

func ghPKCS1(t *testing.T, i int) string {
	t.Helper()
	return string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(mintRSAKeys()[i])}))
}

// ghMaterial parses key text as a Save would.
func ghMaterial(t *testing.T, keyPEM string) Material {
	t.Helper()
	raw, _ := json.Marshal(keyPEM)
	m, _, err := Parse(KindGitHubApp, map[string]json.RawMessage{"key_pem": raw}, ptNow)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func ghPeer(t *testing.T, opts githubapptest.Options) *githubapptest.Server {
	s := githubapptest.New(t, opts)
	s.AddApp("101", &mintRSAKeys()[0].PublicKey)
	s.AddApp("202", &mintRSAKeys()[1].PublicKey)
	s.AddInstallation("101", "9001")
	s.AddInstallation("202", "9002")
	return s
}

func ghClaims(t *testing.T, jwt string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatal(err)
		}
	}
	return header, claims
}

// TestMintGitHubAppInstallationToken: the key GitHub issued (PKCS#1) and
// its PKCS#8 form mint a token that the API accepts, on api.github.com
// and on a GitHub Enterprise Server base URL; the JWT carries exactly
// iss, iat (backdated 60 s) and exp (≤ 10 min).
func TestMintGitHubAppInstallationToken(t *testing.T) {
	for _, prefix := range []string{"", "/api/v3"} {
		for name, keyPEM := range map[string]string{"pkcs1": ghPKCS1(t, 0), "pkcs8": mintPEM(t, mintRSAKeys()[0])} {
			t.Run("prefix="+prefix+"/"+name, func(t *testing.T) {
				s := ghPeer(t, githubapptest.Options{Prefix: prefix})
				now := time.Now().UTC().Truncate(time.Second)
				mn := mintNew(t, ghMaterial(t, keyPEM), MintConfig{AppID: "101", InstallationID: "9001", BaseURL: s.BaseURL(),
					HTTPClient: http.DefaultClient, Now: func() time.Time { return now }})
				ts, err := mn.Refresh(context.Background(), oauth.TokenSet{})
				if err != nil {
					t.Fatal(err)
				}
				if !s.Valid(ts.AccessToken.Reveal()) || !strings.HasPrefix(ts.AccessToken.Reveal(), "ghs_") {
					t.Fatal("minted token is not live at the API")
				}
				if !ts.ObtainedAt.Equal(now) || ts.Lifetime() != time.Hour {
					t.Errorf("obtained %v, lifetime %v (expiry %v)", ts.ObtainedAt, ts.Lifetime(), ts.Expiry)
				}
				header, claims := ghClaims(t, s.LastJWT())
				if header["alg"] != "RS256" {
					t.Errorf("alg = %v", header["alg"])
				}
				iat, exp := int64(claims["iat"].(float64)), int64(claims["exp"].(float64))
				if claims["iss"] != "101" || iat != now.Add(-60*time.Second).Unix() || exp-iat != 600 || len(claims) != 3 {
					t.Errorf("claims = %v", claims)
				}
				req, _ := http.NewRequest("GET", s.RepositoriesURL(), nil)
				oauth.PlacementOf(nil).Apply(req, ts.AccessToken)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("resource with the token: %d", resp.StatusCode)
				}
			})
		}
	}
}

// TestGitHubAppKeyOfAnotherApp: the key of another app (or a wrong app
// id) is a final, typed error that names the key and the app, and the
// token engine sees a final *oauth.Error.
func TestGitHubAppKeyOfAnotherApp(t *testing.T) {
	s := ghPeer(t, githubapptest.Options{})
	cases := []struct {
		name, key, app, inst string
		want                 GitHubAppProblem
		field                string
		text                 string
	}{
		{"key of app 202 used as app 101", ghPKCS1(t, 1), "101", "9001", GitHubKeyRefused, "key_pem", "does not belong to app 101"},
		{"unregistered key", ghPKCS1(t, 2), "101", "9001", GitHubKeyRefused, "key_pem", "does not belong to app 101"},
		{"unknown app id", ghPKCS1(t, 0), "999", "9001", GitHubKeyRefused, "key_pem", "does not belong to app 999"},
		{"installation of another app", ghPKCS1(t, 0), "101", "9002", GitHubInstallationNotFound, "installation_id", "no installation 9002 of app 101"},
		{"no such installation", ghPKCS1(t, 0), "101", "12345", GitHubInstallationNotFound, "installation_id", "no installation 12345"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			keyPEM := c.key
			mn := mintNew(t, ghMaterial(t, keyPEM), MintConfig{AppID: c.app, InstallationID: c.inst, BaseURL: s.BaseURL(), HTTPClient: http.DefaultClient})
			_, err := mn.Refresh(context.Background(), oauth.TokenSet{})
			var ge *GitHubAppError
			if !errors.As(err, &ge) || ge.Problem != c.want || ge.Field() != c.field || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("error = %v (%#v)", err, err)
			}
			oe := mintOAuthError(t, err)
			if oe.Temporary || !oe.GrantRevoked() {
				t.Errorf("the engine would retry: %#v", oe)
			}
			mintNoLeak(t, err, keyPEM[40:80])
			if strings.Contains(oe.Error(), "eyJ") {
				t.Error("the JWT reached the error")
			}
		})
	}
}

func TestGitHubAppTemporaryFailures(t *testing.T) {
	s := ghPeer(t, githubapptest.Options{})
	mn := mintNew(t, ghMaterial(t, ghPKCS1(t, 0)), MintConfig{AppID: "101", InstallationID: "9001", BaseURL: s.BaseURL(), HTTPClient: http.DefaultClient})
	for _, status := range []int{500, 502, 503, 429} {
		s.FailNext(1, status)
		_, err := mn.Refresh(context.Background(), oauth.TokenSet{})
		oe := mintOAuthError(t, err)
		var ge *GitHubAppError
		if !oe.Temporary || oe.Status != status || errors.As(err, &ge) {
			t.Errorf("HTTP %d: %#v", status, err)
		}
	}
	if _, err := mn.Refresh(context.Background(), oauth.TokenSet{}); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
}

// TestGitHubAppClockSkew: the JWT survives a minter clock up to a minute
// ahead of GitHub's (iat is backdated, exp ≤ 10 min) and is refused when
// the clocks are further apart.
func TestGitHubAppClockSkew(t *testing.T) {
	s := ghPeer(t, githubapptest.Options{})
	for skew, ok := range map[time.Duration]bool{0: true, 55 * time.Second: true, -5 * time.Minute: true, 2 * time.Minute: false, -11 * time.Minute: false} {
		mn := mintNew(t, ghMaterial(t, ghPKCS1(t, 0)), MintConfig{AppID: "101", InstallationID: "9001", BaseURL: s.BaseURL(),
			HTTPClient: http.DefaultClient, Now: func() time.Time { return time.Now().Add(skew) }})
		_, err := mn.Refresh(context.Background(), oauth.TokenSet{})
		if (err == nil) != ok {
			t.Errorf("clock %v ahead: %v", skew, err)
		}
	}
}

func TestGitHubAppConfigIsChecked(t *testing.T) {
	m := ghMaterial(t, ghPKCS1(t, 0))
	good := MintConfig{AppID: "101", InstallationID: "9001", HTTPClient: http.DefaultClient}
	cases := []struct {
		name string
		edit func(*MintConfig)
		want string
	}{
		{"no app id", func(c *MintConfig) { c.AppID = "" }, "app id"},
		{"app id with a path", func(c *MintConfig) { c.AppID = "1/../2" }, "app_id"},
		{"no installation", func(c *MintConfig) { c.InstallationID = "" }, "installation id"},
		{"installation not numeric", func(c *MintConfig) { c.InstallationID = "9001/x" }, "installation_id"},
		{"base url not http", func(c *MintConfig) { c.BaseURL = "ftp://ghe.example.com/api/v3" }, "base_url"},
		{"base url with credentials", func(c *MintConfig) { c.BaseURL = "https://u:p@ghe.example.com/api/v3" }, "base_url"},
		{"base url with a query", func(c *MintConfig) { c.BaseURL = "https://ghe.example.com/api/v3?x=1" }, "base_url"},
		{"token url", func(c *MintConfig) { c.TokenURL = "https://x/token" }, "token_url is not used"},
		{"scopes", func(c *MintConfig) { c.Scopes = []string{"repo"} }, "scopes is not used"},
		{"client secret", func(c *MintConfig) { c.ClientSecret = "s" }, "client_secret is not used"},
		{"no client", func(c *MintConfig) { c.HTTPClient = nil }, "HTTP client"},
	}
	for _, c := range cases {
		cfg := good
		c.edit(&cfg)
		if _, err := NewMinter(m, cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := NewMinter(Material{Kind: KindJWTBearer, KeyPEM: m.KeyPEM}, MintConfig{TokenURL: "https://x/t", Issuer: "i", AppID: "1", HTTPClient: http.DefaultClient}); err == nil || !strings.Contains(err.Error(), "app_id is not used") {
		t.Errorf("app_id on jwt_bearer: %v", err)
	}
	for _, id := range []string{"101", "Iv1.8a61f9b3a7aba766", "Iv23liAbCdEf"} {
		cfg := good
		cfg.AppID = id
		if _, err := NewMinter(m, cfg); err != nil {
			t.Errorf("app id %q: %v", id, err)
		}
	}
}

// TestParseGitHubAppKey: the .pem GitHub issues (PKCS#1), PKCS#8, and
// what is refused, as a JSON body and as an upload.
func TestParseGitHubAppKey(t *testing.T) {
	pkcs1, err := os.ReadFile("testdata/rsa2048_pkcs1.pem")
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, _ := os.ReadFile("testdata/rsa2048_pkcs8.pem")
	for name, text := range map[string]string{"pkcs1": string(pkcs1), "pkcs8": string(pkcs8)} {
		m, info, err := ParseFile(KindGitHubApp, []byte(text), nil, ptNow)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if m.Kind != KindGitHubApp || info.Algorithm != "RSA" || info.Bits != 2048 || !strings.HasPrefix(info.Identity, "SHA256:") || info.Hint == "" {
			t.Errorf("%s: info = %+v", name, info)
		}
		if got, err := Inspect(m, ptNow); err != nil || got.Identity != info.Identity {
			t.Errorf("%s: Inspect = %+v, %v", name, got, err)
		}
		raw, _ := json.Marshal(text)
		if _, _, err := Parse(KindGitHubApp, map[string]json.RawMessage{"key_pem": raw}, ptNow); err != nil {
			t.Errorf("%s as key_pem: %v", name, err)
		}
	}
	ec := mintPEM(t, mintECKey(t, elliptic.P256()))
	ecRaw, _ := json.Marshal(ec)
	cases := []struct {
		name   string
		body   map[string]json.RawMessage
		status int
		field  string
	}{
		{"EC key", map[string]json.RawMessage{"key_pem": ecRaw}, 422, "key_pem"},
		{"missing", map[string]json.RawMessage{}, 400, "key_pem"},
		{"not PEM", map[string]json.RawMessage{"key_pem": json.RawMessage(`"hello"`)}, 400, "key_pem"},
		{"extra field", map[string]json.RawMessage{"key_pem": ecRaw, "app_id": json.RawMessage(`"1"`)}, 400, "app_id"},
	}
	for _, c := range cases {
		_, _, err := Parse(KindGitHubApp, c.body, ptNow)
		ptWantProblem(t, err, c.status, c.field)
	}
	_, _, err = ParseFile(KindGitHubApp, pkcs1, map[string]string{"app_id": "1"}, ptNow)
	ptWantProblem(t, err, 400, "app_id")
}

// TestGitHubAppSustainedMints: a token cache that renews before expiry
// (as the token engine does) under continuous use mints once per token
// lifetime, not per request; every request succeeds.
func TestGitHubAppSustainedMints(t *testing.T) {
	s := ghPeer(t, githubapptest.Options{TokenTTL: 2 * time.Second})
	mn := mintNew(t, ghMaterial(t, ghPKCS1(t, 0)), MintConfig{AppID: "101", InstallationID: "9001", BaseURL: s.BaseURL(), HTTPClient: http.DefaultClient})
	var mu sync.Mutex
	var cur oauth.TokenSet
	token := func() oauth.TokenSet {
		mu.Lock()
		defer mu.Unlock()
		if !cur.FreshAt(time.Now()) {
			ts, err := mn.Refresh(context.Background(), cur)
			if err != nil {
				t.Error(err)
				return cur
			}
			cur = ts
		}
		return cur
	}
	deadline := time.Now().Add(5 * time.Second)
	var failed, done int64
	var wg sync.WaitGroup
	var cmu sync.Mutex
	for range 8 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				req, _ := http.NewRequest("GET", s.RepositoriesURL(), nil)
				oauth.PlacementOf(nil).Apply(req, token().AccessToken)
				resp, err := http.DefaultClient.Do(req)
				cmu.Lock()
				done++
				if err != nil || resp.StatusCode != 200 {
					failed++
				}
				cmu.Unlock()
				if err == nil {
					resp.Body.Close()
				}
			}
		})
	}
	wg.Wait()
	// A 2 s token is renewed with half its life left: ≈ 5 s / 1 s + 1.
	if failed != 0 || s.Mints() > 7 || s.Mints() < 4 {
		t.Fatalf("%d requests, %d failed, %d mints", done, failed, s.Mints())
	}
	t.Logf("%d requests over 5 s, 0 failed, %d mints (2 s tokens)", done, s.Mints())
}
