package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/server/servertest"
	"github.com/stormcreds/storm/internal/webhooks"
)

// webhookTuning makes retries quick; Timeout stays well above what a
// healthy local answer takes so only the receiver's deliberate hangs time
// out.
var webhookTuning = webhooks.Tuning{
	Poll: 20 * time.Millisecond, Timeout: 1500 * time.Millisecond,
	BackoffBase: 20 * time.Millisecond, BackoffCap: 300 * time.Millisecond, LeaseTTL: 5 * time.Second,
}

// flakyReceiver is a webhook endpoint that fails on purpose: per event
// (by a hash of its id) it answers 500 to the first two attempts, 429
// with Retry-After to the first, hangs past the delivery timeout on the
// first, or accepts at once. It verifies every signature, dedupes by
// Storm-Event-Id as receivers should, and records what it accepted, in
// order, and every duplicate.
type flakyReceiver struct {
	*httptest.Server
	name    string
	secret  atomic.Value // string
	flaky   bool
	mu      sync.Mutex
	tries   map[string]int
	times   map[string][]time.Time
	kinds   map[string]string
	order   []string
	seen    map[string]bool
	dupes   []string
	badSigs []string
	bodies  map[string]webhooks.Payload
}

func newFlakyReceiver(t *testing.T, name string, flaky bool) *flakyReceiver {
	rc := &flakyReceiver{name: name, flaky: flaky, tries: map[string]int{}, times: map[string][]time.Time{}, kinds: map[string]string{}, seen: map[string]bool{}, bodies: map[string]webhooks.Payload{}}
	rc.secret.Store("")
	rc.Server = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.Close)
	return rc
}

// plan is how a flaky receiver treats the nth event it sees, n mod 10.
var plan = [10]string{"ok", "500x2", "ok", "429", "ok", "hang", "ok", "500x2", "ok", "ok"}

// kind is how the receiver treated event id.
func (rc *flakyReceiver) kind(id string) string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.kinds[id]
}

func (rc *flakyReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	id := r.Header.Get(webhooks.EventIDHeader)
	rc.mu.Lock()
	if err := webhooks.VerifySignature(rc.secret.Load().(string), r.Header.Get(webhooks.SignatureHeader), body, time.Now(), 0); err != nil {
		rc.badSigs = append(rc.badSigs, id+": "+err.Error())
	}
	rc.tries[id]++
	rc.times[id] = append(rc.times[id], time.Now())
	n := rc.tries[id]
	k, ok := rc.kinds[id]
	if !ok {
		k = "ok"
		if rc.flaky {
			k = plan[len(rc.kinds)%len(plan)]
		}
		rc.kinds[id] = k
	}
	rc.mu.Unlock()

	switch {
	case k == "500x2" && n <= 2:
		http.Error(w, "try again", http.StatusInternalServerError)
		return
	case k == "429" && n == 1:
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		return
	case k == "hang" && n == 1:
		<-r.Context().Done() // past the delivery timeout: Storm gives up
		return
	}
	var p webhooks.Payload
	json.Unmarshal(body, &p)
	rc.mu.Lock()
	if rc.seen[id] {
		rc.dupes = append(rc.dupes, id)
	} else {
		rc.seen[id] = true
		rc.order = append(rc.order, id)
		rc.bodies[id] = p
	}
	rc.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (rc *flakyReceiver) accepted() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.order)
}

// createWebhook subscribes rc and hands it the secret.
func createWebhook(t *testing.T, env *servertest.Env, token string, rc *flakyReceiver, body map[string]any) string {
	t.Helper()
	body["url"] = rc.URL + "/hook/" + rc.name
	r := env.Must(http.StatusCreated, "POST", "/v1/webhooks", token, body)
	secret, _ := r["secret"].(string)
	if !strings.HasPrefix(secret, "whsec_") || len(secret) != 6+64 || r["id"] == nil || r["created_at"] == nil {
		t.Fatalf("create webhook = %v", r)
	}
	rc.secret.Store(secret)
	return r["id"].(string)
}

// eventsOf lists a workspace's events, oldest first.
func eventsOf(t *testing.T, env *servertest.Env, workspace string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, e := range env.Must(200, "GET", "/v1/events?limit=1000&workspace="+workspace, "", nil)["events"].([]any) {
		out = append(out, e.(map[string]any))
	}
	return out
}

func eventIDs(es []map[string]any, keep func(map[string]any) bool) []string {
	var out []string
	for _, e := range es {
		if keep == nil || keep(e) {
			out = append(out, e["id"].(string))
		}
	}
	return out
}

// TestWebhooksEndToEnd: two instances sharing one database both run
// dispatchers; 50+ events made by real API actions reach each webhook
// exactly once, in order, through a receiver that fails on purpose
// (500s, 429 with Retry-After, hangs past the timeout); signatures hold;
// the delivery log shows the failed attempts; another workspace's webhook
// gets only its own workspace's events.
func TestWebhooksEndToEnd(t *testing.T) { backends(t, testWebhooksEndToEnd) }

func testWebhooksEndToEnd(t *testing.T, opts servertest.Options) {
	opts.Webhooks = webhookTuning
	env := servertest.Start(t, opts)
	second := opts
	second.DataDir = env.DataDir
	other := servertest.Start(t, second)
	instances := []*servertest.Env{env, other}

	env.Must(201, "POST", "/v1/workspaces", "", map[string]any{"name": "acme"})
	before := eventIDs(eventsOf(t, env, "default"), nil)

	all := newFlakyReceiver(t, "all", true)
	saved := newFlakyReceiver(t, "saved", true)
	acme := newFlakyReceiver(t, "acme", false)
	allID := createWebhook(t, env, "", all, map[string]any{})
	savedID := createWebhook(t, other, env.NewToken("editor", "default"), saved, map[string]any{"events": []string{"credential.saved", "credential.revoked"}})
	acmeID := createWebhook(t, env, env.NewToken("editor", "acme"), acme, map[string]any{"workspace": "acme"})

	// Real API actions, through both instances, until 50 events.
	up := servertest.NewUpstream(t, "whk-key-0-aaaaaaaaaaaa")
	for i := 0; len(eventsOf(t, env, "default"))-len(before) < 50; i++ {
		via := instances[i%2]
		id := via.CustomIntegration(fmt.Sprintf("Hooked %d", i), up)                                                                 // integration.created
		cred := via.Must(200, "PUT", "/v1/integrations/"+id+"/credentials", "", map[string]any{"api_key": "whk-key-0-aaaaaaaaaaaa"}) // credential.saved, integration.connected
		via.Do("PUT", "/v1/integrations/"+id+"/credentials", "", map[string]any{"api_key": "whk-wrong-bbbbbbbbbbbb"})                // verification.failed
		via.Must(200, "PATCH", "/v1/integrations/"+id, "", map[string]any{"name": fmt.Sprintf("Renamed %d", i)})                     // integration.updated
		via.Must(200, "POST", "/v1/integrations/"+id+"/credentials/"+cred["id"].(string)+"/revoke", "", nil)                         // credential.revoked …
		via.Must(204, "DELETE", "/v1/integrations/"+id, "", nil)                                                                     // integration.deleted
		if i%3 == 0 {                                                                                                                // acme's events: none of default's webhooks' business
			instances[(i+1)%2].Must(201, "POST", "/v1/integrations", "", map[string]any{"workspace": "acme", "name": fmt.Sprintf("Acme only %d", i),
				"provider": "custom", "auth_method": "api_key", "config": map[string]any{"base_url": up.URL,
					"api_key": map[string]any{"in": "header", "name": "Authorization", "prefix": "Bearer "}}})
		}
	}
	mine := eventsOf(t, env, "default")[len(before):]
	wantAll := eventIDs(mine, nil)
	wantSaved := eventIDs(mine, func(e map[string]any) bool {
		return e["type"] == "credential.saved" || e["type"] == "credential.revoked"
	})
	wantAcme := eventIDs(eventsOf(t, env, "acme"), nil)
	t.Logf("%d events for all, %d for saved, %d in acme", len(wantAll), len(wantSaved), len(wantAcme))
	if len(wantAll) < 50 || len(wantSaved) < 10 || len(wantAcme) == 0 {
		t.Fatal("too few events")
	}

	deadline := time.Now().Add(90 * time.Second)
	for (len(all.accepted()) < len(wantAll) || len(saved.accepted()) < len(wantSaved) || len(acme.accepted()) < len(wantAcme)) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(10 * webhookTuning.Poll) // anything extra would arrive now

	for _, c := range []struct {
		rc   *flakyReceiver
		want []string
	}{{all, wantAll}, {saved, wantSaved}, {acme, wantAcme}} {
		c.rc.mu.Lock()
		if !slices.Equal(c.rc.order, c.want) {
			t.Errorf("%s accepted %d events, want %d in log order:\n got %v\nwant %v", c.rc.name, len(c.rc.order), len(c.want), c.rc.order, c.want)
		}
		if len(c.rc.dupes) > 0 {
			t.Errorf("%s got events twice: %v", c.rc.name, c.rc.dupes)
		}
		if len(c.rc.badSigs) > 0 {
			t.Errorf("%s saw bad signatures: %v", c.rc.name, c.rc.badSigs)
		}
		c.rc.mu.Unlock()
	}
	for _, id := range wantAll {
		if slices.Contains(acme.accepted(), id) {
			t.Fatalf("acme's webhook received default's event %s", id)
		}
	}
	// The payload is the event as the API shows it.
	first := mine[0]
	all.mu.Lock()
	p := all.bodies[first["id"].(string)]
	all.mu.Unlock()
	if p.ID != first["id"] || p.Type != first["type"] || p.Integration != first["integration"] || p.Workspace != first["workspace"] || p.At != first["at"] {
		t.Errorf("payload %+v, event %v", p, first)
	}

	// The delivery log has every attempt: one per failure plus the success.
	log := env.Must(200, "GET", "/v1/webhooks/"+allID+"/deliveries?limit=1000", "", nil)["deliveries"].([]any)
	attempts := map[string][]map[string]any{}
	for i := len(log) - 1; i >= 0; i-- {
		d := log[i].(map[string]any)
		attempts[d["event"].(string)] = append(attempts[d["event"].(string)], d)
	}
	for _, id := range wantAll {
		as := attempts[id]
		var want []string
		switch all.kind(id) {
		case "500x2":
			want = []string{"500 HTTP 500", "500 HTTP 500", "200 "}
		case "429":
			want = []string{"429 HTTP 429", "200 "}
		case "hang":
			want = []string{"0 no answer within " + webhookTuning.Timeout.String(), "200 "}
		default:
			want = []string{"200 "}
		}
		var got []string
		for i, a := range as {
			got = append(got, fmt.Sprintf("%v %v", a["status_code"], a["error"]))
			if a["attempt"] != float64(i+1) || a["ok"] != (i == len(as)-1) {
				t.Errorf("event %s attempt %d logged as %v", id, i+1, a)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("event %s (%s): delivery log %v, want %v", id, all.kind(id), got, want)
		}
	}
	// 429 with Retry-After: 1 waited for it (capped at BackoffCap), far
	// longer than the first backoff step.
	all.mu.Lock()
	for id, k := range all.kinds {
		if ts := all.times[id]; k == "429" && len(ts) == 2 && ts[1].Sub(ts[0]) < webhookTuning.BackoffCap {
			t.Errorf("the retry of %s came %v after a 429 with Retry-After: 1", id, ts[1].Sub(ts[0]))
		}
	}
	all.mu.Unlock()

	hooks := env.Must(200, "GET", "/v1/webhooks", "", nil)["webhooks"].([]any)
	if len(hooks) != 3 {
		t.Fatalf("admin lists %d webhooks, want 3", len(hooks))
	}
	for _, h := range hooks {
		h := h.(map[string]any)
		if _, ok := h["secret"]; ok {
			t.Fatalf("list shows a secret: %v", h)
		}
		if h["failures"] != float64(0) || h["disabled"] != false || h["next_attempt_at"] != nil {
			t.Errorf("webhook after delivery: %v", h)
		}
	}
	// Both instances delivered (each event once, as checked above).
	for i, inst := range instances {
		n := strings.Count(inst.Logs.String(), `"msg":"webhooks: delivered"`)
		t.Logf("instance %d delivered %d events", i, n)
		if n == 0 {
			t.Errorf("instance %d delivered nothing: the dispatchers did not share the work", i)
		}
	}
	for _, id := range []string{savedID, acmeID} {
		if n := len(env.Must(200, "GET", "/v1/webhooks/"+id+"/deliveries?limit=1000", "", nil)["deliveries"].([]any)); n == 0 {
			t.Errorf("no deliveries logged for %s", id)
		}
	}
}

// TestWebhookAPI: roles, workspace scoping, validation and the
// secret shown once.
func TestWebhookAPI(t *testing.T) {
	env := servertest.Start(t, servertest.Options{Webhooks: webhookTuning})
	env.Must(201, "POST", "/v1/workspaces", "", map[string]any{"name": "acme"})
	editor := env.NewToken("editor", "default")
	viewer := env.NewToken("viewer", "default")
	worker := env.NewToken("worker", "default")
	acmeEditor := env.NewToken("editor", "acme")
	rc := newFlakyReceiver(t, "api", false)

	for _, tc := range []struct {
		token  string
		body   any
		status int
		detail string
	}{
		{viewer, map[string]any{"url": rc.URL}, 403, "needs editor"},
		{worker, map[string]any{"url": rc.URL}, 403, "needs editor"},
		{editor, map[string]any{}, 400, "url"},
		{editor, map[string]any{"url": rc.URL, "evnts": []string{}}, 400, "unknown field"},
		{editor, map[string]any{"url": rc.URL, "events": []string{"credential.saved", "nope.never"}}, 422, "nope.never"},
		{editor, map[string]any{"url": "ftp://" + rc.Listener.Addr().String()}, 422, "https"},
		{editor, map[string]any{"url": "http://169.254.169.254/latest/meta-data/"}, 422, "may not contact"},
		{editor, map[string]any{"url": "http://[fd00:ec2::254]/"}, 422, "may not contact"},
		{editor, map[string]any{"url": "https://u:p@hooks.example/"}, 422, "credentials"},
		{acmeEditor, map[string]any{"url": rc.URL, "workspace": "default"}, 404, "workspace"},
	} {
		r := env.Do("POST", "/v1/webhooks", tc.token, tc.body)
		if r.Status != tc.status || !strings.Contains(string(r.Body), tc.detail) || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") {
			t.Errorf("POST %v: %d %s, want %d mentioning %q", tc.body, r.Status, r.Body, tc.status, tc.detail)
		}
	}
	if n := len(env.Must(200, "GET", "/v1/webhooks", "", nil)["webhooks"].([]any)); n != 0 {
		t.Fatalf("%d webhooks after refused creations", n)
	}

	created := env.Must(201, "POST", "/v1/webhooks", editor, map[string]any{"url": rc.URL, "events": []string{"integration.created"}})
	id, secret := created["id"].(string), created["secret"].(string)
	if !strings.HasPrefix(id, "wh_") || created["url"] != rc.URL || fmt.Sprint(created["events"]) != "[integration.created]" {
		t.Fatalf("created %v", created)
	}
	acmeHook := env.Must(201, "POST", "/v1/webhooks", acmeEditor, map[string]any{"url": rc.URL})["id"].(string)

	// Viewers read; nobody reads the secret again.
	for _, path := range []string{"/v1/webhooks", "/v1/webhooks/" + id, "/v1/webhooks/" + id + "/deliveries"} {
		r := env.Do("GET", path, viewer, nil)
		if r.Status != 200 || strings.Contains(string(r.Body), secret) || strings.Contains(string(r.Body), secret[6:]) {
			t.Errorf("GET %s as viewer: %d %s", path, r.Status, r.Body)
		}
	}
	list := env.Must(200, "GET", "/v1/webhooks", viewer, nil)["webhooks"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["id"] != id {
		t.Errorf("viewer of default lists %v", list)
	}
	if n := len(env.Must(200, "GET", "/v1/webhooks?workspace=acme", "", nil)["webhooks"].([]any)); n != 1 {
		t.Errorf("admin lists %d webhooks in acme", n)
	}
	// Other workspaces' webhooks do not exist for this token.
	for _, req := range [][2]string{{"GET", "/v1/webhooks/" + acmeHook}, {"GET", "/v1/webhooks/" + acmeHook + "/deliveries"},
		{"DELETE", "/v1/webhooks/" + acmeHook}, {"POST", "/v1/webhooks/" + acmeHook + "/enable"}} {
		if r := env.Do(req[0], req[1], editor, nil); r.Status != 404 {
			t.Errorf("%s %s from another workspace: %d %s", req[0], req[1], r.Status, r.Body)
		}
	}
	if r := env.Do("GET", "/v1/webhooks?workspace=acme", editor, nil); r.Status != 404 {
		t.Errorf("listing another workspace's webhooks: %d", r.Status)
	}
	if r := env.Do("DELETE", "/v1/webhooks/"+id, viewer, nil); r.Status != 403 {
		t.Errorf("viewer deletes: %d", r.Status)
	}
	if r := env.Do("GET", "/v1/webhooks/"+id+"/deliveries?limit=0", viewer, nil); r.Status != 400 {
		t.Errorf("limit=0: %d", r.Status)
	}
	if en := env.Must(200, "POST", "/v1/webhooks/"+id+"/enable", editor, nil); en["disabled"] != false || en["id"] != id {
		t.Errorf("enable = %v", en)
	}

	// It works: an integration created now is delivered, signed.
	rc.secret.Store(secret)
	env.CustomIntegration("After the webhook", servertest.NewUpstream(t))
	deadline := time.Now().Add(20 * time.Second)
	for len(rc.accepted()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(10 * webhookTuning.Poll)
	rc.mu.Lock()
	if len(rc.order) != 1 || len(rc.badSigs) != 0 {
		t.Fatalf("accepted %v, bad signatures %v", rc.order, rc.badSigs)
	}
	rc.mu.Unlock()
	ds := env.Must(200, "GET", "/v1/webhooks/"+id+"/deliveries", viewer, nil)["deliveries"].([]any)
	if len(ds) != 1 || ds[0].(map[string]any)["ok"] != true || ds[0].(map[string]any)["event_type"] != "integration.created" {
		t.Fatalf("deliveries %v", ds)
	}

	env.Must(204, "DELETE", "/v1/webhooks/"+id, editor, nil)
	if r := env.Do("GET", "/v1/webhooks/"+id, editor, nil); r.Status != 404 {
		t.Errorf("after delete: %d", r.Status)
	}
	if r := env.Do("DELETE", "/v1/webhooks/"+id, editor, nil); r.Status != 404 {
		t.Errorf("delete twice: %d", r.Status)
	}
	// Audit: who created and deleted it, with the host only.
	audit := string(env.Do("GET", "/v1/audit?workspace=default&limit=1000", "", nil).Body)
	for _, want := range []string{`"action":"webhook.create"`, `"action":"webhook.delete"`, `"action":"webhook.enable"`} {
		if !strings.Contains(audit, want) {
			t.Errorf("audit lacks %s", want)
		}
	}
	if strings.Contains(audit, secret) {
		t.Error("the audit log holds the webhook secret")
	}
}

// TestWebhookEgressGuard: with private upstreams not allowed, a webhook
// URL on loopback or a private network is refused at creation, and one
// that reaches such an address at delivery is refused by the egress guard
// and logged as a failed delivery.
func TestWebhookEgressGuard(t *testing.T) {
	deny := servertest.Start(t, servertest.Options{DenyPrivateUpstreams: true, Webhooks: webhookTuning})
	rc := newFlakyReceiver(t, "guarded", false)
	for _, u := range []string{rc.URL, "http://localhost:9/x", "http://10.0.0.8/x", "http://[::1]/x", "http://0.0.0.0/", "http://169.254.169.254/"} {
		if r := deny.Do("POST", "/v1/webhooks", "", map[string]any{"url": u}); r.Status != 422 {
			t.Errorf("POST %s: %d %s", u, r.Status, r.Body)
		}
	}

	// Created where private upstreams were allowed, delivered by an
	// instance where they are not (as if a name resolved differently).
	dir := t.TempDir()
	allow := servertest.Start(t, servertest.Options{DataDir: dir, NoBackground: true})
	id := allow.Must(201, "POST", "/v1/webhooks", "", map[string]any{"url": rc.URL})["id"].(string)
	servertest.Start(t, servertest.Options{DataDir: dir, DenyPrivateUpstreams: true, Webhooks: webhookTuning})
	allow.CustomIntegration("Guarded", servertest.NewUpstream(t))
	var ds []any
	deadline := time.Now().Add(20 * time.Second)
	for len(ds) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		ds = allow.Must(200, "GET", "/v1/webhooks/"+id+"/deliveries", "", nil)["deliveries"].([]any)
	}
	if len(ds) == 0 {
		t.Fatal("no delivery attempt logged")
	}
	d := ds[0].(map[string]any)
	if d["ok"] != false || d["status_code"] != float64(0) || !strings.Contains(d["error"].(string), "egress guard") {
		t.Fatalf("delivery %v", d)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.tries) != 0 {
		t.Fatalf("the receiver was reached: %v", rc.tries)
	}
}
