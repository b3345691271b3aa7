package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/server/servertest"
)

// TestExpiringCertificateWarnsOnce: a client certificate within 14 days
// of its notAfter is flagged on its version and announced with one
// credential.expiring event, however many scans (and instances) see it.
func TestExpiringCertificateWarnsOnce(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	clientCA := newSACA(t, "Storm test client CA")
	peer := newMTLSPeer(t, clientCA)
	now := time.Now()
	leaf := clientCA.issue(t, "svc-expiring", now.Add(-time.Hour), now.Add(5*24*time.Hour), false)
	in := env.Must(201, "POST", "/v1/integrations", "", map[string]any{
		"name": "Expiring", "provider": "custom", "auth_method": "service_account",
		"config": map[string]any{"base_url": peer.URL, "verify": map[string]any{"method": "GET", "path": "/whoami"},
			"ca_pem": peer.CAPEM, "service_account": map[string]any{"kind": "mtls"}}})
	id := in["id"].(string)
	c := env.Must(200, "PUT", "/v1/integrations/"+id+"/credentials", "", map[string]any{"cert_pem": leaf.CertPEM, "key_pem": leaf.KeyPEM})
	w, _ := c["warnings"].([]any)
	if len(w) != 1 || !strings.Contains(w[0].(string), "expires in 5 days") {
		t.Fatalf("warnings = %v", c["warnings"])
	}
	other := servertest.Start(t, servertest.Options{NoBackground: true, DataDir: env.DataDir})
	for range 3 {
		env.Server.Creds.ScanNotices(context.Background())
		other.Server.Creds.ScanNotices(context.Background())
	}
	if n := strings.Count(eventTypes(t, env, id), "credential.expiring"); n != 1 {
		t.Fatalf("%d credential.expiring events, want exactly 1", n)
	}
}
