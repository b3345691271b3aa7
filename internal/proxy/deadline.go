package proxy

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// errExchangeTimeout is the cause of an exchange cancelled for outliving
// the proxy's Timeout.
var errExchangeTimeout = fmt.Errorf("proxy: the upstream exchange outlived its timeout: %w", context.DeadlineExceeded)

// A watch cancels exchanges that outlive a time limit without a runtime
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
	first, last *watched // in start order, which is deadline order
	timer       *time.Timer
	armed       bool // timer will fire
}

// watched is an exchange on a watch's list.
type watched struct {
	prev, next *watched
	due        time.Time
	cancel     context.CancelCauseFunc
	listed     bool
}

// start puts n on the list, to be cancelled with errExchangeTimeout once
// limit has passed, unless end takes it off first.
func (w *watch) start(n *watched, cancel context.CancelCauseFunc) {
	n.due, n.cancel = time.Now().Add(w.limit), cancel
	w.mu.Lock()
	defer w.mu.Unlock()
	n.prev, n.next, n.listed = w.last, nil, true
	if w.last != nil {
		w.last.next = n
	} else {
		w.first = n
	}
	w.last = n
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

// end takes n off the list, if it is still there.
func (w *watch) end(n *watched) {
	w.mu.Lock()
	if n.listed {
		w.unlink(n)
	}
	w.mu.Unlock()
}

func (w *watch) unlink(n *watched) {
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		w.first = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		w.last = n.prev
	}
	n.prev, n.next, n.listed = nil, nil, false
}

// fire cancels the exchanges whose deadline has passed and arms the
// timer for the next one.
func (w *watch) fire() {
	now := time.Now()
	var due []context.CancelCauseFunc
	w.mu.Lock()
	for w.first != nil && !w.first.due.After(now) {
		due = append(due, w.first.cancel)
		w.unlink(w.first)
	}
	if w.first != nil {
		w.timer.Reset(w.first.due.Sub(now))
	} else {
		w.armed = false
	}
	w.mu.Unlock()
	// Outside the lock: a cancel runs the context's own callbacks.
	for _, cancel := range due {
		cancel(errExchangeTimeout)
	}
}
