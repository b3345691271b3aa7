package tokens

import (
	"context"
	"errors"
	"sync"
)

// flights runs at most one call per key at a time in this process;
// callers that arrive while it runs share its result. Each caller may
// stop waiting when its own context ends; the call itself goes on, so one
// impatient caller cannot fail the others. Calls are counted, so close
// can wait for the last one: a call left running could write to a store
// that has been closed.
type flights[T any] struct {
	mu      sync.Mutex
	calls   map[string]*flight[T]
	running sync.WaitGroup
	closed  bool
}

type flight[T any] struct {
	done chan struct{}
	val  T
	err  error
}

// errClosed is returned for calls asked for after close.
var errClosed = errors.New("tokens: the engine is shut down")

func (g *flights[T]) do(ctx context.Context, key string, fn func() (T, error)) (T, error) {
	var zero T
	g.mu.Lock()
	if g.calls == nil {
		g.calls = map[string]*flight[T]{}
	}
	f, ok := g.calls[key]
	if !ok {
		if g.closed {
			g.mu.Unlock()
			return zero, errClosed
		}
		f = &flight[T]{done: make(chan struct{})}
		g.calls[key] = f
		g.running.Add(1)
		go func() {
			defer g.running.Done()
			f.val, f.err = fn()
			g.mu.Lock()
			delete(g.calls, key)
			g.mu.Unlock()
			close(f.done)
		}()
	}
	g.mu.Unlock()
	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// close refuses new calls and waits for the running ones.
func (g *flights[T]) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.running.Wait()
}
