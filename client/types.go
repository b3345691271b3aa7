package client

import (
	"encoding/json"
	"time"
)

// Auth methods of an integration.
const (
	AuthAPIKey         = "api_key"
	AuthOAuth2         = "oauth2"
	AuthServiceAccount = "service_account"
	AuthBasic          = "basic"
	AuthOAuth1         = "oauth1"
)

// Integration statuses.
const (
	StatusPending           = "pending"
	StatusConnected         = "connected"
	StatusDegraded          = "degraded"
	StatusReconnectRequired = "reconnect_required"
	StatusDisabled          = "disabled"
)

// Credential version states.
const (
	StateActive   = "active"
	StatePrevious = "previous"
	StateRevoked  = "revoked"
)

// API token roles.
const (
	RoleAdmin  = "admin"
	RoleEditor = "editor"
	RoleWorker = "worker"
	RoleViewer = "viewer"
)

// Access types returned by Client.Access.
const (
	AccessBearer = "bearer"
	AccessAPIKey = "api_key"
	AccessAWS    = "aws"
	AccessBasic  = "basic"
	AccessOAuth1 = "oauth1"
)

// Provider is one entry of the provider catalog as listed by
// Client.Providers. Client.Provider returns the full definition.
type Provider struct {
	Name        string   `json:"name"`
	DisplayName string   `json:"display_name"`
	Categories  []string `json:"categories"`
	AuthMethods []string `json:"auth_methods"`
	BaseURL     string   `json:"base_url"`
	DocsURL     string   `json:"docs_url"`
	// LogoURL is the path of the provider's SVG logo on the server.
	LogoURL string `json:"logo_url"`
	// Verify is set when the catalog holds a verify request for it.
	Verify bool `json:"verify"`
}

// Workspace is the isolation boundary of integrations and tokens.
type Workspace struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at,omitzero"`
}

// TokenRequest asks for a new API token. An empty Workspace means the
// caller's own workspace.
type TokenRequest struct {
	Name      string `json:"name"`
	Workspace string `json:"workspace,omitempty"`
	Role      string `json:"role"`
}

// Token is a newly created API token. Token, the secret, is returned only
// once, by Client.CreateToken; String, GoString and LogValue redact it, and
// JSON encoding keeps it.
type Token struct {
	ID        string `json:"id"`
	Token     string `json:"token,omitempty"`
	Role      string `json:"role"`
	Workspace string `json:"workspace"`
}

// APIToken is an existing API token as listings show it: never its
// secret. A zero LastUsedAt means never used; it is kept to within a
// minute.
type APIToken struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	Role          string    `json:"role"`
	Workspace     string    `json:"workspace"`
	WorkspaceName string    `json:"workspace_name,omitempty"`
	CreatedAt     time.Time `json:"created_at,omitzero"`
	LastUsedAt    time.Time `json:"last_used_at,omitzero"`
}

// TokenFilter selects a page of API tokens: those of Workspace (name or
// id; every workspace when empty) whose id sorts after After, at most
// Limit (0: the server's default of 100; at most 1000).
type TokenFilter struct {
	Workspace string
	After     string
	Limit     int
}

// TokenPage is one page of API tokens. Next, when not empty, is the
// After of the following page.
type TokenPage struct {
	Tokens []APIToken `json:"tokens"`
	Next   string     `json:"next,omitempty"`
}

// IntegrationRequest creates an integration. Config holds non-secret
// settings and, for OAuth 2.0, the app's client_id and client_secret.
type IntegrationRequest struct {
	Workspace  string         `json:"workspace,omitempty"`
	Name       string         `json:"name"`
	Provider   string         `json:"provider"`
	AuthMethod string         `json:"auth_method,omitempty"`
	Config     map[string]any `json:"config,omitempty"`
	// App names an app whose client the integration uses; Provider and
	// AuthMethod may then be left empty (they default to the app's).
	App string `json:"app,omitempty"`
}

// Integration is one configured connection to one external account.
// Secrets in Config are masked by the server. Zero times mean "never".
type Integration struct {
	ID             string         `json:"id"`
	Workspace      string         `json:"workspace"`
	WorkspaceName  string         `json:"workspace_name,omitempty"`
	Name           string         `json:"name"`
	Provider       string         `json:"provider"`
	AuthMethod     string         `json:"auth_method"`
	Config         map[string]any `json:"config,omitempty"`
	Status         string         `json:"status"`
	StatusReason   string         `json:"status_reason,omitempty"`
	CreatedAt      time.Time      `json:"created_at,omitzero"`
	UpdatedAt      time.Time      `json:"updated_at,omitzero"`
	LastVerifiedAt time.Time      `json:"last_verified_at,omitzero"`
	LastUsedAt     time.Time      `json:"last_used_at,omitzero"`
	// App is the app whose client the integration uses; empty when it
	// holds its own.
	App string `json:"app,omitempty"`
	// Warnings come only with a create or an update: what the operator
	// should know at once (an endpoint the egress guard blocks, an API
	// key that will be saved unchecked); the integration was stored.
	Warnings []string `json:"warnings,omitempty"`
}

// CredentialVersion describes one version of an integration's secret; it
// never holds the secret (Hint shows at most 4 of its characters).
type CredentialVersion struct {
	ID          string    `json:"id"`
	Version     int       `json:"version"`
	State       string    `json:"state"`
	Hint        string    `json:"hint,omitempty"`
	CreatedAt   time.Time `json:"created_at,omitzero"`
	VerifiedAt  time.Time `json:"verified_at,omitzero"`
	ExpiresAt   time.Time `json:"expires_at,omitzero"`
	Fingerprint string    `json:"fingerprint,omitempty"`
}

// VerifyResult is the outcome of Client.Verify. Status is the upstream
// HTTP status, or 0 when no response arrived.
//
// Reason says why OK is false: one of the Verify* reasons. When the
// integration has no verification request the server answers "ok": null;
// OK is then false and Reason is VerifyNotChecked (see Checked). Error is
// the fixed text of Reason; ProviderMessage the provider's own message
// from a refusing answer, secrets scrubbed, at most 200 characters.
type VerifyResult struct {
	OK              bool   `json:"ok"`
	Reason          string `json:"reason,omitempty"`
	Status          int    `json:"status"`
	LatencyMS       int64  `json:"latency_ms"`
	Error           string `json:"error,omitempty"`
	ProviderMessage string `json:"provider_message,omitempty"`
}

// Verification reasons (VerifyResult.Reason, Error.Reason).
const (
	VerifyRejected    = "rejected"    // the provider refused the credential (401/403)
	VerifyUnreachable = "unreachable" // DNS, connect, TLS or timeout: not judged
	VerifyBlocked     = "blocked"     // the egress guard refused the address
	VerifyUnexpected  = "unexpected"  // any other answer
	VerifyNotChecked  = "not_checked" // no verification request exists
)

// Checked reports whether a verification request was sent: false when
// the server answered "ok": null.
func (r VerifyResult) Checked() bool { return r.Reason != VerifyNotChecked }

// MarshalJSON writes "ok": null for a result that was not checked, as
// the server does.
func (r VerifyResult) MarshalJSON() ([]byte, error) {
	type plain VerifyResult
	if r.Checked() {
		return json.Marshal(plain(r))
	}
	return json.Marshal(struct {
		OK *bool `json:"ok"`
		plain
	}{nil, plain(r)})
}

// Access is what a sync needs to call a provider's API itself. Type says
// which fields are set:
//   - "bearer": AccessToken, ExpiresAt
//   - "api_key": APIKey applied as In ("header", "query" or "basic"),
//     Name and Prefix
//   - "aws": AccessKeyID, SecretAccessKey, SessionToken
//   - "basic": Username, Password (HTTP Basic)
//   - "oauth1": ConsumerKey, ConsumerSecret, Token, TokenSecret,
//     SignatureMethod, Realm: sign each request as RFC 5849 says
//
// A bearer token from a token exchange also sets In ("header" or
// "query") with Header or Name. String, GoString and LogValue redact the
// secrets; JSON encoding keeps them, so marshal an Access only where the
// secret is meant to go.
type Access struct {
	Type            string            `json:"type"`
	AccessToken     string            `json:"access_token,omitempty"`
	ExpiresAt       time.Time         `json:"expires_at,omitzero"`
	Header          string            `json:"header,omitempty"`
	APIKey          string            `json:"api_key,omitempty"`
	In              string            `json:"in,omitempty"`
	Name            string            `json:"name,omitempty"`
	Prefix          string            `json:"prefix,omitempty"`
	Username        string            `json:"username,omitempty"`
	Password        string            `json:"password,omitempty"`
	AccessKeyID     string            `json:"access_key_id,omitempty"`
	SecretAccessKey string            `json:"secret_access_key,omitempty"`
	SessionToken    string            `json:"session_token,omitempty"`
	ConsumerKey     string            `json:"consumer_key,omitempty"`
	ConsumerSecret  string            `json:"consumer_secret,omitempty"`
	Token           string            `json:"token,omitempty"`
	TokenSecret     string            `json:"token_secret,omitempty"`
	SignatureMethod string            `json:"signature_method,omitempty"`
	Realm           string            `json:"realm,omitempty"`
	Headers         map[string]string `json:"headers,omitempty"`
}

// EventFilter selects events: those after the event with id After (all
// when empty), at most Limit of them (0: the server's default). Empty
// Workspace means the token's own workspace.
type EventFilter struct {
	Workspace   string
	Integration string
	After       string
	Limit       int
}

// Event is something that happened to an integration. Data never holds a
// secret.
type Event struct {
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Integration string          `json:"integration,omitempty"`
	Workspace   string          `json:"workspace,omitempty"`
	At          time.Time       `json:"at,omitzero"`
	Data        json.RawMessage `json:"data,omitempty"`
}

// AuditFilter selects audit records like EventFilter selects events.
type AuditFilter struct {
	Workspace string
	After     string
	Limit     int
}

// AuditRecord says who did what, when and from where. It never holds a
// secret.
type AuditRecord struct {
	ID        string    `json:"id,omitempty"`
	Workspace string    `json:"workspace,omitempty"`
	Actor     string    `json:"actor"`
	ActorName string    `json:"actor_name,omitempty"` // the token's name while it exists
	Action    string    `json:"action"`
	Target    string    `json:"target"`
	At        time.Time `json:"at,omitzero"`
	IP        string    `json:"ip,omitempty"`
	// Detail is a JSON object of more facts, never a secret.
	Detail json.RawMessage `json:"detail,omitempty"`
	// Seq, PrevHash and Hash place the record in the audit hash chain:
	// Seq counts 1, 2, 3…, PrevHash is the Hash of the record before, and
	// Hash covers every other field (see VerifyAudit).
	Seq      int64  `json:"seq,omitempty"`
	PrevHash string `json:"prev_hash,omitempty"`
	Hash     string `json:"hash,omitempty"`
}

// WebhookRequest subscribes URL to the named event types (all when
// Events is empty).
type WebhookRequest struct {
	URL       string   `json:"url"`
	Events    []string `json:"events,omitempty"` // empty: every type
	Workspace string   `json:"workspace,omitempty"`
}

// Webhook is a webhook subscription. Secret signs deliveries
// (Storm-Signature) and is returned only once, by CreateWebhook; String,
// GoString and LogValue redact it, and JSON encoding keeps it. Events
// empty means every event type. The other fields are its delivery
// state: Cursor is the log position of the last event delivered,
// Failures the consecutive failed attempts at the next one.
type Webhook struct {
	ID             string    `json:"id"`
	Secret         string    `json:"secret,omitempty"`
	URL            string    `json:"url,omitempty"`
	Events         []string  `json:"events,omitempty"`
	Workspace      string    `json:"workspace,omitempty"`
	Cursor         int64     `json:"cursor,omitempty"`
	Failures       int       `json:"failures,omitempty"`
	FailingSince   time.Time `json:"failing_since,omitzero"`
	NextAttemptAt  time.Time `json:"next_attempt_at,omitzero"`
	Disabled       bool      `json:"disabled,omitempty"`
	DisabledReason string    `json:"disabled_reason,omitempty"`
	CreatedAt      time.Time `json:"created_at,omitzero"`
}

// WebhookDelivery is one attempt to deliver an event to a webhook. Error
// says what failed (never the receiver's answer or a secret).
type WebhookDelivery struct {
	ID         string    `json:"id"`
	Webhook    string    `json:"webhook"`
	Event      string    `json:"event"`
	EventType  string    `json:"event_type"`
	Attempt    int       `json:"attempt"`
	OK         bool      `json:"ok"`
	StatusCode int       `json:"status_code"`
	Error      string    `json:"error,omitempty"`
	DurationMS int64     `json:"duration_ms"`
	At         time.Time `json:"at,omitzero"`
}
