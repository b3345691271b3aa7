package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/server/servertest"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/tokens"
)

// appConfig is a custom OAuth 2.0 app for the test server, found by issuer
// discovery, with secret as its client secret.
func (o *oauthEnv) appConfig(secret string) map[string]any {
	return map[string]any{
		"client_id": oauthtest.DefaultClientID, "client_secret": secret, "issuer": o.AS.Issuer,
		"scopes": []string{"offline", "openid"}, "pkce": true,
	}
}

// createApp creates a custom app in the default workspace and returns its id.
func (o *oauthEnv) createApp(name, secret string) string {
	o.T.Helper()
	a := o.Must(201, "POST", "/v1/apps", "", map[string]any{"name": name, "provider": "custom", "auth_method": "oauth2", "config": o.appConfig(secret)})
	return a["id"].(string)
}

// appIntegration creates an integration that uses app and returns its id.
func (o *oauthEnv) appIntegration(name, app string) string {
	o.T.Helper()
	in := o.Must(201, "POST", "/v1/integrations", "", map[string]any{
		"name": name, "app": app,
		"config": map[string]any{"base_url": o.AS.URL, "verify": map[string]any{"method": "GET", "path": "/userinfo"}},
	})
	return in["id"].(string)
}

func secretsOf(t *testing.T, env *servertest.Env, app string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, x := range env.Must(200, "GET", "/v1/apps/"+app+"/secrets", "", nil)["secrets"].([]any) {
		out = append(out, x.(map[string]any))
	}
	return out
}

func TestAppLifecycle(t *testing.T) { backends(t, testAppLifecycle) }

// testAppLifecycle: an app is created, read and listed without its
// secret; integrations use it (their own config may not hold a client
// secret), authorize and refresh through it; it cannot be deleted while
// used; its secrets are versioned (a third unrevoked one and revoking the
// last one are 409s); other workspaces and roles are kept out.
func testAppLifecycle(t *testing.T, opts servertest.Options) {
	o := startOAuth(t, opts, oauthtest.Options{})
	const secret = "app-secret-canary-0123456789"
	o.AS.RemoveClientSecret(oauthtest.DefaultClientID, oauthtest.DefaultClientSecret)
	o.AS.AddClientSecret(oauthtest.DefaultClientID, secret)

	a := o.Must(201, "POST", "/v1/apps", "", map[string]any{"name": "Test AS", "provider": "custom", "config": o.appConfig(secret)})
	id := a["id"].(string)
	cfg := a["config"].(map[string]any)
	if !strings.HasPrefix(id, "app_") || a["auth_method"] != "oauth2" || a["integrations"] != float64(0) ||
		cfg["client_secret"] != "********" || cfg["client_id"] != oauthtest.DefaultClientID || a["workspace_name"] != "default" {
		t.Fatalf("created app = %v", a)
	}
	// Bad input: 400 naming the field, nothing stored.
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"name": "x", "provider": "custom", "config": map[string]any{"issuer": o.AS.Issuer}}, "config.client_id"},
		{map[string]any{"name": "x", "provider": "custom", "config": map[string]any{"client_id": "c", "token_url": "ftp://x"}}, "config.token_url"},
		{map[string]any{"name": "x", "provider": "custom", "config": map[string]any{"client_id": "c", "issuer": o.AS.Issuer, "base_url": "https://x"}}, "config.base_url"},
		{map[string]any{"name": "x", "provider": "custom", "auth_method": "api_key", "config": map[string]any{}}, "auth_method"},
		{map[string]any{"name": "x", "provider": "nope", "config": map[string]any{}}, "provider"},
		{map[string]any{"name": "", "provider": "custom", "config": o.appConfig("s")}, "name"},
	} {
		r := o.Do("POST", "/v1/apps", "", tc.body)
		if r.Status != 400 || !strings.Contains(string(r.Body), `"field":"`+tc.field+`"`) {
			t.Errorf("POST /v1/apps %v: %d %s, want 400 naming %s", tc.body, r.Status, r.Body, tc.field)
		}
	}
	if r := o.Do("POST", "/v1/apps", "", map[string]any{"name": "Test AS", "provider": "custom", "config": o.appConfig("x")}); r.Status != 409 {
		t.Errorf("a taken name: %d %s", r.Status, r.Body)
	}

	// An integration that uses the app: provider and method from the app;
	// a client secret of its own is refused, naming the field.
	r := o.Do("POST", "/v1/integrations", "", map[string]any{"name": "bad", "app": id,
		"config": map[string]any{"base_url": o.AS.URL, "oauth2": map[string]any{"client_secret": "mine"}}})
	if r.Status != 400 || !strings.Contains(string(r.Body), `"field":"config.oauth2.client_secret"`) {
		t.Fatalf("integration with its own client secret: %d %s", r.Status, r.Body)
	}
	r = o.Do("POST", "/v1/integrations", "", map[string]any{"name": "bad", "app": "app_unknown", "config": map[string]any{"base_url": o.AS.URL}})
	if r.Status != 400 || !strings.Contains(string(r.Body), `"field":"app"`) {
		t.Fatalf("integration with an unknown app: %d %s", r.Status, r.Body)
	}
	integ := o.appIntegration("uses the app", id)
	base := "/v1/integrations/" + integ
	in := o.Must(200, "GET", base, "", nil)
	if in["app"] != id || in["provider"] != "custom" || in["auth_method"] != "oauth2" {
		t.Fatalf("integration = %v", in)
	}
	if strings.Contains(string(o.Do("GET", base, "", nil).Body), "client_secret") {
		t.Fatalf("the integration's config mentions a client secret: %s", o.Do("GET", base, "", nil).Body)
	}
	// Authorize, exchange and refresh with the app's secret.
	if resp := o.connect(integ); resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusOK {
		t.Fatalf("callback answered %d", resp.StatusCode)
	}
	if got := o.Must(200, "GET", base, "", nil)["status"]; got != "connected" {
		t.Fatalf("status = %v", got)
	}
	creds, err := o.Server.Store.ListCredentials(context.Background(), integ)
	if err != nil || len(creds) != 1 {
		t.Fatal(creds, err)
	}
	old, _ := o.Server.Creds.Tokens().Tokens(creds[0])
	if _, err := o.Server.Creds.Tokens().RefreshAfter401(context.Background(), creds[0], old.AccessToken, time.Time{}); err != nil {
		t.Fatalf("refresh through the app: %v", err)
	}
	if n, _ := o.AS.SecretReceived(secret); n < 2 {
		t.Fatalf("the provider received the app's secret %d times, want the exchange and the refresh", n)
	}
	got := o.Must(200, "GET", "/v1/apps/"+id, "", nil)
	if got["integrations"] != float64(1) || got["active_secret"] == nil {
		t.Fatalf("app = %v", got)
	}
	xs := secretsOf(t, o.Env, id)
	if len(xs) != 1 || xs[0]["state"] != "active" || xs[0]["last_used_at"] == nil || !strings.HasSuffix(xs[0]["hint"].(string), "…6789") {
		t.Fatalf("secrets = %v", xs)
	}
	list := o.Must(200, "GET", "/v1/apps/"+id+"/integrations", "", nil)["integrations"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["id"] != integ {
		t.Fatalf("app integrations = %v", list)
	}

	// Deleting a used app is a conflict.
	if r := o.Do("DELETE", "/v1/apps/"+id, "", nil); r.Status != 409 {
		t.Fatalf("DELETE a used app: %d %s", r.Status, r.Body)
	}

	// Secret versions: a second is fine, a third is not; the last one
	// cannot be revoked.
	x2 := o.Must(201, "POST", "/v1/apps/"+id+"/secrets", "", map[string]any{"client_secret": "second-secret-abcdefgh"})
	if x2["state"] != "active" || x2["hint"] == "" || x2["id"] == nil || x2["created_at"] == nil {
		t.Fatalf("added secret = %v", x2)
	}
	if r := o.Do("POST", "/v1/apps/"+id+"/secrets", "", map[string]any{"client_secret": "third-secret-abcdefghij"}); r.Status != 409 {
		t.Fatalf("a third unrevoked secret: %d %s", r.Status, r.Body)
	}
	if r := o.Do("POST", "/v1/apps/"+id+"/secrets", "", map[string]any{"client_secret": secret}); r.Status != 409 {
		t.Fatalf("a secret the app holds: %d %s", r.Status, r.Body)
	}
	if r := o.Do("POST", "/v1/apps/"+id+"/secrets", "", map[string]any{}); r.Status != 400 || !strings.Contains(string(r.Body), `"field":"client_secret"`) {
		t.Fatalf("no secret: %d %s", r.Status, r.Body)
	}
	xs = secretsOf(t, o.Env, id)
	first := xs[0]["id"].(string)
	if xs[0]["state"] != "previous" || xs[1]["state"] != "active" {
		t.Fatalf("after adding: %v", xs)
	}
	o.Must(200, "POST", "/v1/apps/"+id+"/secrets/"+x2["id"].(string)+"/revoke", "", nil)
	xs = secretsOf(t, o.Env, id)
	if xs[0]["state"] != "active" || xs[1]["state"] != "revoked" {
		t.Fatalf("revoking the newest rolls back to the previous: %v", xs)
	}
	if r := o.Do("POST", "/v1/apps/"+id+"/secrets/"+first+"/revoke", "", nil); r.Status != 409 {
		t.Fatalf("revoking the last secret: %d %s", r.Status, r.Body)
	}
	if r := o.Do("POST", "/v1/apps/"+id+"/secrets/asec_unknown/revoke", "", nil); r.Status != 404 {
		t.Fatalf("revoking an unknown secret: %d %s", r.Status, r.Body)
	}

	// Roles and workspaces.
	viewer := o.NewToken("viewer", "default")
	o.Must(200, "GET", "/v1/apps/"+id, viewer, nil)
	o.Must(200, "GET", "/v1/apps/"+id+"/secrets", viewer, nil)
	for _, req := range [][2]string{{"POST", "/v1/apps"}, {"PATCH", "/v1/apps/" + id}, {"DELETE", "/v1/apps/" + id},
		{"POST", "/v1/apps/" + id + "/secrets"}, {"POST", "/v1/apps/" + id + "/adopt"}} {
		if r := o.Do(req[0], req[1], viewer, map[string]any{}); r.Status != 403 {
			t.Errorf("viewer %s %s: %d", req[0], req[1], r.Status)
		}
	}
	o.Must(201, "POST", "/v1/workspaces", "", map[string]any{"name": "other"})
	otherEditor := o.NewToken("editor", "other")
	for _, req := range [][2]string{{"GET", "/v1/apps/" + id}, {"GET", "/v1/apps/" + id + "/secrets"}, {"PATCH", "/v1/apps/" + id},
		{"DELETE", "/v1/apps/" + id}, {"POST", "/v1/apps/" + id + "/secrets"}, {"GET", "/v1/apps/" + id + "/integrations"},
		{"POST", "/v1/apps/" + id + "/secrets/" + first + "/revoke"}, {"POST", "/v1/apps/" + id + "/adopt"}} {
		if r := o.Do(req[0], req[1], otherEditor, map[string]any{"client_secret": "zzzzzzzzzzzz"}); r.Status != 404 {
			t.Errorf("another workspace's editor %s %s: %d %s", req[0], req[1], r.Status, r.Body)
		}
	}
	if r := o.Do("POST", "/v1/integrations", otherEditor, map[string]any{"name": "x", "app": id, "config": map[string]any{"base_url": o.AS.URL}}); r.Status != 400 {
		t.Errorf("another workspace's app in an integration: %d %s", r.Status, r.Body)
	}
	if l := o.Must(200, "GET", "/v1/apps", otherEditor, nil)["apps"].([]any); len(l) != 0 {
		t.Errorf("another workspace lists %d apps", len(l))
	}

	// Pagination.
	for i := range 4 {
		o.createApp(fmt.Sprintf("app %d", i), "s-"+fmt.Sprint(i)+"-abcdefghijk")
	}
	page := o.Must(200, "GET", "/v1/apps?limit=2", "", nil)
	seen := len(page["apps"].([]any))
	for page["next"] != nil {
		page = o.Must(200, "GET", "/v1/apps?limit=2&after="+page["next"].(string), "", nil)
		seen += len(page["apps"].([]any))
	}
	if seen != 5 {
		t.Fatalf("paged through %d apps, want 5", seen)
	}
	if r := o.Do("GET", "/v1/apps?limit=0", "", nil); r.Status != 400 {
		t.Fatalf("limit=0: %d", r.Status)
	}

	// Once unused, the app can be deleted; its secrets go with it.
	o.Must(204, "DELETE", base, "", nil)
	o.Must(204, "DELETE", "/v1/apps/"+id, "", nil)
	if r := o.Do("GET", "/v1/apps/"+id, "", nil); r.Status != 404 {
		t.Fatalf("deleted app: %d", r.Status)
	}
	if xs, _ := o.Server.Store.ListAppSecrets(context.Background(), id); len(xs) != 0 {
		t.Fatalf("%d secrets outlived their app", len(xs))
	}
	_ = store.StateActive
}

// metricValue reads one sample of the server's /metrics (0 when absent).
func metricValue(t *testing.T, env *servertest.Env, sample string) float64 {
	t.Helper()
	req, _ := http.NewRequest("GET", env.URL+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, sample+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", sample, err)
			}
			return v
		}
	}
	return 0
}

// countEvents counts the events of a type in the default workspace.
func countEvents(t *testing.T, env *servertest.Env, typ string) (n int, data []map[string]any) {
	t.Helper()
	for after := ""; ; {
		page := env.Must(200, "GET", "/v1/events?limit=1000&after="+after, "", nil)
		evs := page["events"].([]any)
		for _, e := range evs {
			m := e.(map[string]any)
			if m["type"] == typ {
				n++
				data = append(data, m["data"].(map[string]any))
			}
			after = m["id"].(string)
		}
		if len(evs) < 1000 {
			return n, data
		}
	}
}

// rotationLoad keeps refreshing n integrations while a rotation runs:
// the background loop (short token lifetimes), forced refreshes (as after
// a 401) and /access callers. It counts what failed.
type rotationLoad struct {
	o      *oauthEnv
	ids    []string
	stop   chan struct{}
	wg     sync.WaitGroup
	access atomic.Int64 // /access calls
	forced atomic.Int64 // forced refreshes
	failed atomic.Int64 // non-200 /access answers and failed forced refreshes
	mu     sync.Mutex
	errs   []string
}

func (l *rotationLoad) fail(format string, args ...any) {
	l.failed.Add(1)
	l.mu.Lock()
	if len(l.errs) < 10 {
		l.errs = append(l.errs, fmt.Sprintf(format, args...))
	}
	l.mu.Unlock()
}

func startLoad(o *oauthEnv, ids []string) *rotationLoad {
	l := &rotationLoad{o: o, ids: ids, stop: make(chan struct{})}
	for w := range 4 {
		l.wg.Go(func() { // /access callers
			for i := w; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				id := ids[i%len(ids)]
				req, _ := http.NewRequest("GET", o.URL+"/v1/integrations/"+id+"/access", nil)
				req.Header.Set("Authorization", "Bearer "+o.AdminToken)
				resp, err := http.DefaultClient.Do(req)
				l.access.Add(1)
				if err != nil {
					l.fail("access %s: %v", id, err)
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					l.fail("access %s: %d %s", id, resp.StatusCode, b)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	for w := range 2 {
		l.wg.Go(func() { // forced refreshes, as after a provider's 401
			ctx := context.Background()
			for i := w * 7; ; i++ {
				select {
				case <-l.stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
				id := ids[i%len(ids)]
				creds, err := o.Server.Store.ListCredentials(ctx, id)
				if err != nil {
					l.fail("list credentials: %v", err)
					continue
				}
				for _, c := range creds {
					if c.State != store.StateActive {
						continue
					}
					ts, err := o.Server.Creds.Tokens().Tokens(c)
					if err != nil {
						l.fail("tokens: %v", err)
						continue
					}
					l.forced.Add(1)
					if _, err := o.Server.Creds.Tokens().RefreshAfter401(ctx, c, ts.AccessToken, time.Time{}); err != nil && !errors.Is(err, tokens.ErrReplaced) {
						l.fail("forced refresh of %s: %v", id, err)
					}
				}
			}
		})
	}
	return l
}

func (l *rotationLoad) end() {
	close(l.stop)
	l.wg.Wait()
}

// TestAppSecretRotationUnderLoad rotates an app's client secret by the
// procedure — add the new secret at the provider, add it to Storm, the
// provider drops the old one, revoke it in Storm — while 50 integrations
// that use the app refresh continuously (3 s tokens: background refresh,
// forced refreshes and /access callers). No refresh fails, no caller gets
// an error, and the revoked secret is never sent again.
func TestAppSecretRotationUnderLoad(t *testing.T) {
	backends(t, func(t *testing.T, opts servertest.Options) { testRotationUnderLoad(t, opts, false) })
}

// TestAppSecretRotationStormFirst is the same rotation with the new
// secret added to Storm before the provider knows it: refreshes fall back
// to the previous secret (counted and evented as app.client_rejected) and
// still none fails.
func TestAppSecretRotationStormFirst(t *testing.T) {
	backends(t, func(t *testing.T, opts servertest.Options) { testRotationUnderLoad(t, opts, true) })
}

func testRotationUnderLoad(t *testing.T, opts servertest.Options, stormFirst bool) {
	const ttl = 3 * time.Second
	const n = 50
	const oldSecret, newSecret = "rotation-old-secret-aaaaaaaaaaaa", "rotation-new-secret-bbbbbbbbbbbb"
	opts.Tokens.Interval = 100 * time.Millisecond
	opts.Tokens.Concurrency = 16
	o := startOAuth(t, opts, oauthtest.Options{AccessTokenTTL: ttl})
	o.AS.RemoveClientSecret(oauthtest.DefaultClientID, oauthtest.DefaultClientSecret)
	o.AS.AddClientSecret(oauthtest.DefaultClientID, oldSecret)
	app := o.createApp("rotating", oldSecret)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = o.appIntegration(fmt.Sprintf("customer %02d", i), app)
		o.connect(ids[i])
	}
	oldID := secretsOf(t, o.Env, app)[0]["id"].(string)

	ok0 := metricValue(t, o.Env, `storm_token_refreshes_total{outcome="ok"}`)
	refreshes0 := o.AS.RefreshRequests()
	load := startLoad(o, ids)
	time.Sleep(ttl / 2)

	step := func(what string, f func()) {
		t.Logf("%s (%d refresh requests so far)", what, o.AS.RefreshRequests()-refreshes0)
		f()
		time.Sleep(ttl / 2)
	}
	addAtProvider := func() { o.AS.AddClientSecret(oauthtest.DefaultClientID, newSecret) }
	addInStorm := func() {
		o.Must(201, "POST", "/v1/apps/"+app+"/secrets", "", map[string]any{"client_secret": newSecret})
	}
	if stormFirst {
		step("1. add the new secret in Storm (the provider does not know it yet)", addInStorm)
		step("2. add the new secret at the provider", addAtProvider)
	} else {
		step("1. add the new secret at the provider", addAtProvider)
		step("2. add the new secret in Storm", addInStorm)
	}
	step("3. the provider drops the old secret", func() { o.AS.RemoveClientSecret(oauthtest.DefaultClientID, oldSecret) })
	var sentBeforeRevoke int64
	step("4. revoke the old secret in Storm", func() {
		o.Must(200, "POST", "/v1/apps/"+app+"/secrets/"+oldID+"/revoke", "", nil)
		sentBeforeRevoke, _ = o.AS.SecretReceived(oldSecret)
	})
	time.Sleep(ttl)
	load.end()

	refreshes := o.AS.RefreshRequests() - refreshes0
	okRefreshes := metricValue(t, o.Env, `storm_token_refreshes_total{outcome="ok"}`) - ok0
	var notOK float64
	for _, outcome := range []string{"temporary", "revoked", "client_rejected"} {
		notOK += metricValue(t, o.Env, `storm_token_refreshes_total{outcome="`+outcome+`"}`)
	}
	failedEvents, _ := countEvents(t, o.Env, "token.refresh_failed")
	rejected, rejectedData := countEvents(t, o.Env, "app.client_rejected")
	fallbacks := metricValue(t, o.Env, `storm_app_client_secret_uses_total{outcome="fallback"}`)
	t.Logf("rotation figure: %d integrations, %d refresh requests at the provider during the rotation (%v ok in Storm), "+
		"%d forced refreshes, %d /access calls; failed refreshes: %v (metric), %d (token.refresh_failed events), %d failed calls; "+
		"fallbacks to the previous secret: %v, app.client_rejected events: %d",
		n, refreshes, okRefreshes, load.forced.Load(), load.access.Load(), notOK, failedEvents, load.failed.Load(), fallbacks, rejected)
	if notOK != 0 || failedEvents != 0 || load.failed.Load() != 0 {
		t.Fatalf("failures during the rotation: %v not-ok refreshes, %d refresh_failed events, %d failed calls: %v", notOK, failedEvents, load.failed.Load(), load.errs)
	}
	if refreshes < 100 {
		t.Fatalf("only %d refreshes during the rotation: the load proves little", refreshes)
	}
	if sent, _ := o.AS.SecretReceived(oldSecret); sent != sentBeforeRevoke {
		t.Fatalf("the revoked secret was sent %d more times after the revocation returned", sent-sentBeforeRevoke)
	}
	if stormFirst {
		if fallbacks == 0 || rejected == 0 {
			t.Fatalf("the provider refused the new secret, yet %v fallbacks and %d app.client_rejected events were counted", fallbacks, rejected)
		}
		if d := rejectedData[0]; d["app"] != app || d["used_instead"] != oldID || d["hint"] == nil {
			t.Fatalf("app.client_rejected data = %v", d)
		}
	} else if fallbacks != 0 || rejected != 0 {
		t.Fatalf("by the procedure nothing should be refused: %v fallbacks, %d rejections", fallbacks, rejected)
	}
	xs := secretsOf(t, o.Env, app)
	if xs[0]["state"] != "revoked" || xs[1]["state"] != "active" || xs[1]["last_used_at"] == nil {
		t.Fatalf("secrets after the rotation = %v", xs)
	}
	if stormFirst && xs[1]["last_rejected_at"] == nil {
		t.Fatalf("the new secret's refusals were not recorded: %v", xs[1])
	}
	for _, id := range ids {
		if st := o.Must(200, "GET", "/v1/integrations/"+id, "", nil)["status"]; st != "connected" {
			t.Fatalf("integration %s is %v after the rotation", id, st)
		}
	}
}
