package latency

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

var bounds = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}

// gather returns the one histogram metric of the family name in reg
// whose first label has value label.
func gather(t *testing.T, reg *prometheus.Registry, name, label string) *dto.Histogram {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == label {
				return m.GetHistogram()
			}
		}
	}
	t.Fatalf("no %s{%q}", name, label)
	return nil
}

// TestSameExpositionAsClientGolang: a series fed the same durations as
// client_golang's own histogram is exposed with the same count, sum
// and buckets, including durations exactly on a bound.
func TestSameExpositionAsClientGolang(t *testing.T) {
	reg := prometheus.NewRegistry()
	ours := NewVec("ours_seconds", "ours", []string{"route"}, bounds)
	theirs := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "theirs_seconds", Help: "theirs", Buckets: bounds}, []string{"route"})
	reg.MustRegister(ours, theirs)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 5000 {
		d := time.Duration(r.Int64N(int64(2 * time.Second)))
		if i%10 == 0 { // on a bound
			d = time.Duration(bounds[i%len(bounds)] * float64(time.Second))
		}
		route := []string{"a", "b"}[i%2]
		ours.With(route).Observe(d)
		theirs.WithLabelValues(route).Observe(d.Seconds())
	}
	for _, route := range []string{"a", "b"} {
		o, th := gather(t, reg, "ours_seconds", route), gather(t, reg, "theirs_seconds", route)
		if o.GetSampleCount() != th.GetSampleCount() || o.GetSampleCount() != 2500 {
			t.Fatalf("%s: count %d, client_golang %d, want 2500", route, o.GetSampleCount(), th.GetSampleCount())
		}
		if math.Abs(o.GetSampleSum()-th.GetSampleSum()) > 1e-6 {
			t.Fatalf("%s: sum %v, client_golang %v", route, o.GetSampleSum(), th.GetSampleSum())
		}
		if len(o.GetBucket()) != len(bounds) {
			t.Fatalf("%s: %d buckets, want %d", route, len(o.GetBucket()), len(bounds))
		}
		for i, b := range o.GetBucket() {
			tb := th.GetBucket()[i]
			if b.GetUpperBound() != tb.GetUpperBound() || b.GetCumulativeCount() != tb.GetCumulativeCount() {
				t.Fatalf("%s: bucket ≤%v holds %d, client_golang's ≤%v holds %d", route,
					b.GetUpperBound(), b.GetCumulativeCount(), tb.GetUpperBound(), tb.GetCumulativeCount())
			}
		}
	}
}

// TestConcurrentObservations: observations from many goroutines, while
// scrapes run, are all counted.
func TestConcurrentObservations(t *testing.T) {
	reg := prometheus.NewRegistry()
	v := NewVec("c_seconds", "c", []string{"route"}, bounds)
	reg.MustRegister(v)
	const goroutines, each = 16, 2000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h := v.With("r")
			for i := range each {
				h.Observe(time.Duration(g*i) * time.Microsecond)
				if i%500 == 0 {
					reg.Gather()
				}
			}
		}()
	}
	wg.Wait()
	var wantSum time.Duration
	for g := range goroutines {
		for i := range each {
			wantSum += time.Duration(g*i) * time.Microsecond
		}
	}
	h := gather(t, reg, "c_seconds", "r")
	if h.GetSampleCount() != goroutines*each || math.Abs(h.GetSampleSum()-wantSum.Seconds()) > 1e-6 {
		t.Fatalf("count %d sum %v, want %d and %v", h.GetSampleCount(), h.GetSampleSum(), goroutines*each, wantSum.Seconds())
	}
}

func TestWithChecksTheLabels(t *testing.T) {
	v := NewVec("w_seconds", "w", []string{"a", "b"}, bounds)
	if v.With("x", "y") != v.With("x", "y") || v.With("x", "y") == v.With("x\xffy", "") {
		t.Fatal("With does not keep one series per label values")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("With accepted one value for two labels")
		}
	}()
	v.With("x")
}

// BenchmarkObserve compares a contended observation with client_golang's
// (run with -cpu 2,4).
func BenchmarkObserve(b *testing.B) {
	b.Run("sharded", func(b *testing.B) {
		h := NewVec("b_seconds", "b", []string{"r"}, bounds).With("r")
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				h.Observe(3 * time.Millisecond)
			}
		})
	})
	b.Run("client_golang", func(b *testing.B) {
		h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "b_seconds", Buckets: bounds})
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				h.Observe((3 * time.Millisecond).Seconds())
			}
		})
	})
}
