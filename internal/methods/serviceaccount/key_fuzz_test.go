package serviceaccount

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzPrivateKey feeds arbitrary text to the strict PEM private-key
// reader behind every key upload (PKCS #8, PKCS #1, SEC 1). A refusal is
// a *KeyError that quotes none of the PEM body. An accepted key is of an
// allowed algorithm and size, signs, and is the same key after being
// written out again as PKCS #8 and in its own format (PKCS #1 for RSA,
// SEC 1 for EC) and read back. Seeds: the FuzzParsePEMKey corpus.
func FuzzPrivateKey(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzParsePEMKey", "*"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		line := strings.Split(string(b), "\n")[1]
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(line, "string("), ")"))
		if err != nil {
			f.Fatalf("%s: %v", name, err)
		}
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		k, err := PrivateKey(text)
		if err != nil {
			var ke *KeyError
			if !errors.As(err, &ke) || k != nil {
				t.Fatalf("refusal %T %v with key %v", err, err, k != nil)
			}
			for _, line := range strings.Split(text, "\n") {
				line = strings.TrimSpace(line)
				if strings.HasPrefix(line, "-----") || len(line) < 16 {
					continue
				}
				for i := 0; i+16 <= len(line); i += 8 {
					if strings.Contains(err.Error(), line[i:i+16]) {
						t.Fatalf("error %q quotes the input", err)
					}
				}
			}
			return
		}
		alg, bits := KeyInfo(k)
		switch kk := k.(type) {
		case *rsa.PrivateKey:
			if bits < MinRSABits || bits > MaxRSABits {
				t.Fatalf("accepted a %d-bit RSA key", bits)
			}
			reread(t, k, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(kk))
		case *ecdsa.PrivateKey:
			if alg != "EC P-256" && alg != "EC P-384" && alg != "EC P-521" {
				t.Fatalf("accepted %s", alg)
			}
			der, err := x509.MarshalECPrivateKey(kk)
			if err != nil {
				t.Fatalf("SEC 1: %v", err)
			}
			reread(t, k, "EC PRIVATE KEY", der)
		case ed25519.PrivateKey:
		default:
			t.Fatalf("accepted a %T", k)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatalf("PKCS #8: %v", err)
		}
		reread(t, k, "PRIVATE KEY", der)

		digest := sha256.Sum256([]byte("storm"))
		var opts crypto.SignerOpts = crypto.SHA256
		if _, ok := k.(ed25519.PrivateKey); ok {
			opts = crypto.Hash(0)
		}
		msg := digest[:]
		if opts == crypto.Hash(0) {
			msg = []byte("storm")
		}
		sig, err := k.Sign(rand.Reader, msg, opts)
		if err != nil {
			t.Fatalf("accepted %s key does not sign: %v", alg, err)
		}
		ok := false
		switch pub := k.Public().(type) {
		case *rsa.PublicKey:
			ok = rsa.VerifyPKCS1v15(pub, crypto.SHA256, msg, sig) == nil
		case *ecdsa.PublicKey:
			ok = ecdsa.VerifyASN1(pub, msg, sig)
		case ed25519.PublicKey:
			ok = ed25519.Verify(pub, msg, sig)
		}
		if !ok {
			t.Fatalf("accepted %s key's signature does not verify with its public key", alg)
		}
	})
}

// reread writes der as a PEM block of typ and reads it back through
// PrivateKey: it must be the same key.
func reread(t *testing.T, k crypto.Signer, typ string, der []byte) {
	t.Helper()
	back, err := PrivateKey(string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})))
	if err != nil {
		t.Fatalf("the accepted key written as %s is refused: %v", typ, err)
	}
	if !k.(interface{ Equal(crypto.PrivateKey) bool }).Equal(back) {
		t.Fatalf("the accepted key written as %s reads back as another key", typ)
	}
}
