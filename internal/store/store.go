package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Every backend translates its own errors into these so
// callers test with errors.Is and never look at driver messages.
var (
	// ErrNotFound reports that no object has the given id (or name).
	ErrNotFound = errors.New("store: not found")
	// ErrConflict reports a uniqueness violation or a lost compare-and-swap.
	ErrConflict = errors.New("store: conflict")
)

// Roles of an API token, from most to least powerful.
const (
	RoleAdmin  = "admin"
	RoleEditor = "editor"
	RoleWorker = "worker"
	RoleViewer = "viewer"
)

// Integration statuses (shared/API.md).
const (
	StatusPending           = "pending"
	StatusConnected         = "connected"
	StatusDegraded          = "degraded"
	StatusReconnectRequired = "reconnect_required"
	StatusDisabled          = "disabled"
)

// Credential version states (shared/API.md).
const (
	StateActive   = "active"
	StatePrevious = "previous"
	StateRevoked  = "revoked"
)

// Workspace is the isolation boundary: every other record belongs to one.
type Workspace struct {
	ID        string
	Name      string
	CreatedAt time.Time
}

// APIToken is a bearer token for the HTTP API. Only a hash of the token is
// stored; the token itself is shown once, when it is created.
type APIToken struct {
	ID          string
	Name        string
	WorkspaceID string
	Role        string
	Hash        []byte // SHA-256 of the token
	CreatedAt   time.Time
	// LastUsedAt is when the token last authenticated a request, to
	// within a minute (callers throttle TouchAPIToken); zero: never.
	LastUsedAt time.Time
}

// TokenPage selects a page of API tokens: those of WorkspaceID (every
// workspace when empty) whose id sorts after After, ordered by id, at
// most Limit (DefaultPageLimit when not positive).
type TokenPage struct {
	WorkspaceID string
	After       string
	Limit       int
}

// Integration is one configured connection to one external account.
type Integration struct {
	ID          string
	WorkspaceID string
	Name        string
	Provider    string
	AuthMethod  string
	// Config is the non-secret configuration as a JSON object.
	Config []byte
	// SecretConfig is the vault ciphertext of the secret configuration
	// (for example an OAuth client secret); nil when there is none.
	SecretConfig []byte
	// AppID names the app whose client the integration uses instead of
	// one of its own; empty when it holds its own (or needs none).
	AppID          string
	Status         string
	StatusReason   string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	LastVerifiedAt time.Time // zero: never
	LastUsedAt     time.Time // zero: never
	// Revision increases with every update; backends use it for
	// compare-and-swap and callers must not set it.
	Revision int64
}

// Credential is one version of an integration's secret material.
type Credential struct {
	ID            string
	IntegrationID string
	WorkspaceID   string
	Version       int // 1, 2, … per integration
	State         string
	Hint          string // masked, at most 4 characters of the secret
	Fingerprint   string // hash prefix that identifies the secret without revealing it
	// Secret is vault ciphertext bound to this credential's row.
	Secret     []byte
	CreatedAt  time.Time
	VerifiedAt time.Time // zero: never
	ExpiresAt  time.Time // zero: unknown or never
	RevokedAt  time.Time // zero: not revoked
	// RefreshAt is when the token engine should next refresh this
	// version (OAuth 2.0, minted tokens); zero means never.
	RefreshAt time.Time
	// Failures counts consecutive failed refreshes (backoff).
	Failures int
	// Revision increases with every update (compare-and-swap).
	Revision int64
}

// OAuthState is a pending OAuth 2.0 authorization: the server side of
// the single-use state parameter.
type OAuthState struct {
	Hash          []byte // SHA-256 of the state parameter (never the state)
	IntegrationID string
	WorkspaceID   string
	Verifier      []byte // vault ciphertext of the PKCE code verifier
	ReturnTo      string
	// Binding is the SHA-256 of a browser cookie when the authorization
	// was started from the web UI; nil otherwise.
	Binding   []byte
	Actor     string // API token id that started it (a connect link's id)
	CreatedAt time.Time
	ExpiresAt time.Time
	// LinkID names the connect link the authorization was started from;
	// empty otherwise.
	LinkID string
	// Pending, for a connect link that creates an integration, describes
	// the integration to create once the authorization succeeds (a JSON
	// object, no secret; IntegrationID is its id); nil otherwise.
	Pending []byte
}

// Event is an append-only record of something that happened to an
// integration. Data is a JSON object and never holds a secret.
type Event struct {
	ID            string
	WorkspaceID   string
	IntegrationID string // may be empty
	Type          string
	At            time.Time
	Data          []byte
}

// AuditRecord says who did what, when and from where. It never holds a
// secret.
type AuditRecord struct {
	ID          string
	WorkspaceID string
	Actor       string // API token id, or "system"
	Action      string
	Target      string
	At          time.Time
	IP          string
	Detail      []byte // JSON object, may be nil

	// Seq, PrevHash and Hash place the record in the audit hash chain
	// (package audit). AppendAudit sets them, ignoring what it is given:
	// Seq counts 1, 2, 3… per database, PrevHash is the Hash of the record
	// before (audit.Genesis for the first) and Hash covers every field.
	Seq      int64
	PrevHash string
	Hash     string
}

// AuditFold is one journal segment's records on their way into the
// audit log (package journal): folding the same segment twice, after a
// crash between the fold and the removal of its file, appends nothing.
type AuditFold struct {
	// Segment names the journal file the records come from; empty for
	// a fold that only forgets.
	Segment string
	// Forget lists segments folded earlier whose files are gone: their
	// marks are no longer needed.
	Forget  []string
	Records []AuditRecord
}

// Page selects a slice of an append-only log: entries after the one with
// id After (all when empty), at most Limit of them, oldest first.
type Page struct {
	WorkspaceID   string // empty: all workspaces
	IntegrationID string // empty: all integrations (events only)
	After         string
	Limit         int
	// Newest reads the log backwards: newest first, and After then
	// means older than that entry. A page that shows the latest entries
	// reads only them, however long the log is.
	Newest bool
}

// CredentialSet is an integration with the credential versions a
// mutation can change, as handed to a Mutate function and returned by it.
type CredentialSet struct {
	Integration Integration
	// Credentials, handed to fn, are the integration's live versions
	// (active and previous) ordered by Version. Revoked versions are
	// final and never in it, however many there are: read them with
	// ListCredentials, PageCredentials or GetCredential. A version added
	// with the id of one not loaded is inserted, and fails as a taken id
	// (ErrConflict). Returned by Mutate, they are the versions fn left in
	// the set, as stored (those fn revoked included), ordered by Version.
	Credentials []Credential
	// MaxVersion is the highest Version the integration has, revoked
	// versions included (0 when it has none): a new version is numbered
	// MaxVersion+1. Mutate ignores changes fn makes to it.
	MaxVersion int
	// Events are appended in the same transaction as the mutation.
	Events []Event
}

// Store persists Storm's records. It only ever sees ciphertext for
// secrets. Implementations are safe for concurrent use by many goroutines
// and, for shared databases, by many processes.
type Store interface {
	Ping(ctx context.Context) error
	Close() error

	CreateWorkspace(ctx context.Context, w Workspace) error
	// GetWorkspace finds a workspace by id or by name.
	GetWorkspace(ctx context.Context, idOrName string) (Workspace, error)
	// ListWorkspaces returns every workspace in creation order.
	ListWorkspaces(ctx context.Context) ([]Workspace, error)
	// PageWorkspaces returns page p of the workspaces, ordered by id
	// (p.WorkspaceID does not apply): one index range scan however many
	// exist.
	PageWorkspaces(ctx context.Context, p ListPage) ([]Workspace, error)

	CreateAPIToken(ctx context.Context, t APIToken) error
	GetAPITokenByHash(ctx context.Context, hash []byte) (APIToken, error)
	GetAPIToken(ctx context.Context, id string) (APIToken, error)
	// DeleteAPIToken removes the token and its UI sessions.
	DeleteAPIToken(ctx context.Context, id string) error
	// ListAPITokens returns page p of the tokens. The order is by id, so
	// a page costs one index range scan however many tokens exist, and a
	// cursor stays valid when the token it names is deleted.
	ListAPITokens(ctx context.Context, p TokenPage) ([]APIToken, error)
	// TouchAPIToken sets LastUsedAt; ErrNotFound for an unknown id. It is
	// a plain write: callers throttle it.
	TouchAPIToken(ctx context.Context, id string, at time.Time) error

	// UI sessions (types in sessions.go).

	// CreateUISession stores a signed-in web UI session and purges the
	// sessions that expired before s.CreatedAt; an unknown token is
	// ErrNotFound, a taken id ErrConflict.
	CreateUISession(ctx context.Context, s UISession) error
	// GetUISession returns the session with id, expired or not (the
	// caller judges), or ErrNotFound once it was deleted or purged.
	GetUISession(ctx context.Context, id string) (UISession, error)
	// DeleteUISession ends a session everywhere; ErrNotFound when it is
	// already gone.
	DeleteUISession(ctx context.Context, id string) error

	CreateIntegration(ctx context.Context, in Integration) error
	GetIntegration(ctx context.Context, id string) (Integration, error)
	// ListIntegrations lists a workspace's integrations, or all of them
	// when workspaceID is empty, ordered by creation. It reads them all:
	// for jobs that visit each one; listings page with PageIntegrations.
	ListIntegrations(ctx context.Context, workspaceID string) ([]Integration, error)
	// IntegrationNameTaken reports whether a workspace has an integration
	// of that name.
	IntegrationNameTaken(ctx context.Context, workspaceID, name string) (bool, error)
	// PageIntegrations returns page p of the integrations, ordered by id.
	PageIntegrations(ctx context.Context, p ListPage) ([]Integration, error)
	// UpdateIntegration applies fn to the current integration and stores
	// the result unless fn fails. It is a compare-and-swap: concurrent
	// updates are serialised, never lost.
	UpdateIntegration(ctx context.Context, id string, fn func(Integration) (Integration, error)) (Integration, error)
	// TouchIntegration sets LastUsedAt without a revision change; it is
	// cheap and may be called on hot paths (throttled by the caller).
	TouchIntegration(ctx context.Context, id string, at time.Time) error
	// DeleteIntegration removes the integration and all of its
	// credentials; its events and audit records stay.
	DeleteIntegration(ctx context.Context, id string) error

	GetCredential(ctx context.Context, id string) (Credential, error)
	// ListCredentials returns an integration's versions ordered by Version.
	ListCredentials(ctx context.Context, integrationID string) ([]Credential, error)
	// LiveCredentials returns an integration's active and previous
	// versions ordered by Version: one short index range, however many
	// revoked versions it has.
	LiveCredentials(ctx context.Context, integrationID string) ([]Credential, error)
	// PageCredentials returns page p of integration p.Parent's versions,
	// ordered by Version; an After that is not one of them is ErrNotFound.
	PageCredentials(ctx context.Context, p VersionPage) ([]Credential, error)
	// ActiveCredentials returns the active versions of the integrations
	// whose ids sort after after and up to through, in integration id
	// order (at most one each): with a page of PageIntegrations, one
	// query for the whole page instead of one per integration.
	ActiveCredentials(ctx context.Context, after, through string) ([]Credential, error)
	// Mutate is the one path for changing credentials: it loads the
	// integration, its live versions and its highest version number
	// (CredentialSet), locked against every other Mutate or
	// UpdateIntegration of the same integration, applies fn, and stores
	// the integration, the credentials fn changed (new ones are inserted)
	// and the set's Events in one transaction (RunMutate). If fn fails
	// nothing is stored. Its cost does not grow with the number of
	// revoked versions.
	Mutate(ctx context.Context, integrationID string, fn func(*CredentialSet) error) (CredentialSet, error)
	// UpdateCredential is a compare-and-swap of one credential (for
	// example a refreshed token set written over the current one).
	UpdateCredential(ctx context.Context, id string, fn func(Credential) (Credential, error)) (Credential, error)

	AppendEvent(ctx context.Context, e Event) error
	ListEvents(ctx context.Context, p Page) ([]Event, error)
	// AppendAudit appends recs in order in one transaction: all or none.
	// It chains them (audit.Link) after the last record under the log's
	// append lock, so concurrent appends from any number of instances
	// form one chain.
	AppendAudit(ctx context.Context, recs ...AuditRecord) error
	// FoldAudit appends f.Records as AppendAudit does and marks
	// f.Segment folded, in one transaction. A segment folded before
	// appends nothing and reports false. The marks of f.Forget are
	// dropped in the same transaction.
	FoldAudit(ctx context.Context, f AuditFold) (bool, error)
	ListAudit(ctx context.Context, p Page) ([]AuditRecord, error)

	// CreateOAuthState stores a pending authorization.
	CreateOAuthState(ctx context.Context, st OAuthState) error
	// ConsumeOAuthState deletes the state with hash and returns it, so it
	// can be used once; ErrNotFound when absent or already consumed.
	// Expired states are returned too (the caller rejects them); states
	// expired for more than a day are purged on the way.
	ConsumeOAuthState(ctx context.Context, hash []byte) (OAuthState, error)

	// AcquireLease takes the named lease for owner until the given time
	// if it is free, expired (at now) or already owner's; it reports
	// whether owner holds it afterwards. Leases coordinate work across
	// instances (at most one refresh per credential).
	AcquireLease(ctx context.Context, name, owner string, until, now time.Time) (bool, error)
	// HoldLease takes the named lease for owner for ttl if it is free,
	// expired or already owner's (then it is renewed for ttl from now),
	// and reports whether owner holds it afterwards. Unlike AcquireLease,
	// expiry is judged by the database's clock, so instances whose clocks
	// disagree still never hold one lease at once.
	HoldLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	// ReleaseLease frees the lease if owner holds it.
	ReleaseLease(ctx context.Context, name, owner string) error
	// ListDueCredentials returns active credentials whose RefreshAt is
	// set and not after before, earliest first, at most limit.
	ListDueCredentials(ctx context.Context, before time.Time, limit int) ([]Credential, error)
	// ListDueVerifications returns the integrations with something to
	// verify (status neither pending nor disabled) whose next scheduled
	// verification is not after now, after the cursor, earliest first
	// (ties by id), at most limit (DefaultPageLimit when not positive):
	// one index range, however many integrations are not due. A new
	// integration is due at once (types in verify.go).
	ListDueVerifications(ctx context.Context, now time.Time, after VerifyCursor, limit int) ([]DueVerification, error)
	// ScheduleVerification moves integration id's next scheduled
	// verification to next if it is due at now, and reports whether it
	// did: of the instances that find one turn due, one takes it. An
	// unknown id reports false. It changes no revision, as
	// TouchIntegration; Mutate and UpdateIntegration leave the schedule
	// as it is.
	ScheduleVerification(ctx context.Context, id string, next, now time.Time) (bool, error)
	// ScheduleVerifications is ScheduleVerification for several turns in
	// one transaction (a scan moves a page of turns at once): took[i]
	// reports whether turns[i] was moved. On an error none was.
	ScheduleVerifications(ctx context.Context, turns []VerifyTurn) (took []bool, err error)

	// Keyring returns the wrapped vault keyring, or ErrNotFound.
	Keyring(ctx context.Context) ([]byte, error)
	// PutKeyring stores next if the current keyring equals prev (nil: no
	// keyring yet), else returns ErrConflict.
	PutKeyring(ctx context.Context, prev, next []byte) error

	// Key rotation (types in keys.go).

	// ScanCredentials returns up to limit credentials of every workspace
	// whose id sorts after after (from the first when empty), ordered by
	// id: a resumable cursor for jobs that visit every row. A non-positive
	// limit means DefaultPageLimit.
	ScanCredentials(ctx context.Context, after string, limit int) ([]Credential, error)
	// ScanIntegrations is ScanCredentials for integrations.
	ScanIntegrations(ctx context.Context, after string, limit int) ([]Integration, error)
	// CountCredentials and CountIntegrations count every row (progress
	// totals).
	CountCredentials(ctx context.Context) (int64, error)
	CountIntegrations(ctx context.Context) (int64, error)
	// GetJob returns the named job's persisted state, or ErrNotFound.
	GetJob(ctx context.Context, name string) (Job, error)
	// PutJob stores j if the stored job's revision is j.Revision (0: no
	// job of that name yet), else returns ErrConflict; it returns the job
	// as stored, with its new revision.
	PutJob(ctx context.Context, j Job) (Job, error)
	// AddKeyUsage adds n to the encryptions counted against data-key
	// term and returns the new total, atomically across instances.
	AddKeyUsage(ctx context.Context, term uint32, n int64) (int64, error)
	// KeyUsage returns every counted term's total.
	KeyUsage(ctx context.Context) (map[uint32]int64, error)
	// Heartbeat records, at the database's clock, that instance id is
	// alive and seals under data-key term; rows not seen for
	// InstancePurgeAfter are removed on the way.
	Heartbeat(ctx context.Context, id string, term uint32) error
	// LiveInstances returns the instances whose last heartbeat is at
	// most within ago by the database's clock, ordered by id.
	LiveInstances(ctx context.Context, within time.Duration) ([]Instance, error)

	// Webhooks (types in webhooks.go).

	// CreateWebhook stores w with its Cursor at the end of the event log,
	// so it receives the events appended after it, and returns it as
	// stored. An unknown workspace is ErrNotFound.
	CreateWebhook(ctx context.Context, w Webhook) (Webhook, error)
	GetWebhook(ctx context.Context, id string) (Webhook, error)
	// ListWebhooks lists a workspace's webhooks, or all of them when
	// workspaceID is empty, ordered by creation.
	ListWebhooks(ctx context.Context, workspaceID string) ([]Webhook, error)
	// PageWebhooks returns page p of the webhooks, ordered by id.
	PageWebhooks(ctx context.Context, p ListPage) ([]Webhook, error)
	// DeleteWebhook removes the webhook and its delivery log.
	DeleteWebhook(ctx context.Context, id string) error
	// UpdateWebhook loads the webhook, locked against every other
	// UpdateWebhook of it, applies fn, and stores the webhook, the
	// change's Deliveries and Events in one transaction (RunUpdateWebhook).
	// If fn fails nothing is stored.
	UpdateWebhook(ctx context.Context, id string, fn func(*WebhookChange) error) (Webhook, error)
	// ListDueWebhooks returns enabled webhooks whose NextAttemptAt is not
	// after now and whose workspace has events after their Cursor, in
	// creation order, at most limit.
	ListDueWebhooks(ctx context.Context, now time.Time, limit int) ([]Webhook, error)
	// ListWebhookEvents returns the events w is owed: its workspace's
	// events after w.Cursor of the types it subscribes to, oldest first,
	// at most limit; and end, the newest seq in the log when it read them.
	// Events commit in seq order, so when fewer than limit come back, w
	// is owed nothing between the last of them and end.
	ListWebhookEvents(ctx context.Context, w Webhook, limit int) (events []WebhookEvent, end int64, err error)
	// ListWebhookDeliveries returns page p of webhook p.Parent's delivery
	// log, newest first: after p.After means older than it. An After
	// that is not in the log (never, or pruned since) is ErrNotFound.
	ListWebhookDeliveries(ctx context.Context, p VersionPage) ([]WebhookDelivery, error)

	// Apps (types in apps.go).

	// CreateApp stores a with revision 1 and its first secrets in one
	// transaction. A taken id, or a name taken in the workspace, is
	// ErrConflict; an unknown workspace is ErrNotFound.
	CreateApp(ctx context.Context, a App, secrets []AppSecret) error
	GetApp(ctx context.Context, id string) (App, error)
	// GetRegisteredApp finds the client Storm registered itself (RFC
	// 7591) at issuer for redirectURI in a workspace, or ErrNotFound.
	GetRegisteredApp(ctx context.Context, workspaceID, issuer, redirectURI string) (App, error)
	// ListApps returns page p of the apps, ordered by id.
	ListApps(ctx context.Context, p AppPage) ([]App, error)
	// UpdateApp loads the app and its secrets, locked against every other
	// UpdateApp and DeleteApp of it, applies fn, and stores the app, the
	// secrets and the change's Events in one transaction (RunUpdateApp).
	// If fn fails nothing is stored.
	UpdateApp(ctx context.Context, id string, fn func(*AppChange) error) (AppChange, error)
	// DeleteApp removes the app and its secrets; ErrConflict while an
	// integration references it (checked in the same transaction, so an
	// integration created meanwhile cannot be left pointing nowhere).
	DeleteApp(ctx context.Context, id string) error
	// ListAppSecrets returns an app's secret versions ordered by Version.
	ListAppSecrets(ctx context.Context, appID string) ([]AppSecret, error)
	// PageAppSecrets returns page p of app p.Parent's secret versions,
	// ordered by Version; an After that is not one of them is ErrNotFound.
	PageAppSecrets(ctx context.Context, p VersionPage) ([]AppSecret, error)
	// TouchAppSecret records that the provider accepted (used) or
	// refused (rejected) the secret: each non-zero time is stored unless
	// a later one already is. No revision change; callers throttle it.
	TouchAppSecret(ctx context.Context, id string, used, rejected time.Time) error
	// ListAppIntegrations lists the integrations that reference an app,
	// ordered by creation.
	ListAppIntegrations(ctx context.Context, appID string) ([]Integration, error)
	// ScanAppSecrets is ScanCredentials for app secrets (the key
	// re-wrap job).
	ScanAppSecrets(ctx context.Context, after string, limit int) ([]AppSecret, error)

	// Connect links (types in connect.go).

	// CreateConnectLink stores l with revision 1. A taken id or hash is
	// ErrConflict; an unknown workspace is ErrNotFound.
	CreateConnectLink(ctx context.Context, l ConnectLink) error
	// GetConnectLink finds a link by id, deleted or not.
	GetConnectLink(ctx context.Context, id string) (ConnectLink, error)
	// GetConnectLinkByHash finds a link by the hash of its secret.
	GetConnectLinkByHash(ctx context.Context, hash []byte) (ConnectLink, error)
	// ListConnectLinks returns page p of the links that are not deleted,
	// ordered by id.
	ListConnectLinks(ctx context.Context, p ConnectLinkPage) ([]ConnectLink, error)
	// UpdateConnectLink is a compare-and-swap of one link: fn gets the
	// current link, locked against every other update of it, and what it
	// returns is stored unless it fails (its error is returned as is).
	// Id, workspace, hash and creator never change.
	UpdateConnectLink(ctx context.Context, id string, fn func(ConnectLink) (ConnectLink, error)) (ConnectLink, error)
}
