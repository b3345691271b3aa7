package server_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/methods/exchange/exchangetest"
	"github.com/stormcreds/storm/internal/methods/serviceaccount/githubapptest"
	"github.com/stormcreds/storm/internal/server/servertest"
	"github.com/stormcreds/storm/internal/store/postgres"
)

const sessionTTL = 2 * time.Second

// exchangeConfig is a custom API-key integration's config whose key is
// swapped for session tokens at peer.
func exchangeConfig(peer *exchangetest.Server, tokenPointer string) map[string]any {
	return map[string]any{"base_url": peer.URL, "verify": map[string]any{"method": "GET", "path": "/api/me"},
		"exchange": map[string]any{"method": "POST", "path": "/auth/session", "body": map[string]any{"key": "{{api_key}}"},
			"token_pointer": tokenPointer, "expires_in_pointer": "/expires_in",
			"apply": map[string]any{"in": "header", "name": "Authorization", "prefix": "Bearer "}}}
}

// TestTokenExchangeUnderExpiry: an exchange block end to end on both
// stores, against an API whose session tokens expire every 2 s. A bad
// block is refused naming the field; a refused key is a 422 (nothing
// stored, the echoed key scrubbed); Save exchanges once; /access hands
// out the session token, never the key; continuous proxy traffic over
// several lifetimes has 0 failed requests and renews before expiry (not
// per request); when the provider ends every session, the 401 is
// answered by one re-exchange through the proxy's retry; a Basic
// credential with a form exchange and a query-parameter token works too.
func TestTokenExchangeUnderExpiry(t *testing.T) { backends(t, testTokenExchange) }

func testTokenExchange(t *testing.T, opts servertest.Options) {
	const key = "exch-key-0123456789abcdef"
	peer := exchangetest.New(t, exchangetest.Options{SessionTTL: sessionTTL, EchoCredential: true})
	peer.AddKey(key)
	opts.Tokens.Interval = 100 * time.Millisecond
	env := servertest.Start(t, opts)

	for _, tc := range []struct {
		edit  func(ex map[string]any)
		field string
	}{
		{func(ex map[string]any) { ex["token_pointer"] = "token" }, "config.exchange.token_pointer"},
		{func(ex map[string]any) { ex["body"] = map[string]any{"key": "{{password}}"} }, "config.exchange.body.key"},
		{func(ex map[string]any) { ex["apply"] = map[string]any{"in": "cookie", "name": "s"} }, "config.exchange.apply.in"},
		{func(ex map[string]any) { ex["path"] = "/../auth" }, "config.exchange.path"},
		{func(ex map[string]any) { ex["pointer"] = "/token" }, "config.exchange.pointer"},
	} {
		cfg := exchangeConfig(peer, "/token")
		tc.edit(cfg["exchange"].(map[string]any))
		r := env.Do("POST", "/v1/integrations", "", map[string]any{"name": "bad", "provider": "custom", "auth_method": "api_key", "config": cfg})
		if r.Status != 400 || !slices.Contains(problemFields(t, r), tc.field) {
			t.Fatalf("%v: %d %s, want 400 naming %s", cfg["exchange"], r.Status, r.Body, tc.field)
		}
	}

	in := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "Session API", "provider": "custom", "auth_method": "api_key",
		"config": exchangeConfig(peer, "/data/session/id")})
	id := in["id"].(string)
	base := "/v1/integrations/" + id
	wrong := "wrong-key-aaaaaaaaaaaaaaaa"
	r := env.Do("PUT", base+"/credentials", "", map[string]any{"api_key": wrong})
	if r.Status != 422 || r.JSON(t)["reason"] != "rejected" || strings.Contains(string(r.Body), wrong) {
		t.Fatalf("refused key: %d %s", r.Status, r.Body)
	}
	if n := len(env.Must(200, "GET", base+"/credentials", "", nil)["credentials"].([]any)); n != 0 {
		t.Fatalf("%d credentials after a refused save", n)
	}
	c := env.Must(200, "PUT", base+"/credentials", "", map[string]any{"api_key": key})
	if c["state"] != "active" || c["verified_at"] == nil || peer.Exchanges() != 1 {
		t.Fatalf("saved %v after %d exchanges", c, peer.Exchanges())
	}
	worker := env.NewToken("worker", "default")
	a := env.Must(200, "GET", base+"/access", worker, nil)
	if tok := checkBearer(t, a); !strings.HasPrefix(tok, "sess_") || a["header"] != "Authorization" || a["prefix"] != "Bearer " {
		t.Fatalf("access %v", a)
	}

	const span = 5 * time.Second
	before := peer.Exchanges()
	tr := startTraffic(t, []*servertest.Env{env}, base+"/proxy/api/items", worker, 4)
	tr.during(span)
	// The provider restarts and forgets every session: the next 401s are
	// answered by a re-exchange (one, however many requests met them).
	// On a loaded machine the background renewal may come first and no
	// request meets a 401; the provider then restarts again.
	var afterEnd, rejected int64
	for attempt := 0; attempt < 5 && rejected == 0; attempt++ {
		atEnd, rejectedBefore := peer.Exchanges(), peer.Rejected()
		peer.EndAllSessions()
		tr.progress(200)
		afterEnd, rejected = peer.Exchanges()-atEnd, peer.Rejected()-rejectedBefore
	}
	total := tr.finish(t, "session tokens expiring every 2 s")
	n := peer.Exchanges() - before
	t.Logf("%d proxied requests over %v of %v session tokens: %d exchanges (%.1f per session lifetime, %.0f per hour of such traffic), 0 failed; %d upstream 401s after the provider ended every session, answered by %d re-exchange(s)",
		total, span, sessionTTL, n, float64(n)*float64(sessionTTL)/float64(span), float64(n)*float64(time.Hour)/float64(span), rejected, afterEnd)
	if lifetimes := int64(span / sessionTTL); n < lifetimes || n > 4*lifetimes+4 || total < 20*n {
		t.Fatalf("%d exchanges for %d requests: want renewals before expiry, not an exchange per request", n, total)
	}
	if rejected == 0 || afterEnd < 1 || afterEnd > 3 {
		t.Fatalf("after the provider ended the sessions: %d rejected, %d exchanges; want the 401 retry to re-exchange once", rejected, afterEnd)
	}
	if in := env.Must(200, "GET", base, "", nil); in["status"] != "connected" {
		t.Fatalf("status %v", in["status"])
	}
	if cs := env.Must(200, "GET", base+"/credentials", "", nil)["credentials"].([]any); len(cs) != 1 || cs[0].(map[string]any)["warnings"] != nil {
		t.Fatalf("credentials %v (a session token Storm renews is no expiry warning)", cs)
	}

	// Basic credentials, a form exchange, the token in the query.
	const user, pass = "sync-bot", "bot-password-0123456789"
	peer.AddUser(user, pass)
	in = env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "Session API (basic)", "provider": "custom", "auth_method": "basic",
		"config": map[string]any{"base_url": peer.URL, "exchange": map[string]any{"method": "POST", "path": "/auth/form",
			"form": map[string]any{"username": "{{username}}", "password": "{{password}}"}, "token_pointer": "/token", "expires_at_pointer": "/expires_at_ms",
			"apply": map[string]any{"in": "query", "name": "session_token"}}}})
	bbase := "/v1/integrations/" + in["id"].(string)
	env.Must(200, "PUT", bbase+"/credentials", "", map[string]any{"username": user, "password": pass})
	if body := env.Must(200, "GET", bbase+"/proxy/api/items?x=1", worker, nil); body["items"] == nil {
		t.Fatalf("proxied %v", body)
	}
	if a := env.Must(200, "GET", bbase+"/access", worker, nil); a["type"] != "bearer" || a["in"] != "query" || a["name"] != "session_token" {
		t.Fatalf("basic exchange access %v", a)
	}
	// The key and password only ever went to the exchange endpoint:
	// not even /access reveals them.
	for _, x := range env.Transcript() {
		for _, s := range []string{key, pass, wrong} {
			if strings.Contains(string(x.Body), s) {
				t.Fatalf("%s %s revealed a credential behind an exchange", x.Method, x.Path)
			}
		}
	}
	noSecretsOutsideAccess(t, env, key, pass, wrong)
}

// TestTwoInstancesExchangeAndMintOnce: two Storm instances on one
// PostgreSQL database, each with its background engine, share session
// tokens and installation tokens: continuous traffic through both costs
// no more exchanges than one instance would, and a stale token asked for
// by 20 callers across both instances is exchanged (minted) exactly once,
// counted at the peer.
func TestTwoInstancesExchangeAndMintOnce(t *testing.T) {
	opts := servertest.Options{Database: postgres.TestURL(t)}
	opts.Tokens.Interval = 100 * time.Millisecond
	a := servertest.Start(t, opts)
	second := opts
	second.DataDir = a.DataDir
	b := servertest.Start(t, second)
	envs := []*servertest.Env{a, b}

	const key = "exch-key-two-instances-000"
	peer := exchangetest.New(t, exchangetest.Options{SessionTTL: sessionTTL})
	peer.AddKey(key)
	id := a.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "Shared sessions", "provider": "custom", "auth_method": "api_key",
		"config": exchangeConfig(peer, "/token")})["id"].(string)
	a.Must(200, "PUT", "/v1/integrations/"+id+"/credentials", "", map[string]any{"api_key": key})
	worker := a.NewToken("worker", "default")

	const span = 5 * time.Second
	before := peer.Exchanges()
	tr := startTraffic(t, envs, "/v1/integrations/"+id+"/proxy/api/items", worker, 6)
	tr.during(span)
	total := tr.finish(t, "two instances, session tokens expiring every 2 s")
	n := peer.Exchanges() - before
	t.Logf("two instances: %d proxied requests over %v, %d exchanges (%.1f per session lifetime), 0 failed", total, span, n, float64(n)*float64(sessionTTL)/float64(span))
	if lifetimes := int64(span / sessionTTL); n < lifetimes || n > 4*lifetimes+4 {
		t.Fatalf("%d exchanges across two instances over %d lifetimes: more than one instance would need", n, lifetimes)
	}

	// Stale tokens asked for by 20 callers over two instances (without
	// background loops, so nothing renews them first): one exchange, and
	// for a GitHub App one mint, counted at the peers.
	opts = servertest.Options{Database: postgres.TestURL(t), NoBackground: true}
	c := servertest.Start(t, opts)
	opts.DataDir = c.DataDir
	d := servertest.Start(t, opts)
	envs = []*servertest.Env{c, d}
	worker = c.NewToken("worker", "default")
	// A peer of its own: the first pair's loops still renew theirs.
	peer = exchangetest.New(t, exchangetest.Options{SessionTTL: sessionTTL})
	peer.AddKey(key)
	sid := c.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "Stale sessions", "provider": "custom", "auth_method": "api_key",
		"config": exchangeConfig(peer, "/token")})["id"].(string)
	c.Must(200, "PUT", "/v1/integrations/"+sid+"/credentials", "", map[string]any{"api_key": key})
	gh := githubapptest.New(t, githubapptest.Options{TokenTTL: 3 * time.Second})
	gh.AddApp("777", &saRSAKeys()[2].PublicKey)
	gh.AddInstallation("777", "88")
	gid := c.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "App", "provider": "custom", "auth_method": "service_account",
		"config": map[string]any{"base_url": gh.BaseURL(), "service_account": map[string]any{"kind": "github_app", "app_id": "777", "installation_id": "88"}}})["id"].(string)
	c.Must(200, "PUT", "/v1/integrations/"+gid+"/credentials", "", map[string]any{"key_pem": pkcs1PEM(saRSAKeys()[2])})
	// Both tokens have less than half their life left after 1.6 s.
	time.Sleep(1600 * time.Millisecond)
	for _, x := range []struct {
		name  string
		id    string
		count func() int64
	}{{"exchange", sid, peer.Exchanges}, {"mint", gid, gh.Mints}} {
		before := x.count()
		tokens := accessConcurrently(t, envs, x.id, worker, 20)
		if got := x.count() - before; got != 1 || len(tokens) != 1 {
			t.Fatalf("%s: 20 concurrent callers of a stale token on two instances caused %d calls and got %d tokens, want 1 and 1", x.name, got, len(tokens))
		}
		t.Logf("%s: 20 concurrent /access of a stale token over two instances: 1 call at the peer", x.name)
	}
}
