package events

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stormcreds/storm/internal/journal"
	"github.com/stormcreds/storm/internal/store"
)

// ErrReadsBusy means more secret reads wait to be recorded than the
// queue holds: the read is refused rather than answered unrecorded.
var ErrReadsBusy = errors.New("too many secret reads wait to be recorded")

// ErrUnrecorded wraps the reason a batch of secret reads could not be
// written to the audit log.
var ErrUnrecorded = errors.New("the secret read could not be recorded in the audit log")

// Read-audit defaults (ReadsConfig).
const (
	DefaultMaxBatch      = 256
	DefaultMaxQueue      = 4096
	DefaultCommitTimeout = 5 * time.Second
)

// ReadsConfig tunes the group committer of secret reads. The zero value
// means the defaults above and no metrics.
type ReadsConfig struct {
	// MaxBatch is how many reads one audit transaction carries at most.
	MaxBatch int
	// MaxQueue is how many reads may wait for a transaction; one more is
	// refused with ErrReadsBusy.
	MaxQueue int
	// CommitTimeout bounds one audit transaction. It does not follow any
	// caller's context: one caller leaving must not fail the others.
	CommitTimeout time.Duration
	// Metrics, when set, is told of every commit: how many reads it
	// held, in how many records, and whether it failed.
	Metrics func(reads, records int, err error)
	// Journal, when set, is where reads are committed: a write(2) to a
	// local file instead of a database transaction, folded into the
	// audit log in bulk (package journal). Give it MergeReads as its
	// Merge.
	Journal *journal.Journal
}

// readKey is what makes two reads one audit record within a batch.
type readKey struct {
	actor                     Actor
	workspace, action, target string
}

// readWaiter is one secret read waiting to be recorded. result receives
// exactly one value: the commit's outcome, or lead (this waiter must now
// commit the next batch itself).
type readWaiter struct {
	key    readKey
	result chan readOutcome
}

type readOutcome struct {
	err  error
	lead bool
}

// reads group-commits secret reads: concurrent reads share one
// transaction, a lone read costs one. There is no goroutine of its own:
// the first read to find no commit in progress commits (the leader); the
// reads that arrive meanwhile queue and, when the commit ends, the first
// of them leads the next one with all of them in it (group commit).
type reads struct {
	cfg    ReadsConfig
	append func(ctx context.Context, recs ...store.AuditRecord) error
	now    func() time.Time

	lastBatch atomic.Int64 // reads in the last batch

	mu      sync.Mutex
	busy    bool          // a leader is committing or about to
	next    *readWaiter   // handed leadership, not yet leading
	pending []*readWaiter // waiting for a batch, oldest first
}

func newReads(cfg ReadsConfig, appendAudit func(context.Context, ...store.AuditRecord) error, now func() time.Time) *reads {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = DefaultMaxQueue
	}
	if cfg.CommitTimeout <= 0 {
		cfg.CommitTimeout = DefaultCommitTimeout
	}
	return &reads{cfg: cfg, append: appendAudit, now: now}
}

// record returns once k is in a committed audit transaction (nil), or
// with why it is not (and then it never will be, except after ctx ended:
// a read given up on may still be recorded, which overstates, never
// understates, what was answered).
func (r *reads) record(ctx context.Context, k readKey, at time.Time) error {
	if j := r.cfg.Journal; j != nil {
		// A journal tally is a copy under the journal's own lock:
		// cheaper alone than handing reads between goroutines to share
		// it. A worker's repeated reads of one credential are one record
		// whose count the journal raises in place. A local write: no
		// timer (a context deadline costs one per read). Called directly,
		// not through r.append, so the record stays on the stack.
		var buf [128]byte
		return r.observe(1, 1, j.Tally(context.Background(), k.appendKey(buf[:0]), k.record(1, at.UTC())))
	}
	w := &readWaiter{key: k, result: make(chan readOutcome, 1)}
	r.mu.Lock()
	if len(r.pending) >= r.cfg.MaxQueue {
		r.mu.Unlock()
		return ErrReadsBusy
	}
	r.pending = append(r.pending, w)
	lead := !r.busy
	r.busy = true
	r.mu.Unlock()
	if lead {
		r.lead()
	}
	for {
		select {
		case o := <-w.result:
			if !o.lead {
				return o.err
			}
			r.lead()
		case <-ctx.Done():
			if r.withdraw(w) {
				return ctx.Err()
			}
			// Already in a batch, or leading the next one: wait for it.
			o := <-w.result
			if !o.lead {
				return o.err
			}
			r.lead()
		}
	}
}

// withdraw takes w out of the queue if no batch holds it yet and it was
// not handed leadership.
func (r *reads) withdraw(w *readWaiter) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.next == w {
		return false
	}
	i := slices.Index(r.pending, w)
	if i < 0 {
		return false
	}
	r.pending = slices.Delete(r.pending, i, i+1)
	return true
}

// lead commits the oldest queued reads (the leader's own among them) in
// one transaction, tells each its outcome, and hands leadership to the
// oldest read still queued, if any.
func (r *reads) lead() {
	r.gather()
	r.mu.Lock()
	r.next = nil
	n := min(len(r.pending), r.cfg.MaxBatch)
	batch := slices.Clone(r.pending[:n])
	r.pending = slices.Delete(r.pending, 0, n)
	r.mu.Unlock()

	r.lastBatch.Store(int64(len(batch)))
	err := r.commit(batch)
	for _, w := range batch {
		w.result <- readOutcome{err: err}
	}

	r.mu.Lock()
	if len(r.pending) == 0 {
		r.busy = false
		r.mu.Unlock()
		return
	}
	next := r.pending[0]
	r.next = next
	r.mu.Unlock()
	next.result <- readOutcome{lead: true}
}

// gather lets reads already on their way join the batch when the last
// commit was shared, a sign of load: the leader yields the processor
// while the queue keeps growing, a few times at most. It never sleeps, so
// a read is never held back by a timer.
func (r *reads) gather() {
	if r.lastBatch.Load() < 2 {
		return
	}
	r.mu.Lock()
	n := len(r.pending)
	r.mu.Unlock()
	for range gatherYields {
		runtime.Gosched()
		r.mu.Lock()
		m := len(r.pending)
		r.mu.Unlock()
		if m == n || m >= r.cfg.MaxBatch {
			return
		}
		n = m
	}
}

const gatherYields = 8

// commit writes batch as audit records, identical reads merged into one
// record whose detail counts them, in one AppendAudit call (all or none).
func (r *reads) commit(batch []*readWaiter) error {
	if len(batch) == 0 {
		return nil
	}
	at := r.now().UTC()
	counts := map[readKey]int{}
	var order []readKey
	for _, w := range batch {
		if counts[w.key] == 0 {
			order = append(order, w.key)
		}
		counts[w.key]++
	}
	recs := make([]store.AuditRecord, 0, len(order))
	for _, k := range order {
		recs = append(recs, k.record(counts[k], at))
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.CommitTimeout)
	err := r.append(ctx, recs...)
	cancel()
	return r.observe(len(batch), len(recs), err)
}

// observe reports a commit to the metrics and returns its error as the
// readers see it.
func (r *reads) observe(reads, records int, err error) error {
	if r.cfg.Metrics != nil {
		r.cfg.Metrics(reads, records, err)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnrecorded, err)
	}
	return nil
}

// appendKey appends what tells k from other reads to b: its fields,
// each after its length.
func (k readKey) appendKey(b []byte) []byte {
	for _, f := range [...]string{k.workspace, k.actor.TokenID, k.actor.IP, k.actor.CreatedBy, k.action, k.target} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

// CountReads is the journal's Count: n tallies of a read record are one
// record of n times its count. Other records are returned as they are.
func CountReads(rec store.AuditRecord, n uint64) store.AuditRecord {
	d, ok := parseReadDetail(rec)
	if !ok || n == 0 || uint64(d.Count) > math.MaxInt/n {
		return rec
	}
	d.Count *= int(n)
	rec.Detail = d.encode()
	return rec
}

// record is the audit record of count reads of k at at. No id: the
// append (or the journal's fold) gives one.
func (k readKey) record(count int, at time.Time) store.AuditRecord {
	return store.AuditRecord{WorkspaceID: k.workspace, Actor: k.actor.TokenID, Action: k.action, Target: k.target,
		At: at, IP: k.actor.IP, Detail: readDetail{Count: count, LinkCreatedBy: k.actor.CreatedBy}.encode()}
}

// oneRead is the detail of one read by a token. Shared: records' details
// are replaced, never written in place.
var oneRead = []byte(`{"count":1}`)

// readDetail is the detail of a read record.
type readDetail struct {
	Count         int    `json:"count"`
	LinkCreatedBy string `json:"link_created_by,omitempty"`
}

// MergeReads merges read records (as Read writes them) that differ only
// in time and count into one per workspace, actor, IP, action, target
// and creating token: the first one's id and time, the counts summed.
// It is the journal's Merge: the reads folded together happened within
// one fold interval. Records that are not reads are kept as they are.
func MergeReads(recs []store.AuditRecord) []store.AuditRecord {
	type key struct {
		workspace, actor, ip, action, target, createdBy string
	}
	// out grows with the distinct records, not with recs: the journal
	// merges every few hundred reads, most of them alike.
	var out []store.AuditRecord
	var details []readDetail // details[i] is out[i]'s, where at holds i
	at := map[key]int{}      // index in out
	var last key             // the previous read's key, at index prev
	prev := -1
	for _, rec := range recs {
		d, ok := parseReadDetail(rec)
		if !ok {
			out = append(out, rec)
			details = append(details, readDetail{})
			continue
		}
		k := key{rec.WorkspaceID, rec.Actor, rec.IP, rec.Action, rec.Target, d.LinkCreatedBy}
		if prev >= 0 && k == last { // a run of one worker's reads: no hashing
			details[prev].Count += d.Count
			continue
		}
		i, ok := at[k]
		if ok {
			details[i].Count += d.Count
		} else {
			i = len(out)
			at[k] = i
			out = append(out, rec)
			details = append(details, d)
		}
		last, prev = k, i
	}
	for _, i := range at {
		out[i].Detail = details[i].encode()
	}
	return out
}

// encode writes d as JSON; a token's reads (no link) in the form
// parseReadDetail reads without encoding/json.
func (d readDetail) encode() []byte {
	if d.LinkCreatedBy == "" {
		if d.Count == 1 {
			return oneRead // every read through a journal: no allocation
		}
		return append(strconv.AppendInt([]byte(`{"count":`), int64(d.Count), 10), '}')
	}
	b, _ := json.Marshal(d)
	return b
}

// parseReadDetail reads the detail of a read record. A fold parses one
// per committed batch, so the form commit writes for a token's reads,
// {"count":N}, is read without encoding/json.
func parseReadDetail(rec store.AuditRecord) (readDetail, bool) {
	if rec.Action != "credential.access" && rec.Action != "credential.proxy" {
		return readDetail{}, false
	}
	if n, ok := bytes.CutPrefix(rec.Detail, []byte(`{"count":`)); ok {
		if n, ok := bytes.CutSuffix(n, []byte("}")); ok {
			if c, err := strconv.Atoi(string(n)); err == nil && c >= 1 {
				return readDetail{Count: c}, true
			}
		}
	}
	var d readDetail
	if json.Unmarshal(rec.Detail, &d) != nil || d.Count < 1 {
		return readDetail{}, false
	}
	return d, true
}
