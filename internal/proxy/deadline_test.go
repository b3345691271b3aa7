package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestWatchCancelsOverdueExchanges: a watch cuts off, with
// errExchangeTimeout, exactly the exchanges still running when their
// limit has passed, never before; after its list has emptied, it arms
// again for the next exchange.
func TestWatchCancelsOverdueExchanges(t *testing.T) {
	w := &watch{limit: 100 * time.Millisecond}
	type run struct {
		e       *expiry
		ctx     context.Context
		started time.Time
	}
	begin := func() *run {
		r := &run{e: &expiry{}, started: time.Now()}
		w.start(r.e)
		r.ctx = r.e.bind(httptest.NewRequest("GET", "/", nil)).Context()
		return r
	}
	a := begin()
	time.Sleep(30 * time.Millisecond)
	b := begin()
	time.Sleep(30 * time.Millisecond)
	c := begin()
	w.end(b.e) // finished in time
	for _, r := range []*run{a, c} {
		select {
		case <-r.ctx.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("an overdue exchange was not cut off")
		}
		if took := time.Since(r.started); took < w.limit {
			t.Fatalf("cut off after %v, before its limit of %v", took, w.limit)
		}
		if !errors.Is(context.Cause(r.ctx), errExchangeTimeout) {
			t.Fatalf("cause %v", context.Cause(r.ctx))
		}
		w.end(r.e) // as ServeTarget does, after the cut
	}
	time.Sleep(2 * w.limit)
	if errors.Is(context.Cause(b.ctx), errExchangeTimeout) {
		t.Fatal("an exchange that ended in time was cut off")
	}
	w.mu.Lock()
	armed, first := w.armed, w.first
	w.mu.Unlock()
	if armed || first != nil {
		t.Fatalf("after the list emptied: armed %v, first %p", armed, first)
	}
	d := begin() // arms the timer again
	select {
	case <-d.ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("an exchange started on an idle watch was not cut off")
	}
}

// closer records whether it was closed.
type closer struct{ closed atomic.Bool }

func (c *closer) Close() error { c.closed.Store(true); return nil }

// TestWatchClosesTheBody: an exchange without a context of its own is
// cut off by closing the response body being copied; a body that
// arrives after the deadline is closed at once and refused.
func TestWatchClosesTheBody(t *testing.T) {
	w := &watch{limit: 50 * time.Millisecond}
	e, body := &expiry{}, &closer{}
	w.start(e)
	if !e.setBody(body) {
		t.Fatal("a body before the deadline was refused")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !body.closed.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the body being copied was not closed at the deadline")
		}
		time.Sleep(5 * time.Millisecond)
	}
	late := &closer{}
	if e.setBody(late) || !late.closed.Load() {
		t.Fatal("a body arriving after the deadline was taken, or left open")
	}
	w.end(e)
	ended, kept := &expiry{}, &closer{}
	w.start(ended)
	ended.setBody(kept)
	w.end(ended)
	time.Sleep(3 * w.limit)
	if kept.closed.Load() {
		t.Fatal("the body of an exchange that ended in time was closed by the watch")
	}
}

// TestWatchUnderLoad: many goroutines start and end exchanges on one
// watch at once; those that end in time are never cut off, those that
// do not are all cut off.
func TestWatchUnderLoad(t *testing.T) {
	w := &watch{limit: time.Second}
	const goroutines, each = 16, 200
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				e := &expiry{}
				w.start(e)
				ctx := e.bind(httptest.NewRequest("GET", "/", nil)).Context()
				if i%50 == g%50 { // left running
					select {
					case <-ctx.Done():
					case <-time.After(10 * time.Second):
						t.Error("an overdue exchange was not cut off")
					}
					w.end(e)
					continue
				}
				w.end(e)
				if errors.Is(context.Cause(ctx), errExchangeTimeout) {
					t.Error("an exchange that ended in time was cut off")
				}
			}
		}()
	}
	wg.Wait()
}

// TestTimeoutMidBody: an upstream that sends its headers and then stalls
// in the body is cut off at the proxy's Timeout — the whole exchange is
// bounded, not only the wait for headers — whether the request had a
// body to upload (the exchange then runs under its own context) or not
// (the watch closes the response body).
func TestTimeoutMidBody(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	p, _ := newTestProxy(t, Config{AllowPrivate: true, Timeout: 300 * time.Millisecond})
	tg := Target{Base: up.base(t, ""), Path: "stalls", Active: bearer("k")}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.ServeTarget(w, r, tg) }))
	defer front.Close()
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			var reqBody io.Reader
			if method == http.MethodPost {
				reqBody = strings.NewReader(`{"a":1}`)
			}
			req, _ := http.NewRequest(method, front.URL+"/x", reqBody)
			start := time.Now()
			// The proxy's answer may not have left its buffer when the
			// exchange is cut: the caller sees either no answer or a cut
			// body.
			var body []byte
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if err == nil {
				t.Fatalf("the stalled exchange ended cleanly: %q", body)
			}
			if took := time.Since(start); took < 300*time.Millisecond || took > 5*time.Second {
				t.Fatalf("cut off after %v, want the 300ms timeout", took)
			}
		})
	}
}
