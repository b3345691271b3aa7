package journal

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

// ErrFull means more records wait to be folded into the audit log than
// the journal may hold (Config.MaxUnfolded): the audit log has been
// failing for a while. Appends are refused until folds succeed again.
var ErrFull = errors.New("the audit journal is full: its records cannot be folded into the audit log")

// ErrInUse means another process has the journal open: the segments
// there are its own, still being written.
var ErrInUse = errors.New("the audit journal is in use by another process")

// Defaults (Config).
const (
	DefaultInterval    = time.Second
	DefaultMaxUnfolded = 64 << 20
	// foldAtBytes starts a fold before the interval ends when the
	// current segment grows this large, keeping folds short.
	foldAtBytes = 1 << 20
	// mergeEvery is how many records a segment collects before Merge
	// first runs on them.
	mergeEvery = 256
	// maxKeptBuffer bounds the frame buffer kept between appends.
	maxKeptBuffer = 64 << 10
	// segmentRoom is the space a mapped segment reserves: it is retired
	// at foldAtBytes, so it rarely needs more.
	segmentRoom = 2 * foldAtBytes
	// minPrefault is the least of a spare segment faulted in ahead.
	minPrefault = 64 << 10
)

// Folder is where folded records go: store.Store's FoldAudit.
type Folder interface {
	FoldAudit(ctx context.Context, f store.AuditFold) (bool, error)
}

// Config says where the journal lives and where it folds to.
type Config struct {
	// Dir is the journal's directory, created (0700) if missing. One
	// process at a time may use it.
	Dir string
	// Store receives the folded records.
	Store Folder
	// Merge, when set, turns a segment's records into the ones appended
	// to the audit log (for example, identical reads into one record
	// with a count). It runs as records arrive too, so merging merged
	// records must be right. It must not keep or change its argument.
	Merge func([]store.AuditRecord) []store.AuditRecord
	// Count, when set, turns a record that Tally recorded n times into
	// the one record the fold appends for them (for example, a read
	// with a count of n). Without it, Tally is Append. A journal that
	// holds tallies must be opened with the Count that wrote them: without
	// one, a tally's record is folded as it is, its count lost.
	Count func(rec store.AuditRecord, n uint64) store.AuditRecord
	// Interval is how often records are folded (0: DefaultInterval).
	Interval time.Duration
	// MaxUnfolded bounds the bytes waiting to be folded; beyond it,
	// Append returns ErrFull (0: DefaultMaxUnfolded).
	MaxUnfolded int64
	// Metrics, when set, is told of every fold: records in, records
	// appended, and the error.
	Metrics func(in, out int, err error)
	Logger  *slog.Logger

	// writeOnly appends with write(2) even where segments can be mapped
	// (tests of that path).
	writeOnly bool
}

// Journal is an open journal. Append, Fold and Close are safe for
// concurrent use.
type Journal struct {
	cfg  Config
	lock *os.File // held open: the directory's lock

	mu       sync.Mutex
	cur      *segment   // being appended to; nil until the next Append
	closed   []*segment // no longer appended to, not folded yet, oldest first
	unfolded int64      // bytes in cur and closed
	shut     bool
	// spare is the next segment, made ready by prepareSpare outside mu:
	// file created, room reserved, mapped, its pages faulted in. Taking it
	// keeps page faults and file creation out of appends, which hold mu:
	// one fault there (a page's worth of kernel work) stalls every
	// concurrent reader's append behind it.
	spare     *segment
	preparing bool
	prepared  sync.WaitGroup // the prepareSpare goroutine
	lastSize  int64          // bytes of the segment retired last

	foldMu sync.Mutex // one fold at a time, so segments fold in order
	forget []string   // folded segments whose files are gone

	wake chan struct{}
	stop chan struct{}
	done chan struct{}
}

// segment is one journal file and the records written to it.
type segment struct {
	name string
	file *os.File // nil once closed
	// mem is the file mapped, when it could be: appends copy into it.
	// Its bytes past size are zeros.
	mem  []byte
	recs []store.AuditRecord
	// tallies are the records Tally counts in this segment, and tallyAt
	// finds each by its key.
	tallies []tally
	tallyAt map[string]int
	size    int64 // bytes of frames written
	// mergeAt is the length of recs at which Config.Merge runs next.
	mergeAt int
}

// tally is a record counted in place: its tally frame's count ends at
// byte end of the segment.
type tally struct {
	rec store.AuditRecord
	n   uint64
	end int64
}

const (
	suffix      = ".seg"
	spareSuffix = ".spare" // a spare holds no records; renamed when taken
)

// Open opens the journal in cfg.Dir, folds the segments an earlier
// process left there (a crash, or a fold that kept failing), and starts
// folding every cfg.Interval until Close.
func Open(ctx context.Context, cfg Config) (*Journal, error) {
	if cfg.Dir == "" || cfg.Store == nil {
		return nil, errors.New("journal: Dir and Store are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.MaxUnfolded <= 0 {
		cfg.MaxUnfolded = DefaultMaxUnfolded
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit journal: %w", err)
	}
	lock, err := lockDir(filepath.Join(cfg.Dir, "lock"))
	if err != nil {
		return nil, fmt.Errorf("audit journal %s: %w", cfg.Dir, err)
	}
	j := &Journal{cfg: cfg, lock: lock, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	left, err := j.recover()
	if err != nil {
		lock.Close()
		return nil, err
	}
	j.closed = left
	for _, s := range left {
		j.unfolded += s.size
	}
	if err := j.Fold(ctx); err != nil {
		lock.Close()
		return nil, fmt.Errorf("audit journal: fold what an earlier run left: %w", err)
	}
	go j.run()
	return j, nil
}

// recover reads the segments in the directory, oldest first.
func (j *Journal) recover() ([]*segment, error) {
	entries, err := os.ReadDir(j.cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("audit journal: %w", err)
	}
	var segs []*segment
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), spareSuffix) {
			os.Remove(filepath.Join(j.cfg.Dir, e.Name())) // never written to
			continue
		}
		if e.IsDir() || !strings.HasSuffix(e.Name(), suffix) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(j.cfg.Dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("audit journal: %w", err)
		}
		recs, good, err := decodeFrames(data, j.cfg.Count)
		if err != nil {
			return nil, fmt.Errorf("audit journal %s: %w", e.Name(), err)
		}
		// A mapped segment ends in the zeros of its unused room.
		if tail := data[good:]; slices.ContainsFunc(tail, func(b byte) bool { return b != 0 }) {
			j.cfg.Logger.Warn("audit journal: dropped a torn batch at the end of a segment (the machine stopped mid-write)",
				"segment", e.Name(), "bytes", len(tail))
		}
		segs = append(segs, &segment{name: e.Name(), recs: recs, size: int64(good)})
	}
	// Names start with the creation time in fixed-width hex.
	slices.SortFunc(segs, func(a, b *segment) int { return strings.Compare(a.name, b.name) })
	return segs, nil
}

// Append writes recs to the journal as one batch and returns once the
// write is done: from then on they survive the process. An error means
// they are not in the journal.
func (j *Journal) Append(ctx context.Context, recs ...store.AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	// Encoded before taking the lock: every concurrent append waits for
	// whatever happens under it.
	bp := framePool.Get().(*[]byte)
	frame, err := encodeFrame((*bp)[:0], recs)
	if err != nil {
		framePool.Put(bp)
		return fmt.Errorf("audit journal: %w", err)
	}
	retired, err := j.append(frame, recs, nil)
	j.release(bp, frame, retired)
	return err
}

// release puts an append's frame buffer back in the pool and finishes
// the segments it retired, both after j.mu is released.
func (j *Journal) release(bp *[]byte, frame []byte, retired []*segment) {
	if cap(frame) <= maxKeptBuffer {
		*bp = frame // copied by now: reused by a later append
		framePool.Put(bp)
	}
	// Unmapped, cut and closed outside the lock too (system calls of a
	// millisecond or so); nothing appends to a retired segment.
	for _, s := range retired {
		j.finish(s)
	}
}

// Tally records one more occurrence of rec, a record that recurs as it
// is (one worker reading one credential, again and again), and returns
// once that is as durable as an Append: key names what recurs. The first
// occurrence in a segment appends rec as a tally frame with a count of
// 1; each later one raises that count in place: an 8-byte store into the
// mapped segment instead of a frame per occurrence, which the fold would
// merge away. The fold appends Config.Count(rec, n). Without Count, or
// where segments are not mapped, Tally is Append.
func (j *Journal) Tally(ctx context.Context, key []byte, rec store.AuditRecord) error {
	if j.cfg.Count == nil {
		return j.Append(ctx, rec)
	}
	j.mu.Lock()
	if !j.shut {
		if counted, broken, err := j.raise(key); counted {
			j.mu.Unlock()
			j.finish(broken)
			return err
		}
	}
	j.mu.Unlock()
	// The first of its key in this segment, most likely: encoded
	// outside the lock, as Append's frames are.
	recs := []store.AuditRecord{rec}
	bp := framePool.Get().(*[]byte)
	frame, err := encodeFrame((*bp)[:0], recs)
	if err != nil {
		framePool.Put(bp)
		return fmt.Errorf("audit journal: %w", err)
	}
	retired, err := j.append(frame, recs, key)
	j.release(bp, frame, retired)
	return err
}

// raise adds one to key's count if the current segment counts key, and
// reports whether it does. A mapping that faults takes no more: the
// segment is retired, and returned for finish. j.mu is held.
func (j *Journal) raise(key []byte) (counted bool, broken *segment, err error) {
	if j.cur == nil {
		return false, nil, nil
	}
	i, ok := j.cur.tallyAt[string(key)] // no allocation for the lookup
	if !ok {
		return false, nil, nil
	}
	if err := j.cur.raise(i); err != nil {
		return true, j.retire(), err
	}
	return true, nil, nil
}

// raise adds one to the count of s.tallies[i], in the mapped segment
// first. j.mu is held.
func (s *segment) raise(i int) error {
	t := &s.tallies[i]
	var b [countSize]byte
	binary.LittleEndian.PutUint64(b[:], t.n+1)
	if err := copyFaultless(s.mem[t.end-countSize:t.end], b[:]); err != nil {
		return fmt.Errorf("audit journal: %w", err)
	}
	t.n++
	return nil
}

// framePool holds frame buffers between appends.
var framePool = sync.Pool{New: func() any { return new([]byte) }}

// append writes frame, which holds recs, under j.mu, and returns the
// segments it retired. With a key (Tally), the frame is recs[0]'s tally
// frame, unless the current segment already counts key (then its count
// goes up) or is not mapped (then the frame is an ordinary one).
func (j *Journal) append(frame []byte, recs []store.AuditRecord, key []byte) (retired []*segment, err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.shut {
		return nil, errors.New("audit journal: closed")
	}
	if key != nil {
		if counted, broken, err := j.raise(key); counted { // since Tally looked
			return []*segment{broken}, err
		}
	}
	// Room for a tally frame's padding and count, whether or not used.
	need := len(frame)
	if key != nil {
		need += 2 * countSize
	}
	if j.unfolded+int64(need) > j.cfg.MaxUnfolded {
		return nil, ErrFull
	}
	if j.cur != nil && !j.cur.fits(need) {
		retired = append(retired, j.retire())
	}
	if j.cur == nil {
		if j.cur, err = j.next(need); err != nil {
			return retired, fmt.Errorf("audit journal: %w", err)
		}
	}
	s := j.cur
	if key != nil && s.mem != nil {
		if err := j.appendTally(s, frame, recs[0], key); err != nil {
			// Nothing may follow a frame cut short: the next one starts
			// a new segment.
			return append(retired, j.retire()), err
		}
		return retired, nil
	}
	n, err := s.write(frame)
	s.size += int64(n)
	j.unfolded += int64(n)
	if err != nil {
		// The segment may end in part of this batch; its readers stop
		// there, so nothing may follow it: the next batch starts a new
		// segment.
		return append(retired, j.retire()), fmt.Errorf("audit journal: %w", err)
	}
	s.recs = append(s.recs, recs...)
	if j.cfg.Merge != nil && len(s.recs) >= s.mergeAt {
		// Merging as records arrive keeps a segment's memory, and the
		// fold's work, proportional to distinct records, not batches.
		s.recs = append(s.recs[:0], j.cfg.Merge(s.recs)...) // keeps the array
		s.mergeAt = max(mergeEvery, 2*len(s.recs))
	}
	if s.size >= foldAtBytes {
		retired = append(retired, j.retire())
		select {
		case j.wake <- struct{}{}:
		default:
		}
	}
	return retired, nil
}

// appendTally writes frame as rec's tally frame to s, a mapped segment,
// with a count of 1, and counts key's later occurrences there. j.mu is
// held.
func (j *Journal) appendTally(s *segment, frame []byte, rec store.AuditRecord, key []byte) error {
	binary.LittleEndian.PutUint32(frame[0:4], binary.LittleEndian.Uint32(frame[0:4])|tallyBit)
	end := int64(tallyEnd(int(s.size) + len(frame)))
	// The padding is the mapping's zeroed room; frame and count are
	// written together, the count last.
	var tail [2 * countSize]byte
	pad := int(end-s.size) - len(frame) - countSize
	binary.LittleEndian.PutUint64(tail[pad:], 1)
	if _, err := s.write(append(frame, tail[:pad+countSize]...)); err != nil {
		return fmt.Errorf("audit journal: %w", err)
	}
	j.unfolded += end - s.size
	s.size = end
	if s.tallyAt == nil {
		s.tallyAt = map[string]int{}
	}
	s.tallyAt[string(key)] = len(s.tallies)
	s.tallies = append(s.tallies, tally{rec: rec, n: 1, end: end})
	return nil
}

// next returns a segment for a first frame of need bytes: the spare when
// it is ready and has room, else a new one. Either way it has the next
// spare prepared. j.mu is held.
func (j *Journal) next(need int) (*segment, error) {
	s := j.spare
	j.spare = nil
	if s != nil && s.fits(need) {
		// Named now, so names keep sorting in the order segments are used.
		name := segmentName()
		if err := os.Rename(filepath.Join(j.cfg.Dir, s.name), filepath.Join(j.cfg.Dir, name)); err == nil {
			s.name = name
			j.prepareSpare()
			return s, nil
		}
	}
	if s != nil {
		j.discard(s)
	}
	cur, err := j.create(need, segmentName())
	if err != nil {
		return nil, err
	}
	if cur.mem != nil { // spares only pay where segments are mapped
		j.prepareSpare()
	}
	return cur, nil
}

// prepareSpare makes the next spare in the background unless one is
// ready or under way. j.mu is held.
func (j *Journal) prepareSpare() {
	if j.cfg.writeOnly || j.spare != nil || j.preparing {
		return
	}
	j.preparing = true
	j.prepared.Add(1)
	// Faulted in as far as the last segment went, twice over: a quiet
	// journal retires small segments at every fold and need not dirty
	// 2 MiB of page cache a second for them.
	want := int(min(segmentRoom, max(minPrefault, 2*j.lastSize)))
	go func() {
		defer j.prepared.Done()
		s, err := j.create(0, randomTag()+spareSuffix)
		if err == nil && s.mem != nil {
			prefault(s.mem[:min(want, len(s.mem))])
		}
		j.mu.Lock()
		defer j.mu.Unlock()
		j.preparing = false
		switch {
		case err != nil:
			j.cfg.Logger.Debug("audit journal: no spare segment", "err", err)
		case s.mem == nil || j.shut:
			j.discard(s)
		default:
			j.spare = s
		}
	}()
}

// discard removes a segment that holds no records.
func (j *Journal) discard(s *segment) {
	if s.mem != nil {
		unmapSegment(s.mem)
		s.mem = nil
	}
	s.file.Close()
	os.Remove(filepath.Join(j.cfg.Dir, s.name))
}

// segmentName is a new segment's file name. Names sort by creation time.
func segmentName() string {
	return fmt.Sprintf("%016x-%s%s", time.Now().UnixNano(), randomTag(), suffix)
}

// randomTag is 12 random hex digits, which keep two files' names apart.
func randomTag() string {
	var r [6]byte
	rand.Read(r[:])
	return hex.EncodeToString(r[:])
}

// create starts a new segment file with room for a first frame of need
// bytes, mapped where it can be.
func (j *Journal) create(need int, name string) (*segment, error) {
	f, err := os.OpenFile(filepath.Join(j.cfg.Dir, name), os.O_RDWR|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	s := &segment{name: name, file: f, mergeAt: mergeEvery}
	if !j.cfg.writeOnly {
		if s.mem, err = mapSegment(f, max(segmentRoom, need)); err != nil {
			j.cfg.Logger.Debug("audit journal: segment not mapped; appending with write(2)", "segment", name, "err", err)
		}
	}
	return s, nil
}

// fits reports whether a frame of n bytes can be appended to s.
func (s *segment) fits(n int) bool {
	return s.mem == nil || int64(len(s.mem))-s.size >= int64(n)
}

// write appends frame to s, which has room for it, and returns how many
// bytes it wrote.
func (s *segment) write(frame []byte) (int, error) {
	if s.mem == nil {
		return s.file.Write(frame)
	}
	if err := copyFaultless(s.mem[s.size:], frame); err != nil {
		return 0, err
	}
	return len(frame), nil
}

// copyFaultless copies src into mapped memory, turning a fault (the file
// cut short behind the journal's back, a disk that cannot back the page)
// into an error instead of the death of the process.
func copyFaultless(dst, src []byte) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("write to the mapped segment: %v", r)
		}
	}()
	copy(dst, src)
	return nil
}

// retire closes the current segment for appends and returns it, for
// finish once j.mu is released; the next fold takes it. j.mu is held.
func (j *Journal) retire() *segment {
	s := j.cur
	if s == nil {
		return nil
	}
	j.closed = append(j.closed, s)
	j.cur = nil
	j.lastSize = s.size
	return s
}

// finish releases a retired segment's file: a mapped one is cut to the
// frames written. Its records are in memory, for the fold.
func (j *Journal) finish(s *segment) {
	if s == nil || s.file == nil {
		return
	}
	var errs []error
	if s.mem != nil {
		errs = append(errs, unmapSegment(s.mem), s.file.Truncate(s.size))
		s.mem = nil
	}
	if err := errors.Join(append(errs, s.file.Close())...); err != nil {
		j.cfg.Logger.Warn("audit journal: close segment", "segment", s.name, "err", err)
	}
	s.file = nil
}

// Fold appends everything appended so far to the audit log, a segment
// per transaction, oldest first. It returns the first failure; the
// segments not folded stay in the journal for the next fold.
func (j *Journal) Fold(ctx context.Context) error {
	j.foldMu.Lock()
	defer j.foldMu.Unlock()
	j.mu.Lock()
	retired := j.retire()
	segs := slices.Clone(j.closed)
	j.mu.Unlock()
	j.finish(retired)
	for _, s := range segs {
		// The store gives the records ids and chain places in place: they
		// go in a copy (records makes one), so a failed fold retries from
		// the segment as written.
		in, recs := s.records(j.cfg.Count)
		if j.cfg.Merge != nil {
			recs = j.cfg.Merge(recs)
		}
		_, err := j.cfg.Store.FoldAudit(ctx, store.AuditFold{Segment: s.name, Forget: j.forget, Records: recs})
		if j.cfg.Metrics != nil {
			j.cfg.Metrics(in, len(recs), err)
		}
		if err != nil {
			return err
		}
		j.forget = nil
		// Folded (now or, after a crash, before): the file goes, and its
		// mark with the next fold. A file that cannot be removed keeps
		// its mark, so it is never folded twice.
		if err := os.Remove(filepath.Join(j.cfg.Dir, s.name)); err == nil || errors.Is(err, fs.ErrNotExist) {
			j.forget = []string{s.name}
		} else {
			j.cfg.Logger.Warn("audit journal: remove folded segment", "segment", s.name, "err", err)
		}
		j.mu.Lock()
		j.closed = slices.DeleteFunc(j.closed, func(c *segment) bool { return c == s })
		j.unfolded -= s.size
		j.mu.Unlock()
	}
	return nil
}

// records returns a copy of what s holds for the fold: its records,
// then each tally's record through count; and how many records were
// appended or tallied.
func (s *segment) records(count func(store.AuditRecord, uint64) store.AuditRecord) (in int, recs []store.AuditRecord) {
	in = len(s.recs)
	recs = slices.Clone(s.recs)
	for _, t := range s.tallies {
		recs = append(recs, count(t.rec, t.n))
		in += int(t.n)
	}
	return in, recs
}

// Unfolded reports the bytes appended and not yet folded.
func (j *Journal) Unfolded() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.unfolded
}

// run folds every interval, and sooner when a segment fills up. A failing
// fold is logged at most once a minute; its records stay in the journal.
func (j *Journal) run() {
	defer close(j.done)
	t := time.NewTicker(j.cfg.Interval)
	defer t.Stop()
	var lastLogged time.Time
	for {
		select {
		case <-j.stop:
			return
		case <-t.C:
		case <-j.wake:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := j.Fold(ctx)
		cancel()
		if err != nil && time.Since(lastLogged) > time.Minute {
			lastLogged = time.Now()
			j.cfg.Logger.Error("audit journal: fold into the audit log failed; records stay in the journal", "unfolded_bytes", j.Unfolded(), "err", err)
		}
	}
}

// Close stops folding in the background, refuses further appends and
// folds what is left. Records it cannot fold stay on disk for the next
// Open.
func (j *Journal) Close(ctx context.Context) error {
	j.mu.Lock()
	if j.shut {
		j.mu.Unlock()
		return nil
	}
	j.shut = true
	j.mu.Unlock()
	close(j.stop)
	<-j.done
	err := j.Fold(ctx)
	j.prepared.Wait()
	j.mu.Lock()
	if j.spare != nil {
		j.discard(j.spare)
		j.spare = nil
	}
	j.mu.Unlock()
	j.lock.Close()
	return err
}
