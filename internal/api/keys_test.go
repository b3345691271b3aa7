package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/keys"
	"github.com/stormcreds/storm/internal/server/servertest"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/vault"
)

// GET /v1/keys and POST /v1/keys/rotate: admin only; a rotation answers
// 202 with the job running, the job moves every secret to the new term,
// and /access keeps working throughout.
func TestKeysEndpoints(t *testing.T) {
	env := servertest.Start(t, servertest.Options{Keys: keys.Config{Interval: 20 * time.Millisecond, Settle: 100 * time.Millisecond}})
	up := servertest.NewUpstream(t, "key-aaaaaaaaaaaaaaaaaaaa")
	id := env.CustomIntegration("acme", up)
	env.Must(http.StatusOK, "PUT", "/v1/integrations/"+id+"/credentials", "", map[string]any{"api_key": "key-aaaaaaaaaaaaaaaaaaaa"})

	for _, role := range []string{store.RoleEditor, store.RoleViewer} {
		tok := env.NewToken(role, "default")
		for _, op := range [][2]string{{"GET", "/v1/keys"}, {"POST", "/v1/keys/rotate"}} {
			if r := env.Do(op[0], op[1], tok, nil); r.Status != http.StatusForbidden {
				t.Errorf("%s %s as %s: %d", op[0], op[1], role, r.Status)
			}
		}
	}

	st := env.Must(http.StatusOK, "GET", "/v1/keys", "", nil)
	if st["active_term"] != 1.0 || st["rewrap"].(map[string]any)["state"] != "idle" {
		t.Fatalf("before rotation: %v", st)
	}
	terms := st["terms"].([]any)
	if len(terms) != 1 || terms[0].(map[string]any)["encryptions"].(float64) < 1 || terms[0].(map[string]any)["active"] != true {
		t.Fatalf("terms: %v", terms)
	}

	st = env.Must(http.StatusAccepted, "POST", "/v1/keys/rotate", "", nil)
	rw := st["rewrap"].(map[string]any)
	if st["active_term"] != 2.0 || rw["state"] != "running" || rw["target_term"] != 2.0 || rw["total"].(float64) < 2 {
		t.Fatalf("after rotation: %v", st)
	}
	deadline := time.Now().Add(30 * time.Second)
	for rw["state"] != "done" {
		if time.Now().After(deadline) {
			t.Fatalf("job not done: %v", rw)
		}
		env.Must(http.StatusOK, "GET", "/v1/integrations/"+id+"/access", "", nil)
		time.Sleep(20 * time.Millisecond)
		rw = env.Must(http.StatusOK, "GET", "/v1/keys", "", nil)["rewrap"].(map[string]any)
	}
	if rw["failed"] != 0.0 || rw["done"] != rw["total"] || rw["finished_at"] == nil {
		t.Fatalf("job: %v", rw)
	}
	creds, err := env.Server.Store.ListCredentials(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range creds {
		if term, _ := vault.Term(c.Secret); len(c.Secret) > 0 && term != 2 {
			t.Errorf("credential %s on term %d after the job", c.ID, term)
		}
	}
	if a := env.Must(http.StatusOK, "GET", "/v1/integrations/"+id+"/access", "", nil); a["api_key"] != "key-aaaaaaaaaaaaaaaaaaaa" {
		t.Fatalf("access after rotation: %v", a)
	}
	audit := env.Must(http.StatusOK, "GET", "/v1/audit", "", nil)["audit"].([]any)
	found := false
	for _, a := range audit {
		if a.(map[string]any)["action"] == "keys.rotate" {
			found = true
		}
	}
	if !found {
		t.Error("no keys.rotate audit record")
	}
}
