package proxy

import (
	"net/netip"
	"strings"
)

// AllowedAddr reports whether the egress guard lets a connection to ip
// through: never a cloud metadata address, and a non-public address
// (ForbiddenAddr) only when allowPrivate is set. Callers use it to refuse
// an obviously forbidden destination early (a URL with an IP literal); the
// guard still checks every address actually dialled.
func AllowedAddr(ip netip.Addr, allowPrivate bool) bool {
	if metadataAddr(ip) {
		return false
	}
	return allowPrivate || !ForbiddenAddr(ip)
}

// Refuses reports whether this proxy's egress guard would refuse a URL's
// host without looking it up: an IP literal the guard blocks, or
// localhost. A name is judged only when it is dialled (it may resolve
// anywhere then). A proxy without the guard (a test transport) refuses
// nothing.
func (p *Proxy) Refuses(host string) bool {
	if p.guard == nil {
		return false
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		host = "127.0.0.1"
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && !p.guard.allowed(ip)
}
