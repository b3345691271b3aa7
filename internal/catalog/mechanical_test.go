package catalog_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	josejwt "github.com/go-jose/go-jose/v3/jwt"
	"gopkg.in/yaml.v3"

	"github.com/stormcreds/storm/internal/apps"
	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/creds"
	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/methods/oauth1/oauth1test"
	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/proxy"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/sqlite"
	"github.com/stormcreds/storm/internal/vault"
)

// TestEveryEntryMechanically drives every catalog entry and every auth
// method it offers through the production credential path (creds.Service
// with a real SQLite store and vault, the real proxy, the real OAuth 2.0
// client against the in-process fosite server) to a local HTTPS upstream
// that records what arrives. Only the network is redirected: every host
// the entry names resolves to the upstream, which holds a certificate for
// it, so URLs, Host headers, paths, queries and headers are exactly those
// a provider would see. It checks, per entry:
//   - api_key: the verify request's method, host, path, query and body;
//     the key placed (header with prefix, query parameter, Basic user and
//     password) as the entry says, with its extra headers and query, and
//     nowhere else; a proxied request the same way under the base path.
//   - oauth2: the authorization URL (endpoint, client, redirect URI, scope
//     joined by the entry's separator, PKCE S256 if and only if the entry
//     says, extra parameters); the code exchange and a forced refresh at
//     the entry's token (or refresh) URL with the entry's client
//     authentication, accepted by fosite; the access token on verify and
//     proxied requests in the entry's header with its prefix and headers.
//   - service_account: the minting request at the entry's token URL
//     (grant type, assertion claims and signature, client
//     authentication, scope, audience, extra parameters), or the SigV4
//     signature's scope, or the client certificate presented (mTLS), and
//     the credential on verify and proxied requests.
//   - basic, oauth1, token exchanges, github_app and protected resources
//     (remote MCP servers): see mechanical_methods_test.go.
//
// It needs no internet and catches template mistakes across the whole
// catalog.
func TestEveryEntryMechanically(t *testing.T) {
	h := newHarness(t)
	cat := h.cat
	cases := 0
	for _, p := range cat.List() {
		if p.Name == catalog.Custom {
			continue
		}
		for _, m := range p.AuthMethods {
			cases++
			t.Run(p.Name+"/"+m, func(t *testing.T) {
				c := h.newCase(t, p, m)
				switch m {
				case catalog.MethodAPIKey:
					c.apiKey()
				case catalog.MethodOAuth2:
					c.oauth2()
				case catalog.MethodServiceAccount:
					c.serviceAccount()
				case catalog.MethodBasic:
					c.basic()
				case catalog.MethodOAuth1:
					c.oauth1()
				default:
					t.Fatalf("no mechanical check for auth method %q", m)
				}
			})
		}
	}
	t.Logf("%d cases (provider × auth method) over %d providers", cases, len(cat.List())-1)
	if cases < 100 {
		t.Errorf("only %d cases", cases)
	}
}

// sampleShared fills the shared keys a service_account.requires names.
// Config field values come from testdata/samples.yaml (see loadSamples).
var sampleShared = map[string]string{
	"issuer":          "storm-sample-issuer",
	"subject":         "svc@acme.example",
	"app_id":          sampleAppID,
	"installation_id": sampleInstallation,
}

// samples are testdata/samples.yaml: values by field name, and by
// provider and field name where a provider needs its own.
type samples struct {
	Values    map[string]string            `yaml:"values"`
	Providers map[string]map[string]string `yaml:"providers"`
}

func loadSamples(t *testing.T) samples {
	t.Helper()
	var s samples
	b, err := os.ReadFile("testdata/samples.yaml")
	if err == nil {
		err = yaml.Unmarshal(b, &s)
	}
	if err != nil {
		t.Fatalf("testdata/samples.yaml: %v", err)
	}
	return s
}

const (
	clientID     = oauthtest.DefaultClientID
	clientSecret = oauthtest.DefaultClientSecret
	publicURL    = "https://storm.example"
	probePath    = "storm-probe/x"
	probeQuery   = "probe=1"
)

// harness is the Storm side (creds.Service and its proxy) plus the
// upstream and the authorization server, shared by every case.
type harness struct {
	t                   *testing.T
	cat                 *catalog.Catalog
	svc                 *creds.Service
	px                  *proxy.Proxy
	st                  store.Store
	ws                  store.Workspace
	up                  *upstream
	as                  *oauthtest.Server
	ca                  *testCA
	rsaKey              *rsa.PrivateKey
	rsaPEM              string
	certPEM, certKeyPEM string
	cert                *x509.Certificate
	samples             samples
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	ctx := context.Background()
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, cat: cat, ca: newTestCA(t), samples: loadSamples(t)}
	h.as = oauthtest.New(t, oauthtest.Options{PKCEOptional: true, OmitIssParam: true})
	h.as.AddRedirectURI(clientID, publicURL+creds.CallbackPath)
	h.up = newUpstream(t, h.ca, h.as)

	h.rsaKey, err = rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(h.rsaKey)
	h.rsaPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	h.cert, h.certPEM, h.certKeyPEM = h.ca.clientCert(t)

	st := sqlite.OpenTest(t)
	h.st = st
	v := vault.OpenTest(t, st)
	// Every host resolves to the upstream: the transport dials it
	// whatever the address, and trusts the test CA that issues the
	// upstream a certificate for each name it is asked for.
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, h.up.addr)
		},
		TLSClientConfig: &tls.Config{RootCAs: h.ca.pool, MinVersion: tls.VersionTLS12},
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	h.px, err = proxy.New(proxy.Config{Transport: tr, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	rec := events.NewRecorder(st, time.Now, logger, events.ReadsConfig{})
	// MCP servers' dynamic registrations are apps.
	clients, err := apps.NewClients(apps.ClientsConfig{Store: st, Vault: v, Recorder: rec, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	h.svc, err = creds.New(creds.Config{Store: st, Vault: v, Catalog: cat, Recorder: rec, Proxy: h.px,
		PublicURL: publicURL, Logger: logger, Apps: clients})
	if err != nil {
		t.Fatal(err)
	}
	h.ws = store.Workspace{ID: store.NewID("ws"), Name: "default", CreatedAt: time.Now().UTC()}
	if err := st.CreateWorkspace(ctx, h.ws); err != nil {
		t.Fatal(err)
	}
	return h
}

// mcase is one provider × auth method.
type mcase struct {
	*harness
	t      *testing.T
	p      catalog.Provider // as in the catalog, templates unexpanded
	method string
	vars   map[string]string // config field values, defaults filled
	config map[string]any
	integ  store.Integration
	actor  events.Actor
	o1     *oauth1test.Server // the OAuth 1.0a provider of an oauth1 case
}

func (h *harness) newCase(t *testing.T, p catalog.Provider, method string) *mcase {
	c := &mcase{harness: h, t: t, p: p, method: method, vars: map[string]string{}, config: map[string]any{},
		actor: events.Actor{TokenID: "tok_mechanical"}}
	for _, f := range p.Config {
		v := h.samples.Providers[p.Name][f.Name]
		if v == "" && (f.Required || (method == catalog.MethodServiceAccount && p.ServiceAccount != nil &&
			slices.Contains(p.ServiceAccount.Requires, f.Name))) {
			v = h.samples.Values[f.Name]
			if v == "" {
				t.Fatalf("no sample value for config field %q; add one to testdata/samples.yaml", f.Name)
			}
		}
		if v != "" {
			if f.Pattern != "" && !regexp.MustCompile(`^(?:`+f.Pattern+`)$`).MatchString(v) {
				t.Fatalf("sample %q for %s does not match its pattern %s", v, f.Name, f.Pattern)
			}
			c.config[f.Name] = v
			c.vars[f.Name] = v
		} else {
			c.vars[f.Name] = f.Default
		}
	}
	if (method == catalog.MethodOAuth2 && !isResource(p)) || (method == catalog.MethodServiceAccount && p.ServiceAccount.Kind != "github_app") {
		c.config["client_id"] = clientID
		c.config["client_secret"] = clientSecret
	}
	if method == catalog.MethodServiceAccount {
		for _, k := range p.ServiceAccount.Requires {
			if _, set := c.config[k]; !set {
				c.config[k] = sampleShared[k]
			}
		}
		if p.ServiceAccount.Kind == "mtls" {
			c.config["ca_pem"] = h.ca.pem
		}
	}
	c.prepareMethodCase()
	// The upstream knows the case first: creating a protected-resource
	// integration discovers and registers.
	h.up.begin(c)
	var err error
	c.integ, err = h.svc.CreateIntegration(context.Background(), c.actor, h.ws, creds.CreateInput{
		Name: p.Name + " " + method, Provider: p.Name, AuthMethod: method, Config: c.config})
	if err != nil {
		t.Fatalf("CreateIntegration: %v", err)
	}
	h.up.reset()
	return c
}

// expand fills {name} placeholders from the case's config values: an
// independent re-implementation, so the catalog's expander is checked too.
func (c *mcase) expand(tmpl string, extra ...string) string {
	s := tmpl
	for k, v := range c.vars {
		s = strings.ReplaceAll(s, "{"+k+"}", v)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		s = strings.ReplaceAll(s, "{"+extra[i]+"}", extra[i+1])
	}
	if strings.ContainsAny(s, "{}") {
		c.t.Fatalf("template %q still has a placeholder after expansion: %q", tmpl, s)
	}
	return s
}

func (c *mcase) parse(raw string) *url.URL {
	u, err := url.Parse(raw)
	if err != nil {
		c.t.Fatalf("parse %q: %v", raw, err)
	}
	return u
}

// base is the expanded base URL.
func (c *mcase) base() *url.URL { return c.parse(c.baseURL()) }

// verifyDef is the verify request a credential of this method uses.
func (c *mcase) verifyDef() *catalog.Verify {
	if c.method == catalog.MethodServiceAccount && c.p.ServiceAccount.Verify != nil {
		return c.p.ServiceAccount.Verify
	}
	return c.p.Verify
}

// placement checks the credential on a recorded API request.
type placement func(t *testing.T, r recorded)

// checkVerify checks the one recorded verify request (when the entry has
// one) and returns it.
func (c *mcase) checkVerify(reqs []recorded, place placement) {
	t := c.t
	v := c.verifyDef()
	if v == nil {
		if len(reqs) != 0 {
			t.Errorf("no verify request in the entry, yet %d API requests were sent", len(reqs))
		}
		return
	}
	if len(reqs) != 1 {
		t.Fatalf("%d verify requests, want 1: %v", len(reqs), reqs)
	}
	r := reqs[0]
	base := c.base()
	p, q, _ := strings.Cut(c.expand(v.Path), "?")
	wantPath := strings.TrimSuffix(base.Path, "/") + p
	if r.Method != v.Method || r.Host != base.Host || r.Path != wantPath {
		t.Errorf("verify request %s %s%s, want %s %s%s", r.Method, r.Host, r.Path, v.Method, base.Host, wantPath)
	}
	got := r.query()
	want, _ := url.ParseQuery(q)
	for k, vs := range want {
		if !slices.Equal(got[k], vs) {
			t.Errorf("verify query %s=%q, want %q", k, got[k], vs)
		}
	}
	if v.Body != "" {
		if string(r.Body) != v.Body || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("verify body %q (%s), want %q as JSON", r.Body, r.Header.Get("Content-Type"), v.Body)
		}
	} else if len(r.Body) != 0 {
		t.Errorf("verify request has a body %q", r.Body)
	}
	place(t, r)
}

// checkProxy sends a request through the proxy and checks what arrived.
func (c *mcase) checkProxy(place placement) {
	t := c.t
	ctx := context.Background()
	c.up.reset()
	via, target, err := c.svc.ProxyTarget(ctx, c.actor, &c.integ, probePath, probeQuery)
	if err != nil {
		t.Fatalf("ProxyTarget: %v", err)
	}
	w := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/v1/integrations/"+c.integ.ID+"/proxy/"+probePath+"?"+probeQuery, nil)
	via.ServeTarget(w, req, target)
	if v := c.verifyDef(); w.Code != http.StatusOK && (v == nil || !slices.Contains(v.Expect, w.Code)) {
		t.Fatalf("proxied request answered %d: %s", w.Code, w.Body)
	}
	reqs := c.up.api()
	if len(reqs) != 1 {
		t.Fatalf("%d proxied requests arrived, want 1", len(reqs))
	}
	r := reqs[0]
	base := c.base()
	wantPath := strings.TrimSuffix(base.Path, "/") + "/" + probePath
	if r.Host != base.Host || r.Path != wantPath || r.query().Get("probe") != "1" {
		t.Errorf("proxied request to %s%s?%s, want %s%s?%s…", r.Host, r.Path, r.RawQuery, base.Host, wantPath, probeQuery)
	}
	place(t, r)
}

// ---- API keys ----

func (c *mcase) apiKey() {
	t := c.t
	k := c.p.APIKey
	sum := sha256.Sum256([]byte(c.p.Name))
	key := "stormSampleKey" + hex.EncodeToString(sum[:6]) + "Z9"
	if c.p.ExchangeFor(catalog.MethodAPIKey) != nil {
		c.exchanged(creds.SaveInput{APIKey: key}, map[string]string{"api_key": key})
		return
	}
	_, err := c.svc.Save(context.Background(), c.actor, c.integ, creds.SaveInput{APIKey: key})
	if err != nil {
		t.Fatalf("Save: %v", err)
	}
	place := func(t *testing.T, r recorded) {
		t.Helper()
		var where string // the header holding the key, "" when in the query
		switch k.In {
		case catalog.InHeader:
			want := c.expand(k.Prefix) + key
			if got := r.Header.Get(k.Name); got != want {
				t.Errorf("header %s = %q, want %q", k.Name, got, want)
			}
			where = k.Name
		case catalog.InQuery:
			if got := r.query()[k.Name]; !slices.Equal(got, []string{key}) {
				t.Errorf("query %s = %q, want the key once", k.Name, got)
			}
		case catalog.InBasic:
			user, pass, ok := r.basicAuth()
			wu := c.expand(k.Username, "key", key)
			wp := c.expand(k.Password, "key", key)
			if !ok || user != wu || pass != wp {
				t.Errorf("basic auth %q:%q (%v), want %q:%q", user, pass, ok, wu, wp)
			}
			where = "Authorization"
		default:
			t.Fatalf("api_key.in %q", k.In)
		}
		// The key is nowhere else: not in the URL of a header-placed key,
		// not in another header.
		for name, vs := range r.Header {
			if http.CanonicalHeaderKey(name) == http.CanonicalHeaderKey(where) {
				continue
			}
			for _, v := range vs {
				if strings.Contains(v, key) {
					t.Errorf("the key leaked into header %s", name)
				}
			}
		}
		if k.In != catalog.InQuery && strings.Contains(r.RawQuery+r.Path, key) {
			t.Errorf("the key leaked into the URL")
		}
		for name, tmpl := range k.Headers {
			if got, want := r.Header.Get(name), c.expand(tmpl, "key", key); got != want {
				t.Errorf("header %s = %q, want %q", name, got, want)
			}
		}
		for name, tmpl := range k.Query {
			if got, want := r.query().Get(name), c.expand(tmpl, "key", key); got != want {
				t.Errorf("query %s = %q, want %q", name, got, want)
			}
		}
	}
	c.checkVerify(c.up.api(), place)
	c.checkProxy(place)
}

// ---- OAuth 2.0 ----

func (c *mcase) oauth2() {
	t := c.t
	ctx := context.Background()
	if isResource(c.p) {
		c.protectedResource()
		return
	}
	o := c.p.OAuth2
	if o.AuthorizeURL == "" || o.TokenURL == "" {
		t.Fatal("the mechanical test needs explicit authorize_url and token_url (discovery-only entries are not covered)")
	}
	raw, err := c.svc.Authorize(ctx, c.actor, c.integ, "", nil)
	if err != nil {
		t.Fatalf("Authorize: %v", err)
	}
	au := c.parse(raw)
	want := c.parse(c.expand(o.AuthorizeURL))
	if au.Scheme != want.Scheme || au.Host != want.Host || au.Path != want.Path {
		t.Errorf("authorization endpoint %s://%s%s, want %s://%s%s", au.Scheme, au.Host, au.Path, want.Scheme, want.Host, want.Path)
	}
	q := au.Query()
	for k, vs := range want.Query() { // parameters in the endpoint URL itself
		if !slices.Equal(q[k], vs) {
			t.Errorf("authorization URL %s=%q, want %q", k, q[k], vs)
		}
	}
	for k, v := range map[string]string{"response_type": "code", "client_id": clientID,
		"redirect_uri": publicURL + creds.CallbackPath} {
		if q.Get(k) != v {
			t.Errorf("authorization URL %s=%q, want %q", k, q.Get(k), v)
		}
	}
	if len(q.Get("state")) < 32 {
		t.Errorf("state %q is too short", q.Get("state"))
	}
	sep := o.ScopeSeparator
	if sep == "" {
		sep = " "
	}
	if got, want := q.Get("scope"), strings.Join(o.Scopes, sep); got != want || q.Has("scope") != (len(o.Scopes) > 0) {
		t.Errorf("scope %q (present %v), want %q", got, q.Has("scope"), want)
	}
	if o.PKCE {
		if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 {
			t.Errorf("PKCE challenge %q method %q, want an S256 challenge", q.Get("code_challenge"), q.Get("code_challenge_method"))
		}
	} else if q.Has("code_challenge") || q.Has("code_challenge_method") {
		t.Errorf("a PKCE challenge was sent to a provider whose entry has pkce: false")
	}
	for k, v := range o.ExtraAuthorizeParams {
		if q.Get(k) != v {
			t.Errorf("extra authorize parameter %s=%q, want %q", k, q.Get(k), v)
		}
	}

	// The user approves at fosite, which sees only the protocol's own
	// parameters (fosite would refuse an audience it does not know).
	fq := url.Values{}
	for _, k := range []string{"response_type", "client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"} {
		if q.Has(k) {
			fq.Set(k, q.Get(k))
		}
	}
	loc, err := c.as.Approve(ctx, c.as.AuthorizeURL()+"?"+fq.Encode())
	if err != nil {
		t.Fatalf("fosite refused the authorization request: %v", err)
	}
	if _, _, err := c.svc.Callback(ctx, loc.Query(), nil); err != nil {
		t.Fatalf("Callback: %v (token requests: %v)", err, c.up.tokens())
	}
	treqs := c.up.tokens()
	if len(treqs) != 1 {
		t.Fatalf("%d token requests for the code exchange, want 1", len(treqs))
	}
	c.checkTokenRequest(treqs[0], o.TokenURL, "authorization_code")
	form := treqs[0].form()
	if form.Get("code") == "" || form.Get("redirect_uri") != publicURL+creds.CallbackPath {
		t.Errorf("code exchange without code or with redirect_uri %q", form.Get("redirect_uri"))
	}
	if o.PKCE != form.Has("code_verifier") {
		t.Errorf("code_verifier sent: %v, want %v", form.Has("code_verifier"), o.PKCE)
	}
	for k, v := range o.ExtraTokenParams {
		if form.Get(k) != v {
			t.Errorf("extra token parameter %s=%q, want %q", k, form.Get(k), v)
		}
	}

	// A forced refresh goes to the refresh (or token) URL the same way.
	cs, err := c.st.LiveCredentials(ctx, c.integ.ID)
	if err != nil || len(cs) == 0 {
		t.Fatalf("credentials: %v", err)
	}
	active := cs[len(cs)-1]
	for _, cr := range cs {
		if cr.State == store.StateActive {
			active = cr
		}
	}
	ts, err := c.svc.Tokens().Tokens(active)
	if err != nil {
		t.Fatal(err)
	}
	c.up.reset()
	if _, err := c.svc.Tokens().RefreshAfter401(ctx, active, ts.AccessToken, time.Time{}); err != nil {
		t.Fatalf("refresh: %v (token requests: %v)", err, c.up.tokens())
	}
	treqs = c.up.tokens()
	if len(treqs) != 1 {
		t.Fatalf("%d token requests for the refresh, want 1", len(treqs))
	}
	refreshURL := o.RefreshURL
	if refreshURL == "" {
		refreshURL = o.TokenURL
	}
	c.checkTokenRequest(treqs[0], refreshURL, "refresh_token")
	token := c.up.lastAccessToken()
	if token == "" {
		t.Fatal("fosite issued no access token")
	}

	header, prefix := o.TokenHeader, o.TokenPrefix
	if header == "" {
		header, prefix = "Authorization", "Bearer "
	}
	place := func(t *testing.T, r recorded) {
		t.Helper()
		if got := r.Header.Get(header); got != prefix+token {
			t.Errorf("header %s = %q, want %q", header, got, prefix+token)
		}
		for name, tmpl := range o.Headers {
			if got, want := r.Header.Get(name), c.expand(tmpl, "client_id", clientID); got != want {
				t.Errorf("header %s = %q, want %q", name, got, want)
			}
		}
		if strings.Contains(r.RawQuery, token) {
			t.Error("the access token leaked into the query")
		}
	}
	c.up.reset()
	if _, err := c.svc.Verify(ctx, c.actor, c.integ); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	c.checkVerify(c.up.api(), place)
	c.checkProxy(place)
}

// checkTokenRequest checks a request at an OAuth 2.0 token endpoint:
// where it went, its grant, and the entry's client authentication.
func (c *mcase) checkTokenRequest(r recorded, tmpl, grant string) {
	t := c.t
	o := c.p.OAuth2
	want := c.parse(c.expand(tmpl))
	if r.Method != http.MethodPost || r.Host != want.Host || r.Path != want.Path {
		t.Errorf("token request %s %s%s, want POST %s%s", r.Method, r.Host, r.Path, want.Host, want.Path)
	}
	form := r.form()
	if form.Get("grant_type") != grant {
		t.Errorf("grant_type %q, want %q", form.Get("grant_type"), grant)
	}
	if o.TokenBodyFormat != "json" && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		t.Errorf("token request Content-Type %q, want a form", r.Header.Get("Content-Type"))
	}
	user, pass, basic := r.basicAuth()
	switch o.AuthStyle {
	case "basic":
		if !basic || user != clientID || pass != clientSecret || form.Has("client_secret") {
			t.Errorf("client authentication: basic %v (%q), client_secret in body %v; want HTTP Basic only", basic, user, form.Has("client_secret"))
		}
	case "post":
		if basic || form.Get("client_id") != clientID || form.Get("client_secret") != clientSecret {
			t.Errorf("client authentication: basic %v, body client_id %q client_secret set %v; want the body only", basic, form.Get("client_id"), form.Has("client_secret"))
		}
	default:
		t.Errorf("auth_style %q", o.AuthStyle)
	}
	if r.status != http.StatusOK {
		t.Errorf("fosite answered the token request %d: %s", r.status, r.answer)
	}
}

// ---- service accounts ----

func (c *mcase) serviceAccount() {
	t := c.t
	ctx := context.Background()
	sa := c.p.ServiceAccount
	var body map[string]json.RawMessage
	js := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
	const akid, awsSecret = "AKIASTORMSAMPLE00001", "stormSampleSecret/0123456789abcdefABCDEF"
	switch sa.Kind {
	case "google":
		der, _ := x509.MarshalPKCS8PrivateKey(c.rsaKey)
		file := map[string]string{"type": "service_account", "project_id": "acme-prod-123", "private_key_id": "kid-sample",
			"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
			"client_email": "storm@acme-prod-123.iam.gserviceaccount.com", "client_id": "1234567890",
			"token_uri": "https://oauth2.googleapis.com/token"}
		body = map[string]json.RawMessage{"file": js(file)}
	case "jwt_bearer":
		body = map[string]json.RawMessage{"key_pem": js(c.rsaPEM), "key_id": js("kid-sample")}
	case "client_credentials":
		if sa.ClientAuth == "private_key_jwt" {
			body = map[string]json.RawMessage{"client_id": js(clientID), "key_pem": js(c.rsaPEM), "key_id": js("kid-sample")}
		} else {
			body = map[string]json.RawMessage{"client_id": js(clientID), "client_secret": js(clientSecret)}
		}
	case "aws_sigv4":
		body = map[string]json.RawMessage{"access_key_id": js(akid), "secret_access_key": js(awsSecret)}
	case "mtls":
		body = map[string]json.RawMessage{"cert_pem": js(c.certPEM), "key_pem": js(c.certKeyPEM)}
	case "github_app":
		body = map[string]json.RawMessage{"key_pem": js(c.rsaPEM)}
	default:
		t.Fatalf("no mechanical check for service-account kind %q", sa.Kind)
	}
	if _, err := c.svc.Save(ctx, c.actor, c.integ, creds.SaveInput{Body: body}); err != nil {
		t.Fatalf("Save: %v (token requests: %v)", err, c.up.tokens())
	}

	var place placement
	switch sa.Kind {
	case "github_app":
		token := c.checkGitHubMint()
		place = func(t *testing.T, r recorded) {
			t.Helper()
			if got := r.Header.Get("Authorization"); got != "Bearer "+token {
				t.Errorf("Authorization %q, want the installation token as a bearer token", got)
			}
			for name, tmpl := range sa.Headers {
				if got, want := r.Header.Get(name), c.expand(tmpl); got != want {
					t.Errorf("header %s = %q, want %q", name, got, want)
				}
			}
		}
	case "google", "jwt_bearer", "client_credentials":
		token := c.checkMint()
		place = func(t *testing.T, r recorded) {
			t.Helper()
			if got := r.Header.Get("Authorization"); got != "Bearer "+token {
				t.Errorf("Authorization %q, want the minted token as a bearer token", got)
			}
			for name, tmpl := range sa.Headers {
				if got, want := r.Header.Get(name), c.expand(tmpl); got != want {
					t.Errorf("header %s = %q, want %q", name, got, want)
				}
			}
		}
		if sa.SelfSigned {
			place = func(t *testing.T, r recorded) {
				t.Helper()
				bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
				if !ok {
					t.Fatalf("Authorization %q is not a bearer token", r.Header.Get("Authorization"))
				}
				claims := c.verifyJWT(bearer)
				c.checkClaims(claims, "")
				for name, tmpl := range sa.Headers {
					if got, want := r.Header.Get(name), c.expand(tmpl); got != want {
						t.Errorf("header %s = %q, want %q", name, got, want)
					}
				}
			}
		}
	case "aws_sigv4":
		region, service := c.expand(sa.Region), sa.Service
		place = func(t *testing.T, r recorded) {
			t.Helper()
			auth := r.Header.Get("Authorization")
			date := r.Header.Get("X-Amz-Date")
			wantPrefix := fmt.Sprintf("AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=", akid, date[:min(8, len(date))], region, service)
			if len(date) != 16 || !strings.HasPrefix(auth, wantPrefix) || !strings.Contains(auth, "host") || !strings.Contains(auth, "Signature=") {
				t.Errorf("Authorization %q (X-Amz-Date %q), want a SigV4 signature with credential scope %s/%s", auth, date, region, service)
			}
			if service == "s3" && r.Header.Get("X-Amz-Content-Sha256") == "" {
				t.Errorf("no X-Amz-Content-Sha256 header (S3 wants the payload hash)")
			}
			if strings.Contains(auth+r.RawQuery, awsSecret) {
				t.Errorf("the secret access key leaked")
			}
		}
	case "mtls":
		place = func(t *testing.T, r recorded) {
			t.Helper()
			if r.peer == nil || !r.peer.Equal(c.cert) {
				t.Errorf("the upstream saw client certificate %v, want the saved one", r.peer)
			}
			if r.Header.Get("Authorization") != "" {
				t.Errorf("an mTLS request carries Authorization %q", r.Header.Get("Authorization"))
			}
		}
	}
	c.checkVerify(c.up.api(), place)
	c.checkProxy(place)
}

// checkMint checks the one minting request (none for a self-signed JWT)
// and returns the access token the upstream issued.
func (c *mcase) checkMint() string {
	t := c.t
	sa := c.p.ServiceAccount
	treqs := c.up.tokens()
	if sa.SelfSigned {
		if len(treqs) != 0 {
			t.Fatalf("a self-signed JWT made %d token requests", len(treqs))
		}
		return ""
	}
	if len(treqs) != 1 {
		t.Fatalf("%d token requests, want 1", len(treqs))
	}
	r := treqs[0]
	want := c.parse(c.expand(sa.TokenURL))
	if r.Method != http.MethodPost || r.Host != want.Host || r.Path != want.Path {
		t.Errorf("token request %s %s%s, want POST %s%s", r.Method, r.Host, r.Path, want.Host, want.Path)
	}
	form := r.form()
	scopes := c.vars // silence unused in some kinds
	_ = scopes
	joined := strings.Join(sa.Scopes, " ")
	user, pass, basic := r.basicAuth()
	checkClient := func(auth string) {
		switch auth {
		case "basic":
			if !basic || user != clientID || pass != clientSecret || form.Has("client_secret") {
				t.Errorf("client authentication: basic %v (%q), body secret %v; want HTTP Basic", basic, user, form.Has("client_secret"))
			}
		case "post":
			if basic || form.Get("client_id") != clientID || form.Get("client_secret") != clientSecret {
				t.Errorf("client authentication: basic %v, body client_id %q; want client_id and client_secret in the body", basic, form.Get("client_id"))
			}
		case "private_key_jwt":
			if basic || form.Has("client_secret") || form.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
				t.Errorf("client authentication: want a private_key_jwt client assertion only")
			}
			cl := c.verifyJWT(form.Get("client_assertion"))
			if cl["iss"] != clientID || cl["sub"] != clientID || !audIs(cl["aud"], want.String()) {
				t.Errorf("client assertion iss %v sub %v aud %v, want %s, %s, %s", cl["iss"], cl["sub"], cl["aud"], clientID, clientID, want)
			}
		case "", "none":
			if basic || form.Has("client_secret") || form.Has("client_assertion") {
				t.Errorf("the assertion alone should authenticate, yet the request carries client credentials")
			}
		default:
			t.Errorf("client_auth %q", auth)
		}
	}
	switch sa.Kind {
	case "google":
		if form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
			t.Errorf("grant_type %q", form.Get("grant_type"))
		}
		cl := c.verifyJWT(form.Get("assertion"))
		if cl["iss"] != "storm@acme-prod-123.iam.gserviceaccount.com" || !audIs(cl["aud"], want.String()) || cl["scope"] != joined {
			t.Errorf("Google assertion iss %v aud %v scope %v, want the key's client_email, %s, %q", cl["iss"], cl["aud"], cl["scope"], want, joined)
		}
		if s, _ := c.config["subject"].(string); s != "" && cl["sub"] != s {
			t.Errorf("Google assertion sub %v, want %s", cl["sub"], s)
		}
	case "jwt_bearer":
		if form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
			t.Errorf("grant_type %q", form.Get("grant_type"))
		}
		aud := c.expand(sa.Audience)
		if aud == "" {
			aud = want.String()
		}
		c.checkClaims(c.verifyJWT(form.Get("assertion")), aud)
		if sa.ScopeClaim == form.Has("scope") && len(sa.Scopes) > 0 {
			t.Errorf("scope parameter sent: %v, scope_claim: %v", form.Has("scope"), sa.ScopeClaim)
		}
		if !sa.ScopeClaim && form.Get("scope") != joined {
			t.Errorf("scope %q, want %q", form.Get("scope"), joined)
		}
		checkClient(sa.ClientAuth)
	case "client_credentials":
		grant := sa.GrantType
		if grant == "" {
			grant = "client_credentials"
		}
		if form.Get("grant_type") != grant {
			t.Errorf("grant_type %q, want %q", form.Get("grant_type"), grant)
		}
		if form.Get("scope") != joined || form.Has("scope") != (joined != "") {
			t.Errorf("scope %q, want %q", form.Get("scope"), joined)
		}
		if aud := c.expand(sa.Audience); form.Get("audience") != aud {
			t.Errorf("audience %q, want %q", form.Get("audience"), aud)
		}
		checkClient(sa.ClientAuth)
	}
	for k, tmpl := range sa.ExtraTokenParams {
		if got, w := form.Get(k), c.expand(tmpl); got != w {
			t.Errorf("extra token parameter %s=%q, want %q", k, got, w)
		}
	}
	return r.answerToken
}

// checkClaims checks a jwt_bearer assertion (aud "" for a self-signed
// JWT, which has none unless the entry sets an audience).
func (c *mcase) checkClaims(cl map[string]any, aud string) {
	t := c.t
	sa := c.p.ServiceAccount
	iss, _ := c.config["issuer"].(string)
	if iss == "" {
		iss = clientID
	}
	sub, _ := c.config["subject"].(string)
	if sub == "" {
		sub = iss
	}
	fp := publicKeyFP(&c.rsaKey.PublicKey)
	for k, tmpl := range sa.Claims {
		v := c.expand(strings.ReplaceAll(tmpl, "{"+catalog.PublicKeyFPVar+"}", fp))
		switch k {
		case "iss":
			iss = v
		case "sub":
			sub = v
		default:
			if cl[k] != v {
				t.Errorf("claim %s = %v, want %q", k, cl[k], v)
			}
		}
	}
	if cl["iss"] != iss || cl["sub"] != sub {
		t.Errorf("assertion iss %v sub %v, want %q, %q", cl["iss"], cl["sub"], iss, sub)
	}
	if sa.SelfSigned && sa.Audience == "" {
		if _, has := cl["aud"]; has {
			t.Errorf("self-signed JWT has aud %v", cl["aud"])
		}
	} else if want := c.expand(sa.Audience); !audIs(cl["aud"], aud) && !audIs(cl["aud"], want) {
		t.Errorf("assertion aud %v, want %q", cl["aud"], aud)
	}
	if sa.ScopeClaim {
		if cl["scope"] != strings.Join(sa.Scopes, " ") {
			t.Errorf("scope claim %v, want %q", cl["scope"], strings.Join(sa.Scopes, " "))
		}
	}
	exp, _ := cl["exp"].(float64)
	iat, _ := cl["iat"].(float64)
	if exp <= iat {
		t.Errorf("assertion exp %v not after iat %v", exp, iat)
	}
}

// verifyJWT checks a JWT's signature with the sample RSA key and returns
// its claims.
func (c *mcase) verifyJWT(raw string) map[string]any {
	c.t.Helper()
	tok, err := josejwt.ParseSigned(raw)
	if err != nil {
		c.t.Fatalf("not a signed JWT: %v", err)
	}
	var cl map[string]any
	if err := tok.Claims(&c.rsaKey.PublicKey, &cl); err != nil {
		c.t.Fatalf("JWT signature: %v", err)
	}
	return cl
}

func audIs(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		return len(a) == 1 && a[0] == want
	}
	return false
}

// publicKeyFP is Snowflake's fingerprint: "SHA256:" and the base64 SHA-256
// of the DER public key.
func publicKeyFP(pub *rsa.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	sum := sha256.Sum256(der)
	return "SHA256:" + base64.StdEncoding.EncodeToString(sum[:])
}

// ---- the upstream ----

// recorded is one request as it reached the upstream.
type recorded struct {
	Method, Host, Path, RawQuery string
	Header                       http.Header
	Body                         []byte
	peer                         *x509.Certificate
	// status and answer are what the upstream (or fosite) answered.
	status      int
	answer      string
	answerToken string
}

func (r recorded) query() url.Values { q, _ := url.ParseQuery(r.RawQuery); return q }

func (r recorded) form() url.Values {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var m map[string]any
		out := url.Values{}
		if json.Unmarshal(r.Body, &m) == nil {
			for k, v := range m {
				out.Set(k, fmt.Sprint(v))
			}
		}
		return out
	}
	f, _ := url.ParseQuery(string(r.Body))
	return f
}

func (r recorded) basicAuth() (string, string, bool) {
	req := &http.Request{Header: r.Header}
	u, p, ok := req.BasicAuth()
	if !ok {
		return "", "", false
	}
	// Clients form-encode the id and secret in Basic (RFC 6749 §2.3.1).
	if du, err := url.QueryUnescape(u); err == nil {
		u = du
	}
	if dp, err := url.QueryUnescape(p); err == nil {
		p = dp
	}
	return u, p, true
}

func (r recorded) String() string {
	return r.Method + " " + r.Host + r.Path + " → " + fmt.Sprint(r.status)
}

// upstream is every provider at once: an HTTPS server that holds a
// certificate for whatever name it is asked for, sends a case's OAuth 2.0
// token requests on to fosite, answers its service-account token requests
// itself, and records and answers everything else as the API.
type upstream struct {
	t    *testing.T
	addr string
	as   *oauthtest.Server

	mu          sync.Mutex
	cur         *mcase
	apiReqs     []recorded
	tokenReqs   []recorded
	regReqs     []recorded // RFC 7591 registrations
	refused     string     // a session token the API answers 401 (exchange cases)
	accessToken string
	minted      int
}

func newUpstream(t *testing.T, ca *testCA, as *oauthtest.Server) *upstream {
	u := &upstream{t: t, as: as}
	srv := httptest.NewUnstartedServer(u)
	srv.TLS = &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: ca.serverCert,
		ClientAuth:     tls.RequestClientCert, // recorded, for mTLS entries
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	u.addr = srv.Listener.Addr().String()
	return u
}

func (u *upstream) begin(c *mcase) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.cur, u.apiReqs, u.tokenReqs, u.regReqs, u.accessToken, u.refused = c, nil, nil, nil, "", ""
}

func (u *upstream) reset() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.apiReqs, u.tokenReqs = nil, nil
}

func (u *upstream) api() []recorded {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.apiReqs)
}

func (u *upstream) tokens() []recorded {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.tokenReqs)
}

func (u *upstream) lastAccessToken() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.accessToken
}

// endpointKey identifies an endpoint by host and path.
func endpointKey(raw string) string {
	p, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return p.Host + p.Path
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	rec := recorded{Method: r.Method, Host: r.Host, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body}
	if len(r.TLS.PeerCertificates) > 0 {
		rec.peer = r.TLS.PeerCertificates[0]
	}
	u.mu.Lock()
	c := u.cur
	u.mu.Unlock()
	if c != nil && u.serveMethod(w, r, c, rec) {
		return
	}
	key := r.Host + r.URL.Path
	var oauthToken, oauthRevoke, saToken bool
	if c != nil {
		if o := c.p.OAuth2; o != nil && c.method == catalog.MethodOAuth2 {
			oauthToken = key == endpointKey(c.expand(o.TokenURL)) || (o.RefreshURL != "" && key == endpointKey(c.expand(o.RefreshURL)))
			oauthRevoke = o.RevokeURL != "" && key == endpointKey(c.expand(o.RevokeURL))
		}
		if s := c.p.ServiceAccount; s != nil && c.method == catalog.MethodServiceAccount && s.TokenURL != "" {
			saToken = key == endpointKey(c.expand(s.TokenURL))
		}
	}
	switch {
	case oauthToken:
		rec.status, rec.answer = u.forwardToken(w, rec)
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		_ = json.Unmarshal([]byte(rec.answer), &tok)
		u.mu.Lock()
		u.tokenReqs = append(u.tokenReqs, rec)
		if tok.AccessToken != "" {
			u.accessToken = tok.AccessToken
		}
		u.mu.Unlock()
	case oauthRevoke:
		w.WriteHeader(http.StatusOK)
	case saToken:
		u.mu.Lock()
		u.minted++
		rec.status, rec.answerToken = http.StatusOK, fmt.Sprintf("minted-%d-%s", u.minted, c.p.Name)
		u.tokenReqs = append(u.tokenReqs, rec)
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"access_token": rec.answerToken, "token_type": "Bearer", "expires_in": 3600})
	default:
		status := http.StatusOK
		if c != nil {
			if v := c.verifyDef(); v != nil && len(v.Expect) > 0 {
				status = v.Expect[0]
			}
		}
		rec.status = status
		u.mu.Lock()
		u.apiReqs = append(u.apiReqs, rec)
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, `{"ok":true}`)
	}
}

// forwardToken sends a token request's protocol parameters on to fosite
// with the client authentication it came with, and relays the answer.
func (u *upstream) forwardToken(w http.ResponseWriter, rec recorded) (int, string) {
	in := rec.form()
	out := url.Values{}
	for _, k := range []string{"grant_type", "code", "redirect_uri", "code_verifier", "refresh_token", "client_id", "client_secret", "scope"} {
		if in.Has(k) {
			out.Set(k, in.Get(k))
		}
	}
	req, _ := http.NewRequest(http.MethodPost, u.as.TokenURL(), strings.NewReader(out.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if a := rec.Header.Get("Authorization"); a != "" {
		req.Header.Set("Authorization", a)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return http.StatusBadGateway, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	w.Write(b)
	return resp.StatusCode, string(b)
}

// ---- a test CA ----

type testCA struct {
	key   *ecdsa.PrivateKey
	cert  *x509.Certificate
	pool  *x509.CertPool
	pem   string
	mu    sync.Mutex
	leafs map[string]*tls.Certificate
}

func newTestCA(t *testing.T) *testCA {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "storm mechanical test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{key: key, cert: cert, pool: pool, leafs: map[string]*tls.Certificate{},
		pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

var serial struct {
	sync.Mutex
	n int64
}

func nextSerial() *big.Int {
	serial.Lock()
	defer serial.Unlock()
	serial.n++
	return big.NewInt(serial.n + 1)
}

// serverCert issues (once per name) a certificate for the name a client
// asks for.
func (ca *testCA) serverCert(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.ToLower(hello.ServerName)
	if name == "" {
		name = "localhost"
	}
	ca.mu.Lock()
	defer ca.mu.Unlock()
	if c, ok := ca.leafs[name]; ok {
		return c, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, err
	}
	c := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	ca.leafs[name] = c
	return c, nil
}

// clientCert issues an mTLS client certificate.
func (ca *testCA) clientCert(t *testing.T) (*x509.Certificate, string, string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: "storm sample client"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	return cert, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
}

var _ = jose.RS256 // go-jose signs and verifies the assertions
