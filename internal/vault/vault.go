package vault

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

// Errors returned by the vault. None of them carries key material or
// plaintext.
var (
	// ErrWrongKEK means the key-encryption key cannot open the stored
	// keyring: the --kek-url (or key file) is not the one this database
	// was created with.
	ErrWrongKEK = errors.New("vault: the key-encryption key does not open this database's keyring (was --kek-url or the key file changed?)")
	// ErrDecrypt means a ciphertext failed to open: it was altered, moved
	// to another row, or written under a key this keyring lacks.
	ErrDecrypt = errors.New("vault: ciphertext failed authentication")
)

// formatV1 is the ciphertext format: term (4 bytes, big endian) | format
// (1 byte) | nonce (12 bytes) | AES-256-GCM sealed data.
const formatV1 = 1

const headerLen = 4 + 1 + 12

// AD names the place a ciphertext belongs to. It is bound into the
// ciphertext as additional data: opening with any other AD fails.
type AD struct {
	Workspace   string
	Integration string
	Credential  string
	Field       string
}

func (ad AD) appendTo(b []byte) []byte {
	for _, s := range [...]string{ad.Workspace, ad.Integration, ad.Credential, ad.Field} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}

// KeyringStore is where the wrapped keyring lives; store.Store satisfies
// it. Keeping it in the database lets every instance of a cluster share it.
type KeyringStore interface {
	Keyring(ctx context.Context) ([]byte, error)
	PutKeyring(ctx context.Context, prev, next []byte) error
}

// Vault seals and opens secrets. It is safe for concurrent use.
type Vault struct {
	kek   KEK
	store KeyringStore
	ring  atomic.Pointer[keyring]
	mu    sync.Mutex // serialises keyring changes in this process
}

type keyring struct {
	raw            []byte // wrapped form as stored, for compare-and-swap
	active         uint32
	terms          map[uint32]cipher.AEAD
	fingerprintKey []byte
	doc            keyringDoc
}

type keyringDoc struct {
	Active         uint32    `json:"active"`
	FingerprintKey []byte    `json:"fingerprint_key"`
	Terms          []termDoc `json:"terms"`
}

type termDoc struct {
	Term      uint32    `json:"term"`
	Key       []byte    `json:"key"`
	CreatedAt time.Time `json:"created_at"`
}

// Open loads the keyring from ks, unwrapping it with kek, or creates one
// on first start. A KEK that does not match the stored keyring gives
// ErrWrongKEK, never a vault that produces garbage.
func Open(ctx context.Context, kek KEK, ks KeyringStore) (*Vault, error) {
	v := &Vault{kek: kek, store: ks}
	for range 3 {
		raw, err := ks.Keyring(ctx)
		if errors.Is(err, store.ErrNotFound) {
			doc := keyringDoc{Active: 1, FingerprintKey: randomKey(), Terms: []termDoc{{Term: 1, Key: randomKey(), CreatedAt: time.Now().UTC()}}}
			err = v.write(ctx, nil, doc)
			if errors.Is(err, store.ErrConflict) {
				continue // another instance created it first: load theirs
			}
			if err != nil {
				return nil, err
			}
			return v, nil
		}
		if err != nil {
			return nil, fmt.Errorf("vault: load keyring: %w", err)
		}
		ring, err := v.unwrap(ctx, raw)
		if err != nil {
			return nil, err
		}
		v.ring.Store(ring)
		return v, nil
	}
	return nil, errors.New("vault: keyring keeps changing during start")
}

func randomKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

func (v *Vault) unwrap(ctx context.Context, raw []byte) (*keyring, error) {
	pt, err := v.kek.Unwrap(ctx, raw)
	if err != nil {
		if errors.Is(err, ErrWrongKEK) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", ErrWrongKEK, err)
	}
	defer clear(pt)
	var doc keyringDoc
	if err := json.Unmarshal(pt, &doc); err != nil {
		return nil, fmt.Errorf("vault: keyring is corrupt: %w", err)
	}
	return buildRing(raw, doc)
}

func buildRing(raw []byte, doc keyringDoc) (*keyring, error) {
	r := &keyring{raw: raw, active: doc.Active, terms: map[uint32]cipher.AEAD{}, fingerprintKey: doc.FingerprintKey, doc: doc}
	for _, t := range doc.Terms {
		block, err := aes.NewCipher(t.Key)
		if err != nil {
			return nil, fmt.Errorf("vault: keyring term %d: %w", t.Term, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		r.terms[t.Term] = aead
	}
	if _, ok := r.terms[r.active]; !ok || len(r.fingerprintKey) != 32 {
		return nil, errors.New("vault: keyring is corrupt: no active term")
	}
	return r, nil
}

// write wraps doc and stores it if the stored keyring is still prev.
func (v *Vault) write(ctx context.Context, prev []byte, doc keyringDoc) error {
	pt, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	defer clear(pt)
	raw, err := v.kek.Wrap(ctx, pt)
	if err != nil {
		return fmt.Errorf("vault: wrap keyring: %w", err)
	}
	if err := v.store.PutKeyring(ctx, prev, raw); err != nil {
		return fmt.Errorf("vault: store keyring: %w", err)
	}
	ring, err := buildRing(raw, doc)
	if err != nil {
		return err
	}
	v.ring.Store(ring)
	return nil
}

// Rotate adds a new data-key term; new seals use it and older terms still
// open. It returns the new term.
func (v *Vault) Rotate(ctx context.Context) (uint32, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.reload(ctx); err != nil {
		return 0, err
	}
	cur := v.ring.Load()
	doc := cur.doc
	next := uint32(0)
	for _, t := range doc.Terms {
		next = max(next, t.Term)
	}
	next++
	doc.Terms = append(append([]termDoc(nil), doc.Terms...), termDoc{Term: next, Key: randomKey(), CreatedAt: time.Now().UTC()})
	doc.Active = next
	if err := v.write(ctx, cur.raw, doc); err != nil {
		return 0, err
	}
	return next, nil
}

// reload re-reads the keyring, picking up a rotation by another instance.
func (v *Vault) reload(ctx context.Context) error {
	raw, err := v.store.Keyring(ctx)
	if err != nil {
		return fmt.Errorf("vault: load keyring: %w", err)
	}
	if string(raw) == string(v.ring.Load().raw) {
		return nil
	}
	ring, err := v.unwrap(ctx, raw)
	if err != nil {
		return err
	}
	v.ring.Store(ring)
	return nil
}

// Seal encrypts plaintext for the place named by ad.
func (v *Vault) Seal(plaintext []byte, ad AD) ([]byte, error) {
	r := v.ring.Load()
	aead := r.terms[r.active]
	out := make([]byte, headerLen, headerLen+len(plaintext)+aead.Overhead())
	binary.BigEndian.PutUint32(out, r.active)
	out[4] = formatV1
	rand.Read(out[5:headerLen])
	var adBuf [128]byte
	return aead.Seal(out, out[5:headerLen], plaintext, ad.appendTo(append(adBuf[:0], out[:5]...))), nil
}

// Open decrypts a ciphertext made by Seal with the same ad. The caller
// should clear the plaintext when done with it.
func (v *Vault) Open(ciphertext []byte, ad AD) ([]byte, error) {
	if len(ciphertext) < headerLen || ciphertext[4] != formatV1 {
		return nil, ErrDecrypt
	}
	term := binary.BigEndian.Uint32(ciphertext)
	aead, ok := v.ring.Load().terms[term]
	if !ok {
		// Another instance may have rotated: look once more.
		if v.reload(context.Background()) != nil {
			return nil, ErrDecrypt
		}
		if aead, ok = v.ring.Load().terms[term]; !ok {
			return nil, ErrDecrypt
		}
	}
	var adBuf [128]byte
	pt, err := aead.Open(nil, ciphertext[5:headerLen], ciphertext[headerLen:], ad.appendTo(append(adBuf[:0], ciphertext[:5]...)))
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// ActiveTerm is the term new seals use.
func (v *Vault) ActiveTerm() uint32 { return v.ring.Load().active }

// Fingerprint identifies a secret without revealing it: a keyed hash
// (HMAC-SHA-256 under a key in the keyring), so even a short, guessable
// secret cannot be brute-forced from its fingerprint.
func (v *Vault) Fingerprint(secret []byte) string {
	m := hmac.New(sha256.New, v.ring.Load().fingerprintKey)
	m.Write(secret)
	return "hmac-sha256:" + hex.EncodeToString(m.Sum(nil)[:12])
}

// Check proves the keyring is usable (a seal/open round trip); /readyz
// uses it.
func (v *Vault) Check() error {
	ad := AD{Field: "readiness"}
	ct, err := v.Seal([]byte("ok"), ad)
	if err != nil {
		return err
	}
	_, err = v.Open(ct, ad)
	return err
}

// CredentialAD is where a credential version's secret material is bound:
// its workspace, integration and id.
func CredentialAD(c store.Credential) AD {
	return AD{Workspace: c.WorkspaceID, Integration: c.IntegrationID, Credential: c.ID, Field: "secret"}
}
