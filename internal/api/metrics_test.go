package api

import (
	"fmt"
	"net/http"
	"net/http/httptest"
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

// TestNestedInstrumentedHandlers: the status recorder kept in the request
// scope serves one instrumented handler; one inside another gets its own,
// so each counts the status under its own route (a shared recorder would
// wrap itself and never return).
func TestNestedInstrumentedHandlers(t *testing.T) {
	m := newMetrics(prometheus.NewRegistry())
	inner := m.instrument("/inner", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}))
	outer := m.instrument("/outer", inner)
	for range 2 {
		rec := httptest.NewRecorder()
		WithRequestID(outer).ServeHTTP(rec, httptest.NewRequest("GET", "/outer", nil))
		if rec.Code != http.StatusTeapot {
			t.Fatalf("status %d", rec.Code)
		}
	}
	for _, route := range []string{"/inner", "/outer"} {
		if n := testutil.ToFloat64(m.requests.WithLabelValues(route, "418")); n != 2 {
			t.Errorf("%s counted %v requests answered 418, want 2", route, n)
		}
	}
}
