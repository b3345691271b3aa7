package web_test

import (
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/server/servertest"
	"github.com/stormcreds/storm/internal/store/postgres"
)

// TestMain makes Storm (this test binary) trust the certificate every
// httptest TLS server presents, so an operator's provider definition,
// which must use https, can point at a local upstream or authorization
// server: connect links that create an integration offer catalog
// providers only. The system pool is read once, on first use; nothing
// here reaches a real host.
func TestMain(m *testing.M) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	srv.Close()
	f, err := os.CreateTemp("", "storm-web-test-roots-*.pem")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	f.Write(cert)
	f.Close()
	os.Setenv("SSL_CERT_FILE", f.Name())
	code := m.Run()
	os.Remove(f.Name())
	os.Exit(code)
}

// linkBackends runs f against a SQLite and a PostgreSQL backed server
// (the latter skips without a test database, except under CI).
func linkBackends(t *testing.T, f func(t *testing.T, opts servertest.Options)) {
	t.Run("sqlite", func(t *testing.T) { f(t, servertest.Options{NoBackground: true}) })
	t.Run("postgres", func(t *testing.T) {
		f(t, servertest.Options{NoBackground: true, Database: postgres.TestURL(t)})
	})
}

// newLink makes a connect link through the API and returns its id and
// the path of its page (/connect/<secret>).
func newLink(t *testing.T, env *servertest.Env, endpoint string, body map[string]any) (id, path string) {
	t.Helper()
	r := env.Must(http.StatusCreated, "POST", endpoint, "", body)
	u, err := url.Parse(r["url"].(string))
	if err != nil || !strings.HasPrefix(r["url"].(string), env.URL+"/connect/") {
		t.Fatalf("link url %q", r["url"])
	}
	return r["id"].(string), u.Path
}

// linkFor makes a link to integration id.
func linkFor(t *testing.T, env *servertest.Env, id string, body map[string]any) (string, string) {
	return newLink(t, env, "/v1/integrations/"+id+"/connect", body)
}

func linkView(t *testing.T, env *servertest.Env, id string) map[string]any {
	t.Helper()
	return env.Must(http.StatusOK, "GET", "/v1/connect/"+id, "", nil)
}

// tlsUpstream serves up's key check over https (the certificate TestMain
// made trusted).
func tlsUpstream(t *testing.T, up *servertest.Upstream) string {
	t.Helper()
	s := httptest.NewTLSServer(up.Server.Config.Handler)
	t.Cleanup(s.Close)
	return s.URL
}

// tlsFront serves as over https, for an operator's provider definition.
func tlsFront(t *testing.T, as *oauthtest.Server) string {
	t.Helper()
	target, _ := url.Parse(as.URL)
	s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r2 := r.Clone(r.Context())
		r2.URL.Scheme, r2.URL.Host, r2.Host, r2.RequestURI = target.Scheme, target.Host, target.Host, ""
		resp, err := http.DefaultTransport.RoundTrip(r2)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		buf := make([]byte, 32<<10)
		for {
			n, err := resp.Body.Read(buf)
			w.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}))
	t.Cleanup(s.Close)
	return s.URL
}

// operatorProviders writes provider definitions into dataDir/providers,
// which the server loads at start.
func operatorProviders(t *testing.T, dataDir string, files map[string]string) {
	t.Helper()
	dir := filepath.Join(dataDir, "providers")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// acmeKeyProvider is an API-key provider at base (https) verified with
// GET /me.
func acmeKeyProvider(name, base string) string {
	return fmt.Sprintf(`name: %s
display_name: Acme %s
categories: [dev-tools]
docs_url: https://docs.acme.example/auth
base_url: %s
auth_methods: [api_key]
api_key:
  in: header
  name: Authorization
  prefix: 'Bearer '
verify:
  method: GET
  path: /me
`, name, name, base)
}

// acmeOAuthProvider is an OAuth-only provider whose endpoints are at
// base (an https front of a fosite server).
func acmeOAuthProvider(name, base string) string {
	return fmt.Sprintf(`name: %s
display_name: Acme %s
categories: [dev-tools]
docs_url: https://docs.acme.example/oauth
base_url: %s
auth_methods: [oauth2]
oauth2:
  authorize_url: %s/authorize
  token_url: %s/token
  scopes: [offline]
  auth_style: basic
  pkce: true
verify:
  method: GET
  path: /userinfo
`, name, name, base, base, base)
}

var titleRe = regexp.MustCompile(`(?s)<h1[^>]*>(.*?)</h1>`)

// h1 is a page's first heading.
func h1(body string) string {
	m := titleRe.FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return text(m[1])
}
