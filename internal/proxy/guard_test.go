package proxy

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

func TestForbiddenAddr(t *testing.T) {
	forbidden := []string{
		// IPv4
		"0.0.0.0", "0.1.2.3", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.254", "100.100.100.200",
		"127.0.0.1", "127.1.2.3", "169.254.0.1", "169.254.169.254", "172.16.0.1", "172.31.255.255",
		"192.0.0.1", "192.0.0.192", "192.0.2.1", "192.88.99.1", "192.168.0.1", "192.168.255.255",
		"198.18.0.1", "198.19.255.255", "198.51.100.7", "203.0.113.9", "224.0.0.1", "239.255.255.250",
		"240.0.0.1", "255.255.255.255",
		// IPv6
		"::", "::1", "fe80::1", "fe80::1%eth0", "febf::1", "fec0::1", "fc00::1", "fd12:3456::1",
		"fd00:ec2::254", "ff02::1", "ff05::2", "100::1", "2001::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2",
		"2001:2::1", "2001:10::1", "2001:db8::1", "3fff::1", "5f00::1", "64:ff9b:1::1", "4000::1",
		// IPv4-mapped, -compatible, NAT64 and 6to4 forms of forbidden IPv4
		"::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::ffff:0.0.0.0", "::ffff:192.168.1.1",
		"::ffff:7f00:1", "::127.0.0.1", "::10.0.0.1",
		"64:ff9b::127.0.0.1", "64:ff9b::a9fe:a9fe", "64:ff9b::10.1.2.3", "64:ff9b::192.168.0.1",
		"2002:7f00:1::", "2002:a00:1::1", "2002:a9fe:a9fe::1", "2002:c0a8:101::1",
	}
	allowed := []string{
		"1.1.1.1", "8.8.8.8", "93.184.216.34", "100.63.255.255", "100.128.0.0", "172.15.255.255",
		"172.32.0.0", "192.167.255.255", "192.169.0.0", "198.17.255.255", "198.20.0.0", "223.255.255.255",
		"11.0.0.1", "169.253.255.255", "169.255.0.0",
		"2606:4700:4700::1111", "2001:4860:4860::8888", "2a00:1450:4001:80b::200e",
		"::ffff:8.8.8.8", "64:ff9b::8.8.8.8", "2002:808:808::1",
	}
	for _, s := range forbidden {
		if !ForbiddenAddr(netip.MustParseAddr(s)) {
			t.Errorf("ForbiddenAddr(%s) = false, want true", s)
		}
	}
	for _, s := range allowed {
		if ForbiddenAddr(netip.MustParseAddr(s)) {
			t.Errorf("ForbiddenAddr(%s) = true, want false", s)
		}
	}
	if !ForbiddenAddr(netip.Addr{}) {
		t.Error("the zero Addr must be forbidden")
	}
}

// TestGuardRefusesLoopback: with private upstreams not allowed, a base URL
// on loopback answers 403 and the server is never contacted.
func TestGuardRefusesLoopback(t *testing.T) {
	up := newUpstream(t, nil)
	p, _ := newTestProxy(t, Config{})
	port := up.base(t, "").Port()
	for _, base := range []string{up.URL, "http://localhost:" + port, "http://[::ffff:127.0.0.1]:" + port, "http://0.0.0.0:" + port} {
		t.Run(base, func(t *testing.T) {
			b, _ := url.Parse(base)
			w := serve(p, http.MethodGet, nil, nil, Target{Base: b, Path: "x", Active: bearer("k")})
			pb := wantProblem(t, w, http.StatusForbidden)
			if d, _ := pb["detail"].(string); strings.Contains(d, "127.0.0.1") {
				t.Errorf("detail reveals the resolved address: %q", d)
			}
			res, err := p.Client().Get(base + "/verify")
			if err == nil {
				res.Body.Close()
			}
			if !errors.Is(err, ErrForbiddenDestination) {
				t.Errorf("Client().Get error = %v, want ErrForbiddenDestination", err)
			}
		})
	}
	if n := up.hits.Load(); n != 0 {
		t.Fatalf("the loopback server received %d requests", n)
	}
}

// TestGuardRefusesRebinding: the check runs on the address being dialled,
// after resolution, so a public-looking name that resolves (or re-resolves)
// to a private address is refused at dial time.
func TestGuardRefusesRebinding(t *testing.T) {
	up := newUpstream(t, nil)
	port := up.base(t, "").Port()
	var lookups atomic.Int64
	resolve := func(_ context.Context, host string) ([]netip.Addr, error) {
		if host != "api.rebind.test" {
			return nil, errors.New("no such host")
		}
		// Each lookup answers differently, as a rebinding DNS server
		// would; only the address being dialled is judged.
		if lookups.Add(1)%2 == 1 {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		}
		return []netip.Addr{netip.MustParseAddr("::ffff:127.0.0.1"), netip.MustParseAddr("127.0.0.1")}, nil
	}
	base, _ := url.Parse("http://api.rebind.test:" + port + "/api")

	p, _ := newTestProxy(t, Config{resolve: resolve})
	for range 2 {
		w := serve(p, http.MethodGet, nil, nil, Target{Base: base, Path: "x", Active: bearer("k")})
		wantProblem(t, w, http.StatusForbidden)
	}
	if lookups.Load() == 0 {
		t.Fatal("the test resolver was not used")
	}
	if n := up.hits.Load(); n != 0 {
		t.Fatalf("the loopback server received %d requests", n)
	}

	// Control: the same name and resolver work when private upstreams are
	// allowed, so the refusal above came from the guard alone.
	allow, _ := newTestProxy(t, Config{AllowPrivate: true, resolve: resolve})
	w := serve(allow, http.MethodGet, nil, nil, Target{Base: base, Path: "x", Active: bearer("k")})
	if w.Code != http.StatusOK {
		t.Fatalf("with AllowPrivate: status %d, body %s", w.Code, w.Body)
	}
	if got := up.last(t); got.Host != "api.rebind.test:"+port || got.RequestURI != "/api/x" {
		t.Fatalf("upstream saw host %q uri %q", got.Host, got.RequestURI)
	}
}

// TestGuardRefusesMetadata: cloud metadata endpoints stay refused even
// when private upstreams are allowed. The guard refuses before connect(2),
// so no packet is sent.
func TestGuardRefusesMetadata(t *testing.T) {
	resolve := func(context.Context, string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("fd00:ec2::254"), netip.MustParseAddr("169.254.169.254")}, nil
	}
	p, _ := newTestProxy(t, Config{AllowPrivate: true, resolve: resolve})
	for _, base := range []string{"http://169.254.169.254", "http://metadata.google.internal", "http://[::ffff:169.254.169.254]"} {
		b, _ := url.Parse(base)
		w := serve(p, http.MethodGet, nil, nil, Target{Base: b, Path: "latest/meta-data/", Active: bearer("k")})
		wantProblem(t, w, http.StatusForbidden)
	}
	g := newGuard(true, nil)
	for _, s := range []string{"169.254.169.254", "::ffff:169.254.169.254", "64:ff9b::a9fe:a9fe", "fd00:ec2::254", "100.100.100.200", "192.0.0.192"} {
		if g.allowed(netip.MustParseAddr(s)) {
			t.Errorf("guard with AllowPrivate allows metadata address %s", s)
		}
	}
	if !g.allowed(netip.MustParseAddr("127.0.0.1")) || !g.allowed(netip.MustParseAddr("10.1.2.3")) {
		t.Error("guard with AllowPrivate refuses a private address")
	}
}

// TestTransportIgnoresEnvProxy: an HTTP(S)_PROXY from the environment would
// hide the real destination from the guard, so it is never used.
func TestTransportIgnoresEnvProxy(t *testing.T) {
	p, _ := newTestProxy(t, Config{})
	tr, ok := p.transport.(*http.Transport)
	if !ok {
		t.Fatalf("transport is %T", p.transport)
	}
	if tr.Proxy != nil {
		t.Fatal("the guarded transport uses a proxy function")
	}
	if p.Client().Transport != p.transport || p.Client().CheckRedirect == nil {
		t.Fatal("Client does not use the guarded transport without redirects")
	}
}
