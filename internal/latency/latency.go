package latency

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
)

// Histogram is one series: durations counted in buckets, and their sum.
// It is safe for concurrent use.
type Histogram struct {
	bounds []time.Duration // upper bounds, ascending
	// words holds the shards one after the other, each stride words
	// from a 64-byte boundary, so no two share a cache line: the sum
	// (nanoseconds), then a count per bucket, the last one above every
	// bound.
	words  []atomic.Uint64
	stride int
	shards uint32
}

const cacheLine = 64 / 8 // in words

func newHistogram(bounds []time.Duration, shards int) *Histogram {
	stride := (1 + len(bounds) + 1 + cacheLine - 1) / cacheLine * cacheLine
	all := make([]atomic.Uint64, shards*stride+cacheLine-1)
	start := 0
	for uintptr(unsafe.Pointer(&all[start]))%(cacheLine*8) != 0 {
		start++
	}
	return &Histogram{bounds: bounds, words: all[start : start+shards*stride], stride: stride, shards: uint32(shards)}
}

// Observe counts one duration. A bucket counts the durations up to and
// including its bound, as Prometheus's do.
func (h *Histogram) Observe(d time.Duration) {
	i := 0
	for i < len(h.bounds) && d > h.bounds[i] {
		i++
	}
	s := h.words[int(rand.Uint32()%h.shards)*h.stride:]
	s[0].Add(uint64(d))
	s[1+i].Add(1)
}

// snapshot returns the count, the sum in seconds and the cumulative
// count of each bucket, by upper bound in seconds.
func (h *Histogram) snapshot() (count uint64, sum float64, buckets map[float64]uint64) {
	perBucket := make([]uint64, len(h.bounds)+1)
	var ns uint64
	for off := 0; off < len(h.words); off += h.stride {
		s := h.words[off:]
		ns += s[0].Load()
		for b := range perBucket {
			perBucket[b] += s[1+b].Load()
		}
	}
	buckets = make(map[float64]uint64, len(h.bounds))
	for b, bound := range h.bounds {
		count += perBucket[b]
		buckets[bound.Seconds()] = count
	}
	count += perBucket[len(h.bounds)]
	return count, float64(ns) / 1e9, buckets
}

// Vec is a family of Histograms told apart by label values, and the
// prometheus.Collector that exposes them.
type Vec struct {
	desc   *prometheus.Desc
	labels int // how many label values a series has
	bounds []time.Duration
	shards int

	mu     sync.RWMutex
	series map[string]*series // key: the label values joined by "\xff"
}

type series struct {
	labels []string
	h      *Histogram
}

// NewVec returns a family named name, with help, labelled by labels, whose
// buckets end at bounds (in seconds, ascending, as in
// prometheus.HistogramOpts.Buckets).
func NewVec(name, help string, labels []string, bounds []float64) *Vec {
	ds := make([]time.Duration, len(bounds))
	for i, b := range bounds {
		ds[i] = time.Duration(b * float64(time.Second))
	}
	// Twice the processors, a power of two: two observers rarely meet.
	n := 8
	for n < 2*runtime.GOMAXPROCS(0) && n < 64 {
		n *= 2
	}
	return &Vec{desc: prometheus.NewDesc(name, help, labels, nil), labels: len(labels), bounds: ds, shards: n, series: map[string]*series{}}
}

// With returns the series of the label values, creating it. Look it up
// once and keep it: With takes a lock and joins the values. Like
// client_golang's WithLabelValues, it panics when the number of values is
// not the number of labels: a programming error.
func (v *Vec) With(labelValues ...string) *Histogram {
	if len(labelValues) != v.labels {
		panic(fmt.Sprintf("latency: %d label values for %d labels", len(labelValues), v.labels))
	}
	key := strings.Join(labelValues, "\xff")
	v.mu.RLock()
	s, ok := v.series[key]
	v.mu.RUnlock()
	if ok {
		return s.h
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if s, ok := v.series[key]; ok {
		return s.h
	}
	s = &series{labels: append([]string(nil), labelValues...), h: newHistogram(v.bounds, v.shards)}
	v.series[key] = s
	return s.h
}

// Describe implements prometheus.Collector.
func (v *Vec) Describe(ch chan<- *prometheus.Desc) { ch <- v.desc }

// Collect implements prometheus.Collector.
func (v *Vec) Collect(ch chan<- prometheus.Metric) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	for _, s := range v.series {
		count, sum, buckets := s.h.snapshot()
		ch <- prometheus.MustNewConstHistogram(v.desc, count, sum, buckets, s.labels...)
	}
}
