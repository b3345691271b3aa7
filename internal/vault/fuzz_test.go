package vault

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// The decrypt path takes ciphertexts from storage (untrusted) and, for
// session cookies, from anyone. These targets check that nothing but the
// exact bytes Seal produced, under the exact AD, ever opens, and that a
// keyring the vault accepts is one it can use safely. Seeds are in
// testdata/fuzz/<target>/.

// fuzzVault is a vault with two data-key terms (1 and 2, 2 active) and a
// ciphertext sealed under each.
type fuzzVault struct {
	v     *Vault
	known []sealed
}

type sealed struct {
	ct, pt []byte
	ad     AD
}

func newFuzzVault(f *testing.F) *fuzzVault {
	v := newVault(f)
	f.Cleanup(v.Close)
	fv := &fuzzVault{v: v}
	seal := func(pt string, ad AD) {
		ct, err := v.Seal([]byte(pt), ad)
		if err != nil {
			f.Fatal(err)
		}
		fv.known = append(fv.known, sealed{ct, []byte(pt), ad})
	}
	seal("term one secret", AD{Workspace: "ws_1", Integration: "int_1", Credential: "cred_1", Field: "secret"})
	if _, err := v.Rotate(context.Background()); err != nil {
		f.Fatal(err)
	}
	seal("term two secret", AD{Workspace: "ws_1", Integration: "int_1", Field: "config"})
	return fv
}

// mustNotOpen fails t unless Open refuses ct under ad with exactly
// ErrDecrypt and no plaintext.
func mustNotOpen(t *testing.T, v *Vault, ct []byte, ad AD, secrets ...[]byte) {
	t.Helper()
	pt, err := v.Open(ct, ad)
	if err == nil || pt != nil {
		t.Fatalf("Open(%x, %+v) = %q, %v; want ErrDecrypt and no plaintext", ct, ad, pt, err)
	}
	if err != ErrDecrypt {
		t.Fatalf("Open error %v is not ErrDecrypt", err)
	}
	for _, s := range secrets {
		if len(s) >= 4 && strings.Contains(err.Error(), string(s)) {
			t.Fatalf("error %q holds the plaintext", err)
		}
	}
}

// mutate applies ops to a copy of ct: each 3-byte op (kind, position,
// value) flips bits of a byte, truncates, appends a byte, rewrites the
// term or the format byte, or swaps two bytes.
func mutate(ct, ops []byte) []byte {
	out := bytes.Clone(ct)
	for i := 0; i+2 < len(ops) && i < 3*16; i += 3 {
		kind, pos, val := ops[i]%6, int(ops[i+1]), ops[i+2]
		switch {
		case kind == 0 && len(out) > 0:
			out[pos%len(out)] ^= val | 1 // never a no-op
		case kind == 1:
			out = out[:pos%(len(out)+1)]
		case kind == 2:
			out = append(out, val)
		case kind == 3 && len(out) >= 4:
			binary.BigEndian.PutUint32(out, binary.BigEndian.Uint32(out)+uint32(val)+1)
		case kind == 4 && len(out) >= 5:
			out[4] = val
		case kind == 5 && len(out) > 1:
			a, b := pos%len(out), int(val)%len(out)
			out[a], out[b] = out[b], out[a]
		}
	}
	return out
}

// otherADs are places next to ad that must not open its ciphertexts:
// each field changed, fields swapped, and the same concatenated text split
// differently (the AD encoding must be unambiguous).
func otherADs(ad AD) []AD {
	out := []AD{
		{ad.Workspace + "x", ad.Integration, ad.Credential, ad.Field},
		{ad.Workspace, ad.Integration + "x", ad.Credential, ad.Field},
		{ad.Workspace, ad.Integration, ad.Credential + "x", ad.Field},
		{ad.Workspace, ad.Integration, ad.Credential, ad.Field + "x"},
		{ad.Integration, ad.Workspace, ad.Credential, ad.Field},
		{ad.Workspace, ad.Integration, ad.Field, ad.Credential},
		{ad.Workspace + ad.Integration, "", ad.Credential, ad.Field},
		{ad.Workspace, ad.Integration + ad.Credential, "", ad.Field},
		{ad.Workspace, ad.Integration, ad.Credential + ad.Field, ""},
	}
	if ad.Workspace != "" {
		out = append(out, AD{ad.Workspace[:len(ad.Workspace)-1], ad.Workspace[len(ad.Workspace)-1:] + ad.Integration, ad.Credential, ad.Field})
	}
	kept := out[:0]
	for _, o := range out {
		if o != ad {
			kept = append(kept, o)
		}
	}
	return kept
}

// FuzzOpenTampered seals a fuzzed plaintext under a fuzzed AD, then
// checks that it opens to exactly that plaintext, and that any change to
// the ciphertext (ops) or to the AD makes Open fail with ErrDecrypt and
// no plaintext.
func FuzzOpenTampered(f *testing.F) {
	fv := newFuzzVault(f)
	f.Add([]byte("sk_live_0123456789"), "ws_1", "int_1", "cred_1", "secret", []byte{0, 20, 1})
	f.Add([]byte{}, "", "", "", "", []byte{1, 16, 0})
	f.Add([]byte("x"), "ws", "int", "", "config", []byte{3, 0, 0})
	f.Add([]byte(`{"client_secret":"s"}`), "a", "bc", "d", "e", []byte{4, 0, 2, 2, 0, 7})
	f.Fuzz(func(t *testing.T, pt []byte, ws, integ, cred, field string, ops []byte) {
		v := fv.v
		ad := AD{ws, integ, cred, field}
		ct, err := v.Seal(pt, ad)
		if err != nil {
			t.Fatal(err)
		}
		if term, ok := Term(ct); !ok || term != v.ActiveTerm() {
			t.Fatalf("Term(ct) = %d, %v; want the active term %d", term, ok, v.ActiveTerm())
		}
		got, err := v.Open(ct, ad)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("round trip: %q, %v; want %q", got, err, pt)
		}
		if m := mutate(ct, ops); !bytes.Equal(m, ct) {
			mustNotOpen(t, v, m, ad, pt)
		}
		for _, o := range otherADs(ad) {
			mustNotOpen(t, v, ct, o, pt)
		}
		// A ciphertext of another place never opens here, even with its
		// header spliced onto ours.
		for _, k := range fv.known {
			if k.ad != ad {
				mustNotOpen(t, v, k.ct, ad, k.pt)
			}
			if len(ct) >= headerLen {
				spliced := append(bytes.Clone(k.ct[:headerLen]), ct[headerLen:]...)
				if !bytes.Equal(spliced, ct) {
					mustNotOpen(t, v, spliced, ad, pt)
				}
			}
		}
	})
}

// FuzzOpenForged hands Open arbitrary bytes, as a forged session cookie
// or a corrupted row would be: only the exact ciphertexts Seal made, under
// their own AD, open.
func FuzzOpenForged(f *testing.F) {
	fv := newFuzzVault(f)
	for _, k := range fv.known {
		f.Add(k.ct, k.ad.Workspace, k.ad.Integration, k.ad.Credential, k.ad.Field)
		f.Add(k.ct[:headerLen], k.ad.Workspace, k.ad.Integration, k.ad.Credential, k.ad.Field)
	}
	f.Add([]byte{0, 0, 0, 3, 1}, "", "", "", "")                               // the next term: one keyring read
	f.Add(bytes.Repeat([]byte{0xff}, 64), "ws_1", "int_1", "cred_1", "secret") // an unknown, far term
	f.Fuzz(func(t *testing.T, ct []byte, ws, integ, cred, field string) {
		ad := AD{ws, integ, cred, field}
		for _, k := range fv.known {
			if bytes.Equal(ct, k.ct) && ad == k.ad {
				got, err := fv.v.Open(ct, ad)
				if err != nil || !bytes.Equal(got, k.pt) {
					t.Fatalf("known ciphertext: %q, %v", got, err)
				}
				return
			}
		}
		var pts [][]byte
		for _, k := range fv.known {
			pts = append(pts, k.pt)
		}
		mustNotOpen(t, fv.v, ct, ad, pts...)
	})
}

// FuzzKeyringDoc stores an arbitrary keyring document, wrapped under the
// right KEK (as only a KEK holder could write it), and opens a vault on
// it. A keyring the vault accepts must be usable and safe: every term an
// AES-256 key with a distinct positive number, the active term among
// them, seals that open, and a rotation that adds a newer term. A refused
// one gives an error that quotes no key.
func FuzzKeyringDoc(f *testing.F) {
	kek := testKEK(f, 1)
	key := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }
	for _, doc := range []keyringDoc{
		{Active: 1, FingerprintKey: key(9), Terms: []termDoc{{Term: 1, Key: key(1)}}},
		{Active: 2, FingerprintKey: key(9), Terms: []termDoc{{Term: 1, Key: key(1)}, {Term: 2, Key: key(2), CreatedAt: time.Unix(1_700_000_000, 0).UTC()}}},
		{Active: 1, FingerprintKey: key(9), Terms: []termDoc{{Term: 1, Key: key(1)[:16]}}},
		{Active: 1, FingerprintKey: key(9), Terms: []termDoc{{Term: 1, Key: key(1)}, {Term: 1, Key: key(2)}}},
		{Active: 0, FingerprintKey: key(9), Terms: []termDoc{{Term: 0, Key: key(1)}}},
		{Active: 1<<32 - 1, FingerprintKey: key(9), Terms: []termDoc{{Term: 1<<32 - 1, Key: key(1)}}},
		{Active: 3, FingerprintKey: key(9), Terms: []termDoc{{Term: 1, Key: key(1)}}},
	} {
		b, _ := json.Marshal(doc)
		f.Add(b)
	}
	f.Add([]byte(`{"active":1,"fingerprint_key":null,"terms":[{"term":1,"key":"!!"}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		ctx := context.Background()
		raw, err := kek.Wrap(ctx, doc)
		if err != nil {
			t.Fatal(err)
		}
		ks := &memKeyring{raw: raw}
		v, err := Open(ctx, kek, ks)
		var parsed keyringDoc
		jsonErr := json.Unmarshal(doc, &parsed)
		if err != nil {
			if v != nil {
				t.Fatal("Open returned a vault with an error")
			}
			msg := err.Error()
			if jsonErr == nil {
				for _, k := range append([][]byte{parsed.FingerprintKey}, keysOf(parsed)...) {
					if len(k) >= 8 && (strings.Contains(msg, base64.StdEncoding.EncodeToString(k)) ||
						strings.Contains(msg, hex.EncodeToString(k)) || strings.Contains(msg, string(k))) {
						t.Fatalf("error %q quotes a key", msg)
					}
				}
			}
			if _, infoErr := infoOf(doc); infoErr == nil {
				t.Fatalf("Open refused (%v) a keyring RewrapKEK accepts", err)
			}
			return
		}
		defer v.Close()
		if jsonErr != nil {
			t.Fatalf("a keyring that is not a keyringDoc opened: %v", jsonErr)
		}
		if _, infoErr := infoOf(doc); infoErr != nil {
			t.Fatalf("RewrapKEK refuses (%v) a keyring Open accepts", infoErr)
		}
		seen := map[uint32]bool{}
		activeFound := false
		for _, td := range parsed.Terms {
			if td.Term == 0 || seen[td.Term] || len(td.Key) != 32 {
				t.Fatalf("accepted keyring term %d with a %d-byte key (duplicate: %v)", td.Term, len(td.Key), seen[td.Term])
			}
			seen[td.Term] = true
			activeFound = activeFound || td.Term == parsed.Active
		}
		if !activeFound || len(parsed.FingerprintKey) != 32 {
			t.Fatalf("accepted keyring without its active term %d or fingerprint key", parsed.Active)
		}
		// Seals use the active term's key as stored: a ciphertext opens
		// with an AEAD built independently from the document.
		ad := AD{Field: "fuzz"}
		ct, err := v.Seal([]byte("plaintext"), ad)
		if err != nil {
			t.Fatal(err)
		}
		if term, _ := Term(ct); term != parsed.Active {
			t.Fatalf("sealed under term %d, active is %d", term, parsed.Active)
		}
		for _, td := range parsed.Terms {
			if td.Term != parsed.Active {
				continue
			}
			block, _ := aes.NewCipher(td.Key)
			aead, _ := cipher.NewGCM(block)
			if _, err := aead.Open(nil, ct[5:headerLen], ct[headerLen:], ad.appendTo(bytes.Clone(ct[:5]))); err != nil {
				t.Fatalf("seal does not use the active term's key: %v", err)
			}
		}
		if err := v.Check(); err != nil {
			t.Fatalf("Check: %v", err)
		}
		maxTerm := uint32(0)
		for _, td := range parsed.Terms {
			maxTerm = max(maxTerm, td.Term)
		}
		next, err := v.Rotate(ctx)
		if err != nil {
			if maxTerm != 1<<32-1 {
				t.Fatalf("Rotate: %v", err)
			}
			return
		}
		if next <= maxTerm || seen[next] {
			t.Fatalf("Rotate gave term %d; terms so far reach %d", next, maxTerm)
		}
		if got, err := v.Open(ct, ad); err != nil || string(got) != "plaintext" {
			t.Fatalf("after rotation the old ciphertext: %q, %v", got, err)
		}
	})
}

func keysOf(d keyringDoc) [][]byte {
	var out [][]byte
	for _, t := range d.Terms {
		out = append(out, t.Key)
	}
	return out
}

// TestKeyringRefusesMalformedTerms: found by FuzzKeyringDoc. A keyring
// with a 16- or 24-byte term key (silently AES-128/192), a term listed
// twice (which key seals was the map's last write) or a term 0 opened;
// and rotating a keyring whose newest term is 2^32-1 wrapped to term 0.
// The inputs are in testdata/fuzz/FuzzKeyringDoc/regression_*.
func TestKeyringRefusesMalformedTerms(t *testing.T) {
	kek := testKEK(t, 1)
	key := func(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }
	for name, doc := range map[string]keyringDoc{
		"aes-128 key":    {Active: 1, FingerprintKey: key(9, 32), Terms: []termDoc{{Term: 1, Key: key(1, 16)}}},
		"aes-192 key":    {Active: 1, FingerprintKey: key(9, 32), Terms: []termDoc{{Term: 1, Key: key(1, 24)}}},
		"duplicate term": {Active: 1, FingerprintKey: key(9, 32), Terms: []termDoc{{Term: 1, Key: key(1, 32)}, {Term: 1, Key: key(2, 32)}}},
		"term 0":         {Active: 0, FingerprintKey: key(9, 32), Terms: []termDoc{{Term: 0, Key: key(1, 32)}}},
	} {
		pt, _ := json.Marshal(doc)
		raw, _ := kek.Wrap(context.Background(), pt)
		if v, err := Open(context.Background(), kek, &memKeyring{raw: raw}); err == nil {
			v.Close()
			t.Errorf("%s: keyring opened", name)
		} else if !strings.Contains(err.Error(), "keyring is corrupt") {
			t.Errorf("%s: error %v", name, err)
		}
		if _, err := infoOf(pt); err == nil {
			t.Errorf("%s: infoOf (RewrapKEK) accepted it", name)
		}
	}

	last := keyringDoc{Active: 1<<32 - 1, FingerprintKey: key(9, 32), Terms: []termDoc{{Term: 1<<32 - 1, Key: key(1, 32)}}}
	pt, _ := json.Marshal(last)
	raw, _ := kek.Wrap(context.Background(), pt)
	v, err := Open(context.Background(), kek, &memKeyring{raw: raw})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if term, err := v.Rotate(context.Background()); err == nil {
		t.Fatalf("Rotate past 2^32-1 gave term %d", term)
	}
	if v.ActiveTerm() != 1<<32-1 {
		t.Fatalf("active term %d after a refused rotation", v.ActiveTerm())
	}
}
