package audit

import (
	"context"

	"github.com/stormcreds/storm/internal/store"
)

// Reasons a Verifier gives for the first bad entry. They are fixed texts:
// they name what is wrong, never an entry's contents.
const (
	ReasonNotChained = "entry has no hash: it was not written through the chain"
	ReasonChanged    = "entry changed: its hash does not match its contents"
	ReasonMissing    = "an entry before this one is missing"
	ReasonReordered  = "entries out of order: an earlier entry appears later in the log"
	ReasonRepeated   = "seq does not increase: entry repeated, inserted or out of order"
	ReasonBrokenLink = "chain broken: prev_hash is not the hash of the entry before"
)

// Result is the outcome of a verification, as GET /v1/audit/verify
// answers it. Entries counts every entry read, bad or not.
type Result struct {
	OK       bool   `json:"ok"`
	Entries  int64  `json:"entries"`
	FirstBad string `json:"first_bad,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// Verifier checks a log fed to it entry by entry in log order (ascending
// store seq, as ListAudit pages it). It recomputes each hash, and checks
// that seq counts up by one from 1 and that each prev_hash is the hash
// before it. It remembers only the last entry, so memory is bounded. The
// zero value verifies a log from its first entry. It is not safe for
// concurrent use.
type Verifier struct {
	head    Head
	n       int64
	bad     string
	reason  string
	missing int64 // the seq absent where a gap was found, until seen later
}

// Add checks rec, the next entry of the log.
func (v *Verifier) Add(rec store.AuditRecord) {
	v.n++
	if v.bad != "" {
		// A gap whose entry turns up later was a move, not a deletion.
		if v.missing != 0 && rec.Seq == v.missing {
			v.reason, v.missing = ReasonReordered, 0
		}
		return
	}
	prev := v.head.Hash
	if prev == "" {
		prev = Genesis
	}
	expect := v.head.Seq + 1
	switch {
	case rec.Hash == "":
		v.fail(rec, ReasonNotChained)
	case Hash(rec) != rec.Hash:
		v.fail(rec, ReasonChanged)
	case rec.Seq > expect:
		v.fail(rec, ReasonMissing)
		v.missing = expect
	case rec.Seq < expect:
		v.fail(rec, ReasonRepeated)
	case rec.PrevHash != prev:
		v.fail(rec, ReasonBrokenLink)
	}
	v.head = Head{Seq: rec.Seq, Hash: rec.Hash}
}

func (v *Verifier) fail(rec store.AuditRecord, reason string) {
	v.bad, v.reason = rec.ID, reason
}

// Result says whether every entry added so far is valid and, if not,
// which one is the first bad one and why.
func (v *Verifier) Result() Result {
	return Result{OK: v.bad == "", Entries: v.n, FirstBad: v.bad, Reason: v.reason}
}

// PageSize is how many entries Verify reads at a time.
const PageSize = 1000

// Verify reads the whole log through list, a page at a time in log order
// (store.Store's ListAudit), and verifies it. An error is a failure to
// read, not a bad chain.
func Verify(ctx context.Context, list func(context.Context, store.Page) ([]store.AuditRecord, error)) (Result, error) {
	var v Verifier
	p := store.Page{Limit: PageSize}
	for {
		page, err := list(ctx, p)
		if err != nil {
			return Result{}, err
		}
		for _, rec := range page {
			v.Add(rec)
		}
		if len(page) < p.Limit {
			return v.Result(), nil
		}
		p.After = page[len(page)-1].ID
	}
}
