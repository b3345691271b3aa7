package vault

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

// usageKeyring is a memKeyring that also counts key usage (as store.Store
// does) and keyring reads.
type usageKeyring struct {
	memKeyring
	reads  atomic.Int64
	umu    sync.Mutex
	counts map[uint32]int64
}

func (u *usageKeyring) Keyring(ctx context.Context) ([]byte, error) {
	u.reads.Add(1)
	return u.memKeyring.Keyring(ctx)
}

func (u *usageKeyring) AddKeyUsage(_ context.Context, term uint32, n int64) (int64, error) {
	u.umu.Lock()
	defer u.umu.Unlock()
	if u.counts == nil {
		u.counts = map[uint32]int64{}
	}
	u.counts[term] += n
	return u.counts[term], nil
}

func (u *usageKeyring) count(term uint32) int64 {
	u.umu.Lock()
	defer u.umu.Unlock()
	return u.counts[term]
}

// countingKEK counts Wrap and Unwrap calls.
type countingKEK struct {
	KEK
	wraps, unwraps atomic.Int64
}

func (k *countingKEK) Wrap(ctx context.Context, pt []byte) ([]byte, error) {
	k.wraps.Add(1)
	return k.KEK.Wrap(ctx, pt)
}

func (k *countingKEK) Unwrap(ctx context.Context, ct []byte) ([]byte, error) {
	k.unwraps.Add(1)
	return k.KEK.Unwrap(ctx, ct)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestTerm(t *testing.T) {
	ks := &memKeyring{}
	v, _ := Open(context.Background(), testKEK(t, 1), ks)
	ct, _ := v.Seal([]byte("x"), adA)
	if term, ok := Term(ct); !ok || term != 1 {
		t.Fatalf("Term = %d, %v; want 1", term, ok)
	}
	if _, err := v.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	ct, _ = v.Seal([]byte("x"), adA)
	if term, ok := Term(ct); !ok || term != 2 {
		t.Fatalf("Term after rotation = %d, %v; want 2", term, ok)
	}
	for _, bad := range [][]byte{nil, ct[:headerLen-1], append([]byte{0, 0, 0, 1, 9}, make([]byte, 40)...)} {
		if _, ok := Term(bad); ok {
			t.Errorf("Term(% x) ok", bad)
		}
	}
}

// Automatic rotation: once the encryptions counted against the active
// term (across every instance) reach RotateAfter, a new term is added
// and sealing goes on under it; no seal fails on the way.
func TestAutomaticRotation(t *testing.T) {
	ks := &usageKeyring{}
	opts := Options{RotateAfter: 100, ReserveBlock: 16}
	a, err := OpenWithOptions(context.Background(), testKEK(t, 1), ks, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := OpenWithOptions(context.Background(), testKEK(t, 1), ks, opts)
	if err != nil {
		t.Fatal(err)
	}
	rotated := make(chan uint32, 4)
	a.OnRotate(func(term uint32) { rotated <- term })
	b.OnRotate(func(term uint32) { rotated <- term })

	var sealed [3]atomic.Int64 // per term
	var wg sync.WaitGroup
	for _, v := range []*Vault{a, b} {
		wg.Go(func() {
			for i := 0; i < 400 && v.ActiveTerm() == 1; i++ {
				ct, err := v.Seal([]byte("secret"), adA)
				if err != nil {
					t.Error(err)
					return
				}
				term, _ := Term(ct)
				sealed[min(term, 2)].Add(1)
				if pt, err := a.Open(ct, adA); err != nil || string(pt) != "secret" {
					t.Errorf("open: %v", err)
					return
				}
				time.Sleep(50 * time.Microsecond)
			}
		})
	}
	wg.Wait()
	var term uint32
	select {
	case term = <-rotated:
	case <-time.After(10 * time.Second):
		t.Fatal("no automatic rotation")
	}
	if term != 2 {
		t.Fatalf("rotated to term %d, want 2 (exactly one rotation)", term)
	}
	eventually(t, "both instances on term 2", func() bool {
		b.Refresh(context.Background())
		return a.ActiveTerm() == 2 && b.ActiveTerm() == 2
	})
	select {
	case extra := <-rotated:
		t.Fatalf("a second rotation to term %d", extra)
	case <-time.After(50 * time.Millisecond):
	}
	// The count is never below the seals made, and stops near the limit.
	eventually(t, "reservations to settle", func() bool { return !a.counter(1).busy.Load() && !b.counter(1).busy.Load() })
	if got, made := ks.count(1), sealed[1].Load(); got < made {
		t.Errorf("term 1 counted %d encryptions, %d were made", got, made)
	}
	ct, _ := b.Seal([]byte("after"), adA)
	if got, _ := Term(ct); got != 2 {
		t.Errorf("seal after rotation used term %d", got)
	}
}

// Usage is reserved before use: under many concurrent sealers the stored
// count always covers the seals made.
func TestUsageNeverUndercounts(t *testing.T) {
	ks := &usageKeyring{}
	v, err := OpenWithOptions(context.Background(), testKEK(t, 1), ks, Options{RotateAfter: -1, ReserveBlock: 64})
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 2000
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				v.Seal([]byte("x"), adA)
			}
		})
	}
	wg.Wait()
	u := v.counter(1)
	eventually(t, "reservations to settle", func() bool {
		return !u.busy.Load() && u.used.Load()+u.block.Load()/2 <= u.reserved.Load()
	})
	if got := ks.count(1); got < workers*each || got > workers*each+3*64 {
		t.Errorf("counted %d encryptions for %d seals", got, workers*each)
	}
	if v.ActiveTerm() != 1 {
		t.Error("rotated with automatic rotation off")
	}
}

// The KEK wraps the keyring at start and when it changes, never per
// secret: sealing, opening and polling an unchanged keyring call it not
// once.
func TestKEKNotUsedPerSecret(t *testing.T) {
	ks := &usageKeyring{}
	kek := &countingKEK{KEK: testKEK(t, 1)}
	v, err := Open(context.Background(), kek, ks)
	if err != nil {
		t.Fatal(err)
	}
	if kek.wraps.Load() != 1 || kek.unwraps.Load() != 0 {
		t.Fatalf("create: %d wraps, %d unwraps", kek.wraps.Load(), kek.unwraps.Load())
	}
	other := &countingKEK{KEK: testKEK(t, 1)}
	w, err := Open(context.Background(), other, ks)
	if err != nil {
		t.Fatal(err)
	}
	if other.unwraps.Load() != 1 {
		t.Fatalf("second instance start: %d unwraps", other.unwraps.Load())
	}
	for i := range 2000 {
		ct, _ := v.Seal([]byte("secret"), adA)
		if _, err := w.Open(ct, adA); err != nil {
			t.Fatal(err)
		}
		if i%100 == 0 {
			v.Refresh(context.Background())
			w.Refresh(context.Background())
		}
	}
	if kek.wraps.Load() != 1 || kek.unwraps.Load() != 0 || other.wraps.Load() != 0 || other.unwraps.Load() != 1 {
		t.Fatalf("KEK used per secret: %d/%d wraps, %d/%d unwraps", kek.wraps.Load(), other.wraps.Load(), kek.unwraps.Load(), other.unwraps.Load())
	}
	if _, err := v.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if kek.wraps.Load() != 2 {
		t.Fatalf("rotation: %d wraps, want 2", kek.wraps.Load())
	}
	ct, _ := v.Seal([]byte("secret"), adA)
	if _, err := w.Open(ct, adA); err != nil { // learns term 2: one unwrap
		t.Fatal(err)
	}
	for range 100 {
		w.Open(ct, adA)
		w.Refresh(context.Background())
	}
	if other.unwraps.Load() != 2 {
		t.Fatalf("other instance after rotation: %d unwraps, want 2", other.unwraps.Load())
	}
}

// A ciphertext of a term that cannot exist (older than the newest known
// one, yet unknown) fails without a keyring read; a newer one reads the
// keyring once even when many goroutines meet it at once.
func TestUnknownTermsReadTheKeyringSparingly(t *testing.T) {
	ks := &usageKeyring{}
	v, _ := Open(context.Background(), testKEK(t, 1), ks)
	ct, _ := v.Seal([]byte("x"), adA)
	reads := ks.reads.Load()
	bad := bytes.Clone(ct)
	bad[3] = 0 // term 0 never exists
	if _, err := v.Open(bad, adA); !errors.Is(err, ErrDecrypt) {
		t.Fatal(err)
	}
	if ks.reads.Load() != reads {
		t.Fatal("an impossible term read the keyring")
	}

	w, _ := Open(context.Background(), testKEK(t, 1), ks)
	if _, err := w.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	ct2, _ := w.Seal([]byte("new"), adA)
	reads = ks.reads.Load()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if pt, err := v.Open(ct2, adA); err != nil || string(pt) != "new" {
				t.Errorf("open new term: %v", err)
			}
		})
	}
	wg.Wait()
	if n := ks.reads.Load() - reads; n != 1 {
		t.Errorf("%d keyring reads for one new term", n)
	}
}

// Refresh brings another instance's rotation to this one's seals.
func TestRefreshPicksUpRotation(t *testing.T) {
	ks := &memKeyring{}
	a, _ := Open(context.Background(), testKEK(t, 1), ks)
	b, _ := Open(context.Background(), testKEK(t, 1), ks)
	if _, err := a.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b.ActiveTerm() != 1 {
		t.Fatal("b rotated by itself")
	}
	if err := b.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	ct, _ := b.Seal([]byte("x"), adA)
	if term, _ := Term(ct); term != 2 {
		t.Fatalf("b seals under term %d after Refresh", term)
	}
	info := b.Info()
	if info.Active != 2 || len(info.Terms) != 2 || info.Terms[0].Term != 1 || info.Terms[1].CreatedAt.IsZero() {
		t.Fatalf("Info = %+v", info)
	}
}

// Rotations by two instances at once both succeed, one on top of the
// other, and no term number is used twice.
func TestConcurrentRotations(t *testing.T) {
	ks := &memKeyring{}
	a, _ := Open(context.Background(), testKEK(t, 1), ks)
	b, _ := Open(context.Background(), testKEK(t, 1), ks)
	var wg sync.WaitGroup
	terms := make([]uint32, 2)
	for i, v := range []*Vault{a, b} {
		wg.Go(func() {
			term, err := v.Rotate(context.Background())
			if err != nil {
				t.Error(err)
			}
			terms[i] = term
		})
	}
	wg.Wait()
	if terms[0] == terms[1] || max(terms[0], terms[1]) != 3 {
		t.Fatalf("rotations gave terms %v", terms)
	}
}

// Rotating the KEK re-wraps the keyring: the same data keys open under
// the new KEK, running instances keep working, the old KEK no longer
// opens the database, and a second run changes nothing.
func TestRewrapKEK(t *testing.T) {
	ctx := context.Background()
	ks := &memKeyring{}
	oldKEK, newKEK := testKEK(t, 1), testKEK(t, 2)
	running, _ := Open(ctx, oldKEK, ks)
	ct, _ := running.Seal([]byte("before"), adA)
	if _, err := running.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	ct2, _ := running.Seal([]byte("term 2"), adA)

	info, rewrapped, err := RewrapKEK(ctx, ks, oldKEK, newKEK)
	if err != nil || !rewrapped {
		t.Fatalf("RewrapKEK = %v, %v", rewrapped, err)
	}
	if info.Active != 2 || len(info.Terms) != 2 {
		t.Fatalf("info = %+v", info)
	}
	restarted, err := Open(ctx, newKEK, ks)
	if err != nil {
		t.Fatalf("open with the new KEK: %v", err)
	}
	for _, c := range [][]byte{ct, ct2} {
		if _, err := restarted.Open(c, adA); err != nil {
			t.Fatalf("restarted instance: %v", err)
		}
	}
	if restarted.Fingerprint([]byte("k")) != running.Fingerprint([]byte("k")) {
		t.Fatal("fingerprints changed with the KEK")
	}
	if _, err := Open(ctx, oldKEK, ks); !errors.Is(err, ErrWrongKEK) {
		t.Fatalf("old KEK after rotation: %v", err)
	}
	// The running instance keeps its keys, says why it cannot reload and
	// refuses to rotate data keys it could not share.
	if err := running.Refresh(ctx); !errors.Is(err, ErrStaleKEK) {
		t.Fatalf("Refresh on a stale instance: %v", err)
	}
	ct3, _ := running.Seal([]byte("still"), adA)
	if pt, err := restarted.Open(ct3, adA); err != nil || string(pt) != "still" {
		t.Fatalf("stale instance's seal: %v", err)
	}
	if _, err := running.Rotate(ctx); !errors.Is(err, ErrStaleKEK) {
		t.Fatalf("Rotate on a stale instance: %v", err)
	}
	// Idempotent.
	if _, rewrapped, err := RewrapKEK(ctx, ks, oldKEK, newKEK); err != nil || rewrapped {
		t.Fatalf("second RewrapKEK = %v, %v", rewrapped, err)
	}
	if _, _, err := RewrapKEK(ctx, ks, testKEK(t, 3), testKEK(t, 4)); !errors.Is(err, ErrWrongKEK) {
		t.Fatalf("RewrapKEK with unrelated KEKs: %v", err)
	}
	if _, _, err := RewrapKEK(ctx, &memKeyring{}, oldKEK, newKEK); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("RewrapKEK without a keyring: %v", err)
	}
}
