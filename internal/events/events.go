package events

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/stormcreds/storm/internal/journal"
	"github.com/stormcreds/storm/internal/store"
)

// Event types (shared/API.md lists the public ones).
const (
	IntegrationCreated           = "integration.created"
	IntegrationUpdated           = "integration.updated"
	IntegrationDeleted           = "integration.deleted"
	IntegrationConnected         = "integration.connected"
	IntegrationDegraded          = "integration.degraded"
	IntegrationReconnectRequired = "integration.reconnect_required"
	CredentialSaved              = "credential.saved"
	CredentialRevoked            = "credential.revoked"
	CredentialFallbackUsed       = "credential.fallback_used"
	VerificationFailed           = "verification.failed"
	VerificationSucceeded        = "verification.succeeded"
	IntegrationRecovered         = "integration.recovered"
	TokenRefreshed               = "token.refreshed"
	TokenRefreshFailed           = "token.refresh_failed"
	CredentialExpiring           = "credential.expiring"
	CredentialKeyAge             = "credential.key_age"
	AuthorizationFailed          = "authorization.failed"
	// WebhookDisabled: a webhook was turned off after failing for too
	// long (Data: webhook, failures, reason).
	WebhookDisabled = "webhook.disabled"
	// AppClientRejected: the provider refused one of an app's client
	// secrets (invalid_client) on a token request (Data: app, secret,
	// hint, integration, used_instead: the secret that worked instead, or
	// null when none did).
	AppClientRejected = "app.client_rejected"
	// AppSecretAdded and AppSecretRevoked: an app's client secret
	// versions changed (Data: app, secret, version, hint, reason).
	AppSecretAdded   = "app.secret_added"
	AppSecretRevoked = "app.secret_revoked"
	// ConnectCompleted: a person connected an integration through a
	// connect link (Data: link, created_by, created: whether the link
	// created the integration, provider, auth_method).
	ConnectCompleted = "connect.completed"
	// ConnectLocked: a connect link locked itself after too many failed
	// attempts (Data: link, created_by, failures).
	ConnectLocked = "connect.locked"
)

// types is every event type above, in a stable order. A new type must
// be added here too, or webhooks cannot subscribe to it.
var types = []string{
	IntegrationCreated, IntegrationUpdated, IntegrationDeleted, IntegrationConnected, IntegrationDegraded,
	IntegrationReconnectRequired, IntegrationRecovered, CredentialSaved, CredentialRevoked,
	CredentialFallbackUsed, CredentialExpiring, CredentialKeyAge, VerificationFailed, VerificationSucceeded,
	TokenRefreshed, TokenRefreshFailed, AuthorizationFailed, WebhookDisabled,
	AppClientRejected, AppSecretAdded, AppSecretRevoked, ConnectCompleted, ConnectLocked,
}

// Types lists every event type Storm emits (what a webhook may subscribe
// to).
func Types() []string { return slices.Clone(types) }

// Known reports whether typ is an event type Storm emits.
func Known(typ string) bool { return slices.Contains(types, typ) }

// Actor is who performs an action: an API token id (or "system", or a
// connect link's id) and the client's IP address.
type Actor struct {
	TokenID string
	IP      string
	// CreatedBy is, for a connect link acting (TokenID "cnl_…"), the API
	// token that created the link; its audit records name it.
	CreatedBy string
}

// System is the actor for work Storm does by itself.
var System = Actor{TokenID: "system"}

// New builds an event for the log. data must not hold secrets.
func New(workspaceID, integrationID, typ string, at time.Time, data map[string]any) store.Event {
	if data == nil {
		data = map[string]any{}
	}
	b, _ := json.Marshal(data)
	return store.Event{ID: store.NewID("evt"), WorkspaceID: workspaceID, IntegrationID: integrationID, Type: typ, At: at.UTC(), Data: b}
}

// Recorder writes events and audit records. It is safe for concurrent
// use. Failing to write an audit record of a change is logged, never
// hidden; failing to record a secret read refuses the read (Read).
type Recorder struct {
	store   store.Store
	now     func() time.Time
	logger  *slog.Logger
	reads   *reads
	journal *journal.Journal // nil: reads commit to the store directly
}

// NewRecorder returns a Recorder writing to st, group-committing secret
// reads as cfg says (zero: the defaults): to st's audit log, or to
// cfg.Journal when set.
func NewRecorder(st store.Store, now func() time.Time, logger *slog.Logger, cfg ReadsConfig) *Recorder {
	sink := st.AppendAudit
	if cfg.Journal != nil {
		sink = cfg.Journal.Append
	}
	return &Recorder{store: st, now: now, logger: logger, reads: newReads(cfg, sink, now), journal: cfg.Journal}
}

// SettleReads returns once every secret read recorded so far is in the
// audit log itself, not only in the journal: what lists and checks the
// audit log calls first, so it sees every answered read.
func (r *Recorder) SettleReads(ctx context.Context) error {
	if r.journal == nil {
		return nil
	}
	return r.journal.Fold(ctx)
}

// Emit appends an event outside any other change (changes that carry
// events use store.CredentialSet.Events so both commit together).
func (r *Recorder) Emit(ctx context.Context, e store.Event) {
	if err := r.store.AppendEvent(ctx, e); err != nil {
		r.logger.Error("append event", "type", e.Type, "integration", e.IntegrationID, "err", err)
	}
}

// Audit records that actor did action on target.
func (r *Recorder) Audit(ctx context.Context, actor Actor, workspaceID, action, target string, detail map[string]any) {
	if actor.CreatedBy != "" {
		detail = maps.Clone(detail)
		if detail == nil {
			detail = map[string]any{}
		}
		detail["link_created_by"] = actor.CreatedBy
	}
	var d []byte
	if detail != nil {
		d, _ = json.Marshal(detail)
	}
	rec := store.AuditRecord{ID: store.NewID("aud"), WorkspaceID: workspaceID, Actor: actor.TokenID, Action: action, Target: target, At: r.now().UTC(), IP: actor.IP, Detail: d}
	if err := r.store.AppendAudit(context.WithoutCancel(ctx), rec); err != nil {
		r.logger.Error("append audit record", "action", action, "target", target, "err", err)
	}
}

// Read records a secret read (an /access answer, a proxied request) by
// actor of target and returns once the record is committed; concurrent
// reads share one audit transaction. On an error the read must be
// refused: it is not in the audit log. Reads identical in actor,
// workspace, action and target that share a transaction are one record
// with detail {"count": n}.
func (r *Recorder) Read(ctx context.Context, actor Actor, workspaceID, action, target string) error {
	return r.ReadAt(ctx, r.now(), actor, workspaceID, action, target)
}

// ReadAt is Read for a caller that has just read the Recorder's clock:
// at is the read's time when it is recorded alone (through a journal).
// A group commit records its own time.
func (r *Recorder) ReadAt(ctx context.Context, at time.Time, actor Actor, workspaceID, action, target string) error {
	return r.reads.record(ctx, readKey{actor: actor, workspace: workspaceID, action: action, target: target}, at)
}
