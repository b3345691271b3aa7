package catalog

import "time"

// Auth methods an integration can use.
const (
	MethodAPIKey         = "api_key"
	MethodOAuth2         = "oauth2"
	MethodServiceAccount = "service_account"
	// Added with issue 10 (methods.go).
	MethodBasic  = "basic"
	MethodOAuth1 = "oauth1"
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
	// Basic, OAuth1 and Exchange were added with issue 10 (methods.go).
	Basic    *Basic    `yaml:"basic,omitempty" json:"basic,omitempty"`
	OAuth1   *OAuth1   `yaml:"oauth1,omitempty" json:"oauth1,omitempty"`
	Exchange *Exchange `yaml:"exchange,omitempty" json:"exchange,omitempty"`
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
	// ProtectedResource says the base URL is an OAuth-protected resource
	// (a remote MCP server): the authorization server, its endpoints, the
	// scopes and, when no client is configured, the client itself come
	// from RFC 9728 / RFC 8414 discovery and RFC 7591 registration, and
	// the resource indicator (RFC 8707) goes with every request. No
	// endpoint may be set; PKCE S256 is always used. Added with issue 10.
	ProtectedResource bool `yaml:"protected_resource,omitempty" json:"protected_resource,omitempty"`
}

// ServiceAccount describes how a service-account credential mints tokens
// (or signs requests) for a provider.
//
// What each kind does with the fields:
//   - google: a Google JSON key; the JWT grant goes to the key file's
//     token_uri (TokenURL is informative), Scopes go in the assertion,
//     and the integration's subject, when set, is the user to act as
//     (domain-wide delegation).
//   - jwt_bearer (RFC 7523): a JWT signed with the uploaded key, with
//     iss the integration's issuer (its client_id when no issuer is set),
//     sub its subject, aud Audience (TokenURL when empty), plus Claims,
//     is exchanged at TokenURL; or, with SelfSigned, is itself the token.
//   - client_credentials (RFC 6749 §4.4) at TokenURL, the client
//     authenticated as ClientAuth says.
//   - mtls: the client certificate alone authenticates API requests.
//   - aws_sigv4: requests are signed for Region and Service.
//
// Fields marked "template" take {name} placeholders from the provider's
// config fields.
type ServiceAccount struct {
	Kind     string `yaml:"kind" json:"kind"`                               // google|jwt_bearer|client_credentials|mtls|aws_sigv4|github_app
	TokenURL string `yaml:"token_url,omitempty" json:"token_url,omitempty"` // template
	// Audience is, for jwt_bearer, the assertion's aud claim (default
	// TokenURL); for client_credentials, an "audience" token parameter
	// (Auth0-style APIs). Template.
	Audience string   `yaml:"audience,omitempty" json:"audience,omitempty"`
	Scopes   []string `yaml:"scopes,omitempty" json:"scopes,omitempty"` // defaults; the integration's scopes replace them
	// Region (literal or template, aws_sigv4) and Service (aws_sigv4)
	// say what requests are signed for.
	Region  string `yaml:"region,omitempty" json:"region,omitempty"`
	Service string `yaml:"service,omitempty" json:"service,omitempty"`

	// The fields below were added with the service-account catalog
	// (issue 4).

	// DocsURL is the provider's service-account (JWT, server-to-server)
	// documentation, where it differs from the provider's docs_url.
	DocsURL string `yaml:"docs_url,omitempty" json:"docs_url,omitempty"`
	// ClientAuth is how the client authenticates at TokenURL: "basic"
	// (client_secret_basic), "post" (client_secret_post) or
	// "private_key_jwt" (RFC 7523 §2.2 client assertion signed with the
	// uploaded key, aud TokenURL). Always explicit for client_credentials
	// in the catalog; empty for jwt_bearer means no client
	// authentication (the assertion alone).
	ClientAuth string `yaml:"client_auth,omitempty" json:"client_auth,omitempty"`
	// GrantType replaces client_credentials' grant_type for providers
	// with their own grant of the same shape (Zoom's
	// account_credentials).
	GrantType string `yaml:"grant_type,omitempty" json:"grant_type,omitempty"`
	// ExtraTokenParams are added to the token request (templates); they
	// can never replace a parameter the minter owns (grant_type,
	// assertion, client_id, scope…).
	ExtraTokenParams map[string]string `yaml:"extra_token_params,omitempty" json:"extra_token_params,omitempty"`
	// ScopeClaim (jwt_bearer): scopes go in the assertion's
	// space-separated "scope" claim (DocuSign) rather than in a scope
	// parameter of the token request.
	ScopeClaim bool `yaml:"scope_claim,omitempty" json:"scope_claim,omitempty"`
	// Claims are claims of the jwt_bearer assertion (templates) besides
	// the standard ones: Box's box_sub_type, or iss and sub where the
	// provider fixes their shape (Snowflake). They cannot set aud, exp,
	// iat, nbf, jti or scope. {public_key_fp} stands for the signing
	// key's fingerprint, "SHA256:" + base64 (standard, padded) of the
	// SHA-256 of its DER SubjectPublicKeyInfo; Resolve leaves it in
	// place for the minter.
	Claims map[string]string `yaml:"claims,omitempty" json:"claims,omitempty"`
	// SelfSigned (jwt_bearer): the signed JWT is itself the bearer token
	// sent to the API; there is no token endpoint (Snowflake key-pair
	// authentication). The minter signs a new one before the last one
	// expires.
	SelfSigned bool `yaml:"self_signed,omitempty" json:"self_signed,omitempty"`
	// TokenTTL is how long a token lasts when nothing else says: the
	// lifetime of a self-signed JWT, or of an access token whose
	// response has no expires_in (Salesforce).
	TokenTTL Duration `yaml:"token_ttl,omitempty" json:"token_ttl,omitempty"`
	// Headers are extra headers (templates) for API requests made with
	// the service account (Snowflake's token type header).
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	// Requires lists the config keys a service-account integration must
	// set: declared config fields that other auth methods do without
	// (Zoom's account_id), or the shared issuer, subject, client_id and
	// client_secret. Catalog.ResolveMethod enforces it.
	Requires []string `yaml:"requires,omitempty" json:"requires,omitempty"`
	// Verify replaces the provider's verify request for service-account
	// integrations, where the provider's one needs a user (Microsoft
	// Graph's /me) or a scope a service account lacks.
	Verify *Verify `yaml:"verify,omitempty" json:"verify,omitempty"`
}

// PublicKeyFPVar is the placeholder for the signing key's public key
// fingerprint in ServiceAccount.Claims; Resolve leaves it in place.
const PublicKeyFPVar = "public_key_fp"

// Duration is a time.Duration written as "1h", "90s" in YAML and JSON.
type Duration time.Duration
