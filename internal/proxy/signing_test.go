package proxy

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// bodySigner records what Apply could read of the body without consuming it.
type bodySigner struct {
	got     chan string // the body read through GetBody, or "<streamed>"
	signs   bool
	setHost string
}

func (b *bodySigner) SignsBody() bool { return b.signs }

func (b *bodySigner) Apply(r *http.Request) error {
	if b.setHost != "" {
		r.Host = b.setHost
	}
	if r.GetBody == nil {
		b.got <- "<streamed>"
		return nil
	}
	rc, err := r.GetBody()
	if err != nil {
		return err
	}
	defer rc.Close()
	s, err := io.ReadAll(rc)
	b.got <- string(s)
	return err
}

// TestBodySignerBuffered: a credential that signs the body gets it through
// GetBody even without a Fallback, up to MaxRetryBody; larger bodies, and
// credentials that do not sign bodies, are streamed. The upstream always
// gets the whole body.
func TestBodySignerBuffered(t *testing.T) {
	up := newUpstream(t, nil)
	p, _ := newTestProxy(t, Config{AllowPrivate: true, MaxRetryBody: 16})
	for _, tc := range []struct {
		name, body string
		signs      bool
		want       string
	}{
		{"small body", "hello", true, "hello"},
		{"body over the limit", strings.Repeat("x", 17), true, "<streamed>"},
		{"credential not signing bodies", "hello", false, "<streamed>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &bodySigner{got: make(chan string, 1), signs: tc.signs}
			w := serve(p, http.MethodPost, strings.NewReader(tc.body), nil, Target{Base: up.base(t, ""), Path: "x", Active: c})
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if got := <-c.got; got != tc.want {
				t.Errorf("Apply read %q, want %q", got, tc.want)
			}
			if got := string(up.last(t).Body); got != tc.body {
				t.Errorf("upstream got %q, want %q", got, tc.body)
			}
		})
	}
}

// TestCredentialHostDefaultPort: a credential may write the Host header
// without the URL's explicit default port (as the AWS signer does), but not
// name another host.
func TestCredentialHostDefaultPort(t *testing.T) {
	var hosts []string
	p, _ := newTestProxy(t, Config{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		hosts = append(hosts, r.Host)
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Header: http.Header{}, Request: r}, nil
	})})
	for _, tc := range []struct {
		base, host string
		status     int
	}{
		{"https://api.example:443/v1", "api.example", http.StatusOK},
		{"http://api.example:80", "API.example", http.StatusOK},
		{"https://api.example:8443", "api.example", http.StatusInternalServerError},
		{"https://api.example:443", "other.example", http.StatusInternalServerError},
		{"http://api.example:443", "api.example", http.StatusInternalServerError},
	} {
		base, _ := url.Parse(tc.base)
		c := &bodySigner{got: make(chan string, 1), setHost: tc.host}
		w := serve(p, http.MethodGet, nil, nil, Target{Base: base, Path: "x", Active: c})
		if w.Code != tc.status {
			t.Errorf("%s with Host %s: status %d, want %d", tc.base, tc.host, w.Code, tc.status)
		}
	}
	if len(hosts) != 2 {
		t.Fatalf("%d requests sent, want 2", len(hosts))
	}
}
