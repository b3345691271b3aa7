package proxy

import (
	"container/list"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"net/http"
	"sync"
)

// maxClientCertProxies bounds how many client-certificate proxies (each
// with its own transport and idle connections) a Proxy keeps.
const maxClientCertProxies = 256

// WithClientCert returns a Proxy that presents cert as its TLS client
// certificate (mTLS) and verifies upstream servers against rootCAs, or the
// system roots when rootCAs is nil. It shares p's egress guard, timeouts,
// retry-body limit and logger: every address is still checked when dialled,
// no environment proxy is used, redirects are not followed, TLS is at least
// 1.2 and the server's certificate is always verified. Its Client is the
// matching client for verification requests.
//
// Proxies are cached by certificate chain, private key and rootCAs (by
// identity: pass the same *x509.CertPool for the same roots), so repeated
// calls with the same material reuse connections; the least recently used
// of more than 256 is dropped and its idle connections closed. A cert
// without a certificate or private key, or whose key does not match its
// leaf, gives a Proxy whose requests all fail (ServeTarget answers 502, as
// for a credential that cannot be applied) without contacting anyone.
//
// It is safe for concurrent use. Calling it on a derived Proxy replaces the
// certificate and roots; it never adds to them.
func (p *Proxy) WithClientCert(cert tls.Certificate, rootCAs *x509.CertPool) *Proxy {
	fp, err := certFingerprint(p.certs.salt[:], cert)
	if err != nil {
		return p.derive(nil, err)
	}
	key := certKey{fp: fp, roots: rootCAs}
	if d := p.certs.get(key); d != nil {
		return d
	}
	if err := checkClientCert(cert); err != nil {
		return p.derive(nil, err)
	}
	d := p.derive(&tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		// Always present the certificate, as curl and OpenSSL do: crypto/tls
		// alone would send none when the server's list of acceptable CAs
		// does not name its issuer (a list naming only an intermediate, a
		// cross-signed root), and the upstream then fails with a confusing
		// "certificate required".
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil },
		RootCAs:              rootCAs,
	}, nil)
	return p.certs.add(key, d)
}

// derive returns a Proxy like p whose transport uses tc, or, when bad is
// not nil, one whose every request fails with bad.
func (p *Proxy) derive(tc *tls.Config, bad error) *Proxy {
	d := &Proxy{
		timeout:      p.timeout,
		maxRetryBody: p.maxRetryBody,
		log:          p.log,
		guard:        p.guard,
		custom:       p.custom,
		certs:        p.certs,
	}
	switch t, ok := p.custom.(*http.Transport); {
	case bad != nil:
		d.transport = failingTransport{&applyError{bad}}
	case p.guard != nil:
		d.transport = newTransport(p.guard, p.timeout, tc)
	case ok:
		// Config.Transport (tests only): keep it, with tc.
		c := t.Clone()
		c.TLSClientConfig = tc
		d.transport = c
	default:
		d.transport = failingTransport{&applyError{errors.New("proxy: Config.Transport cannot present a client certificate")}}
	}
	d.init()
	return d
}

// failingTransport fails every request without sending it.
type failingTransport struct{ err error }

func (f failingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close()
	}
	return nil, f.err
}

// checkClientCert reports whether cert can be presented: a leaf that
// parses and a private key that signs for it. Errors never carry key
// material.
func checkClientCert(cert tls.Certificate) error {
	if len(cert.Certificate) == 0 {
		return errors.New("proxy: client certificate has no certificate")
	}
	signer, ok := cert.PrivateKey.(crypto.Signer)
	if !ok {
		return errors.New("proxy: client certificate has no usable private key")
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return errors.New("proxy: client certificate cannot be parsed")
	}
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return errors.New("proxy: client certificate's private key does not match its certificate")
	}
	return nil
}

// certFingerprint is a keyed hash of cert's chain and private key: two
// certificates share a cached transport only if both match, so presenting
// someone else's (public) certificate with another key never reaches the
// transport holding the real key. The key is per process, so the value
// says nothing about the private key outside it.
func certFingerprint(salt []byte, cert tls.Certificate) ([32]byte, error) {
	var fp [32]byte
	if cert.PrivateKey == nil {
		return fp, errors.New("proxy: client certificate has no private key")
	}
	der, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return fp, errors.New("proxy: client certificate's private key type is not supported")
	}
	h := hmac.New(sha256.New, salt)
	var n [8]byte
	write := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	write(der)
	clear(der)
	for _, c := range cert.Certificate {
		write(c)
	}
	copy(fp[:], h.Sum(nil))
	return fp, nil
}

// certKey identifies a cached client-certificate proxy.
type certKey struct {
	fp    [32]byte
	roots *x509.CertPool // nil: the system roots
}

// certCache is a bounded LRU of client-certificate proxies.
type certCache struct {
	salt [32]byte

	mu  sync.Mutex
	max int
	ll  *list.List // of *certEntry, most recently used at the front
	m   map[certKey]*list.Element
}

type certEntry struct {
	key certKey
	p   *Proxy
}

func newCertCache(max int) *certCache {
	c := &certCache{max: max, ll: list.New(), m: map[certKey]*list.Element{}}
	rand.Read(c.salt[:])
	return c
}

func (c *certCache) get(k certKey) *Proxy {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*certEntry).p
	}
	return nil
}

// add caches p under k and returns the cached proxy: p, or the one another
// caller added first.
func (c *certCache) add(k certKey, p *Proxy) *Proxy {
	c.mu.Lock()
	if e, ok := c.m[k]; ok {
		c.ll.MoveToFront(e)
		c.mu.Unlock()
		return e.Value.(*certEntry).p
	}
	c.m[k] = c.ll.PushFront(&certEntry{key: k, p: p})
	var evicted []*Proxy
	for c.ll.Len() > c.max {
		e := c.ll.Back()
		ce := c.ll.Remove(e).(*certEntry)
		delete(c.m, ce.key)
		evicted = append(evicted, ce.p)
	}
	c.mu.Unlock()
	for _, old := range evicted {
		// Requests in flight finish; a holder of old can still use it, only
		// without the pooled connections.
		if t, ok := old.transport.(interface{ CloseIdleConnections() }); ok {
			t.CloseIdleConnections()
		}
	}
	return p
}

func (c *certCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
