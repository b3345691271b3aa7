package main

import (
	"os"
	"testing"
	"time"
)

// TestMain lets the test binary serve as a -procs worker: startWorkers
// re-executes os.Executable(), which is this binary under go test.
func TestMain(m *testing.M) {
	if cfg := os.Getenv(workerEnv); cfg != "" {
		if err := runWorker(cfg); err != nil {
			os.Stderr.WriteString("refresh worker: " + err.Error() + "\n")
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func smallRun() options {
	return options{n: 150, window: 2 * time.Second, lifetime: time.Hour, concurrency: 4, interval: 200 * time.Millisecond,
		lead: 2 * time.Second, seedWorkers: 4, seed: 1, slack: 20 * time.Second}
}

// Two worker processes on one SQLite file refresh every token once, and
// each reports its own refreshes, CPU and RSS.
func TestProcsRefreshEveryTokenOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes and waits for a refresh window")
	}
	o := smallRun()
	o.procs, o.instances = 2, 2
	ok, err := run(o)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Fatal("the run failed its checks (see the output)")
	}
}

// The scheduling mode claims every due credential in each round and
// passes on sizes this small.
func TestSchedClaimsEveryDueCredential(t *testing.T) {
	o := smallRun()
	if _, err := runSched(o, schedOptions{sizes: []int{500, 2000}, due: 50, rounds: 1, churn: 0.1}); err != nil {
		t.Fatal(err)
	}
}

func TestParseSizes(t *testing.T) {
	got, err := parseSizes("10000, 100_000,1000000")
	if err != nil || len(got) != 3 || got[0] != 10000 || got[1] != 100000 || got[2] != 1000000 {
		t.Fatalf("parseSizes = %v, %v", got, err)
	}
	for _, bad := range []string{"", "10k", "0", "-5"} {
		if _, err := parseSizes(bad); err == nil {
			t.Errorf("parseSizes(%q) accepted", bad)
		}
	}
}

func TestProcCPU(t *testing.T) {
	for end := time.Now().Add(50 * time.Millisecond); time.Now().Before(end); {
	}
	d, ok := procCPU(os.Getpid())
	if !ok || d <= 0 {
		t.Fatalf("procCPU(self) = %v, %v", d, ok)
	}
	if _, ok := procCPU(-1); ok {
		t.Fatal("procCPU(-1) succeeded")
	}
}
