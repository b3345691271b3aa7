package catalog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	josejwt "github.com/go-jose/go-jose/v3/jwt"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/creds"
	"github.com/stormcreds/storm/internal/methods/oauth1"
	"github.com/stormcreds/storm/internal/methods/oauth1/oauth1test"
	"github.com/stormcreds/storm/internal/store"
)

// The mechanical checks of the auth methods added with issue 10, in the
// same harness as TestEveryEntryMechanically:
//   - basic: the user name and password as HTTP Basic with the entry's
//     headers, and nowhere else.
//   - exchange (on api_key or basic): the exchange request (method,
//     host, path, body or form, headers, the saved credential in its
//     templates), the session token taken from the entry's pointer and
//     applied as its apply section says, a forced re-exchange the same
//     way; the saved credential never reaches the API.
//   - oauth1: every request signed and checked by a real OAuth 1.0a
//     provider (oauth1test) with the entry's signature method and realm;
//     three-legged entries through Authorize, the provider's approval and
//     the shared callback, at the entry's three endpoints; others with
//     token credentials saved as issued.
//   - service_account kind github_app: the installation token minted at
//     /app/installations/{id}/access_tokens with an RS256 app JWT (iss =
//     app id) and used as a bearer token.
//   - protected resources (remote MCP servers, provider mcp): discovery
//     from the server's URL alone (its 401 names the RFC 9728 metadata,
//     RFC 8414 metadata next), RFC 7591 registration, the authorization
//     URL with PKCE S256, the resource indicator and the discovered
//     scopes, the code exchange and a refresh with the resource, fosite
//     behind the discovered token endpoint.

const (
	sampleUser           = "storm-sample-user"
	sampleConsumerKey    = "storm-sample-consumer"
	sampleConsumerSecret = "storm-sample-consumer-secret"
	sampleAppID          = "12345"
	sampleInstallation   = "67890"
	// mcpServerURL is the sample server of the mcp provider, which takes
	// its URL from each integration's config.
	mcpServerURL = "https://mcp.acme.example/mcp"
)

// isResource reports whether p's OAuth 2.0 comes from discovery.
func isResource(p catalog.Provider) bool {
	return p.Name == catalog.MCP || (p.OAuth2 != nil && p.OAuth2.ProtectedResource)
}

// prepareMethodCase fills what the issue-10 methods need before the
// integration is created.
func (c *mcase) prepareMethodCase() {
	switch {
	case c.method == catalog.MethodOAuth1:
		o := c.p.OAuth1
		c.config["consumer_key"] = sampleConsumerKey
		cons := oauth1test.Consumer{Key: sampleConsumerKey, Methods: []string{o.SignatureMethod}}
		if o.SignatureMethod == oauth1.RSASHA1 {
			c.config["consumer_secret"] = c.rsaPEM
			cons.PublicKey = &c.rsaKey.PublicKey
		} else {
			c.config["consumer_secret"] = sampleConsumerSecret
			cons.Secret = sampleConsumerSecret
		}
		opts := oauth1test.Options{RequestTokenPath: "/-storm-none/rt", AuthorizePath: "/-storm-none/au", AccessTokenPath: "/-storm-none/at"}
		if o.ThreeLegged() {
			opts.RequestTokenPath = c.parse(c.expand(o.RequestTokenURL)).Path
			opts.AuthorizePath = c.parse(c.expand(o.AuthorizeURL)).Path
			opts.AccessTokenPath = c.parse(c.expand(o.AccessTokenURL)).Path
		}
		c.o1 = oauth1test.NewUnstarted(c.t, opts)
		c.o1.AddConsumer(cons)
	case c.p.Name == catalog.MCP:
		c.config["base_url"] = mcpServerURL
	}
}

// baseURL is the entry's base URL, or the mcp sample server's.
func (c *mcase) baseURL() string {
	if c.p.Name == catalog.MCP {
		return mcpServerURL
	}
	return c.expand(c.p.BaseURL)
}

// noLeak fails when any of secrets appears in r's headers (other than
// those named in allowed) or URL.
func noLeak(t *testing.T, r recorded, allowed []string, secrets ...string) {
	t.Helper()
	for name, vs := range r.Header {
		if slices.ContainsFunc(allowed, func(a string) bool { return strings.EqualFold(a, name) }) {
			continue
		}
		for _, v := range vs {
			for _, s := range secrets {
				if strings.Contains(v, s) {
					t.Errorf("a saved secret leaked into header %s", name)
				}
			}
		}
	}
	for _, s := range secrets {
		if strings.Contains(r.Path+"?"+r.RawQuery, s) {
			t.Errorf("a saved secret leaked into the URL")
		}
	}
}

// ---- HTTP Basic ----

func (c *mcase) basic() {
	t := c.t
	sum := fmt.Sprintf("%x", c.p.Name)
	pass := "stormSamplePass" + sum[:min(12, len(sum))] + "Z9"
	if c.p.ExchangeFor(catalog.MethodBasic) != nil {
		c.exchanged(creds.SaveInput{Username: sampleUser, Password: pass}, map[string]string{"username": sampleUser, "password": pass})
		return
	}
	if _, err := c.svc.Save(context.Background(), c.actor, c.integ, creds.SaveInput{Username: sampleUser, Password: pass}); err != nil {
		t.Fatalf("Save: %v", err)
	}
	place := func(t *testing.T, r recorded) {
		t.Helper()
		user, got, ok := r.basicAuth()
		if !ok || user != sampleUser || got != pass {
			t.Errorf("basic auth %q (%v), want the saved user name and password", user, ok)
		}
		if b := c.p.Basic; b != nil {
			for name, tmpl := range b.Headers {
				if got, want := r.Header.Get(name), c.expand(tmpl); got != want {
					t.Errorf("header %s = %q, want %q", name, got, want)
				}
			}
		}
		noLeak(t, r, []string{"Authorization"}, pass)
	}
	c.checkVerify(c.up.api(), place)
	c.checkProxy(place)
}

// ---- token exchange ----

// exchanged saves a credential of an integration with an exchange block
// and checks the exchange, the session token's use and a re-exchange.
// saved maps the block's template names to the saved values.
func (c *mcase) exchanged(in creds.SaveInput, saved map[string]string) {
	t := c.t
	ctx := context.Background()
	e := c.p.ExchangeFor(c.method)
	if _, err := c.svc.Save(ctx, c.actor, c.integ, in); err != nil {
		t.Fatalf("Save: %v (exchange requests: %v)", err, c.up.tokens())
	}
	treqs := c.up.tokens()
	if len(treqs) != 1 {
		t.Fatalf("%d exchange requests on Save, want 1", len(treqs))
	}
	c.checkExchange(treqs[0], e, saved)
	var secrets []string
	for _, v := range saved {
		if v != sampleUser {
			secrets = append(secrets, v)
		}
	}
	var token string
	place := func(t *testing.T, r recorded) {
		t.Helper()
		switch e.Apply.In {
		case catalog.InHeader:
			if got := r.Header.Get(e.Apply.Name); got != e.Apply.Prefix+token {
				t.Errorf("header %s = %q, want %q", e.Apply.Name, got, e.Apply.Prefix+token)
			}
		case catalog.InQuery:
			if got := r.query()[e.Apply.Name]; !slices.Equal(got, []string{e.Apply.Prefix + token}) {
				t.Errorf("query %s = %q, want the session token once", e.Apply.Name, got)
			}
		}
		noLeak(t, r, nil, secrets...)
	}
	token = treqs[0].answerToken
	c.checkVerify(c.up.api(), place)
	c.checkProxy(place)

	// The provider ends the session: the proxied request meets a 401,
	// the proxy's retry path exchanges again (the same way) and the
	// request succeeds with the new session token.
	c.up.refuse(e.Apply.Prefix + token)
	c.up.reset()
	via, target, err := c.svc.ProxyTarget(ctx, c.actor, &c.integ, probePath, probeQuery)
	if err != nil {
		t.Fatalf("ProxyTarget: %v", err)
	}
	w := httptest.NewRecorder()
	via.ServeTarget(w, httptest.NewRequest(http.MethodGet, "/v1/integrations/"+c.integ.ID+"/proxy/"+probePath+"?"+probeQuery, nil), target)
	treqs = c.up.tokens()
	if len(treqs) != 1 {
		t.Fatalf("%d exchange requests after a 401, want 1", len(treqs))
	}
	c.checkExchange(treqs[0], e, saved)
	if treqs[0].answerToken == token {
		t.Fatal("the upstream issued the same session token twice")
	}
	api := c.up.api()
	if v := c.verifyDef(); w.Code != http.StatusOK && (v == nil || !slices.Contains(v.Expect, w.Code)) || len(api) != 2 || api[0].status != http.StatusUnauthorized {
		t.Fatalf("proxied request answered %d after %d upstream requests, want the 401 retried once with a new session", w.Code, len(api))
	}
	token = treqs[0].answerToken
	place(t, api[1])
}

// checkExchange checks one exchange request against the block.
func (c *mcase) checkExchange(r recorded, e *catalog.Exchange, saved map[string]string) {
	t := c.t
	t.Helper()
	base := c.parse(c.baseURL())
	wantPath := strings.TrimSuffix(base.Path, "/") + e.Path
	if r.Method != e.Method || r.Host != base.Host || r.Path != wantPath {
		t.Errorf("exchange request %s %s%s, want %s %s%s", r.Method, r.Host, r.Path, e.Method, base.Host, wantPath)
	}
	fill := func(s string) string {
		for k, v := range saved {
			s = strings.ReplaceAll(s, "{{"+k+"}}", v)
		}
		return s
	}
	switch {
	case e.Body != nil:
		var got any
		if err := json.Unmarshal(r.Body, &got); err != nil || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("exchange body %q (%s) is not JSON", r.Body, r.Header.Get("Content-Type"))
		}
		want := fillJSON(e.Body, fill)
		wb, _ := json.Marshal(want)
		var wantJSON any
		_ = json.Unmarshal(wb, &wantJSON)
		if !reflect.DeepEqual(got, wantJSON) {
			t.Errorf("exchange body does not match the entry's with the credential filled in")
		}
	case e.Form != nil:
		got := r.form()
		if e.Method == http.MethodGet {
			got = r.query()
		}
		for k, tmpl := range e.Form {
			if got.Get(k) != fill(tmpl) {
				t.Errorf("exchange form %s does not match the entry's", k)
			}
		}
	}
	for k, tmpl := range e.Headers {
		if r.Header.Get(k) != fill(tmpl) {
			t.Errorf("exchange header %s does not match the entry's", k)
		}
	}
	if r.status != http.StatusOK {
		t.Errorf("exchange answered %d", r.status)
	}
}

func fillJSON(v any, fill func(string) string) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			out[k] = fillJSON(x, fill)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = fillJSON(x, fill)
		}
		return out
	case string:
		return fill(v)
	}
	return v
}

// exchangeAnswer is a provider's answer to an exchange: the token, and
// its lifetime, at the block's pointers.
func exchangeAnswer(e *catalog.Exchange, token string) []byte {
	doc := map[string]any{}
	set := func(ptr string, v any) {
		parts := strings.Split(ptr[1:], "/")
		m := doc
		for i, p := range parts {
			p = strings.ReplaceAll(strings.ReplaceAll(p, "~1", "/"), "~0", "~")
			if i == len(parts)-1 {
				m[p] = v
				return
			}
			next, ok := m[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
	}
	set(e.TokenPointer, token)
	if e.ExpiresInPointer != "" {
		set(e.ExpiresInPointer, 3600)
	}
	if e.ExpiresAtPointer != "" {
		set(e.ExpiresAtPointer, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	}
	b, _ := json.Marshal(doc)
	return b
}

func (c *mcase) activeCredential() store.Credential {
	c.t.Helper()
	cs, err := c.st.LiveCredentials(context.Background(), c.integ.ID)
	if err != nil {
		c.t.Fatalf("credentials: %v", err)
	}
	for _, cr := range cs {
		if cr.State == store.StateActive {
			return cr
		}
	}
	c.t.Fatal("no active credential")
	return store.Credential{}
}

// ---- OAuth 1.0a ----

func (c *mcase) oauth1() {
	t := c.t
	ctx := context.Background()
	o := c.p.OAuth1
	if o.ThreeLegged() {
		raw, err := c.svc.Authorize(ctx, c.actor, c.integ, "", nil)
		if err != nil {
			t.Fatalf("Authorize: %v (requests: %v)", err, c.up.tokens())
		}
		treqs := c.up.tokens()
		if len(treqs) != 1 {
			t.Fatalf("%d request-token calls, want 1", len(treqs))
		}
		c.checkOAuth1Endpoint(treqs[0], o.RequestTokenURL)
		au := c.parse(raw)
		want := c.parse(c.expand(o.AuthorizeURL))
		if au.Host != want.Host || au.Path != want.Path || au.Query().Get("oauth_token") == "" {
			t.Fatalf("authorization URL %s, want %s with oauth_token", au.Redacted(), want)
		}
		req := httptest.NewRequest(http.MethodGet, raw, nil)
		req.Header.Set(oauth1test.DecisionHeader, "approve")
		w := httptest.NewRecorder()
		c.o1.ServeHTTP(w, req)
		loc, err := w.Result().Location()
		if err != nil {
			t.Fatalf("the provider did not redirect (%d): %s", w.Code, w.Body)
		}
		if got := loc.Scheme + "://" + loc.Host + loc.Path; got != publicURL+creds.CallbackPath {
			t.Errorf("callback %s, want the shared %s", got, publicURL+creds.CallbackPath)
		}
		c.up.reset()
		if _, _, err := c.svc.Callback(ctx, loc.Query(), nil); err != nil {
			t.Fatalf("Callback: %v (requests: %v; provider: %s)", err, c.up.tokens(), c.o1.LastRejection())
		}
		treqs = c.up.tokens()
		if len(treqs) != 1 {
			t.Fatalf("%d access-token calls, want 1", len(treqs))
		}
		c.checkOAuth1Endpoint(treqs[0], o.AccessTokenURL)
	} else {
		tok, sec := c.o1.IssueToken(sampleConsumerKey)
		if _, err := c.svc.Save(ctx, c.actor, c.integ, creds.SaveInput{Token: tok, TokenSecret: sec}); err != nil {
			t.Fatalf("Save: %v (provider: %s)", err, c.o1.LastRejection())
		}
	}
	realm := c.expand(o.Realm)
	if o.RealmFormat == catalog.RealmNetSuite {
		realm, _ = oauth1.NetSuiteRealm(realm)
	}
	place := func(t *testing.T, r recorded) {
		t.Helper()
		if r.status != http.StatusOK {
			t.Fatalf("the OAuth 1.0a provider refused the request (%d): %s", r.status, r.answer)
		}
		var echo oauth1test.Echo
		if err := json.Unmarshal([]byte(r.answer), &echo); err != nil {
			t.Fatalf("provider answer %q", r.answer)
		}
		if echo.ConsumerKey != sampleConsumerKey || echo.Realm != realm {
			t.Errorf("signed by %q with realm %q, want %q and %q", echo.ConsumerKey, echo.Realm, sampleConsumerKey, realm)
		}
		if !strings.Contains(r.Header.Get("Authorization"), `oauth_signature_method="`+o.SignatureMethod+`"`) {
			t.Errorf("Authorization %q, want signature method %s", r.Header.Get("Authorization"), o.SignatureMethod)
		}
		for name, tmpl := range o.Headers {
			got, want := r.Header.Get(name), c.expand(tmpl)
			// Verify requests carry Storm's own User-Agent, as with
			// every method (the entry's goes on proxied requests).
			if got != want && !(strings.EqualFold(name, "User-Agent") && strings.HasPrefix(got, "storm-credentials/")) {
				t.Errorf("header %s = %q, want %q", name, got, want)
			}
		}
		if o.SignatureMethod != oauth1.PLAINTEXT { // PLAINTEXT's signature is the secrets, over TLS
			noLeak(t, r, nil, sampleConsumerSecret)
		}
	}
	c.up.reset()
	if _, err := c.svc.Verify(ctx, c.actor, c.integ); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	c.checkVerify(c.up.api(), place)
	c.checkProxy(place)
}

// checkOAuth1Endpoint checks a call at one of the three endpoints.
func (c *mcase) checkOAuth1Endpoint(r recorded, tmpl string) {
	t := c.t
	t.Helper()
	want := c.parse(c.expand(tmpl))
	if r.Method != http.MethodPost || r.Host != want.Host || r.Path != want.Path {
		t.Errorf("OAuth 1.0a call %s %s%s, want POST %s%s", r.Method, r.Host, r.Path, want.Host, want.Path)
	}
	if r.status != http.StatusOK {
		t.Errorf("the provider answered %d: %s", r.status, r.answer)
	}
}

// ---- GitHub Apps ----

// checkGitHubMint checks the one installation-token request and returns
// the token issued.
func (c *mcase) checkGitHubMint() string {
	t := c.t
	treqs := c.up.tokens()
	if len(treqs) != 1 {
		t.Fatalf("%d installation-token requests, want 1", len(treqs))
	}
	r := treqs[0]
	base := c.base()
	wantPath := strings.TrimSuffix(base.Path, "/") + "/app/installations/" + sampleInstallation + "/access_tokens"
	if r.Method != http.MethodPost || r.Host != base.Host || r.Path != wantPath {
		t.Errorf("installation-token request %s %s%s, want POST %s%s", r.Method, r.Host, r.Path, base.Host, wantPath)
	}
	jwt, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		t.Fatalf("installation-token request without an app JWT")
	}
	tok, err := josejwt.ParseSigned(jwt)
	if err != nil || len(tok.Headers) != 1 || tok.Headers[0].Algorithm != "RS256" {
		t.Fatalf("app JWT is not RS256: %v", err)
	}
	cl := c.verifyJWT(jwt)
	iat, _ := cl["iat"].(float64)
	exp, _ := cl["exp"].(float64)
	if cl["iss"] != sampleAppID || exp <= iat || exp-iat > 11*60 {
		t.Errorf("app JWT iss %v, iat %v, exp %v; want the app id and at most 10 minutes", cl["iss"], iat, exp)
	}
	if r.Header.Get("Accept") != "application/vnd.github+json" {
		t.Errorf("Accept %q", r.Header.Get("Accept"))
	}
	return r.answerToken
}

// ---- protected resources (remote MCP servers) ----

func (c *mcase) protectedResource() {
	t := c.t
	ctx := context.Background()
	server := c.parse(c.baseURL())
	issuer := "https://" + server.Host

	// Creating the integration discovered the server and registered a
	// client: once, at the discovered registration endpoint.
	regs := c.up.registrations()
	if len(regs) != 1 {
		t.Fatalf("%d registrations, want 1", len(regs))
	}
	reg := regs[0]
	if reg.Method != http.MethodPost || reg.Host != server.Host || reg.Path != "/register" {
		t.Errorf("registration %s %s%s, want POST %s/register", reg.Method, reg.Host, reg.Path, server.Host)
	}
	var rb struct {
		RedirectURIs []string `json:"redirect_uris"`
		GrantTypes   []string `json:"grant_types"`
		ClientName   string   `json:"client_name"`
		AuthMethod   string   `json:"token_endpoint_auth_method"`
	}
	if err := json.Unmarshal(reg.Body, &rb); err != nil {
		t.Fatalf("registration body %q: %v", reg.Body, err)
	}
	if !slices.Equal(rb.RedirectURIs, []string{publicURL + creds.CallbackPath}) || !slices.Contains(rb.GrantTypes, "authorization_code") ||
		!slices.Contains(rb.GrantTypes, "refresh_token") || rb.ClientName == "" {
		t.Errorf("registration %+v, want the shared callback, authorization_code and refresh_token, a client name", rb)
	}

	raw, err := c.svc.Authorize(ctx, c.actor, c.integ, "", nil)
	if err != nil {
		t.Fatalf("Authorize: %v", err)
	}
	au := c.parse(raw)
	if au.Host != server.Host || au.Path != "/authorize" {
		t.Errorf("authorization endpoint %s%s, want the discovered %s/authorize", au.Host, au.Path, server.Host)
	}
	q := au.Query()
	for k, v := range map[string]string{"response_type": "code", "client_id": clientID, "redirect_uri": publicURL + creds.CallbackPath,
		"code_challenge_method": "S256", "resource": server.String(), "scope": "mcp:read mcp:write offline_access"} {
		if q.Get(k) != v {
			t.Errorf("authorization URL %s=%q, want %q", k, q.Get(k), v)
		}
	}
	if len(q.Get("code_challenge")) != 43 {
		t.Errorf("code_challenge %q", q.Get("code_challenge"))
	}
	if len(c.up.registrations()) != 1 {
		t.Error("Authorize registered again")
	}
	fq := q
	fq.Del("resource")
	loc, err := c.as.Approve(ctx, c.as.AuthorizeURL()+"?"+fq.Encode())
	if err != nil {
		t.Fatalf("fosite refused the authorization request: %v", err)
	}
	c.up.reset()
	if _, _, err := c.svc.Callback(ctx, loc.Query(), nil); err != nil {
		t.Fatalf("Callback: %v (token requests: %v)", err, c.up.tokens())
	}
	checkToken := func(grant string) {
		t.Helper()
		treqs := c.up.tokens()
		if len(treqs) != 1 {
			t.Fatalf("%d token requests (%s), want 1", len(treqs), grant)
		}
		r := treqs[0]
		form := r.form()
		if r.Method != http.MethodPost || r.Host != server.Host || r.Path != "/token" || form.Get("grant_type") != grant {
			t.Errorf("token request %s %s%s grant %q, want POST %s/token %s", r.Method, r.Host, r.Path, form.Get("grant_type"), server.Host, grant)
		}
		if form.Get("resource") != server.String() {
			t.Errorf("token request resource %q, want %s", form.Get("resource"), server)
		}
		if grant == "authorization_code" && form.Get("code_verifier") == "" {
			t.Error("no code_verifier")
		}
		if r.status != http.StatusOK {
			t.Errorf("fosite answered %d: %s", r.status, r.answer)
		}
	}
	checkToken("authorization_code")
	active := c.activeCredential()
	ts, err := c.svc.Tokens().Tokens(active)
	if err != nil {
		t.Fatal(err)
	}
	c.up.reset()
	if _, err := c.svc.Tokens().RefreshAfter401(ctx, active, ts.AccessToken, time.Time{}); err != nil {
		t.Fatalf("refresh: %v (token requests: %v)", err, c.up.tokens())
	}
	checkToken("refresh_token")
	token := c.up.lastAccessToken()
	place := func(t *testing.T, r recorded) {
		t.Helper()
		if got := r.Header.Get("Authorization"); got != "Bearer "+token {
			t.Errorf("Authorization %q, want the access token as a bearer token", got)
		}
		if o := c.p.OAuth2; o != nil {
			for name, tmpl := range o.Headers {
				if got, want := r.Header.Get(name), c.expand(tmpl); got != want {
					t.Errorf("header %s = %q, want %q", name, got, want)
				}
			}
		}
	}
	c.up.reset()
	if _, err := c.svc.Verify(ctx, c.actor, c.integ); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	c.checkVerify(c.up.api(), place)
	c.checkProxy(place)
	_ = issuer
}

// ---- the upstream's part ----

// serveMethod answers what the issue-10 methods send besides API
// requests (exchanges, OAuth 1.0a endpoints and signed requests, GitHub
// App mints, discovery and registration); it reports whether it did.
func (u *upstream) serveMethod(w http.ResponseWriter, r *http.Request, c *mcase, rec recorded) bool {
	key := r.Host + r.URL.Path
	switch {
	case c.method == catalog.MethodAPIKey || c.method == catalog.MethodBasic:
		e := c.p.ExchangeFor(c.method)
		if e == nil {
			return false
		}
		base := c.parse(c.baseURL())
		if key != base.Host+strings.TrimSuffix(base.Path, "/")+e.Path || r.Method != e.Method {
			u.mu.Lock()
			refused := u.refused != "" && (r.Header.Get(e.Apply.Name) == u.refused || r.URL.Query().Get(e.Apply.Name) == u.refused)
			if refused {
				rec.status = http.StatusUnauthorized
				u.apiReqs = append(u.apiReqs, rec)
			}
			u.mu.Unlock()
			if refused {
				w.WriteHeader(http.StatusUnauthorized)
			}
			return refused
		}
		u.mu.Lock()
		u.minted++
		rec.status, rec.answerToken = http.StatusOK, fmt.Sprintf("session-%d-%s", u.minted, c.p.Name)
		u.tokenReqs = append(u.tokenReqs, rec)
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(exchangeAnswer(e, rec.answerToken))
		return true

	case c.method == catalog.MethodOAuth1:
		o := c.p.OAuth1
		endpoint := false
		if o.ThreeLegged() {
			for _, tmpl := range []string{o.RequestTokenURL, o.AccessTokenURL} {
				endpoint = endpoint || key == endpointKey(c.expand(tmpl))
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(rec.Body))
		rw := httptest.NewRecorder()
		c.o1.ServeHTTP(rw, r)
		rec.status, rec.answer = rw.Code, rw.Body.String()
		u.mu.Lock()
		if endpoint {
			u.tokenReqs = append(u.tokenReqs, rec)
		} else {
			u.apiReqs = append(u.apiReqs, rec)
		}
		u.mu.Unlock()
		status := rw.Code
		if v := c.verifyDef(); !endpoint && status == http.StatusOK && v != nil && len(v.Expect) > 0 {
			status = v.Expect[0]
		}
		for k, vs := range rw.Header() {
			w.Header()[k] = vs
		}
		w.WriteHeader(status)
		w.Write(rw.Body.Bytes())
		return true

	case c.method == catalog.MethodServiceAccount && c.p.ServiceAccount.Kind == "github_app":
		base := c.base()
		if r.Method != http.MethodPost || key != base.Host+strings.TrimSuffix(base.Path, "/")+"/app/installations/"+sampleInstallation+"/access_tokens" {
			return false
		}
		u.mu.Lock()
		u.minted++
		rec.status, rec.answerToken = http.StatusCreated, fmt.Sprintf("ghs_minted%d", u.minted)
		u.tokenReqs = append(u.tokenReqs, rec)
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"token": rec.answerToken,
			"expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "repository_selection": "all"})
		return true

	case c.method == catalog.MethodOAuth2 && isResource(c.p):
		return u.serveResource(w, r, c, rec)
	}
	return false
}

// serveResource is a remote MCP server and its authorization server on
// one host: the server's 401 names its metadata, the authorization
// server registers clients and sends token requests on to fosite.
func (u *upstream) serveResource(w http.ResponseWriter, r *http.Request, c *mcase, rec recorded) bool {
	server := c.parse(c.baseURL())
	if r.Host != server.Host {
		return false
	}
	issuer := "https://" + server.Host
	mdURL := issuer + "/.well-known/oauth-protected-resource" + server.Path
	js := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	switch {
	case r.URL.Path == server.Path && r.Header.Get("Authorization") == "":
		w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="`+mdURL+`"`)
		w.WriteHeader(http.StatusUnauthorized)
	case r.Method == http.MethodGet && issuer+r.URL.Path == mdURL:
		js(http.StatusOK, map[string]any{"resource": server.String(), "authorization_servers": []string{issuer},
			"scopes_supported": []string{"mcp:read", "mcp:write"}, "bearer_methods_supported": []string{"header"}})
	case r.Method == http.MethodGet && r.URL.Path == "/.well-known/oauth-authorization-server":
		js(http.StatusOK, map[string]any{"issuer": issuer, "authorization_endpoint": issuer + "/authorize",
			"token_endpoint": issuer + "/token", "registration_endpoint": issuer + "/register",
			"response_types_supported": []string{"code"}, "grant_types_supported": []string{"authorization_code", "refresh_token"},
			"code_challenge_methods_supported": []string{"S256"}, "token_endpoint_auth_methods_supported": []string{"client_secret_basic"},
			"scopes_supported": []string{"mcp:read", "mcp:write", "offline_access"}})
	case r.Method == http.MethodPost && r.URL.Path == "/register":
		rec.status = http.StatusCreated
		u.mu.Lock()
		u.regReqs = append(u.regReqs, rec)
		u.mu.Unlock()
		var in map[string]any
		_ = json.Unmarshal(rec.Body, &in)
		in["client_id"], in["client_secret"], in["client_id_issued_at"] = clientID, clientSecret, time.Now().Unix()
		in["token_endpoint_auth_method"] = "client_secret_basic"
		js(http.StatusCreated, in)
	case r.Method == http.MethodPost && r.URL.Path == "/token":
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
	default:
		return false
	}
	return true
}

// refuse makes API requests carrying this session token (as applied)
// meet a 401, as after the provider ended the session.
func (u *upstream) refuse(applied string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.refused = applied
}

func (u *upstream) registrations() []recorded {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.regReqs)
}
