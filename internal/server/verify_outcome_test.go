package server_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/outcome"
	"github.com/stormcreds/storm/internal/server/servertest"
)

// rawNetworkText lists what a raw resolver or dial error says: none of
// it may reach anything a user can read. A resolver's address is matched
// as ":53: ", as Go's errors print it: a bare ":53" is also the seconds
// of a timestamp.
func rawNetworkText(t *testing.T, extra ...string) []string {
	t.Helper()
	out := append([]string{"lookup ", "no such host", "dial tcp", "connection refused", ":53: ", "server misbehaving"}, extra...)
	if b, err := os.ReadFile("/etc/resolv.conf"); err == nil {
		for line := range strings.Lines(string(b)) {
			if f := strings.Fields(line); len(f) == 2 && f[0] == "nameserver" {
				out = append(out, f[1]) // the internal resolver's address
			}
		}
	}
	return out
}

func assertNoRawText(t *testing.T, what, text string, raw []string) {
	t.Helper()
	for _, r := range raw {
		if strings.Contains(text, r) {
			t.Errorf("%s discloses %q: %s", what, r, text)
		}
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func customAPIKey(t *testing.T, env *servertest.Env, name, baseURL string, verify map[string]any) string {
	t.Helper()
	cfg := map[string]any{"base_url": baseURL, "api_key": map[string]any{"in": "header", "name": "Authorization", "prefix": "Bearer "}}
	if verify != nil {
		cfg["verify"] = verify
	}
	in := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": name, "provider": "custom", "auth_method": "api_key", "config": cfg})
	return in["id"].(string)
}

// failedEvents returns the data of an integration's verification.failed
// events, oldest first.
func failedEvents(t *testing.T, env *servertest.Env, id string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, e := range env.Must(200, "GET", "/v1/events?integration="+id, "", nil)["events"].([]any) {
		if e := e.(map[string]any); e["type"] == "verification.failed" {
			out = append(out, e["data"].(map[string]any))
		}
	}
	return out
}

// TestVerifyUnreachableHidesResolver: a base URL whose name does not
// resolve, or whose port is closed, is "unreachable" with its fixed text
// everywhere a user can read it — the verify answer, a refused Save, the
// verification.failed event, the status reason and a webhook delivery
// row — and the resolver's own words are only in the server log.
func TestVerifyUnreachableHidesResolver(t *testing.T) {
	env := servertest.Start(t, servertest.Options{Webhooks: webhookTuning})
	hook := env.Must(201, "POST", "/v1/webhooks", "", map[string]any{"url": "http://storm-hook-unresolvable.invalid/in", "events": []string{"verification.failed"}})["id"].(string)
	port := closedAddr(t)
	raw := rawNetworkText(t, port, port[strings.LastIndex(port, ":"):])
	for _, target := range []struct{ name, url string }{
		{"unresolvable name", "http://storm-verify-unresolvable.invalid"},
		{"closed port", "http://" + port},
	} {
		t.Run(target.name, func(t *testing.T) {
			id := customAPIKey(t, env, target.name, target.url, map[string]any{"method": "GET", "path": "/me"})
			base := "/v1/integrations/" + id

			refused := env.Do("PUT", base+"/credentials", "", map[string]any{"api_key": "key-unreachable-0123456789"})
			p := refused.JSON(t)
			if refused.Status != 422 || p["reason"] != "unreachable" || p["verification"].(map[string]any)["reason"] != "unreachable" ||
				!strings.HasSuffix(p["detail"].(string), outcome.Unreachable.Text()) {
				t.Fatalf("refused save = %d %s", refused.Status, refused.Body)
			}
			assertNoRawText(t, "the refused save", string(refused.Body), raw)

			env.Must(200, "PUT", base+"/credentials?verify=false", "", map[string]any{"api_key": "key-unreachable-0123456789"})
			r := env.Do("POST", base+"/verify", "", nil)
			v := r.JSON(t)
			if r.Status != 200 || v["ok"] != false || v["reason"] != "unreachable" || v["status"] != float64(0) || v["error"] != outcome.Unreachable.Text() {
				t.Fatalf("verify = %d %s", r.Status, r.Body)
			}
			assertNoRawText(t, "the verify answer", string(r.Body), raw)

			in := env.Must(200, "GET", base, "", nil)
			if in["status"] != "degraded" || in["status_reason"] != "verification failed: "+outcome.Unreachable.Text() {
				t.Fatalf("integration = %v", in)
			}
			evs := failedEvents(t, env, id)
			if len(evs) != 2 || evs[0]["reason"] != "unreachable" || evs[0]["during"] != "save" || evs[1]["reason"] != "unreachable" {
				t.Fatalf("verification.failed events = %v", evs)
			}
			all := env.Do("GET", "/v1/events?integration="+id, "", nil)
			assertNoRawText(t, "the events", string(all.Body), raw)
			// The raw failure is in the log, with the integration.
			if logs := env.Logs.String(); !strings.Contains(logs, id) || !(strings.Contains(logs, "lookup storm-verify-unresolvable.invalid") || strings.Contains(logs, port)) {
				t.Fatalf("the server log lacks the raw cause for %s", id)
			}
		})
	}

	// The webhook for verification.failed cannot resolve its receiver's
	// name either: its delivery rows say so in a fixed text.
	var ds []any
	for deadline := time.Now().Add(20 * time.Second); len(ds) == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ds = env.Must(200, "GET", "/v1/webhooks/"+hook+"/deliveries", "", nil)["deliveries"].([]any)
	}
	if len(ds) == 0 {
		t.Fatal("no delivery attempt logged")
	}
	if d := ds[0].(map[string]any); d["ok"] != false || d["error"] != outcome.CauseDNS.Text() {
		t.Fatalf("delivery = %v", d)
	}
	assertNoRawText(t, "the delivery log", string(env.Do("GET", "/v1/webhooks/"+hook+"/deliveries", "", nil).Body), raw)
}

// TestWebhookDeliveryErrorFixedText: a receiver that does not resolve,
// refuses connections or fails the TLS check is logged with a fixed text
// per cause, never the resolver's or the dialer's words.
func TestWebhookDeliveryErrorFixedText(t *testing.T) {
	env := servertest.Start(t, servertest.Options{Webhooks: webhookTuning})
	port := closedAddr(t)
	badTLS := httptest.NewTLSServer(http.NotFoundHandler()) // a certificate no one trusts
	defer badTLS.Close()
	raw := rawNetworkText(t, port, "x509", "certificate signed by unknown authority", strings.TrimPrefix(badTLS.URL, "https://"))
	cases := []struct{ url, want string }{
		{"http://storm-receiver-unresolvable.invalid/x", outcome.CauseDNS.Text()},
		{"http://" + port + "/x", outcome.CauseConnect.Text()},
		{badTLS.URL + "/x", outcome.CauseTLS.Text()},
	}
	ids := make([]string, len(cases))
	for i, c := range cases {
		ids[i] = env.Must(201, "POST", "/v1/webhooks", "", map[string]any{"url": c.url})["id"].(string)
	}
	env.CustomIntegration("Webhook trigger", servertest.NewUpstream(t))
	for i, c := range cases {
		var body []byte
		var ds []any
		for deadline := time.Now().Add(20 * time.Second); len(ds) == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			r := env.Do("GET", "/v1/webhooks/"+ids[i]+"/deliveries", "", nil)
			body, ds = r.Body, r.JSON(t)["deliveries"].([]any)
		}
		if len(ds) == 0 {
			t.Fatalf("%s: no delivery attempt logged", c.url)
		}
		if d := ds[0].(map[string]any); d["error"] != c.want {
			t.Errorf("%s: error %q, want %q", c.url, d["error"], c.want)
		}
		assertNoRawText(t, c.url+" deliveries", string(body), raw)
	}
}

// TestVerifyBlockedNamesAllowPrivate: an upstream the egress guard
// refuses is "blocked", and the text names the setting that allows it.
func TestVerifyBlockedNamesAllowPrivate(t *testing.T) {
	dir := t.TempDir()
	up := servertest.NewUpstream(t, "key-blocked-0123456789")
	// Created where loopback upstreams are allowed, verified where they
	// are not (as if the name now resolved to a private address).
	allow := servertest.Start(t, servertest.Options{DataDir: dir, NoBackground: true})
	id := allow.CustomIntegration("Blocked", up)
	allow.Must(200, "PUT", "/v1/integrations/"+id+"/credentials", "", map[string]any{"api_key": "key-blocked-0123456789"})
	deny := servertest.Start(t, servertest.Options{DataDir: dir, DenyPrivateUpstreams: true, NoBackground: true})
	before := up.Requests.Load()
	v := deny.Must(200, "POST", "/v1/integrations/"+id+"/verify", "", nil)
	if v["ok"] != false || v["reason"] != "blocked" || v["error"] != outcome.Blocked.Text() || !strings.Contains(v["error"].(string), "STORM_ALLOW_PRIVATE_UPSTREAMS") {
		t.Fatalf("verify = %v", v)
	}
	assertNoRawText(t, "the verify answer", string(mustJSON(v)), rawNetworkText(t, "127.0.0.1", "destination address not allowed"))
	if up.Requests.Load() != before {
		t.Fatal("the upstream was contacted")
	}
	r := deny.Do("PUT", "/v1/integrations/"+id+"/credentials", "", map[string]any{"api_key": "key-blocked-0123456789"})
	if p := r.JSON(t); r.Status != 422 || p["reason"] != "blocked" || !strings.Contains(p["detail"].(string), "STORM_ALLOW_PRIVATE_UPSTREAMS") {
		t.Fatalf("save = %d %s", r.Status, r.Body)
	}
}

// TestVerifyRejectedReason: a key the provider answers 401 for is
// "rejected": the integration needs a person, and the status reason and
// event carry the fixed text and the reason.
func TestVerifyRejectedReason(t *testing.T) {
	env := servertest.Start(t, servertest.Options{})
	up := servertest.NewUpstream(t, "key-rejected-0123456789")
	id := env.CustomIntegration("Rejected", up)
	base := "/v1/integrations/" + id
	env.Must(200, "PUT", base+"/credentials", "", map[string]any{"api_key": "key-rejected-0123456789"})
	if v := env.Must(200, "POST", base+"/verify", "", nil); v["ok"] != true || v["reason"] != nil {
		t.Fatalf("verify of a working key = %v", v)
	}
	up.RevokeKey("key-rejected-0123456789")
	v := env.Must(200, "POST", base+"/verify", "", nil)
	if v["ok"] != false || v["reason"] != "rejected" || v["status"] != float64(401) || v["error"] != outcome.Rejected.Text() {
		t.Fatalf("verify = %v", v)
	}
	// The upstream repeats the key it refused: only a scrubbed excerpt.
	if v["provider_message"] != "invalid api key: [redacted]" {
		t.Fatalf("provider_message = %v", v["provider_message"])
	}
	in := env.Must(200, "GET", base, "", nil)
	if in["status"] != "reconnect_required" || in["status_reason"] != outcome.Rejected.Text() {
		t.Fatalf("integration = %v", in)
	}
	evs := failedEvents(t, env, id)
	if len(evs) != 1 || evs[0]["reason"] != "rejected" || evs[0]["status"] != float64(401) || evs[0]["error"] != outcome.Rejected.Text() {
		t.Fatalf("events = %v", evs)
	}
}

// TestSaveRefusedCarriesReason: a Save whose new key the provider refuses
// is a 422 with the reason at the top and in the verification, and its
// verification.failed event says why in the same words.
func TestSaveRefusedCarriesReason(t *testing.T) {
	env := servertest.Start(t, servertest.Options{})
	up := servertest.NewUpstream(t, "key-good-0123456789")
	id := env.CustomIntegration("Refused", up)
	r := env.Do("PUT", "/v1/integrations/"+id+"/credentials", "", map[string]any{"api_key": "key-bad-0123456789"})
	p := r.JSON(t)
	if r.Status != 422 || p["reason"] != "rejected" || p["detail"] != "the new credential did not work, nothing was changed: "+outcome.Rejected.Text() {
		t.Fatalf("save = %d %s", r.Status, r.Body)
	}
	vr := p["verification"].(map[string]any)
	if vr["ok"] != false || vr["reason"] != "rejected" || vr["status"] != float64(401) || vr["provider_message"] != "invalid api key: [redacted]" {
		t.Fatalf("verification = %v", vr)
	}
	if strings.Contains(string(r.Body), "key-bad") {
		t.Fatalf("the refused key is repeated: %s", r.Body)
	}
	evs := failedEvents(t, env, id)
	if len(evs) != 1 || evs[0]["reason"] != "rejected" || evs[0]["during"] != "save" {
		t.Fatalf("events = %v", evs)
	}
	if n := len(env.Must(200, "GET", "/v1/integrations/"+id+"/credentials", "", nil)["credentials"].([]any)); n != 0 {
		t.Fatalf("%d credential versions after a refused save", n)
	}
}

// TestVerifyNotCheckedIsNull: with no verify request nothing is sent, and
// the answer says so (ok null, reason not_checked) instead of claiming
// success; the status and the event log stay as they were.
func TestVerifyNotCheckedIsNull(t *testing.T) {
	t.Run("oauth2", func(t *testing.T) {
		o := startOAuth(t, servertest.Options{}, oauthtest.Options{})
		in := o.Must(201, "POST", "/v1/integrations", "", map[string]any{
			"name": "No verify", "provider": "custom", "auth_method": "oauth2",
			"config": map[string]any{"base_url": o.AS.URL, "oauth2": map[string]any{
				"issuer": o.AS.Issuer, "client_id": oauthtest.DefaultClientID, "client_secret": oauthtest.DefaultClientSecret,
				"scopes": []string{"offline", "openid"}, "pkce": true}}})
		id := in["id"].(string)
		if resp := o.connect(id); resp.StatusCode >= 400 {
			t.Fatalf("connect: %d", resp.StatusCode)
		}
		assertNotChecked(t, o.Env, id)
	})
	t.Run("api_key", func(t *testing.T) {
		env := servertest.Start(t, servertest.Options{})
		up := servertest.NewUpstream(t, "key-unchecked-0123456789")
		id := customAPIKey(t, env, "No verify", up.URL, nil)
		// Nothing can judge the key, so Save keeps it unverified rather
		// than calling it refused.
		c := env.Must(200, "PUT", "/v1/integrations/"+id+"/credentials", "", map[string]any{"api_key": "key-unchecked-0123456789"})
		if c["verified_at"] != nil {
			t.Fatalf("saved version = %v", c)
		}
		assertNotChecked(t, env, id)
		if up.Requests.Load() != 0 {
			t.Fatalf("%d upstream requests", up.Requests.Load())
		}
	})
}

func assertNotChecked(t *testing.T, env *servertest.Env, id string) {
	t.Helper()
	before := env.Must(200, "GET", "/v1/integrations/"+id, "", nil)
	r := env.Do("POST", "/v1/integrations/"+id+"/verify", "", nil)
	v := r.JSON(t)
	if ok, present := v["ok"]; r.Status != 200 || !present || ok != nil || v["reason"] != "not_checked" || v["error"] != outcome.NotChecked.Text() {
		t.Fatalf("verify = %d %s", r.Status, r.Body)
	}
	after := env.Must(200, "GET", "/v1/integrations/"+id, "", nil)
	if after["status"] != before["status"] || after["status_reason"] != before["status_reason"] || after["last_verified_at"] != before["last_verified_at"] {
		t.Fatalf("verify changed the integration: %v → %v", before, after)
	}
	if evs := failedEvents(t, env, id); len(evs) != 0 {
		t.Fatalf("events = %v", evs)
	}
}

// TestDiscoveryErrorHidesResolver: an issuer whose name does not resolve
// is refused with a text that does not repeat the resolver's answer.
func TestDiscoveryErrorHidesResolver(t *testing.T) {
	env := servertest.Start(t, servertest.Options{})
	r := env.Do("POST", "/v1/integrations", "", map[string]any{
		"name": "Discovery", "provider": "custom", "auth_method": "oauth2",
		"config": map[string]any{"base_url": "http://storm-issuer-unresolvable.invalid", "oauth2": map[string]any{
			"issuer": "http://storm-issuer-unresolvable.invalid", "client_id": "c", "client_secret": "client-secret-0123456789"}}})
	if r.Status != http.StatusBadGateway || !strings.Contains(string(r.Body), outcome.CauseDNS.Text()) {
		t.Fatalf("create = %d %s", r.Status, r.Body)
	}
	assertNoRawText(t, "the discovery problem", string(r.Body), rawNetworkText(t))
	if !strings.Contains(env.Logs.String(), "lookup storm-issuer-unresolvable.invalid") {
		t.Fatal("the raw discovery failure is not in the server log")
	}
}

// TestOAuthCallbackFailureScrubbed: a token endpoint that refuses the
// code and repeats what it was sent (client secret, code, verifier) in
// its error_description, in other forms, shows none of it on the
// callback page or in the authorization.failed event.
func TestOAuthCallbackFailureScrubbed(t *testing.T) {
	const clientSecret = "oauth-client-secret-8f3a2b1c9d"
	verifiers := make(chan string, 1)
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		verifiers <- r.PostForm.Get("code_verifier")
		_, sec, _ := r.BasicAuth()
		sec, _ = url.QueryUnescape(sec)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant", "error_description": "code " +
			strings.ToUpper(r.PostForm.Get("code")) + " verifier " + r.PostForm.Get("code_verifier")[3:20] + " client " + url.QueryEscape(sec)})
	}))
	defer echo.Close()
	env := servertest.Start(t, servertest.Options{})
	id := env.Must(201, "POST", "/v1/integrations", "", map[string]any{
		"name": "Echo", "provider": "custom", "auth_method": "oauth2",
		"config": map[string]any{"base_url": echo.URL, "oauth2": map[string]any{
			"authorize_url": echo.URL + "/authorize", "token_url": echo.URL + "/token",
			"client_id": "echo-client", "client_secret": clientSecret, "pkce": true}}})["id"].(string)
	authURL, _ := url.Parse(env.Must(200, "POST", "/v1/integrations/"+id+"/authorize", "", map[string]any{})["authorize_url"].(string))
	const code = "authcode-5e6f7a8b9c0d1e2f"
	resp, err := noRedirect.Get(env.URL + "/oauth/callback?state=" + url.QueryEscape(authURL.Query().Get("state")) + "&code=" + code)
	if err != nil {
		t.Fatal(err)
	}
	page := readAll(t, resp)
	events := string(env.Do("GET", "/v1/events?integration="+id, "", nil).Body)
	for _, s := range []string{clientSecret, code, <-verifiers} {
		for _, text := range []string{page, events} {
			assertNoPieceOf(t, text, s)
		}
	}
	// Control: the provider's answer was shown, with the echoes cut out.
	if !strings.Contains(page, "invalid_grant") || !strings.Contains(page, "[redacted]") || !strings.Contains(events, "authorization.failed") {
		t.Fatalf("callback page %d: %s\nevents: %s", resp.StatusCode, page, events)
	}
}

// assertNoPieceOf fails when any 8 characters of secret appear in text,
// in any case.
func assertNoPieceOf(t *testing.T, text, secret string) {
	t.Helper()
	lower := strings.ToLower(text)
	for i := 0; i+8 <= len(secret); i++ {
		if strings.Contains(lower, strings.ToLower(secret[i:i+8])) {
			t.Errorf("%q of the secret appears in: %.400s", secret[i:i+8], text)
			return
		}
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMintFailureEchoScrubbed: a token endpoint that refuses a service
// account's client secret and repeats it (upper-cased, URL-encoded) gets
// none of it into the refused Save's answer or its event.
func TestMintFailureEchoScrubbed(t *testing.T) {
	const clientSecret = "svc-secret/8e7d+6c5b4a39"
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, sec, _ := r.BasicAuth()
		sec, _ = url.QueryUnescape(sec)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(401)
		json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client",
			"error_description": "unknown secret " + strings.ToUpper(sec) + " (" + url.QueryEscape(sec[2:]) + ")"})
	}))
	defer echo.Close()
	env := servertest.Start(t, servertest.Options{})
	id := env.Must(201, "POST", "/v1/integrations", "", map[string]any{
		"name": "Mint echo", "provider": "custom", "auth_method": "service_account",
		"config": map[string]any{"base_url": echo.URL,
			"service_account": map[string]any{"kind": "client_credentials", "token_url": echo.URL + "/token"}}})["id"].(string)
	r := env.Do("PUT", "/v1/integrations/"+id+"/credentials", "", map[string]any{"client_id": "svc", "client_secret": clientSecret})
	p := r.JSON(t)
	if r.Status != 422 || p["reason"] != "rejected" || p["verification"].(map[string]any)["status"] != float64(401) {
		t.Fatalf("save = %d %s", r.Status, r.Body)
	}
	events := string(env.Do("GET", "/v1/events?integration="+id, "", nil).Body)
	for _, text := range []string{string(r.Body), events} {
		assertNoPieceOf(t, text, clientSecret)
		assertNoPieceOf(t, text, url.QueryEscape(clientSecret))
	}
	if !strings.Contains(events, `"reason":"rejected"`) {
		t.Fatalf("events = %s", events)
	}
}
