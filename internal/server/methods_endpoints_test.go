package server_test

import (
	"slices"
	"testing"

	"github.com/stormcreds/storm/internal/methods/exchange/exchangetest"
	"github.com/stormcreds/storm/internal/methods/oauth1/oauth1test"
	"github.com/stormcreds/storm/internal/server/servertest"
)

// TestNewMethodsSecretsStayWithTheirEndpoints: moving an OAuth 1.0a
// integration's token endpoints keeps no secret for the new ones (the
// masked consumer secret is refused naming it; with a new secret the
// tokens issued by the old endpoints are revoked and the integration
// needs authorizing again), and moving an exchange's path revokes the
// key that was exchanged there.
func TestNewMethodsSecretsStayWithTheirEndpoints(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	peer := oauth1test.New(t, oauth1test.Options{})
	peer.AddConsumer(oauth1test.Consumer{Key: o1ConsumerKey, Secret: o1ConsumerSecret})
	id := oauth1Integration(t, env, peer, "Moving OAuth1", "HMAC-SHA1", true)
	tok, sec := peer.IssueToken(o1ConsumerKey)
	env.Must(200, "PUT", "/v1/integrations/"+id+"/credentials", "", map[string]any{"token": tok, "token_secret": sec})

	moved := map[string]any{"base_url": peer.URL + "/api", "oauth1": map[string]any{"signature_method": "HMAC-SHA1", "consumer_key": o1ConsumerKey,
		"consumer_secret": "********", "request_token_url": "https://elsewhere.example/rt", "authorize_url": "https://elsewhere.example/a",
		"access_token_url": "https://elsewhere.example/at"}}
	r := env.Do("PATCH", "/v1/integrations/"+id, "", map[string]any{"config": moved})
	if r.Status != 422 || !slices.Contains(problemFields(t, r), "config.oauth1.consumer_secret") {
		t.Fatalf("masked secret for moved endpoints: %d %s", r.Status, r.Body)
	}
	if s := stateCounts(t, env, id); s["active"] != 1 {
		t.Fatalf("a refused PATCH changed the credentials: %v", s)
	}
	moved["oauth1"].(map[string]any)["consumer_secret"] = "a-new-consumer-secret-000"
	in := env.Must(200, "PATCH", "/v1/integrations/"+id, "", map[string]any{"config": moved})
	if in["status"] != "reconnect_required" || stateCounts(t, env, id)["revoked"] != 1 {
		t.Fatalf("after moving: %v, %v", in["status"], stateCounts(t, env, id))
	}
	if r := env.Do("GET", "/v1/integrations/"+id+"/access", "", nil); r.Status != 409 {
		t.Fatalf("tokens of the old endpoints are still handed out: %d %s", r.Status, r.Body)
	}

	xp := exchangetest.New(t, exchangetest.Options{SessionTTL: sessionTTL})
	xp.AddKey("moving-exchange-key-000000")
	cfg := exchangeConfig(xp, "/token")
	xid := env.Must(201, "POST", "/v1/integrations", "", map[string]any{"name": "Moving exchange", "provider": "custom", "auth_method": "api_key", "config": cfg})["id"].(string)
	env.Must(200, "PUT", "/v1/integrations/"+xid+"/credentials", "", map[string]any{"api_key": "moving-exchange-key-000000"})
	cfg["exchange"].(map[string]any)["path"] = "/auth/form"
	cfg["exchange"].(map[string]any)["form"], cfg["exchange"].(map[string]any)["body"] = map[string]any{"key": "{{api_key}}"}, nil
	in = env.Must(200, "PATCH", "/v1/integrations/"+xid, "", map[string]any{"config": cfg})
	if in["status"] != "pending" || stateCounts(t, env, xid)["revoked"] != 1 {
		t.Fatalf("after moving the exchange: %v, %v", in["status"], stateCounts(t, env, xid))
	}
}
