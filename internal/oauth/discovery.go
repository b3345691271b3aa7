package oauth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/stormcreds/storm/internal/secret"
)

// Metadata is the part of RFC 8414 / OpenID Connect discovery Storm uses.
type Metadata struct {
	Issuer                      string   `json:"issuer"`
	AuthorizationEndpoint       string   `json:"authorization_endpoint"`
	TokenEndpoint               string   `json:"token_endpoint"`
	RevocationEndpoint          string   `json:"revocation_endpoint"`
	CodeChallengeMethods        []string `json:"code_challenge_methods_supported"`
	AuthorizationResponseIssuer bool     `json:"authorization_response_iss_parameter_supported"`
	// Used with protected resources (resource.go): RFC 7591 registration
	// and what the server supports.
	RegistrationEndpoint     string   `json:"registration_endpoint"`
	ScopesSupported          []string `json:"scopes_supported"`
	GrantTypesSupported      []string `json:"grant_types_supported"`
	TokenEndpointAuthMethods []string `json:"token_endpoint_auth_methods_supported"`
}

// Discovery fetches and caches authorization server metadata. It is safe
// for concurrent use.
type Discovery struct {
	Client *http.Client
	TTL    time.Duration // default 1h
	Now    func() time.Time

	mu    sync.Mutex
	cache map[string]cached
}

type cached struct {
	md      Metadata
	fetched time.Time
}

// wellKnown lists where metadata for issuer may be: RFC 8414 inserts the
// well-known segment before the issuer's path; OIDC appends it.
func wellKnown(issuer string) ([]string, error) {
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("oauth: issuer %q is not an http(s) URL without query or fragment", issuer)
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	origin := u.Scheme + "://" + u.Host
	return []string{
		origin + "/.well-known/oauth-authorization-server" + path,
		origin + path + "/.well-known/openid-configuration",
	}, nil
}

// Lookup returns issuer's metadata, fetching it when not cached. The
// metadata's issuer must equal the one asked for exactly (RFC 8414 §3.3),
// so a server cannot speak for another.
func (d *Discovery) Lookup(ctx context.Context, issuer string) (Metadata, error) {
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	ttl := d.TTL
	if ttl == 0 {
		ttl = time.Hour
	}
	d.mu.Lock()
	if c, ok := d.cache[issuer]; ok && now().Sub(c.fetched) < ttl {
		d.mu.Unlock()
		return c.md, nil
	}
	d.mu.Unlock()

	urls, err := wellKnown(issuer)
	if err != nil {
		return Metadata{}, err
	}
	var lastErr error
	for _, u := range urls {
		md, err := d.fetch(ctx, u)
		if err != nil {
			lastErr = err
			continue
		}
		if md.Issuer != issuer {
			return Metadata{}, &Error{Op: "discover", Description: fmt.Sprintf("metadata at %s names issuer %q, not %q", u, secret.Excerpt(md.Issuer, maxShownCode), issuer)}
		}
		if md.AuthorizationEndpoint == "" || md.TokenEndpoint == "" {
			return Metadata{}, &Error{Op: "discover", Description: "metadata lacks authorization_endpoint or token_endpoint"}
		}
		d.mu.Lock()
		if d.cache == nil {
			d.cache = map[string]cached{}
		}
		d.cache[issuer] = cached{md, now()}
		d.mu.Unlock()
		return md, nil
	}
	return Metadata{}, lastErr
}

func (d *Discovery) fetch(ctx context.Context, u string) (Metadata, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Metadata{}, &Error{Op: "discover", Err: err}
	}
	req.Header.Set("Accept", "application/json")
	client := d.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return Metadata{}, classify("discover", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Metadata{}, &Error{Op: "discover", Status: resp.StatusCode, Temporary: temporaryStatus(resp.StatusCode)}
	}
	var md Metadata
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<10)).Decode(&md); err != nil {
		return Metadata{}, &Error{Op: "discover", Description: "metadata is not JSON"}
	}
	return md, nil
}

// Endpoints fills the endpoints for def: its own URLs, completed from
// discovery when it names an issuer.
func (d *Discovery) Endpoints(ctx context.Context, authorizeURL, tokenURL, revokeURL, issuer string) (Endpoints, error) {
	ep := Endpoints{Issuer: issuer, AuthorizeURL: authorizeURL, TokenURL: tokenURL, RevokeURL: revokeURL}
	if issuer == "" {
		return ep, nil
	}
	md, err := d.Lookup(ctx, issuer)
	if err != nil {
		if authorizeURL != "" && tokenURL != "" {
			// The catalog already knows the endpoints; discovery only
			// adds the RFC 9207 flag, so go on without it.
			return ep, nil
		}
		return Endpoints{}, err
	}
	if ep.AuthorizeURL == "" {
		ep.AuthorizeURL = md.AuthorizationEndpoint
	}
	if ep.TokenURL == "" {
		ep.TokenURL = md.TokenEndpoint
	}
	if ep.RevokeURL == "" {
		ep.RevokeURL = md.RevocationEndpoint
	}
	ep.IssParameter = md.AuthorizationResponseIssuer
	ep.PKCEMethods = md.CodeChallengeMethods
	return ep, nil
}
