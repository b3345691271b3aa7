package vault

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// KEK is a key-encryption key: it wraps and unwraps the keyring. It is
// used once at start and when the keyring changes, never per request, so
// a remote KMS is fine. Implementations are safe for concurrent use.
type KEK interface {
	Wrap(ctx context.Context, plaintext []byte) ([]byte, error)
	Unwrap(ctx context.Context, ciphertext []byte) ([]byte, error)
}

// KEKOpener opens a KEK from a URL of its scheme.
type KEKOpener func(ctx context.Context, u *url.URL) (KEK, error)

var (
	kekMu      sync.RWMutex
	kekOpeners = map[string]KEKOpener{
		"base64key": openBase64KEK,
		"file":      openFileKEK,
	}
)

// RegisterKEK makes a KEK scheme (such as "awskms") available to OpenKEK.
// KMS keepers register themselves here.
func RegisterKEK(scheme string, open KEKOpener) {
	kekMu.Lock()
	defer kekMu.Unlock()
	kekOpeners[scheme] = open
}

// DefaultKeyFile is the key file created in the data directory when no
// --kek-url is given.
const DefaultKeyFile = "storm.key"

// OpenKEK opens the key-encryption key named by rawURL. An empty rawURL
// means the key file DefaultKeyFile in dataDir, created (mode 0600) on
// first use.
func OpenKEK(ctx context.Context, rawURL, dataDir string) (KEK, error) {
	if rawURL == "" {
		return openOrCreateKeyFile(filepath.Join(dataDir, DefaultKeyFile))
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		return nil, fmt.Errorf("kek url: not a URL (want base64key://, file:// or a KMS URL)")
	}
	kekMu.RLock()
	open, ok := kekOpeners[u.Scheme]
	kekMu.RUnlock()
	if !ok {
		switch u.Scheme {
		case "awskms", "gcpkms", "azurekeyvault", "hashivault":
			return nil, fmt.Errorf("kek url: %s:// is not built into this binary: build it with -tags kms (go build -tags kms ./cmd/storm)", u.Scheme)
		}
		return nil, fmt.Errorf("kek url: unknown scheme %q", u.Scheme)
	}
	return open(ctx, u)
}

func openBase64KEK(_ context.Context, u *url.URL) (KEK, error) {
	// base64key://<key>: the key is the host part, possibly with the
	// opaque form; accept both standard and URL-safe alphabets.
	enc := strings.TrimPrefix(u.Opaque, "//")
	if enc == "" {
		enc = u.Host + u.Path
	}
	key, err := decodeKey(enc)
	if err != nil {
		return nil, fmt.Errorf("kek url base64key: %w", err)
	}
	return newLocalKEK(key)
}

func openFileKEK(_ context.Context, u *url.URL) (KEK, error) {
	if u.Path == "" {
		return nil, errors.New("kek url file: want file:///absolute/path")
	}
	b, err := readKeyFile(u.Path)
	if err != nil {
		return nil, fmt.Errorf("kek url file: %w", err)
	}
	key, err := decodeKey(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("kek file %s: %w", u.Path, err)
	}
	return newLocalKEK(key)
}

// ErrKeyFileMode means a key file can be read or written by users other
// than its owner; the error wrapping it names the file and the chmod that
// fixes it.
var ErrKeyFileMode = errors.New("permissions too open")

// readKeyFile reads a key file, refusing one that group or others may
// read or write: the key decrypts every secret, and a key another user
// could replace is no better (ssh refuses loose private keys alike).
func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat() // the file read below, not whatever the path names later
	if err != nil {
		return nil, err
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("%w: %s has mode %04o, so other users can read or replace the key that decrypts every secret; fix it with: chmod 600 %s",
			ErrKeyFileMode, path, m, path)
	}
	return io.ReadAll(io.LimitReader(f, 4096))
}

func openOrCreateKeyFile(path string) (KEK, error) {
	b, err := readKeyFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, 32)
		rand.Read(key)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("key file: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("key file: %w", err)
		}
		_, werr := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return nil, fmt.Errorf("key file: %w", werr)
		}
		return newLocalKEK(key)
	}
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	key, err := decodeKey(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return newLocalKEK(key)
}

func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(s); err == nil {
			if len(key) != 32 {
				return nil, fmt.Errorf("key is %d bytes, want 32", len(key))
			}
			return key, nil
		}
	}
	return nil, errors.New("key is not base64")
}

// localKEK wraps with AES-256-GCM under a key held in memory.
type localKEK struct{ aead cipher.AEAD }

var kekAD = []byte("storm keyring wrap v1")

func newLocalKEK(key []byte) (*localKEK, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &localKEK{aead: aead}, nil
}

func (k *localKEK) Wrap(_ context.Context, plaintext []byte) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	rand.Read(nonce)
	return k.aead.Seal(nonce, nonce, plaintext, kekAD), nil
}

func (k *localKEK) Unwrap(_ context.Context, ciphertext []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(ciphertext) < n+k.aead.Overhead() {
		return nil, ErrWrongKEK
	}
	pt, err := k.aead.Open(nil, ciphertext[:n], ciphertext[n:], kekAD)
	if err != nil {
		return nil, ErrWrongKEK
	}
	return pt, nil
}
