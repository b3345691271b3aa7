package api

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestObserveProxiedConcurrently: proxied requests counted from many
// goroutines at once, while new series appear, all land in their series.
func TestObserveProxiedConcurrently(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	const goroutines, each = 16, 300
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				provider := fmt.Sprint("p", (g+i)%4)
				m.observeProxied("api_key", provider, []int{200, 404, 502}[i%3], time.Millisecond)
			}
		}()
	}
	wg.Wait()
	total := 0
	for p := range 4 {
		for _, class := range []string{"2xx", "4xx", "5xx"} {
			total += int(testutil.ToFloat64(m.proxied.WithLabelValues("api_key", fmt.Sprint("p", p), class)))
		}
	}
	if total != goroutines*each {
		t.Fatalf("%d proxied requests counted, want %d", total, goroutines*each)
	}
	var out strings.Builder
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "storm_proxy_request_duration_seconds" {
			for _, mt := range mf.GetMetric() {
				fmt.Fprintln(&out, mt.GetHistogram().GetSampleCount())
			}
		}
	}
	sum := 0
	for _, line := range strings.Fields(out.String()) {
		var n int
		fmt.Sscan(line, &n)
		sum += n
	}
	if sum != goroutines*each {
		t.Fatalf("%d proxied requests timed, want %d", sum, goroutines*each)
	}
}
