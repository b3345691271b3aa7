package server_test

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/server/servertest"
)

// These tests drive the five service-account kinds end to end through
// Storm's HTTP API, on SQLite and PostgreSQL, against peers that check the
// credential for real: an OAuth 2.0 authorization server (fosite) for
// client_credentials and jwt_bearer, a Google-style token endpoint that
// verifies RS256 assertions, an AWS-like service that re-verifies SigV4
// signatures, and an HTTPS service that requires a client certificate.

// saCase is one kind's scenario.
type saCase struct {
	kind   string
	config map[string]any // the custom integration's config

	// first and second are two keys the peer accepts (the second is the
	// rotation); they are uploaded in different ways.
	first, second saUpload
	// checkAccess checks GET /access after upload n (1 or 2) and returns
	// the secret it revealed (a token, key or certificate key).
	checkAccess func(t *testing.T, a map[string]any, n int) string
	// proxyMethod/proxyPath/proxyBody is a request through the proxy;
	// checkProxy checks the peer's answer after upload n.
	proxyMethod, proxyPath string
	proxyBody              any
	checkProxy             func(t *testing.T, body map[string]any, n int)
	// rejected is a well-formed key the peer refuses: Save answers 422
	// (verification failed).
	rejected saUpload
	// malformed are uploads Storm refuses before asking anyone.
	malformed []saBadUpload
	// retireFirst revokes the first key at the peer (after Storm revoked
	// it); nil where the peer cannot.
	retireFirst func()
	// secrets must appear in no answer but /access and in no log line.
	secrets []string
}

type saBadUpload struct {
	name   string
	upload saUpload
	status int
	field  string // a field error the answer must name
}

// ---- the kinds ----

func clientCredentialsCase(t *testing.T) saCase {
	const secret1, secret2, wrong = "cc-canary-secret-one-8c1f0b7e2d", "cc-canary-secret-two-51aa9e3c0f", "cc-canary-wrong-secret-77d2e1b9"
	as := oauthtest.New(t, oauthtest.Options{})
	as.AddClient(oauthtest.Client{ID: "svc-cc-one", Secret: secret1})
	as.AddClient(oauthtest.Client{ID: "svc-cc-two", Secret: secret2})
	sub := map[int]string{1: "svc-cc-one", 2: "svc-cc-two"}
	file2, _ := json.Marshal(map[string]string{"client_id": "svc-cc-two", "client_secret": secret2})
	return saCase{
		kind: "client_credentials",
		config: map[string]any{
			"base_url": as.URL,
			"verify":   map[string]any{"method": "GET", "path": "/userinfo"},
			"service_account": map[string]any{"kind": "client_credentials", "token_url": as.TokenURL(),
				"scopes": []string{"read", "write"}},
		},
		first:  saUpload{JSON: map[string]any{"client_id": "svc-cc-one", "client_secret": secret1}},
		second: saUpload{File: file2, Filename: "client.json"},
		checkAccess: func(t *testing.T, a map[string]any, n int) string {
			tok := checkBearer(t, a)
			if !as.Valid(tok) {
				t.Fatalf("access token %d is not valid at the authorization server", n)
			}
			if got := userinfoSub(t, as.UserinfoURL(), tok); got != sub[n] {
				t.Fatalf("token %d was minted for %q, want %q", n, got, sub[n])
			}
			return tok
		},
		proxyMethod: "GET", proxyPath: "userinfo",
		checkProxy: func(t *testing.T, body map[string]any, n int) {
			if body["sub"] != sub[n] {
				t.Fatalf("proxied /userinfo after upload %d = %v, want sub %s", n, body, sub[n])
			}
		},
		rejected: saUpload{JSON: map[string]any{"client_id": "svc-cc-one", "client_secret": wrong}},
		malformed: []saBadUpload{
			{"no secret", saUpload{JSON: map[string]any{"client_id": "svc-cc-one"}}, 400, "client_secret"},
			{"unknown field", saUpload{JSON: map[string]any{"client_id": "svc-cc-one", "client_secret": wrong, "password": "x"}}, 400, "password"},
			{"file not JSON", saUpload{File: []byte("client_id=svc-cc-one\nclient_secret=" + wrong + "\n"), Filename: "client.txt"}, 400, "file"},
		},
		secrets: []string{secret1, secret2, wrong},
	}
}

func jwtBearerCase(t *testing.T) saCase {
	const issuer, subject, clientSecret = "https://idp.storm-test.example", "svc-reporting", "jwt-canary-client-secret-3f9a0c6d1e"
	key1, key2, unregistered := saRSAKeys()[0], saECKey(t), saECKey(t)
	pem1, pem2, pem3, weak := saPEM(t, key1), saPEM(t, key2), saPEM(t, unregistered), saPEM(t, saWeakRSAKey())
	as := oauthtest.New(t, oauthtest.Options{})
	as.AddClient(oauthtest.Client{ID: "storm-jwt-client", Secret: clientSecret})
	as.AddJWTBearerKey(issuer, subject, "kid-1", key1.Public())
	as.AddJWTBearerKey(issuer, subject, "kid-2", key2.Public())
	return saCase{
		kind: "jwt_bearer",
		config: map[string]any{
			"base_url": as.URL,
			"verify":   map[string]any{"method": "GET", "path": "/userinfo"},
			"service_account": map[string]any{"kind": "jwt_bearer", "token_url": as.TokenURL(), "scopes": []string{"read"},
				"issuer": issuer, "subject": subject, "client_id": "storm-jwt-client", "client_secret": clientSecret},
		},
		first:  saUpload{JSON: map[string]any{"key_pem": pem1, "key_id": "kid-1"}},
		second: saUpload{File: []byte(pem2), Filename: "svc-reporting.pem", Form: map[string]string{"key_id": "kid-2"}},
		checkAccess: func(t *testing.T, a map[string]any, n int) string {
			tok := checkBearer(t, a)
			if !as.Valid(tok) {
				t.Fatalf("access token %d is not valid at the authorization server", n)
			}
			if got := userinfoSub(t, as.UserinfoURL(), tok); got != subject {
				t.Fatalf("token %d is for %q, want %q", n, got, subject)
			}
			return tok
		},
		proxyMethod: "GET", proxyPath: "userinfo",
		checkProxy: func(t *testing.T, body map[string]any, n int) {
			if body["sub"] != subject {
				t.Fatalf("proxied /userinfo after upload %d = %v", n, body)
			}
		},
		rejected: saUpload{JSON: map[string]any{"key_pem": pem3, "key_id": "kid-3"}},
		malformed: []saBadUpload{
			{"RSA 1024", saUpload{JSON: map[string]any{"key_pem": weak, "key_id": "kid-1"}}, 422, "key_pem"},
			{"not PEM", saUpload{JSON: map[string]any{"key_pem": "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "key_id": "kid-1"}}, 400, "key_pem"},
			{"certificate file", saUpload{File: []byte(newSACA(t, "not a key").PEM), Filename: "cert.pem"}, 400, "file"},
		},
		secrets: []string{saPEMCanary(t, pem1), saPEMCanary(t, pem2), saPEMCanary(t, pem3), saPEMCanary(t, weak), clientSecret},
	}
}

func googleCase(t *testing.T) saCase {
	const email = "storm-sync@storm-test.iam.gserviceaccount.com"
	const kid1, kid2, kid3 = "1f0c7a9e3b5d2c4a6e8f0b1d3c5e7a9b2d4f6a8c", "2a4c6e8f0b1d3f5a7c9e1b3d5f7a9c0e2b4d6f8a", "3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d"
	scopes := []string{"https://www.googleapis.com/auth/cloud-platform.read-only", "https://www.googleapis.com/auth/drive.readonly"}
	key1, key2, unregistered := saRSAKeys()[0], saRSAKeys()[1], saRSAKeys()[2]
	g := newGooglePeer(t, email, scopes)
	g.AddKey(kid1, &key1.PublicKey)
	g.AddKey(kid2, &key2.PublicKey)
	file1 := googleKeyFile(t, key1, kid1, email, g.TokenURL())
	file2 := googleKeyFile(t, key2, kid2, email, g.TokenURL())
	file3 := googleKeyFile(t, unregistered, kid3, email, g.TokenURL())
	weakFile := googleKeyFile(t, saWeakRSAKey(), kid1, email, g.TokenURL())
	userCred := []byte(`{"type":"authorized_user","client_id":"764086051850-6qr4p6gpi6hn506pt8ejuq83di341hur.apps.googleusercontent.com",` +
		`"client_secret":"google-canary-user-secret-b0d5","refresh_token":"1//google-canary-refresh-token-a7c3"}`)
	kids := map[int]string{1: kid1, 2: kid2}
	var doc map[string]any
	json.Unmarshal(file2, &doc)
	return saCase{
		kind: "google",
		config: map[string]any{
			"base_url":        g.URL,
			"verify":          map[string]any{"method": "GET", "path": "/v1/me"},
			"service_account": map[string]any{"kind": "google", "token_url": g.TokenURL(), "scopes": scopes},
		},
		first:  saUpload{File: file1, Filename: "storm-test-1f0c7a9e3b5d.json"},
		second: saUpload{JSON: map[string]any{"file": doc}},
		checkAccess: func(t *testing.T, a map[string]any, n int) string {
			tok := checkBearer(t, a)
			if got := g.KeyOf(tok); got != kids[n] {
				t.Fatalf("access token %d was minted with key %q, want %q", n, got, kids[n])
			}
			return tok
		},
		proxyMethod: "GET", proxyPath: "v1/me",
		checkProxy: func(t *testing.T, body map[string]any, n int) {
			if body["kid"] != kids[n] || body["email"] != email || body["path"] != "/v1/me" {
				t.Fatalf("proxied /v1/me after upload %d = %v", n, body)
			}
		},
		rejected: saUpload{File: file3, Filename: "deleted-key.json"},
		malformed: []saBadUpload{
			{"user credential (wrong type)", saUpload{File: userCred, Filename: "application_default_credentials.json"}, 422, "file.type"},
			{"user credential as JSON body", saUpload{JSON: map[string]any{"file": json.RawMessage(userCred)}}, 422, "file.type"},
			{"RSA 1024", saUpload{File: weakFile, Filename: "weak.json"}, 422, "file.private_key"},
			{"PEM instead of JSON", saUpload{File: []byte(saPEM(t, key1)), Filename: "key.pem"}, 400, "file"},
		},
		retireFirst: func() { g.DeleteKey(kid1) },
		secrets: []string{saPEMCanary(t, saPEM(t, key1)), saPEMCanary(t, saPEM(t, key2)), saPEMCanary(t, saPEM(t, unregistered)),
			saPEMCanary(t, saPEM(t, saWeakRSAKey())), "google-canary-user-secret-b0d5", "google-canary-refresh-token-a7c3"},
	}
}

func mtlsCase(t *testing.T) saCase {
	clientCA, otherCA := newSACA(t, "Storm test client CA"), newSACA(t, "Someone else's CA")
	peer := newMTLSPeer(t, clientCA)
	now := time.Now()
	c1 := clientCA.issue(t, "svc-one", now.Add(-time.Hour), now.Add(90*24*time.Hour), false)
	c2 := clientCA.issue(t, "svc-two", now.Add(-time.Hour), now.Add(120*24*time.Hour), false)
	untrusted := otherCA.issue(t, "svc-one", now.Add(-time.Hour), now.Add(90*24*time.Hour), false)
	expired := clientCA.issue(t, "svc-old", now.Add(-60*24*time.Hour), now.Add(-24*time.Hour), false)
	leaves := map[int]saLeaf{1: c1, 2: c2}
	cn := map[int]string{1: "svc-one", 2: "svc-two"}
	return saCase{
		kind: "mtls",
		config: map[string]any{
			"base_url":        peer.URL,
			"verify":          map[string]any{"method": "GET", "path": "/whoami"},
			"ca_pem":          peer.CAPEM,
			"service_account": map[string]any{"kind": "mtls"},
		},
		// A PEM bundle as issued: client certificate, its CA, the key.
		first:  saUpload{File: []byte(c1.CertPEM + clientCA.PEM + c1.KeyPEM), Filename: "svc-one.pem"},
		second: saUpload{JSON: map[string]any{"cert_pem": c2.CertPEM, "key_pem": c2.KeyPEM}},
		checkAccess: func(t *testing.T, a map[string]any, n int) string {
			certPEM, _ := a["cert_pem"].(string)
			keyPEM, _ := a["key_pem"].(string)
			if a["type"] != "mtls" || !strings.HasPrefix(certPEM, leaves[n].CertPEM) || keyPEM == "" {
				t.Fatalf("access after upload %d = %v", n, a)
			}
			pair, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
			if err != nil {
				t.Fatalf("access after upload %d: certificate and key do not pair: %v", n, err)
			}
			if pair.Leaf == nil || pair.Leaf.Subject.CommonName != cn[n] {
				t.Fatalf("access after upload %d: leaf %v", n, pair.Leaf)
			}
			if want := leaves[n].NotAfter.UTC().Format(time.RFC3339); a["expires_at"] != want {
				t.Fatalf("access expires_at = %v, want the certificate's notAfter %s", a["expires_at"], want)
			}
			return saPEMCanary(t, keyPEM)
		},
		proxyMethod: "POST", proxyPath: "whoami", proxyBody: map[string]any{"hello": "mtls"},
		checkProxy: func(t *testing.T, body map[string]any, n int) {
			if body["subject"] != cn[n] || body["path"] != "/whoami" || body["body"] != `{"hello":"mtls"}` {
				t.Fatalf("proxied /whoami after upload %d = %v", n, body)
			}
		},
		rejected: saUpload{File: []byte(untrusted.CertPEM + untrusted.KeyPEM), Filename: "untrusted.pem"},
		malformed: []saBadUpload{
			{"expired certificate", saUpload{File: []byte(expired.CertPEM + expired.KeyPEM), Filename: "expired.pem"}, 422, "file"},
			{"certificate and key do not match", saUpload{File: []byte(c1.CertPEM + c2.KeyPEM), Filename: "mismatch.pem"}, 422, "file"},
			{"mismatch as JSON", saUpload{JSON: map[string]any{"cert_pem": c2.CertPEM, "key_pem": c1.KeyPEM}}, 422, "key_pem"},
			{"no key", saUpload{File: []byte(c1.CertPEM), Filename: "cert-only.pem"}, 400, "file"},
		},
		retireFirst: func() { peer.Deny("svc-one") },
		secrets: []string{saPEMCanary(t, c1.KeyPEM), saPEMCanary(t, c2.KeyPEM), saPEMCanary(t, untrusted.KeyPEM),
			saPEMCanary(t, expired.KeyPEM)},
	}
}

func awsCase(t *testing.T) saCase {
	const (
		id1, secret1 = "AKIASTORMTESTKEY0001", "wJalrXUtnFEMI/K7MDENG/canaryOne0000AAAA1"
		id2, secret2 = "AKIASTORMTESTKEY0002", "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbcanaryTwo2"
		id3, secret3 = "AKIASTORMTESTKEY0003", "Xy9+unknownKeyCanaryThree/0000000000000Z"
	)
	peer := newAWSPeer(t, "eu-west-1", "execute-api")
	peer.AddKey(id1, secret1)
	peer.AddKey(id2, secret2)
	ids := map[int]string{1: id1, 2: id2}
	secrets := map[int]string{1: secret1, 2: secret2}
	return saCase{
		kind: "aws_sigv4",
		config: map[string]any{
			"base_url":        peer.URL + "/prod",
			"verify":          map[string]any{"method": "GET", "path": "/whoami"},
			"service_account": map[string]any{"kind": "aws_sigv4", "region": "eu-west-1", "service": "execute-api"},
		},
		// The IAM console's access-key CSV.
		first:  saUpload{File: []byte("\ufeffAccess key ID,Secret access key\r\n" + id1 + "," + secret1 + "\r\n"), Filename: "storm_accessKeys.csv"},
		second: saUpload{JSON: map[string]any{"access_key_id": id2, "secret_access_key": secret2}},
		checkAccess: func(t *testing.T, a map[string]any, n int) string {
			if a["type"] != "aws" || a["access_key_id"] != ids[n] || a["secret_access_key"] != secrets[n] || a["session_token"] != "" {
				t.Fatalf("access after upload %d = %v", n, a)
			}
			return secrets[n]
		},
		// The signer sends the query in SigV4's canonical order.
		proxyMethod: "POST", proxyPath: "pets?b=2&a=1&a=0", proxyBody: map[string]any{"name": "rex"},
		checkProxy: func(t *testing.T, body map[string]any, n int) {
			if body["access_key_id"] != ids[n] || body["path"] != "/prod/pets" || body["body"] != `{"name":"rex"}` || body["query"] != "a=0&a=1&b=2" {
				t.Fatalf("proxied request after upload %d = %v", n, body)
			}
		},
		rejected: saUpload{JSON: map[string]any{"access_key_id": id3, "secret_access_key": secret3}},
		malformed: []saBadUpload{
			{"bad access key id", saUpload{File: []byte("Access key ID,Secret access key\n" + "AKIA-NOT-A-KEY," + secret3 + "\n"), Filename: "keys.csv"}, 400, "file.access_key_id"},
			{"swapped fields", saUpload{JSON: map[string]any{"access_key_id": secret3, "secret_access_key": id3}}, 400, "access_key_id"},
			{"session token with a long-term key", saUpload{JSON: map[string]any{"access_key_id": id3, "secret_access_key": secret3, "session_token": "FwoGZXIvYXdzEBYaDH"}}, 422, "session_token"},
			{"two keys in the CSV", saUpload{File: []byte("Access key ID,Secret access key\n" + id1 + "," + secret1 + "\n" + id3 + "," + secret3 + "\n"), Filename: "keys.csv"}, 400, "file"},
		},
		retireFirst: func() { peer.DeleteKey(id1) },
		secrets:     []string{secret1, secret2, secret3},
	}
}

// checkBearer checks a bearer /access answer and returns its token.
func checkBearer(t *testing.T, a map[string]any) string {
	t.Helper()
	tok, _ := a["access_token"].(string)
	if a["type"] != "bearer" || tok == "" || a["expires_at"] == nil {
		t.Fatalf("access = %v", a)
	}
	exp, err := time.Parse(time.RFC3339, a["expires_at"].(string))
	if err != nil || !exp.Add(time.Second).After(time.Now()) { // RFC 3339 in whole seconds
		t.Fatalf("access expires_at = %v", a["expires_at"])
	}
	return tok
}

// userinfoSub asks the authorization server whose token tok is.
func userinfoSub(t *testing.T, userinfoURL, tok string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", userinfoURL, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Sub string }
	json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != 200 {
		t.Fatalf("userinfo with the minted token: %d", resp.StatusCode)
	}
	return body.Sub
}

// ---- the lifecycle ----

func TestServiceAccountClientCredentials(t *testing.T) { saBackends(t, clientCredentialsCase) }
func TestServiceAccountJWTBearer(t *testing.T)         { saBackends(t, jwtBearerCase) }
func TestServiceAccountGoogle(t *testing.T)            { saBackends(t, googleCase) }
func TestServiceAccountMTLS(t *testing.T)              { saBackends(t, mtlsCase) }
func TestServiceAccountAWSSigV4(t *testing.T)          { saBackends(t, awsCase) }

func saBackends(t *testing.T, build func(t *testing.T) saCase) {
	backends(t, func(t *testing.T, opts servertest.Options) { testSALifecycle(t, opts, build(t)) })
}

// testSALifecycle: create a custom service-account integration; malformed
// uploads and a key the peer refuses change nothing; Save → active and
// connected; verify, /access and the proxy work with the peer checking
// the credential; a second key rotates (new active, old previous) and is
// the one used; revoking the old one leaves the new one working, also once
// the peer deleted the old key; no secret shows outside /access or in the
// logs.
func testSALifecycle(t *testing.T, opts servertest.Options, c saCase) {
	env := &saEnv{Env: servertest.Start(t, opts)}
	in := env.Must(201, "POST", "/v1/integrations", "", map[string]any{
		"name": "SA " + c.kind, "provider": "custom", "auth_method": "service_account", "config": c.config})
	id := in["id"].(string)
	base := "/v1/integrations/" + id
	if in["status"] != "pending" {
		t.Fatalf("new integration = %v", in)
	}
	revealed := map[string]bool{} // what /access handed out (allowed there only)

	refusals := func(when string) {
		t.Helper()
		before := snapshot(env.Env, id)
		for _, bad := range c.malformed {
			r := env.save(base+"/credentials", bad.upload)
			checkFieldProblem(t, fmt.Sprintf("%s (%s)", bad.name, when), r, bad.status, bad.field)
			if after := snapshot(env.Env, id); after != before {
				t.Fatalf("%s (%s) changed something:\nbefore %s\nafter  %s", bad.name, when, before, after)
			}
		}
		r := env.save(base+"/credentials", c.rejected)
		if r.Status != 422 {
			t.Fatalf("a key the peer refuses (%s): %d %s", when, r.Status, r.Body)
		}
		p := r.JSON(t)
		if v, _ := p["verification"].(map[string]any); v == nil || v["ok"] != false || !strings.Contains(fmt.Sprint(p["detail"]), "did not work") {
			t.Fatalf("a key the peer refuses (%s): %s", when, r.Body)
		}
		if after := snapshot(env.Env, id); after != before {
			t.Fatalf("a refused key (%s) changed something:\nbefore %s\nafter  %s", when, before, after)
		}
	}
	refusals("no credential yet")

	// The first key.
	c1 := saveOK(t, env, base, c.first, 1)
	in = env.Must(200, "GET", base, "", nil)
	if in["status"] != "connected" || in["last_verified_at"] == nil {
		t.Fatalf("after the first save: %v", in)
	}
	if v := env.Must(200, "POST", base+"/verify", "", nil); v["ok"] != true || v["status"] != float64(200) {
		t.Fatalf("verify = %v", v)
	}
	revealed[c.checkAccess(t, env.Must(200, "GET", base+"/access", "", nil), 1)] = true
	c.checkProxy(t, env.Must(200, c.proxyMethod, base+"/proxy/"+c.proxyPath, "", c.proxyBody), 1)

	// Rotation: the second key becomes active, the first previous.
	c2 := saveOK(t, env, base, c.second, 2)
	if got := credentialStates(t, env.Env, base); got[c1] != "previous" || got[c2] != "active" || len(got) != 2 {
		t.Fatalf("after the rotation: %v", got)
	}
	revealed[c.checkAccess(t, env.Must(200, "GET", base+"/access", "", nil), 2)] = true
	c.checkProxy(t, env.Must(200, c.proxyMethod, base+"/proxy/"+c.proxyPath, "", c.proxyBody), 2)

	// Revoke the old version, in Storm and then at the peer.
	rv := env.Must(200, "POST", base+"/credentials/"+c1+"/revoke", "", nil)
	if rv["state"] != "revoked" || rv["revoked_at"] == nil {
		t.Fatalf("revoke = %v", rv)
	}
	if got := credentialStates(t, env.Env, base); got[c1] != "revoked" || got[c2] != "active" {
		t.Fatalf("after revoking the old version: %v", got)
	}
	if c.retireFirst != nil {
		c.retireFirst()
	}
	if v := env.Must(200, "POST", base+"/verify", "", nil); v["ok"] != true {
		t.Fatalf("verify after revoking the old key = %v", v)
	}
	if in := env.Must(200, "GET", base, "", nil); in["status"] != "connected" {
		t.Fatalf("status after the rotation = %v (%v)", in["status"], in["status_reason"])
	}
	c.checkProxy(t, env.Must(200, c.proxyMethod, base+"/proxy/"+c.proxyPath, "", c.proxyBody), 2)
	revealed[c.checkAccess(t, env.Must(200, "GET", base+"/access", "", nil), 2)] = true

	// Bad uploads and a refused key change nothing with a key in place.
	refusals("connected")

	// The story, oldest first.
	types := eventTypes(t, env.Env, id)
	want := "integration.created verification.failed credential.saved integration.connected credential.saved credential.revoked verification.failed"
	if types != want {
		t.Fatalf("events = %s\nwant     %s", types, want)
	}

	// The canary: the key material never leaves Storm except by /access,
	// whether the upload worked or not; neither do minted tokens.
	env.Do("GET", "/v1/events?limit=1000", "", nil)
	env.Do("GET", "/v1/audit?limit=1000", "", nil)
	env.Do("GET", "/v1/integrations", "", nil)
	env.Do("GET", base, "", nil)
	env.Do("GET", base+"/credentials", "", nil)
	env.Do("GET", "/metrics", "", nil)
	secrets := slices.Clone(c.secrets)
	for s := range revealed {
		if !slices.Contains(secrets, s) {
			secrets = append(secrets, s) // minted tokens
		}
	}
	accessShown := false
	for _, x := range env.exchanges() {
		text := string(x.Body) + fmt.Sprint(x.Header)
		if strings.HasSuffix(x.Path, "/access") {
			for s := range revealed {
				accessShown = accessShown || strings.Contains(text, s)
			}
			continue
		}
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s %s (%d) reveals %.12q…: %s", x.Method, x.Path, x.Status, s, x.Body)
			}
		}
	}
	logs := env.Logs.String()
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("the server logs reveal %.12q…", s)
		}
	}
	if !accessShown || len(env.exchanges()) < 30 {
		t.Fatalf("the canary did not see the flows it should have (%d exchanges, /access seen: %v)", len(env.exchanges()), accessShown)
	}
	if opts.Database == "" {
		for _, s := range secrets {
			if dirContains(t, env.DataDir, s) {
				t.Errorf("a file of the data directory holds %.12q… in plain text", s)
			}
		}
	}
}

// saveOK saves u and checks the new version; it returns its id.
func saveOK(t *testing.T, env *saEnv, base string, u saUpload, version int) string {
	t.Helper()
	r := env.save(base+"/credentials", u)
	if r.Status != 200 {
		t.Fatalf("save %d: %d %s", version, r.Status, r.Body)
	}
	c := r.JSON(t)
	id, _ := c["id"].(string)
	if !strings.HasPrefix(id, "cred_") || c["state"] != "active" || c["version"] != float64(version) || c["verified_at"] == nil ||
		c["hint"] == "" || c["hint"] == nil || c["fingerprint"] == "" || c["fingerprint"] == nil {
		t.Fatalf("save %d = %v", version, c)
	}
	if w, ok := c["warnings"]; ok {
		t.Errorf("save %d: a fresh credential has warnings %v", version, w)
	}
	return id
}

// checkFieldProblem checks a refused upload's problem details.
func checkFieldProblem(t *testing.T, what string, r servertest.Response, status int, field string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: %d %s, want %d", what, r.Status, r.Body, status)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("%s: Content-Type %q", what, ct)
	}
	var p struct {
		Status int
		Detail string
		Errors []struct{ Field, Message string }
	}
	if err := json.Unmarshal(r.Body, &p); err != nil || p.Status != status || p.Detail == "" {
		t.Fatalf("%s: problem %s", what, r.Body)
	}
	for _, e := range p.Errors {
		if e.Field == field && e.Message != "" {
			return
		}
	}
	t.Fatalf("%s: no error for field %q: %s", what, field, r.Body)
}

// credentialStates maps version ids to states.
func credentialStates(t *testing.T, env *servertest.Env, base string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, c := range env.Must(200, "GET", base+"/credentials", "", nil)["credentials"].([]any) {
		c := c.(map[string]any)
		out[c["id"].(string)] = c["state"].(string)
	}
	return out
}

// ---- minted tokens are kept fresh ----

// TestServiceAccountTokenRefresh: a client_credentials token that is no
// longer fresh is minted anew when /access asks (once however many
// callers ask at once), the new token works through the proxy, and the
// version is not multiplied.
func TestServiceAccountTokenRefresh(t *testing.T) { backends(t, testSATokenRefresh) }

func testSATokenRefresh(t *testing.T, opts servertest.Options) {
	opts.NoBackground = true
	env, as, id := startSATokenEnv(t, opts)
	base := "/v1/integrations/" + id
	worker := env.NewToken("worker", "default")
	first := checkBearer(t, env.Must(200, "GET", base+"/access", worker, nil))
	before := as.TokenRequests()
	time.Sleep(1200 * time.Millisecond) // less than half the lifetime is left now
	as.SetDelay(150 * time.Millisecond) // keep the mint in flight while callers pile up
	tokens := accessConcurrently(t, []*servertest.Env{env}, id, worker, 20)
	as.SetDelay(0)
	if n := as.TokenRequests() - before; n != 1 {
		t.Fatalf("%d token requests for 20 concurrent callers of a stale token, want exactly 1", n)
	}
	if len(tokens) != 1 || tokens[first] {
		t.Fatalf("callers got %d tokens (the old one among them: %v)", len(tokens), tokens[first])
	}
	var next string
	for tok := range tokens {
		next = tok
	}
	if !as.Valid(next) {
		t.Fatal("the new token is not valid at the authorization server")
	}
	if got := env.Must(200, "GET", base+"/access", worker, nil)["access_token"]; got != next || as.TokenRequests()-before != 1 {
		t.Fatalf("a fresh token was minted again (%v, %d requests)", got != next, as.TokenRequests()-before)
	}
	if body := env.Must(200, "GET", base+"/proxy/userinfo", worker, nil); body["sub"] != "svc-cc-refresh" {
		t.Fatalf("proxied /userinfo = %v", body)
	}
	creds := env.Must(200, "GET", base+"/credentials", "", nil)["credentials"].([]any)
	if len(creds) != 1 || creds[0].(map[string]any)["state"] != "active" {
		t.Fatalf("credentials after the refresh = %v", creds)
	}
	if w, ok := creds[0].(map[string]any)["warnings"]; ok {
		t.Errorf("a minted token that Storm renews itself shows warnings %v (expires_at %v)", w, creds[0].(map[string]any)["expires_at"])
	}
	if types := eventTypes(t, env, id); !strings.Contains(types, "token.refreshed") || strings.Contains(types, "reconnect") {
		t.Fatalf("events = %s", types)
	}
	if in := env.Must(200, "GET", base, "", nil); in["status"] != "connected" {
		t.Fatalf("status = %v", in["status"])
	}
}

// TestServiceAccountBackgroundRefresh: the background loop renews minted
// tokens nobody asks for.
func TestServiceAccountBackgroundRefresh(t *testing.T) { backends(t, testSABackgroundRefresh) }

func testSABackgroundRefresh(t *testing.T, opts servertest.Options) {
	opts.Tokens.Interval = 100 * time.Millisecond
	env, as, id := startSATokenEnv(t, opts)
	base := "/v1/integrations/" + id
	before := as.TokenRequests()
	time.Sleep(2500 * time.Millisecond) // the first token has expired by now
	if n := as.TokenRequests() - before; n < 1 {
		t.Fatal("no background mint within the token's lifetime")
	}
	if tok := checkBearer(t, env.Must(200, "GET", base+"/access", "", nil)); !as.Valid(tok) {
		t.Fatal("/access handed out a dead token")
	}
}

// startSATokenEnv is a Storm with a client_credentials integration whose
// tokens live 2 seconds.
func startSATokenEnv(t *testing.T, opts servertest.Options) (*servertest.Env, *oauthtest.Server, string) {
	t.Helper()
	as := oauthtest.New(t, oauthtest.Options{AccessTokenTTL: 2 * time.Second})
	as.AddClient(oauthtest.Client{ID: "svc-cc-refresh", Secret: "svc-cc-refresh-secret-0e1d"})
	env := servertest.Start(t, opts)
	in := env.Must(201, "POST", "/v1/integrations", "", map[string]any{
		"name": "Short tokens", "provider": "custom", "auth_method": "service_account", "config": map[string]any{
			"base_url":        as.URL,
			"verify":          map[string]any{"method": "GET", "path": "/userinfo"},
			"service_account": map[string]any{"kind": "client_credentials", "token_url": as.TokenURL()},
		}})
	id := in["id"].(string)
	env.Must(200, "PUT", "/v1/integrations/"+id+"/credentials", "", map[string]any{"client_id": "svc-cc-refresh", "client_secret": "svc-cc-refresh-secret-0e1d"})
	if n := as.TokenRequests(); n != 1 {
		t.Fatalf("%d token requests for one Save, want 1", n)
	}
	return env, as, id
}
