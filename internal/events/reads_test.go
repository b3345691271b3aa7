package events

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/journal"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/sqlite"
)

// auditDB is a real SQLite store and a second connection to its file,
// for installing triggers that refuse audit inserts.
type auditDB struct {
	st  *sqlite.Store
	raw *sql.DB
}

func openAuditDB(t *testing.T) auditDB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "storm.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return auditDB{st: st, raw: raw}
}

func (db auditDB) exec(t *testing.T, q string) {
	t.Helper()
	if _, err := db.raw.Exec(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// counts sums the "count" of every audit record per action and target.
func (db auditDB) counts(t *testing.T) (map[string]int, int) {
	t.Helper()
	recs, err := db.st.ListAudit(context.Background(), store.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	out, total := map[string]int{}, 0
	for _, r := range recs {
		var d struct{ Count int }
		if err := json.Unmarshal(r.Detail, &d); err != nil || d.Count < 1 {
			t.Fatalf("read record %s has detail %s, want a count", r.ID, r.Detail)
		}
		out[r.Action+" "+r.Target] += d.Count
		total += d.Count
	}
	return out, total
}

// gate wraps a store's AppendAudit: it notes every call's size and can
// hold commits until released.
type gate struct {
	appendAudit func(context.Context, ...store.AuditRecord) error
	mu          sync.Mutex
	reads       []int // records per call, in call order
	counts      []int // reads per call
	hold        chan struct{}
	entered     chan struct{}
}

func newGate(appendAudit func(context.Context, ...store.AuditRecord) error) *gate {
	return &gate{appendAudit: appendAudit, entered: make(chan struct{}, 1000)}
}

// holdNext makes commits wait for the returned release.
func (g *gate) holdNext() (release func()) {
	ch := make(chan struct{})
	g.mu.Lock()
	g.hold = ch
	g.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

func (g *gate) append(ctx context.Context, recs ...store.AuditRecord) error {
	g.mu.Lock()
	hold := g.hold
	n := 0
	for _, r := range recs {
		var d struct{ Count int }
		json.Unmarshal(r.Detail, &d)
		n += d.Count
	}
	g.reads = append(g.reads, len(recs))
	g.counts = append(g.counts, n)
	g.mu.Unlock()
	g.entered <- struct{}{}
	if hold != nil {
		<-hold
	}
	return g.appendAudit(ctx, recs...)
}

func (g *gate) calls() (records, reads []int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int(nil), g.reads...), append([]int(nil), g.counts...)
}

// waitQueued waits until n reads wait behind the commit in progress.
func waitQueued(t *testing.T, r *reads, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		q := len(r.pending)
		r.mu.Unlock()
		if q == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d reads queued, want %d", q, n)
		}
		time.Sleep(time.Millisecond)
	}
}

var worker = Actor{TokenID: "tok_worker", IP: "127.0.0.1"}

func key(action, target string) readKey {
	return readKey{actor: worker, workspace: "ws_1", action: action, target: target}
}

// TestLoneReadCommitsAtOnce: a read with nothing else going on is one
// transaction of one record, committed before Record returns.
func TestLoneReadCommitsAtOnce(t *testing.T) {
	db := openAuditDB(t)
	g := newGate(db.st.AppendAudit)
	r := newReads(ReadsConfig{}, g.append, time.Now)
	if err := r.record(context.Background(), key("credential.access", "int_1"), time.Now()); err != nil {
		t.Fatal(err)
	}
	if recs, _ := g.calls(); len(recs) != 1 || recs[0] != 1 {
		t.Fatalf("commits %v, want one of one record", recs)
	}
	if c, total := db.counts(t); total != 1 || c["credential.access int_1"] != 1 {
		t.Fatalf("audit counts %v", c)
	}
}

// TestManyDistinctReadsInOneBatch: a batch of more distinct reads than
// commit scans for (it indexes them) still makes one record per read
// with its count.
func TestManyDistinctReadsInOneBatch(t *testing.T) {
	db := openAuditDB(t)
	g := newGate(db.st.AppendAudit)
	r := newReads(ReadsConfig{}, g.append, time.Now)
	release := g.holdNext()
	errs := make(chan error, 200)
	go func() { errs <- r.record(context.Background(), key("credential.access", "int_first"), time.Now()) }()
	<-g.entered
	const distinct, each = 40, 3
	for i := range distinct * each {
		go func() {
			errs <- r.record(context.Background(), key("credential.proxy", fmt.Sprintf("int_%d", i%distinct)), time.Now())
		}()
	}
	waitQueued(t, r, distinct*each)
	release()
	for range distinct*each + 1 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	recs, reads := g.calls()
	if len(recs) != 2 || recs[1] != distinct || reads[1] != distinct*each {
		t.Fatalf("commits held %v records for %v reads, want [1 %d] for [1 %d]", recs, reads, distinct, distinct*each)
	}
	c, _ := db.counts(t)
	for i := range distinct {
		if n := c[fmt.Sprintf("credential.proxy int_%d", i)]; n != each {
			t.Fatalf("int_%d counted %d reads, want %d", i, n, each)
		}
	}
}

// TestReadsShareOneTransaction: reads that arrive while a commit is in
// progress are committed together by the next one, identical reads as
// one record counting them.
func TestReadsShareOneTransaction(t *testing.T) {
	db := openAuditDB(t)
	g := newGate(db.st.AppendAudit)
	r := newReads(ReadsConfig{}, g.append, time.Now)
	release := g.holdNext()
	errs := make(chan error, 100)
	go func() { errs <- r.record(context.Background(), key("credential.access", "int_1"), time.Now()) }()
	<-g.entered // the first read's commit is in progress
	for i := range 60 {
		target := "int_1"
		if i%3 == 0 {
			target = "int_2"
		}
		go func() { errs <- r.record(context.Background(), key("credential.proxy", target), time.Now()) }()
	}
	waitQueued(t, r, 60)
	release()
	for range 61 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	recs, reads := g.calls()
	if len(recs) != 2 || reads[1] != 60 || recs[1] != 2 {
		t.Fatalf("commits held %v records for %v reads, want [1 2] for [1 60]", recs, reads)
	}
	c, total := db.counts(t)
	if total != 61 || c["credential.proxy int_2"] != 20 || c["credential.proxy int_1"] != 40 || c["credential.access int_1"] != 1 {
		t.Fatalf("audit counts %v (total %d)", c, total)
	}
}

// TestConcurrentReadsAllRecorded: many goroutines reading at once (run
// under -race): every read returns only once recorded, the counts sum to
// the reads, per action and target, and commits were shared.
func TestConcurrentReadsAllRecorded(t *testing.T) {
	db := openAuditDB(t)
	g := newGate(db.st.AppendAudit)
	r := newReads(ReadsConfig{MaxBatch: 64}, g.append, time.Now)
	const goroutines, each = 48, 40
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*each)
	for i := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				action := []string{"credential.access", "credential.proxy"}[j%2]
				if err := r.record(context.Background(), key(action, fmt.Sprintf("int_%d", i%4)), time.Now()); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	c, total := db.counts(t)
	if total != goroutines*each {
		t.Fatalf("audit counts %d reads, want %d", total, goroutines*each)
	}
	for i := range 4 {
		for _, a := range []string{"credential.access", "credential.proxy"} {
			if n := c[fmt.Sprintf("%s int_%d", a, i)]; n != goroutines/4*each/2 {
				t.Errorf("%s int_%d: %d reads recorded, want %d", a, i, n, goroutines/4*each/2)
			}
		}
	}
	_, reads := g.calls()
	biggest := 0
	for _, n := range reads {
		biggest = max(biggest, n)
		if n > 64 {
			t.Errorf("a commit held %d reads, more than MaxBatch", n)
		}
	}
	t.Logf("%d reads in %d commits (mean %.1f, largest %d)", total, len(reads), float64(total)/float64(len(reads)), biggest)
	if len(reads) >= total || biggest < 2 {
		t.Fatalf("%d commits for %d reads: no commit was shared", len(reads), total)
	}
}

// TestFailedCommitRefusesEveryRead: when the audit transaction fails,
// every read in it gets an error and none of its records is stored, not
// even those the store would have taken alone; the next batch works.
func TestFailedCommitRefusesEveryRead(t *testing.T) {
	db := openAuditDB(t)
	db.exec(t, `CREATE TRIGGER refuse_poison BEFORE INSERT ON audit WHEN NEW.target = 'int_poison'
		BEGIN SELECT RAISE(ABORT, 'audit refused'); END`)
	g := newGate(db.st.AppendAudit)
	r := newReads(ReadsConfig{}, g.append, time.Now)
	release := g.holdNext()
	first := make(chan error, 1)
	go func() { first <- r.record(context.Background(), key("credential.access", "int_1"), time.Now()) }()
	<-g.entered
	errs := make(chan error, 30)
	for i := range 30 {
		target := "int_ok"
		if i == 17 {
			target = "int_poison"
		}
		go func() { errs <- r.record(context.Background(), key("credential.proxy", target), time.Now()) }()
	}
	waitQueued(t, r, 30)
	release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for range 30 {
		if err := <-errs; !errors.Is(err, ErrUnrecorded) {
			t.Fatalf("a read in the failed batch returned %v, want ErrUnrecorded", err)
		}
	}
	if c, total := db.counts(t); total != 1 {
		t.Fatalf("audit holds %v after a failed batch, want only the first read", c)
	}
	if err := r.record(context.Background(), key("credential.proxy", "int_ok"), time.Now()); err != nil {
		t.Fatalf("the read after a failed batch: %v", err)
	}
	db.exec(t, `DROP TRIGGER refuse_poison`)
	if err := r.record(context.Background(), key("credential.proxy", "int_poison"), time.Now()); err != nil {
		t.Fatalf("with the trigger gone: %v", err)
	}
	if _, total := db.counts(t); total != 3 {
		t.Fatalf("audit counts %d reads, want 3", total)
	}
}

// TestReadQueueIsBounded: reads beyond MaxQueue waiting for a commit are
// refused at once (ErrReadsBusy), and batches hold at most MaxBatch.
func TestReadQueueIsBounded(t *testing.T) {
	db := openAuditDB(t)
	g := newGate(db.st.AppendAudit)
	r := newReads(ReadsConfig{MaxQueue: 10, MaxBatch: 4}, g.append, time.Now)
	release := g.holdNext()
	errs := make(chan error, 20)
	go func() { errs <- r.record(context.Background(), key("credential.access", "int_1"), time.Now()) }()
	<-g.entered
	for range 10 {
		go func() { errs <- r.record(context.Background(), key("credential.access", "int_1"), time.Now()) }()
	}
	waitQueued(t, r, 10)
	start := time.Now()
	if err := r.record(context.Background(), key("credential.access", "int_1"), time.Now()); !errors.Is(err, ErrReadsBusy) {
		t.Fatalf("a read over the bound returned %v, want ErrReadsBusy", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("refusing took %v", d)
	}
	release()
	for range 11 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if _, reads := g.calls(); fmt.Sprint(reads) != "[1 4 4 2]" {
		t.Fatalf("commits held %v reads, want [1 4 4 2]", reads)
	}
	if _, total := db.counts(t); total != 11 {
		t.Fatalf("audit counts %d reads, want the 11 accepted", total)
	}
}

// TestReadGivenUpLeavesNothingStuck: a caller that leaves while its read
// waits is taken out of the queue (not recorded, not answered), and the
// reads around it are still committed.
func TestReadGivenUpLeavesNothingStuck(t *testing.T) {
	db := openAuditDB(t)
	g := newGate(db.st.AppendAudit)
	r := newReads(ReadsConfig{}, g.append, time.Now)
	release := g.holdNext()
	errs := make(chan error, 10)
	go func() { errs <- r.record(context.Background(), key("credential.access", "int_1"), time.Now()) }()
	<-g.entered
	ctx, cancel := context.WithCancel(context.Background())
	left := make(chan error, 1)
	go func() { left <- r.record(ctx, key("credential.access", "int_gone"), time.Now()) }()
	waitQueued(t, r, 1)
	for range 5 {
		go func() { errs <- r.record(context.Background(), key("credential.access", "int_1"), time.Now()) }()
	}
	waitQueued(t, r, 6)
	cancel()
	if err := <-left; !errors.Is(err, context.Canceled) {
		t.Fatalf("the read given up returned %v", err)
	}
	release()
	for range 6 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if c, total := db.counts(t); total != 6 || c["credential.access int_gone"] != 0 {
		t.Fatalf("audit counts %v, want the 6 reads waited for", c)
	}
}

// TestReadsThroughTheJournal: reads recorded through a journal are on
// disk when Read returns and in the audit log, merged per actor and
// target with their counts summed, once SettleReads returns.
// TestReadsThroughTheJournal: reads recorded through the journal reach
// the audit log in full, one record per actor and action, whether the
// journal tallies repeated reads in place (Count, as the server opens it)
// or appends each.
func TestReadsThroughTheJournal(t *testing.T) {
	t.Run("tallied", func(t *testing.T) { testReadsThroughTheJournal(t, CountReads) })
	t.Run("appended", func(t *testing.T) { testReadsThroughTheJournal(t, nil) })
}

func testReadsThroughTheJournal(t *testing.T, count func(store.AuditRecord, uint64) store.AuditRecord) {
	db := openAuditDB(t)
	j, err := journal.Open(t.Context(), journal.Config{Dir: t.TempDir(), Store: db.st, Merge: MergeReads, Count: count, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close(context.Background())
	r := NewRecorder(db.st, time.Now, slog.New(slog.DiscardHandler), ReadsConfig{Journal: j})
	var wg sync.WaitGroup
	for g := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 24 {
				actor := Actor{TokenID: "tok_w", IP: "192.0.2.1"}
				if g%3 == 0 {
					actor = Actor{TokenID: "cnl_l", IP: "192.0.2.1", CreatedBy: "tok_creator"}
				}
				if err := r.Read(context.Background(), actor, "ws_1", []string{"credential.access", "credential.proxy"}[i%2], "int_1"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if _, total := db.counts(t); total != 0 {
		t.Fatalf("%d reads in the audit log before settling", total)
	}
	if j.Unfolded() == 0 {
		t.Fatal("the journal holds nothing after 288 reads")
	}
	if err := r.SettleReads(t.Context()); err != nil {
		t.Fatal(err)
	}
	counts, total := db.counts(t)
	if total != 288 || counts["credential.access int_1"] != 144 || counts["credential.proxy int_1"] != 144 {
		t.Fatalf("audit log counts %v (total %d), want 144 of each", counts, total)
	}
	recs, _ := db.st.ListAudit(t.Context(), store.Page{Limit: 100})
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4 (two actors × two actions)", len(recs))
	}
	for _, rec := range recs {
		if rec.Actor == "cnl_l" && !strings.Contains(string(rec.Detail), `"link_created_by":"tok_creator"`) {
			t.Fatalf("link read record lost its creator: %s", rec.Detail)
		}
	}
}

func TestMergeReads(t *testing.T) {
	at := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	rec := func(id, actor, target, detail string, sec int) store.AuditRecord {
		return store.AuditRecord{ID: id, WorkspaceID: "ws", Actor: actor, Action: "credential.access", Target: target,
			At: at.Add(time.Duration(sec) * time.Second), IP: "192.0.2.1", Detail: []byte(detail)}
	}
	other := store.AuditRecord{ID: "aud_o", Actor: "tok_a", Action: "integration.update", Target: "int_1", Detail: []byte(`{"count":3}`)}
	got := MergeReads([]store.AuditRecord{
		rec("aud_1", "tok_a", "int_1", `{"count":2}`, 0),
		rec("aud_2", "tok_b", "int_1", `{"count":1}`, 0),
		other,
		rec("aud_3", "tok_a", "int_1", `{"count":5}`, 1),
		rec("aud_4", "tok_a", "int_2", `{"count":1}`, 1),
		rec("aud_4b", "tok_a", "int_2", `{"count":3}`, 1), // a run of the same read
		rec("aud_4c", "tok_a", "int_2", `{"count":1}`, 2),
		rec("aud_5", "cnl_x", "int_1", `{"count":1,"link_created_by":"tok_a"}`, 1),
		rec("aud_6", "cnl_x", "int_1", `{"count":1,"link_created_by":"tok_b"}`, 2),
		rec("aud_7", "cnl_x", "int_1", `{"count":4,"link_created_by":"tok_a"}`, 2),
		rec("aud_8", "tok_b", "int_1", `{ "count": 2 }`, 3), // not the form commit writes: still merged
		rec("aud_9", "tok_b", "int_1", `{"count":0}`, 3),    // not a read's detail: kept as it is
	})
	var lines []string
	for _, r := range got {
		lines = append(lines, fmt.Sprintf("%s %s %s %s %d", r.ID, r.Actor, r.Target, r.Detail, r.At.Second()))
	}
	want := []string{
		`aud_1 tok_a int_1 {"count":7} 0`,
		`aud_2 tok_b int_1 {"count":3} 0`,
		`aud_o tok_a int_1 {"count":3} 0`,
		`aud_4 tok_a int_2 {"count":5} 1`,
		`aud_5 cnl_x int_1 {"count":5,"link_created_by":"tok_a"} 1`,
		`aud_6 cnl_x int_1 {"count":1,"link_created_by":"tok_b"} 2`,
		`aud_9 tok_b int_1 {"count":0} 3`,
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("merged:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// TestReadDetailEncoding: the hand-written form is what encoding/json
// writes, and parseReadDetail reads both forms back.
func TestReadDetailEncoding(t *testing.T) {
	for _, d := range []readDetail{{Count: 1}, {Count: 256}, {Count: 3, LinkCreatedBy: "tok_x"}} {
		want, _ := json.Marshal(d)
		if got := d.encode(); string(got) != string(want) {
			t.Errorf("encode(%+v) = %s, want %s", d, got, want)
		}
		back, ok := parseReadDetail(store.AuditRecord{Action: "credential.proxy", Detail: d.encode()})
		if !ok || back != d {
			t.Errorf("parse(encode(%+v)) = %+v, %v", d, back, ok)
		}
	}
}

func TestCountReads(t *testing.T) {
	read := func(detail string) store.AuditRecord {
		return store.AuditRecord{Action: "credential.access", Target: "int_1", Detail: []byte(detail)}
	}
	for _, c := range []struct {
		rec  store.AuditRecord
		n    uint64
		want string
	}{
		{read(`{"count":1}`), 1, `{"count":1}`},
		{read(`{"count":1}`), 4096, `{"count":4096}`},
		{read(`{"count":2,"link_created_by":"tok_a"}`), 3, `{"count":6,"link_created_by":"tok_a"}`},
		{read(`{"count":1}`), 1 << 63, `{"count":1}`}, // would overflow: left as it is
		{store.AuditRecord{Action: "integration.update", Detail: []byte(`{"count":1}`)}, 5, `{"count":1}`},
	} {
		if got := CountReads(c.rec, c.n); string(got.Detail) != c.want || got.Target != c.rec.Target {
			t.Errorf("CountReads(%s, %d) = %s, want %s", c.rec.Detail, c.n, got.Detail, c.want)
		}
	}
}

// TestReadKeysTellReadsApart: the journal's tally key differs whenever
// any field of the read differs, even when the fields' concatenations
// agree.
func TestReadKeysTellReadsApart(t *testing.T) {
	base := readKey{actor: Actor{TokenID: "tok_a", IP: "192.0.2.1"}, workspace: "ws_1", action: "credential.access", target: "int_1"}
	variants := []readKey{base}
	for _, change := range []func(*readKey){
		func(k *readKey) { k.workspace = "ws_2" },
		func(k *readKey) { k.actor.TokenID = "tok_b" },
		func(k *readKey) { k.actor.IP = "192.0.2.2" },
		func(k *readKey) { k.actor.CreatedBy = "tok_c" },
		func(k *readKey) { k.action = "credential.proxy" },
		func(k *readKey) { k.target = "int_2" },
		func(k *readKey) { k.workspace, k.actor.TokenID = "ws_1t", "ok_a" }, // same bytes, shifted
	} {
		k := base
		change(&k)
		variants = append(variants, k)
	}
	seen := map[string]int{}
	for i, k := range variants {
		key := string(k.appendKey(nil))
		if j, ok := seen[key]; ok {
			t.Fatalf("reads %d and %d share the key %q", j, i, key)
		}
		seen[key] = i
	}
	if string(base.appendKey(nil)) != string(base.appendKey(make([]byte, 0, 8))) {
		t.Fatal("the key depends on the buffer")
	}
}
