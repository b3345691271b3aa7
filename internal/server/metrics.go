package server

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/vault"
)

// tokenMetrics counts the token engine's provider calls by outcome ("ok",
// "temporary", "revoked") and times them.
func tokenMetrics(reg *prometheus.Registry) func(outcome string, d time.Duration) {
	calls := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "storm_token_refreshes_total", Help: "Token refreshes and mints by outcome (ok, temporary, revoked).",
	}, []string{"outcome"})
	latency := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "storm_token_refresh_duration_seconds", Help: "Latency of token endpoint calls.",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20},
	})
	reg.MustRegister(calls, latency)
	return func(outcome string, d time.Duration) {
		calls.WithLabelValues(outcome).Inc()
		latency.Observe(d.Seconds())
	}
}

// appClientMetrics counts what providers answered to apps' client
// secrets: accepted (the newest), fallback (the previous one, after the
// newest was refused) and rejected (invalid_client).
func appClientMetrics(reg *prometheus.Registry) func(outcome string) {
	uses := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "storm_app_client_secret_uses_total", Help: "Token requests with an app's client secret, by the provider's answer (accepted, fallback, rejected).",
	}, []string{"outcome"})
	reg.MustRegister(uses)
	for _, o := range []string{"accepted", "fallback", "rejected"} {
		uses.WithLabelValues(o)
	}
	return func(outcome string) { uses.WithLabelValues(outcome).Inc() }
}

// stateMetrics are read at scrape time: the refresh queue's depth and the
// keyring's state.
func stateMetrics(reg *prometheus.Registry, st store.Store, v *vault.Vault) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "storm_tokens_due", Help: "Tokens due for refresh now (queue depth, counted up to 1000).",
		}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			due, err := st.ListDueCredentials(ctx, time.Now(), 1000)
			if err != nil {
				return -1
			}
			return float64(len(due))
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "storm_key_active_term", Help: "The data-key term new secrets are sealed under (rises with each rotation).",
		}, func() float64 { return float64(v.ActiveTerm()) }),
	)
}

// readBatches is storm_secret_read_batch_size: how many secret reads
// each audit commit carried — a transaction on PostgreSQL (reads that
// arrive together share one), a fold of the audit journal on SQLite.
func readBatches(reg *prometheus.Registry) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "storm_secret_read_batch_size", Help: "Secret reads per audit commit: a transaction on PostgreSQL (group commit), a fold of the audit journal into the audit log on SQLite.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096, 16384, 65536},
	})
	reg.MustRegister(h)
	return h
}

// journalMetrics counts the audit journal's folds and how many read
// records each turned into (identical reads merge), and observes each
// fold's reads in batches.
func journalMetrics(reg *prometheus.Registry, batches prometheus.Histogram) func(in, out int, err error) {
	folds := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "storm_audit_journal_folds_total", Help: "Folds of the audit journal's segments into the audit log, by outcome (a failed fold is retried; its reads stay in the journal).",
	}, []string{"outcome"})
	records := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "storm_audit_journal_records_total", Help: "Read records folded from the audit journal (in) and the audit entries they became (out).",
	}, []string{"side"})
	reg.MustRegister(folds, records)
	for _, o := range []string{"ok", "failed"} {
		folds.WithLabelValues(o)
	}
	return func(in, out int, err error) {
		if err != nil {
			folds.WithLabelValues("failed").Inc()
			return
		}
		folds.WithLabelValues("ok").Inc()
		records.WithLabelValues("in").Add(float64(in))
		records.WithLabelValues("out").Add(float64(out))
		if in > 0 {
			batches.Observe(float64(in))
		}
	}
}

// readMetrics counts secret reads recorded in the audit log (or refused
// because they could not be) and, when batches is not nil, observes how
// many reads each audit transaction carried. Through the journal every
// read is its own append, and the fold is the commit that batches
// count (journalMetrics): observing each read too would be a constant 1
// and, on every secret read, a histogram's atomics that the CPUs
// contend for.
func readMetrics(reg *prometheus.Registry, batches prometheus.Histogram) func(reads, records int, err error) {
	recorded := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "storm_secret_reads_recorded_total", Help: "Secret reads (/access, proxied requests) by whether their audit record was committed (ok) or not (failed: the reads were refused).",
	}, []string{"outcome"})
	reg.MustRegister(recorded)
	ok, failed := recorded.WithLabelValues("ok"), recorded.WithLabelValues("failed")
	return func(reads, _ int, err error) {
		c := ok
		if err != nil {
			c = failed
		}
		c.Add(float64(reads))
		if batches != nil {
			batches.Observe(float64(reads))
		}
	}
}
