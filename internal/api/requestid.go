package api

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
)

// RequestIDHeader carries a request's id in both directions, so a
// caller's log line and Storm's can be matched.
const RequestIDHeader = "X-Request-Id"

type requestIDKey struct{}

// requestScope is what WithRequestID puts in a request's context: its id
// and, once authenticate admits the request, who sent it. One context
// value and one copy of the request, instead of one of each per
// middleware, on every request.
type requestScope struct {
	id        string
	principal principal
	admitted  bool // principal is set; it never changes after
	// integrationID is the {id} of a request the hot routes took
	// (hot.go): kept here, it costs no path-value map.
	integrationID string
	// recorder is instrument's, kept here: one allocation fewer.
	recorder statusRecorder
}

func scopeFrom(ctx context.Context) *requestScope {
	sc, _ := ctx.Value(requestIDKey{}).(*requestScope)
	return sc
}

// scopeContext is a request's context with its scope: the scope, the
// context value holding it and the X-Request-Id header's value slice in
// one allocation instead of three, on every request.
type scopeContext struct {
	context.Context
	scope  requestScope
	header [1]string // the response's X-Request-Id
}

// Value answers requestIDKey with the scope; other keys go to the
// parent, as context.WithValue's would.
func (c *scopeContext) Value(key any) any {
	if _, ok := key.(requestIDKey); ok {
		return &c.scope
	}
	return c.Context.Value(key)
}

// WithRequestID gives every request an id: the caller's X-Request-Id when
// it is short and plain, else a new one. It is echoed in the response and
// available to handlers via RequestID.
func WithRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !plainID(id) {
			// Unique, not secret: the runtime's generator, a tenth of
			// crypto/rand's cost.
			var b [8]byte
			binary.LittleEndian.PutUint64(b[:], rand.Uint64())
			var buf [20]byte // "req_" and 16 hex digits, on the stack
			id = string(hex.AppendEncode(append(buf[:0], "req_"...), b[:]))
		}
		c := &scopeContext{Context: r.Context(), scope: requestScope{id: id}, header: [1]string{id}}
		w.Header()[RequestIDHeader] = c.header[:] // canonical already
		next.ServeHTTP(w, r.WithContext(c))
	})
}

// RequestID returns the request's id ("" outside WithRequestID).
func RequestID(ctx context.Context) string {
	if sc := scopeFrom(ctx); sc != nil {
		return sc.id
	}
	return ""
}

// plainID accepts ids that are safe to log and echo.
func plainID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
