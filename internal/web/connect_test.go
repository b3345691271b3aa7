package web_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/methods/oauth1/oauth1test"
	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/server/servertest"
)

// eventsOf lists the types of the workspace's events about integration
// id (all integrations when empty).
func eventsOf(t *testing.T, env *servertest.Env, id string) []string {
	t.Helper()
	q := "/v1/events?limit=1000"
	if id != "" {
		q += "&integration=" + id
	}
	var out []string
	for _, e := range env.Must(200, "GET", q, "", nil)["events"].([]any) {
		out = append(out, e.(map[string]any)["type"].(string))
	}
	return out
}

// auditBy lists the audit records whose actor is actor.
func auditBy(t *testing.T, env *servertest.Env, actor string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, a := range env.Must(200, "GET", "/v1/audit?limit=1000", "", nil)["audit"].([]any) {
		if m := a.(map[string]any); m["actor"] == actor {
			out = append(out, m)
		}
	}
	return out
}

// TestConnectLinkAPIKey: a link to an API-key integration shows only that
// integration's controls; a refused key is explained and counted, changes
// nothing; the right key connects it (verified first) and sends the
// browser to return_url with its id; the link is then spent (410). The
// audit actor is the link, naming the token that made it.
func TestConnectLinkAPIKey(t *testing.T) { linkBackends(t, testConnectLinkAPIKey) }

func testConnectLinkAPIKey(t *testing.T, opts servertest.Options) {
	const bad, good = "sk_link_wrong_0000", "sk_link_right_1111"
	env := servertest.Start(t, opts)
	id, _ := apiKeyIntegration(t, env, "Acme for Bob", good)
	other, _ := apiKeyIntegration(t, env, "Payroll secret project")
	linkID, path := linkFor(t, env, id, map[string]any{"expires_in": "2h", "return_url": "https://app.example.com/done?tab=x"})
	if !strings.HasPrefix(linkID, "cnl_") {
		t.Fatalf("link id %q", linkID)
	}
	secret := strings.TrimPrefix(path, "/connect/")
	if raw, err := base64.RawURLEncoding.DecodeString(secret); err != nil || len(raw) < 16 {
		t.Fatalf("secret %q: %d bytes, %v", secret, len(raw), err)
	}

	b := newBrowser(t, env)
	p := b.get(path)
	if p.Status != 200 {
		t.Fatalf("link page: %d %.300s", p.Status, p.Body)
	}
	page := text(p.Body)
	for _, want := range []string{"default", "Acme for Bob", "Custom API", "API key", "Save"} {
		if !strings.Contains(page, want) {
			t.Errorf("link page lacks %q: %s", want, page)
		}
	}
	for _, not := range []string{"Payroll secret project", other, "Sign out", "Integrations", "Versions", "Activity", "Audit", "bootstrap admin"} {
		if strings.Contains(page, not) {
			t.Errorf("link page shows %q: %s", not, page)
		}
	}
	if strings.Contains(p.Body, `href="/integrations`) || strings.Contains(p.Body, `href="/"`) {
		t.Error("link page links into the rest of Storm")
	}

	// A refused key: the provider's answer, nothing changed, one failure.
	p = b.post(path+"/credentials", url.Values{"api_key": {bad}}, path)
	if p.Status != http.StatusUnprocessableEntity || !strings.Contains(text(p.Body), "Nothing was changed") || !strings.Contains(text(p.Body), "HTTP 401") {
		t.Fatalf("refused key: %d %s", p.Status, text(p.Body))
	}
	noSecrets(t, p.Body, bad)
	if got := credentialStates(t, env, id); len(got) != 0 {
		t.Fatalf("a refused key was stored: %v", got)
	}
	if v := linkView(t, env, linkID); v["failed_attempts"] != 1.0 || v["state"] != "open" || v["used_at"] != nil {
		t.Fatalf("after a refused key: %v", v)
	}

	// The right key: verified, active, and the browser goes back.
	p = b.post(path+"/credentials", url.Values{"api_key": {good}}, path)
	want := "https://app.example.com/done?integration=" + id + "&status=connected&tab=x"
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != want {
		t.Fatalf("right key: %d Location %q, want %q: %.300s", p.Status, p.Header.Get("Location"), want, text(p.Body))
	}
	if status(t, env, id) != "connected" || !slices.Equal(credentialStates(t, env, id), []string{"active"}) {
		t.Fatalf("after connecting: %s %v", status(t, env, id), credentialStates(t, env, id))
	}
	v := linkView(t, env, linkID)
	if v["state"] != "used" || v["used_at"] == nil || v["integration"] != id {
		t.Fatalf("link after use: %v", v)
	}

	// Spent: 410, saying so and nothing else.
	p = b.get(path)
	if p.Status != http.StatusGone || !strings.Contains(text(p.Body), "already used") || strings.Contains(p.Body, "Acme for Bob") || strings.Contains(p.Body, "<form") {
		t.Fatalf("spent link: %d %s", p.Status, text(p.Body))
	}
	if p := b.post(path+"/credentials", url.Values{"api_key": {good}, "csrf": {"x"}}, ""); p.Status != http.StatusGone {
		t.Fatalf("posting to a spent link: %d", p.Status)
	}

	// Event and audit: connect.completed; the actor is the link, naming
	// its creator.
	if evs := eventsOf(t, env, id); !slices.Contains(evs, events.ConnectCompleted) {
		t.Fatalf("events: %v", evs)
	}
	recs := auditBy(t, env, linkID)
	actions := map[string]bool{}
	for _, a := range recs {
		actions[a["action"].(string)] = true
		d, _ := a["detail"].(map[string]any)
		if d["link_created_by"] == nil || !strings.HasPrefix(d["link_created_by"].(string), "tok_") {
			t.Errorf("audit %v does not name the link's creator", a)
		}
		if a["actor_name"] != "connect link from bootstrap admin" {
			t.Errorf("actor_name = %v", a["actor_name"])
		}
	}
	for _, want := range []string{"credential.save", "credential.save_rejected", "connect.complete", "connect.attempt_failed"} {
		if !actions[want] {
			t.Errorf("no audit record %s by the link (got %v)", want, actions)
		}
	}
	// The integration's page says who: the link, and who made it.
	admin := newBrowser(t, env)
	admin.signIn(env.AdminToken)
	activity := text(admin.get("/integrations/" + id).Body)
	for _, want := range []string{"Key saved by a connect link from bootstrap admin", "Connected through a connect link"} {
		if !strings.Contains(activity, want) {
			t.Errorf("the integration page lacks %q: %s", want, activity)
		}
	}
}

// TestConnectLinkGone: spent, expired and deleted links (and links whose
// integration was deleted) answer 410 with a page that says which and
// shows nothing else.
func TestConnectLinkGone(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	id, _ := apiKeyIntegration(t, env, "Gone Co", "k-1")
	b := newBrowser(t, env)
	check := func(path, want string) {
		t.Helper()
		p := b.get(path)
		body := text(p.Body)
		if p.Status != http.StatusGone || !strings.Contains(body, want) || strings.Contains(body, "Gone Co") || strings.Contains(p.Body, "<form") {
			t.Fatalf("%s: %d %s (want 410 saying %q)", path, p.Status, body, want)
		}
		if p.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("410 page Referrer-Policy %q", p.Header.Get("Referrer-Policy"))
		}
	}

	_, expired := linkFor(t, env, id, map[string]any{"expires_in": "1s"})
	if p := b.get(expired); p.Status != 200 {
		t.Fatalf("fresh link: %d", p.Status)
	}
	time.Sleep(1100 * time.Millisecond)
	check(expired, "expired")

	delID, deleted := linkFor(t, env, id, nil)
	if r := env.Do("DELETE", "/v1/connect/"+delID, "", nil); r.Status != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", r.Status, r.Body)
	}
	check(deleted, "deleted")
	if r := env.Do("DELETE", "/v1/connect/"+delID, "", nil); r.Status != http.StatusNotFound {
		t.Fatalf("DELETE again: %d", r.Status)
	}
	if r := env.Do("GET", "/v1/connect/"+delID, "", nil); r.Status != http.StatusNotFound {
		t.Fatalf("GET a deleted link: %d", r.Status)
	}
	for _, l := range env.Must(200, "GET", "/v1/integrations/"+id+"/connect", "", nil)["links"].([]any) {
		if l.(map[string]any)["id"] == delID {
			t.Fatal("a deleted link is listed")
		}
	}

	_, orphan := linkFor(t, env, id, nil)
	env.Must(http.StatusNoContent, "DELETE", "/v1/integrations/"+id, "", nil)
	check(orphan, "deleted")
}

// TestConnectLinkLocksAfterFailedAttempts: ten refused keys lock the link
// (410 "locked"), emit connect.locked once, and the eleventh attempt
// never reaches the provider.
func TestConnectLinkLocksAfterFailedAttempts(t *testing.T) {
	if !events.Known(events.ConnectLocked) || !events.Known(events.ConnectCompleted) {
		t.Fatal("webhooks cannot subscribe to the connect events")
	}
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	id, up := apiKeyIntegration(t, env, "Locky", "the-right-key")
	linkID, path := linkFor(t, env, id, nil)
	b := newBrowser(t, env)
	for i := range 10 {
		p := b.post(path+"/credentials", url.Values{"api_key": {fmt.Sprint("wrong-key-", i)}}, path)
		wantStatus := http.StatusUnprocessableEntity
		if i == 9 {
			wantStatus = http.StatusGone // the tenth failure locks it at once
		}
		if p.Status != wantStatus {
			t.Fatalf("attempt %d: %d %s", i+1, p.Status, text(p.Body))
		}
	}
	asked := up.Requests.Load()
	if p := b.get(path); p.Status != http.StatusGone || !strings.Contains(text(p.Body), "locked") {
		t.Fatalf("locked link: %d %s", p.Status, text(p.Body))
	}
	p := b.post(path+"/credentials", url.Values{"api_key": {"the-right-key"}, "csrf": {""}}, "")
	if p.Status != http.StatusGone || up.Requests.Load() != asked {
		t.Fatalf("an attempt on a locked link: %d, provider asked %d more times", p.Status, up.Requests.Load()-asked)
	}
	if v := linkView(t, env, linkID); v["state"] != "locked" || v["failed_attempts"] != 10.0 {
		t.Fatalf("link: %v", v)
	}
	n := 0
	for _, e := range eventsOf(t, env, id) {
		if e == events.ConnectLocked {
			n++
		}
	}
	if n != 1 || status(t, env, id) != "pending" {
		t.Fatalf("connect.locked events %d, status %s", n, status(t, env, id))
	}
}

// TestConnectGuessedLinksRefused: 100 guessed link URLs (well-formed
// secrets and junk) all fail without a 200, touch no real link, and a
// real link still opens with no failure counted.
func TestConnectGuessedLinksRefused(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	id, _ := apiKeyIntegration(t, env, "Real", "k")
	linkID, path := linkFor(t, env, id, nil)
	b := newBrowser(t, env)
	refused := 0
	for i := range 100 {
		var guess string
		switch i % 4 {
		case 0: // a well-formed secret
			var raw [32]byte
			rand.Read(raw[:])
			guess = base64.RawURLEncoding.EncodeToString(raw[:])
		case 1: // the real one with its last character changed
			s := strings.TrimPrefix(path, "/connect/")
			last := "A"
			if strings.HasSuffix(s, "A") {
				last = "B"
			}
			guess = s[:len(s)-1] + last
		case 2:
			guess = fmt.Sprintf("cnl_%d", i)
		default:
			guess = strings.Repeat("x", i)
		}
		p := b.get("/connect/" + guess)
		post := b.post("/connect/"+guess+"/credentials", url.Values{"api_key": {"k"}, "csrf": {"x"}}, "")
		if p.Status == 200 || post.Status == 200 || post.Status == http.StatusSeeOther {
			t.Fatalf("guess %q: GET %d, POST %d", guess, p.Status, post.Status)
		}
		if p.Status == http.StatusNotFound {
			refused++
		}
	}
	if refused != 100 {
		t.Fatalf("%d of 100 guesses answered 404", refused)
	}
	if p := b.get(path); p.Status != 200 {
		t.Fatalf("the real link after the guesses: %d", p.Status)
	}
	if v := linkView(t, env, linkID); v["failed_attempts"] != 0.0 || v["state"] != "open" {
		t.Fatalf("guesses counted against the real link: %v", v)
	}
	t.Logf("guessed links refused: %d of 100 (404), none 200", refused)
}

// TestConnectLinkCSRFBoundToLinkAndBrowser: a link's forms work only with
// the token this browser got for this link: another browser's token, or
// this browser's token of another link, is refused without counting.
func TestConnectLinkCSRFBoundToLinkAndBrowser(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	id, _ := apiKeyIntegration(t, env, "Bound", "good-key-1")
	linkA, pathA := linkFor(t, env, id, nil)
	_, pathB := linkFor(t, env, id, nil)
	one, two := newBrowser(t, env), newBrowser(t, env)
	tokenA := one.csrf(pathA)
	two.get(pathA)
	if p := two.post(pathA+"/credentials", url.Values{"api_key": {"good-key-1"}, "csrf": {tokenA}}, ""); p.Status != http.StatusForbidden {
		t.Fatalf("another browser's token: %d", p.Status)
	}
	if p := one.post(pathB+"/credentials", url.Values{"api_key": {"good-key-1"}, "csrf": {tokenA}}, ""); p.Status != http.StatusForbidden {
		t.Fatalf("the token of another link: %d", p.Status)
	}
	if p := one.post(pathA+"/credentials", url.Values{"api_key": {"good-key-1"}, "csrf": {""}}, ""); p.Status != http.StatusForbidden {
		t.Fatalf("no token: %d", p.Status)
	}
	// A cross-site post is refused before its token is read.
	req, _ := http.NewRequest("POST", env.URL+pathA+"/credentials", strings.NewReader(url.Values{"api_key": {"good-key-1"}, "csrf": {tokenA}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if p := one.do(req); p.Status != http.StatusForbidden {
		t.Fatalf("cross-site post: %d", p.Status)
	}
	if v := linkView(t, env, linkA); v["failed_attempts"] != 0.0 || credentialStates(t, env, id) != nil {
		t.Fatalf("refused forms changed something: %v %v", v, credentialStates(t, env, id))
	}
	// Both links work in the browser that opened them (one cookie, two
	// links).
	one.get(pathB)
	if p := one.post(pathA+"/credentials", url.Values{"api_key": {"good-key-1"}}, pathA); p.Status != http.StatusOK {
		t.Fatalf("the right token: %d %s", p.Status, text(p.Body))
	}
	if !strings.Contains(text(one.get(pathB).Body), "Bound") {
		t.Fatal("the second link stopped working")
	}
}

// TestConnectLinkSecurityHeaders: a link's page sends no Referer, cannot
// be framed, and its Content-Security-Policy lets its forms reach Storm,
// its return_url's origin and, for OAuth, the provider's authorization
// endpoint — Chromium applies form-action to redirects — and nothing
// else.
func TestConnectLinkSecurityHeaders(t *testing.T) {
	as := oauthtest.New(t, oauthtest.Options{})
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	keyID, _ := apiKeyIntegration(t, env, "Keyed", "k")
	oauthID := oauthIntegration(t, env, as, "OAuthed")
	b := newBrowser(t, env)
	const ret = "http://127.0.0.1:9/back"
	for _, tc := range []struct {
		id, formAction string
	}{
		{keyID, "form-action 'self' http://127.0.0.1:9"},
		{oauthID, "form-action 'self' http://127.0.0.1:9 " + as.URL},
	} {
		_, path := linkFor(t, env, tc.id, map[string]any{"return_url": ret})
		p := b.get(path)
		csp := p.Header.Get("Content-Security-Policy")
		if p.Status != 200 || !strings.HasSuffix(csp, tc.formAction) || !strings.Contains(csp, "frame-ancestors 'none'") ||
			!strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: CSP %q, want it to end with %q", tc.id, csp, tc.formAction)
		}
		for h, want := range map[string]string{"Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
			"Cache-Control": "no-store", "Cross-Origin-Opener-Policy": "unsafe-none"} {
			if got := p.Header.Get(h); got != want {
				t.Errorf("%s: %s = %q, want %q", tc.id, h, got, want)
			}
		}
		var cookie *http.Cookie
		for _, c := range (&http.Response{Header: p.Header}).Cookies() {
			if c.Name == "storm_connect" {
				cookie = c
			}
		}
		if cookie == nil || cookie.Path != "/connect/" || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || strings.Contains(cookie.Value, strings.TrimPrefix(path, "/connect/")) {
			t.Errorf("%s: link cookie %+v", tc.id, cookie)
		}
	}
	// Without a return_url the page keeps the UI's opener isolation.
	_, path := linkFor(t, env, keyID, nil)
	if got := b.get(path).Header.Get("Cross-Origin-Opener-Policy"); got != "same-origin" {
		t.Errorf("COOP without a return_url = %q", got)
	}
}

// TestConnectLinkAPI: the contract's checks: expires_in from 1s to 7 days,
// return_url https (http only on loopback), editors only, other
// workspaces' integrations and links are not found, listings never hold
// the secret.
func TestConnectLinkAPI(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	id, _ := apiKeyIntegration(t, env, "API", "k")
	base := "/v1/integrations/" + id + "/connect"
	for _, tc := range []struct {
		body map[string]any
		want int
	}{
		{map[string]any{"expires_in": "1s"}, 201},
		{map[string]any{"expires_in": "168h"}, 201},
		{map[string]any{"expires_in": "168h1s"}, 400},
		{map[string]any{"expires_in": "999ms"}, 400},
		{map[string]any{"expires_in": "-5m"}, 400},
		{map[string]any{"expires_in": "soon"}, 400},
		{map[string]any{"return_url": "https://app.example.com/x?y=1"}, 201},
		{map[string]any{"return_url": "http://localhost:3000/cb"}, 201},
		{map[string]any{"return_url": "http://[::1]:3000/cb"}, 201},
		{map[string]any{"return_url": "http://app.example.com/x"}, 400},
		{map[string]any{"return_url": "https://user:pw@app.example.com/x"}, 400},
		{map[string]any{"return_url": "https://app.example.com/x#frag"}, 400},
		{map[string]any{"return_url": "javascript:alert(1)"}, 400},
		{map[string]any{"return_url": "/relative"}, 400},
		{map[string]any{"unknown": true}, 400},
	} {
		r := env.Do("POST", base, "", tc.body)
		if r.Status != tc.want {
			t.Errorf("%v: %d, want %d: %s", tc.body, r.Status, tc.want, r.Body)
		}
	}
	r := env.Must(201, "POST", base, "", nil)
	exp, _ := time.Parse(time.RFC3339, r["expires_at"].(string))
	if d := time.Until(exp); d < 29*time.Minute || d > 31*time.Minute {
		t.Errorf("default expiry in %v, want 30m", d)
	}
	secret := strings.TrimPrefix(r["url"].(string), env.URL+"/connect/")

	env.Must(201, "POST", "/v1/workspaces", "", map[string]any{"name": "other"})
	otherEditor := env.NewToken("editor", "other")
	for _, role := range []string{"viewer", "worker"} {
		tok := env.NewToken(role, "default")
		for _, req := range [][2]string{{"POST", base}, {"GET", base}, {"GET", "/v1/connect"}, {"DELETE", "/v1/connect/" + r["id"].(string)}} {
			if got := env.Do(req[0], req[1], tok, nil).Status; got != http.StatusForbidden {
				t.Errorf("%s %s as %s: %d, want 403", req[0], req[1], role, got)
			}
		}
	}
	for _, req := range [][2]string{{"POST", base}, {"GET", base}, {"GET", "/v1/connect/" + r["id"].(string)}, {"DELETE", "/v1/connect/" + r["id"].(string)}} {
		if got := env.Do(req[0], req[1], otherEditor, nil).Status; got != http.StatusNotFound {
			t.Errorf("%s %s from another workspace: %d, want 404", req[0], req[1], got)
		}
	}
	editor := env.NewToken("editor", "default")
	list := env.Do("GET", base+"?limit=2", editor, nil)
	var page struct {
		Links []map[string]any `json:"links"`
		Next  string           `json:"next"`
	}
	json.Unmarshal(list.Body, &page)
	if list.Status != 200 || len(page.Links) != 2 || page.Next == "" || strings.Contains(string(list.Body), secret) {
		t.Fatalf("list: %d %s", list.Status, list.Body)
	}
	for _, k := range []string{"id", "created_at", "expires_at", "used_at", "created_by", "state"} {
		if _, ok := page.Links[0][k]; !ok {
			t.Errorf("a listed link lacks %s: %v", k, page.Links[0])
		}
	}
	all := env.Must(200, "GET", "/v1/connect?limit=1000", editor, nil)["links"].([]any)
	if len(all) != 6 {
		t.Errorf("workspace links: %d, want 6", len(all))
	}
}

// TestConnectLinkReconnectKeepsID: a reconnect_required OAuth integration
// is mended through a link (Reconnect), keeping its id; the authorization
// comes back through the link, which is then spent.
func TestConnectLinkReconnectKeepsID(t *testing.T) {
	const ttl = 2 * time.Second
	as := oauthtest.New(t, oauthtest.Options{AutoApprove: true, AccessTokenTTL: ttl})
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	id := oauthIntegration(t, env, as, "Mend me")
	// Connect it, then lose the grant: reconnect_required.
	u := env.Must(200, "POST", "/v1/integrations/"+id+"/authorize", "", nil)["authorize_url"].(string)
	back, err := as.Approve(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := http.Get(back.String()); err != nil || r.StatusCode != 200 {
		t.Fatalf("callback: %v %v", r, err)
	}
	as.RevokeAll()
	time.Sleep(ttl/2 + 300*time.Millisecond)
	env.Do("GET", "/v1/integrations/"+id+"/access", "", nil)
	if s := status(t, env, id); s != "reconnect_required" {
		t.Fatalf("status %s, want reconnect_required", s)
	}

	linkID, path := linkFor(t, env, id, map[string]any{"return_url": "http://127.0.0.1:9/done"})
	b := newBrowser(t, env)
	p := b.get(path)
	if !strings.Contains(text(p.Body), "Reconnect") {
		t.Fatalf("no Reconnect on the link page: %s", text(p.Body))
	}
	p = b.post(path+"/authorize", url.Values{}, path)
	if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), as.URL+"/authorize") {
		t.Fatalf("authorize: %d %s", p.Status, p.Header.Get("Location"))
	}
	p = follow(t, b, p.Header.Get("Location"), "http://127.0.0.1:9/")
	want := "http://127.0.0.1:9/done?integration=" + id + "&status=connected"
	if p.Header.Get("Location") != want {
		t.Fatalf("after the provider: %d %q, want %q", p.Status, p.Header.Get("Location"), want)
	}
	if s := status(t, env, id); s != "connected" {
		t.Fatalf("after reconnecting through the link: %s", s)
	}
	if v := linkView(t, env, linkID); v["state"] != "used" || v["integration"] != id {
		t.Fatalf("link: %v", v)
	}
}

// follow follows redirects from u with b's cookies until one leads to
// stop (which is not fetched) or a page answers; it returns that answer.
func follow(t *testing.T, b *browser, u, stop string) page {
	t.Helper()
	for range 10 {
		req, _ := http.NewRequest("GET", u, nil)
		p := b.do(req)
		loc := p.Header.Get("Location")
		if p.Status < 300 || p.Status > 399 || loc == "" || strings.HasPrefix(loc, stop) {
			return p
		}
		next, err := url.Parse(loc)
		if err != nil {
			t.Fatal(err)
		}
		base, _ := url.Parse(u)
		u = base.ResolveReference(next).String()
	}
	t.Fatal("too many redirects")
	return page{}
}

// TestConnectLinkCreatesIntegration: a link that creates an integration
// offers only providers a person can connect without settings (an OAuth
// provider only with an app, which gives its client: 422 naming it
// otherwise); the person picks one and connects, and the integration is
// created in that workspace only then — a refused key or a failed
// authorization leaves nothing behind — and return_url gets its id.
func TestConnectLinkCreatesIntegration(t *testing.T) {
	linkBackends(t, testConnectLinkCreatesIntegration)
}

func testConnectLinkCreatesIntegration(t *testing.T, opts servertest.Options) {
	const good = "acme-live-key-7f3a"
	up := servertest.NewUpstream(t, good)
	as := oauthtest.New(t, oauthtest.Options{AutoApprove: true})
	opts.DataDir = t.TempDir()
	operatorProviders(t, opts.DataDir, map[string]string{
		"acme-keys":  acmeKeyProvider("acme-keys", tlsUpstream(t, up)),
		"acme-oauth": acmeOAuthProvider("acme-oauth", tlsFront(t, as)),
	})
	env := servertest.Start(t, opts)
	as.AddRedirectURI(oauthtest.DefaultClientID, env.URL+"/oauth/callback")
	integrations := func() int { return len(env.Must(200, "GET", "/v1/integrations", "", nil)["integrations"].([]any)) }

	// Without an app, an OAuth-only provider cannot be offered; nor can
	// one that needs settings.
	for _, p := range []string{"acme-oauth", "custom"} {
		r := env.Do("POST", "/v1/connect", "", map[string]any{"providers": []string{"acme-keys", p}, "name": "Bob's Acme"})
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(string(r.Body), p) || !strings.Contains(string(r.Body), "providers[1]") {
			t.Fatalf("%s without what it needs: %d %s", p, r.Status, r.Body)
		}
	}
	if r := env.Do("POST", "/v1/connect", "", map[string]any{"providers": []string{"acme-keys"}}); r.Status != http.StatusBadRequest {
		t.Fatalf("no name: %d", r.Status)
	}
	env.Must(201, "POST", "/v1/apps", "", map[string]any{"name": "Acme OAuth app", "provider": "acme-oauth", "auth_method": "oauth2",
		"config": map[string]any{"client_id": oauthtest.DefaultClientID, "client_secret": oauthtest.DefaultClientSecret}})
	before := integrations()

	// An API key: pick the provider, a refused key leaves nothing, the
	// right one creates the integration.
	linkID, path := newLink(t, env, "/v1/connect", map[string]any{"providers": []string{"acme-keys", "acme-oauth"}, "name": "Bob's Acme",
		"return_url": "http://127.0.0.1:9/done"})
	if v := linkView(t, env, linkID); v["integration"] != nil || !slices.Equal(toStrings(v["providers"]), []string{"acme-keys", "acme-oauth"}) {
		t.Fatalf("link: %v", v)
	}
	b := newBrowser(t, env)
	p := b.get(path)
	if p.Status != 200 || !strings.Contains(text(p.Body), "Choose the service to connect") || !strings.Contains(text(p.Body), "Acme acme-keys") || !strings.Contains(text(p.Body), "Acme acme-oauth") {
		t.Fatalf("choices: %d %s", p.Status, text(p.Body))
	}
	chosen := path + "?method=api_key&provider=acme-keys"
	if !strings.Contains(p.Body, attr(chosen)) {
		t.Fatalf("no link to %s in %s", chosen, p.Body)
	}
	p = b.get(chosen)
	if !strings.Contains(p.Body, `name="provider" value="acme-keys"`) || !strings.Contains(text(p.Body), "Save") {
		t.Fatalf("chosen: %s", text(p.Body))
	}
	evs := len(eventsOf(t, env, ""))
	form := url.Values{"provider": {"acme-keys"}, "method": {"api_key"}, "api_key": {"wrong-key-0000"}}
	if p = b.post(path+"/credentials", form, chosen); p.Status != http.StatusUnprocessableEntity {
		t.Fatalf("wrong key: %d %s", p.Status, text(p.Body))
	}
	if n := integrations(); n != before || len(eventsOf(t, env, "")) != evs {
		t.Fatalf("a refused key left %d integrations (before %d), events %d → %d", n, before, evs, len(eventsOf(t, env, "")))
	}
	// A choice the link does not offer is refused.
	form.Set("provider", "stripe")
	form.Set("api_key", good)
	if p = b.post(path+"/credentials", form, chosen); p.Status != http.StatusBadRequest || integrations() != before {
		t.Fatalf("a provider the link does not offer: %d", p.Status)
	}
	form.Set("provider", "acme-keys")
	p = b.post(path+"/credentials", form, chosen)
	loc, _ := url.Parse(p.Header.Get("Location"))
	newID := loc.Query().Get("integration")
	if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), "http://127.0.0.1:9/done?") || !strings.HasPrefix(newID, "int_") {
		t.Fatalf("right key: %d %q", p.Status, p.Header.Get("Location"))
	}
	in := env.Must(200, "GET", "/v1/integrations/"+newID, "", nil)
	if in["name"] != "Bob's Acme" || in["provider"] != "acme-keys" || in["status"] != "connected" || in["workspace_name"] != "default" {
		t.Fatalf("created: %v", in)
	}
	if v := linkView(t, env, linkID); v["state"] != "used" || v["integration"] != newID {
		t.Fatalf("link after use: %v", v)
	}

	// OAuth through the app: a failed code exchange creates nothing; a
	// good authorization creates the integration with the app's client.
	linkID, path = newLink(t, env, "/v1/connect", map[string]any{"providers": []string{"acme-oauth"}, "name": "Carol's Acme",
		"return_url": "http://127.0.0.1:9/done"})
	b = newBrowser(t, env)
	p = b.get(path) // one provider, one method: straight to Authorize
	if !strings.Contains(text(p.Body), "Authorize") || !strings.Contains(p.Header.Get("Content-Security-Policy"), "form-action 'self' http://127.0.0.1:9 https://127.0.0.1:") {
		t.Fatalf("oauth link page: %s; CSP %s", text(p.Body), p.Header.Get("Content-Security-Policy"))
	}
	before = integrations()
	as.FailNext(1, http.StatusBadRequest)
	p = b.post(path+"/authorize", url.Values{"provider": {"acme-oauth"}, "method": {"oauth2"}}, path)
	p = follow(t, b, p.Header.Get("Location"), "http://127.0.0.1:9/")
	if p.Status != 200 || !strings.Contains(text(p.Body), "The last attempt did not connect") || integrations() != before {
		t.Fatalf("failed exchange: %d %s; integrations %d → %d", p.Status, text(p.Body), before, integrations())
	}
	if v := linkView(t, env, linkID); v["failed_attempts"] != 1.0 || v["state"] != "open" {
		t.Fatalf("link after a failed authorization: %v", v)
	}
	p = b.post(path+"/authorize", url.Values{"provider": {"acme-oauth"}, "method": {"oauth2"}}, path)
	p = follow(t, b, p.Header.Get("Location"), "http://127.0.0.1:9/")
	loc, _ = url.Parse(p.Header.Get("Location"))
	newID = loc.Query().Get("integration")
	if p.Status != http.StatusSeeOther || !strings.HasPrefix(newID, "int_") || loc.Query().Get("status") != "connected" {
		t.Fatalf("authorized: %d %q", p.Status, p.Header.Get("Location"))
	}
	in = env.Must(200, "GET", "/v1/integrations/"+newID, "", nil)
	if in["name"] != "Carol's Acme" || in["status"] != "connected" || in["app"] == nil || integrations() != before+1 {
		t.Fatalf("created through OAuth: %v", in)
	}
	env.Must(200, "GET", "/v1/integrations/"+newID+"/access", "", nil)
	if v := linkView(t, env, linkID); v["state"] != "used" || v["integration"] != newID {
		t.Fatalf("link after use: %v", v)
	}
	if p = b.get(path); p.Status != http.StatusGone {
		t.Fatalf("used link: %d", p.Status)
	}
}

func toStrings(v any) []string {
	var out []string
	for _, s := range v.([]any) {
		out = append(out, s.(string))
	}
	return out
}

// attr escapes s as html/template writes an attribute value.
func attr(s string) string { return strings.ReplaceAll(s, "&", "&amp;") }

// TestConnectLinkEveryMethod: a link shows the seed's controls for the
// integration's auth method and connects it: a user name and password
// (Basic), and OAuth 1.0a three-legged through the shared callback and
// back to the link (its authorize endpoint in the page's form-action).
func TestConnectLinkEveryMethod(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})

	// Basic: a wrong password first.
	up := servertest.NewUpstream(t, "svc-user:right-password-1")
	basicID := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "Basic link", "provider": "custom", "auth_method": "basic",
		"config": map[string]any{"base_url": up.URL, "verify": map[string]any{"method": "GET", "path": "/me"}}})["id"].(string)
	_, path := linkFor(t, env, basicID, nil)
	b := newBrowser(t, env)
	if p := b.get(path); !strings.Contains(p.Body, `id="username"`) || !strings.Contains(p.Body, `id="password"`) {
		t.Fatalf("basic link page: %s", text(p.Body))
	}
	if p := b.post(path+"/credentials", url.Values{"username": {"svc-user"}, "password": {"wrong-password-0"}}, path); p.Status != http.StatusUnprocessableEntity {
		t.Fatalf("wrong password: %d", p.Status)
	}
	p := b.post(path+"/credentials", url.Values{"username": {"svc-user"}, "password": {"right-password-1"}}, path)
	if p.Status != 200 || h1(p.Body) != "Connected" || status(t, env, basicID) != "connected" {
		t.Fatalf("basic: %d %s, status %s", p.Status, text(p.Body), status(t, env, basicID))
	}
	noSecrets(t, p.Body, "right-password-1", "wrong-password-0")

	// OAuth 1.0a, three-legged.
	peer := oauth1test.New(t, oauth1test.Options{})
	peer.AddConsumer(oauth1test.Consumer{Key: "link-consumer", Secret: "link-consumer-secret-77"})
	o1 := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "OAuth1 link", "provider": "custom", "auth_method": "oauth1",
		"config": map[string]any{"base_url": peer.URL + "/api", "oauth1": map[string]any{
			"request_token_url": peer.RequestTokenURL(), "authorize_url": peer.AuthorizeURL(), "access_token_url": peer.AccessTokenURL(),
			"signature_method": "HMAC-SHA1", "consumer_key": "link-consumer", "consumer_secret": "link-consumer-secret-77"}}})["id"].(string)
	linkID, path := linkFor(t, env, o1, map[string]any{"return_url": "http://127.0.0.1:9/done"})
	b = newBrowser(t, env)
	p = b.get(path)
	if !strings.Contains(text(p.Body), "Authorize") || !strings.HasSuffix(p.Header.Get("Content-Security-Policy"), "form-action 'self' http://127.0.0.1:9 "+peer.URL) {
		t.Fatalf("oauth1 link page: %s; CSP %s", text(p.Body), p.Header.Get("Content-Security-Policy"))
	}
	p = b.post(path+"/authorize", url.Values{}, path)
	if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), peer.AuthorizeURL()) {
		t.Fatalf("authorize: %d %s", p.Status, p.Header.Get("Location"))
	}
	req, _ := http.NewRequest("GET", p.Header.Get("Location"), nil)
	req.Header.Set(oauth1test.DecisionHeader, "approve")
	p = b.do(req)
	p = follow(t, b, p.Header.Get("Location"), "http://127.0.0.1:9/")
	if p.Header.Get("Location") != "http://127.0.0.1:9/done?integration="+o1+"&status=connected" || status(t, env, o1) != "connected" {
		t.Fatalf("oauth1: %d %q, status %s", p.Status, p.Header.Get("Location"), status(t, env, o1))
	}
	if v := linkView(t, env, linkID); v["state"] != "used" {
		t.Fatalf("oauth1 link: %v", v)
	}
}

// TestIntegrationPageListsItsLinks: the integration page lists its
// connect links newest first with their state, never their secret, and
// Delete ends one; another integration's link cannot be deleted through
// it, and a viewer sees no list.
func TestIntegrationPageListsItsLinks(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	id, _ := apiKeyIntegration(t, env, "Listed Co", "k-1")
	other, _ := apiKeyIntegration(t, env, "Other Co", "k-2")
	first, firstPath := linkFor(t, env, id, nil)
	second, secondPath := linkFor(t, env, id, nil)
	otherLink, _ := linkFor(t, env, other, nil)

	b := newBrowser(t, env)
	b.signIn(env.AdminToken)
	page := "/integrations/" + id
	p := b.get(page)
	i1, i2 := strings.Index(p.Body, `data-link="`+first+`"`), strings.Index(p.Body, `data-link="`+second+`"`)
	if p.Status != 200 || i1 < 0 || i2 < 0 || i2 > i1 {
		t.Fatalf("links on the page (want %s before %s): %d %.1500s", second, first, p.Status, text(p.Body))
	}
	if strings.Contains(p.Body, otherLink) {
		t.Error("another integration's link is listed")
	}
	for _, path := range []string{firstPath, secondPath} {
		if strings.Contains(p.Body, strings.TrimPrefix(path, "/connect/")) {
			t.Fatal("the page shows a link's secret")
		}
	}

	r := b.post(page+"/connect/"+first+"/delete", url.Values{}, page)
	if r.Status != http.StatusSeeOther {
		t.Fatalf("delete: %d %.300s", r.Status, r.Body)
	}
	if l := linkView(t, env, second); l["state"] != "open" {
		t.Errorf("the other link: %v", l["state"])
	}
	if g := b.get(firstPath); g.Status != http.StatusGone || !strings.Contains(text(g.Body), "deleted") {
		t.Errorf("deleted link's page: %d %s", g.Status, text(g.Body))
	}
	if p := b.get(page); strings.Contains(p.Body, `data-link="`+first+`"`) || !strings.Contains(p.Body, "no longer works") {
		t.Errorf("after delete: %.800s", text(p.Body))
	}

	// Through this integration's page, another integration's link is not found.
	b.post(page+"/connect/"+otherLink+"/delete", url.Values{}, page)
	if l := linkView(t, env, otherLink); l["state"] != "open" {
		t.Errorf("another integration's link after a delete through this page: %v", l["state"])
	}

	viewer := newBrowser(t, env)
	viewer.signIn(env.NewToken("viewer", "default"))
	if p := viewer.get(page); strings.Contains(p.Body, `data-link="`) {
		t.Error("a viewer sees the links")
	}
	if p := viewer.post(page+"/connect/"+second+"/delete", url.Values{}, page); p.Status != http.StatusForbidden {
		t.Errorf("viewer delete: %d", p.Status)
	}
}
