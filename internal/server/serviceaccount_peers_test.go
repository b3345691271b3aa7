package server_test

// Test peers for the service-account end-to-end tests: a Google-style
// token endpoint and API, an AWS-like service that re-verifies SigV4, and
// an HTTPS service that requires client certificates. They are adapted
// from the unit tests of internal/methods/serviceaccount and internal/proxy
// (test code cannot be imported).

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/go-jose/go-jose/v3"

	"github.com/stormcreds/storm/internal/server/servertest"
)

// ---- keys ----

// saRSAKeys are generated once per process: RSA generation is slow under
// -race, and every backend and kind can share them (each test has its
// own peers).
var saRSAKeys = sync.OnceValue(func() []*rsa.PrivateKey {
	keys := make([]*rsa.PrivateKey, 3)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	return keys
})

// saWeakRSAKey is an RSA key below the 2048-bit minimum.
var saWeakRSAKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		panic(err)
	}
	return k
})

func saECKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// saPEM is key as PKCS#8 PEM.
func saPEM(t *testing.T, key crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// saPEMCanary is a distinctive piece of a PEM private key (its second
// line of base64): if it shows up somewhere, the key leaked.
func saPEMCanary(t *testing.T, pemText string) string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(pemText), "\n")
	if len(lines) < 4 || len(lines[2]) < 40 {
		t.Fatalf("unexpected PEM layout")
	}
	return lines[2]
}

// ---- uploads ----

// saUpload is a Save body: JSON, or a multipart upload with the file in
// the part named "file" and other form fields.
type saUpload struct {
	JSON     map[string]any
	File     []byte
	Filename string
	Form     map[string]string
}

func (u saUpload) multipart() bool { return u.File != nil }

// saEnv is a Storm under test that also records the multipart uploads it
// was sent (servertest's transcript covers JSON calls only), so the
// secrets canary sees every answer.
type saEnv struct {
	*servertest.Env
	mu      sync.Mutex
	uploads []servertest.Exchange
}

// save sends u to PUT path (…/credentials).
func (e *saEnv) save(path string, u saUpload) servertest.Response {
	e.T.Helper()
	if !u.multipart() {
		return e.Do("PUT", path, "", u.JSON)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range u.Form {
		if err := mw.WriteField(k, v); err != nil {
			e.T.Fatal(err)
		}
	}
	fw, err := mw.CreateFormFile("file", u.Filename)
	if err != nil {
		e.T.Fatal(err)
	}
	fw.Write(u.File)
	if err := mw.Close(); err != nil {
		e.T.Fatal(err)
	}
	req, err := http.NewRequest("PUT", e.URL+path, &buf)
	if err != nil {
		e.T.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.AdminToken)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.T.Fatal(err)
	}
	out := servertest.Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
	e.mu.Lock()
	e.uploads = append(e.uploads, servertest.Exchange{Method: "PUT (multipart)", Path: path, Response: out})
	e.mu.Unlock()
	return out
}

// exchanges is every answer Storm gave in this test.
func (e *saEnv) exchanges() []servertest.Exchange {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append(e.Transcript(), e.uploads...)
}

// ---- a Google-style token endpoint and API ----

// googlePeer is a Google-like service: POST /token verifies the RS256
// assertion of the JWT bearer grant (kid, iss, aud, scope, times) with the
// public key registered for its kid and mints an opaque token; GET /v1/me
// accepts only such tokens and names the key that minted them.
type googlePeer struct {
	*httptest.Server
	email, scope string

	mu     sync.Mutex
	keys   map[string]*rsa.PublicKey // kid → public key
	tokens map[string]string         // access token → kid

	TokenRequests atomic.Int64
}

func newGooglePeer(t *testing.T, email string, scopes []string) *googlePeer {
	t.Helper()
	g := &googlePeer{email: email, scope: strings.Join(scopes, " "), keys: map[string]*rsa.PublicKey{}, tokens: map[string]string{}}
	g.Server = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.Close)
	return g
}

func (g *googlePeer) TokenURL() string { return g.URL + "/token" }

// AddKey is "create a key for the service account" in the console.
func (g *googlePeer) AddKey(kid string, pub *rsa.PublicKey) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.keys[kid] = pub
}

// DeleteKey deletes the key; tokens it minted stop working too.
func (g *googlePeer) DeleteKey(kid string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.keys, kid)
	for tok, k := range g.tokens {
		if k == kid {
			delete(g.tokens, tok)
		}
	}
}

// KeyOf names the key that minted token ("" when the token is not valid).
func (g *googlePeer) KeyOf(token string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.tokens[token]
}

func (g *googlePeer) serve(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code, desc string) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	switch r.URL.Path {
	case "/token":
		g.TokenRequests.Add(1)
		if r.Method != http.MethodPost || r.ParseForm() != nil {
			fail(400, "invalid_request", "bad request")
			return
		}
		if r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
			fail(400, "unsupported_grant_type", "Invalid grant_type")
			return
		}
		jws, err := jose.ParseSigned(r.PostForm.Get("assertion"))
		if err != nil || len(jws.Signatures) != 1 {
			fail(400, "invalid_grant", "Invalid JWT")
			return
		}
		h := jws.Signatures[0].Header
		g.mu.Lock()
		pub := g.keys[h.KeyID]
		g.mu.Unlock()
		if h.Algorithm != "RS256" || pub == nil {
			fail(400, "invalid_grant", "Invalid JWT Signature.")
			return
		}
		payload, err := jws.Verify(pub)
		if err != nil {
			fail(400, "invalid_grant", "Invalid JWT Signature.")
			return
		}
		var c struct {
			Iss, Scope, Aud, Sub string
			Iat, Exp             int64
		}
		if err := json.Unmarshal(payload, &c); err != nil {
			fail(400, "invalid_grant", "Invalid JWT claims")
			return
		}
		now := time.Now().Unix()
		switch {
		case c.Iss != g.email:
			fail(401, "invalid_client", "The OAuth client was not found.")
		case c.Aud != g.TokenURL():
			fail(400, "invalid_grant", "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe (aud)")
		case c.Iat > now+60 || c.Exp < now || c.Exp-c.Iat > 3600:
			fail(400, "invalid_grant", "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe")
		case c.Scope != g.scope:
			fail(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
		case c.Sub != "":
			fail(401, "unauthorized_client", "Client is unauthorized to retrieve access tokens using this method.")
		default:
			b := make([]byte, 24)
			rand.Read(b)
			tok := "ya29." + hex.EncodeToString(b)
			g.mu.Lock()
			g.tokens[tok] = h.KeyID
			g.mu.Unlock()
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "expires_in": 3599, "token_type": "Bearer"})
		}
	default:
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		kid := g.KeyOf(tok)
		if !ok || kid == "" {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}})
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		json.NewEncoder(w).Encode(map[string]any{"email": g.email, "kid": kid, "path": r.URL.Path})
	}
}

// googleKeyFile is a service-account JSON key file as the console issues it.
func googleKeyFile(t *testing.T, key *rsa.PrivateKey, kid, email, tokenURI string) []byte {
	t.Helper()
	b, err := json.MarshalIndent(map[string]string{
		"type": "service_account", "project_id": "storm-test", "private_key_id": kid,
		"private_key": saPEM(t, key), "client_email": email, "client_id": "109876543210987654321",
		"auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": tokenURI,
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
		"client_x509_cert_url":        "https://www.googleapis.com/robot/v1/metadata/x509/" + url.PathEscape(email),
		"universe_domain":             "googleapis.com",
	}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ---- an AWS-like service ----

// awsPeer is an AWS-like service: it recomputes each request's SigV4
// signature with the SDK signer from what arrived, with the secret of the
// access key id named in the credential scope, and answers 403 like AWS
// when the key is unknown or the signature does not match.
type awsPeer struct {
	*httptest.Server
	region, service string

	mu   sync.Mutex
	keys map[string]string // access key id → secret access key

	OK, Bad atomic.Int64
}

func newAWSPeer(t *testing.T, region, service string) *awsPeer {
	t.Helper()
	a := &awsPeer{region: region, service: service, keys: map[string]string{}}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		keyID, err := a.verify(r, body)
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			a.Bad.Add(1)
			w.WriteHeader(http.StatusForbidden)
			json.NewEncoder(w).Encode(map[string]any{"message": err.Error()})
			return
		}
		a.OK.Add(1)
		json.NewEncoder(w).Encode(map[string]any{"access_key_id": keyID, "method": r.Method, "path": r.URL.EscapedPath(),
			"query": r.URL.RawQuery, "body": string(body)})
	}))
	t.Cleanup(a.Close)
	return a
}

// AddKey is "create access key" in IAM; DeleteKey deletes it.
func (a *awsPeer) AddKey(id, secret string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.keys[id] = secret
}

func (a *awsPeer) DeleteKey(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.keys, id)
}

// verify returns the access key id r was correctly signed with.
func (a *awsPeer) verify(r *http.Request, body []byte) (string, error) {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return "", errors.New("MissingAuthenticationToken: Request is missing Authentication Token")
	}
	parts := map[string]string{}
	for p := range strings.SplitSeq(rest, ", ") {
		k, v, _ := strings.Cut(p, "=")
		parts[k] = v
	}
	scope := strings.Split(parts["Credential"], "/")
	if len(scope) != 5 || scope[2] != a.region || scope[3] != a.service || scope[4] != "aws4_request" {
		return "", errors.New("IncompleteSignature: bad credential scope")
	}
	a.mu.Lock()
	secret, known := a.keys[scope[0]]
	a.mu.Unlock()
	if !known {
		return "", errors.New("InvalidClientTokenId: The security token included in the request is invalid.")
	}
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil || when.Format("20060102") != scope[1] {
		return "", errors.New("IncompleteSignature: bad X-Amz-Date")
	}
	if d := time.Since(when); d > 5*time.Minute || d < -5*time.Minute {
		return "", errors.New("SignatureDoesNotMatch: Signature expired")
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	switch h := r.Header.Get("X-Amz-Content-Sha256"); h {
	case "", hash:
	default:
		return "", errors.New("XAmzContentSHA256Mismatch")
	}
	u, err := url.Parse("http://" + r.Host + r.RequestURI)
	if err != nil {
		return "", err
	}
	re := &http.Request{Method: r.Method, URL: u, Header: http.Header{}, Host: r.Host}
	for h := range strings.SplitSeq(parts["SignedHeaders"], ";") {
		switch h {
		case "host":
		case "content-length":
			re.ContentLength = r.ContentLength
		default:
			vs := r.Header.Values(h)
			if len(vs) == 0 {
				return "", fmt.Errorf("SignatureDoesNotMatch: signed header %s missing", h)
			}
			re.Header[http.CanonicalHeaderKey(h)] = vs
		}
	}
	creds := aws.Credentials{AccessKeyID: scope[0], SecretAccessKey: secret, SessionToken: r.Header.Get("X-Amz-Security-Token")}
	if err := v4.NewSigner().SignHTTP(r.Context(), creds, re, hash, a.service, a.region, when); err != nil {
		return "", err
	}
	if re.Header.Get("Authorization") != auth {
		return "", errors.New("SignatureDoesNotMatch: The request signature we calculated does not match the signature you provided.")
	}
	return scope[0], nil
}

// ---- certificates and an mTLS service ----

// saCA is a test certificate authority.
type saCA struct {
	cert *x509.Certificate
	key  crypto.Signer
	pool *x509.CertPool
	PEM  string
}

var saSerial atomic.Int64

func newSACA(t *testing.T, name string) *saCA {
	t.Helper()
	key := saECKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(saSerial.Add(1)),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Storm Test"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &saCA{cert: cert, key: key, pool: pool, PEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// saLeaf is an issued certificate with its key.
type saLeaf struct {
	Cert     *x509.Certificate
	CertPEM  string
	KeyPEM   string
	TLS      tls.Certificate
	NotAfter time.Time
}

// issue signs a certificate for cn valid from notBefore to notAfter: a
// TLS client certificate, or a server certificate for 127.0.0.1.
func (ca *saCA) issue(t *testing.T, cn string, notBefore, notAfter time.Time, server bool) saLeaf {
	t.Helper()
	key := saECKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(saSerial.Add(1)),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"Storm Test"}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	keyPEM := saPEM(t, key)
	pair, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	return saLeaf{Cert: cert, CertPEM: certPEM, KeyPEM: keyPEM, TLS: pair, NotAfter: cert.NotAfter}
}

// mtlsPeer is an HTTPS service whose server certificate is issued by a
// private CA (CAPEM, which clients must trust) and which requires a client
// certificate issued by clientCA. It answers with the client
// certificate's common name, or 403 for a certificate it was told to
// refuse.
type mtlsPeer struct {
	*httptest.Server
	CAPEM string

	mu     sync.Mutex
	denied map[string]bool // common names refused

	Hits atomic.Int64
}

func newMTLSPeer(t *testing.T, clientCA *saCA) *mtlsPeer {
	t.Helper()
	serverCA := newSACA(t, "Peer server CA")
	leaf := serverCA.issue(t, "peer.storm-test", time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), true)
	m := &mtlsPeer{CAPEM: serverCA.PEM, denied: map[string]bool{}}
	m.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.Hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]any{"message": "client certificate required"})
			return
		}
		cn := r.TLS.PeerCertificates[0].Subject.CommonName
		m.mu.Lock()
		denied := m.denied[cn]
		m.mu.Unlock()
		if denied {
			w.WriteHeader(http.StatusForbidden)
			json.NewEncoder(w).Encode(map[string]any{"message": "certificate revoked"})
			return
		}
		body, _ := io.ReadAll(r.Body)
		json.NewEncoder(w).Encode(map[string]any{"subject": cn, "path": r.URL.Path, "body": string(body)})
	}))
	m.TLS = &tls.Config{
		Certificates: []tls.Certificate{leaf.TLS},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientCA.pool,
		MinVersion:   tls.VersionTLS12,
	}
	m.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	m.StartTLS()
	t.Cleanup(m.Close)
	return m
}

// Deny makes the service refuse the certificate named cn (revoked there).
func (m *mtlsPeer) Deny(cn string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.denied[cn] = true
}
