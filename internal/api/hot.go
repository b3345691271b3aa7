package api

import (
	"net/http"
	"path"
	"strings"
)

// The routes sync workers call on every request.
const (
	accessPattern = "GET /v1/integrations/{id}/access"
	proxyPattern  = "/v1/integrations/{id}/proxy/{path...}"
)

// hotRoutes serves accessPattern and proxyPattern without ServeMux's
// matching, which was about 2% of a proxied request's CPU. It takes only
// requests whose routing is plain — an unescaped, clean path, an id of
// plain characters, a method the route accepts — and leaves the rest
// (redirects to a clean path, 405s, escapes) to the mux, which stays the
// definition: TestHotRoutesMatchTheMux and FuzzHotRoutesMatchTheMux
// check that every request taken here is one the mux sends to the same
// handler with the same pattern and id.
type hotRoutes struct {
	access, proxy http.Handler // as registered: instrumented, authenticated
}

// route returns the handler for r, with r's pattern set and the id the
// handlers read (routeID) as ServeMux would set them, or nil to leave r
// to the mux. The id goes in the request scope when there is one, not
// in a path value: that costs a map per request. The proxy's "path" is not
// set: the handler reads the escaped path itself.
func (h *hotRoutes) route(r *http.Request) http.Handler {
	if h.access == nil || h.proxy == nil || r.URL.RawPath != "" || r.Method == http.MethodConnect {
		return nil
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/integrations/")
	if !ok {
		return nil
	}
	id, tail, ok := strings.Cut(rest, "/")
	if !ok || !plainSegment(id) {
		return nil
	}
	if tail == "access" {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return nil // the mux answers 405 with Allow
		}
		r.Pattern = accessPattern
		setRouteID(r, id)
		return h.access
	}
	if !strings.HasPrefix(tail, "proxy/") || !isClean(r.URL.Path) {
		return nil
	}
	r.Pattern = proxyPattern
	setRouteID(r, id)
	return h.proxy
}

// plainSegment reports whether s is a non-empty path segment that needs
// no cleaning or unescaping: letters, digits, '_' and '-'.
func plainSegment(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// isClean reports whether ServeMux would leave p as it is: path.Clean
// changes nothing but a trailing slash, which the mux keeps. An absolute
// path without "//" or "/." has no empty or dot segment for Clean to
// remove, so the usual path needs only those two scans; path.Clean
// judges the rest.
func isClean(p string) bool {
	if strings.HasPrefix(p, "/") && !strings.Contains(p, "//") && !strings.Contains(p, "/.") {
		return true
	}
	c := path.Clean(p)
	return c == p || strings.HasSuffix(p, "/") && c == p[:len(p)-1]
}

func setRouteID(r *http.Request, id string) {
	if sc := scopeFrom(r.Context()); sc != nil {
		sc.integrationID = id
		return
	}
	r.SetPathValue("id", id)
}

// routeID returns the {id} of r's route, wherever the router put it.
func routeID(r *http.Request) string {
	if id := r.PathValue("id"); id != "" {
		return id
	}
	if sc := scopeFrom(r.Context()); sc != nil {
		return sc.integrationID
	}
	return ""
}
