package api

import (
	"maps"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/stormcreds/storm/internal/latency"
)

type metrics struct {
	requests      *prometheus.CounterVec
	latency       *latency.Vec
	verifications *prometheus.CounterVec
	// proxied counts and times proxied requests by integration class
	// (auth method and provider, bounded by the catalog) and status.
	proxied      *prometheus.CounterVec
	proxyLatency *latency.Vec
	// proxySeries keeps the series of proxied and proxyLatency once
	// looked up (WithLabelValues hashes every label on every call): a
	// map replaced, never changed, so every proxied request reads it
	// without a lock (an RWMutex's reader count is a cache line the CPUs
	// contend for). New series are rare: the catalog bounds them.
	proxyMu     sync.Mutex // serialises replacing the map
	proxySeries atomic.Pointer[map[proxyKey]proxySeries]
}

// proxyKey names one integration class and status class.
type proxyKey struct {
	authMethod, provider string
	class                int
}

type proxySeries struct {
	count   prometheus.Counter
	latency *latency.Histogram
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "storm_http_requests_total", Help: "API requests by route and status code.",
		}, []string{"route", "code"}),
		// Observed on every request: sharded (package latency).
		latency: latency.NewVec("storm_http_request_duration_seconds", "API request latency by route.", []string{"route"},
			[]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}),
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "storm_verifications_total", Help: "Credential verification requests by result.",
		}, []string{"ok"}),
	}
	m.proxied = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "storm_proxy_requests_total", Help: "Proxied requests by auth method, provider and upstream status class.",
	}, []string{"auth_method", "provider", "code"})
	m.proxyLatency = latency.NewVec("storm_proxy_request_duration_seconds", "Proxied request latency by auth method and provider.",
		[]string{"auth_method", "provider"}, []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60})
	m.proxySeries.Store(&map[proxyKey]proxySeries{})
	reg.MustRegister(m.requests, m.latency, m.verifications, m.proxied, m.proxyLatency)
	// Process and Go metrics; ignore "already registered" when several
	// servers share a registry in tests.
	reg.Register(collectors.NewGoCollector())
	reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observeProxied counts and times one proxied request that ended with
// status code.
func (m *metrics) observeProxied(authMethod, provider string, code int, d time.Duration) {
	k := proxyKey{authMethod, provider, code / 100}
	s, ok := (*m.proxySeries.Load())[k]
	if !ok {
		s = proxySeries{
			count:   m.proxied.WithLabelValues(authMethod, provider, strconv.Itoa(k.class)+"xx"),
			latency: m.proxyLatency.With(authMethod, provider),
		}
		m.proxyMu.Lock()
		next := maps.Clone(*m.proxySeries.Load())
		next[k] = s
		m.proxySeries.Store(&next)
		m.proxyMu.Unlock()
	}
	s.count.Inc()
	s.latency.Observe(d)
}

type statusRecorder struct {
	http.ResponseWriter
	code  int
	start time.Time // when instrument took the request
}

// newStatusRecorder wraps w, starting the clock now; in r's scope when it
// has one not yet taken (an instrumented handler inside another would
// otherwise share its recorder).
func newStatusRecorder(w http.ResponseWriter, r *http.Request) *statusRecorder {
	sc := scopeFrom(r.Context())
	if sc == nil || sc.recorder.ResponseWriter != nil {
		return &statusRecorder{ResponseWriter: w, start: time.Now()}
	}
	sc.recorder = statusRecorder{ResponseWriter: w, start: time.Now()}
	return &sc.recorder
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush on the real writer
// (the proxy streams).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Flush keeps streaming working through the recorder.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// instrument counts and times requests by route pattern (never by raw
// path, which would carry ids and unbounded label values).
func (m *metrics) instrument(route string, next http.Handler) http.Handler {
	requests := m.requests.MustCurryWith(prometheus.Labels{"route": route})
	hist := m.latency.With(route)
	ok := requests.WithLabelValues("200") // the usual answer, looked up once
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := newStatusRecorder(w, r)
		next.ServeHTTP(rec, r)
		hist.Observe(time.Since(rec.start))
		if rec.code == 0 || rec.code == http.StatusOK {
			ok.Inc()
			return
		}
		requests.WithLabelValues(strconv.Itoa(rec.code)).Inc()
	})
}
