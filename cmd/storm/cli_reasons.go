package main

import (
	"fmt"
	"strings"

	"github.com/stormcreds/storm/client"
)

// cause says in words why a credential was found not working, from the
// verification reason: what the provider did, and what to do next.
func cause(r client.VerifyResult) string {
	var s string
	switch r.Reason {
	case client.VerifyRejected:
		s = "the provider refused the key"
	case client.VerifyUnreachable:
		s = "the provider could not be reached (DNS, connection, TLS or timeout), so the key was not judged; try again later"
	case client.VerifyBlocked:
		s = "the provider's address is blocked by Storm's egress guard (private, loopback or reserved); " +
			"start the server with STORM_ALLOW_PRIVATE_UPSTREAMS=true to allow private upstreams"
	case client.VerifyNotChecked:
		s = "the integration has no verify request, so the key was not checked"
	case client.VerifyUnexpected:
		s = "the provider gave an unexpected answer"
	default:
		s = strings.TrimSpace(r.Error)
		if s == "" {
			s = "the provider did not accept it"
		}
	}
	if r.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d)", r.Status)
	}
	if m := strings.TrimSpace(r.ProviderMessage); m != "" {
		s += fmt.Sprintf("; the provider said: %q", m)
	}
	return s
}
