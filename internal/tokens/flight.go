package tokens

import (
	"context"
	"sync"
)

// flights runs at most one call per key at a time in this process;
// callers that arrive while it runs share its result. Each caller may
// stop waiting when its own context ends; the call itself goes on under
// its own context, so one impatient caller cannot fail the others.
type flights[T any] struct {
	mu    sync.Mutex
	calls map[string]*flight[T]
}

type flight[T any] struct {
	done chan struct{}
	val  T
	err  error
}

func (g *flights[T]) do(ctx context.Context, key string, fn func() (T, error)) (T, error) {
	g.mu.Lock()
	if g.calls == nil {
		g.calls = map[string]*flight[T]{}
	}
	f, ok := g.calls[key]
	if !ok {
		f = &flight[T]{done: make(chan struct{})}
		g.calls[key] = f
		go func() {
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
		var zero T
		return zero, ctx.Err()
	}
}
