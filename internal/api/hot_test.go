package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// routingTable returns a ServeMux holding every route the API registers
// and hotRoutes, all of whose handlers answer with the pattern and the
// path values they were given.
func routingTable(t testing.TB) (*http.ServeMux, *hotRoutes) {
	t.Helper()
	s := &Server{mux: http.NewServeMux(), metrics: newMetrics(prometheus.NewRegistry())}
	s.register()
	if s.hot.access == nil || s.hot.proxy == nil {
		t.Fatal("register did not set the hot routes")
	}
	mux := http.NewServeMux()
	for _, rt := range s.Routes() {
		p := rt.Pattern
		if rt.Method != "" {
			p = rt.Method + " " + p
		}
		mux.Handle(p, echoRoute(p))
	}
	mux.Handle("/v1/", echoRoute("/v1/")) // register's catch-alls
	mux.Handle("/oauth/", echoRoute("/oauth/"))
	return mux, &hotRoutes{access: echoRoute(accessPattern), proxy: echoRoute(proxyPattern)}
}

func echoRoute(pattern string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s|%s|%q", pattern, r.Pattern, routeID(r)) // what the handlers read
	})
}

// compareRoute serves method target through the mux and, if hot takes
// it, through hot — in a request scope, as WithRequestID gives every
// request, when scoped; it fails the test when the answers differ, and
// reports whether hot took it.
func compareRoute(t *testing.T, mux *http.ServeMux, hot *hotRoutes, method, target string, scoped bool) bool {
	t.Helper()
	req := func() *http.Request {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return nil
		}
		return &http.Request{Method: method, URL: u, Host: "storm.test", Header: http.Header{}, RequestURI: target}
	}
	r := req()
	if r == nil {
		return false
	}
	if scoped {
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, &requestScope{id: "req_test"}))
	}
	h := hot.route(r)
	if h == nil {
		return false
	}
	fast := httptest.NewRecorder()
	h.ServeHTTP(fast, r)
	slow := httptest.NewRecorder()
	mux.ServeHTTP(slow, req())
	if fast.Code != slow.Code || fast.Body.String() != slow.Body.String() {
		t.Fatalf("%s %s: hot route answered %d %q, the mux %d %q", method, target, fast.Code, fast.Body, slow.Code, slow.Body)
	}
	return true
}

// TestHotRoutesMatchTheMux: the requests the hot routes take are routed
// as ServeMux routes them, to the same handler with the same pattern and
// id, and the hot routes take the usual ones.
func TestHotRoutesMatchTheMux(t *testing.T) {
	mux, hot := routingTable(t)
	for _, c := range []struct {
		method, target string
		taken          bool
	}{
		{"GET", "/v1/integrations/int_1/access", true},
		{"HEAD", "/v1/integrations/int_1/access", true},
		{"GET", "/v1/integrations/int_1/proxy/a/b?q=1", true},
		{"POST", "/v1/integrations/int_1/proxy/a/b", true},
		{"DELETE", "/v1/integrations/Int-1/proxy/a", true},
		{"GET", "/v1/integrations/int_1/proxy/", true},
		{"GET", "/v1/integrations/int_1/proxy/a/", true},
		{"POST", "/v1/integrations/int_1/access", false},      // 405 with Allow
		{"GET", "/v1/integrations/int_1/proxy", false},        // the base URL route
		{"GET", "/v1/integrations/int_1/proxy/a//b", false},   // redirected
		{"GET", "/v1/integrations/int_1/proxy/a/../b", false}, // redirected
		{"GET", "/v1/integrations/int_1/proxy/./b", false},
		{"GET", "/v1/integrations/int_1/proxy/a/.", false},
		{"GET", "/v1/integrations/int_1/proxy/.well-known/x", true}, // "/." yet clean
		{"GET", "/v1/integrations/int_1/proxy/a/..b/", true},
		{"GET", "/v1/integrations/int_1/proxy/a%2Fb", false}, // escaped
		{"GET", "/v1/integrations/int.1/access", false},
		{"GET", "/v1/integrations//access", false},
		{"GET", "/v1/integrations/int_1/access/", false},
		{"GET", "/v1/integrations/int_1/credentials", false},
		{"CONNECT", "/v1/integrations/int_1/proxy/a", false},
	} {
		for _, scoped := range []bool{true, false} {
			if got := compareRoute(t, mux, hot, c.method, c.target, scoped); got != c.taken {
				t.Errorf("%s %s (scoped %v): taken by the hot routes %v, want %v", c.method, c.target, scoped, got, c.taken)
			}
		}
	}
}

// FuzzHotRoutesMatchTheMux: whatever the method and path, a request the
// hot routes take gets the answer the mux gives.
func FuzzHotRoutesMatchTheMux(f *testing.F) {
	methods := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "get"}
	for _, p := range []string{"/v1/integrations/int_1/access", "/v1/integrations/int_1/proxy/a/b", "/v1/integrations/x/proxy/a/../b", "/v1/integrations/x/proxy/%2e%2e/b"} {
		f.Add(uint8(0), p, true)
		f.Add(uint8(2), p, false)
	}
	mux, hot := routingTable(f)
	f.Fuzz(func(t *testing.T, m uint8, target string, scoped bool) {
		compareRoute(t, mux, hot, methods[int(m)%len(methods)], target, scoped)
	})
}

// TestScopeContext: the scope is found through contexts derived from a
// request's, other values pass through to the parent, and cancelling
// the parent (the caller went away) reaches the derived ones.
func TestScopeContext(t *testing.T) {
	type otherKey struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), otherKey{}, "v"))
	c := &scopeContext{Context: parent, scope: requestScope{id: "req_1"}}
	child, stop := context.WithTimeout(context.WithValue(c, otherKey{}, "w"), time.Minute)
	defer stop()
	if sc := scopeFrom(child); sc != &c.scope || RequestID(child) != "req_1" {
		t.Fatalf("scope through derived contexts: %p, want %p", sc, &c.scope)
	}
	if c.Value(otherKey{}) != "v" || child.Value(otherKey{}) != "w" {
		t.Fatal("other values do not pass through")
	}
	cancel()
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("cancelling the request's context did not reach a derived one")
	}
}
