package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/stormcreds/storm/internal/secret"
)

// Token endpoint authentication methods (RFC 7591 §2).
const (
	AuthMethodNone              = "none"
	AuthMethodClientSecretBasic = "client_secret_basic"
	AuthMethodClientSecretPost  = "client_secret_post"
)

// MaxRegistrationResponse bounds a registration answer.
const MaxRegistrationResponse = 64 << 10

// ClientMetadata is an RFC 7591 §2 registration request.
type ClientMetadata struct {
	RedirectURIs            []string `json:"redirect_uris"`
	GrantTypes              []string `json:"grant_types,omitempty"`
	ResponseTypes           []string `json:"response_types,omitempty"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method,omitempty"`
	ClientName              string   `json:"client_name,omitempty"`
	ClientURI               string   `json:"client_uri,omitempty"`
	Scope                   string   `json:"scope,omitempty"`
	SoftwareID              string   `json:"software_id,omitempty"`
	SoftwareVersion         string   `json:"software_version,omitempty"`
}

// Registration is a client the authorization server issued (RFC 7591
// §3.2.1). Store the secret and the registration access token sealed;
// the type redacts itself.
type Registration struct {
	ClientID     string
	ClientSecret secret.String
	// ClientSecretExpiresAt is zero when the secret does not expire.
	ClientSecretExpiresAt   time.Time
	ClientIDIssuedAt        time.Time
	TokenEndpointAuthMethod string
	RedirectURIs            []string
	GrantTypes              []string
	// RegistrationAccessToken and RegistrationClientURI are for RFC 7592
	// client management, when the server offers it.
	RegistrationAccessToken secret.String
	RegistrationClientURI   string
}

// String redacts.
func (r Registration) String() string { return "oauth.Registration(" + r.ClientID + ", [redacted])" }

// GoString redacts.
func (r Registration) GoString() string { return r.String() }

// LogValue redacts.
func (r Registration) LogValue() slog.Value {
	return slog.GroupValue(slog.String("client_id", r.ClientID), slog.String("token_endpoint_auth_method", r.TokenEndpointAuthMethod))
}

// MarshalJSON writes the non-secret members only.
func (r Registration) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{"client_id": r.ClientID, "token_endpoint_auth_method": r.TokenEndpointAuthMethod,
		"redirect_uris": r.RedirectURIs, "client_secret": "[redacted]"})
}

// RegistrationError is a registration the server refused (RFC 7591
// §3.2.2: error such as invalid_redirect_uri or invalid_client_metadata,
// and error_description) or could not answer. Code and Description are
// the server's, bounded to 200 bytes.
type RegistrationError struct {
	Status      int
	Code        string
	Description string
	// Temporary is true for 5xx, 408, 429 and network errors.
	Temporary bool
	Err       error
}

func (e *RegistrationError) Error() string {
	msg := "oauth register: "
	switch {
	case e.Code != "":
		msg += "the authorization server refused the registration: " + e.Code
		if e.Description != "" {
			msg += " (" + e.Description + ")"
		}
	case e.Description != "":
		msg += e.Description
	case e.Err != nil:
		msg += e.Err.Error()
	default:
		msg += "failed"
	}
	if e.Status != 0 {
		msg += fmt.Sprintf(", HTTP %d", e.Status)
	}
	return msg
}

func (e *RegistrationError) Unwrap() error { return e.Err }

// Register registers a client at endpoint (RFC 7591), through hc.
// initialAccessToken, when not empty, authorizes the registration (§3).
// The answer must carry a client_id, and a client_secret unless the
// client is public (token_endpoint_auth_method none); the method the
// server assigns wins over the one asked for. Failures are
// *RegistrationError.
func Register(ctx context.Context, hc *http.Client, endpoint string, md ClientMetadata, initialAccessToken secret.String) (Registration, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && loopbackHost(u.Hostname()))) || u.User != nil || u.Fragment != "" {
		return Registration{}, &RegistrationError{Description: "the registration endpoint must be an https URL (http only on a loopback address)"}
	}
	if len(md.RedirectURIs) == 0 {
		return Registration{}, &RegistrationError{Description: "a registration needs at least one redirect URI"}
	}
	body, err := json.Marshal(md)
	if err != nil {
		return Registration{}, &RegistrationError{Description: "the client metadata cannot be encoded"}
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return Registration{}, &RegistrationError{Description: "cannot build the registration request"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if initialAccessToken != "" {
		req.Header.Set("Authorization", "Bearer "+initialAccessToken.Reveal())
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return Registration{}, &RegistrationError{Temporary: true, Err: redact(err)}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxRegistrationResponse+1))
	if err != nil {
		return Registration{}, &RegistrationError{Status: resp.StatusCode, Temporary: true, Description: "the answer could not be read"}
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		oe := ErrorFromResponse("register", resp, raw[:min(len(raw), MaxRegistrationResponse)])
		return Registration{}, &RegistrationError{Status: resp.StatusCode, Code: boundText(oe.Code), Description: boundText(oe.Description),
			Temporary: temporaryStatus(resp.StatusCode)}
	}
	if len(raw) > MaxRegistrationResponse {
		return Registration{}, &RegistrationError{Status: resp.StatusCode, Description: fmt.Sprintf("the answer is larger than %d KiB", MaxRegistrationResponse>>10)}
	}
	var ans struct {
		ClientID                string      `json:"client_id"`
		ClientSecret            string      `json:"client_secret"`
		ClientSecretExpiresAt   json.Number `json:"client_secret_expires_at"`
		ClientIDIssuedAt        json.Number `json:"client_id_issued_at"`
		TokenEndpointAuthMethod string      `json:"token_endpoint_auth_method"`
		RedirectURIs            []string    `json:"redirect_uris"`
		GrantTypes              []string    `json:"grant_types"`
		RegistrationAccessToken string      `json:"registration_access_token"`
		RegistrationClientURI   string      `json:"registration_client_uri"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&ans); err != nil {
		return Registration{}, &RegistrationError{Status: resp.StatusCode, Description: "the answer is not a JSON client information response"}
	}
	reg := Registration{
		ClientID: ans.ClientID, ClientSecret: secret.String(ans.ClientSecret), TokenEndpointAuthMethod: ans.TokenEndpointAuthMethod,
		RedirectURIs: ans.RedirectURIs, GrantTypes: ans.GrantTypes,
		RegistrationAccessToken: secret.String(ans.RegistrationAccessToken), RegistrationClientURI: ans.RegistrationClientURI,
	}
	if reg.TokenEndpointAuthMethod == "" {
		reg.TokenEndpointAuthMethod = md.TokenEndpointAuthMethod
		if reg.TokenEndpointAuthMethod == "" {
			reg.TokenEndpointAuthMethod = AuthMethodClientSecretBasic // RFC 7591 §2 default
		}
	}
	if len(reg.RedirectURIs) == 0 {
		reg.RedirectURIs = slices.Clone(md.RedirectURIs)
	}
	reg.ClientSecretExpiresAt = unixOrZero(ans.ClientSecretExpiresAt)
	reg.ClientIDIssuedAt = unixOrZero(ans.ClientIDIssuedAt)
	switch {
	case reg.ClientID == "" || len(reg.ClientID) > 1024:
		return Registration{}, &RegistrationError{Status: resp.StatusCode, Description: "the answer has no usable client_id"}
	case reg.TokenEndpointAuthMethod != AuthMethodNone && reg.ClientSecret == "":
		return Registration{}, &RegistrationError{Status: resp.StatusCode, Description: "the answer has no client_secret for a " + boundText(reg.TokenEndpointAuthMethod) + " client"}
	case !slices.Contains([]string{AuthMethodNone, AuthMethodClientSecretBasic, AuthMethodClientSecretPost}, reg.TokenEndpointAuthMethod):
		return Registration{}, &RegistrationError{Status: resp.StatusCode, Description: "the server assigned token_endpoint_auth_method " + boundText(reg.TokenEndpointAuthMethod) + ", which Storm does not support"}
	}
	for _, r := range md.RedirectURIs {
		if !slices.Contains(reg.RedirectURIs, r) {
			return Registration{}, &RegistrationError{Status: resp.StatusCode, Description: "the server did not register the redirect URI Storm asked for"}
		}
	}
	return reg, nil
}

func unixOrZero(n json.Number) time.Time {
	v, err := n.Int64()
	if err != nil || v <= 0 {
		return time.Time{}
	}
	return time.Unix(v, 0).UTC()
}

// boundText strips control characters and cuts s to 200 bytes.
func boundText(s string) string {
	b := []rune(s)
	out := make([]rune, 0, len(b))
	size := 0
	for _, r := range b {
		if r < 0x20 || r == 0x7f {
			r = ' '
		}
		size += len(string(r))
		if size > 200 {
			return string(out) + "…"
		}
		out = append(out, r)
	}
	return string(out)
}
