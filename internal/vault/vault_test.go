package vault

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stormcreds/storm/internal/store"
)

// memKeyring is an in-memory KeyringStore for unit tests; the real
// backends are exercised by the conformance suite and the server tests.
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

func testKEK(t testing.TB, b byte) KEK {
	t.Helper()
	kek, err := OpenKEK(context.Background(), "base64key://"+base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)), "")
	if err != nil {
		t.Fatal(err)
	}
	return kek
}

func newVault(t testing.TB) *Vault {
	t.Helper()
	v, err := Open(context.Background(), testKEK(t, 1), &memKeyring{})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

var adA = AD{Workspace: "ws_a", Integration: "int_a", Credential: "cred_a", Field: "api_key"}

func TestSealOpenRoundTrip(t *testing.T) {
	v := newVault(t)
	for _, pt := range [][]byte{{}, []byte("x"), bytes.Repeat([]byte("secret"), 1000)} {
		ct, err := v.Seal(pt, adA)
		if err != nil {
			t.Fatal(err)
		}
		got, err := v.Open(ct, adA)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("round trip: %v", err)
		}
	}
}

func TestIntegrityFlippedByteFails(t *testing.T) {
	v := newVault(t)
	ct, _ := v.Seal([]byte("sk_live_abcdef"), adA)
	for i := range ct {
		bad := bytes.Clone(ct)
		bad[i] ^= 0x01
		if _, err := v.Open(bad, adA); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("flipping byte %d: err = %v, want ErrDecrypt", i, err)
		}
	}
	if _, err := v.Open(ct[:len(ct)-1], adA); !errors.Is(err, ErrDecrypt) {
		t.Fatal("truncated ciphertext opened")
	}
}

func TestMovedCiphertextFails(t *testing.T) {
	v := newVault(t)
	ct, _ := v.Seal([]byte("sk_live_abcdef"), adA)
	moves := map[string]AD{
		"other workspace":   {Workspace: "ws_b", Integration: "int_a", Credential: "cred_a", Field: "api_key"},
		"other integration": {Workspace: "ws_a", Integration: "int_b", Credential: "cred_a", Field: "api_key"},
		"other credential":  {Workspace: "ws_a", Integration: "int_a", Credential: "cred_b", Field: "api_key"},
		"other field":       {Workspace: "ws_a", Integration: "int_a", Credential: "cred_a", Field: "client_secret"},
		// Length-prefixing keeps field boundaries: shifting characters
		// between fields must not produce the same additional data.
		"shifted boundary": {Workspace: "ws_a", Integration: "int_acred_a", Credential: "", Field: "api_key"},
	}
	for name, ad := range moves {
		if _, err := v.Open(ct, ad); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s: opened a moved ciphertext (err=%v)", name, err)
		}
	}
}

func TestEqualPlaintextsDiffer(t *testing.T) {
	v := newVault(t)
	a, _ := v.Seal([]byte("same"), adA)
	b, _ := v.Seal([]byte("same"), adA)
	if bytes.Equal(a, b) {
		t.Fatal("equal plaintexts produced equal ciphertexts")
	}
}

func TestCiphertextCarriesTermAndVersion(t *testing.T) {
	v := newVault(t)
	ct, _ := v.Seal([]byte("x"), adA)
	if ct[0] != 0 || ct[1] != 0 || ct[2] != 0 || ct[3] != 1 || ct[4] != formatV1 {
		t.Fatalf("header = % x, want term 1 + format 1", ct[:5])
	}
}

func TestWrongKEKIsAClearStartupError(t *testing.T) {
	ks := &memKeyring{}
	if _, err := Open(context.Background(), testKEK(t, 1), ks); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), testKEK(t, 2), ks)
	if !errors.Is(err, ErrWrongKEK) {
		t.Fatalf("err = %v, want ErrWrongKEK", err)
	}
}

func TestRotateKeepsOldTermsReadable(t *testing.T) {
	ks := &memKeyring{}
	v, _ := Open(context.Background(), testKEK(t, 1), ks)
	old, _ := v.Seal([]byte("before"), adA)
	term, err := v.Rotate(context.Background())
	if err != nil || term != 2 {
		t.Fatalf("rotate = %d, %v", term, err)
	}
	if pt, err := v.Open(old, adA); err != nil || string(pt) != "before" {
		t.Fatalf("old term: %v", err)
	}
	ct, _ := v.Seal([]byte("after"), adA)
	if ct[3] != 2 {
		t.Fatalf("new seal uses term %d", ct[3])
	}
	// A second instance that loaded the keyring before the rotation
	// learns the new term when it meets it.
	other, _ := Open(context.Background(), testKEK(t, 1), ks)
	if _, err := v.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	ct3, _ := v.Seal([]byte("third"), adA)
	if pt, err := other.Open(ct3, adA); err != nil || string(pt) != "third" {
		t.Fatalf("other instance: %v", err)
	}
}

func TestFingerprintIsKeyedAndStable(t *testing.T) {
	v := newVault(t)
	w := newVault(t)
	if v.Fingerprint([]byte("k")) != v.Fingerprint([]byte("k")) {
		t.Fatal("fingerprint not stable")
	}
	if v.Fingerprint([]byte("k")) == w.Fingerprint([]byte("k")) {
		t.Fatal("fingerprint not keyed per keyring")
	}
}

func TestKeyFileCreatedWithMode0600(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenKEK(context.Background(), "", dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, DefaultKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v", fi.Mode().Perm())
	}
	// file:// reads the same key.
	a, _ := OpenKEK(context.Background(), "", dir)
	b, err := OpenKEK(context.Background(), "file://"+filepath.Join(dir, DefaultKeyFile), "")
	if err != nil {
		t.Fatal(err)
	}
	wrapped, _ := a.Wrap(context.Background(), []byte("ring"))
	if pt, err := b.Unwrap(context.Background(), wrapped); err != nil || string(pt) != "ring" {
		t.Fatalf("file:// key differs: %v", err)
	}
}

func TestOpenKEKRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"base64key://", "base64key://c2hvcnQ=", "file:///does/not/exist", "nope://x", "awskms://alias/x", "::"} {
		if _, err := OpenKEK(context.Background(), u, ""); err == nil {
			t.Errorf("%q: no error", u)
		}
	}
}

func BenchmarkOpen1KiB(b *testing.B) {
	v := newVault(b)
	pt := bytes.Repeat([]byte{'k'}, 1024)
	ct, _ := v.Seal(pt, adA)
	b.SetBytes(1024)
	for b.Loop() {
		if _, err := v.Open(ct, adA); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawGCMOpen1KiB is the baseline for BenchmarkOpen1KiB: bare
// AES-256-GCM on the same bytes.
func BenchmarkRawGCMOpen1KiB(b *testing.B) {
	block, _ := aes.NewCipher(bytes.Repeat([]byte{1}, 32))
	aead, _ := cipher.NewGCM(block)
	nonce := make([]byte, 12)
	ct := aead.Seal(nil, nonce, bytes.Repeat([]byte{'k'}, 1024), nil)
	b.SetBytes(1024)
	for b.Loop() {
		if _, err := aead.Open(nil, nonce, ct, nil); err != nil {
			b.Fatal(err)
		}
	}
}
