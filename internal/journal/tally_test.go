package journal

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

// countIn is a Config.Count for the records of read: n occurrences of a
// record of count c are one record of count c·n.
func countIn(rec store.AuditRecord, n uint64) store.AuditRecord {
	var c struct{ Count int }
	json.Unmarshal(rec.Detail, &c)
	rec.Detail = fmt.Appendf(nil, `{"count":%d}`, uint64(c.Count)*n)
	return rec
}

// tallyFrame is rec's tally frame with count n as it lies at byte off of
// a segment, built from the format's description (frame.go): the length
// word with its top bit set, the checksum of the payload, the payload,
// zeros to the next multiple of 8 bytes of the segment, the count.
func tallyFrame(off int, rec store.AuditRecord, n uint64) []byte {
	plain, _ := encodeFrame(nil, []store.AuditRecord{rec})
	payload := plain[8:]
	out := binary.LittleEndian.AppendUint32(nil, uint32(len(payload))|1<<31)
	out = binary.LittleEndian.AppendUint32(out, crc32.Checksum(payload, crc32.MakeTable(crc32.Castagnoli)))
	out = append(out, payload...)
	for (off+len(out))%8 != 0 {
		out = append(out, 0)
	}
	return binary.LittleEndian.AppendUint64(out, n)
}

func TestTallyFramesRoundTrip(t *testing.T) {
	plain, err := encodeFrame(nil, []store.AuditRecord{read("int_1", 1)})
	must(t, err)
	a, b := read("int_a", 1), read("int_b", 2)
	data := append(append([]byte{}, plain...), tallyFrame(len(plain), a, 40)...)
	data = append(data, tallyFrame(len(data), b, 3)...)
	got, good, err := decodeFrames(data, countIn)
	must(t, err)
	if good != len(data) || len(got) != 3 {
		t.Fatalf("decoded %d records from %d of %d bytes, want 3 from all", len(got), good, len(data))
	}
	for i, want := range []string{`{"count":1}`, `{"count":40}`, `{"count":6}`} {
		if string(got[i].Detail) != want {
			t.Fatalf("record %d detail %s, want %s", i, got[i].Detail, want)
		}
	}
	if got[1].ID != a.ID || !got[1].At.Equal(a.At) || got[2].Target != "int_b" {
		t.Fatalf("tallied records %+v", got[1:])
	}
	// A count of zero is a frame the machine stopped writing: the
	// segment ends before it.
	clear(data[len(data)-8:])
	if got, good, err := decodeFrames(data, countIn); err != nil || len(got) != 2 || good >= len(data)-8 {
		t.Fatalf("with the last count zeroed: %d records, %d bytes, %v", len(got), good, err)
	}
}

// TestTallyCountsInPlace: a record tallied again and again takes one
// frame in the segment, its count raised in place; the fold appends it
// once with the count, merged with appends of the same record.
func TestTallyCountsInPlace(t *testing.T) {
	db, dir := newDB(t), t.TempDir()
	var folds []string
	j := open(t, db, dir, Config{Merge: sumCounts, Count: countIn, Metrics: func(in, out int, err error) {
		folds = append(folds, fmt.Sprint(in, out, err))
	}})
	a, b := read("int_a", 1), read("int_b", 1)
	for i := range 1000 {
		must(t, j.Tally(t.Context(), []byte("a"), a))
		if i%200 == 0 {
			must(t, j.Tally(t.Context(), []byte("b"), b))
		}
	}
	must(t, j.Append(t.Context(), read("int_a", 3)))
	frames, err := encodeFrame(nil, []store.AuditRecord{a, b, a})
	must(t, err)
	if n := j.Unfolded(); n > int64(len(frames)+3*16) {
		t.Fatalf("%d bytes unfolded for 1006 reads of 2 records; three frames take %d", n, len(frames))
	}
	data, err := os.ReadFile(filepath.Join(dir, segments(t, dir)[0]))
	must(t, err)
	if end := len(bytes.TrimRight(data, "\x00")); end > len(frames)+3*16 {
		t.Fatalf("the segment holds %d bytes of frames", end)
	}
	must(t, j.Fold(t.Context()))
	if total, records := db.reads(t); total != 1008 || records != 2 {
		t.Fatalf("audit log holds %d reads in %d records, want 1008 in 2", total, records)
	}
	if fmt.Sprint(folds) != "[1006 2 <nil>]" {
		t.Fatalf("metrics saw folds %q", folds)
	}
	must(t, j.Close(t.Context()))
}

// TestTalliesSurviveACrash: tallies counted in a segment that no fold
// took reach the audit log when the journal opens again, in full, each
// once — mapped (counts in place) or written (a frame each).
func TestTalliesSurviveACrash(t *testing.T) { appendModes(t, testTalliesSurviveACrash) }

func testTalliesSurviveACrash(t *testing.T, cfg Config) {
	db, dir := newDB(t), t.TempDir()
	cfg.Merge, cfg.Count = sumCounts, countIn
	j := open(t, db, dir, cfg)
	for i := range 300 {
		must(t, j.Tally(t.Context(), []byte("a"), read("int_a", 1)))
		if i == 100 {
			must(t, j.Fold(t.Context())) // 101 of a and 1 of b folded before the crash
		}
		if i%100 == 0 {
			must(t, j.Tally(t.Context(), []byte("b"), read("int_b", 1)))
		}
	}
	crash(j)
	if total, _ := db.reads(t); total != 102 {
		t.Fatalf("%d reads folded before the crash, want 102", total)
	}
	j2 := open(t, db, dir, Config{Merge: sumCounts, Count: countIn})
	if total, _ := db.reads(t); total != 303 {
		t.Fatalf("%d reads in the audit log after reopening, want 303", total)
	}
	must(t, j2.Close(t.Context()))
	if s := segments(t, dir); len(s) != 0 {
		t.Fatalf("segments left: %v", s)
	}
}

// TestConcurrentTalliesAndFolds: many goroutines tally a few records,
// and append, while folds run every millisecond and segments fill up
// and retire; every occurrence reaches the audit log once.
func TestConcurrentTalliesAndFolds(t *testing.T) {
	db, dir := newDB(t), t.TempDir()
	j := open(t, db, dir, Config{Interval: time.Millisecond, Merge: sumCounts, Count: countIn})
	const goroutines, each = 16, 500
	hammer(t, goroutines, each, func(g, i int) error {
		target := fmt.Sprint("int_", (g+i)%3)
		switch {
		case i%97 == 0:
			return j.Append(context.Background(), read(target, 1))
		case i%7 == 0: // a distinct record each time: frames fill segments
			return j.Tally(context.Background(), fmt.Appendf(nil, "%d-%d", g, i), read(target, 1))
		default:
			return j.Tally(context.Background(), []byte(target), read(target, 1))
		}
	})
	must(t, j.Close(t.Context()))
	if total, _ := db.reads(t); total != goroutines*each {
		t.Fatalf("%d reads in the audit log, want %d", total, goroutines*each)
	}
}

// TestMappedTallyFault: if the segment file is cut short under a mapped
// tally, raising the count fails with an error instead of killing the
// process; the next tally goes to a new segment, and the counts made
// before the fault are folded from memory.
func TestMappedTallyFault(t *testing.T) {
	db, dir := newDB(t), t.TempDir()
	j := open(t, db, dir, Config{Merge: sumCounts, Count: countIn})
	for range 3 {
		must(t, j.Tally(t.Context(), []byte("a"), read("int_a", 1)))
	}
	if j.cur.mem == nil {
		t.Skip("segments are not mapped on this platform")
	}
	must(t, os.Truncate(filepath.Join(dir, j.cur.name), 0))
	if err := j.Tally(t.Context(), []byte("a"), read("int_a", 1)); err == nil || !strings.Contains(err.Error(), "mapped segment") {
		t.Fatalf("tally into a cut mapping: %v, want an error", err)
	}
	must(t, j.Tally(t.Context(), []byte("a"), read("int_a", 1)))
	must(t, j.Close(t.Context()))
	if total, _ := db.reads(t); total != 4 {
		t.Fatalf("%d reads folded, want 4 (3 counted before the fault, 1 after)", total)
	}
}
