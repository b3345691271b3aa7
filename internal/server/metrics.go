package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
