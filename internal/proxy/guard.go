package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// ErrForbiddenDestination is returned (wrapped) when the egress guard
// refuses to connect to an address: a private, loopback, link-local,
// metadata or otherwise non-public address while private upstreams are not
// allowed, or a cloud metadata address at any time.
var ErrForbiddenDestination = errors.New("proxy: destination address not allowed")

// Dial timeouts; the whole-exchange timeout is Config.Timeout.
const (
	dialTimeout           = 10 * time.Second
	responseHeaderTimeout = 30 * time.Second
)

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// forbidden4 lists IPv4 ranges that are not public unicast destinations
// (RFC 6890 special-purpose registry and friends).
var forbidden4 = mustPrefixes(
	"0.0.0.0/8",       // "this network", incl. the unspecified address
	"10.0.0.0/8",      // RFC 1918
	"100.64.0.0/10",   // CGNAT (RFC 6598), incl. 100.100.100.200 metadata
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local, incl. 169.254.169.254 metadata
	"172.16.0.0/12",   // RFC 1918
	"192.0.0.0/24",    // IETF protocol assignments, incl. 192.0.0.192 metadata
	"192.0.2.0/24",    // TEST-NET-1
	"192.88.99.0/24",  // deprecated 6to4 relay anycast
	"192.168.0.0/16",  // RFC 1918
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // TEST-NET-2
	"203.0.113.0/24",  // TEST-NET-3
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, incl. 255.255.255.255 broadcast
)

var (
	// Only 2000::/3 is allocated global unicast; everything outside it
	// (::/8 incl. IPv4-compatible addresses, 64:ff9b:1::/48, 100::/64,
	// 5f00::/16, fc00::/7, fe80::/10, fec0::/10, ff00::/8 …) is refused,
	// except the two embeddings of IPv4 handled separately below.
	global6 = netip.MustParsePrefix("2000::/3")
	// Non-public ranges inside 2000::/3.
	forbidden6 = mustPrefixes(
		"2001::/23",     // IETF protocol assignments: Teredo, benchmarking, ORCHID
		"2001:db8::/32", // documentation
		"3fff::/20",     // documentation (RFC 9637)
	)
	nat64     = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052 well-known prefix
	sixToFour = netip.MustParsePrefix("2002::/16")    // RFC 3056
)

// metadataAddrs are cloud instance-metadata endpoints. They are refused
// even when private upstreams are allowed: an on-prem service never lives
// there, and reaching one hands out the host's own cloud credentials.
var metadataAddrs = map[netip.Addr]bool{
	netip.MustParseAddr("169.254.169.254"): true, // AWS, GCP, Azure, DigitalOcean…
	netip.MustParseAddr("169.254.169.253"): true, // AWS DNS resolver
	netip.MustParseAddr("169.254.170.2"):   true, // AWS ECS task credentials
	netip.MustParseAddr("169.254.170.23"):  true, // AWS EKS pod identity
	netip.MustParseAddr("100.100.100.200"): true, // Alibaba Cloud
	netip.MustParseAddr("192.0.0.192"):     true, // Oracle Cloud
	netip.MustParseAddr("fd00:ec2::254"):   true, // AWS IMDS over IPv6
	netip.MustParseAddr("fd00:ec2::23"):    true, // AWS EKS pod identity over IPv6
}

// embeddedV4 returns the IPv4 address that an IPv6 address stands for:
// IPv4-mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::a.b.c.d) or 6to4
// (2002:aabb:ccdd::). Connecting to any of them can reach the IPv4 host.
func embeddedV4(ip netip.Addr) (netip.Addr, bool) {
	if !ip.Is6() {
		return netip.Addr{}, false
	}
	b := ip.As16()
	switch {
	case ip.Is4In6():
		return ip.Unmap(), true
	case nat64.Contains(ip):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	}
	return netip.Addr{}, false
}

// ForbiddenAddr reports whether ip is not a public unicast address: loopback,
// private (RFC 1918, ULA fc00::/7), link-local, cloud metadata, unspecified,
// multicast, broadcast, CGNAT, 0.0.0.0/8, documentation and benchmarking
// ranges, reserved space, and IPv4-mapped, NAT64 and 6to4 forms of any of
// these. An invalid address is forbidden. It is safe for concurrent use.
func ForbiddenAddr(ip netip.Addr) bool {
	if !ip.IsValid() {
		return true
	}
	ip = ip.WithZone("")
	if v4, ok := embeddedV4(ip); ok {
		return ForbiddenAddr(v4)
	}
	if ip.Is4() {
		for _, p := range forbidden4 {
			if p.Contains(ip) {
				return true
			}
		}
		return false
	}
	if !global6.Contains(ip) {
		return true
	}
	for _, p := range forbidden6 {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// metadataAddr reports whether ip is (or embeds) a cloud metadata endpoint.
func metadataAddr(ip netip.Addr) bool {
	ip = ip.WithZone("")
	if v4, ok := embeddedV4(ip); ok {
		ip = v4
	}
	return metadataAddrs[ip]
}

// guard decides, at connect time, whether an address may be dialled.
type guard struct {
	allowPrivate bool
	dialer       *net.Dialer
	// resolve, when set (tests only), replaces DNS so a test can make a
	// name resolve to any address; the dial-time check still applies.
	resolve func(ctx context.Context, host string) ([]netip.Addr, error)
}

func newGuard(allowPrivate bool, resolve func(context.Context, string) ([]netip.Addr, error)) *guard {
	g := &guard{allowPrivate: allowPrivate, resolve: resolve}
	g.dialer = &net.Dialer{
		Timeout:        dialTimeout,
		KeepAlive:      30 * time.Second,
		ControlContext: g.control,
	}
	return g
}

// allowed reports whether the guard lets a connection to ip through.
func (g *guard) allowed(ip netip.Addr) bool {
	if metadataAddr(ip) {
		return false
	}
	return g.allowPrivate || !ForbiddenAddr(ip)
}

// control runs after DNS resolution, just before connect(2), on the
// address actually being dialled, so a name that re-resolves to a private
// address between a check and the connection (DNS rebinding) is still
// refused.
func (g *guard) control(_ context.Context, network, address string, _ syscall.RawConn) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return fmt.Errorf("%w: network %q", ErrForbiddenDestination, network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: unparsable address", ErrForbiddenDestination)
	}
	if !g.allowed(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrForbiddenDestination, ap.Addr().WithZone(""))
	}
	return nil
}

// dialContext is the transport's dialer.
func (g *guard) dialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if g.resolve == nil {
		return g.dialer.DialContext(ctx, network, address)
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	ips, err := g.resolve(ctx, host)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	var first error
	for _, ip := range ips {
		c, err := g.dialer.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
	}
	if first == nil {
		first = &net.OpError{Op: "dial", Net: network, Err: errors.New("no addresses")}
	}
	return nil, first
}
