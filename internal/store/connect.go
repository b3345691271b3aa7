package store

import (
	"encoding/json"
	"time"
)

// ConnectLink lets a person without an API token connect one
// integration through a page of its own (shared/API.md "Connect links"),
// or create one among allowed providers. Only a hash of its secret is
// stored; the secret is in the link's URL and nowhere else.
type ConnectLink struct {
	ID          string // cnl_…
	WorkspaceID string
	// IntegrationID is the integration the link connects. A link that
	// creates one has none until it is used, then the one it created.
	IntegrationID string
	// Providers are, for a link that creates an integration, the
	// providers the person may choose among; nil for a link to an
	// existing integration.
	Providers []string
	// Name is the name a created integration gets.
	Name      string
	Hash      []byte // SHA-256 of the secret
	ReturnURL string // may be empty
	CreatedBy string // the API token that created it
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    time.Time // zero: not used
	DeletedAt time.Time // zero: not deleted
	LockedAt  time.Time // zero: not locked (too many failed attempts)
	// Failures counts failed attempts (a refused key, a failed
	// authorization).
	Failures int
	// ClaimedUntil is when an attempt in progress gives the link up;
	// while it lasts no other attempt may use it.
	ClaimedUntil time.Time
	// LastError is why the last attempt failed, as the link page shows
	// it (fixed texts and scrubbed provider words only).
	LastError string
	// Revision increases with every update (compare-and-swap); callers
	// must not set it.
	Revision int64
}

// Creates reports whether the link creates an integration.
func (l ConnectLink) Creates() bool { return len(l.Providers) > 0 }

// ConnectLinkForgetAfter is how long after its expiry a link is kept so
// that its URL can still say "expired" (or "spent", "deleted"); creating a
// link forgets up to ConnectLinkPurgeBatch older ones, after which their
// URLs answer 404 like any unknown link.
const ConnectLinkForgetAfter = 30 * 24 * time.Hour

// ConnectLinkPurgeBatch bounds how many old links one creation forgets.
const ConnectLinkPurgeBatch = 100

// ConnectLinkPage selects a page of connect links that are not deleted:
// those of WorkspaceID and, when set, IntegrationID, whose id sorts after
// After, ordered by id, at most Limit (DefaultPageLimit when not
// positive).
type ConnectLinkPage struct {
	WorkspaceID   string
	IntegrationID string
	After         string
	Limit         int
}

// ConnectLinkPageLimit is the limit ListConnectLinks uses.
func ConnectLinkPageLimit(p ConnectLinkPage) int { return DueLimit(p.Limit) }

// ConnectLinkColumns are the columns backends select for a ConnectLink,
// in the order Scanner.ConnectLink reads them.
const ConnectLinkColumns = `id, workspace_id, integration_id, providers, name, hash, return_url, created_by,
	created_at, expires_at, used_at, deleted_at, locked_at, failures, claimed_until, last_error, revision`

// ConnectLink reads a row of ConnectLinkColumns.
func (s Scanner) ConnectLink(r Row) (ConnectLink, error) {
	var l ConnectLink
	var integ *string
	var providers []byte
	err := r.Scan(&l.ID, &l.WorkspaceID, &integ, &providers, &l.Name, &l.Hash, &l.ReturnURL, &l.CreatedBy,
		s.Time(&l.CreatedAt), s.Time(&l.ExpiresAt), s.Time(&l.UsedAt), s.Time(&l.DeletedAt), s.Time(&l.LockedAt),
		&l.Failures, s.Time(&l.ClaimedUntil), &l.LastError, &l.Revision)
	if err != nil {
		return l, err
	}
	if integ != nil {
		l.IntegrationID = *integ
	}
	if len(providers) > 0 {
		err = json.Unmarshal(providers, &l.Providers)
	}
	return l, err
}

// ProvidersColumn is how backends store ConnectLink.Providers: a JSON
// array, or NULL for a link to an existing integration.
func ProvidersColumn(providers []string) any {
	if len(providers) == 0 {
		return nil
	}
	b, _ := json.Marshal(providers)
	return b
}
