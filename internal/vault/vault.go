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
	"log/slog"
	"math"
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

// UsageStore counts encryptions per data-key term across every instance
// (store.Store satisfies it). When the KeyringStore given to Open is also
// a UsageStore, the vault counts its seals there and rotates the data key
// automatically (see Options.RotateAfter).
type UsageStore interface {
	AddKeyUsage(ctx context.Context, term uint32, n int64) (int64, error)
}

// Defaults of Options.
const (
	// DefaultRotateAfter is half of the 2^32 encryptions NIST SP 800-38D
	// allows one AES-GCM key with random 96-bit nonces. The other half is
	// margin for seals made while the rotation propagates: every instance
	// keeps sealing under the old term until it reloads the keyring.
	DefaultRotateAfter int64 = 1 << 31
	// DefaultReserveBlock is the largest block of encryptions an instance
	// reserves in the store at a time; blocks start at 1024 and double.
	DefaultReserveBlock int64 = 1 << 20
)

// Options tune a Vault; the zero value means the defaults.
type Options struct {
	// RotateAfter is how many encryptions, counted across every instance
	// sharing the store, a data-key term may have before the vault adds
	// a new term (automatic rotation). 0 means DefaultRotateAfter; a
	// negative value turns automatic rotation off (usage is still
	// counted).
	RotateAfter int64
	// ReserveBlock caps the block of encryptions reserved in the store at
	// a time; 0 means DefaultReserveBlock. Counts are reserved before the
	// seals they cover, so the stored count is never below the number of
	// encryptions made (except those made while the store is failing).
	ReserveBlock int64
	// Logger receives background failures (usage counting, automatic
	// rotation); default slog.Default().
	Logger *slog.Logger
	// LearnMissTTL is how long, after a keyring read found no newer term,
	// a ciphertext of the next term fails without another read; 0 means
	// DefaultLearnMissTTL. Ciphertexts come from cookies anyone can send,
	// so an unknown term must not cost a database read per request.
	LearnMissTTL time.Duration
	// LearnTimeout bounds that keyring read; 0 means DefaultLearnTimeout.
	LearnTimeout time.Duration
	// Now is the clock of the miss cache; default time.Now.
	Now func() time.Time
}

// Defaults of Options for terms the vault does not know yet.
const (
	DefaultLearnMissTTL = 2 * time.Second
	DefaultLearnTimeout = 5 * time.Second
)

// Vault seals and opens secrets. It is safe for concurrent use.
type Vault struct {
	kek   KEK
	store KeyringStore
	usage UsageStore // nil: no counting
	opts  Options
	ring  atomic.Pointer[keyring]
	mu    sync.Mutex // serialises keyring changes in this process

	learnMu sync.Mutex // one keyring read at a time for unknown terms
	// missed remembers the last read that found no term above maxTerm,
	// so callers fail fast until it expires.
	missed atomic.Pointer[learnMiss]

	usageMu  sync.Mutex
	counters map[uint32]*termUsage

	autoRotating atomic.Bool
	onRotate     atomic.Pointer[func(term uint32)]

	// Background work (usage reservations, automatic rotation) is
	// counted so Close can wait for it: none of it may outlive the store.
	bgMu     sync.Mutex
	bg       sync.WaitGroup
	closed   bool
	closing  chan struct{}
	closeOne sync.Once
}

// goBackground runs fn in a goroutine Close waits for; after Close it
// reports false and runs nothing.
func (v *Vault) goBackground(fn func()) bool {
	v.bgMu.Lock()
	defer v.bgMu.Unlock()
	if v.closed {
		return false
	}
	v.bg.Add(1)
	go func() {
		defer v.bg.Done()
		fn()
	}()
	return true
}

// Close stops starting background work and waits for what runs (a usage
// reservation or an automatic rotation with its callback, each bounded
// by a timeout). Seals and opens keep working; their usage is no longer
// counted.
func (v *Vault) Close() {
	v.closeOne.Do(func() {
		v.bgMu.Lock()
		v.closed = true
		v.bgMu.Unlock()
		close(v.closing)
	})
	v.bg.Wait()
}

// learnMiss says a keyring read found nothing above maxTerm; until then,
// ciphertexts of maxTerm+1 fail without another read.
type learnMiss struct {
	maxTerm uint32
	until   time.Time
}

type keyring struct {
	raw            []byte // wrapped form as stored, for compare-and-swap
	active         uint32
	maxTerm        uint32
	terms          map[uint32]cipher.AEAD
	fingerprintKey []byte
	doc            keyringDoc
	use            *termUsage // counts seals under active; nil: no counting
}

// termUsage counts this process's seals under one term against the
// encryptions it has reserved for them in the store.
type termUsage struct {
	term     uint32
	used     atomic.Int64 // seals made by this process
	reserved atomic.Int64 // encryptions this process has counted in the store
	block    atomic.Int64 // size of the next reservation
	busy     atomic.Bool  // a reservation is in flight
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
	return OpenWithOptions(ctx, kek, ks, Options{})
}

// OpenWithOptions is Open with Options.
func OpenWithOptions(ctx context.Context, kek KEK, ks KeyringStore, opts Options) (*Vault, error) {
	if opts.RotateAfter == 0 {
		opts.RotateAfter = DefaultRotateAfter
	}
	if opts.ReserveBlock <= 0 {
		opts.ReserveBlock = DefaultReserveBlock
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.LearnMissTTL <= 0 {
		opts.LearnMissTTL = DefaultLearnMissTTL
	}
	if opts.LearnTimeout <= 0 {
		opts.LearnTimeout = DefaultLearnTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	v := &Vault{kek: kek, store: ks, opts: opts, counters: map[uint32]*termUsage{}, closing: make(chan struct{})}
	v.usage, _ = ks.(UsageStore)
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
		v.setRing(ring)
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
		// A KEK says ErrWrongKEK when its key refuses the keyring; other
		// errors (an unreachable KMS) are not a wrong --kek-url.
		return nil, fmt.Errorf("vault: unwrap keyring: %w", err)
	}
	defer clear(pt)
	var doc keyringDoc
	if err := json.Unmarshal(pt, &doc); err != nil {
		return nil, fmt.Errorf("vault: keyring is corrupt: %w", err)
	}
	r, err := buildRing(raw, doc)
	if err != nil {
		return nil, err
	}
	r.use = v.counter(r.active)
	return r, nil
}

// setRing makes r the current keyring unless the current one is newer
// (holds a later term): a slow reload must not undo a rotation.
func (v *Vault) setRing(r *keyring) {
	for {
		cur := v.ring.Load()
		if cur != nil && r.maxTerm < cur.maxTerm {
			return
		}
		if v.ring.CompareAndSwap(cur, r) {
			return
		}
	}
}

// counter returns the usage counter of term, or nil when the vault does
// not count.
func (v *Vault) counter(term uint32) *termUsage {
	if v.usage == nil {
		return nil
	}
	v.usageMu.Lock()
	defer v.usageMu.Unlock()
	u := v.counters[term]
	if u == nil {
		u = &termUsage{term: term}
		u.block.Store(min(1024, v.opts.ReserveBlock))
		v.counters[term] = u
	}
	return u
}

func buildRing(raw []byte, doc keyringDoc) (*keyring, error) {
	r := &keyring{raw: raw, active: doc.Active, terms: map[uint32]cipher.AEAD{}, fingerprintKey: doc.FingerprintKey, doc: doc}
	for _, t := range doc.Terms {
		// Only Rotate writes terms: numbered from 1, each once, each an
		// AES-256 key. Anything else is a damaged (or forged) keyring, and
		// aes.NewCipher alone would take a 16- or 24-byte key as AES-128/192.
		switch {
		case t.Term == 0:
			return nil, errors.New("vault: keyring is corrupt: term 0")
		case r.terms[t.Term] != nil:
			return nil, fmt.Errorf("vault: keyring is corrupt: term %d appears twice", t.Term)
		case len(t.Key) != 32:
			return nil, fmt.Errorf("vault: keyring is corrupt: term %d key is %d bytes, want 32", t.Term, len(t.Key))
		}
		r.maxTerm = max(r.maxTerm, t.Term)
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
	ring.use = v.counter(ring.active)
	v.setRing(ring)
	return nil
}

// Rotate adds a new data-key term; new seals use it and older terms still
// open. It returns the new term. Other instances start sealing under it
// when they next reload the keyring (Refresh) or meet a ciphertext of it.
func (v *Vault) Rotate(ctx context.Context) (uint32, error) {
	term, _, err := v.rotate(ctx, 0)
	return term, err
}

// rotate adds a new term if the active one is from (any term when from
// is 0); it returns the active term afterwards and whether it added it.
// A rotation by another instance at the same time is retried on top, or,
// with from set, taken as done.
func (v *Vault) rotate(ctx context.Context, from uint32) (uint32, bool, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if err := v.reload(ctx); err != nil {
			return 0, false, err
		}
		cur := v.ring.Load()
		if from != 0 && cur.active != from {
			return cur.active, false, nil
		}
		if cur.maxTerm == math.MaxUint32 {
			return 0, false, errors.New("vault: no data-key term left after 4294967295")
		}
		doc := cur.doc
		next := cur.maxTerm + 1
		doc.Terms = append(append([]termDoc(nil), doc.Terms...), termDoc{Term: next, Key: randomKey(), CreatedAt: time.Now().UTC()})
		doc.Active = next
		err := v.write(ctx, cur.raw, doc)
		if errors.Is(err, store.ErrConflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return 0, false, err
		}
		return next, true, nil
	}
}

// ErrStaleKEK means the stored keyring was re-wrapped under another
// key-encryption key (storm keys rotate-kek) since this process started:
// it keeps sealing and opening with the data keys it loaded, but cannot
// load keyring changes until restarted with the new --kek-url.
var ErrStaleKEK = errors.New("vault: the stored keyring was re-wrapped under another key-encryption key; restart with the new --kek-url (the keys loaded at start stay in use until then)")

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
	if errors.Is(err, ErrWrongKEK) {
		return ErrStaleKEK
	}
	if err != nil {
		return err
	}
	v.setRing(ring)
	return nil
}

// Refresh re-reads the keyring from the store, so a data-key rotation by
// another instance reaches this one's seals; the KEK is used only when
// the stored keyring changed. Servers call it periodically. After a KEK
// rotation it returns ErrStaleKEK and the vault keeps its keys.
func (v *Vault) Refresh(ctx context.Context) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.reload(ctx)
}

// OnRotate sets fn to be called (in its own goroutine) after this vault
// rotated the data key automatically; the key manager starts the re-wrap
// job from it.
func (v *Vault) OnRotate(fn func(term uint32)) { v.onRotate.Store(&fn) }

// count records one seal under r's active term and reserves more
// encryptions in the store ahead of need.
func (v *Vault) count(r *keyring) {
	u := r.use
	if u == nil {
		return
	}
	if u.used.Add(1)+u.block.Load()/2 > u.reserved.Load() && u.busy.CompareAndSwap(false, true) {
		if !v.goBackground(func() { v.reserve(u) }) {
			u.busy.Store(false)
		}
	}
}

// reserve counts a block of encryptions against u's term in the store,
// then rotates the data key if the term has reached RotateAfter.
func (v *Vault) reserve(u *termUsage) {
	defer u.busy.Store(false)
	for {
		used, reserved, block := u.used.Load(), u.reserved.Load(), u.block.Load()
		if used+block/2 <= reserved {
			return
		}
		n := block + max(0, used-reserved) // never below what was sealed
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		total, err := v.usage.AddKeyUsage(ctx, u.term, n)
		cancel()
		if err != nil {
			v.opts.Logger.Warn("vault: could not count data-key usage; retrying", "term", u.term, "err", err)
			select { // busy stays set: no retry storm
			case <-time.After(time.Second):
			case <-v.closing:
			}
			return
		}
		u.reserved.Add(n)
		u.block.Store(min(2*block, v.opts.ReserveBlock))
		if v.opts.RotateAfter > 0 && total >= v.opts.RotateAfter {
			v.autoRotate(u.term, total)
		}
	}
}

// autoRotate adds a new term if from is still the active one. Every
// instance may see the threshold at once; the keyring's compare-and-swap
// lets one of them rotate and the others find it done.
func (v *Vault) autoRotate(from uint32, total int64) {
	if !v.autoRotating.CompareAndSwap(false, true) {
		return
	}
	started := v.goBackground(func() {
		defer v.autoRotating.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		term, rotated, err := v.rotate(ctx, from)
		if err != nil {
			v.opts.Logger.Error("vault: automatic data-key rotation failed", "term", from, "encryptions", total, "err", err)
			return
		}
		if !rotated {
			return
		}
		v.opts.Logger.Info("vault: rotated the data key automatically", "from", from, "to", term, "encryptions", total, "limit", v.opts.RotateAfter)
		if fn := v.onRotate.Load(); fn != nil {
			(*fn)(term)
		}
	})
	if !started {
		v.autoRotating.Store(false)
	}
}

// Seal encrypts plaintext for the place named by ad.
func (v *Vault) Seal(plaintext []byte, ad AD) ([]byte, error) {
	r := v.ring.Load()
	v.count(r)
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
		if aead, ok = v.learn(term); !ok {
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

// learn reloads the keyring for a term this process does not know.
// Ciphertexts reach Open from anyone (a forged session cookie), so an
// unknown term is cheap to refuse: terms are numbered in order and never
// removed, so only the term right after the newest known one can have
// appeared since the last reload (the keyring poll catches up with
// several rotations); anything else fails without a read. Concurrent
// callers share one bounded read, and a read that found nothing makes
// the next LearnMissTTL of callers fail without reading again.
func (v *Vault) learn(term uint32) (cipher.AEAD, bool) {
	if !v.mayLearn(v.ring.Load(), term) {
		return nil, false
	}
	v.learnMu.Lock()
	defer v.learnMu.Unlock()
	r := v.ring.Load()
	if aead, ok := r.terms[term]; ok {
		return aead, true // another caller's read found it
	}
	if !v.mayLearn(r, term) {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), v.opts.LearnTimeout)
	err := v.reload(ctx)
	cancel()
	if aead, ok := v.ring.Load().terms[term]; ok {
		return aead, true
	}
	if err != nil {
		v.opts.Logger.Warn("vault: could not reload the keyring for a newer data-key term", "term", term, "err", err)
	}
	v.missed.Store(&learnMiss{maxTerm: r.maxTerm, until: v.opts.Now().Add(v.opts.LearnMissTTL)})
	return nil, false
}

// mayLearn reports whether a keyring read could find term, unknown to
// ring r: it is the next term and no recent read missed it.
func (v *Vault) mayLearn(r *keyring, term uint32) bool {
	if term != r.maxTerm+1 {
		return false
	}
	m := v.missed.Load()
	return m == nil || m.maxTerm != r.maxTerm || !v.opts.Now().Before(m.until)
}

// ActiveTerm is the term new seals use.
func (v *Vault) ActiveTerm() uint32 { return v.ring.Load().active }

// Term reports the data-key term a ciphertext made by Seal was sealed
// under, or false when it is not one.
func Term(ciphertext []byte) (uint32, bool) {
	if len(ciphertext) < headerLen || ciphertext[4] != formatV1 {
		return 0, false
	}
	return binary.BigEndian.Uint32(ciphertext), true
}

// TermInfo describes one data-key term, never its key.
type TermInfo struct {
	Term      uint32
	CreatedAt time.Time
}

// Info is the keyring as this process has it loaded: the active term and
// every term, oldest first.
type Info struct {
	Active uint32
	Terms  []TermInfo
}

// Info describes the loaded keyring without revealing a key.
func (v *Vault) Info() Info {
	r := v.ring.Load()
	out := Info{Active: r.active}
	for _, t := range r.doc.Terms {
		out.Terms = append(out.Terms, TermInfo{Term: t.Term, CreatedAt: t.CreatedAt})
	}
	return out
}

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

// ConfigAD is where an integration's secret configuration
// (Integration.SecretConfig) is bound: its workspace and id.
func ConfigAD(in store.Integration) AD {
	return AD{Workspace: in.WorkspaceID, Integration: in.ID, Field: "config"}
}

// CredentialAD is where a credential version's secret material is bound:
// its workspace, integration and id.
func CredentialAD(c store.Credential) AD {
	return AD{Workspace: c.WorkspaceID, Integration: c.IntegrationID, Credential: c.ID, Field: "secret"}
}
