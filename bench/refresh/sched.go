package main

// Scheduling cost at scale (-sched N1,N2,…): how much it costs to find and
// claim due work — ListDueCredentials and the refresh lease
// (HoldLease/ReleaseLease), the store calls tokens.Engine's background
// loop makes — per claimed refresh, with N integrations of which a fixed
// number are due. It must not grow with N. The commit (Mutate) that takes
// a refreshed credential off the due list is timed too, apart.
//
// The rows are inserted in bulk with SQL (a million integrations through
// the store's API would take an hour); they carry no sealed secret, which
// none of the measured calls reads.

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stormcreds/storm/internal/store"
)

type schedOptions struct {
	sizes  []int
	due    int
	rounds int
	churn  float64
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(strings.ReplaceAll(f, "_", ""))
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-sched: %q is not a positive size", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// schedResult is one size's medians over the measured rounds, per
// claimed refresh unless said otherwise.
type schedResult struct {
	n, claimed              int
	list, hold, release     time.Duration // wall
	sched                   time.Duration // list + hold + release, wall
	schedCPU                time.Duration // this thread's CPU in those calls
	schedPG                 time.Duration // PostgreSQL backends' CPU in those calls (-1: not known)
	commit, commitCPU       time.Duration
	emptyScan               time.Duration // one ListDueCredentials with nothing due
	dueBuffers, emptyBuffer string        // PostgreSQL: shared buffers of one due query (EXPLAIN ANALYZE)
	plan                    string
}

// threadCPU is the calling OS thread's CPU (the goroutine is locked to it).
func threadCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func runSched(o options, so schedOptions) (bool, error) {
	runtime.LockOSThread() // threadCPU measures the store calls made here
	defer runtime.UnlockOSThread()
	ctx := context.Background()
	fmt.Printf("storm refresh scheduling cost: sizes %v, %d due, %d rounds (+1 warm-up), churn since the last vacuum %.0f%%\n", so.sizes, so.due, so.rounds, 100*so.churn)
	fmt.Printf("machine: %d CPUs (%s), %s, load average %s\n", runtime.NumCPU(), cpuModel(), runtime.Version(), loadavg())
	var results []schedResult
	for _, n := range so.sizes {
		r, err := schedOne(ctx, o, so, n)
		if err != nil {
			return false, fmt.Errorf("n=%d: %w", n, err)
		}
		results = append(results, r)
		fmt.Printf("  n=%d done, load average %s\n", n, loadavg())
	}
	us := func(d time.Duration) string {
		if d < 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f µs", float64(d)/1e3)
	}
	fmt.Println()
	fmt.Println("Per claimed refresh (medians of the rounds):")
	fmt.Println()
	fmt.Println("| integrations | due per round | list (amortised) | HoldLease | ReleaseLease | **scheduling** (wall) | scheduling, client thread CPU | scheduling, PostgreSQL backend CPU | commit (Mutate) wall / client CPU | empty scan (nothing due) | due query buffers (1,000 rows) / empty |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range results {
		fmt.Printf("| %d | %d | %s | %s | %s | **%s** | %s | %s | %s / %s | %s | %s / %s |\n", r.n, r.claimed, us(r.list), us(r.hold), us(r.release), us(r.sched), us(r.schedCPU), us(r.schedPG),
			us(r.commit), us(r.commitCPU), us(r.emptyScan), r.dueBuffers, r.emptyBuffer)
	}
	fmt.Println()
	ok := true
	base := results[0]
	ratio := func(a, b time.Duration) float64 {
		if a < 0 || b <= 0 {
			return 0
		}
		return float64(a) / float64(b)
	}
	fmt.Printf("| metric | at %d | at %d | ratio | target | pass/fail |\n|---|---|---|---|---|---|\n", base.n, results[len(results)-1].n)
	last := results[len(results)-1]
	// The target is judged on CPU (this thread's, plus the PostgreSQL
	// backends' when known): on a shared machine wall time mostly
	// measures the neighbours (and, on PostgreSQL, WAL flushes).
	cpuOf := func(r schedResult) time.Duration {
		if r.schedPG < 0 {
			return r.schedCPU
		}
		return r.schedCPU + r.schedPG
	}
	for _, m := range []struct {
		name   string
		a, b   time.Duration
		target bool
	}{
		{"**scheduling CPU per refresh** (client thread + PostgreSQL backends)", cpuOf(base), cpuOf(last), true},
		{"scheduling per refresh, client thread CPU", base.schedCPU, last.schedCPU, false},
		{"scheduling per refresh, PostgreSQL backend CPU", base.schedPG, last.schedPG, false},
		{"scheduling per refresh (wall; load-sensitive)", base.sched, last.sched, false},
		{"commit per refresh (wall; not scheduling)", base.commit, last.commit, false},
		{"empty scan (wall)", base.emptyScan, last.emptyScan, false},
	} {
		if m.a < 0 || m.b < 0 {
			continue
		}
		rt := ratio(m.b, m.a)
		verdict := "(info)"
		if m.target {
			verdict = "pass"
			if rt > 1.5 {
				verdict, ok = "**FAIL**", false
			}
		}
		target := "≤ 1.5"
		if !m.target {
			target = "–"
		}
		fmt.Printf("| %s | %s | %s | %.2f | %s | %s |\n", m.name, us(m.a), us(m.b), rt, target, verdict)
	}
	fmt.Println()
	for _, r := range results {
		if r.plan != "" {
			fmt.Printf("due query plan at n=%d:\n%s\n\n", r.n, r.plan)
		}
	}
	if ok {
		fmt.Println("PASS")
	} else {
		fmt.Println("FAIL: scheduling cost grows with the number of integrations")
	}
	return ok, nil
}

// schedDB is a fresh database of the chosen kind with raw SQL access for
// bulk seeding and plans.
type schedDB struct {
	st     store.Store
	exec   func(ctx context.Context, q string, args ...any) error
	pg     *pgx.Conn // PostgreSQL only
	close  func()
	pgCPU  func() time.Duration // the store's backends' CPU so far; nil for SQLite
	sqlite bool
}

func openSchedDB(ctx context.Context, o options, n int) (*schedDB, error) {
	tmp, err := os.MkdirTemp("", "storm-bench-sched-")
	if err != nil {
		return nil, err
	}
	oo := o
	if o.db != "" && !strings.HasPrefix(o.db, "postgres") {
		oo.db = "" // a fresh SQLite file per size, in tmp
	}
	db, err := openDatabase(ctx, oo, tmp)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	dsn := db.dsn
	appName := fmt.Sprintf("bench-sched-%d-%d", os.Getpid(), n)
	if strings.HasPrefix(dsn, "postgres") {
		dsn += "&application_name=" + appName
	}
	st, err := openStore(ctx, dsn)
	if err != nil {
		db.remove()
		os.RemoveAll(tmp)
		return nil, err
	}
	sd := &schedDB{st: st}
	if strings.HasPrefix(dsn, "postgres") {
		conn, err := pgx.Connect(ctx, strings.Replace(db.dsn, "?", "?application_name=bench-sched-admin&", 1))
		if err != nil {
			st.Close()
			db.remove()
			return nil, err
		}
		sd.pg = conn
		sd.exec = func(ctx context.Context, q string, args ...any) error {
			_, err := conn.Exec(ctx, q, args...)
			return err
		}
		sd.pgCPU = func() time.Duration {
			rows, err := conn.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, appName)
			if err != nil {
				return -1
			}
			pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
			if err != nil {
				return -1
			}
			var t time.Duration
			for _, p := range pids {
				d, ok := procCPU(int(p))
				if !ok {
					return -1
				}
				t += d
			}
			return t
		}
		sd.close = func() { conn.Close(ctx); st.Close(); db.remove(); os.RemoveAll(tmp) }
	} else {
		raw, err := sql.Open("sqlite", "file:"+dsn+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
		if err != nil {
			st.Close()
			return nil, err
		}
		sd.sqlite = true
		sd.exec = func(ctx context.Context, q string, args ...any) error {
			_, err := raw.ExecContext(ctx, q, args...)
			return err
		}
		sd.close = func() { raw.Close(); st.Close(); os.RemoveAll(tmp) }
	}
	return sd, nil
}

// seedBulk inserts n integrations with one active credential each: every
// (n/due)-th is due (refresh_at up to a minute ago), every tenth other
// never refreshes (an API key: NULL), the rest are due over the next hour.
// Then, after a VACUUM, a share churn of them is "refreshed": moved from
// the past to the future, as the engine's commits do between two
// autovacuum runs (PostgreSQL keeps their old index entries, dead, at the
// head of the due range, where every scan starts, until the next vacuum).
// It returns the due credentials' ids.
func (sd *schedDB) seedBulk(ctx context.Context, n, due int, churn float64, now time.Time) ([]string, error) {
	step := max(1, n/due)
	churnPct := int(churn * 100)
	var qs []string
	if sd.sqlite {
		nowNs := now.UnixNano()
		qs = []string{
			`INSERT INTO workspaces (id, name, created_at) VALUES ('ws_bulk', 'bulk', 0)`,
			fmt.Sprintf(`WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < %d - 1)
			INSERT INTO integrations (id, workspace_id, name, provider, auth_method, status, status_reason, revision)
			SELECT printf('int_%%07d', i), 'ws_bulk', 'n' || i, 'custom', 'oauth2', 'connected', '', 1 FROM s`, n),
			fmt.Sprintf(`WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < %d - 1)
			INSERT INTO credentials (id, integration_id, workspace_id, version, state, hint, fingerprint, refresh_at, revision)
			SELECT printf('cred_%%07d', i), printf('int_%%07d', i), 'ws_bulk', 1, 'active', '', '',
				CASE WHEN i %% %d = 0 THEN %d - (abs(random()) %% 60000000000)
				     WHEN i %% 10 = 7 THEN NULL
				     WHEN i %% 100 < %d THEN %d - 3600000000000 - (abs(random()) %% 3600000000000)
				     ELSE %d + 600000000000 + (abs(random()) %% 3000000000000) END, 1 FROM s`, n, step, nowNs, churnPct, nowNs, nowNs),
			fmt.Sprintf(`UPDATE credentials SET refresh_at = %d + 600000000000 + (abs(random()) %% 3000000000000) WHERE refresh_at < %d - 1800000000000`, nowNs, nowNs),
		}
	} else {
		qs = []string{
			`INSERT INTO workspaces (id, name) VALUES ('ws_bulk', 'bulk')`,
			fmt.Sprintf(`INSERT INTO integrations (id, workspace_id, name, provider, auth_method, status, status_reason, revision)
			SELECT 'int_' || lpad(i::text, 7, '0'), 'ws_bulk', 'n' || i, 'custom', 'oauth2', 'connected', '', 1
			FROM generate_series(0, %d - 1) AS i`, n),
			fmt.Sprintf(`INSERT INTO credentials (id, integration_id, workspace_id, version, state, hint, fingerprint, refresh_at, revision)
			SELECT 'cred_' || lpad(i::text, 7, '0'), 'int_' || lpad(i::text, 7, '0'), 'ws_bulk', 1, 'active', '', '',
				CASE WHEN i %% %d = 0 THEN $1::timestamptz - random() * interval '60 seconds'
				     WHEN i %% 10 = 7 THEN NULL
				     WHEN i %% 100 < %d THEN $1::timestamptz - interval '1 hour' - random() * interval '1 hour'
				     ELSE $1::timestamptz + interval '10 minutes' + random() * interval '50 minutes' END, 1
			FROM generate_series(0, %d - 1) AS i`, step, churnPct, n),
			`VACUUM ANALYZE integrations`,
			`VACUUM ANALYZE credentials`,
			`UPDATE credentials SET refresh_at = $1::timestamptz + interval '10 minutes' + random() * interval '50 minutes'
			WHERE refresh_at < $1::timestamptz - interval '30 minutes'`,
		}
	}
	for _, q := range qs {
		var err error
		if strings.Contains(q, "$1") {
			err = sd.exec(ctx, q, now)
		} else {
			err = sd.exec(ctx, q)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", strings.Fields(q)[0], err)
		}
	}
	var ids []string
	for i := 0; i < n; i += step {
		if i%10 == 7 {
			continue // cannot happen with step a multiple of 10; kept honest
		}
		ids = append(ids, fmt.Sprintf("cred_%07d", i))
	}
	return ids, nil
}

// redue makes the given credentials due again (untimed, between rounds).
func (sd *schedDB) redue(ctx context.Context, ids []string, now time.Time) error {
	for i := 0; i < len(ids); i += 500 {
		chunk := ids[i:min(i+500, len(ids))]
		if sd.sqlite {
			q := `UPDATE credentials SET refresh_at = ? - (abs(random()) % 60000000000) WHERE id IN ('` + strings.Join(chunk, "','") + `')`
			if err := sd.exec(ctx, q, now.UnixNano()); err != nil {
				return err
			}
		} else {
			if err := sd.exec(ctx, `UPDATE credentials SET refresh_at = $1::timestamptz - random() * interval '60 seconds' WHERE id = ANY($2)`, now, chunk); err != nil {
				return err
			}
		}
	}
	return nil
}

func schedOne(ctx context.Context, o options, so schedOptions, n int) (schedResult, error) {
	r := schedResult{n: n}
	if n < 2*so.due {
		// The seeding spaces the due credentials n/due apart; fewer than
		// two per due one leaves no room for the others it seeds.
		return r, fmt.Errorf("-sched size %d is too small for -sched-due %d: use sizes of at least %d", n, so.due, 2*so.due)
	}
	sd, err := openSchedDB(ctx, o, n)
	if err != nil {
		return r, err
	}
	defer sd.close()
	seedStart := time.Now()
	ids, err := sd.seedBulk(ctx, n, so.due, so.churn, time.Now())
	if err != nil {
		return r, err
	}
	fmt.Printf("  n=%d: seeded in %s (%d due), load average %s\n", n, time.Since(seedStart).Round(time.Millisecond), len(ids), loadavg())

	type round struct {
		claimed                      int
		list, hold, release, commit  time.Duration
		schedCPU, commitCPU, schedPG time.Duration
		emptyScan                    time.Duration
	}
	var rounds []round
	owner := "bench-sched"
	for k := 0; k <= so.rounds; k++ {
		if k > 0 {
			if err := sd.redue(ctx, ids, time.Now()); err != nil {
				return r, fmt.Errorf("make due again: %w", err)
			}
		}
		var rd round
		pgSched := time.Duration(0)
		pgKnown := sd.pgCPU != nil
		for {
			now := time.Now()
			// List.
			var pg0 time.Duration
			if pgKnown {
				pg0 = sd.pgCPU()
			}
			c0, t0 := threadCPU(), time.Now()
			due, err := sd.st.ListDueCredentials(ctx, now, 1000) // the engine's batch
			rd.list += time.Since(t0)
			rd.schedCPU += threadCPU() - c0
			if err != nil {
				return r, err
			}
			if len(due) == 0 {
				if pgKnown {
					pgSched += sd.pgCPU() - pg0
				}
				break
			}
			// Claim each (the engine's awaitLease without contention).
			c0, t0 = threadCPU(), time.Now()
			for _, c := range due {
				ok, err := sd.st.HoldLease(ctx, "refresh:"+c.ID, owner, 5*time.Second)
				if err != nil || !ok {
					return r, fmt.Errorf("hold lease: %v %v", ok, err)
				}
			}
			rd.hold += time.Since(t0)
			rd.schedCPU += threadCPU() - c0
			if pgKnown {
				pgSched += sd.pgCPU() - pg0
			}
			// Commit: the refreshed credential leaves the due list.
			c0, t0 = threadCPU(), time.Now()
			next := now.Add(time.Hour).UTC().Truncate(time.Microsecond)
			for _, c := range due {
				if _, err := sd.st.Mutate(ctx, c.IntegrationID, func(set *store.CredentialSet) error {
					for i := range set.Credentials {
						if set.Credentials[i].ID == c.ID {
							set.Credentials[i].RefreshAt = next
						}
					}
					return nil
				}); err != nil {
					return r, fmt.Errorf("mutate: %w", err)
				}
			}
			rd.commit += time.Since(t0)
			rd.commitCPU += threadCPU() - c0
			// Release.
			if pgKnown {
				pg0 = sd.pgCPU()
			}
			c0, t0 = threadCPU(), time.Now()
			for _, c := range due {
				if err := sd.st.ReleaseLease(ctx, "refresh:"+c.ID, owner); err != nil {
					return r, err
				}
			}
			rd.release += time.Since(t0)
			rd.schedCPU += threadCPU() - c0
			if pgKnown {
				pgSched += sd.pgCPU() - pg0
			}
			rd.claimed += len(due)
		}
		if !pgKnown || pgSched < 0 {
			pgSched = -1
		}
		rd.schedPG = pgSched
		// An idle scan: nothing due (the loop runs one every Interval).
		var scans []time.Duration
		for range 20 {
			t0 := time.Now()
			if got, err := sd.st.ListDueCredentials(ctx, time.Now(), 1000); err != nil || len(got) != 0 {
				return r, fmt.Errorf("empty scan: %d rows, %v", len(got), err)
			}
			scans = append(scans, time.Since(t0))
		}
		slices.Sort(scans)
		rd.emptyScan = scans[len(scans)/2]
		if rd.claimed != len(ids) {
			return r, fmt.Errorf("round %d claimed %d, want %d", k, rd.claimed, len(ids))
		}
		if k > 0 { // round 0 warms caches and statement caches up
			rounds = append(rounds, rd)
		}
		fmt.Printf("    round %d: %d claimed, scheduling %.1f µs/refresh, commit %.1f µs/refresh\n", k, rd.claimed,
			float64(rd.list+rd.hold+rd.release)/1e3/float64(rd.claimed), float64(rd.commit)/1e3/float64(rd.claimed))
	}
	r.claimed = len(ids)
	med := func(f func(round) time.Duration) time.Duration {
		var v []time.Duration
		for _, rd := range rounds {
			x := f(rd)
			if x < 0 {
				return -1
			}
			v = append(v, x/time.Duration(rd.claimed))
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	r.list = med(func(rd round) time.Duration { return rd.list })
	r.hold = med(func(rd round) time.Duration { return rd.hold })
	r.release = med(func(rd round) time.Duration { return rd.release })
	r.sched = med(func(rd round) time.Duration { return rd.list + rd.hold + rd.release })
	r.schedCPU = med(func(rd round) time.Duration { return rd.schedCPU })
	r.schedPG = med(func(rd round) time.Duration { return rd.schedPG })
	r.commit = med(func(rd round) time.Duration { return rd.commit })
	r.commitCPU = med(func(rd round) time.Duration { return rd.commitCPU })
	var scans []time.Duration
	for _, rd := range rounds {
		scans = append(scans, rd.emptyScan)
	}
	slices.Sort(scans)
	r.emptyScan = scans[len(scans)/2]

	// The due query's plan and buffers, with rows due and with none.
	if sd.pg != nil {
		if err := sd.redue(ctx, ids, time.Now()); err != nil {
			return r, err
		}
		for _, at := range []time.Time{time.Now(), time.Now().Add(-time.Hour)} {
			rows, err := sd.pg.Query(ctx, `EXPLAIN (ANALYZE, BUFFERS) SELECT `+store.CredentialColumns+` FROM credentials
				WHERE state = $1 AND refresh_at IS NOT NULL AND refresh_at <= $2 ORDER BY refresh_at, id LIMIT $3`,
				store.StateActive, at, 1000)
			if err != nil {
				return r, err
			}
			plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return r, err
			}
			buf := "?"
			for _, l := range plan {
				if i := strings.Index(l, "Buffers: "); i >= 0 {
					buf = strings.TrimSpace(l[i+len("Buffers: "):])
					break
				}
			}
			if at.Before(time.Now().Add(-time.Minute)) {
				r.emptyBuffer = buf
			} else {
				r.dueBuffers = buf
				r.plan = strings.Join(plan, "\n")
			}
		}
	}
	return r, nil
}
