package store

import "time"

// Instance is a running Storm instance as it last reported itself: which
// data-key term it seals under. The re-wrap job waits for every live
// instance to report the new term instead of a fixed time.
type Instance struct {
	ID      string
	KeyTerm uint32
	// SeenAt is the last heartbeat, by the database's clock.
	SeenAt time.Time
}

// InstancePurgeAfter is how long an instance that stopped reporting is
// kept before a heartbeat removes its row.
const InstancePurgeAfter = 24 * time.Hour

// InstanceColumns are the columns backends select for an Instance, in
// the order Scanner.Instance reads them.
const InstanceColumns = `id, key_term, seen_at`

// Instance reads a row of InstanceColumns.
func (s Scanner) Instance(r Row) (Instance, error) {
	var in Instance
	var term int64
	err := r.Scan(&in.ID, &term, s.Time(&in.SeenAt))
	in.KeyTerm = uint32(term)
	return in, err
}
