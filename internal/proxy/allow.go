package proxy

import "net/netip"

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
