package store

// ListPage selects a page of a list ordered by id: the records of
// WorkspaceID (every workspace when empty) whose id sorts after After
// (from the first when empty), at most Limit (DefaultPageLimit when not
// positive). After is a position, not a lookup: an id that names nothing
// (a record deleted since) still starts the page where it would sort, so
// a reader walking the pages never skips or repeats a record because
// the last one it saw was deleted.
type ListPage struct {
	WorkspaceID string
	After       string
	Limit       int
}

// ListPageLimit is the limit the Page methods use.
func ListPageLimit(p ListPage) int { return DueLimit(p.Limit) }

// VersionPage selects a page of one parent's numbered records (an
// integration's credential versions, a webhook's deliveries): those
// after the record with id After (from the first when empty), at most
// Limit (DefaultPageLimit when not positive). Unlike a ListPage, After
// must name one of Parent's records, else ErrNotFound: the order is by
// number, which only the record itself knows.
type VersionPage struct {
	Parent string
	After  string
	Limit  int
}

// VersionPageLimit is the limit PageCredentials and
// ListWebhookDeliveries use.
func VersionPageLimit(p VersionPage) int { return DueLimit(p.Limit) }
