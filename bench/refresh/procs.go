package main

// Separate processes (-procs P): each instance is this program
// re-executed as a worker that runs one tokens.Engine with its own store
// handle, exactly as one `storm serve` instance would; the parent seeds,
// serves the token endpoint and checks the outcome. Each worker's CPU and
// peak RSS are then its own, not shared with the endpoint or the other
// engines.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/oauth"
	"github.com/stormcreds/storm/internal/secret"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/postgres"
	"github.com/stormcreds/storm/internal/store/sqlite"
	"github.com/stormcreds/storm/internal/tokens"
	"github.com/stormcreds/storm/internal/vault"
)

// workerEnv carries a worker's configuration (JSON) from the parent.
const workerEnv = "STORM_BENCH_REFRESH_WORKER"

// workerConfig is what a worker process needs to run one engine.
type workerConfig struct {
	DB          string // postgres DSN (search_path set) or SQLite path
	KEKDir      string
	BaseURL     string // the parent's token endpoint
	Owner       string
	Concurrency int
	Interval    time.Duration
	CPUProfile  string
}

// workerReport is what a worker tells the parent when its engine stopped.
type workerReport struct {
	Owner                                   string
	Commits, MutateErr                      int64
	LeaseHeld, LeaseBusy, LeaseErr          int64
	Releases, ReleaseErr                    int64
	ListDue, ListDueRows, ListErr           int64
	GetCred, GetInteg                       int64
	LastCommit                              int64 // unix nanos
	LeaseLat, MutateLat, ListLat, ReleaseLt []time.Duration
	CallLat                                 []time.Duration
	Outcomes                                map[string]int64
	Logs                                    map[string]int64
	// The engine's run, from Run's start to its return.
	User, Sys           time.Duration
	RunWall             time.Duration
	PeakRSS             uint64 // VmHWM: the worker never seeds, so its whole life
	PeakHeap, PeakSys   uint64
	PeakGoroutines      uint64
	PGCPU               time.Duration // CPU of the PostgreSQL backends serving this worker (-1: unknown)
	PGBackends          int
	PGBackendsUnreadble int
}

// runWorker is the body of a worker process: run one engine until stdin
// closes, then print the report as the last line of stdout.
func runWorker(cfgJSON string) error {
	var wc workerConfig
	if err := json.Unmarshal([]byte(cfgJSON), &wc); err != nil {
		return fmt.Errorf("worker config: %w", err)
	}
	ctx := context.Background()
	st, err := openStore(ctx, wc.DB)
	if err != nil {
		return err
	}
	defer st.Close()
	kek, err := vault.OpenKEK(ctx, "", wc.KEKDir)
	if err != nil {
		return err
	}
	v, err := vault.Open(ctx, kek, st)
	if err != nil {
		return err
	}
	app := benchApp(wc.BaseURL)
	sourceFor := func(_ context.Context, in store.Integration, _ tokens.Material) (tokens.Source, error) {
		if in.Provider != catalog.Custom || in.AuthMethod != catalog.MethodOAuth2 {
			return nil, fmt.Errorf("integration %s is not a custom oauth2 integration", in.ID)
		}
		return app, nil
	}
	var (
		ss       storeStats
		logs     logCounter
		outcomes sync.Map
		callLat  latencies
	)
	logger := slog.New(countHandler{slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}), &logs}).With("instance", wc.Owner)
	eng, err := tokens.New(tokens.Config{
		Store: countingStore{st, &ss}, Vault: v, Sources: sourceFor, Logger: logger,
		Owner: wc.Owner, Concurrency: wc.Concurrency, Interval: wc.Interval,
		Metrics: func(outcome string, d time.Duration) {
			c, _ := outcomes.LoadOrStore(outcome, new(atomic.Int64))
			c.(*atomic.Int64).Add(1)
			callLat.add(d)
		},
	})
	if err != nil {
		return err
	}
	stopProf, err := startProfile(wc.CPUProfile)
	if err != nil {
		return err
	}

	runCtx, cancel := context.WithCancel(ctx)
	go func() {
		io.Copy(io.Discard, os.Stdin) // the parent closes stdin to stop us
		cancel()
	}()
	out := bufio.NewWriter(os.Stdout)
	var outMu sync.Mutex
	progressDone := make(chan struct{})
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-progressDone:
				return
			case <-t.C:
			}
			outMu.Lock()
			fmt.Fprintf(out, "progress %d\n", ss.commits.Load())
			out.Flush()
			outMu.Unlock()
		}
	}()
	samp := startSampler()
	cpu0 := cpuNow()
	start := time.Now()
	eng.Run(runCtx)
	wall := time.Since(start)
	cpu := cpuNow().sub(cpu0)
	peaks := samp.close()
	stopProf()
	close(progressDone)

	r := workerReport{
		Owner: wc.Owner, Commits: ss.commits.Load(), MutateErr: ss.mutateErr.Load(),
		LeaseHeld: ss.leaseHeld.Load(), LeaseBusy: ss.leaseBusy.Load(), LeaseErr: ss.leaseErr.Load(),
		Releases: ss.releases.Load(), ReleaseErr: ss.releaseErr.Load(),
		ListDue: ss.listDue.Load(), ListDueRows: ss.listDueRows.Load(), ListErr: ss.listErr.Load(),
		GetCred: ss.getCred.Load(), GetInteg: ss.getInteg.Load(), LastCommit: ss.lastCommit.Load(),
		LeaseLat: ss.leaseLat.snapshot(), MutateLat: ss.mutateLat.snapshot(), ListLat: ss.listLat.snapshot(), ReleaseLt: ss.releaseLat.snapshot(),
		CallLat: callLat.snapshot(), Outcomes: map[string]int64{}, Logs: map[string]int64{},
		User: cpu.user, Sys: cpu.sys, RunWall: wall,
		PeakRSS: procStatus("VmHWM"), PeakHeap: peaks.heapInuse.Load(), PeakSys: peaks.sys.Load(), PeakGoroutines: peaks.goroutines.Load(),
		PGCPU: -1,
	}
	outcomes.Range(func(k, v any) bool { r.Outcomes[k.(string)] = v.(*atomic.Int64).Load(); return true })
	logs.byMsg.Range(func(k, v any) bool { r.Logs[k.(string)] = v.(*atomic.Int64).Load(); return true })
	if strings.HasPrefix(wc.DB, "postgres") {
		r.PGCPU, r.PGBackends, r.PGBackendsUnreadble = backendCPU(ctx, wc.DB)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	outMu.Lock()
	defer outMu.Unlock()
	fmt.Fprintf(out, "report %s\n", b)
	return out.Flush()
}

// openStore opens a postgres:// URL or an SQLite path.
func openStore(ctx context.Context, db string) (store.Store, error) {
	if strings.HasPrefix(db, "postgres") {
		return postgres.Open(ctx, db)
	}
	return sqlite.Open(ctx, db)
}

// backendCPU sums the CPU (utime + stime from /proc) of the PostgreSQL
// backends whose application_name is the one in dsn: the server's work
// for this worker's pool, as long as its connections stayed open. It
// needs the server on this machine.
func backendCPU(ctx context.Context, dsn string) (time.Duration, int, int) {
	u, err := url.Parse(dsn)
	if err != nil {
		return -1, 0, 0
	}
	appName := u.Query().Get("application_name")
	if appName == "" {
		return -1, 0, 0
	}
	q := u.Query()
	for k := range q {
		if strings.HasPrefix(k, "pool_") {
			q.Del(k)
		}
	}
	q.Set("application_name", appName+"-probe")
	u.RawQuery = q.Encode()
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		return -1, 0, 0
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, appName)
	if err != nil {
		return -1, 0, 0
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return -1, 0, 0
	}
	var total time.Duration
	unreadable := 0
	for _, pid := range pids {
		d, ok := procCPU(int(pid))
		if !ok {
			unreadable++
			continue
		}
		total += d
	}
	return total, len(pids), unreadable
}

// procCPU reads a process's utime + stime from /proc/PID/stat.
func procCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// Fields after the command name (which may hold spaces) start at ")".
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64) // field 14 of stat
	st, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, false
	}
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / ticks, true
}

// benchApp is the OAuth client every bench integration uses: one client
// registration at the in-process endpoint. The transport matches the
// proxy's guarded client (64 idle connections per host).
func benchApp(baseURL string) *oauth.App {
	tr := &http.Transport{Proxy: nil, MaxIdleConns: 512, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second, DisableCompression: true}
	return &oauth.App{
		Def: catalog.OAuth2{
			AuthorizeURL: baseURL + "/authorize", TokenURL: baseURL + "/token", AuthStyle: "basic", RotatesRefreshTokens: true,
		},
		ClientID: clientID, ClientSecret: secret.String(clientSecret), RedirectURL: "http://storm.invalid/oauth/callback",
		Endpoints:  oauth.Endpoints{AuthorizeURL: baseURL + "/authorize", TokenURL: baseURL + "/token"},
		HTTPClient: &http.Client{Transport: tr, Timeout: 30 * time.Second},
	}
}

// worker is a running worker process, seen from the parent.
type worker struct {
	owner    string
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	commits  atomic.Int64
	report   *workerReport
	done     chan struct{}
	readErr  error
	rusage   *syscall.Rusage
	waitErr  error
	exitedAt time.Time
}

// startWorkers re-executes this program k times as workers.
func startWorkers(o options, dsn, kekDir, baseURL string) ([]*worker, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var ws []*worker
	for k := range o.procs {
		owner := fmt.Sprintf("bench-instance-%d", k)
		db := dsn
		if strings.HasPrefix(dsn, "postgres") {
			// A name per worker, so its backends can be found for their CPU.
			u, err := url.Parse(dsn)
			if err != nil {
				return nil, err
			}
			q := u.Query()
			q.Set("application_name", fmt.Sprintf("bench-refresh-%d-%s", os.Getpid(), owner))
			u.RawQuery = q.Encode()
			db = u.String()
		}
		prof := ""
		if o.cpuprofile != "" {
			prof = fmt.Sprintf("%s.%d", o.cpuprofile, k)
		}
		cfg, _ := json.Marshal(workerConfig{DB: db, KEKDir: kekDir, BaseURL: baseURL, Owner: owner,
			Concurrency: o.concurrency, Interval: o.interval, CPUProfile: prof})
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), workerEnv+"="+string(cfg))
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return ws, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return ws, err
		}
		if err := cmd.Start(); err != nil {
			return ws, err
		}
		w := &worker{owner: owner, cmd: cmd, stdin: stdin, done: make(chan struct{})}
		ws = append(ws, w)
		go func() {
			defer close(w.done)
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 1<<20), 1<<30)
			for sc.Scan() {
				line := sc.Text()
				if rest, ok := strings.CutPrefix(line, "progress "); ok {
					n, _ := strconv.ParseInt(rest, 10, 64)
					w.commits.Store(n)
				} else if rest, ok := strings.CutPrefix(line, "report "); ok {
					var r workerReport
					if err := json.Unmarshal([]byte(rest), &r); err != nil {
						w.readErr = err
					} else {
						w.report = &r
						w.commits.Store(r.Commits)
					}
				}
			}
			if err := sc.Err(); err != nil && w.readErr == nil {
				w.readErr = err
			}
			w.waitErr = cmd.Wait()
			w.exitedAt = time.Now()
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				w.rusage = ru
			}
		}()
	}
	return ws, nil
}

// stopWorkers closes the workers' stdin and waits for their reports.
func stopWorkers(ws []*worker) error {
	for _, w := range ws {
		w.stdin.Close()
	}
	var firstErr error
	for _, w := range ws {
		select {
		case <-w.done:
		case <-time.After(2 * time.Minute):
			w.cmd.Process.Kill()
			<-w.done
		}
		switch {
		case w.waitErr != nil && firstErr == nil:
			firstErr = fmt.Errorf("worker %s: %w", w.owner, w.waitErr)
		case w.readErr != nil && firstErr == nil:
			firstErr = fmt.Errorf("worker %s: %w", w.owner, w.readErr)
		case w.report == nil && firstErr == nil:
			firstErr = fmt.Errorf("worker %s: no report", w.owner)
		}
	}
	return firstErr
}

// merge adds a worker's counts to the parent's totals, so the usual
// report rows cover every instance.
func (r *workerReport) merge(ss *storeStats, logs *logCounter, outcomes *sync.Map, callLat *latencies) {
	ss.commits.Add(r.Commits)
	ss.mutateErr.Add(r.MutateErr)
	ss.leaseHeld.Add(r.LeaseHeld)
	ss.leaseBusy.Add(r.LeaseBusy)
	ss.leaseErr.Add(r.LeaseErr)
	ss.releases.Add(r.Releases)
	ss.releaseErr.Add(r.ReleaseErr)
	ss.listDue.Add(r.ListDue)
	ss.listDueRows.Add(r.ListDueRows)
	ss.listErr.Add(r.ListErr)
	ss.getCred.Add(r.GetCred)
	ss.getInteg.Add(r.GetInteg)
	if r.LastCommit > ss.lastCommit.Load() {
		ss.lastCommit.Store(r.LastCommit)
	}
	for _, p := range []struct {
		l *latencies
		d []time.Duration
	}{{&ss.leaseLat, r.LeaseLat}, {&ss.mutateLat, r.MutateLat}, {&ss.listLat, r.ListLat}, {&ss.releaseLat, r.ReleaseLt}, {callLat, r.CallLat}} {
		p.l.mu.Lock()
		p.l.d = append(p.l.d, p.d...)
		p.l.mu.Unlock()
	}
	for k, n := range r.Outcomes {
		c, _ := outcomes.LoadOrStore(k, new(atomic.Int64))
		c.(*atomic.Int64).Add(n)
	}
	for k, n := range r.Logs {
		logs.n.Add(n)
		c, _ := logs.byMsg.LoadOrStore(k, new(atomic.Int64))
		c.(*atomic.Int64).Add(n)
	}
}

// instanceRows are the per-instance lines of the report.
func instanceRows(ws []*worker) []string {
	var out []string
	out = append(out, "| instance | refreshes committed | leases held / busy | CPU user + sys (engine run) | **CPU per refresh** | PostgreSQL backend CPU (per refresh) | **peak RSS (VmHWM)** | peak heap / Go Sys | peak goroutines | whole-process CPU (wait4, start-up included) |",
		"|---|---|---|---|---|---|---|---|---|---|")
	for _, w := range ws {
		r := w.report
		if r == nil {
			out = append(out, fmt.Sprintf("| %s | no report | | | | | | | | |", w.owner))
			continue
		}
		cpu := (r.User + r.Sys).Seconds()
		pg := "–"
		if r.PGCPU >= 0 {
			pg = fmt.Sprintf("%.1fs over %d backends (%.2f ms)", r.PGCPU.Seconds(), r.PGBackends, 1000*r.PGCPU.Seconds()/max(float64(r.Commits), 1))
			if r.PGBackendsUnreadble > 0 {
				pg += fmt.Sprintf(", %d unreadable", r.PGBackendsUnreadble)
			}
		}
		whole := "–"
		if ru := w.rusage; ru != nil {
			// Not wait4's maxrss: Linux starts a child's at the parent's
			// peak at fork, so it reports the seeding parent's RSS.
			whole = fmt.Sprintf("%.1fs", time.Duration(ru.Utime.Nano()+ru.Stime.Nano()).Seconds())
		}
		out = append(out, fmt.Sprintf("| %s | %d | %d / %d | %.1fs + %.1fs = %.1fs (%.2f cores avg) | %.2f ms | %s | %s | %s / %s | %d | %s |",
			r.Owner, r.Commits, r.LeaseHeld, r.LeaseBusy, r.User.Seconds(), r.Sys.Seconds(), cpu, cpu/max(r.RunWall.Seconds(), 1e-9),
			1000*cpu/max(float64(r.Commits), 1), pg, mib(r.PeakRSS), mib(r.PeakHeap), mib(r.PeakSys), r.PeakGoroutines, whole))
	}
	return out
}

// startProfile starts a CPU profile into path (none when empty); the
// returned function stops it.
func startProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
