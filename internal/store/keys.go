package store

import "time"

// Job is the persisted state of a cluster-wide background job (such as
// the key re-wrap), so that whichever instance holds its lease can resume
// it where the last holder stopped.
type Job struct {
	Name       string
	State      string // job-defined ("running", "done", …)
	Data       []byte // job-defined JSON; never a secret
	StartedAt  time.Time
	UpdatedAt  time.Time
	FinishedAt time.Time // zero: not finished
	// Revision increases with every PutJob (compare-and-swap); callers
	// pass the revision they read, 0 for a new job.
	Revision int64
}

// JobColumns are the columns backends select for a Job, in the order
// Scanner.Job reads them.
const JobColumns = `name, state, data, started_at, updated_at, finished_at, revision`

// Job reads a row of JobColumns.
func (s Scanner) Job(r Row) (Job, error) {
	var j Job
	err := r.Scan(&j.Name, &j.State, &j.Data, s.Time(&j.StartedAt), s.Time(&j.UpdatedAt), s.Time(&j.FinishedAt), &j.Revision)
	return j, err
}

// ScanLimit is the limit ScanCredentials and ScanIntegrations use: limit,
// or DefaultPageLimit when limit is not positive.
func ScanLimit(limit int) int { return DueLimit(limit) }
