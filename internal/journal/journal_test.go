package journal

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/stormcreds/storm/internal/audit"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/sqlite"
)

// testDB is a real SQLite store and its file, reachable behind the
// store's back for fault injection.
type testDB struct {
	store.Store
	path string
}

func newDB(t testing.TB) testDB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "storm.db")
	st, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return testDB{st, path}
}

// exec runs a statement on the database file directly.
func (d testDB) exec(t *testing.T, q string) {
	t.Helper()
	db, err := sql.Open("sqlite", d.path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(q); err != nil {
		t.Fatal(err)
	}
}

// reads sums the counts of the audit log's records, checking the chain.
func (d testDB) reads(t *testing.T) (total, records int) {
	t.Helper()
	res, err := audit.Verify(t.Context(), d.ListAudit)
	if err != nil || !res.OK {
		t.Fatalf("audit chain: %+v %v", res, err)
	}
	for after := ""; ; {
		page, err := d.ListAudit(t.Context(), store.Page{After: after, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page {
			var c struct{ Count int }
			if err := json.Unmarshal(a.Detail, &c); err != nil {
				t.Fatalf("detail %s: %v", a.Detail, err)
			}
			total += c.Count
			records++
			after = a.ID
		}
		if len(page) < 500 {
			return total, records
		}
	}
}

func read(target string, count int) store.AuditRecord {
	return store.AuditRecord{ID: store.NewID("aud"), WorkspaceID: "ws_j", Actor: "tok_j", Action: "credential.access",
		Target: target, At: time.Now().UTC(), IP: "192.0.2.7", Detail: fmt.Appendf(nil, `{"count":%d}`, count)}
}

// sumCounts is a Merge that adds up records per target.
func sumCounts(recs []store.AuditRecord) []store.AuditRecord {
	idx := map[string]int{}
	var out []store.AuditRecord
	for _, r := range recs {
		var c struct{ Count int }
		json.Unmarshal(r.Detail, &c)
		if i, ok := idx[r.Target]; ok {
			var o struct{ Count int }
			json.Unmarshal(out[i].Detail, &o)
			out[i].Detail = fmt.Appendf(nil, `{"count":%d}`, o.Count+c.Count)
			continue
		}
		idx[r.Target] = len(out)
		out = append(out, r)
	}
	return out
}

func open(t *testing.T, db testDB, dir string, cfg Config) *Journal {
	t.Helper()
	cfg.Dir, cfg.Store = dir, db
	if cfg.Interval == 0 {
		cfg.Interval = time.Hour // tests fold when they say so
	}
	j, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// crash stops j as a killed process would: no fold, files left as they
// are (every Append's write(2) or copy to the mapping already returned;
// a mapped segment keeps its zeroed room).
func crash(j *Journal) {
	defer j.lock.Close() // the kernel drops a dead process's locks
	j.prepared.Wait()    // a spare being made is left as it is
	j.mu.Lock()
	j.shut = true
	if j.cur != nil {
		if j.cur.mem != nil {
			unmapSegment(j.cur.mem)
		}
		j.cur.file.Close()
	}
	j.mu.Unlock()
	close(j.stop)
	<-j.done
}

func segments(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		if strings.HasSuffix(e.Name(), suffix) {
			names = append(names, e.Name())
		}
	}
	return names
}

func TestFoldMergesAndEmptiesTheJournal(t *testing.T) {
	db, dir := newDB(t), t.TempDir()
	var folds []string
	j := open(t, db, dir, Config{Merge: sumCounts, Metrics: func(in, out int, err error) {
		folds = append(folds, fmt.Sprint(in, out, err))
	}})
	for i := range 30 {
		must(t, j.Append(t.Context(), read(fmt.Sprint("int_", i%3), 1), read("int_x", 2)))
	}
	if n := len(segments(t, dir)); n != 1 {
		t.Fatalf("%d segment files before the fold, want 1", n)
	}
	total, records := db.reads(t)
	if total != 0 {
		t.Fatalf("%d reads in the audit log before any fold", total)
	}
	must(t, j.Fold(t.Context()))
	total, records = db.reads(t)
	if total != 90 || records != 4 {
		t.Fatalf("audit log holds %d reads in %d records, want 90 in 4 (merged per target)", total, records)
	}
	if s := segments(t, dir); len(s) != 0 || j.Unfolded() != 0 {
		t.Fatalf("after the fold: files %v, %d bytes unfolded", s, j.Unfolded())
	}
	if strings.Join(folds, ";") != "60 4 <nil>" {
		t.Fatalf("metrics saw folds %q", folds)
	}
	must(t, j.Close(t.Context()))
	if err := j.Append(t.Context(), read("int_late", 1)); err == nil {
		t.Fatal("append after Close succeeded")
	}
}

// TestCrashedJournalIsFoldedAtOpen: records appended by a process that
// died before folding reach the audit log when the journal is opened
// again, each once.
// appendModes runs test once with segments mapped (where the platform
// can) and once written with write(2).
func appendModes(t *testing.T, test func(t *testing.T, cfg Config)) {
	t.Run("mapped", func(t *testing.T) { test(t, Config{}) })
	t.Run("write", func(t *testing.T) { test(t, Config{writeOnly: true}) })
}

func TestCrashedJournalIsFoldedAtOpen(t *testing.T) { appendModes(t, testCrashedJournalIsFoldedAtOpen) }

func testCrashedJournalIsFoldedAtOpen(t *testing.T, cfg Config) {
	db, dir := newDB(t), t.TempDir()
	j := open(t, db, dir, cfg)
	for i := range 50 {
		must(t, j.Append(t.Context(), read(fmt.Sprint("int_", i), 1)))
		if i == 20 {
			must(t, j.Fold(t.Context())) // some folded before the crash
		}
	}
	crash(j)
	if total, _ := db.reads(t); total != 21 {
		t.Fatalf("%d reads folded before the crash, want 21", total)
	}
	logs := &strings.Builder{}
	j2 := open(t, db, dir, Config{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if strings.Contains(logs.String(), "torn") {
		t.Fatalf("a whole segment was read as torn: %s", logs)
	}
	if total, records := db.reads(t); total != 50 || records != 50 {
		t.Fatalf("after reopening: %d reads in %d records, want 50 in 50", total, records)
	}
	if s := segments(t, dir); len(s) != 0 {
		t.Fatalf("segments left after reopening: %v", s)
	}
	must(t, j2.Close(t.Context()))
}

// TestSegmentFoldedBeforeCrashIsNotCountedTwice: a crash after a fold's
// commit but before its file was removed leaves the file; the next open
// finds it already folded.
func TestSegmentFoldedBeforeCrashIsNotCountedTwice(t *testing.T) {
	db, dir := newDB(t), t.TempDir()
	j := open(t, db, dir, Config{})
	for i := range 10 {
		must(t, j.Append(t.Context(), read(fmt.Sprint("int_", i), 1)))
	}
	names := segments(t, dir)
	data, err := os.ReadFile(filepath.Join(dir, names[0]))
	must(t, err)
	must(t, j.Fold(t.Context()))
	crash(j)
	// The file as the crash left it.
	must(t, os.WriteFile(filepath.Join(dir, names[0]), data, 0o600))
	j2 := open(t, db, dir, Config{})
	if total, _ := db.reads(t); total != 10 {
		t.Fatalf("%d reads in the audit log, want 10: a folded segment was folded again", total)
	}
	if s := segments(t, dir); len(s) != 0 {
		t.Fatalf("segments left: %v", s)
	}
	must(t, j2.Close(t.Context()))
}

// TestTornLastBatchIsDropped: a machine crash mid-write leaves part of
// the last batch; opening keeps every whole batch before it and drops
// the torn one, whether cut short or garbled.
func TestTornLastBatchIsDropped(t *testing.T) { appendModes(t, testTornLastBatchIsDropped) }

func testTornLastBatchIsDropped(t *testing.T, cfg Config) {
	// cut: write(2) stopped short; zeroed: the last pages of a mapping
	// never reached the disk; garbled: a page half written.
	for _, damage := range []string{"cut", "zeroed", "garbled"} {
		t.Run(damage, func(t *testing.T) {
			db, dir := newDB(t), t.TempDir()
			j := open(t, db, dir, cfg)
			for i := range 3 {
				must(t, j.Append(t.Context(), read(fmt.Sprint("int_", i), 1), read(fmt.Sprint("int_", i), 1)))
			}
			crash(j)
			path := filepath.Join(dir, segments(t, dir)[0])
			data, err := os.ReadFile(path)
			must(t, err)
			end := len(bytes.TrimRight(data, "\x00")) // the frames, without a mapping's room
			switch damage {
			case "cut":
				data = data[:end-5]
			case "zeroed":
				clear(data[end-5 : end])
			case "garbled":
				data[end-3] ^= 0xff
			}
			must(t, os.WriteFile(path, data, 0o600))
			j2 := open(t, db, dir, Config{})
			if total, _ := db.reads(t); total != 4 {
				t.Fatalf("%d reads folded, want the 4 of the two whole batches", total)
			}
			must(t, j2.Close(t.Context()))
		})
	}
}

// TestFailingFoldsKeepRecordsUntilFull: while the audit log refuses
// appends, records stay in the journal, appends go on until it is full
// and are then refused (ErrFull); once the audit log accepts again,
// everything appended reaches it and appends are accepted again.
func TestFailingFoldsKeepRecordsUntilFull(t *testing.T) {
	db, dir := newDB(t), t.TempDir()
	j := open(t, db, dir, Config{MaxUnfolded: 8 << 10})
	db.exec(t, `CREATE TRIGGER refuse BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'disk full'); END`)
	appended := 0
	var full error
	for range 1000 {
		if full = j.Append(t.Context(), read("int_a", 1)); full != nil {
			break
		}
		appended++
		if appended%10 == 0 {
			if err := j.Fold(t.Context()); err == nil {
				t.Fatal("fold succeeded while the audit log refuses inserts")
			}
		}
	}
	if !errors.Is(full, ErrFull) || appended < 10 {
		t.Fatalf("after %d appends: %v, want ErrFull", appended, full)
	}
	if total, _ := db.reads(t); total != 0 {
		t.Fatalf("%d reads in the refusing audit log", total)
	}
	db.exec(t, `DROP TRIGGER refuse`)
	must(t, j.Fold(t.Context()))
	if total, _ := db.reads(t); total != appended {
		t.Fatalf("%d reads folded, want the %d appended", total, appended)
	}
	must(t, j.Append(t.Context(), read("int_a", 1)))
	must(t, j.Close(t.Context()))
	if total, _ := db.reads(t); total != appended+1 {
		t.Fatalf("Close folded %d reads, want %d", total, appended+1)
	}
}

// TestConcurrentAppendsAndFolds: many goroutines append while folds run
// every millisecond; every read reaches the audit log once and the chain
// holds.
func TestConcurrentAppendsAndFolds(t *testing.T) {
	db, dir := newDB(t), t.TempDir()
	j := open(t, db, dir, Config{Interval: time.Millisecond, Merge: sumCounts})
	const goroutines, each = 16, 200
	hammer(t, goroutines, each, func(g, i int) error {
		if err := j.Append(context.Background(), read(fmt.Sprint("int_", (g+i)%5), 1)); err != nil || i%50 != 0 {
			return err
		}
		return j.Fold(context.Background())
	})
	must(t, j.Close(t.Context()))
	if total, _ := db.reads(t); total != goroutines*each {
		t.Fatalf("%d reads in the audit log, want %d", total, goroutines*each)
	}
	if s := segments(t, dir); len(s) != 0 {
		t.Fatalf("segments left: %v", s)
	}
}

func TestFramesRoundTrip(t *testing.T) {
	recs := []store.AuditRecord{read("int_1", 1), read("int_2", 3)}
	recs[1].Detail = nil
	frame, err := encodeFrame(nil, recs)
	must(t, err)
	got, good, err := decodeFrames(append(frame, frame...), nil)
	must(t, err)
	if good != 2*len(frame) || len(got) != 4 {
		t.Fatalf("decoded %d records from %d bytes, want 4 from %d", len(got), good, 2*len(frame))
	}
	for i, r := range got {
		w := recs[i%2]
		if r.ID != w.ID || r.Target != w.Target || !r.At.Equal(w.At) || string(r.Detail) != string(w.Detail) || r.IP != w.IP {
			t.Fatalf("record %d = %+v, want %+v", i, r, w)
		}
	}
}

// hammer runs op(g, i) for every i below each in each of goroutines
// goroutines at once; a goroutine stops at its first error, which fails
// t.
func hammer(t *testing.T, goroutines, each int, op func(g, i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := op(g, i); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestMergeAsRecordsArrive: a segment's records are merged as they
// arrive, so memory follows distinct records, not appends; the counts
// survive merging merged records.
func TestMergeAsRecordsArrive(t *testing.T) {
	db, dir := newDB(t), t.TempDir()
	j := open(t, db, dir, Config{Merge: sumCounts})
	for i := range 1000 {
		must(t, j.Append(t.Context(), read(fmt.Sprint("int_", i%2), 1)))
	}
	j.mu.Lock()
	held := len(j.cur.recs)
	j.mu.Unlock()
	if held > mergeEvery {
		t.Fatalf("the segment holds %d records for 2 distinct reads", held)
	}
	must(t, j.Close(t.Context()))
	if total, records := db.reads(t); total != 1000 || records != 2 {
		t.Fatalf("%d reads in %d records, want 1000 in 2", total, records)
	}
}

// TestOneProcessAtATime: a second Open of a journal in use fails with
// ErrInUse (its segments are someone else's, still being written) and
// touches nothing; once the first closes, it opens.
func TestOneProcessAtATime(t *testing.T) {
	db, dir := newDB(t), t.TempDir()
	j := open(t, db, dir, Config{})
	must(t, j.Append(t.Context(), read("int_1", 1)))
	if _, err := Open(t.Context(), Config{Dir: dir, Store: db}); !errors.Is(err, ErrInUse) {
		t.Fatalf("second Open: %v, want ErrInUse", err)
	}
	if total, _ := db.reads(t); total != 0 {
		t.Fatal("the refused Open folded the other's segment")
	}
	must(t, j.Append(t.Context(), read("int_1", 1)))
	must(t, j.Close(t.Context()))
	j2 := open(t, db, dir, Config{})
	must(t, j2.Close(t.Context()))
	if total, _ := db.reads(t); total != 2 {
		t.Fatalf("%d reads, want 2", total)
	}
}

// TestMappedSegmentRoom: a frame larger than a mapped segment's room gets
// a segment of its own size, and one that no longer fits in the current
// segment starts the next; after a crash every record is folded, in
// order, and the room's zeros are not taken for a torn batch. (With
// write(2), int_b would join int_a's segment: 3 segments.)
func TestMappedSegmentRoom(t *testing.T) {
	db, dir := newDB(t), t.TempDir()
	j := open(t, db, dir, Config{})
	big := func(target string, size int) store.AuditRecord {
		r := read(target, 1)
		r.IP = strings.Repeat("x", size) // ballast; the count stays in Detail
		return r
	}
	j.foldMu.Lock()                                                 // no fold removes a segment while they are counted
	must(t, j.Append(t.Context(), big("int_huge", segmentRoom+10))) // bigger than the room
	must(t, j.Append(t.Context(), big("int_a", foldAtBytes*9/10)))  // under foldAtBytes: stays current
	must(t, j.Append(t.Context(), big("int_b", foldAtBytes*12/10))) // does not fit what is left
	must(t, j.Append(t.Context(), read("int_c", 1)))
	if n := len(segments(t, dir)); n != 4 {
		t.Fatalf("%d segments, want 4: int_b's frame did not fit after int_a's", n)
	}
	j.foldMu.Unlock()
	crash(j)
	logs := &strings.Builder{}
	j2 := open(t, db, dir, Config{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	defer j2.Close(t.Context())
	if strings.Contains(logs.String(), "torn") {
		t.Fatalf("a whole segment was read as torn: %s", logs)
	}
	var targets []string
	page, err := db.ListAudit(t.Context(), store.Page{Limit: 10})
	must(t, err)
	for _, a := range page {
		targets = append(targets, a.Target)
	}
	if strings.Join(targets, " ") != "int_huge int_a int_b int_c" {
		t.Fatalf("folded %v, want the four records in order", targets)
	}
}

// TestMappedSegmentFault: if the segment file is cut short under a mapped
// append (another program truncating it), the append fails with an error
// instead of killing the process, and the next append goes to a new
// segment and is folded with the records kept in memory.
func TestMappedSegmentFault(t *testing.T) {
	db, dir := newDB(t), t.TempDir()
	j := open(t, db, dir, Config{})
	must(t, j.Append(t.Context(), read("int_1", 1)))
	if j.cur.mem == nil {
		t.Skip("segments are not mapped on this platform")
	}
	must(t, os.Truncate(filepath.Join(dir, j.cur.name), 0))
	if err := j.Append(t.Context(), read("int_2", 1)); err == nil || !strings.Contains(err.Error(), "mapped segment") {
		t.Fatalf("append to a cut mapping: %v, want an error", err)
	}
	must(t, j.Append(t.Context(), read("int_3", 1)))
	must(t, j.Close(t.Context()))
	if total, _ := db.reads(t); total != 2 {
		t.Fatalf("%d reads folded, want 2 (int_1 from memory, int_3)", total)
	}
}

// TestSpareSegments: where segments are mapped, the next one is made
// ready aside and taken when the current one retires, named then so that
// segment names keep the order of use; Close leaves no spare behind, and
// Open removes one a crash left.
func TestSpareSegments(t *testing.T) {
	db, dir := newDB(t), t.TempDir()
	j := open(t, db, dir, Config{})
	must(t, j.Append(t.Context(), read("int_0", 1)))
	if j.cur.mem == nil {
		t.Skip("segments are not mapped on this platform")
	}
	spareReady := func() *segment {
		t.Helper()
		j.prepared.Wait()
		j.mu.Lock()
		defer j.mu.Unlock()
		if j.spare == nil {
			t.Fatal("no spare segment was prepared")
		}
		return j.spare
	}
	j.foldMu.Lock() // segments stay on disk while they are looked at
	var names []string
	for i := range 3 {
		spare := spareReady()
		if !strings.HasSuffix(spare.name, spareSuffix) {
			t.Fatalf("spare named %s", spare.name)
		}
		big := read(fmt.Sprint("int_big", i), 1)
		big.IP = strings.Repeat("x", foldAtBytes) // fills the current segment: it retires
		must(t, j.Append(t.Context(), big))
		must(t, j.Append(t.Context(), read(fmt.Sprint("int_", i+1), 1)))
		j.mu.Lock()
		took := j.cur == spare
		names = append(names, j.cur.name)
		j.mu.Unlock()
		if !took {
			t.Fatalf("round %d: the append after a retirement did not take the spare", i)
		}
	}
	if !slices.IsSorted(names) || !slices.IsSorted(segments(t, dir)) {
		t.Fatalf("segment names out of the order of use: %v", names)
	}
	j.foldMu.Unlock()
	must(t, j.Close(t.Context()))
	if es, _ := os.ReadDir(dir); slices.ContainsFunc(es, func(e os.DirEntry) bool {
		return strings.HasSuffix(e.Name(), spareSuffix) || strings.HasSuffix(e.Name(), suffix)
	}) {
		t.Fatalf("files left after Close: %v", es)
	}
	if total, _ := db.reads(t); total != 7 {
		t.Fatalf("%d reads folded, want 7", total)
	}

	// A spare left by a crash holds nothing: Open removes it quietly.
	j = open(t, db, dir, Config{})
	must(t, j.Append(t.Context(), read("int_x", 1)))
	spareReady()
	crash(j)
	logs := &strings.Builder{}
	j = open(t, db, dir, Config{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	must(t, j.Close(t.Context()))
	if strings.Contains(logs.String(), "torn") {
		t.Fatalf("a spare was read as a torn segment: %s", logs)
	}
	if es, _ := os.ReadDir(dir); slices.ContainsFunc(es, func(e os.DirEntry) bool { return strings.HasSuffix(e.Name(), spareSuffix) }) {
		t.Fatalf("a crash's spare survived Open: %v", es)
	}
	if total, _ := db.reads(t); total != 8 {
		t.Fatalf("%d reads folded, want 8", total)
	}
}
