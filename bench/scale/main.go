// Command scale measures whether Storm's cost grows with its data (issue
// 14 parts 3 and 5): the first page of every list (API, CLI, UI),
// /access and saving a credential, at a small database (100 integrations,
// 120 credential versions, 100 events, 100 audit entries) and at a large
// one (100,000 integrations, 1,000,000 versions, 10,000,000 events and
// audit entries by default), on SQLite and PostgreSQL; and the time from
// exec to ready and the resident memory of `storm serve` at both.
//
//	go run ./bench/scale                                   # SQLite, full sizes
//	go run ./bench/scale -db sqlite,postgres://postgres@127.0.0.1:5432/test?sslmode=disable
//	go run ./bench/scale -integrations 10000 -versions 100000 -events 100000 -audit 100000   # quick
//
// Each database is made by running the real `storm serve` (built once
// from this tree) on an empty data dir, so the real migrations and
// bootstrap run; a few integrations are created and given keys through
// the API (real configuration, sealed material, events and audit); then
// the bulk rows are written straight into the tables (multi-row INSERTs
// on SQLite, COPY on PostgreSQL, in a fresh schema). Bulk active and
// previous versions hold real sealed material, so /access, verification
// and the background jobs work on them; the audit rows extend the hash
// chain.
//
// Then both sizes are served at once by `storm serve` processes. Each
// is left to finish the work it starts with (the CPU that took is
// reported), then both sit idle for -idle (their background CPU per
// minute is reported), and then every operation is run -reps times
// against each, alternating, so machine load drifts hit both alike. Bulk
// event, audit and version ids count up (see orderedID) so that seeding
// appends to their indexes. The table gives the median latency (and the
// server's CPU per operation, background work included) at each size and
// their ratio; the target is ≤ 1.5. Time to ready (median of -starts
// starts) must be ≤ 1 s and the resident memory (VmRSS, VmHWM) ≤ 300 MiB
// at the large size, after ready and after -soak of load during which
// the background jobs (verification schedule, notices, token engine,
// webhooks, key polling) run as in production.
//
// Seeding the large size takes minutes (about 7 on SQLite on a busy
// 2-core machine), so it can be done once and measured again:
//
//	go run ./bench/scale -seed-only -keep -work /tmp/scale
//	go run ./bench/scale -reuse -keep -work /tmp/scale
//
// Exit status 1 when any target is missed, 2 on error.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

type options struct {
	dbs        []string
	pgURL      string
	large      size
	reps, warm int
	starts     int
	soak       time.Duration
	idle       time.Duration
	work       string
	keep       bool
	reuse      bool
	seedOnly   bool
	bin        string
	token      string
	only       string
	upstream   string
}

func main() {
	var o options
	db := flag.String("db", "sqlite", "comma-separated stores: sqlite and/or a postgres:// URL (a fresh schema is made in it)")
	flag.IntVar(&o.large.Integrations, "integrations", 100_000, "integrations at the large size")
	flag.IntVar(&o.large.Versions, "versions", 1_000_000, "credential versions at the large size")
	flag.IntVar(&o.large.Events, "events", 10_000_000, "events at the large size")
	flag.IntVar(&o.large.Audit, "audit", 10_000_000, "audit entries at the large size")
	flag.IntVar(&o.large.Heavy, "heavy", 10_000, "versions of the most-versioned integration at the large size")
	flag.IntVar(&o.reps, "reps", 40, "measured runs of each operation at each size")
	flag.IntVar(&o.warm, "warm", 5, "unmeasured runs first")
	flag.IntVar(&o.starts, "starts", 3, "starts of storm serve whose time to ready is measured (median)")
	flag.DurationVar(&o.idle, "idle", time.Minute, "time both servers sit idle, to measure their background CPU (0: skip)")
	flag.DurationVar(&o.soak, "soak", time.Minute, "load after the measurements, before memory is read again")
	flag.StringVar(&o.work, "work", "", "directory for the data dirs (default: a new temporary one)")
	flag.BoolVar(&o.keep, "keep", false, "keep the data dirs and PostgreSQL schemas")
	flag.BoolVar(&o.seedOnly, "seed-only", false, "seed the databases and stop (with -keep, for a later -reuse)")
	flag.BoolVar(&o.reuse, "reuse", false, "measure the databases a run with -keep left in -work (same sizes) instead of seeding new ones")
	flag.StringVar(&o.bin, "storm", "", "storm binary (default: built from this tree)")
	flag.StringVar(&o.upstream, "upstream", "127.0.0.1:18089", "address of the fake API every integration points at (fixed, so -reuse finds it again)")
	flag.StringVar(&o.only, "only", "", "measure only operations whose name contains this")
	flag.Parse()
	o.large.Name = "large"
	for _, d := range strings.Split(*db, ",") {
		switch {
		case d == "sqlite":
			o.dbs = append(o.dbs, "sqlite")
		case strings.HasPrefix(d, "postgres://") || strings.HasPrefix(d, "postgresql://"):
			o.dbs, o.pgURL = append(o.dbs, "postgres"), d
		default:
			fmt.Fprintf(os.Stderr, "scale: -db %q: want sqlite or a postgres:// URL\n", d)
			os.Exit(2)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

// upstream is the API every integration points at: it accepts any
// Bearer key that starts with sk-.
func upstream(addr string) (*httptest.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/me" && strings.HasPrefix(r.Header.Get("Authorization"), "Bearer sk-") {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"ok":true}`))
			return
		}
		http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
	}))
	s.Listener.Close()
	s.Listener = ln
	s.Start()
	return s, nil
}

func run(ctx context.Context, o options) (bool, error) {
	if o.work == "" {
		dir, err := os.MkdirTemp("", "storm-scale-")
		if err != nil {
			return false, err
		}
		o.work = dir
	}
	if !o.keep {
		defer os.RemoveAll(o.work)
	}
	if o.bin == "" {
		bin, err := buildStorm(ctx, o.work)
		if err != nil {
			return false, err
		}
		o.bin = bin
	}
	o.token = "storm-scale-admin-" + newKey()
	up, err := upstream(o.upstream)
	if err != nil {
		return false, err
	}
	defer up.Close()
	small := size{Name: "small", Integrations: 100, Versions: 120, Events: 100, Audit: 100, Heavy: 25}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("# storm scale benchmark %s, load average at start %s", time.Now().UTC().Format(time.RFC3339), load)
	fmt.Printf("# large: %d integrations, %d credential versions (%d on one), %d events, %d audit entries\n",
		o.large.Integrations, o.large.Versions, o.large.Heavy, o.large.Events, o.large.Audit)
	allOK := true
	for _, kind := range o.dbs {
		ok, err := runStore(ctx, o, kind, []size{small, o.large}, up.URL)
		if err != nil {
			return false, fmt.Errorf("%s: %w", kind, err)
		}
		allOK = allOK && ok
	}
	load, _ = os.ReadFile("/proc/loadavg")
	fmt.Printf("# load average at end %s", load)
	return allOK, nil
}

// row is one line of the table.
type row struct {
	metric       string
	small, large string
	ratio        string
	target       string
	pass         bool
}

func runStore(ctx context.Context, o options, kind string, sizes []size, up string) (bool, error) {
	var fxs []*fixture
	defer func() {
		for _, fx := range fxs {
			if fx.Schema != "" && !o.keep {
				pgAdmin(context.Background(), o.pgURL, "DROP SCHEMA "+fx.Schema+" CASCADE")
			}
		}
	}()
	for _, sz := range sizes {
		fx, err := loadFixture(o, kind, sz)
		if err != nil {
			return false, err
		}
		if fx == nil {
			fmt.Fprintf(os.Stderr, "%s/%s: seeding\n", kind, sz.Name)
			if fx, err = prepare(ctx, o, kind, sz, up); err != nil {
				return false, err
			}
		}
		fxs = append(fxs, fx)
		fmt.Fprintf(os.Stderr, "%s/%s: seeded in %s (data dir %s)\n", kind, sz.Name, fx.SeedTime.Round(time.Second), fx.DataDir)
	}

	if o.seedOnly {
		return true, nil
	}

	// Starts: the median time to ready of o.starts starts, and memory
	// right after ready; the last start stays up for the measurements.
	ts := make([]*target, len(fxs))
	readyMem := make([]memory, len(fxs))
	readyTime := make([]time.Duration, len(fxs))
	defer func() {
		for _, t := range ts {
			if t != nil {
				t.in.stop()
			}
		}
	}()
	for k, fx := range fxs {
		var times []time.Duration
		for i := range max(1, o.starts) {
			in, err := startStorm(o.bin, fx.DataDir, fx.Database, o.token)
			if err != nil {
				return false, err
			}
			times = append(times, in.ready)
			if i < o.starts-1 {
				in.stop()
				continue
			}
			time.Sleep(200 * time.Millisecond) // let the start-up work settle
			readyMem[k], _ = in.memory()
			ts[k] = &target{fx: fx, in: in, api: newAPI(in.url, o.token), bin: o.bin, tok: o.token}
		}
		slices.Sort(times)
		readyTime[k] = times[len(times)/2]
		fmt.Fprintf(os.Stderr, "%s/%s: ready in %v (starts: %v)\n", kind, fx.Size.Name, readyTime[k].Round(time.Millisecond), times)
		if err := ts[k].signIn(ctx); err != nil {
			return false, err
		}
	}
	// Background work that starts with the server (the notices scan
	// walks every integration) runs before requests are measured; how
	// long it keeps a server busy is reported on its own.
	settle := make([]time.Duration, len(ts))
	settleCPU := make([]time.Duration, len(ts))
	for k, t := range ts {
		settle[k], settleCPU[k] = t.in.settle(ctx, 3*time.Minute)
		fmt.Fprintf(os.Stderr, "%s/%s: start-up background work settled after %s (%s CPU)\n", kind, t.fx.Size.Name, settle[k].Round(time.Millisecond), settleCPU[k])
	}

	// Background work while idle (the verification schedule scans every
	// integration each minute), both servers over the same interval.
	idleCPU := make([]time.Duration, len(ts))
	if o.idle > 0 {
		fmt.Fprintf(os.Stderr, "%s: idle for %s\n", kind, o.idle)
		for k, t := range ts {
			idleCPU[k] = t.in.cpu()
		}
		time.Sleep(o.idle)
		for k, t := range ts {
			idleCPU[k] = time.Duration(float64(t.in.cpu()-idleCPU[k]) * float64(time.Minute) / float64(o.idle))
		}
	}

	var rows []row
	for _, op := range ops() {
		if o.only != "" && !strings.Contains(op.Name, o.only) {
			continue
		}
		ss, err := measure(ctx, op, ts, o.reps, o.warm)
		if err != nil {
			return false, err
		}
		r := ratioRow(op.Name+" (p50)", ss[0].median, ss[1].median, 1.5)
		rows = append(rows, r)
		rows = append(rows, row{metric: op.Name + " (server CPU/op, info)", small: fmtDur(ss[0].cpu), large: fmtDur(ss[1].cpu),
			ratio: fmtRatio(ss[0].cpu, ss[1].cpu), target: "-", pass: true})
		fmt.Fprintf(os.Stderr, "%s: %s | %s | %s\n", op.Name, r.small, r.large, r.ratio)
	}

	// Soak: every operation in turn against both servers for o.soak,
	// while the background jobs run; then memory again.
	fmt.Fprintf(os.Stderr, "%s: soak for %s\n", kind, o.soak)
	end := time.Now().Add(o.soak)
	var soakErr error
	for n := 0; time.Now().Before(end) && soakErr == nil && ctx.Err() == nil; n++ {
		for _, op := range ops() {
			for _, t := range ts {
				if err := op.run(ctx, t); err != nil {
					soakErr = err
				}
			}
		}
	}
	if soakErr != nil {
		return false, fmt.Errorf("soak: %w", soakErr)
	}
	soakMem := make([]memory, len(ts))
	for k, t := range ts {
		soakMem[k], _ = t.in.memory()
	}

	const mib = 1 << 20
	rows = append(rows,
		row{metric: "server CPU from ready until idle (start-up background work, info)", small: fmtDur(settleCPU[0]), large: fmtDur(settleCPU[1]),
			ratio: fmtRatio(settleCPU[0], settleCPU[1]), target: "-", pass: true},
		row{metric: "server CPU per minute while idle (background work, info)", small: fmtDur(idleCPU[0]), large: fmtDur(idleCPU[1]),
			ratio: fmtRatio(idleCPU[0], idleCPU[1]), target: "-", pass: true},
		row{metric: "time to ready (exec → /readyz 200, median)", small: fmtDur(readyTime[0]), large: fmtDur(readyTime[1]),
			ratio: fmtRatio(readyTime[0], readyTime[1]), target: "≤ 1 s at large", pass: readyTime[1] <= time.Second},
		memRow("RSS after ready (VmRSS)", readyMem[0].rss, readyMem[1].rss, 300*mib),
		memRow(fmt.Sprintf("RSS after %s soak (VmRSS)", o.soak), soakMem[0].rss, soakMem[1].rss, 300*mib),
		memRow(fmt.Sprintf("peak RSS after %s soak (VmHWM)", o.soak), soakMem[0].hwm, soakMem[1].hwm, 300*mib),
	)
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("\n## %s (load average %s)\n\n", kind, strings.TrimSpace(string(load)))
	fmt.Println("| metric | at small | at large | ratio | target | pass/fail |")
	fmt.Println("| --- | --- | --- | --- | --- | --- |")
	ok := true
	for _, r := range rows {
		verdict := "pass"
		if !r.pass {
			verdict, ok = "**FAIL**", false
		}
		if r.target == "-" {
			verdict = "-"
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s |\n", r.metric, r.small, r.large, r.ratio, r.target, verdict)
	}
	for _, fx := range fxs {
		if fx.SeedTime > 0 {
			fmt.Printf("\n%s/%s: seeded in %s\n", kind, fx.Size.Name, fx.SeedTime.Round(time.Second))
		}
	}
	return ok, nil
}

func ratioRow(metric string, small, large time.Duration, target float64) row {
	ratio := float64(large) / float64(small)
	return row{metric: metric, small: fmtDur(small), large: fmtDur(large), ratio: fmt.Sprintf("%.2f", ratio),
		target: fmt.Sprintf("≤ %.1f", target), pass: ratio <= target}
}

func memRow(metric string, small, large, limit int64) row {
	const mib = 1 << 20
	return row{metric: metric, small: fmt.Sprintf("%.0f MiB", float64(small)/mib), large: fmt.Sprintf("%.0f MiB", float64(large)/mib),
		ratio: fmt.Sprintf("%.2f", float64(large)/float64(small)), target: "≤ 300 MiB at large", pass: large <= limit}
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	default:
		return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond))
	}
}

func fmtRatio(a, b time.Duration) string {
	if a <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", float64(b)/float64(a))
}
