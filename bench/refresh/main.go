// Command refresh measures the token refresh engine (internal/tokens) at
// scale: N OAuth 2.0 integrations whose tokens become due for refresh over
// a window, refreshed by one or more Engines (each with its own Owner,
// sharing one database) against an in-process counting token endpoint.
//
// It checks that every token is refreshed before it expires, that no grant
// is refreshed twice, that the number of token requests in flight stays
// within Concurrency × instances, and that the store ends up holding the
// provider's current (rotated) refresh token for every credential; and it
// records memory, CPU, wall time, throughput and how far ahead of expiry
// the refreshes happened.
//
//	go run ./bench/refresh -n 2000 -window 20s
//	go run ./bench/refresh -n 100000 -window 300s
//	go run ./bench/refresh -db 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
//
// With a postgres URL the program creates a fresh schema (dropped at the
// end unless -keep) and points search_path at it.
//
// Tokens are due at T0 + U(0, window), T0 being -lead after the start of
// seeding (so seeding does not eat into the window), and expire the refresh
// margin tokens.NextRefresh uses (min(5m, lifetime/2)) plus up to 10%
// jitter later. The endpoint issues tokens living -lifetime, so each grant
// is refreshed exactly once during the run.
//
// Probes for problems found while writing this (see RESULTS.md):
//
//	-stop-after K      stop the engines after K commits, as `storm serve` does at shutdown
//	-appfail K         the Source of the K earliest-due integrations fails
//	-legacy-material   seed credentials in the format before commit ba57f05
//	-latency D         a slower token endpoint (the concurrency bound then caps throughput)
//
// -procs P runs the engines as P worker processes (this program
// re-executed, see procs.go) instead of goroutines, and reports each
// one's refreshes, CPU per refresh and peak RSS.
//
// Exit status 1 when any duplicate, late or missed refresh, endpoint or
// verification error, or concurrency-bound violation was seen.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
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

const (
	clientID     = "bench-client"
	clientSecret = "bench-client-secret-0123456789"
)

type options struct {
	n            int
	window       time.Duration
	lifetime     time.Duration
	issued       time.Duration
	db           string
	concurrency  int
	instances    int
	interval     time.Duration
	latency      time.Duration
	lead         time.Duration
	seedWorkers  int
	seed         uint64
	cpuprofile   string
	stopAfter    int
	keep         bool
	slack        time.Duration
	sharedHandle bool
	appFail      int
	legacy       bool
	procs        int
	sched        string
	schedDue     int
	schedRounds  int
	schedChurn   float64
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 100000, "number of OAuth integrations (one active credential each)")
	flag.DurationVar(&o.window, "window", 300*time.Second, "span over which the tokens become due for refresh (0: all at once)")
	flag.DurationVar(&o.lifetime, "lifetime", time.Hour, "access token lifetime, of the seeded tokens and of those the endpoint issues")
	flag.DurationVar(&o.issued, "issue-lifetime", 0, "lifetime of the tokens the endpoint issues (default -lifetime); must outlast the run, or refreshed tokens fall due again")
	flag.StringVar(&o.db, "db", "", "database: empty for SQLite in a temp dir, a file path for SQLite, or a postgres:// URL (a fresh schema is created)")
	flag.IntVar(&o.concurrency, "concurrency", 8, "tokens.Config.Concurrency of each engine")
	flag.IntVar(&o.instances, "instances", 1, "engines (each with its own Owner and its own store handle on the same database)")
	flag.DurationVar(&o.interval, "interval", time.Second, "tokens.Config.Interval (scan period)")
	flag.DurationVar(&o.latency, "latency", 0, "extra latency of every token endpoint response (a real provider takes 50–500ms)")
	flag.DurationVar(&o.lead, "lead", -1, "time from the start of seeding to the first due refresh (T0); negative: estimated from -n")
	flag.IntVar(&o.seedWorkers, "seed-workers", 8, "goroutines seeding the store")
	flag.Uint64Var(&o.seed, "seed", 1, "random seed of the due-time spread")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the refresh phase (not seeding) to this file")
	flag.IntVar(&o.stopAfter, "stop-after", 0, "shutdown probe: cancel the engines after this many commits, close their store handles at once (as `storm serve` does), and count rotated refresh tokens that never reached the store")
	flag.BoolVar(&o.keep, "keep", false, "keep the temp dir / postgres schema")
	flag.DurationVar(&o.slack, "slack", 30*time.Second, "extra time after the last token's expiry before giving up")
	flag.BoolVar(&o.sharedHandle, "shared-handle", false, "all engines share one store handle instead of one each")
	flag.BoolVar(&o.legacy, "legacy-material", false, "upgrade probe: seed credentials in the format before commit ba57f05 (a bare sealed token set, no {\"token\": …} material document)")
	flag.IntVar(&o.appFail, "appfail", 0, "fault probe: SourceFor fails (as creds' source does when issuer discovery is down or a config is broken) for this many integrations, those due first; every other token must still be refreshed in time")
	flag.IntVar(&o.procs, "procs", 0, "run the engines as this many separate worker processes (this program re-executed, one engine and store handle each, as `storm serve` instances), measuring each one's CPU and RSS; replaces -instances")
	flag.StringVar(&o.sched, "sched", "", "scheduling-cost mode: comma-separated numbers of integrations (e.g. 10000,100000,1000000), each seeded in bulk in a fresh database with -sched-due of them due; measures ListDueCredentials + HoldLease + ReleaseLease per claimed refresh (see sched.go)")
	flag.IntVar(&o.schedDue, "sched-due", 2000, "-sched: integrations due in each round")
	flag.IntVar(&o.schedRounds, "sched-rounds", 5, "-sched: measured rounds per size (after one warm-up round)")
	flag.Float64Var(&o.schedChurn, "sched-churn", 0.1, "-sched: share of the integrations refreshed since the last vacuum (PostgreSQL autovacuum's default trigger is 20% of the rows: 10% on average)")
	flag.Parse()
	if cfg := os.Getenv(workerEnv); cfg != "" {
		if err := runWorker(cfg); err != nil {
			fmt.Fprintln(os.Stderr, "refresh worker:", err)
			os.Exit(2)
		}
		return
	}
	if o.sched != "" {
		sizes, err := parseSizes(o.sched)
		if err != nil || o.schedDue <= 0 || o.schedRounds <= 0 {
			fmt.Fprintln(os.Stderr, "refresh:", err, "(-sched-due and -sched-rounds must be positive)")
			os.Exit(2)
		}
		ok, err := runSched(o, schedOptions{sizes: sizes, due: o.schedDue, rounds: o.schedRounds, churn: o.schedChurn})
		if err != nil {
			fmt.Fprintln(os.Stderr, "refresh:", err)
			os.Exit(2)
		}
		if !ok {
			os.Exit(1)
		}
		return
	}
	if o.procs > 0 {
		if o.appFail > 0 || o.stopAfter > 0 || o.sharedHandle || o.legacy {
			fmt.Fprintln(os.Stderr, "refresh: -procs does not combine with -appfail, -stop-after, -shared-handle or -legacy-material")
			os.Exit(2)
		}
		o.instances = o.procs
	}
	if o.n <= 0 || o.concurrency <= 0 || o.instances <= 0 || o.window < 0 {
		fmt.Fprintln(os.Stderr, "refresh: -n, -concurrency and -instances must be positive, -window not negative")
		os.Exit(2)
	}
	ok, err := run(o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "refresh:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

// refreshMargin is how long before expiry tokens.NextRefresh schedules a
// refresh for a token of this lifetime (no provider margin), before jitter.
func refreshMargin(lifetime time.Duration) time.Duration {
	m := min(5*time.Minute, lifetime/2)
	if m <= 0 {
		m = time.Minute
	}
	return m
}

// ---------------------------------------------------------------------------
// The token endpoint.

// grant is one integration's grant as the provider sees it.
type grant struct {
	idx       int
	credID    string
	integID   string
	refreshAt time.Time // when the seeded credential became due
	expiry    time.Time // when the seeded access token expires

	count       atomic.Int32           // successful refreshes
	refreshedAt atomic.Int64           // unix nanos of the first refresh
	current     atomic.Pointer[string] // the refresh token the provider accepts now
}

type endpoint struct {
	latency  time.Duration
	lifetime int64 // expires_in, seconds

	live    sync.Map // refresh token → *grant (valid now)
	retired sync.Map // refresh token → *grant (rotated away: a reuse is an error)

	requests   atomic.Int64
	refreshes  atomic.Int64
	duplicates atomic.Int64 // refreshes of a grant beyond its first
	reuse      atomic.Int64 // a rotated-away refresh token presented again
	unknown    atomic.Int64 // a refresh token never issued
	badClient  atomic.Int64
	badRequest atomic.Int64

	inFlight    atomic.Int64
	maxInFlight atomic.Int64
}

func (e *endpoint) issue(g *grant, gen int32) string {
	rt := fmt.Sprintf("rt-%d-%d-%016x", g.idx, gen, rand.Uint64())
	g.current.Store(&rt)
	e.live.Store(rt, g)
	return rt
}

func (e *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cur := e.inFlight.Add(1)
	defer e.inFlight.Add(-1)
	for {
		m := e.maxInFlight.Load()
		if cur <= m || e.maxInFlight.CompareAndSwap(m, cur) {
			break
		}
	}
	e.requests.Add(1)
	if e.latency > 0 {
		time.Sleep(e.latency)
	}
	fail := func(status int, code string, counter *atomic.Int64) {
		counter.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":%q}`, code)
	}
	if r.Method != http.MethodPost || r.URL.Path != "/token" {
		fail(http.StatusNotFound, "not_found", &e.badRequest)
		return
	}
	if err := r.ParseForm(); err != nil {
		fail(http.StatusBadRequest, "invalid_request", &e.badRequest)
		return
	}
	id, sec, ok := r.BasicAuth()
	if !ok || id != clientID || sec != clientSecret {
		fail(http.StatusUnauthorized, "invalid_client", &e.badClient)
		return
	}
	if r.PostForm.Get("grant_type") != "refresh_token" {
		fail(http.StatusBadRequest, "unsupported_grant_type", &e.badRequest)
		return
	}
	rt := r.PostForm.Get("refresh_token")
	v, ok := e.live.LoadAndDelete(rt)
	if !ok {
		if _, reused := e.retired.Load(rt); reused {
			fail(http.StatusBadRequest, "invalid_grant", &e.reuse)
		} else {
			fail(http.StatusBadRequest, "invalid_grant", &e.unknown)
		}
		return
	}
	g := v.(*grant)
	e.retired.Store(rt, g)
	gen := g.count.Add(1)
	if gen == 1 {
		g.refreshedAt.Store(time.Now().UnixNano())
	} else {
		e.duplicates.Add(1)
	}
	e.refreshes.Add(1)
	next := e.issue(g, gen)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintf(w, `{"access_token":"at-%d-%d-%016x","refresh_token":%q,"token_type":"Bearer","expires_in":%d}`,
		g.idx, gen, rand.Uint64(), next, e.lifetime)
}

// ---------------------------------------------------------------------------
// A counting store wrapper: the engines' store calls, their outcomes and
// latencies.

type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) snapshot() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := slices.Clone(l.d)
	slices.Sort(out)
	return out
}

type storeStats struct {
	leaseHeld, leaseBusy, leaseErr atomic.Int64
	releases, releaseErr           atomic.Int64
	commits, mutateErr             atomic.Int64
	listDue, listDueRows, listErr  atomic.Int64
	getCred, getInteg              atomic.Int64
	lastCommit                     atomic.Int64 // unix nanos

	leaseLat, mutateLat, listLat, releaseLat latencies
}

type countingStore struct {
	store.Store
	s *storeStats
}

func (c countingStore) HoldLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	t := time.Now()
	ok, err := c.Store.HoldLease(ctx, name, owner, ttl)
	c.s.leaseLat.add(time.Since(t))
	switch {
	case err != nil:
		c.s.leaseErr.Add(1)
	case ok:
		c.s.leaseHeld.Add(1)
	default:
		c.s.leaseBusy.Add(1)
	}
	return ok, err
}

func (c countingStore) ReleaseLease(ctx context.Context, name, owner string) error {
	t := time.Now()
	err := c.Store.ReleaseLease(ctx, name, owner)
	c.s.releaseLat.add(time.Since(t))
	c.s.releases.Add(1)
	if err != nil {
		c.s.releaseErr.Add(1)
	}
	return err
}

func (c countingStore) Mutate(ctx context.Context, id string, fn func(*store.CredentialSet) error) (store.CredentialSet, error) {
	t := time.Now()
	set, err := c.Store.Mutate(ctx, id, fn)
	c.s.mutateLat.add(time.Since(t))
	if err != nil {
		c.s.mutateErr.Add(1)
	} else {
		c.s.commits.Add(1)
		c.s.lastCommit.Store(time.Now().UnixNano())
	}
	return set, err
}

func (c countingStore) ListDueCredentials(ctx context.Context, before time.Time, limit int) ([]store.Credential, error) {
	t := time.Now()
	cs, err := c.Store.ListDueCredentials(ctx, before, limit)
	c.s.listLat.add(time.Since(t))
	c.s.listDue.Add(1)
	c.s.listDueRows.Add(int64(len(cs)))
	if err != nil {
		c.s.listErr.Add(1)
	}
	return cs, err
}

func (c countingStore) GetCredential(ctx context.Context, id string) (store.Credential, error) {
	c.s.getCred.Add(1)
	return c.Store.GetCredential(ctx, id)
}

func (c countingStore) GetIntegration(ctx context.Context, id string) (store.Integration, error) {
	c.s.getInteg.Add(1)
	return c.Store.GetIntegration(ctx, id)
}

// ---------------------------------------------------------------------------
// Resource sampling.

type peaks struct {
	heapInuse, heapSys, sys, goroutines atomic.Uint64
}

func (p *peaks) max(v *atomic.Uint64, x uint64) {
	for {
		m := v.Load()
		if x <= m || v.CompareAndSwap(m, x) {
			return
		}
	}
}

// sampler records peak memory and goroutines every 100ms into the current
// phase's peaks.
type sampler struct {
	cur  atomic.Pointer[peaks]
	stop chan struct{}
	done chan struct{}
}

func startSampler() *sampler {
	s := &sampler{stop: make(chan struct{}), done: make(chan struct{})}
	s.cur.Store(&peaks{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			p := s.cur.Load()
			runtime.ReadMemStats(&ms)
			p.max(&p.heapInuse, ms.HeapInuse)
			p.max(&p.heapSys, ms.HeapSys)
			p.max(&p.sys, ms.Sys)
			p.max(&p.goroutines, uint64(runtime.NumGoroutine()))
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// phase starts a new set of peaks and returns the previous one.
func (s *sampler) phase() *peaks { return s.cur.Swap(&peaks{}) }

func (s *sampler) close() *peaks {
	close(s.stop)
	<-s.done
	return s.cur.Load()
}

// procStatus reads a "kB" field of /proc/self/status in bytes.
func procStatus(field string) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseUint(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// resetPeakRSS resets VmHWM (Linux clear_refs 5); it reports whether it
// worked.
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

type cpuTimes struct{ user, sys time.Duration }

func cpuNow() cpuTimes {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return cpuTimes{time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())}
}

func (a cpuTimes) sub(b cpuTimes) cpuTimes { return cpuTimes{a.user - b.user, a.sys - b.sys} }

// ---------------------------------------------------------------------------
// A log handler that counts the engines' log records and prints the first
// few.

type logCounter struct {
	n, printed atomic.Int64
	byMsg      sync.Map // message → *atomic.Int64
}

type countHandler struct {
	slog.Handler
	c *logCounter
}

func (h countHandler) Handle(ctx context.Context, r slog.Record) error {
	h.c.n.Add(1)
	v, _ := h.c.byMsg.LoadOrStore(r.Message, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
	if h.c.printed.Add(1) <= 20 {
		return h.Handler.Handle(ctx, r)
	}
	return nil
}

func (h countHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return countHandler{h.Handler.WithAttrs(as), h.c}
}

func (h countHandler) WithGroup(name string) slog.Handler {
	return countHandler{h.Handler.WithGroup(name), h.c}
}

// ---------------------------------------------------------------------------
// Databases.

type database struct {
	desc   string
	dsn    string // what a worker process opens
	open   func(ctx context.Context) (store.Store, error)
	remove func()
}

func openDatabase(ctx context.Context, o options, tmp string) (*database, error) {
	if strings.HasPrefix(o.db, "postgres://") || strings.HasPrefix(o.db, "postgresql://") {
		u, err := url.Parse(o.db)
		if err != nil {
			return nil, fmt.Errorf("-db: %w", err)
		}
		// The admin connection is plain pgx: drop pgxpool's parameters.
		au := *u
		aq := au.Query()
		for k := range aq {
			if strings.HasPrefix(k, "pool_") {
				aq.Del(k)
			}
		}
		au.RawQuery = aq.Encode()
		admin := au.String()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return nil, fmt.Errorf("connect to postgres: %w", err)
		}
		schema := fmt.Sprintf("bench_refresh_%d_%x", time.Now().Unix(), rand.Uint32())
		_, err = conn.Exec(ctx, "CREATE SCHEMA "+schema)
		conn.Close(ctx)
		if err != nil {
			return nil, fmt.Errorf("create schema: %w", err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		dsn := u.String()
		return &database{
			desc: "PostgreSQL (schema " + schema + ")",
			dsn:  dsn,
			open: func(ctx context.Context) (store.Store, error) { return postgres.Open(ctx, dsn) },
			remove: func() {
				if o.keep {
					fmt.Fprintf(os.Stderr, "kept schema %s\n", schema)
					return
				}
				conn, err := pgx.Connect(context.Background(), admin)
				if err != nil {
					fmt.Fprintln(os.Stderr, "drop schema:", err)
					return
				}
				defer conn.Close(context.Background())
				if _, err := conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
					fmt.Fprintln(os.Stderr, "drop schema:", err)
				}
			},
		}, nil
	}
	path := o.db
	if path == "" {
		path = filepath.Join(tmp, "storm.db")
	}
	return &database{
		desc:   "SQLite (" + path + ")",
		dsn:    path,
		open:   func(ctx context.Context) (store.Store, error) { return sqlite.Open(ctx, path) },
		remove: func() {},
	}, nil
}

// ---------------------------------------------------------------------------
// The run.

func run(o options) (bool, error) {
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "storm-bench-refresh-")
	if err != nil {
		return false, err
	}
	if o.keep {
		fmt.Fprintf(os.Stderr, "temp dir %s kept\n", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	db, err := openDatabase(ctx, o, tmp)
	if err != nil {
		return false, err
	}
	defer db.remove()
	base, err := db.open(ctx)
	if err != nil {
		return false, err
	}
	defer base.Close()
	kek, err := vault.OpenKEK(ctx, "", tmp)
	if err != nil {
		return false, err
	}
	v, err := vault.Open(ctx, kek, base)
	if err != nil {
		return false, err
	}

	if o.issued <= 0 {
		o.issued = o.lifetime
	}
	ep := &endpoint{latency: o.latency, lifetime: int64(o.issued / time.Second)}
	srv := httptest.NewServer(ep)
	defer srv.Close()
	srv.Config.ErrorLog = nil

	// One App for all integrations: they share the client registration.
	app := benchApp(srv.URL)
	var badApp, failedApp atomic.Int64
	var failing map[string]bool // set before the engines start; read-only after
	sourceFor := func(_ context.Context, in store.Integration, _ tokens.Material) (tokens.Source, error) {
		if failing[in.ID] {
			failedApp.Add(1)
			return nil, fmt.Errorf("discover the authorization server of %s: 503 (fault probe)", in.ID)
		}
		if in.Provider != catalog.Custom || in.AuthMethod != catalog.MethodOAuth2 {
			badApp.Add(1)
			return nil, fmt.Errorf("integration %s is not a custom oauth2 integration", in.ID)
		}
		return app, nil
	}

	margin := refreshMargin(o.lifetime)
	lead := o.lead
	if lead < 0 {
		// SQLite seeds ~1,200 integrations a second on 2 cores; leave room.
		lead = 15*time.Second + time.Duration(o.n)*time.Second/800
	}
	fmt.Printf("storm token refresh benchmark: n=%d window=%s lifetime=%s margin=%s concurrency=%d instances=%d interval=%s latency=%s\n",
		o.n, o.window, o.lifetime, margin, o.concurrency, o.instances, o.interval, o.latency)
	fmt.Printf("database: %s\n", db.desc)
	fmt.Printf("machine: %d CPUs (%s), GOMAXPROCS %d, %s, load average %s\n", runtime.NumCPU(), cpuModel(), runtime.GOMAXPROCS(0), runtime.Version(), loadavg())

	samp := startSampler()
	cpu0 := cpuNow()
	seedStart := time.Now()
	t0 := seedStart.Add(lead).Truncate(time.Microsecond)
	grants, err := seedAll(ctx, o, base, v, ep, srv.URL, t0, margin)
	if err != nil {
		return false, err
	}
	seedDur := time.Since(seedStart)
	if o.appFail > 0 {
		byDue := slices.Clone(grants)
		slices.SortFunc(byDue, func(a, b *grant) int { return a.refreshAt.Compare(b.refreshAt) })
		failing = map[string]bool{}
		for _, g := range byDue[:min(o.appFail, len(byDue))] {
			failing[g.integID] = true
		}
	}
	seedCPU := cpuNow().sub(cpu0)
	seedPeaks := samp.phase()
	seedRSS := procStatus("VmHWM")
	rssReset := resetPeakRSS()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseHeap := ms.HeapInuse
	fmt.Printf("seeded %d integrations in %s (%.0f/s; CPU %.1fs); T0 is %s after the end of seeding\n",
		o.n, seedDur.Round(time.Millisecond), float64(o.n)/seedDur.Seconds(), (seedCPU.user + seedCPU.sys).Seconds(), time.Until(t0).Round(time.Millisecond))
	if time.Now().After(t0) {
		fmt.Printf("WARNING: seeding overran T0 by %s: the earliest tokens are already due (raise -lead)\n", time.Since(t0).Round(time.Millisecond))
	}

	// The engines.
	var (
		ss       storeStats
		logs     logCounter
		outcomes sync.Map // outcome → *atomic.Int64
		callLat  latencies
	)
	logger := slog.New(countHandler{slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}), &logs})
	metrics := func(outcome string, d time.Duration) {
		c, _ := outcomes.LoadOrStore(outcome, new(atomic.Int64))
		c.(*atomic.Int64).Add(1)
		callLat.add(d)
	}
	var handles []store.Store
	var engines []*tokens.Engine
	for k := range o.instances {
		if o.procs > 0 {
			break // separate processes, started below
		}
		var h store.Store = base
		if !o.sharedHandle {
			if h, err = db.open(ctx); err != nil {
				return false, err
			}
			handles = append(handles, h)
		}
		iv, err := vault.Open(ctx, kek, h)
		if err != nil {
			return false, err
		}
		eng, err := tokens.New(tokens.Config{
			Store: countingStore{h, &ss}, Vault: iv, Sources: sourceFor, Logger: logger,
			Owner: fmt.Sprintf("bench-instance-%d", k), Concurrency: o.concurrency, Interval: o.interval, Metrics: metrics,
		})
		if err != nil {
			return false, err
		}
		engines = append(engines, eng)
	}
	closeHandles := func() {
		for _, h := range handles {
			h.Close()
		}
		handles = nil
	}
	defer func() { closeHandles() }()

	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return false, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return false, err
		}
		defer f.Close()
	}
	cpu1 := cpuNow()
	runCtx, cancel := context.WithCancel(ctx)
	engineStart := time.Now()
	var running sync.WaitGroup
	for _, eng := range engines {
		running.Go(func() { eng.Run(runCtx) })
	}
	var workers []*worker
	if o.procs > 0 {
		if workers, err = startWorkers(o, db.dsn, tmp, srv.URL); err != nil {
			cancel()
			stopWorkers(workers)
			return false, err
		}
	}
	committed := func() int64 {
		n := ss.commits.Load()
		for _, w := range workers {
			n += w.commits.Load()
		}
		return n
	}

	// Wait until every grant is refreshed and committed, or the deadline.
	lastExpiry := t0.Add(o.window + margin + margin/10)
	deadline := lastExpiry.Add(o.slack)
	tick := time.NewTicker(100 * time.Millisecond)
	lastReport := time.Now()
	stopReason := "all refreshed and committed"
	for {
		<-tick.C
		refreshed := ep.refreshes.Load()
		commits := committed()
		if o.stopAfter > 0 && commits >= int64(o.stopAfter) {
			stopReason = fmt.Sprintf("-stop-after %d commits", o.stopAfter)
			break
		}
		if want := int64(o.n - len(failing)); commits >= want && refreshed >= want {
			break
		}
		if time.Now().After(deadline) {
			stopReason = "deadline (last expiry + slack) passed"
			break
		}
		if time.Since(lastReport) >= 10*time.Second {
			lastReport = time.Now()
			fmt.Printf("  t=%5.0fs after T0: refreshed %d/%d, committed %d, in flight %d, lease busy %d (in-process engines), heap %s\n",
				time.Since(t0).Seconds(), refreshed, o.n, commits, ep.inFlight.Load(), ss.leaseBusy.Load(), mib(samp.cur.Load().heapInuse.Load()))
		}
	}
	tick.Stop()
	stopAt := time.Now()
	cancel()
	running.Wait()
	if o.procs > 0 {
		if err := stopWorkers(workers); err != nil {
			return false, err
		}
		for _, w := range workers {
			w.report.merge(&ss, &logs, &outcomes, &callLat)
		}
	}
	runReturned := time.Now()
	inFlightAtReturn := ep.inFlight.Load()
	uncommittedAtReturn := ep.refreshes.Load() - ss.commits.Load()
	if o.stopAfter > 0 {
		// As `storm serve` does: Serve returns once Run has, and the
		// deferred srv.Close closes the store.
		closeHandles()
	}
	if o.cpuprofile != "" {
		pprof.StopCPUProfile()
	}
	runCPU := cpuNow().sub(cpu1)
	runPeaks := samp.close()
	runRSS := procStatus("VmHWM")
	runtime.GC()
	runtime.ReadMemStats(&ms)
	endHeap := ms.HeapInuse
	// Let any refresh still in flight finish (or fail) before verifying.
	for i := 0; i < 100 && ep.inFlight.Load() > 0; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // commitSuccess retries for up to 1s

	// Verify what the store holds.
	ver := verify(ctx, base, v, grants, o.seedWorkers)

	// Statistics.
	var (
		late, missed     int
		marginsD, lags   []time.Duration
		first, last      int64
		perSecond        = map[int64]int{}
		rotatedNotStored int
	)
	for _, g := range grants {
		if failing[g.integID] {
			continue // cannot be refreshed, by design of the probe
		}
		at := g.refreshedAt.Load()
		if at == 0 {
			missed++
			continue
		}
		if first == 0 || at < first {
			first = at
		}
		last = max(last, at)
		ra := time.Unix(0, at)
		if !ra.Before(g.expiry) {
			late++
		}
		marginsD = append(marginsD, g.expiry.Sub(ra))
		due := g.refreshAt
		if due.Before(engineStart) {
			due = engineStart
		}
		lags = append(lags, ra.Sub(due))
		perSecond[at/int64(time.Second)]++
	}
	rotatedNotStored = ver.lost
	slices.Sort(marginsD)
	slices.Sort(lags)
	peakPerSecond := 0
	for _, c := range perSecond {
		peakPerSecond = max(peakPerSecond, c)
	}
	// Seconds inside the span in which nothing was refreshed although
	// some tokens were due and not yet refreshed (the engine idled with a
	// backlog).
	idleWithBacklog := 0
	if first != 0 {
		dueBy := make([]int64, 0, len(grants))
		for _, g := range grants {
			if !failing[g.integID] {
				dueBy = append(dueBy, max(g.refreshAt.UnixNano(), engineStart.UnixNano())/int64(time.Second))
			}
		}
		slices.Sort(dueBy)
		done, j := 0, 0
		for sec := first / int64(time.Second); sec <= last/int64(time.Second); sec++ {
			for j < len(dueBy) && dueBy[j] <= sec {
				j++
			}
			if perSecond[sec] == 0 && j > done {
				idleWithBacklog++
			}
			done += perSecond[sec]
		}
	}
	span := time.Duration(last - first)
	bound := int64(o.concurrency * o.instances)
	refreshes := ep.refreshes.Load()
	endpointErrors := ep.reuse.Load() + ep.unknown.Load() + ep.badClient.Load() + ep.badRequest.Load()
	runWall := time.Duration(ss.lastCommit.Load() - engineStart.UnixNano())
	if ss.lastCommit.Load() == 0 {
		runWall = stopAt.Sub(engineStart)
	}
	runCPUs := (runCPU.user + runCPU.sys).Seconds()

	type row struct{ k, v string }
	rows := []row{
		{"integrations (N)", strconv.Itoa(o.n)},
		{"database", db.desc},
		{"due window / token lifetime / refresh margin", fmt.Sprintf("%s / %s / %s (+≤10%% jitter)", o.window, o.lifetime, margin)},
		{"instances × concurrency (bound)", fmt.Sprintf("%d × %d = %d", o.instances, o.concurrency, bound)},
		{"scan interval / endpoint latency", fmt.Sprintf("%s / %s", o.interval, o.latency)},
		{"seeding", fmt.Sprintf("%s (%.0f integrations/s, CPU %.1fs, peak heap %s, peak RSS %s)", seedDur.Round(time.Millisecond), float64(o.n)/seedDur.Seconds(), (seedCPU.user + seedCPU.sys).Seconds(), mib(seedPeaks.heapInuse.Load()), mib(seedRSS))},
		{"stopped because", stopReason},
		{"token requests / successful refreshes", fmt.Sprintf("%d / %d", ep.requests.Load(), refreshes)},
		{"grants refreshed / missed", fmt.Sprintf("%d / %d", o.n-len(failing)-missed, missed)},
		{"**duplicate refreshes**", strconv.FormatInt(ep.duplicates.Load(), 10)},
		{"**endpoint errors** (reuse / unknown token / client auth / bad request)", fmt.Sprintf("%d (%d / %d / %d / %d)", endpointErrors, ep.reuse.Load(), ep.unknown.Load(), ep.badClient.Load(), ep.badRequest.Load())},
		{"**late refreshes** (after the old token's expiry)", strconv.Itoa(late)},
		{"**store verification** (rotated token not stored / other mismatches)", fmt.Sprintf("%d / %d", ver.lost, ver.bad)},
		{"**max concurrent token requests** (bound)", fmt.Sprintf("%d (≤ %d)", ep.maxInFlight.Load(), bound)},
		{"margin before expiry p50 / p99-worst (p1) / min", fmt.Sprintf("%s / %s / %s", pct(marginsD, 50), pct(marginsD, 1), pct(marginsD, 0))},
		{"lag after due p50 / p99 / max", fmt.Sprintf("%s / %s / %s", pct(lags, 50), pct(lags, 99), pct(lags, 100))},
		{"provider call p50 / p99 (engine metric)", fmt.Sprintf("%s / %s", pctOf(&callLat, 50), pctOf(&callLat, 99))},
		{"refresh span (first → last refresh); seconds in it with tokens due yet no refresh", fmt.Sprintf("%s; %d", span.Round(time.Millisecond), idleWithBacklog)},
		{"throughput avg over span / peak 1s", fmt.Sprintf("%.0f/s / %d/s (offered %.0f/s)", float64(len(lags))/max(span.Seconds(), 1e-9), peakPerSecond, offered(o))},
		{"run wall (engine start → last commit)", runWall.Round(time.Millisecond).String()},
		{map[bool]string{false: "CPU user + sys during run (whole process: engine, store, endpoint)", true: "CPU user + sys during run of the parent (token endpoint and bookkeeping; no engine)"}[o.procs > 0], fmt.Sprintf("%.1fs + %.1fs = %.1fs (%.2f cores avg; %.2f ms/refresh)", runCPU.user.Seconds(), runCPU.sys.Seconds(), runCPUs, runCPUs/runReturned.Sub(engineStart).Seconds(), 1000*runCPUs/max(float64(refreshes), 1))},
		{"heap in use after GC: after seeding (baseline) / after run; peak heap in use during run", fmt.Sprintf("%s / %s; %s", mib(baseHeap), mib(endHeap), mib(runPeaks.heapInuse.Load()))},
		{"peak Go Sys / peak RSS (VmHWM) during run", fmt.Sprintf("%s / %s%s", mib(runPeaks.sys.Load()), mib(runRSS), map[bool]string{false: " (could not reset after seeding: whole-process peak)", true: ""}[rssReset])},
		{"peak goroutines during run", strconv.FormatUint(runPeaks.goroutines.Load(), 10)},
		{"store: leases held / busy / errors", fmt.Sprintf("%d / %d / %d", ss.leaseHeld.Load(), ss.leaseBusy.Load(), ss.leaseErr.Load())},
		{"store: HoldLease p50 / p99", fmt.Sprintf("%s / %s", pctOf(&ss.leaseLat, 50), pctOf(&ss.leaseLat, 99))},
		{"store: commit (Mutate) ok / errors, p50 / p99", fmt.Sprintf("%d / %d, %s / %s", ss.commits.Load(), ss.mutateErr.Load(), pctOf(&ss.mutateLat, 50), pctOf(&ss.mutateLat, 99))},
		{"store: ReleaseLease p50 / p99", fmt.Sprintf("%s / %s", pctOf(&ss.releaseLat, 50), pctOf(&ss.releaseLat, 99))},
		{"store: ListDueCredentials calls / rows / errors, p50 / p99", fmt.Sprintf("%d / %d / %d, %s / %s", ss.listDue.Load(), ss.listDueRows.Load(), ss.listErr.Load(), pctOf(&ss.listLat, 50), pctOf(&ss.listLat, 99))},
		{"store: GetCredential / GetIntegration calls", fmt.Sprintf("%d / %d", ss.getCred.Load(), ss.getInteg.Load())},
		{"engine log records", logSummary(&logs)},
	}
	if o.procs > 0 {
		var cpu time.Duration
		var pg time.Duration
		pgKnown := true
		var rss uint64
		for _, w := range workers {
			cpu += w.report.User + w.report.Sys
			rss = max(rss, w.report.PeakRSS)
			if w.report.PGCPU < 0 {
				pgKnown = false
			}
			pg += w.report.PGCPU
		}
		total := fmt.Sprintf("%.1fs (%.2f ms/refresh)", cpu.Seconds(), 1000*cpu.Seconds()/max(float64(ss.commits.Load()), 1))
		if pgKnown {
			total += fmt.Sprintf("; their PostgreSQL backends %.1fs (%.2f ms/refresh)", pg.Seconds(), 1000*pg.Seconds()/max(float64(ss.commits.Load()), 1))
		}
		rows = append(rows,
			row{"worker processes: CPU of all engines (user + sys, engine run)", total},
			row{"worker processes: largest peak RSS (VmHWM)", mib(rss)})
	}
	if o.appFail > 0 {
		rows = append(rows, row{"fault probe: integrations whose SourceFor fails / SourceFor failures", fmt.Sprintf("%d / %d", len(failing), failedApp.Load())})
	}
	if o.stopAfter > 0 {
		rows = append(rows,
			row{"shutdown probe: token requests in flight when Run returned", strconv.FormatInt(inFlightAtReturn, 10)},
			row{"shutdown probe: refreshed at provider but not committed when Run returned", strconv.FormatInt(uncommittedAtReturn, 10)},
			row{"shutdown probe: Run returned after cancel", runReturned.Sub(stopAt).Round(time.Microsecond).String()},
		)
	}
	var outs []string
	outcomes.Range(func(k, v any) bool {
		outs = append(outs, fmt.Sprintf("%s=%d", k, v.(*atomic.Int64).Load()))
		return true
	})
	slices.Sort(outs)
	rows = append(rows, row{"engine provider-call outcomes", strings.Join(outs, " ")})

	fmt.Println()
	fmt.Println("| metric | value |")
	fmt.Println("|---|---|")
	for _, r := range rows {
		fmt.Printf("| %s | %s |\n", r.k, strings.ReplaceAll(r.v, "|", "\\|"))
	}
	fmt.Println()
	if o.procs > 0 {
		fmt.Println("Per instance (separate processes):")
		fmt.Println()
		for _, l := range instanceRows(workers) {
			fmt.Println(l)
		}
		fmt.Println()
	}

	var failures []string
	check := func(bad bool, format string, args ...any) {
		if bad {
			failures = append(failures, fmt.Sprintf(format, args...))
		}
	}
	check(ep.duplicates.Load() > 0, "%d duplicate refreshes", ep.duplicates.Load())
	check(endpointErrors > 0, "%d token endpoint errors", endpointErrors)
	check(ep.maxInFlight.Load() > bound, "max concurrent token requests %d exceeds %d", ep.maxInFlight.Load(), bound)
	check(rotatedNotStored > 0, "%d credentials lost their rotated refresh token", rotatedNotStored)
	check(badApp.Load() > 0, "SourceFor saw %d unexpected integrations", badApp.Load())
	if o.stopAfter == 0 {
		check(late > 0, "%d late refreshes", late)
		check(missed > 0, "%d grants never refreshed", missed)
		check(ver.bad > 0, "%d credentials not as expected in the store", ver.bad)
	}
	for _, s := range ver.samples {
		fmt.Println("  verification:", s)
	}
	if len(failures) > 0 {
		fmt.Println("FAIL:", strings.Join(failures, "; "))
		return false, nil
	}
	fmt.Println("PASS")
	return true, nil
}

func offered(o options) float64 {
	if o.window <= 0 {
		return float64(o.n)
	}
	return float64(o.n) / o.window.Seconds()
}

// seedAll creates one workspace and o.n custom OAuth 2.0 integrations, each
// with one active credential whose token set is due at T0 + U(0, window)
// and expires margin (plus up to 10% jitter, as tokens.NextRefresh) later.
func seedAll(ctx context.Context, o options, st store.Store, v *vault.Vault, ep *endpoint, baseURL string, t0 time.Time, margin time.Duration) ([]*grant, error) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	ws := store.Workspace{ID: store.NewID("ws"), Name: "bench", CreatedAt: now}
	if err := st.CreateWorkspace(ctx, ws); err != nil {
		return nil, err
	}
	config, _ := json.Marshal(map[string]any{
		"base_url": baseURL,
		"oauth2": map[string]any{
			"authorize_url": baseURL + "/authorize", "token_url": baseURL + "/token", "auth_style": "basic",
			"client_id": clientID, "client_secret": "********", "rotates_refresh_tokens": true,
		},
	})
	secretConfig, _ := json.Marshal(map[string]string{"oauth2.client_secret": clientSecret})

	rng := rand.New(rand.NewPCG(o.seed, 0x5eed))
	grants := make([]*grant, o.n)
	for i := range grants {
		off := time.Duration(rng.Float64() * float64(o.window))
		refreshAt := t0.Add(off).Truncate(time.Microsecond)
		jitter := time.Duration(rng.Int64N(int64(margin/10) + 1))
		grants[i] = &grant{idx: i, refreshAt: refreshAt, expiry: refreshAt.Add(margin + jitter).Truncate(time.Microsecond)}
	}

	var (
		next     atomic.Int64
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
		done     atomic.Int64
	)
	stopProgress := make(chan struct{})
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
				fmt.Printf("  seeding: %d/%d\n", done.Load(), o.n)
			}
		}
	}()
	for range max(1, o.seedWorkers) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= o.n || firstErr != nil {
					return
				}
				if err := seedOne(ctx, st, v, ep, ws, config, secretConfig, grants[i], now, o.lifetime, o.legacy); err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("seed integration %d: %w", i, err) })
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	close(stopProgress)
	return grants, firstErr
}

func seedOne(ctx context.Context, st store.Store, v *vault.Vault, ep *endpoint, ws store.Workspace, config, secretConfig []byte, g *grant, now time.Time, lifetime time.Duration, legacy bool) error {
	in := store.Integration{ID: store.NewID("int"), WorkspaceID: ws.ID, Name: fmt.Sprintf("bench-%07d", g.idx),
		Provider: catalog.Custom, AuthMethod: catalog.MethodOAuth2, Config: config,
		Status: store.StatusConnected, StatusReason: "authorized", CreatedAt: now, UpdatedAt: now, LastVerifiedAt: now}
	sc, err := v.Seal(secretConfig, vault.AD{Workspace: ws.ID, Integration: in.ID, Field: "config"})
	if err != nil {
		return err
	}
	in.SecretConfig = sc
	if err := st.CreateIntegration(ctx, in); err != nil {
		return err
	}
	rt := ep.issue(g, 0)
	ts := oauth.TokenSet{AccessToken: secret.String(fmt.Sprintf("at-%d-0-%016x", g.idx, rand.Uint64())), RefreshToken: secret.String(rt),
		TokenType: "Bearer", Expiry: g.expiry, ObtainedAt: g.expiry.Add(-lifetime)}
	c := store.Credential{ID: store.NewID("cred"), IntegrationID: in.ID, WorkspaceID: ws.ID, Version: 1, State: store.StateActive,
		Hint: "…" + ts.AccessToken.Reveal()[len(ts.AccessToken.Reveal())-4:], Fingerprint: v.Fingerprint([]byte(ts.AccessToken.Reveal())),
		CreatedAt: now, VerifiedAt: now, ExpiresAt: g.expiry, RefreshAt: g.refreshAt}
	var pt []byte
	if legacy {
		pt = ts.Encode() // the format before commit ba57f05: a bare token set
	} else {
		m := tokens.Material{}
		m.SetTokens(ts)
		pt, _ = json.Marshal(m)
	}
	c.Secret, err = v.Seal(pt, vault.CredentialAD(c))
	clear(pt)
	if err != nil {
		return err
	}
	if _, err := st.Mutate(ctx, in.ID, func(set *store.CredentialSet) error {
		set.Credentials = append(set.Credentials, c)
		return nil
	}); err != nil {
		return err
	}
	g.credID, g.integID = c.ID, in.ID
	return nil
}

type verification struct {
	lost    int // the store holds a refresh token the provider no longer accepts
	bad     int // not refreshed in the store, or not rescheduled
	samples []string
}

// verify reads every credential back and checks it holds the provider's
// current refresh token, a later expiry and a refresh time in the future
// (for refreshed grants).
func verify(ctx context.Context, st store.Store, v *vault.Vault, grants []*grant, workers int) verification {
	var (
		mu  sync.Mutex
		out verification
		wg  sync.WaitGroup
		nx  atomic.Int64
	)
	note := func(lost bool, format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if lost {
			out.lost++
		} else {
			out.bad++
		}
		if len(out.samples) < 10 {
			out.samples = append(out.samples, fmt.Sprintf(format, args...))
		}
	}
	now := time.Now()
	for range max(1, workers) {
		wg.Go(func() {
			for {
				i := int(nx.Add(1) - 1)
				if i >= len(grants) {
					return
				}
				g := grants[i]
				c, err := st.GetCredential(ctx, g.credID)
				if err != nil {
					note(false, "grant %d: %v", g.idx, err)
					continue
				}
				pt, err := v.Open(c.Secret, vault.CredentialAD(c))
				if err != nil {
					note(false, "grant %d: %v", g.idx, err)
					continue
				}
				var m tokens.Material
				err = json.Unmarshal(pt, &m)
				clear(pt)
				var ts oauth.TokenSet
				if err == nil {
					ts, err = m.Tokens()
				}
				if err != nil {
					note(false, "grant %d: %v", g.idx, err)
					continue
				}
				if ts.RefreshToken.Reveal() != *g.current.Load() {
					note(true, "grant %d: the store holds refresh token generation %s, the provider only accepts %s",
						g.idx, gen(ts.RefreshToken.Reveal()), gen(*g.current.Load()))
					continue
				}
				if g.count.Load() == 0 {
					continue // never refreshed: counted as missed
				}
				switch {
				case c.State != store.StateActive:
					note(false, "grant %d: state %s", g.idx, c.State)
				case !c.ExpiresAt.After(g.expiry) || c.ExpiresAt.Sub(ts.Expiry).Abs() > time.Microsecond:
					note(false, "grant %d: expires_at %s (old %s, token %s)", g.idx, c.ExpiresAt, g.expiry, ts.Expiry)
				case !c.RefreshAt.After(now):
					note(false, "grant %d: refresh_at %s is not in the future", g.idx, c.RefreshAt)
				case c.Failures != 0:
					note(false, "grant %d: %d failures", g.idx, c.Failures)
				}
			}
		})
	}
	wg.Wait()
	return out
}

// gen is the generation part of a refresh token "rt-<idx>-<gen>-<rand>".
func gen(rt string) string {
	f := strings.Split(rt, "-")
	if len(f) == 4 {
		return f[2]
	}
	return "?"
}

// ---------------------------------------------------------------------------
// Formatting.

func pct(sorted []time.Duration, p float64) string {
	if len(sorted) == 0 {
		return "–"
	}
	i := int(p / 100 * float64(len(sorted)-1))
	return roundDur(sorted[i]).String()
}

func pctOf(l *latencies, p float64) string { return pct(l.snapshot(), p) }

func roundDur(d time.Duration) time.Duration {
	switch a := max(d, -d); {
	case a >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case a >= time.Second:
		return d.Round(10 * time.Millisecond)
	case a >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func logSummary(l *logCounter) string {
	var parts []string
	l.byMsg.Range(func(k, v any) bool {
		parts = append(parts, fmt.Sprintf("%q=%d", k, v.(*atomic.Int64).Load()))
		return true
	})
	slices.Sort(parts)
	if len(parts) == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%s)", l.n.Load(), strings.Join(parts, ", "))
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(rest), ":"))
		}
	}
	return "unknown CPU"
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
