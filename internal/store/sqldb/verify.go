package sqldb

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

// verifiable selects the integrations with something to verify. It is
// the predicate of the integrations_verify_due index (migration 0018)
// word for word: SQLite uses a partial index only for a query that
// repeats its terms.
const verifiable = `status NOT IN ('pending', 'disabled')`

// neverScheduled is the stored next_verify_at of an integration whose turn
// was never scheduled (the column's default): due at once. SQLite reads
// it back as the zero time, PostgreSQL as 1970; both answer the zero time.
var neverScheduled = time.Unix(0, 0).UTC()

// The due verifications, first page and after a cursor: one range of
// integrations_verify_due in its order (the explain tests check it).
const (
	DueVerificationsSQL = `SELECT next_verify_at, ` + store.IntegrationColumns + ` FROM integrations
		WHERE ` + verifiable + ` AND next_verify_at <= $1
		ORDER BY next_verify_at, id LIMIT $2`
	DueVerificationsAfterSQL = `SELECT next_verify_at, ` + store.IntegrationColumns + ` FROM integrations
		WHERE ` + verifiable + ` AND next_verify_at <= $1 AND (next_verify_at, id) > ($2, $3)
		ORDER BY next_verify_at, id LIMIT $4`
)

// ListDueVerifications returns the integrations with something to verify
// whose next_verify_at is not after now, after the cursor, earliest first
// (ties by id), at most limit (store.DefaultPageLimit when not positive).
func (q *Queries) ListDueVerifications(ctx context.Context, now time.Time, after store.VerifyCursor, limit int) ([]store.DueVerification, error) {
	if now.IsZero() {
		return nil, fmt.Errorf("list due verifications: zero time")
	}
	scan := func(r store.Row) (store.DueVerification, error) {
		var d store.DueVerification
		in, err := q.d.Scan.Integration(store.Leading{Row: r, First: q.d.Scan.Time(&d.NextVerifyAt)})
		if d.NextVerifyAt.Equal(neverScheduled) {
			d.NextVerifyAt = time.Time{}
		}
		d.Integration = in
		return d, err
	}
	var due []store.DueVerification
	var err error
	if after.ID == "" {
		due, err = QueryAll(ctx, q.read, scan, DueVerificationsSQL, q.d.Time(now), store.DueLimit(limit))
	} else {
		at := after.At
		if at.IsZero() {
			at = neverScheduled
		}
		due, err = QueryAll(ctx, q.read, scan, DueVerificationsAfterSQL, q.d.Time(now), q.d.Time(at), after.ID, store.DueLimit(limit))
	}
	if err != nil {
		return nil, fmt.Errorf("list due verifications: %w", q.d.Err(err))
	}
	return due, nil
}

// scheduleVerificationSQL moves one turn: the condition and the write are
// one statement, so of the instances that find one turn due exactly one
// moves it.
const scheduleVerificationSQL = `UPDATE integrations SET next_verify_at = $1 WHERE id = $2 AND next_verify_at <= $3`

// ScheduleVerification moves integration id's next_verify_at to next if
// it is not after now, and reports whether it did: it is the turn's
// claim, as AcquireLease is a refresh's.
func (q *Queries) ScheduleVerification(ctx context.Context, id string, next, now time.Time) (bool, error) {
	took, err := q.ScheduleVerifications(ctx, []store.VerifyTurn{{ID: id, Next: next, Now: now}})
	if err != nil {
		return false, err
	}
	return took[0], nil
}

// ScheduleVerifications moves each turn as ScheduleVerification does, all
// in one write transaction: a scan that finds a page of turns due (the
// first after migration 0018 finds every one) commits once a page, not
// once a turn.
func (q *Queries) ScheduleVerifications(ctx context.Context, turns []store.VerifyTurn) ([]bool, error) {
	for _, t := range turns {
		if t.Next.IsZero() || t.Now.IsZero() {
			return nil, fmt.Errorf("schedule verification of %s: zero time", t.ID)
		}
	}
	// Rows are locked in id order, whatever the page's order, so that
	// instances moving overlapping pages cannot deadlock.
	order := make([]int, len(turns))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(turns[a].ID, turns[b].ID) })
	took := make([]bool, len(turns))
	err := q.write(ctx, func(c Conn) error {
		for _, i := range order {
			t := turns[i]
			n, err := c.Exec(ctx, scheduleVerificationSQL, q.d.Time(t.Next), t.ID, q.d.Time(t.Now))
			if err != nil {
				return err
			}
			took[i] = n > 0
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("schedule %d verifications: %w", len(turns), q.d.Err(err))
	}
	return took, nil
}
