package tokens

import (
	"context"
	"sync"
	"time"
)

// lease is a refresh lease this process holds. It is short (LeaseTTL,
// seconds) so another instance notices a dead holder fast, and renewed
// in the background while the refresh runs, so a live holder keeps it
// however long the provider takes.
type lease struct {
	e      *Engine
	credID string

	mu        sync.Mutex
	confirmed time.Time // when the last successful hold was asked (monotonic)
	lost      bool      // a renewal found another owner

	stop chan struct{}
	done chan struct{}
}

// leaseName is the database lease guarding credID's refreshes.
func leaseName(credID string) string { return "refresh:" + credID }

// keep starts renewing a lease taken when asked.
func (e *Engine) keep(base context.Context, credID string, asked time.Time) *lease {
	l := &lease{e: e, credID: credID, confirmed: asked, stop: make(chan struct{}), done: make(chan struct{})}
	go l.renew(base)
	return l
}

// renew holds the lease again every third of its lifetime until end.
func (l *lease) renew(base context.Context) {
	defer close(l.done)
	t := time.NewTicker(l.e.cfg.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		held, err := l.hold(base)
		switch {
		case err != nil:
			l.e.cfg.Logger.Warn("renew refresh lease", "credential", l.credID, "err", err)
		case !held:
			l.e.cfg.Logger.Warn("refresh lease taken over by another instance", "credential", l.credID)
			return
		}
	}
}

// hold takes the lease again (a renewal), recording the outcome.
func (l *lease) hold(base context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(base, l.e.cfg.CommitTimeout)
	defer cancel()
	asked := time.Now()
	held, err := l.e.cfg.Store.HoldLease(ctx, leaseName(l.credID), l.e.cfg.Owner, l.e.cfg.LeaseTTL)
	if err != nil {
		return false, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if held {
		l.confirmed = asked
	} else {
		l.lost = true
	}
	return held, nil
}

// state reports whether the lease was lost, and whether it may have
// lapsed: no renewal succeeded within the last three quarters of its
// lifetime, so another instance might have held it in between.
func (l *lease) state() (lost, maybeLapsed bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost, time.Since(l.confirmed) > l.e.cfg.LeaseTTL*3/4
}

// end stops renewing and, unless the holder "died" (a test hook), frees
// the lease so the next refresh need not wait for it to expire.
func (l *lease) end(base context.Context, release bool) {
	close(l.stop)
	<-l.done
	if !release {
		return
	}
	ctx, cancel := context.WithTimeout(base, l.e.cfg.CommitTimeout)
	defer cancel()
	if err := l.e.cfg.Store.ReleaseLease(ctx, leaseName(l.credID), l.e.cfg.Owner); err != nil {
		l.e.cfg.Logger.Warn("release refresh lease", "credential", l.credID, "err", err)
	}
}
