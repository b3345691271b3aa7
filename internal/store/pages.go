package store

import "context"

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
	// Status, when set, keeps only integrations of that status
	// (PageIntegrations only; it needs WorkspaceID).
	Status string
	// AppID, when set, keeps only the integrations that use that app
	// (PageIntegrations only; WorkspaceID and Status are then ignored).
	AppID string
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
	// Newest reads newest first (PageCredentials only): After then
	// means older than that record.
	Newest bool
}

// VersionPageLimit is the limit PageCredentials and
// ListWebhookDeliveries use.
func VersionPageLimit(p VersionPage) int { return DueLimit(p.Limit) }

// IntegrationPager is the part of a Store that EachIntegration needs.
type IntegrationPager interface {
	PageIntegrations(ctx context.Context, p ListPage) ([]Integration, error)
}

// EachIntegrationPage is how many integrations EachIntegration reads at
// a time.
const EachIntegrationPage = 500

// EachIntegration calls fn with every integration of workspace (every
// workspace when empty), in id order, reading them a page at a time so
// that a walk over 100,000 integrations holds only one page in memory
// and no read transaction for long. It stops at fn's first error, or
// when ctx ends, and returns that error. Integrations created or deleted
// during the walk may or may not be seen.
func EachIntegration(ctx context.Context, st IntegrationPager, workspace string, fn func(Integration) error) error {
	p := ListPage{WorkspaceID: workspace, Limit: EachIntegrationPage}
	for {
		page, err := st.PageIntegrations(ctx, p)
		if err != nil {
			return err
		}
		for _, in := range page {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(in); err != nil {
				return err
			}
		}
		if len(page) < p.Limit {
			return nil
		}
		p.After = page[len(page)-1].ID
	}
}
