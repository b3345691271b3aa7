package server_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/server/servertest"
)

// TestAuditRecordsMutationsAndSecretReads: every mutation and every secret
// read is in the audit log with actor, action, target, time and IP, and
// never a secret; a read is there as soon as it is answered (no flush),
// the counts of the read records summing to the reads answered.
func TestAuditRecordsMutationsAndSecretReads(t *testing.T) {
	env := servertest.Start(t, servertest.Options{})
	up := servertest.NewUpstream(t, "audit-key-aaaaaaaaaaaa")
	id := env.CustomIntegration("Audited", up)
	base := "/v1/integrations/" + id
	env.Must(200, "PUT", base+"/credentials", "", map[string]any{"api_key": "audit-key-aaaaaaaaaaaa"})
	worker := env.NewToken("worker", "default")
	for range 5 {
		env.Must(200, "GET", base+"/access", worker, nil)
	}
	for range 3 {
		env.Must(200, "GET", base+"/proxy/echo/x", worker, nil)
	}
	env.Must(200, "PATCH", base, "", map[string]any{"name": "Audited (renamed)"})

	raw := env.Do("GET", "/v1/audit?limit=1000", "", nil)
	if strings.Contains(string(raw.Body), "audit-key-aaaa") {
		t.Fatal("audit holds the key")
	}
	type rec struct {
		Actor, Action, Target, At, IP string
		Detail                        map[string]any
	}
	var body struct{ Audit []rec }
	if err := json.Unmarshal(raw.Body, &body); err != nil {
		t.Fatal(err)
	}
	byAction := map[string][]rec{}
	for _, r := range body.Audit {
		if r.Actor == "" || r.At == "" || r.IP != "127.0.0.1" {
			t.Errorf("incomplete audit record %+v", r)
		}
		byAction[r.Action] = append(byAction[r.Action], r)
	}
	for _, action := range []string{"integration.create", "credential.save", "token.create", "integration.update", "credential.access", "credential.proxy"} {
		if len(byAction[action]) == 0 {
			t.Errorf("no %s record; have %v", action, keys(byAction))
		}
	}
	sum := func(rs []rec) (n float64) {
		for _, r := range rs {
			c, _ := r.Detail["count"].(float64)
			n += c
			if r.Target != id || !strings.HasPrefix(r.Actor, "tok_") {
				t.Errorf("read record %+v: want the integration as target and the worker token as actor", r)
			}
		}
		return n
	}
	if n := sum(byAction["credential.access"]); n != 5 {
		t.Errorf("access records count %v reads, want 5: %+v", n, byAction["credential.access"])
	}
	if n := sum(byAction["credential.proxy"]); n != 3 {
		t.Errorf("proxy records count %v reads, want 3: %+v", n, byAction["credential.proxy"])
	}
	// last_used_at follows use.
	if in := env.Must(200, "GET", base, "", nil); in["last_used_at"] == nil {
		t.Error("last_used_at not set after use")
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
