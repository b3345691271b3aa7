package creds

import (
	"fmt"
	"maps"
	"net/url"
	"slices"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/store"
)

// IntegrationWarnings says what an operator should know about integ the
// moment it is created or changed, although nothing stops it being
// stored: endpoints the egress guard will refuse (so every request to
// them fails until the server allows private upstreams), and an API-key
// integration with no verify request (so saved keys are not checked).
// The texts are fixed apart from config names and the URLs the caller
// gave; they never hold a secret.
func (s *Service) IntegrationWarnings(integ store.Integration) []string {
	var out []string
	eps := s.endpointsOf(integ)
	for _, name := range slices.Sorted(maps.Keys(eps)) {
		if !dialled(name) {
			continue
		}
		u, err := url.Parse(eps[name])
		if err != nil || u.Host == "" || !s.proxy.Refuses(u.Hostname()) {
			continue
		}
		out = append(out, fmt.Sprintf("%s points at %s, an address Storm's egress guard blocks (loopback, private, link-local or reserved): "+
			"verification and every proxied request will fail until the server runs with STORM_ALLOW_PRIVATE_UPSTREAMS=true "+
			"(cloud metadata addresses stay blocked even then)", configName(name), u.Hostname()))
	}
	if integ.AuthMethod == catalog.MethodAPIKey {
		if r, err := s.resolve(integ); err == nil && r.Provider.Verify == nil {
			out = append(out, "no verify request: keys saved to this integration are stored without being checked "+
				"(as with ?verify=false or storm credentials save --no-verify); "+
				"add config.verify ({\"method\":\"GET\",\"path\":\"/me\"}) so Storm checks each key before it becomes active")
		}
	}
	return out
}

// dialled reports whether an endpoint name is a place Storm connects to
// (an audience or resource is only a name inside a token).
func dialled(name string) bool {
	_, leaf := lastDot(name)
	return leaf != "audience" && leaf != "resource"
}

func lastDot(name string) (string, string) {
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '.' {
			return name[:i], name[i+1:]
		}
	}
	return "", name
}

// configName is an endpoint as the API names the field: config.base_url.
func configName(name string) string { return "config." + name }
