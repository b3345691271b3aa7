// Package latency keeps request-latency histograms that many goroutines
// observe at once, and exposes them to Prometheus.
//
// client_golang's histogram keeps each series' counts in one place, so
// every observation is several atomic operations on cache lines that the
// CPUs pass back and forth; on the proxy path, with two histograms per
// request, that was about 0.8 µs of a request's CPU on two cores. Here a
// series is split into shards, an observation goes to one picked at
// random, and a scrape adds them up: the exposition is the same, counts
// and sums included.
package latency
