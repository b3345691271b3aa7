package oauthtest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// ResourceOptions configures a ProtectedResource; the zero value is a
// sensible default.
type ResourceOptions struct {
	// Path is the resource's path (an MCP server's endpoint); default
	// "/mcp". The resource identifier is the server's URL + Path.
	Path string
	// Scopes are the metadata's scopes_supported; default mcp:read and
	// mcp:write.
	Scopes []string
	// MetadataOnlyInChallenge serves the metadata at a path no
	// well-known rule finds, so only the 401's resource_metadata leads
	// to it.
	MetadataOnlyInChallenge bool
	// RootMetadata serves the metadata at the host's root well-known URL
	// instead of the path-inserted one, and leaves resource_metadata out
	// of 401s (servers that protect a whole origin).
	RootMetadata bool
	// NoChallengeMetadata leaves resource_metadata out of 401s.
	NoChallengeMetadata bool
	// Resource replaces the resource named in the metadata (to test that
	// clients refuse metadata about another resource). The authorization
	// server still knows only the real one.
	Resource string
}

// ProtectedResource is an RFC 9728 protected resource in front of a
// resource that checks tokens: it publishes its metadata, accepts only
// bearer tokens its DCRServer issued for it, and answers 401 with
// WWW-Authenticate: Bearer resource_metadata="…" otherwise. Its methods
// are safe for concurrent use.
type ProtectedResource struct {
	URL         string // the resource identifier: server URL + Path
	Origin      string
	MetadataURL string

	as       *DCRServer
	opts     ResourceOptions
	resource string // what the metadata says

	served, rejected atomic.Int64
}

// NewProtectedResource starts a resource protected by as and registers
// it there; it is closed when the test ends.
func NewProtectedResource(t testing.TB, as *DCRServer, opts ResourceOptions) *ProtectedResource {
	t.Helper()
	if opts.Path == "" {
		opts.Path = "/mcp"
	}
	if opts.Scopes == nil {
		opts.Scopes = []string{"mcp:read", "mcp:write"}
	}
	p := &ProtectedResource{as: as, opts: opts}
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	p.Origin = "http://" + srv.Listener.Addr().String()
	p.URL = p.Origin + opts.Path
	p.resource = p.URL
	if opts.Resource != "" {
		p.resource = opts.Resource
	}
	switch {
	case opts.MetadataOnlyInChallenge:
		p.MetadataURL = p.Origin + "/meta/resource.json"
	case opts.RootMetadata:
		p.MetadataURL = p.Origin + "/.well-known/oauth-protected-resource"
	default:
		p.MetadataURL = p.Origin + "/.well-known/oauth-protected-resource" + opts.Path
	}
	mux.HandleFunc("GET "+strings.TrimPrefix(p.MetadataURL, p.Origin), p.handleMetadata)
	mux.HandleFunc(opts.Path, p.handleResource)
	srv.Start()
	t.Cleanup(srv.Close)
	as.AddResource(p.URL)
	return p
}

// Served and Rejected count resource calls answered 200 and 401.
func (p *ProtectedResource) Served() int64   { return p.served.Load() }
func (p *ProtectedResource) Rejected() int64 { return p.rejected.Load() }

func (p *ProtectedResource) handleMetadata(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"resource":                 p.resource,
		"authorization_servers":    []string{p.as.Issuer},
		"scopes_supported":         p.opts.Scopes,
		"bearer_methods_supported": []string{"header"},
		"resource_name":            "oauthtest protected resource",
	})
}

func (p *ProtectedResource) handleResource(w http.ResponseWriter, r *http.Request) {
	const prefix = "bearer "
	h := r.Header.Get("Authorization")
	tok := ""
	if len(h) > len(prefix) && strings.EqualFold(h[:len(prefix)], prefix) {
		tok = strings.TrimSpace(h[len(prefix):])
	}
	if !p.as.ValidFor(tok, p.URL) {
		p.rejected.Add(1)
		challenge := `Bearer realm="oauthtest"`
		if !p.opts.NoChallengeMetadata && !p.opts.RootMetadata {
			challenge += `, resource_metadata="` + p.MetadataURL + `"`
		}
		challenge += `, scope="` + strings.Join(p.opts.Scopes, " ") + `"`
		if tok != "" {
			challenge += `, error="invalid_token", error_description="the token is invalid, expired, or not for this resource"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
		return
	}
	p.served.Add(1)
	writeJSON(w, http.StatusOK, map[string]any{"jsonrpc": "2.0", "id": 1, "result": map[string]any{"ok": true}})
}
