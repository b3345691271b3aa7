package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/stormcreds/storm/internal/secret"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/stormcreds/storm/internal/catalog"
)

// ResourceMetadataPath is the RFC 9728 well-known suffix.
const ResourceMetadataPath = "/.well-known/oauth-protected-resource"

// MaxResourceMetadata bounds a protected-resource metadata document.
const MaxResourceMetadata = 64 << 10

// OfflineAccess is the scope that asks for a refresh token where the
// authorization server lists it.
const OfflineAccess = "offline_access"

// ProtectedResourceMetadata is the part of an RFC 9728 document Storm
// uses.
type ProtectedResourceMetadata struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers"`
	ScopesSupported        []string `json:"scopes_supported"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	ResourceName           string   `json:"resource_name"`
}

// ResourceMetadataURL is where RFC 9728 §3.1 puts the metadata of the
// resource identified by resource: the well-known suffix inserted
// between the host and the path (a lone "/" path is dropped), the query
// kept. The resource must be an https URL (http only on a loopback
// host) without userinfo or fragment.
func ResourceMetadataURL(resource string) (string, error) {
	u, err := checkResourceURL(resource)
	if err != nil {
		return "", err
	}
	p := u.EscapedPath()
	if p == "/" {
		p = ""
	}
	out := u.Scheme + "://" + u.Host + ResourceMetadataPath + p
	if u.RawQuery != "" || u.ForceQuery {
		out += "?" + u.RawQuery
	}
	return out, nil
}

// checkResourceURL accepts an https URL, or http on a loopback host
// (RFC 9728 §1.2 wants https; loopback is for local servers and tests),
// without userinfo or fragment. Errors do not quote the URL.
func checkResourceURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		return nil, &Error{Op: "discover", Description: "the resource URL is not an absolute URL"}
	case u.Scheme != "https" && !(u.Scheme == "http" && loopbackHost(u.Hostname())):
		return nil, &Error{Op: "discover", Description: "the resource URL must be https (http only on a loopback address)"}
	case u.User != nil:
		return nil, &Error{Op: "discover", Description: "the resource URL must not contain credentials"}
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return nil, &Error{Op: "discover", Description: "the resource URL must not have a fragment"}
	}
	return u, nil
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// ParseResourceMetadata decodes and checks a protected-resource metadata
// document: resource required and a valid resource URL, at least one
// authorization server (each an issuer URL), scopes that are RFC 6749
// scope tokens. It does not compare resource with anything (see
// Discovery.Resource).
func ParseResourceMetadata(body []byte) (ProtectedResourceMetadata, error) {
	var prm ProtectedResourceMetadata
	bad := func(why string) (ProtectedResourceMetadata, error) {
		return ProtectedResourceMetadata{}, &Error{Op: "discover", Description: "protected-resource metadata: " + why}
	}
	if len(body) > MaxResourceMetadata {
		return bad(fmt.Sprintf("larger than %d KiB", MaxResourceMetadata>>10))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&prm); err != nil {
		return bad("not a JSON object of the RFC 9728 shape")
	}
	if _, err := dec.Token(); err != io.EOF {
		return bad("trailing data after the JSON object")
	}
	if prm.Resource == "" {
		return bad("no resource")
	}
	if _, err := checkResourceURL(prm.Resource); err != nil {
		return bad("resource is not a valid resource URL")
	}
	if len(prm.AuthorizationServers) == 0 {
		return bad("no authorization_servers (the resource names no authorization server)")
	}
	if len(prm.AuthorizationServers) > 16 || len(prm.ScopesSupported) > 256 {
		return bad("too many authorization_servers or scopes_supported")
	}
	for _, as := range prm.AuthorizationServers {
		if _, err := wellKnown(as); err != nil {
			return bad("an authorization server is not an issuer URL")
		}
	}
	for _, sc := range prm.ScopesSupported {
		if !scopeToken(sc) {
			return bad("scopes_supported holds a value that is not a scope")
		}
	}
	return prm, nil
}

// scopeToken is RFC 6749 §3.3: 1*( %x21 / %x23-5B / %x5D-7E ).
func scopeToken(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c == '"' || c == '\\' || c > 0x7e {
			return false
		}
	}
	return true
}

// ResourceAuth is what a client needs to obtain tokens for an
// OAuth-protected resource (a remote MCP server): the resource
// indicator, where its metadata was found, its authorization server's
// metadata and the scopes to ask for.
type ResourceAuth struct {
	// Resource is the metadata's resource: the RFC 8707 indicator sent
	// in authorization and token requests.
	Resource    string
	MetadataURL string
	Metadata    ProtectedResourceMetadata
	// Issuer and Server are the authorization server (the first of
	// authorization_servers) and its RFC 8414 / OIDC metadata.
	Issuer string
	Server Metadata
	// Scopes are the resource's scopes_supported (else the scope of its
	// 401 challenge), plus offline_access when the authorization server
	// lists it, so that tokens can be refreshed.
	Scopes []string
}

// Resource discovers how to obtain tokens for the OAuth-protected
// resource at serverURL, with every request through d.Client:
//
//  1. an unauthenticated GET of serverURL: a 401 whose Bearer challenge
//     has resource_metadata (RFC 9728 §5.1) names the metadata;
//  2. else the metadata at ResourceMetadataURL(serverURL) (§3.1);
//  3. else, when serverURL has a path, the metadata at the host's root
//     well-known URL (where many MCP servers publish it).
//
// Metadata found at 2 must name serverURL exactly as its resource (§3.3).
// At 1 and 3 the resource may also be serverURL's origin or a path prefix
// of it on the same origin (the relaxation of draft-ietf-oauth-
// rfc9728bis, needed by servers that protect a whole origin); never
// another origin. The authorization server's metadata comes from
// d.Lookup (RFC 8414 path insertion, then OIDC discovery; the issuer must
// match). A server that lists PKCE methods without S256, or grant types
// without authorization_code, is refused.
func (d *Discovery) Resource(ctx context.Context, serverURL string) (*ResourceAuth, error) {
	server, err := checkResourceURL(serverURL)
	if err != nil {
		return nil, err
	}
	ra := &ResourceAuth{}
	var challengeScope string

	found := false
	if mdURL, scope, ok := d.probe(ctx, serverURL); ok {
		prm, err := d.fetchResourceMetadata(ctx, mdURL)
		if err != nil {
			return nil, err
		}
		if !resourceCovers(prm.Resource, server) {
			return nil, &Error{Op: "discover", Description: fmt.Sprintf("the metadata named by the resource's 401 is for %s, not for %s", secret.Excerpt(prm.Resource, maxShownCode), serverURL)}
		}
		ra.Metadata, ra.MetadataURL, challengeScope, found = prm, mdURL, scope, true
	}
	if !found {
		mdURL, _ := ResourceMetadataURL(serverURL) // checked above
		prm, err := d.fetchResourceMetadata(ctx, mdURL)
		switch {
		case err == nil:
			if prm.Resource != serverURL {
				return nil, &Error{Op: "discover", Description: fmt.Sprintf("the metadata at %s names resource %s, not %s (RFC 9728 §3.3)", mdURL, secret.Excerpt(prm.Resource, maxShownCode), serverURL)}
			}
			ra.Metadata, ra.MetadataURL, found = prm, mdURL, true
		case !notFound(err):
			return nil, err
		}
	}
	if !found && server.EscapedPath() != "" && server.EscapedPath() != "/" {
		mdURL := server.Scheme + "://" + server.Host + ResourceMetadataPath
		prm, err := d.fetchResourceMetadata(ctx, mdURL)
		switch {
		case err == nil:
			if !resourceCovers(prm.Resource, server) {
				return nil, &Error{Op: "discover", Description: fmt.Sprintf("the metadata at %s names resource %s, which does not cover %s", mdURL, secret.Excerpt(prm.Resource, maxShownCode), serverURL)}
			}
			ra.Metadata, ra.MetadataURL, found = prm, mdURL, true
		case !notFound(err):
			return nil, err
		}
	}
	if !found {
		return nil, &Error{Op: "discover", Description: "the server publishes no protected-resource metadata (RFC 9728): no resource_metadata in a 401 and none at the well-known URLs"}
	}
	ra.Resource = ra.Metadata.Resource

	ra.Issuer = ra.Metadata.AuthorizationServers[0]
	md, err := d.Lookup(ctx, ra.Issuer)
	if err != nil {
		return nil, err
	}
	if len(md.CodeChallengeMethods) > 0 && !slices.Contains(md.CodeChallengeMethods, "S256") {
		return nil, &Error{Op: "discover", Description: "the authorization server does not support PKCE with S256"}
	}
	if len(md.GrantTypesSupported) > 0 && !slices.Contains(md.GrantTypesSupported, "authorization_code") {
		return nil, &Error{Op: "discover", Description: "the authorization server does not support the authorization_code grant"}
	}
	ra.Server = md

	ra.Scopes = slices.Clone(ra.Metadata.ScopesSupported)
	if len(ra.Scopes) == 0 && challengeScope != "" {
		for _, s := range strings.Fields(challengeScope) {
			if scopeToken(s) {
				ra.Scopes = append(ra.Scopes, s)
			}
		}
	}
	if slices.Contains(md.ScopesSupported, OfflineAccess) && !slices.Contains(ra.Scopes, OfflineAccess) {
		ra.Scopes = append(ra.Scopes, OfflineAccess)
	}
	return ra, nil
}

// resourceCovers reports whether resource (from metadata) is server or
// an ancestor of it on the same origin (scheme, host, port).
func resourceCovers(resource string, server *url.URL) bool {
	r, err := checkResourceURL(resource)
	if err != nil || r.RawQuery != "" || !strings.EqualFold(r.Scheme, server.Scheme) || !strings.EqualFold(r.Host, server.Host) {
		return false
	}
	if resource == server.String() {
		return true
	}
	rp := strings.TrimSuffix(r.EscapedPath(), "/")
	sp := server.EscapedPath()
	return rp == "" || sp == rp || strings.HasPrefix(sp, rp+"/")
}

// probe asks the resource without a token and reads the 401's
// resource_metadata. Any failure only means "no answer here".
func (d *Discovery) probe(ctx context.Context, serverURL string) (metadataURL, scope string, ok bool) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, serverURL, nil)
	if err != nil {
		return "", "", false
	}
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := d.client().Do(req)
	if err != nil {
		return "", "", false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusUnauthorized {
		return "", "", false
	}
	mdURL, scope, ok := BearerResourceMetadata(resp.Header)
	if !ok {
		return "", "", false
	}
	if _, err := checkResourceURL(mdURL); err != nil {
		return "", "", false
	}
	return mdURL, scope, true
}

func (d *Discovery) client() *http.Client {
	if d.Client != nil {
		return d.Client
	}
	return http.DefaultClient
}

// fetchResourceMetadata GETs and checks a protected-resource metadata
// document.
func (d *Discovery) fetchResourceMetadata(ctx context.Context, u string) (ProtectedResourceMetadata, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return ProtectedResourceMetadata{}, &Error{Op: "discover", Description: "the metadata URL is not usable"}
	}
	req.Header.Set("Accept", "application/json")
	resp, err := d.client().Do(req)
	if err != nil {
		return ProtectedResourceMetadata{}, classify("discover", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return ProtectedResourceMetadata{}, &Error{Op: "discover", Status: resp.StatusCode, Temporary: temporaryStatus(resp.StatusCode),
			Description: fmt.Sprintf("protected-resource metadata at %s: HTTP %d", u, resp.StatusCode)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResourceMetadata+1))
	if err != nil {
		return ProtectedResourceMetadata{}, classify("discover", err)
	}
	return ParseResourceMetadata(body)
}

func notFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.Status == http.StatusNotFound || e.Status == http.StatusGone)
}

// ClientMetadata is the RFC 7591 registration request for a client of
// this resource's authorization server: the authorization_code and
// refresh_token grants, response type code, the requested scopes, and
// client_secret_basic where the server allows it (its default when it
// lists nothing), else none (a public client; PKCE protects the code),
// else client_secret_post.
func (ra *ResourceAuth) ClientMetadata(redirectURIs []string, clientName string) ClientMetadata {
	method := AuthMethodClientSecretBasic
	if m := ra.Server.TokenEndpointAuthMethods; len(m) > 0 && !slices.Contains(m, AuthMethodClientSecretBasic) {
		switch {
		case slices.Contains(m, AuthMethodNone):
			method = AuthMethodNone
		case slices.Contains(m, AuthMethodClientSecretPost):
			method = AuthMethodClientSecretPost
		}
	}
	return ClientMetadata{
		RedirectURIs:            slices.Clone(redirectURIs),
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
		TokenEndpointAuthMethod: method,
		ClientName:              clientName,
		Scope:                   strings.Join(ra.Scopes, " "),
	}
}

// App is the OAuth client for this resource with a registration (RFC
// 7591, or a client configured by hand): PKCE S256 always, the resource
// indicator in authorization and token requests, the scopes of
// ResourceAuth, the client authentication the registration says.
func (ra *ResourceAuth) App(reg Registration, redirectURL string, hc *http.Client) *App {
	style := "basic"
	if reg.TokenEndpointAuthMethod == AuthMethodNone || reg.TokenEndpointAuthMethod == AuthMethodClientSecretPost {
		style = "post" // a public client sends its client_id in the form
	}
	return &App{
		Def:          catalog.OAuth2{AuthStyle: style, PKCE: true, Scopes: slices.Clone(ra.Scopes), Issuer: ra.Issuer},
		ClientID:     reg.ClientID,
		ClientSecret: reg.ClientSecret,
		RedirectURL:  redirectURL,
		Endpoints: Endpoints{Issuer: ra.Issuer, AuthorizeURL: ra.Server.AuthorizationEndpoint, TokenURL: ra.Server.TokenEndpoint,
			RevokeURL: ra.Server.RevocationEndpoint, IssParameter: ra.Server.AuthorizationResponseIssuer, PKCEMethods: []string{"S256"}},
		HTTPClient: hc,
		Resource:   ra.Resource,
	}
}
