package vault

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// blockingUsage is a usage store whose AddKeyUsage waits until released,
// like a slow database, and notes whether it ran after Close returned.
type blockingUsage struct {
	usageKeyring
	entered  chan struct{}
	release  chan struct{}
	calls    atomic.Int64
	inFlight atomic.Int64
}

func (b *blockingUsage) AddKeyUsage(ctx context.Context, term uint32, n int64) (int64, error) {
	b.inFlight.Add(1)
	defer b.inFlight.Add(-1)
	if b.calls.Add(1) == 1 {
		close(b.entered)
	}
	<-b.release
	return b.usageKeyring.AddKeyUsage(ctx, term, n)
}

// TestCloseWaitsForBackgroundWork is the regression test for issue 9
// item 11: a usage reservation (and an automatic rotation with its
// callback) ran in goroutines nobody waited for, so they could write to
// a store that had been closed.
func TestCloseWaitsForBackgroundWork(t *testing.T) {
	ks := &blockingUsage{entered: make(chan struct{}), release: make(chan struct{})}
	v, err := OpenWithOptions(context.Background(), testKEK(t, 1), ks, Options{ReserveBlock: 4, RotateAfter: -1})
	if err != nil {
		t.Fatal(err)
	}
	for range 8 {
		if _, err := v.Seal([]byte("secret"), adA); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-ks.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("no usage reservation started")
	}
	closed := make(chan struct{})
	go func() { v.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while a reservation was writing to the store")
	case <-time.After(100 * time.Millisecond):
	}
	close(ks.release)
	<-closed
	if n := ks.inFlight.Load(); n != 0 {
		t.Fatalf("%d reservations still running after Close", n)
	}
	// After Close, seals still work and start nothing in the background.
	calls := ks.calls.Load()
	for range 64 {
		if _, err := v.Seal([]byte("secret"), adA); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if ks.calls.Load() != calls {
		t.Fatal("a reservation started after Close")
	}
	v.Close() // twice is fine
}

// TestCloseWaitsForAutomaticRotation: the rotation callback (the key
// manager starts its re-wrap job from it) finishes before Close returns.
func TestCloseWaitsForAutomaticRotation(t *testing.T) {
	ks := &usageKeyring{}
	v, err := OpenWithOptions(context.Background(), testKEK(t, 1), ks, Options{RotateAfter: 8, ReserveBlock: 4})
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	var done atomic.Bool
	v.OnRotate(func(uint32) {
		close(entered)
		<-release
		done.Store(true)
	})
	go func() {
		for i := 0; i < 1000 && v.ActiveTerm() == 1; i++ {
			v.Seal([]byte("secret"), adA)
			time.Sleep(time.Millisecond)
		}
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no automatic rotation")
	}
	closed := make(chan struct{})
	go func() { v.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while the rotation callback ran")
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	<-closed
	if !done.Load() {
		t.Fatal("Close returned before the rotation callback finished")
	}
}
