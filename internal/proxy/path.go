package proxy

import (
	"errors"
	"net/url"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrBadPath is returned (wrapped) by JoinPath when the caller's path or
// query could take the request outside the base URL, or is malformed.
var ErrBadPath = errors.New("proxy: path not allowed")

// ErrBadBase is returned (wrapped) by JoinPath when the base URL itself is
// unusable: not absolute http(s), has user info, a fragment, or an unsafe path.
var ErrBadBase = errors.New("proxy: invalid base URL")

// Limits on what a caller may send. The path limit is far above any real API
// path and well below server header limits.
const (
	maxPathLen  = 8 << 10
	maxQueryLen = 32 << 10
)

// pathError says why a path was refused; the reason is safe to show to the
// caller (it never quotes the path).
type pathError struct {
	sentinel error
	reason   string
}

func (e *pathError) Error() string        { return e.sentinel.Error() + ": " + e.reason }
func (e *pathError) Is(target error) bool { return target == e.sentinel }

func badPath(reason string) error { return &pathError{ErrBadPath, reason} }
func badBase(reason string) error { return &pathError{ErrBadBase, reason} }

// schemes that, as a path's first segment ("http:…"), show an attempt to
// pass an absolute URL. Other colons stay allowed: Google-style custom
// methods ("projects:search") put one in the first segment.
var urlSchemes = map[string]bool{
	"http": true, "https": true, "ws": true, "wss": true, "ftp": true,
	"file": true, "gopher": true, "data": true, "javascript": true,
	"ldap": true, "dict": true, "jar": true, "netdoc": true, "mailto": true,
}

// lookalike reports runes that Unicode compatibility normalization (NFKC),
// or "best fit" code-page conversion on some servers, turns into a URL
// delimiter (. / \ : @ ? # % ;). An upstream that normalizes would otherwise
// see "..／admin" as "../admin".
func lookalike(r rune) bool {
	switch r {
	case '\uFF0E', '\uFE52', '\u2024', '\u2025', '\u2026', // dots
		'\uFF0F', '\u2215', '\u2044', '\u29F8', // slashes
		'\uFF3C', '\uFE68', '\u29F5', // backslashes
		'\uFF1A', '\uFE55', '\uFE13', // colons
		'\uFF20', '\uFE6B', // at signs
		'\uFF1F', '\uFE56', '\uFE16', // question marks
		'\uFF03', '\uFE5F', // number signs
		'\uFF05', '\uFE6A', // percent signs
		'\uFF1B', '\uFE54', '\uFE14': // semicolons
		return true
	}
	return false
}

// rawPathByte reports whether b may appear unescaped in an escaped path,
// matching what url.URL.EscapedPath produces.
func rawPathByte(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	switch b {
	case '-', '.', '_', '~', // unreserved
		'!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', // sub-delims
		':', '@', '[', ']', '/', '%':
		return true
	}
	return false
}

// checkPath validates a caller's escaped, relative path (what follows
// "/proxy/"). It is deliberately stricter than RFC 3986: anything that some
// server between here and the upstream might read as leaving the current
// directory is refused rather than normalized.
func checkPath(raw string) error {
	if len(raw) > maxPathLen {
		return badPath("path is too long")
	}
	if raw == "" {
		return nil
	}
	for i := 0; i < len(raw); i++ {
		if !rawPathByte(raw[i]) {
			return badPath("path contains a character that must be percent-encoded (such as a backslash, space, '?', '#' or a control character)")
		}
	}
	if raw[0] == '/' {
		return badPath("path must be relative to the integration's base URL")
	}
	lower := strings.ToLower(raw)
	if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") {
		return badPath("path contains an encoded slash or backslash")
	}
	dec, err := url.PathUnescape(raw)
	if err != nil {
		return badPath("path has malformed percent-encoding")
	}
	if !utf8.ValidString(dec) {
		return badPath("path is not valid UTF-8 once decoded")
	}
	for _, r := range dec {
		switch {
		case unicode.IsControl(r), r == '\u2028', r == '\u2029':
			return badPath("path contains a control character")
		case r == '\\':
			return badPath("path contains a backslash")
		case lookalike(r):
			return badPath("path contains a look-alike of a URL delimiter")
		}
	}
	// Segment by segment, without splitting into a slice: this runs on
	// every proxied request.
	for rest, more := dec, true; more; {
		var seg string
		seg, rest, more = strings.Cut(rest, "/")
		if seg == "" {
			if !more { // trailing slash
				break
			}
			return badPath("path contains an empty segment ('//')")
		}
		// Servlet containers drop ";params" before resolving dot segments
		// ("..;/"), so judge the name in front of them.
		name, _, _ := strings.Cut(seg, ";")
		if name == "" {
			return badPath("path contains a segment with no name before ';'")
		}
		if strings.Trim(name, ". \u3002\uFF61") == "" {
			// ".", "..", "...", ". ." (Windows trims trailing dots and
			// spaces), ideographic full stops, blanks.
			return badPath("path contains a dot or blank segment")
		}
	}
	first, _, _ := strings.Cut(dec, "/")
	if strings.Contains(first, "@") {
		return badPath("path's first segment contains '@'")
	}
	if scheme, _, ok := strings.Cut(first, ":"); ok && urlSchemes[strings.ToLower(scheme)] {
		return badPath("path looks like an absolute URL")
	}
	return nil
}

// checkQuery refuses query strings that cannot be forwarded verbatim on a
// request line.
func checkQuery(raw string) error {
	if len(raw) > maxQueryLen {
		return badPath("query is too long")
	}
	for i := 0; i < len(raw); i++ {
		if b := raw[i]; b <= ' ' || b == 0x7f || b == '#' {
			return badPath("query contains a character that must be percent-encoded")
		}
	}
	return nil
}

// basePrefix returns base's escaped path without trailing slashes, after
// checking that base is an absolute http(s) URL fit to be a proxy origin.
func basePrefix(base *url.URL) (string, error) {
	if base == nil {
		return "", badBase("missing")
	}
	if !strings.EqualFold(base.Scheme, "http") && !strings.EqualFold(base.Scheme, "https") {
		return "", badBase("scheme must be http or https")
	}
	if base.Opaque != "" || base.Host == "" || base.Hostname() == "" {
		return "", badBase("must be an absolute URL with a host")
	}
	if base.User != nil {
		return "", badBase("must not contain user info")
	}
	if base.Fragment != "" || base.RawFragment != "" {
		return "", badBase("must not contain a fragment")
	}
	if err := checkQuery(base.RawQuery); err != nil {
		return "", badBase("query is not forwardable")
	}
	prefix := strings.TrimRight(base.EscapedPath(), "/")
	if prefix != "" {
		if prefix[0] != '/' {
			return "", badBase("path must be absolute")
		}
		if err := checkPath(prefix[1:]); err != nil {
			return "", badBase("path is not a plain path prefix")
		}
	}
	return prefix, nil
}

// JoinPath returns the URL a proxied request goes to: base's scheme and host,
// base's path, "/", then path (the caller's escaped path after "/proxy/",
// as taken from url.URL.EscapedPath, without a leading slash). The query is
// base's query (if any) followed by rawQuery. The host always comes from
// base. Paths that could resolve outside base's path prefix — dot segments
// in any encoding, encoded slashes or backslashes, control characters,
// empty segments, absolute or scheme-relative URLs, '@' in the first
// segment — are refused with an error wrapping ErrBadPath; a bad base gives
// an error wrapping ErrBadBase. Percent-escapes are decoded once for
// checking and forwarded as given, so "%252e" reaches the upstream as
// "%252e". Errors never quote the path.
func JoinPath(base *url.URL, p, rawQuery string) (*url.URL, error) {
	u := new(url.URL)
	if _, err := joinInto(u, base, p, rawQuery); err != nil {
		return nil, err
	}
	return u, nil
}

// joinInto is JoinPath writing the URL to u, and returning base's
// escaped path prefix (basePrefix).
func joinInto(u *url.URL, base *url.URL, p, rawQuery string) (string, error) {
	prefix, err := basePrefix(base)
	if err != nil {
		return "", err
	}
	if err := checkPath(p); err != nil {
		return "", err
	}
	if err := checkQuery(rawQuery); err != nil {
		return "", err
	}
	escaped := prefix + "/" + p
	dec, err := url.PathUnescape(escaped)
	if err != nil {
		return "", badPath("path has malformed percent-encoding")
	}
	// Belt and braces: whatever the checks above missed, the cleaned path
	// must still be inside the base prefix.
	decPrefix, err := url.PathUnescape(prefix)
	if err != nil {
		return "", badBase("path has malformed percent-encoding")
	}
	if clean, cleanPrefix := path.Clean(dec), path.Clean("/"+decPrefix); clean != cleanPrefix &&
		!strings.HasPrefix(clean, strings.TrimSuffix(cleanPrefix, "/")+"/") {
		return "", badPath("path resolves outside the integration's base URL")
	}
	q := rawQuery
	if base.RawQuery != "" {
		q = base.RawQuery
		if rawQuery != "" {
			q += "&" + rawQuery
		}
	}
	*u = url.URL{
		Scheme:   strings.ToLower(base.Scheme),
		Host:     base.Host,
		Path:     dec,
		RawPath:  escaped,
		RawQuery: q,
	}
	return prefix, nil
}

// originOf returns scheme://host[:port] with the default port made explicit
// and the host lower-cased, for same-origin comparisons.
func originOf(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	return scheme + "://" + strings.ToLower(u.Hostname()) + ":" + port
}

// logURL is what may be logged about an upstream request: scheme, host and
// path, never the query (a credential may live there) or user info.
func logURL(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String()
}
