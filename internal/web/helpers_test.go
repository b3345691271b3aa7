package web_test

import (
	"bytes"
	"encoding/json"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/server/servertest"
)

// browser is a plain HTTP client with a cookie jar that does not follow
// redirects, for checking what each answer says.
type browser struct {
	t    *testing.T
	env  *servertest.Env
	http *http.Client
}

func newBrowser(t *testing.T, env *servertest.Env) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, env: env, http: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	Status int
	Header http.Header
	Body   string
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.http.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
}

func (b *browser) get(path string) page {
	b.t.Helper()
	req, _ := http.NewRequest("GET", b.env.URL+path, nil)
	return b.do(req)
}

// post sends a urlencoded form; the CSRF token is added unless form
// sets "csrf" (to "" to leave it out).
func (b *browser) post(path string, form url.Values, csrfFrom string) page {
	b.t.Helper()
	if _, set := form["csrf"]; !set {
		form.Set("csrf", b.csrf(csrfFrom))
	} else if form.Get("csrf") == "" {
		form.Del("csrf")
	}
	req, _ := http.NewRequest("POST", b.env.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// upload sends the setup dialog's multipart form.
func (b *browser) upload(path string, file []byte, fields map[string]string, csrfFrom string) page {
	b.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if csrfFrom != "" {
		mw.WriteField("csrf", b.csrf(csrfFrom))
	}
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", "key.json")
	fw.Write(file)
	mw.Close()
	req, _ := http.NewRequest("POST", b.env.URL+path, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.do(req)
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the CSRF token of the page at path.
func (b *browser) csrf(path string) string {
	b.t.Helper()
	p := b.get(path)
	m := csrfRe.FindStringSubmatch(p.Body)
	if m == nil {
		b.t.Fatalf("no CSRF token on %s (%d): %.300s", path, p.Status, p.Body)
	}
	return html.UnescapeString(m[1])
}

func (b *browser) signIn(token string) {
	b.t.Helper()
	p := b.post("/signin", url.Values{"token": {token}}, "/signin")
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != "/integrations" {
		b.t.Fatalf("sign in: %d %s %.300s", p.Status, p.Header.Get("Location"), p.Body)
	}
}

// text is a page's visible text, roughly: tags dropped, space folded.
func text(body string) string {
	s := regexp.MustCompile(`(?s)<script.*?</script>|<[^>]*>`).ReplaceAllString(body, " ")
	return strings.Join(strings.Fields(html.UnescapeString(s)), " ")
}

// apiKeyIntegration creates a custom API-key integration whose upstream
// accepts keys.
func apiKeyIntegration(t *testing.T, env *servertest.Env, name string, keys ...string) (string, *servertest.Upstream) {
	t.Helper()
	up := servertest.NewUpstream(t, keys...)
	return env.CustomIntegration(name, up), up
}

// oauthIntegration creates a custom OAuth 2.0 integration for as.
func oauthIntegration(t *testing.T, env *servertest.Env, as *oauthtest.Server, name string) string {
	t.Helper()
	as.AddRedirectURI(oauthtest.DefaultClientID, env.URL+"/oauth/callback")
	in := env.Must(201, "POST", "/v1/integrations", "", map[string]any{
		"name": name, "provider": "custom", "auth_method": "oauth2",
		"config": map[string]any{
			"base_url": as.URL,
			"verify":   map[string]any{"method": "GET", "path": "/userinfo"},
			"oauth2": map[string]any{
				"issuer": as.Issuer, "client_id": oauthtest.DefaultClientID, "client_secret": oauthtest.DefaultClientSecret,
				"scopes": []string{"offline", "openid"}, "pkce": true,
			},
		},
	})
	return in["id"].(string)
}

// clientCredentialsIntegration creates a custom client_credentials
// service-account integration against as, which knows the client
// svc-one / secret.
func clientCredentialsIntegration(t *testing.T, env *servertest.Env, as *oauthtest.Server, name, secret string) string {
	t.Helper()
	as.AddClient(oauthtest.Client{ID: "svc-one", Secret: secret})
	in := env.Must(201, "POST", "/v1/integrations", "", map[string]any{
		"name": name, "provider": "custom", "auth_method": "service_account",
		"config": map[string]any{
			"base_url":        as.URL,
			"verify":          map[string]any{"method": "GET", "path": "/userinfo"},
			"service_account": map[string]any{"kind": "client_credentials", "token_url": as.TokenURL(), "scopes": []string{"read"}},
		},
	})
	return in["id"].(string)
}

func clientFile(t *testing.T, id, secret string) []byte {
	b, err := json.Marshal(map[string]string{"client_id": id, "client_secret": secret})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func credentialStates(t *testing.T, env *servertest.Env, id string) []string {
	t.Helper()
	var out []string
	for _, c := range env.Must(200, "GET", "/v1/integrations/"+id+"/credentials", "", nil)["credentials"].([]any) {
		m := c.(map[string]any)
		out = append(out, m["state"].(string))
	}
	return out
}

func status(t *testing.T, env *servertest.Env, id string) string {
	t.Helper()
	return env.Must(200, "GET", "/v1/integrations/"+id, "", nil)["status"].(string)
}
