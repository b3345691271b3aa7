package proxy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// errExchangeTimeout is why an exchange that outlived the proxy's
// Timeout was cut off.
var errExchangeTimeout = fmt.Errorf("proxy: the upstream exchange outlived its timeout: %w", context.DeadlineExceeded)

// A watch cuts off exchanges that outlive a time limit without a runtime
// timer per exchange: a context.WithTimeout per proxied request, a timer
// started and stopped every time, cost about 2% of the proxy's
// throughput. Every exchange a watch sees has the same limit, so
// deadlines come due in the order exchanges start, and a list kept in
// start order is kept in deadline order. One timer serves the list,
// armed for its first deadline and re-armed only when it fires: starting
// and ending an exchange is a lock and a list link.
type watch struct {
	limit time.Duration

	mu          sync.Mutex
	first, last *expiry // in start order, which is deadline order
	timer       *time.Timer
	armed       bool // timer will fire
}

// An expiry is one exchange on a watch: its place on the list, and what
// there is to cut when it outlives the limit — the exchange's own
// context, when it has one, and the upstream response body being copied.
// It is not reused: the watch may still hold one whose exchange is over.
type expiry struct {
	// Guarded by the watch's mu.
	prev, next *expiry
	due        time.Time
	listed     bool

	mu      sync.Mutex
	ended   bool // the exchange is over: nothing left to cut
	expired bool
	cancel  context.CancelCauseFunc
	body    io.Closer
}

// start puts e on the list, to be expired once limit has passed unless
// end takes it off first.
func (w *watch) start(e *expiry) {
	e.due = time.Now().Add(w.limit)
	w.mu.Lock()
	defer w.mu.Unlock()
	e.prev, e.next, e.listed = w.last, nil, true
	if w.last != nil {
		w.last.next = e
	} else {
		w.first = e
	}
	w.last = e
	if w.armed {
		return // for an earlier deadline: the list is in deadline order
	}
	w.armed = true
	if w.timer == nil {
		w.timer = time.AfterFunc(w.limit, w.fire)
	} else {
		w.timer.Reset(w.limit)
	}
}

// end takes e off the list, if it is still there, and ends it: its
// context is cancelled (the exchange is over) and nothing is cut later.
func (w *watch) end(e *expiry) {
	w.mu.Lock()
	if e.listed {
		w.unlink(e)
	}
	w.mu.Unlock()
	e.mu.Lock()
	cancel := e.cancel
	e.ended, e.cancel, e.body = true, nil, nil
	e.mu.Unlock()
	if cancel != nil {
		cancel(nil)
	}
}

func (w *watch) unlink(e *expiry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		w.first = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		w.last = e.prev
	}
	e.prev, e.next, e.listed = nil, nil, false
}

// fire expires the exchanges whose deadline has passed and arms the
// timer for the next one.
func (w *watch) fire() {
	now := time.Now()
	var due []*expiry
	w.mu.Lock()
	for w.first != nil && !w.first.due.After(now) {
		due = append(due, w.first)
		w.unlink(w.first)
	}
	if w.first != nil {
		w.timer.Reset(w.first.due.Sub(now))
	} else {
		w.armed = false
	}
	w.mu.Unlock()
	for _, e := range due { // outside the lock: cutting runs other code
		e.expire()
	}
}

// expire cuts the exchange off, unless it is over.
func (e *expiry) expire() {
	e.mu.Lock()
	if e.ended {
		e.mu.Unlock()
		return
	}
	e.expired = true
	cancel, body := e.cancel, e.body
	e.mu.Unlock()
	if cancel != nil {
		cancel(errExchangeTimeout)
	}
	if body != nil {
		body.Close() // the copy reading it fails: the answer is aborted
	}
}

// bind returns r under a context that e cancels at the deadline (and
// when the exchange ends): r itself when e has one already, else a copy
// under a new one. If e has expired already, it is cancelled at once.
func (e *expiry) bind(r *http.Request) *http.Request {
	e.mu.Lock()
	bound := e.cancel != nil
	e.mu.Unlock()
	if bound {
		return r
	}
	ctx, cancel := context.WithCancelCause(r.Context())
	e.mu.Lock()
	e.cancel = cancel
	expired := e.expired
	e.mu.Unlock()
	if expired {
		cancel(errExchangeTimeout)
	}
	return r.WithContext(ctx)
}

// setBody gives e the response body about to be copied. It reports
// false, having closed body, when e has expired already.
func (e *expiry) setBody(body io.Closer) bool {
	e.mu.Lock()
	expired := e.expired
	if !expired {
		e.body = body
	}
	e.mu.Unlock()
	if expired {
		body.Close()
	}
	return !expired
}
