package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/server/servertest"
)

// TestAuditRecordsMutationsAndSecretReads: every mutation and every secret
// read (aggregated per minute) is in the audit log with actor, action,
// target, time and IP, and never a secret.
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
	env.Server.FlushUsage(context.Background())

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
	if a := byAction["credential.access"]; len(a) != 1 || a[0].Detail["count"] != float64(5) || a[0].Target != id || !strings.HasPrefix(a[0].Actor, "tok_") {
		t.Errorf("access aggregate = %+v, want one record counting 5 reads by the worker token", a)
	}
	if p := byAction["credential.proxy"]; len(p) != 1 || p[0].Detail["count"] != float64(3) {
		t.Errorf("proxy aggregate = %+v", p)
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
