package kms_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"

	"gocloud.dev/secrets/localsecrets"

	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/vault"
	"github.com/stormcreds/storm/internal/vault/kms"
)

// memKeyring is an in-memory vault.KeyringStore.
type memKeyring struct {
	mu  sync.Mutex
	raw []byte
}

func (m *memKeyring) Keyring(context.Context) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.raw == nil {
		return nil, store.ErrNotFound
	}
	return bytes.Clone(m.raw), nil
}

func (m *memKeyring) PutKeyring(_ context.Context, prev, next []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !bytes.Equal(prev, m.raw) {
		return store.ErrConflict
	}
	m.raw = bytes.Clone(next)
	return nil
}

// countingKEK counts the keeper calls a vault makes.
type countingKEK struct {
	vault.KEK
	encrypts, decrypts *atomic.Int64
}

func (k countingKEK) Wrap(ctx context.Context, pt []byte) ([]byte, error) {
	k.encrypts.Add(1)
	return k.KEK.Wrap(ctx, pt)
}

func (k countingKEK) Unwrap(ctx context.Context, ct []byte) ([]byte, error) {
	k.decrypts.Add(1)
	return k.KEK.Unwrap(ctx, ct)
}

var encrypts, decrypts atomic.Int64

// The "localkeeper" scheme opens gocloud's local keeper (its base64key://
// URLs) through the same adapter and URL mux as the cloud keepers,
// counting its calls.
func init() {
	vault.RegisterKEK("localkeeper", func(ctx context.Context, u *url.URL) (vault.KEK, error) {
		g := *u
		g.Scheme = localsecrets.Scheme
		k, err := kms.Open(ctx, &g)
		if err != nil {
			return nil, err
		}
		return countingKEK{k, &encrypts, &decrypts}, nil
	})
}

func keeperURL(b byte) string {
	return "localkeeper://" + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32))
}

func openKEK(t *testing.T, rawURL string) vault.KEK {
	t.Helper()
	k, err := vault.OpenKEK(context.Background(), rawURL, "")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The keeper wraps the keyring at start and rotation only: thousands of
// seals and opens, and polls of an unchanged keyring, never call it.
func TestKeeperWrapsOnlyAtStartAndRotation(t *testing.T) {
	ctx := context.Background()
	encrypts.Store(0)
	decrypts.Store(0)
	ks := &memKeyring{}
	a, err := vault.Open(ctx, openKEK(t, keeperURL(1)), ks)
	if err != nil {
		t.Fatal(err)
	}
	b, err := vault.Open(ctx, openKEK(t, keeperURL(1)), ks)
	if err != nil {
		t.Fatal(err)
	}
	if encrypts.Load() != 1 || decrypts.Load() != 1 {
		t.Fatalf("two starts: %d encrypts, %d decrypts; want 1 and 1", encrypts.Load(), decrypts.Load())
	}
	ad := vault.AD{Workspace: "ws", Integration: "int", Credential: "cred", Field: "secret"}
	for i := range 5000 {
		ct, err := a.Seal([]byte("secret"), ad)
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := b.Open(ct, ad); err != nil || string(pt) != "secret" {
			t.Fatalf("open: %v", err)
		}
		if i%500 == 0 {
			if err := b.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if encrypts.Load() != 1 || decrypts.Load() != 1 {
		t.Fatalf("keeper called per secret: %d encrypts, %d decrypts", encrypts.Load(), decrypts.Load())
	}
	if _, err := a.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if encrypts.Load() != 2 || decrypts.Load() != 2 {
		t.Fatalf("rotation: %d encrypts, %d decrypts; want 2 and 2", encrypts.Load(), decrypts.Load())
	}
	ct, _ := b.Seal([]byte("after"), ad)
	if term, _ := vault.Term(ct); term != 2 {
		t.Fatalf("term %d after rotation", term)
	}
}

// Another key refuses the keyring with ErrWrongKEK; RewrapKEK moves a
// database from a local key file to a keeper and back.
func TestKeeperKEK(t *testing.T) {
	ctx := context.Background()
	ks := &memKeyring{}
	if _, err := vault.Open(ctx, openKEK(t, keeperURL(1)), ks); err != nil {
		t.Fatal(err)
	}
	if _, err := vault.Open(ctx, openKEK(t, keeperURL(2)), ks); !errors.Is(err, vault.ErrWrongKEK) {
		t.Fatalf("another keeper key: %v", err)
	}
	local := "base64key://" + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32))
	if _, _, err := vault.RewrapKEK(ctx, ks, openKEK(t, keeperURL(1)), openKEK(t, local)); err != nil {
		t.Fatal(err)
	}
	if _, err := vault.Open(ctx, openKEK(t, local), ks); err != nil {
		t.Fatalf("after moving to a local key: %v", err)
	}
	if _, _, err := vault.RewrapKEK(ctx, ks, openKEK(t, local), openKEK(t, keeperURL(4))); err != nil {
		t.Fatal(err)
	}
	if _, err := vault.Open(ctx, openKEK(t, keeperURL(4)), ks); err != nil {
		t.Fatalf("after moving to a keeper: %v", err)
	}
}

// Without -tags kms the cloud schemes are refused with a clear hint.
func TestCloudSchemesNeedTheBuildTag(t *testing.T) {
	if kmsBuilt {
		t.Skip("built with -tags kms")
	}
	for _, s := range kms.Schemes {
		_, err := vault.OpenKEK(context.Background(), s+"://key", "")
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte("-tags kms")) {
			t.Errorf("%s: %v", s, err)
		}
	}
}
