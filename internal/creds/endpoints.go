package creds

import (
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/store"
)

// Secrets are bound to where they go. A client secret, a token set or a
// key was issued by (or for) an integration's endpoints; once any of them
// changes, Storm keeps none of it for the new ones (shared/API.md
// "Changing where a secret goes"). endpointsOf names those endpoints.

// endpointsOf lists every place integ's secrets are sent: the base URL
// and every authorization, token, revocation and discovery endpoint,
// audience and resource, from the raw config (any base_url, *_url,
// issuer, audience or resource member, at any depth) and from the
// resolved definition (catalog templates expanded, so a changed tenant
// subdomain counts too). Names are config paths ("oauth2.token_url").
func (s *Service) endpointsOf(integ store.Integration) map[string]string {
	out := map[string]string{}
	if cfg, err := decodeConfig(integ.Config); err == nil {
		walkEndpoints(cfg, "", out)
	}
	r, err := s.resolve(integ)
	if err != nil {
		return out
	}
	add := func(name, v string) {
		if v != "" {
			out[name] = v
		}
	}
	if r.BaseURL != nil {
		add("base_url", r.BaseURL.String())
	}
	if o := r.Provider.OAuth2; o != nil {
		add("oauth2.authorize_url", o.AuthorizeURL)
		add("oauth2.token_url", o.TokenURL)
		add("oauth2.refresh_url", o.RefreshURL)
		add("oauth2.revoke_url", o.RevokeURL)
		add("oauth2.issuer", o.Issuer)
	}
	if sa := r.Provider.ServiceAccount; sa != nil {
		add("service_account.token_url", sa.TokenURL)
		add("service_account.audience", sa.Audience)
	}
	// OAuth 1.0a tokens were issued by these endpoints, and a session
	// token by the exchange endpoint (the key or password went there).
	if o := r.Provider.OAuth1; o != nil {
		add("oauth1.request_token_url", o.RequestTokenURL)
		add("oauth1.authorize_url", o.AuthorizeURL)
		add("oauth1.access_token_url", o.AccessTokenURL)
	}
	if e := r.Provider.Exchange; e != nil {
		add("exchange.path", e.Method+" "+e.Path)
	}
	return out
}

func isEndpoint(key string) bool {
	switch key {
	case "base_url", "issuer", "audience", "resource":
		return true
	}
	return strings.HasSuffix(key, "_url")
}

func walkEndpoints(m map[string]any, prefix string, out map[string]string) {
	for k, v := range m {
		switch v := v.(type) {
		case map[string]any:
			walkEndpoints(v, prefix+k+".", out)
		case string:
			if isEndpoint(k) && v != "" {
				out[prefix+k] = v
			}
		}
	}
}

// endpointChange is one moved endpoint, as the audit records it.
type endpointChange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// movedEndpoints compares two endpoint lists.
func movedEndpoints(before, after map[string]string) map[string]endpointChange {
	moved := map[string]endpointChange{}
	for _, name := range slices.Sorted(maps.Keys(before)) {
		if after[name] != before[name] {
			moved[name] = endpointChange{From: before[name], To: after[name]}
		}
	}
	for name, v := range after {
		if _, ok := before[name]; !ok {
			moved[name] = endpointChange{To: v}
		}
	}
	return moved
}

// sameEndpoints refuses to store a secret obtained for was (verified
// against its base URL, issued by its authorization server) when the
// integration now points elsewhere.
func (s *Service) sameEndpoints(was, now store.Integration) error {
	if was.AuthMethod != now.AuthMethod || len(movedEndpoints(s.endpointsOf(was), s.endpointsOf(now))) > 0 {
		return problem.New(http.StatusConflict, "the integration's settings changed meanwhile; nothing was saved, try again")
	}
	return nil
}

// maskedSecrets lists the secret config members that a PATCH sends back
// as Mask ("keep the stored value"), as config paths.
func maskedSecrets(cfg map[string]any) []string {
	var out []string
	for _, path := range secretPaths {
		parent, leaf := lookupParent(cfg, path)
		if parent == nil {
			continue
		}
		if v, _ := parent[leaf].(string); v == Mask {
			out = append(out, "config."+strings.Join(path, "."))
		}
	}
	return out
}

// errSecretBound refuses a kept secret for moved endpoints.
func errSecretBound(field string, moved map[string]endpointChange) error {
	names := slices.Sorted(maps.Keys(moved))
	p := problem.New(http.StatusUnprocessableEntity, "%s changed: re-enter the secret when the endpoint changes", strings.Join(names, ", "))
	p.Errors = []problem.FieldError{{Field: field, Message: "re-enter the secret when the endpoint changes (the stored one is not sent to a new endpoint)"}}
	return p
}
