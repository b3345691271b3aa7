package catalog

import "time"

// Auth methods an integration can use.
const (
	MethodAPIKey         = "api_key"
	MethodOAuth2         = "oauth2"
	MethodServiceAccount = "service_account"
)

// Where an API key goes on a request.
const (
	InHeader = "header"
	InQuery  = "query"
	InBasic  = "basic"
)

// Custom is the provider that takes every setting from the integration's
// config.
const Custom = "custom"

// Provider is one catalog entry: where a service's API lives and how each
// supported auth method applies to it. It never holds a secret.
//
// String fields marked "template" may contain {name} placeholders, filled
// from the integration's config fields (declared in Config) and, for API
// key settings, {key} for the key itself.
type Provider struct {
	Name        string   `yaml:"name" json:"name"`
	DisplayName string   `yaml:"display_name" json:"display_name"`
	DocsURL     string   `yaml:"docs_url" json:"docs_url"`
	BaseURL     string   `yaml:"base_url" json:"base_url"` // template
	AuthMethods []string `yaml:"auth_methods" json:"auth_methods"`
	Categories  []string `yaml:"categories,omitempty" json:"categories,omitempty"`
	// Config declares the non-secret settings a user supplies (a
	// subdomain, an account id, the e-mail address of a basic-auth user).
	Config         []ConfigField   `yaml:"config,omitempty" json:"config,omitempty"`
	APIKey         *APIKey         `yaml:"api_key,omitempty" json:"api_key,omitempty"`
	Verify         *Verify         `yaml:"verify,omitempty" json:"verify,omitempty"`
	OAuth2         *OAuth2         `yaml:"oauth2,omitempty" json:"oauth2,omitempty"`
	ServiceAccount *ServiceAccount `yaml:"service_account,omitempty" json:"service_account,omitempty"`
}

// ConfigField is one non-secret setting of an integration.
type ConfigField struct {
	Name     string `yaml:"name" json:"name"`
	Label    string `yaml:"label" json:"label"`
	Help     string `yaml:"help,omitempty" json:"help,omitempty"`
	Required bool   `yaml:"required,omitempty" json:"required,omitempty"`
	Default  string `yaml:"default,omitempty" json:"default,omitempty"`
	// Pattern is a regular expression the whole value must match. Fields
	// used in base_url must have one that keeps the URL on the provider's
	// domain (for example ^[a-z0-9-]+$ for a subdomain).
	Pattern string `yaml:"pattern,omitempty" json:"pattern,omitempty"`
}

// APIKey says how an API key is applied to a request.
type APIKey struct {
	In     string `yaml:"in" json:"in"`                             // header|query|basic
	Name   string `yaml:"name,omitempty" json:"name,omitempty"`     // header or query parameter
	Prefix string `yaml:"prefix,omitempty" json:"prefix,omitempty"` // e.g. "Bearer "
	// Username and Password are templates for basic auth; Password
	// defaults to "{key}", or to "" when Username already holds {key}
	// (APIs such as Close that take the key as the user name).
	Username string `yaml:"username,omitempty" json:"username,omitempty"`
	Password string `yaml:"password,omitempty" json:"password,omitempty"`
	// Headers are extra headers (templates) sent with every request, for
	// example an API version or an application id.
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	// Query holds extra query parameters (templates) sent with every
	// request, for APIs such as Trello's that want an application key next
	// to the user's token. Added to the original schema.
	Query map[string]string `yaml:"query,omitempty" json:"query,omitempty"`
	// Label is what the provider calls the key ("Secret key").
	Label string `yaml:"label,omitempty" json:"label,omitempty"`
}

// Verify is a cheap authenticated request that succeeds only with a
// working credential.
type Verify struct {
	Method string `yaml:"method" json:"method"`
	Path   string `yaml:"path" json:"path"` // template, relative to base_url
	// Expect lists the statuses that mean "the credential works";
	// empty means any 2xx.
	Expect []int `yaml:"expect,omitempty" json:"expect,omitempty"`
	// Body is sent, as application/json, with a POST verify request: the
	// GraphQL-only APIs (Linear, monday.com, New Relic) have no GET to
	// check a key with. It is not a template. Added to the original schema.
	Body string `yaml:"body,omitempty" json:"body,omitempty"`
}

// OAuth2 describes a provider's OAuth 2.0 authorization server and its
// quirks.
//
// Endpoints: AuthorizeURL and TokenURL, or Issuer alone (the endpoints then
// come from RFC 8414 / OIDC discovery). When both are given the endpoints
// win and Issuer is the value the server puts in its metadata, ID tokens
// and RFC 9207 "iss" responses, byte for byte (Auth0's ends in "/"); it is
// left out where no single value holds, such as Microsoft's "common"
// tenant, whose metadata names the placeholder "{tenantid}".
type OAuth2 struct {
	AuthorizeURL string `yaml:"authorize_url,omitempty" json:"authorize_url,omitempty"` // template
	TokenURL     string `yaml:"token_url,omitempty" json:"token_url,omitempty"`         // template
	// RevokeURL is an RFC 7009 revocation endpoint (a form POST of token
	// and token_type_hint, client authenticated as AuthStyle says).
	// Providers whose revocation takes another shape leave it empty.
	RevokeURL string   `yaml:"revoke_url,omitempty" json:"revoke_url,omitempty"` // template
	Issuer    string   `yaml:"issuer,omitempty" json:"issuer,omitempty"`         // template; RFC 8414 / OIDC discovery
	Scopes    []string `yaml:"scopes,omitempty" json:"scopes,omitempty"`
	// ScopeSeparator joins scopes; default " ".
	ScopeSeparator string `yaml:"scope_separator,omitempty" json:"scope_separator,omitempty"`
	// AuthStyle is how the client authenticates at the token endpoint:
	// "basic" (HTTP Basic) or "post" (form fields). Always explicit.
	AuthStyle string `yaml:"auth_style,omitempty" json:"auth_style,omitempty"`
	PKCE      bool   `yaml:"pkce,omitempty" json:"pkce,omitempty"`
	// ExtraAuthorizeParams and ExtraTokenParams are sent as they are
	// (not templates); they can never replace a parameter the OAuth
	// client owns (client_id, redirect_uri, state, scope, PKCE…).
	ExtraAuthorizeParams map[string]string `yaml:"extra_authorize_params,omitempty" json:"extra_authorize_params,omitempty"`
	ExtraTokenParams     map[string]string `yaml:"extra_token_params,omitempty" json:"extra_token_params,omitempty"`
	// RotatesRefreshTokens: a refresh returns a new refresh token and the
	// old one stops working (at once or after a short grace), so the new
	// one must be stored before anything else happens.
	RotatesRefreshTokens bool `yaml:"rotates_refresh_tokens,omitempty" json:"rotates_refresh_tokens,omitempty"`
	// DefaultTTL applies when a token response has no expires_in.
	DefaultTTL Duration `yaml:"default_ttl,omitempty" json:"default_ttl,omitempty"`
	// RefreshMargin is how long before expiry a token is refreshed.
	RefreshMargin Duration `yaml:"refresh_margin,omitempty" json:"refresh_margin,omitempty"`
	// RefreshTokenTTL is the refresh token's lifetime where known (for
	// rotating tokens, from the last refresh).
	RefreshTokenTTL Duration `yaml:"refresh_token_ttl,omitempty" json:"refresh_token_ttl,omitempty"`

	// The fields below were added with the OAuth 2.0 catalog (issue 3).

	// DocsURL is the provider's OAuth documentation, where it differs
	// from the provider's docs_url (which is about API keys when the
	// provider takes both).
	DocsURL string `yaml:"docs_url,omitempty" json:"docs_url,omitempty"`
	// RefreshURL is where refresh_token grants go when not TokenURL
	// (Figma's legacy refresh endpoint).
	RefreshURL string `yaml:"refresh_url,omitempty" json:"refresh_url,omitempty"` // template
	// NoExpiry says access tokens are long-lived: a token response
	// without expires_in (or with expires_in 0) means the token lasts
	// until it is revoked, even when a refresh token came with it. Do not
	// schedule a refresh for such a token; a 401 still triggers one. It
	// excludes DefaultTTL.
	NoExpiry bool `yaml:"no_expiry,omitempty" json:"no_expiry,omitempty"`
	// TokenHeader and TokenPrefix say how an access token is sent to the
	// API: TokenHeader: TokenPrefix + token. They are filled in when the
	// provider is loaded: TokenHeader defaults to "Authorization", and
	// TokenPrefix to "Bearer " when TokenHeader was not given.
	TokenHeader string `yaml:"token_header,omitempty" json:"token_header,omitempty"`
	TokenPrefix string `yaml:"token_prefix,omitempty" json:"token_prefix,omitempty"`
	// Headers are extra headers (templates) for API requests made with an
	// access token: an API version, an account id. A provider whose only
	// auth method is oauth2 may also use {client_id}, filled from the
	// integration's client_id (Twitch wants it on every request).
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	// TokenBodyFormat is the body of token, refresh and revocation
	// requests: "form" (the default, RFC 6749) or "json" for providers
	// that document only JSON (Notion, Square).
	TokenBodyFormat string `yaml:"token_body_format,omitempty" json:"token_body_format,omitempty"`
}

// ServiceAccount describes how a service-account credential mints tokens.
type ServiceAccount struct {
	Kind     string   `yaml:"kind" json:"kind"` // google|jwt_bearer|client_credentials|mtls|aws_sigv4
	TokenURL string   `yaml:"token_url,omitempty" json:"token_url,omitempty"`
	Audience string   `yaml:"audience,omitempty" json:"audience,omitempty"`
	Scopes   []string `yaml:"scopes,omitempty" json:"scopes,omitempty"`
	Region   string   `yaml:"region,omitempty" json:"region,omitempty"`
	Service  string   `yaml:"service,omitempty" json:"service,omitempty"`
}

// Duration is a time.Duration written as "1h", "90s" in YAML and JSON.
type Duration time.Duration
