package githubapptest

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var key1, key2 = mustKey(), mustKey()

func mustKey() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// jwt signs header and claims with RS256 (key) or HS256 (hmacKey).
func jwt(header, claims map[string]any, key *rsa.PrivateKey, hmacKey []byte) string {
	in := b64(header) + "." + b64(claims)
	var sig []byte
	if hmacKey != nil {
		m := hmac.New(sha256.New, hmacKey)
		m.Write([]byte(in))
		sig = m.Sum(nil)
	} else {
		sum := sha256.Sum256([]byte(in))
		sig, _ = rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func mint(t *testing.T, s *Server, installation, token string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.BaseURL()+"/app/installations/"+installation+"/access_tokens", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("User-Agent", "test")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &body)
	return resp.StatusCode, body
}

// TestVerifiesAppJWTs: what GitHub accepts and refuses.
func TestVerifiesAppJWTs(t *testing.T) {
	now := time.Now()
	s := New(t, Options{Prefix: "/api/v3", Now: func() time.Time { return now }})
	s.AddApp("101", &key1.PublicKey)
	s.AddInstallation("101", "9001")
	rs := map[string]any{"alg": "RS256", "typ": "JWT"}
	claims := func(iss any, iat, exp time.Duration) map[string]any {
		return map[string]any{"iss": iss, "iat": now.Add(iat).Unix(), "exp": now.Add(exp).Unix()}
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(&key1.PublicKey)
	cases := []struct {
		name   string
		token  string
		inst   string
		status int
	}{
		{"valid, iss string", jwt(rs, claims("101", -time.Minute, 9*time.Minute), key1, nil), "9001", 201},
		{"valid, iss number", jwt(rs, claims(101, -time.Minute, 9*time.Minute), key1, nil), "9001", 201},
		{"valid, iat within skew", jwt(rs, claims("101", 50*time.Second, 9*time.Minute), key1, nil), "9001", 201},
		{"other app's key", jwt(rs, claims("101", -time.Minute, 9*time.Minute), key2, nil), "9001", 401},
		{"unknown app", jwt(rs, claims("102", -time.Minute, 9*time.Minute), key1, nil), "9001", 401},
		{"alg none", b64(map[string]any{"alg": "none"}) + "." + b64(claims("101", -time.Minute, 9*time.Minute)) + ".", "9001", 401},
		{"HS256 with the public key", jwt(map[string]any{"alg": "HS256"}, claims("101", -time.Minute, 9*time.Minute), nil, pubDER), "9001", 401},
		{"RS512 header", jwt(map[string]any{"alg": "RS512"}, claims("101", -time.Minute, 9*time.Minute), key1, nil), "9001", 401},
		{"expired", jwt(rs, claims("101", -11*time.Minute, -time.Minute), key1, nil), "9001", 401},
		{"exp too far", jwt(rs, claims("101", 0, 11*time.Minute), key1, nil), "9001", 401},
		{"lifetime over 10 min", jwt(rs, claims("101", -5*time.Minute, 6*time.Minute), key1, nil), "9001", 401},
		{"iat in the future", jwt(rs, claims("101", 2*time.Minute, 9*time.Minute), key1, nil), "9001", 401},
		{"no iat", jwt(rs, map[string]any{"iss": "101", "exp": now.Add(time.Minute).Unix()}, key1, nil), "9001", 401},
		{"tampered claims", func() string {
			tok := jwt(rs, claims("101", -time.Minute, 9*time.Minute), key1, nil)
			p := strings.Split(tok, ".")
			return p[0] + "." + b64(claims("101", -time.Minute, 9*time.Minute+time.Second)) + "." + p[2]
		}(), "9001", 401},
		{"not a JWT", "ghs_abc", "9001", 401},
		{"unknown installation", jwt(rs, claims("101", -time.Minute, 9*time.Minute), key1, nil), "9999", 404},
	}
	var minted int64
	for _, c := range cases {
		status, body := mint(t, s, c.inst, c.token)
		if status != c.status {
			t.Errorf("%s: %d %v, want %d", c.name, status, body, c.status)
			continue
		}
		if status == 201 {
			minted++
			tok, _ := body["token"].(string)
			exp, err := time.Parse(time.RFC3339, body["expires_at"].(string))
			if !s.Valid(tok) || err != nil || exp.Sub(now) < 59*time.Minute || exp.Sub(now) > time.Hour {
				t.Errorf("%s: token %q expires %v", c.name, tok, body["expires_at"])
			}
		}
	}
	if s.Mints() != minted {
		t.Errorf("Mints() = %d, want %d", s.Mints(), minted)
	}
}

// TestInstallationBelongsToItsApp: a valid JWT of app 202 cannot mint a
// token for app 101's installation.
func TestInstallationBelongsToItsApp(t *testing.T) {
	s := New(t, Options{})
	s.AddApp("101", &key1.PublicKey)
	s.AddApp("202", &key2.PublicKey)
	s.AddInstallation("101", "9001")
	now := time.Now()
	tok := jwt(map[string]any{"alg": "RS256"}, map[string]any{"iss": "202", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}, key2, nil)
	if status, _ := mint(t, s, "9001", tok); status != 404 {
		t.Fatalf("status %d", status)
	}
}

// TestTokensExpireAndHeadersMatter: the resource takes only live tokens;
// a missing User-Agent or an unknown API version is refused as at GitHub.
func TestTokensExpireAndHeadersMatter(t *testing.T) {
	now := time.Now()
	var offset atomic.Int64
	s := New(t, Options{TokenTTL: time.Minute, Now: func() time.Time { return now.Add(time.Duration(offset.Load())) }})
	s.AddApp("101", &key1.PublicKey)
	s.AddInstallation("101", "9001")
	app := jwt(map[string]any{"alg": "RS256"}, map[string]any{"iss": "101", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}, key1, nil)
	status, body := mint(t, s, "9001", app)
	if status != 201 {
		t.Fatal(status, body)
	}
	get := func(auth string) int {
		req, _ := http.NewRequest("GET", s.RepositoriesURL(), nil)
		req.Header.Set("Authorization", auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tok := body["token"].(string)
	if get("Bearer "+tok) != 200 || get("token "+tok) != 200 || get("Bearer ghs_forged") != 401 {
		t.Fatal("resource does not check tokens")
	}
	offset.Store(int64(61 * time.Second))
	if get("Bearer "+tok) != 401 || s.Valid(tok) {
		t.Fatal("an expired token was accepted")
	}

	for name, set := range map[string]func(*http.Request){
		"no User-Agent":       func(r *http.Request) { r.Header.Set("User-Agent", "") }, // Go then sends none
		"unknown API version": func(r *http.Request) { r.Header.Set("X-GitHub-Api-Version", "1999-01-01") },
	} {
		req, _ := http.NewRequest("POST", s.BaseURL()+"/app/installations/9001/access_tokens", nil)
		req.Header.Set("Authorization", "Bearer "+app)
		req.Header.Set("User-Agent", "test")
		set(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("%s: %d", name, resp.StatusCode)
		}
	}
}
