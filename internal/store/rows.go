package store

import (
	"strings"
	"time"
)

// Columns that backends select for each record, in the order Scanner reads
// them.
const (
	WorkspaceColumns   = `id, name, created_at`
	APITokenColumns    = `id, name, workspace_id, role, hash, created_at, last_used_at`
	IntegrationColumns = `id, workspace_id, name, provider, auth_method, config, secret_config, status,
	status_reason, created_at, updated_at, last_verified_at, last_used_at, revision, app_id`
	CredentialColumns = `id, integration_id, workspace_id, version, state, hint, fingerprint, secret,
	created_at, verified_at, expires_at, revoked_at, refresh_at, failures, revision`
	EventColumns      = `id, workspace_id, integration_id, type, at, data`
	AuditColumns      = `id, workspace_id, actor, action, target, at, ip, detail, chain_seq, prev_hash, hash`
	OAuthStateColumns = `hash, integration_id, workspace_id, verifier, return_to, binding, actor,
	created_at, expires_at, link_id, pending`
)

// Row is a row being read: *sql.Row, *sql.Rows, pgx.Row or pgx.Rows.
type Row interface {
	Scan(dest ...any) error
}

// Leading is Row with one extra leading column, read into First: for a
// column a backend selects ahead of a Columns list (such as seq).
type Leading struct {
	Row   Row
	First any
}

// Scan implements Row.
func (l Leading) Scan(dest ...any) error { return l.Row.Scan(append([]any{l.First}, dest...)...) }

// Scanner reads records from rows of the matching Columns.
type Scanner struct {
	// Time returns the scan destination that reads a stored time into *t:
	// UTC, and the zero time for NULL. Only it differs between backends.
	Time func(t *time.Time) any
}

// Workspace reads a row of WorkspaceColumns.
func (s Scanner) Workspace(r Row) (Workspace, error) {
	var w Workspace
	err := r.Scan(&w.ID, &w.Name, s.Time(&w.CreatedAt))
	return w, err
}

// APIToken reads a row of APITokenColumns.
func (s Scanner) APIToken(r Row) (APIToken, error) {
	var t APIToken
	err := r.Scan(&t.ID, &t.Name, &t.WorkspaceID, &t.Role, &t.Hash, s.Time(&t.CreatedAt), s.Time(&t.LastUsedAt))
	return t, err
}

// Integration reads a row of IntegrationColumns.
func (s Scanner) Integration(r Row) (Integration, error) {
	var in Integration
	var app *string
	err := r.Scan(&in.ID, &in.WorkspaceID, &in.Name, &in.Provider, &in.AuthMethod, &in.Config,
		&in.SecretConfig, &in.Status, &in.StatusReason, s.Time(&in.CreatedAt), s.Time(&in.UpdatedAt),
		s.Time(&in.LastVerifiedAt), s.Time(&in.LastUsedAt), &in.Revision, &app)
	if app != nil {
		in.AppID = *app
	}
	return in, err
}

// Credential reads a row of CredentialColumns.
func (s Scanner) Credential(r Row) (Credential, error) {
	var c Credential
	err := r.Scan(&c.ID, &c.IntegrationID, &c.WorkspaceID, &c.Version, &c.State, &c.Hint, &c.Fingerprint,
		&c.Secret, s.Time(&c.CreatedAt), s.Time(&c.VerifiedAt), s.Time(&c.ExpiresAt),
		s.Time(&c.RevokedAt), s.Time(&c.RefreshAt), &c.Failures, &c.Revision)
	return c, err
}

// OAuthState reads a row of OAuthStateColumns.
func (s Scanner) OAuthState(r Row) (OAuthState, error) {
	var st OAuthState
	err := r.Scan(&st.Hash, &st.IntegrationID, &st.WorkspaceID, &st.Verifier, &st.ReturnTo, &st.Binding,
		&st.Actor, s.Time(&st.CreatedAt), s.Time(&st.ExpiresAt), &st.LinkID, &st.Pending)
	return st, err
}

// OAuthStatePurgeAge is how long after expiry ConsumeOAuthState purges a
// state nobody consumed.
const OAuthStatePurgeAge = 24 * time.Hour

// NullString stores an empty string as NULL (a column with a foreign key,
// such as integrations.app_id, where "none" must be NULL).
func NullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// DueLimit is the limit ListDueCredentials uses: limit, or
// DefaultPageLimit when limit is not positive.
func DueLimit(limit int) int {
	if limit <= 0 {
		return DefaultPageLimit
	}
	return limit
}

// TokenPageLimit is the limit ListAPITokens uses: p.Limit, or
// DefaultPageLimit when it is not positive.
func TokenPageLimit(p TokenPage) int { return DueLimit(p.Limit) }

// Event reads a row of EventColumns.
func (s Scanner) Event(r Row) (Event, error) {
	var e Event
	err := r.Scan(&e.ID, &e.WorkspaceID, &e.IntegrationID, &e.Type, s.Time(&e.At), &e.Data)
	return e, err
}

// Audit reads a row of AuditColumns.
func (s Scanner) Audit(r Row) (AuditRecord, error) {
	var a AuditRecord
	err := r.Scan(&a.ID, &a.WorkspaceID, &a.Actor, &a.Action, &a.Target, s.Time(&a.At), &a.IP, &a.Detail, &a.Seq, &a.PrevHash, &a.Hash)
	return a, err
}

// DefaultPageLimit is the page size when Page.Limit is not positive.
const DefaultPageLimit = 100

// PageClause returns the clauses, with a leading space, that select page p
// of a log table (WHERE, ORDER BY seq, descending when p.Newest, and
// LIMIT) and their arguments. afterSeq is the seq of the entry p.After,
// which the backend looks up first so that an unknown id is ErrNotFound
// rather than an empty page; it is unused when After is empty. p.IntegrationID applies as given: callers clear it for
// a log without integrations. param returns the placeholder of the nth
// argument, counting from 1.
func PageClause(p Page, afterSeq int64, param func(n int) string) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		conds = append(conds, cond+" "+param(len(args)))
	}
	order := " ORDER BY seq LIMIT "
	if p.After != "" {
		if p.Newest {
			add("seq <", afterSeq)
		} else {
			add("seq >", afterSeq)
		}
	}
	if p.Newest {
		order = " ORDER BY seq DESC LIMIT "
	}
	if p.WorkspaceID != "" {
		add("workspace_id =", p.WorkspaceID)
	}
	if p.IntegrationID != "" {
		add("integration_id =", p.IntegrationID)
	}
	var where string
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	limit := p.Limit
	if limit <= 0 {
		limit = DefaultPageLimit
	}
	args = append(args, limit)
	return where + order + param(len(args)), args
}
