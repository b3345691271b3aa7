package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestWatchCancelsOverdueExchanges: a watch cancels, with
// errExchangeTimeout, exactly the exchanges still running when their
// limit has passed, never before; after its list has emptied, it arms
// again for the next exchange.
func TestWatchCancelsOverdueExchanges(t *testing.T) {
	w := &watch{limit: 100 * time.Millisecond}
	type run struct {
		ctx     context.Context
		n       watched
		started time.Time
	}
	begin := func() *run {
		r := &run{started: time.Now()}
		var cancel context.CancelCauseFunc
		r.ctx, cancel = context.WithCancelCause(context.Background())
		w.start(&r.n, cancel)
		return r
	}
	a := begin()
	time.Sleep(30 * time.Millisecond)
	b := begin()
	time.Sleep(30 * time.Millisecond)
	c := begin()
	w.end(&b.n) // finished in time
	for _, r := range []*run{a, c} {
		select {
		case <-r.ctx.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("an overdue exchange was not cancelled")
		}
		if took := time.Since(r.started); took < w.limit {
			t.Fatalf("cancelled after %v, before its limit of %v", took, w.limit)
		}
		if !errors.Is(context.Cause(r.ctx), errExchangeTimeout) {
			t.Fatalf("cause %v", context.Cause(r.ctx))
		}
		w.end(&r.n) // as ServeTarget does, after the cancel
	}
	time.Sleep(2 * w.limit)
	if b.ctx.Err() != nil {
		t.Fatal("an exchange that ended in time was cancelled")
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
		t.Fatal("an exchange started on an idle watch was not cancelled")
	}
}

// TestWatchUnderLoad: many goroutines start and end exchanges on one
// watch at once; those that end in time are never cancelled, those that
// do not are all cancelled.
func TestWatchUnderLoad(t *testing.T) {
	w := &watch{limit: time.Second}
	const goroutines, each = 16, 200
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				ctx, cancel := context.WithCancelCause(context.Background())
				var n watched
				w.start(&n, cancel)
				if i%50 == g%50 { // left running
					select {
					case <-ctx.Done():
					case <-time.After(10 * time.Second):
						t.Error("an overdue exchange was not cancelled")
					}
					w.end(&n)
					continue
				}
				w.end(&n)
				if ctx.Err() != nil {
					t.Error("an exchange that ended in time was cancelled")
				}
			}
		}()
	}
	wg.Wait()
}

// TestTimeoutMidBody: an upstream that sends its headers and then stalls
// in the body is cut off at the proxy's Timeout — the whole exchange is
// bounded, not only the wait for headers.
func TestTimeoutMidBody(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
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
	start := time.Now()
	// The proxy's answer may not have left its buffer when the exchange
	// is cut: the caller sees either no answer or a cut body.
	var body []byte
	resp, err := http.Get(front.URL + "/x")
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
}
