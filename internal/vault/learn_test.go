package vault

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Add(d time.Duration) { c.ns.Add(int64(d)) }
func withTerm(ct []byte, term uint32) []byte {
	b := bytes.Clone(ct)
	binary.BigEndian.PutUint32(b, term)
	return b
}

// TestForgedTermsCostBoundedKeyringReads: ciphertexts naming a data-key
// term this instance does not know (what a forged session cookie can
// carry) cost no keyring read when the term cannot exist yet (above the
// newest known + 1), and at most one read per miss-cache period when it
// is the next term, however many arrive at once. A real rotation by
// another instance is still picked up: after the miss cache expires, or
// at once by the keyring poll.
func TestForgedTermsCostBoundedKeyringReads(t *testing.T) {
	ks := &usageKeyring{}
	clock := newFakeClock()
	opts := Options{LearnMissTTL: 2 * time.Second, Now: clock.Now}
	v, err := OpenWithOptions(context.Background(), testKEK(t, 1), ks, opts)
	if err != nil {
		t.Fatal(err)
	}
	ct, _ := v.Seal([]byte("x"), adA)
	newest := v.ActiveTerm()

	forge := func(terms []uint32, n int) {
		t.Helper()
		var wg sync.WaitGroup
		for g := range 16 {
			wg.Go(func() {
				for i := g; i < n; i += 16 {
					if _, err := v.Open(withTerm(ct, terms[i%len(terms)]), adA); !errors.Is(err, ErrDecrypt) {
						t.Errorf("forged term %d: %v", terms[i%len(terms)], err)
					}
				}
			})
		}
		wg.Wait()
	}
	reads := func() int64 { return ks.reads.Load() }

	base := reads()
	forge([]uint32{newest + 1000, newest + 2, math.MaxUint32, newest + 1<<20}, 2000)
	if n := reads() - base; n != 0 {
		t.Fatalf("%d keyring reads for terms above the newest + 1, want 0", n)
	}
	forge([]uint32{newest + 1, newest + 1000}, 2000)
	if n := reads() - base; n != 1 {
		t.Fatalf("%d keyring reads for 1000 ciphertexts of the next term, want 1", n)
	}
	clock.Add(time.Second)
	forge([]uint32{newest + 1}, 500)
	if n := reads() - base; n != 1 {
		t.Fatalf("%d keyring reads within the miss period, want 1", n)
	}
	clock.Add(1500 * time.Millisecond)
	forge([]uint32{newest + 1}, 500)
	if n := reads() - base; n != 2 {
		t.Fatalf("%d keyring reads after the miss period, want 2", n)
	}

	// Another instance rotates. Within the miss period its ciphertexts
	// wait for the poll (or the period's end); then they open.
	w, err := Open(context.Background(), testKEK(t, 1), ks)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	rotated, _ := w.Seal([]byte("rotated"), adA)
	if _, err := v.Open(rotated, adA); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("within the miss period: %v (want a fast failure)", err)
	}
	clock.Add(2 * time.Second)
	if pt, err := v.Open(rotated, adA); err != nil || string(pt) != "rotated" {
		t.Fatalf("after the miss period: %q, %v", pt, err)
	}

	// And at once through the poll.
	forge([]uint32{w.ActiveTerm() + 1}, 10) // a fresh miss for term 3
	if _, err := w.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	rotated, _ = w.Seal([]byte("again"), adA)
	if err := v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if pt, err := v.Open(rotated, adA); err != nil || string(pt) != "again" {
		t.Fatalf("after the poll: %q, %v", pt, err)
	}
}

// stallingKeyring never answers a read until its context ends, like a
// database that stopped responding.
type stallingKeyring struct {
	memKeyring
	stall   atomic.Bool
	reads   atomic.Int64
	release chan struct{} // closed to end every stalled read
}

func (s *stallingKeyring) Keyring(ctx context.Context) ([]byte, error) {
	if s.stall.Load() {
		s.reads.Add(1)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.release:
			return nil, errors.New("released")
		}
	}
	return s.memKeyring.Keyring(ctx)
}

// TestUnknownTermReadIsBounded: the keyring read for an unknown term
// gives up after LearnTimeout, and callers arriving meanwhile neither
// start reads of their own nor wait beyond it.
func TestUnknownTermReadIsBounded(t *testing.T) {
	ks := &stallingKeyring{release: make(chan struct{})}
	v, err := OpenWithOptions(context.Background(), testKEK(t, 1), ks, Options{LearnTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ct, _ := v.Seal([]byte("x"), adA)
	next := withTerm(ct, v.ActiveTerm()+1)
	ks.stall.Store(true)
	start := time.Now()
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			if _, err := v.Open(next, adA); !errors.Is(err, ErrDecrypt) {
				t.Errorf("open: %v", err)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		close(ks.release)
		<-done
		t.Fatalf("callers still waiting for a stalled keyring read after %v (timeout 100ms)", time.Since(start).Round(time.Millisecond))
	}
	if n := ks.reads.Load(); n != 1 {
		t.Fatalf("%d stalled keyring reads, want 1", n)
	}
	// The known terms never wait on it.
	if _, err := v.Open(ct, adA); err != nil {
		t.Fatal(err)
	}
}
