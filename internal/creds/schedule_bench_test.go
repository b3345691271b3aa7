package creds

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/storetest"
)

// BenchmarkVerifyScan is one scan of the verification schedule
// (verifyDue) on SQLite among 1,000 and 100,000 integrations: with none
// due, and with 5 due (each verified against a local API: a request and
// a write). A scan that reads only what is due costs the same at both
// sizes; compare their ns/op and cpu-ns/op (this process's CPU, the
// database's included). Setting up 100,000 takes about a minute.
func BenchmarkVerifyScan(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("integrations=%d", n), func(b *testing.B) {
			benchVerifyScan(b, n)
		})
	}
}

func benchVerifyScan(b *testing.B, n int) {
	const every = time.Hour
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	w := newScheduleWorld(b, now)
	cfg := VerifySchedule{Interval: every, PerProviderPerMinute: 30}
	limits := &providerLimits{per: cfg.PerProviderPerMinute, now: w.clock.now}

	const due = 5
	for i := range due {
		w.connected(fmt.Sprint("due ", i), fmt.Sprintf("key-due-%012d", i), now.Add(-2*time.Hour))
	}
	// The others' turns come long after the benchmark's clock ends.
	start := time.Now()
	far := now.AddDate(100, 0, 0)
	for i := range n - due {
		in := store.Integration{ID: store.NewID("int"), WorkspaceID: w.ws.ID, Name: fmt.Sprint("bulk ", i),
			Provider: catalog.Custom, AuthMethod: catalog.MethodAPIKey, Config: []byte(`{"base_url":"https://api.example.com"}`),
			Status: store.StatusConnected, CreatedAt: now, UpdatedAt: now, LastVerifiedAt: now}
		if err := w.st.CreateIntegration(ctx, in); err != nil {
			b.Fatal(err)
		}
		if ok, err := w.st.ScheduleVerification(ctx, in.ID, far, now); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
	b.Logf("%d integrations set up in %v", n, time.Since(start).Round(time.Millisecond))
	w.clock.set(now)
	w.s.verifyDue(ctx, cfg, limits) // takes the 5 turns

	b.Run("none due", func(b *testing.B) {
		sent := w.api.requests()
		defer storetest.ReportCPU(b)()
		for b.Loop() {
			w.s.verifyDue(ctx, cfg, limits)
		}
		if got := w.api.requests() - sent; got != 0 {
			b.Fatalf("%d verifications with none due", got)
		}
	})
	b.Run(fmt.Sprintf("%d due", due), func(b *testing.B) {
		sent := w.api.requests()
		defer storetest.ReportCPU(b)()
		for b.Loop() {
			// The 5 turns have come again, not yet the others'.
			now = now.Add(every * 12 / 10)
			w.clock.set(now)
			w.s.verifyDue(ctx, cfg, limits)
		}
		if got, want := w.api.requests()-sent, due*b.N; got != want {
			b.Fatalf("%d verifications in %d scans, want %d", got, b.N, want)
		}
	})
}
