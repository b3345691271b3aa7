package oauth1

import (
	"errors"
	"net/url"
	"strings"
)

// BaseStringURI is RFC 5849 §3.4.1.2: the scheme and host of u in lower
// case, the port only when it is not the scheme's default (80 for http,
// 443 for https), and u's path as it goes on the wire (escaped, "/" when
// empty), without query or fragment. host, when not empty, is the Host
// header the request carries and replaces u's host (the two must agree
// for the server to compute the same string).
func BaseStringURI(u *url.URL, host string) (string, error) {
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", errors.New("oauth1: the request URL must be http or https")
	}
	if u.Opaque != "" {
		return "", errors.New("oauth1: the request URL must not be opaque")
	}
	if host == "" {
		host = u.Host
	}
	if host == "" {
		return "", errors.New("oauth1: the request URL has no host")
	}
	host = strings.ToLower(host)
	if name, port, ok := splitPort(host); ok {
		if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
			host = name
		}
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return scheme + "://" + host + path, nil
}

// splitPort splits "host:port" and "[v6]:port"; ok is false without a port.
func splitPort(hostport string) (host, port string, ok bool) {
	i := strings.LastIndexByte(hostport, ':')
	if i < 0 || strings.LastIndexByte(hostport, ']') > i {
		return hostport, "", false
	}
	return hostport[:i], hostport[i+1:], true
}

// BaseString is the signature base string of RFC 5849 §3.4.1.1: the
// method in upper case, the base string URI (BaseStringURI) and the
// normalized parameters (Normalize), each encoded and joined with "&".
// params are every parameter of the request (query, form body and the
// oauth_* protocol parameters) except oauth_signature and realm.
func BaseString(method, baseURI string, params []Param) string {
	return Encode(strings.ToUpper(method)) + "&" + Encode(baseURI) + "&" + Encode(Normalize(params))
}
