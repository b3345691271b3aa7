// Package bench holds the benchmarks behind DESIGN.md "Performance
// targets". Each benchmark compares Storm with a baseline in the same
// process, driven by the same load generator, so the ratio between the two
// sub-benchmarks is what matters, not the absolute numbers.
//
// Nothing here runs under a plain `go test`: there are no Test functions.
// Run `bash bench/run.sh` from the repository root for the table.
package bench

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/server"
	"github.com/stormcreds/storm/internal/server/servertest"
	"github.com/stormcreds/storm/internal/store/sqlite"
	"github.com/stormcreds/storm/internal/store/storetest"
	"github.com/stormcreds/storm/internal/vault"
)

// clients is the number of concurrent load-generating goroutines in the
// throughput comparisons.
const clients = 24

const apiKey = "bench-key-aaaaaaaaaaaaaaaa"

// newClient is the load generator's client, shared by all goroutines of
// one benchmark: keep-alive over loopback TCP with enough idle
// connections for every client goroutine.
func newClient(b *testing.B) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	b.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// get sends GET url with the bearer token, drains and closes the body and
// fails unless the status is 200.
func get(c *http.Client, rawURL, token string) error {
	req, err := http.NewRequest("GET", rawURL, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", rawURL, resp.StatusCode)
	}
	return nil
}

// slice is how many requests one side of a comparison sends before the
// other side takes over.
const slice = 400

// compare drives Storm and its baseline with the same load (`clients`
// goroutines, GET with the bearer token) in alternating slices — storm,
// bare, bare, storm, … — until each side has answered b.N requests, and
// reports per request of each side the wall time (storm-ns/req,
// bare-ns/req) and the CPU time of this whole process (load generator,
// server, upstream: storm-cpu-ns/req, bare-cpu-ns/req), and the
// throughput ratio bare-ns/storm-ns. One op is one request to each side.
//
// Sub-benchmarks run one after the other for seconds each, and on a
// 2-CPU machine one side moved by ±15% between two consecutive runs of
// itself. Alternating in slices of a few milliseconds puts both sides
// under the same machine state (other load, CPU clocks, heap size), and
// the mirrored order cancels a drift within a pair.
func compare(b *testing.B, c *http.Client, storm, bare string, token string) {
	var wall, cpu [2]time.Duration
	run := func(side int, n int) {
		t0, c0 := time.Now(), storetest.CPUTime()
		if err := drive(c, []string{storm, bare}[side], token, n); err != nil {
			b.Fatal(err)
		}
		wall[side] += time.Since(t0)
		cpu[side] += storetest.CPUTime() - c0
	}
	b.ResetTimer()
	for done, round := 0, 0; done < b.N; round++ {
		n := min(slice, b.N-done)
		first := round % 2 // storm first in even rounds, bare first in odd ones
		run(first, n)
		run(1-first, n)
		done += n
	}
	b.StopTimer()
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N) }
	b.ReportMetric(per(wall[0]), "storm-ns/req")
	b.ReportMetric(per(wall[1]), "bare-ns/req")
	b.ReportMetric(per(cpu[0]), "storm-cpu-ns/req")
	b.ReportMetric(per(cpu[1]), "bare-cpu-ns/req")
	b.ReportMetric(float64(wall[1])/float64(wall[0]), "ratio")
}

// drive sends n GET requests to url from `clients` goroutines and
// returns the first error.
func drive(c *http.Client, rawURL, token string, n int) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := get(c, rawURL, token); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// upstream is the provider both proxies forward to: it checks the key and
// the path (the proxied one, or Storm's verification path) and answers a
// small fixed JSON body, as cheaply as net/http allows.
func upstream(b *testing.B) *httptest.Server {
	want := "Bearer " + apiKey
	body := []byte(`{"ok":true,"items":[1,2,3]}` + "\n")
	unauthorized := []byte(`{"error":"invalid api key"}` + "\n")
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != want {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write(unauthorized)
			return
		}
		if r.URL.Path != "/echo/x" && r.URL.Path != "/me" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		w.Write(body)
	}))
	b.Cleanup(hs.Close)
	return hs
}

// storm starts a real Storm (SQLite) with one custom API-key integration
// on up, its credential saved, and a worker token. It returns the env,
// the integration's base path and the worker token.
func storm(b *testing.B, up *httptest.Server) (*servertest.Env, string, string) {
	env := servertest.Start(b, servertest.Options{})
	in := env.Must(http.StatusCreated, "POST", "/v1/integrations", "", map[string]any{
		"name": "Bench", "provider": "custom", "auth_method": "api_key",
		"config": map[string]any{
			"base_url": up.URL,
			"api_key":  map[string]any{"in": "header", "name": "Authorization", "prefix": "Bearer "},
			"verify":   map[string]any{"method": "GET", "path": "/me"},
		},
	})
	base := "/v1/integrations/" + in["id"].(string)
	env.Must(http.StatusOK, "PUT", base+"/credentials", "", map[string]any{"api_key": apiKey})
	worker := env.NewToken("worker", "default")
	return env, base, worker
}

// BenchmarkAccess compares GET /v1/integrations/{id}/access with a worker
// token against a bare net/http handler answering the same bytes (and the
// same headers) Storm answers. Target (issue 14): throughput ≥ 0.9× bare,
// that is ns/op(bare) / ns/op(storm) ≥ 0.9.
func BenchmarkAccess(b *testing.B) {
	up := upstream(b)
	env, base, worker := storm(b, up)
	c := newClient(b)

	// Take the exact answer Storm gives, for the bare handler to repeat.
	req, _ := http.NewRequest("GET", env.URL+base+"/access", nil)
	req.Header.Set("Authorization", "Bearer "+worker)
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("access: %d %s", resp.StatusCode, body)
	}
	header := resp.Header.Clone()
	header.Del("Date")
	header.Del("Content-Length")
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for k, v := range header {
			h[k] = v
		}
		w.Write(body)
	}))
	b.Cleanup(bare.Close)

	withBatchSize(b, env, func() { compare(b, c, env.URL+base+"/access", bare.URL+"/access", worker) })
}

// withBatchSize runs run and reports the mean number of secret reads
// per audit commit meanwhile ("reads/commit"): on SQLite, as here, the
// reads each fold of the audit journal carried into the audit log.
func withBatchSize(b *testing.B, env *servertest.Env, run func()) {
	sum0, n0 := batchSizes(b, env)
	run()
	b.StopTimer()
	sum1, n1 := batchSizes(b, env)
	if n1 > n0 {
		b.ReportMetric((sum1-sum0)/(n1-n0), "reads/commit")
	}
}

// batchSizes reads the sum and count of storm_secret_read_batch_size
// from /metrics.
func batchSizes(b *testing.B, env *servertest.Env) (sum, count float64) {
	r := env.Do("GET", "/metrics", "", nil)
	for _, line := range strings.Split(string(r.Body), "\n") {
		name, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		f, _ := strconv.ParseFloat(v, 64)
		switch name {
		case "storm_secret_read_batch_size_sum":
			sum = f
		case "storm_secret_read_batch_size_count":
			count = f
		}
	}
	return sum, count
}

// bareProxy is the baseline reverse proxy (issue 14): httputil's
// ReverseProxy built with Rewrite to up, adding the same Authorization
// header Storm applies, recycling its 32 KiB copy buffers through a
// BufferPool (as Storm's proxy does), with a transport as roomy as
// Storm's (64 idle connections per host) so neither side churns
// connections.
func bareProxy(b *testing.B, up *httptest.Server) *httptest.Server {
	target, _ := url.Parse(up.URL)
	tr := &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        512,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Header.Set("Authorization", "Bearer "+apiKey)
		},
		Transport:  tr,
		BufferPool: &bufferPool{},
	}
	hs := httptest.NewServer(rp)
	b.Cleanup(func() { hs.Close(); tr.CloseIdleConnections() })
	return hs
}

type bufferPool struct{ p sync.Pool }

func (bp *bufferPool) Get() []byte {
	if b, ok := bp.p.Get().(*[]byte); ok {
		return *b
	}
	return make([]byte, 32<<10)
}

func (bp *bufferPool) Put(b []byte) { bp.p.Put(&b) }

// BenchmarkProxy compares a GET through Storm's proxy with a GET through
// the bare reverse proxy above, to the same upstream. Target (issue 14):
// throughput ≥ 0.9× bare.
func BenchmarkProxy(b *testing.B) {
	up := upstream(b)
	env, base, worker := storm(b, up)
	bare := bareProxy(b, up)
	c := newClient(b)
	withBatchSize(b, env, func() { compare(b, c, env.URL+base+"/proxy/echo/x", bare.URL+"/echo/x", worker) })
}

// BenchmarkProxySides is BenchmarkProxy for a CPU profile that tells
// the two sides apart (bash bench/profile.sh): each server's handler runs
// under a pprof label, "storm-server" or "bare-server", inherited by the
// transport goroutines it starts, and each side's load generator under
// "storm-client" or "bare-client". `go tool pprof -tags` then gives each
// side's CPU, and -tagfocus a side's own profile. Skipped unless
// STORM_BENCH_SIDES is set: the labels cost both sides alike, but they
// are not part of the measured comparison.
func BenchmarkProxySides(b *testing.B) {
	if os.Getenv("STORM_BENCH_SIDES") == "" {
		b.Skip("set STORM_BENCH_SIDES=1 (bash bench/profile.sh)")
	}
	up := upstream(b)
	env, base, worker := storm(b, up)
	labeled := func(side string, h http.Handler) string {
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			pprof.Do(r.Context(), pprof.Labels("side", side), func(context.Context) { h.ServeHTTP(w, r) })
		}))
		b.Cleanup(hs.Close)
		return hs.URL
	}
	stormURL := labeled("storm-server", env.HTTP.Config.Handler) + base + "/proxy/echo/x"
	bare := bareProxy(b, up)
	bareURL := labeled("bare-server", bare.Config.Handler) + "/echo/x"
	c := newClient(b)
	b.ResetTimer()
	for done := 0; done < b.N; done += slice {
		for _, side := range [2]struct{ label, url string }{{"storm-client", stormURL}, {"bare-client", bareURL}} {
			pprof.Do(context.Background(), pprof.Labels("side", side.label), func(context.Context) {
				if err := drive(c, side.url, worker, min(slice, b.N-done)); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}

// BenchmarkCompareItself checks the harness: compare with Storm's proxy
// on both sides must read a ratio of 1 within the noise, else a side's
// place in the alternation (first or second) biases it.
func BenchmarkCompareItself(b *testing.B) {
	up := upstream(b)
	env, base, worker := storm(b, up)
	c := newClient(b)
	u := env.URL + base + "/proxy/echo/x"
	compare(b, c, u, u, worker)
}

// BenchmarkProxyLatency is BenchmarkProxy with one client, sequential,
// alternating one request through Storm and one through the bare proxy
// (which goes first alternates too), and reports each side's median and
// 99th percentile: storm-p50-ns − bare-p50-ns is the latency Storm adds.
// Target < 0.1 ms.
func BenchmarkProxyLatency(b *testing.B) {
	up := upstream(b)
	env, base, worker := storm(b, up)
	bare := bareProxy(b, up)
	c := newClient(b)
	urls := [2]string{env.URL + base + "/proxy/echo/x", bare.URL + "/echo/x"}
	for _, u := range urls { // warm the connections so no dial is measured
		if err := get(c, u, worker); err != nil {
			b.Fatal(err)
		}
	}
	var durs [2][]time.Duration
	for i := 0; b.Loop(); i++ {
		for _, side := range [2]int{i % 2, 1 - i%2} {
			t0 := time.Now()
			if err := get(c, urls[side], worker); err != nil {
				b.Fatal(err)
			}
			durs[side] = append(durs[side], time.Since(t0))
		}
	}
	for side, name := range [2]string{"storm", "bare"} {
		d := durs[side]
		slices.Sort(d)
		b.ReportMetric(float64(d[len(d)/2].Nanoseconds()), name+"-p50-ns")
		b.ReportMetric(float64(d[len(d)*99/100].Nanoseconds()), name+"-p99-ns")
	}
}

// BenchmarkDecrypt compares opening a 1 KiB credential through the vault
// (keyring in a real SQLite store, AD bound) with bare AES-256-GCM Open
// of the same plaintext size. Target: vault ≤ 3× rawgcm time.
func BenchmarkDecrypt(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "storm.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	kek, err := vault.OpenKEK(ctx, "base64key://"+base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)), "")
	if err != nil {
		b.Fatal(err)
	}
	v, err := vault.Open(ctx, kek, st)
	if err != nil {
		b.Fatal(err)
	}
	pt := bytes.Repeat([]byte{'k'}, 1024)
	ad := vault.AD{Workspace: "ws_0123456789abcdef", Integration: "int_0123456789abcdef", Credential: "cred_0123456789abcdef", Field: "api_key"}

	b.Run("vault", func(b *testing.B) {
		ct, err := v.Seal(pt, ad)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(pt)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Open(ct, ad); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rawgcm", func(b *testing.B) {
		block, _ := aes.NewCipher(bytes.Repeat([]byte{1}, 32))
		aead, _ := cipher.NewGCM(block)
		nonce := make([]byte, aead.NonceSize())
		ct := aead.Seal(nil, nonce, pt, nil)
		b.SetBytes(int64(len(pt)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := aead.Open(nil, nonce, ct, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkStartup times what `storm serve` does on an existing data
// directory, from server.Open until GET /readyz answers 200: open the
// store (migrations already applied), the key file and keyring, the
// catalog, listen, serve. Target < 0.5 s (reported as ms/start).
func BenchmarkStartup(b *testing.B) {
	dir := b.TempDir()
	logger := slog.New(slog.DiscardHandler)
	cfg := server.Config{DataDir: dir, Addr: "127.0.0.1:0", AllowPrivateUpstreams: true, Logger: logger}
	// First start creates the data directory; give it some contents.
	func() {
		env := servertest.Start(b, servertest.Options{DataDir: dir})
		up := upstream(b)
		for i := range 20 {
			in := env.Must(http.StatusCreated, "POST", "/v1/integrations", "", map[string]any{
				"name": fmt.Sprintf("Bench %d", i), "provider": "custom", "auth_method": "api_key",
				"config": map[string]any{
					"base_url": up.URL,
					"api_key":  map[string]any{"in": "header", "name": "Authorization", "prefix": "Bearer "},
					"verify":   map[string]any{"method": "GET", "path": "/me"},
				},
			})
			env.Must(http.StatusOK, "PUT", "/v1/integrations/"+in["id"].(string)+"/credentials", "", map[string]any{"api_key": apiKey})
		}
		env.HTTP.Close()
		env.Server.Close()
	}()

	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var total time.Duration
	n := 0
	for b.Loop() {
		n++
		t0 := time.Now()
		srv, err := server.Open(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ctx, ln) }()
		for {
			if err := get(c, "http://"+ln.Addr().String()+"/readyz", ""); err == nil {
				break
			} else if time.Since(t0) > 10*time.Second {
				b.Fatal(err)
			}
		}
		total += time.Since(t0)

		b.StopTimer()
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		srv.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(n), "ms/start")
}
