package tokens

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/stormcreds/storm/internal/oauth"
)

// batch bounds how many due credentials one scan takes.
const batch = 1000

// Run refreshes tokens that are due, in the background, until ctx ends.
// Every instance may run it: the leases make sure each token is refreshed
// once, and the jittered schedule spreads the work.
func (e *Engine) Run(ctx context.Context) {
	sem := make(chan struct{}, e.cfg.Concurrency)
	var (
		wg       sync.WaitGroup
		inFlight sync.Map
	)
	// Refreshes in flight finish (and commit) before Run returns, so a
	// server that closes its store after Run cannot lose a rotated
	// refresh token.
	defer wg.Wait()
	for {
		full := e.scan(ctx, sem, &wg, &inFlight)
		wait := jitter(e.cfg.Interval)
		if full {
			wait = 0 // a backlog: take the next batch at once
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// jitter spreads d by ±10% so instances do not scan in lockstep.
func jitter(d time.Duration) time.Duration {
	return d - d/10 + time.Duration(float64(d/5)*rand.Float64())
}

// scan dispatches the due credentials; it reports whether it took a full
// batch (more may be waiting).
func (e *Engine) scan(ctx context.Context, sem chan struct{}, wg *sync.WaitGroup, inFlight *sync.Map) (full bool) {
	due, err := e.cfg.Store.ListDueCredentials(ctx, e.cfg.Now(), batch)
	if err != nil {
		if ctx.Err() == nil {
			e.cfg.Logger.Warn("list tokens due for refresh", "err", err)
		}
		return false
	}
	for _, c := range due {
		if _, busy := inFlight.LoadOrStore(c.ID, true); busy {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			inFlight.Delete(c.ID)
			return false
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem; inFlight.Delete(c.ID) }()
			// Not Run's ctx: shutting down must not abandon a refresh
			// between the provider's answer and the commit (each step
			// bounds itself).
			_, err := e.flights.do(context.WithoutCancel(ctx), c.ID, func() (oauth.TokenSet, error) {
				return e.refreshLeased(context.WithoutCancel(ctx), c.IntegrationID, c.ID, refusal{}, false)
			})
			if err != nil && !errors.Is(err, errBusy) && !errors.Is(err, ErrReplaced) && !errors.Is(err, errClosed) && ctx.Err() == nil {
				e.cfg.Logger.Info("background refresh did not succeed", "credential", c.ID, "err", err)
			}
		}()
	}
	return len(due) == batch
}
