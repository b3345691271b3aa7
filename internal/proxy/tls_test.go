package proxy

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testCA is a certificate authority for client certificates.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
	pool *x509.CertPool
}

var serial atomic.Int64

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial.Add(1)),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
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
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue returns a client certificate for cn signed by ca.
func (ca *testCA) issue(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"Storm Test"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// mtlsServer is an HTTPS upstream that requires a client certificate
// issued by clientCA and answers with the certificate's subject.
type mtlsServer struct {
	*httptest.Server
	roots *x509.CertPool // trusts the server's certificate
	hits  atomic.Int64
	conns atomic.Int64
}

func newMTLSServer(t *testing.T, clientCA *testCA, handle http.HandlerFunc) *mtlsServer {
	t.Helper()
	m := &mtlsServer{}
	m.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.hits.Add(1)
		if handle != nil {
			handle(w, r)
			return
		}
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			http.Error(w, "no client certificate", http.StatusUnauthorized)
			return
		}
		io.WriteString(w, r.TLS.PeerCertificates[0].Subject.String())
	}))
	m.TLS = &tls.Config{
		ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs:  clientCA.pool,
		MinVersion: tls.VersionTLS12,
	}
	m.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			m.conns.Add(1)
		}
	}
	m.Config.ErrorLog = discardLog() // handshake failures are expected
	m.StartTLS()
	t.Cleanup(m.Close)
	m.roots = x509.NewCertPool()
	m.roots.AddCert(m.Certificate())
	return m
}

// TestClientCertMTLS: the right client certificate reaches the upstream,
// which sees its subject, through ServeTarget and through Client.
func TestClientCertMTLS(t *testing.T) {
	ca := newTestCA(t, "Client CA")
	up := newMTLSServer(t, ca, nil)
	p, _ := newTestProxy(t, Config{AllowPrivate: true})
	d := p.WithClientCert(ca.issue(t, "svc-reporting"), up.roots)

	w := serve(d, http.MethodGet, nil, nil, Target{Base: mustURL(t, up.URL+"/api"), Path: "whoami", Active: noCredential})
	if w.Code != http.StatusOK {
		t.Fatalf("status = %d, body %s", w.Code, w.Body)
	}
	if got, want := w.Body.String(), "CN=svc-reporting,O=Storm Test"; got != want {
		t.Fatalf("upstream saw subject %q, want %q", got, want)
	}

	res, err := d.Client().Get(up.URL + "/verify")
	if err != nil {
		t.Fatal(RedactError(err))
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(b), "CN=svc-reporting") {
		t.Fatalf("verification: %d %s", res.StatusCode, b)
	}

	// The plain proxy presents no certificate and does not trust the
	// server: p is not changed by WithClientCert.
	if _, err := p.Client().Get(up.URL); err == nil {
		t.Fatal("the proxy without a client certificate reached the mTLS upstream")
	}
}

// TestClientCertRefused: without a client certificate, or with one from a
// CA the upstream does not trust, the handshake fails: 502, the handler
// never runs.
func TestClientCertRefused(t *testing.T) {
	ca := newTestCA(t, "Client CA")
	other := newTestCA(t, "Other CA")
	up := newMTLSServer(t, ca, nil)
	p, logs := newTestProxy(t, Config{AllowPrivate: true})
	base := mustURL(t, up.URL)

	cases := map[string]*Proxy{
		"no certificate":        p.derive(&tls.Config{MinVersion: tls.VersionTLS12, RootCAs: up.roots}, nil),
		"untrusted certificate": p.WithClientCert(other.issue(t, "intruder"), up.roots),
	}
	for name, d := range cases {
		t.Run(name, func(t *testing.T) {
			w := serve(d, http.MethodGet, nil, nil, Target{Base: base, Path: "x", Active: noCredential})
			pb := wantProblem(t, w, http.StatusBadGateway)
			if pb["detail"] != "the upstream could not be reached" {
				t.Errorf("detail = %v", pb["detail"])
			}
			if _, err := d.Client().Get(up.URL); err == nil {
				t.Error("verification client reached the upstream")
			}
		})
	}
	if n := up.hits.Load(); n != 0 {
		t.Fatalf("the upstream handler ran %d times", n)
	}
	// The upstream refused each for the right reason: the untrusted
	// certificate was presented, not silently left out.
	for _, want := range []string{"tls: certificate required", "tls: unknown certificate authority"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q: %s", want, logs)
		}
	}
}

// TestClientCertVerifiesServer: the upstream's certificate is always
// verified; with the system roots (nil) or the wrong roots the request
// fails before anything is sent.
func TestClientCertVerifiesServer(t *testing.T) {
	ca := newTestCA(t, "Client CA")
	up := newMTLSServer(t, ca, nil)
	p, logs := newTestProxy(t, Config{AllowPrivate: true})
	cert := ca.issue(t, "svc")
	for name, roots := range map[string]*x509.CertPool{"system roots": nil, "wrong roots": ca.pool} {
		t.Run(name, func(t *testing.T) {
			d := p.WithClientCert(cert, roots)
			tr := d.transport.(*http.Transport)
			if tr.TLSClientConfig.InsecureSkipVerify {
				t.Fatal("InsecureSkipVerify is set")
			}
			w := serve(d, http.MethodGet, nil, nil, Target{Base: mustURL(t, up.URL), Path: "x", Active: noCredential})
			wantProblem(t, w, http.StatusBadGateway)
			_, err := d.Client().Get(up.URL)
			var uae x509.UnknownAuthorityError
			if !errors.As(err, &uae) {
				t.Fatalf("verification error = %v, want an unknown authority", err)
			}
		})
	}
	if n := up.hits.Load(); n != 0 {
		t.Fatalf("the upstream handler ran %d times", n)
	}
	if !strings.Contains(logs.String(), "unknown authority") {
		t.Errorf("log lacks the verification failure: %s", logs)
	}
}

// TestClientCertGuard: the client-certificate proxy keeps the egress guard
// and the other transport rules.
func TestClientCertGuard(t *testing.T) {
	ca := newTestCA(t, "Client CA")
	up := newMTLSServer(t, ca, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	})
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:1") // must be ignored

	p, _ := newTestProxy(t, Config{})
	d := p.WithClientCert(ca.issue(t, "svc"), up.roots)
	w := serve(d, http.MethodGet, nil, nil, Target{Base: mustURL(t, up.URL), Path: "x", Active: noCredential})
	wantProblem(t, w, http.StatusForbidden)
	if _, err := d.Client().Get(up.URL); !errors.Is(err, ErrForbiddenDestination) {
		t.Fatalf("verification error = %v, want ErrForbiddenDestination", err)
	}
	if n := up.conns.Load(); n != 0 {
		t.Fatalf("the upstream got %d connections", n)
	}

	tr := d.transport.(*http.Transport)
	tc := tr.TLSClientConfig
	switch {
	case tr.Proxy != nil:
		t.Error("the transport uses an environment proxy")
	case tr.DialContext == nil:
		t.Error("the transport does not dial through the guard")
	case tc.InsecureSkipVerify:
		t.Error("InsecureSkipVerify is set")
	case tc.MinVersion != tls.VersionTLS12:
		t.Errorf("MinVersion = %x", tc.MinVersion)
	case len(tc.Certificates) != 1 || tc.RootCAs != up.roots:
		t.Error("the TLS config lacks the certificate or roots")
	case d.Client().Timeout != p.timeout || tr.ResponseHeaderTimeout != responseHeaderTimeout:
		t.Error("timeouts not kept")
	}

	// Redirects are not followed (private upstreams allowed this time).
	pa, _ := newTestProxy(t, Config{AllowPrivate: true})
	da := pa.WithClientCert(ca.issue(t, "svc"), up.roots)
	res, err := da.Client().Get(up.URL + "/start")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound || up.hits.Load() != 1 {
		t.Fatalf("status %d after %d hits: the redirect was followed", res.StatusCode, up.hits.Load())
	}
}

// TestClientCertCache: the same certificate and roots give the same proxy,
// so connections are reused; another key, certificate or pool does not.
func TestClientCertCache(t *testing.T) {
	ca := newTestCA(t, "Client CA")
	up := newMTLSServer(t, ca, nil)
	p, _ := newTestProxy(t, Config{AllowPrivate: true})
	cert := ca.issue(t, "svc")
	// A copy, as re-parsing the same material would give.
	again := tls.Certificate{Certificate: [][]byte{append([]byte(nil), cert.Certificate[0]...)}, PrivateKey: cert.PrivateKey}

	d1 := p.WithClientCert(cert, up.roots)
	d2 := p.WithClientCert(again, up.roots)
	if d1 != d2 {
		t.Fatal("the same certificate and roots gave two proxies")
	}
	if d1.WithClientCert(cert, up.roots) != d1 {
		t.Fatal("a derived proxy does not share the cache")
	}
	for _, d := range []*Proxy{d1, d2, d1} {
		w := serve(d, http.MethodGet, nil, nil, Target{Base: mustURL(t, up.URL), Path: "x", Active: noCredential})
		if w.Code != http.StatusOK {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	if n := up.conns.Load(); n != 1 {
		t.Fatalf("%d connections for three requests, want 1", n)
	}

	otherRoots := x509.NewCertPool()
	otherRoots.AddCert(up.Certificate())
	if p.WithClientCert(cert, otherRoots) == d1 {
		t.Fatal("another roots pool shares the proxy")
	}
	if p.WithClientCert(ca.issue(t, "svc"), up.roots) == d1 {
		t.Fatal("another certificate shares the proxy")
	}

	// Someone else's certificate (certificates are public) with another
	// key never gets the cached transport holding the real key: it fails
	// without contacting the upstream.
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	forged := p.WithClientCert(tls.Certificate{Certificate: cert.Certificate, PrivateKey: otherKey}, up.roots)
	if forged == d1 {
		t.Fatal("a forged key shares the real key's proxy")
	}
	hits := up.hits.Load()
	w := serve(forged, http.MethodGet, nil, nil, Target{Base: mustURL(t, up.URL), Path: "x", Active: noCredential})
	pb := wantProblem(t, w, http.StatusBadGateway)
	if pb["detail"] != "the credential could not be applied to the request" {
		t.Errorf("detail = %v", pb["detail"])
	}
	if _, err := forged.Client().Get(up.URL); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("verification error = %v", err)
	}
	for _, bad := range []tls.Certificate{{}, {Certificate: cert.Certificate}, {PrivateKey: cert.PrivateKey}, {Certificate: [][]byte{[]byte("junk")}, PrivateKey: cert.PrivateKey}} {
		w := serve(p.WithClientCert(bad, up.roots), http.MethodGet, nil, nil, Target{Base: mustURL(t, up.URL), Path: "x", Active: noCredential})
		wantProblem(t, w, http.StatusBadGateway)
	}
	if up.hits.Load() != hits {
		t.Fatal("an unusable certificate reached the upstream")
	}
}

// TestClientCertCacheBounded: the cache keeps the most recently used
// proxies and closes the idle connections of those it drops.
func TestClientCertCacheBounded(t *testing.T) {
	ca := newTestCA(t, "Client CA")
	p, _ := newTestProxy(t, Config{AllowPrivate: true})
	p.certs = newCertCache(2)
	a, b, c := ca.issue(t, "a"), ca.issue(t, "b"), ca.issue(t, "c")
	pa := p.WithClientCert(a, nil)
	pb := p.WithClientCert(b, nil)
	if p.WithClientCert(a, nil) != pa { // a is now the most recent
		t.Fatal("a was not cached")
	}
	p.WithClientCert(c, nil) // drops b
	if n := p.certs.len(); n != 2 {
		t.Fatalf("cache holds %d, want 2", n)
	}
	if p.WithClientCert(a, nil) != pa {
		t.Fatal("a was dropped instead of b")
	}
	if p.WithClientCert(b, nil) == pb {
		t.Fatal("b was not dropped")
	}
	if newCertCache(maxClientCertProxies).max != 256 {
		t.Fatal("default bound is not 256")
	}
}

// TestClientCertConcurrent: concurrent calls with the same material agree
// on one proxy (run with -race).
func TestClientCertConcurrent(t *testing.T) {
	ca := newTestCA(t, "Client CA")
	p, _ := newTestProxy(t, Config{AllowPrivate: true})
	cert := ca.issue(t, "svc")
	var wg sync.WaitGroup
	got := make([]*Proxy, 16)
	for i := range got {
		wg.Go(func() { got[i] = p.WithClientCert(cert, nil) })
	}
	wg.Wait()
	for _, d := range got {
		if d != got[0] {
			t.Fatal("concurrent calls gave different proxies")
		}
	}
}

// TestClientCertCustomTransport: with Config.Transport (tests only), an
// *http.Transport is cloned with the certificate; anything else cannot
// present one and fails.
func TestClientCertCustomTransport(t *testing.T) {
	ca := newTestCA(t, "Client CA")
	up := newMTLSServer(t, ca, nil)
	p, _ := newTestProxy(t, Config{Transport: &http.Transport{}})
	d := p.WithClientCert(ca.issue(t, "svc"), up.roots)
	w := serve(d, http.MethodGet, nil, nil, Target{Base: mustURL(t, up.URL), Path: "x", Active: noCredential})
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}

	q, _ := newTestProxy(t, Config{Transport: http.DefaultTransport.(*http.Transport)})
	if q.WithClientCert(ca.issue(t, "svc"), up.roots).transport == http.DefaultTransport {
		t.Fatal("the shared transport was modified")
	}
	r, _ := newTestProxy(t, Config{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
		t.Fatal("called")
		return nil, nil
	})})
	w = serve(r.WithClientCert(ca.issue(t, "svc"), up.roots), http.MethodGet, nil, nil, Target{Base: mustURL(t, up.URL), Path: "x", Active: noCredential})
	wantProblem(t, w, http.StatusBadGateway)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// noCredential applies nothing: the client certificate is the credential.
var noCredential = CredentialFunc(func(*http.Request) error { return nil })

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func discardLog() *log.Logger { return log.New(io.Discard, "", 0) }
