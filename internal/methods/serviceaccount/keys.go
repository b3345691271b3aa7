package serviceaccount

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// MinRSABits is the smallest RSA key accepted.
const MinRSABits = 2048

// PrivateKey parses exactly one PEM private key (PKCS#8 "PRIVATE KEY",
// PKCS#1 "RSA PRIVATE KEY" or SEC 1 "EC PRIVATE KEY"). Encrypted keys,
// other block types, trailing data, RSA keys under 2048 bits and EC curves
// other than P-256/P-384/P-521 are refused. Errors never contain key
// material.
func PrivateKey(pemText string) (crypto.Signer, error) {
	blocks, err := pemBlocks(pemText)
	if err != nil {
		return nil, err
	}
	var keys []*pem.Block
	for _, b := range blocks {
		if strings.HasSuffix(b.Type, "PRIVATE KEY") {
			keys = append(keys, b)
		} else {
			return nil, fmt.Errorf("unexpected PEM block %q (want one private key)", truncate(b.Type))
		}
	}
	if len(keys) != 1 {
		return nil, fmt.Errorf("want exactly one private key, found %d", len(keys))
	}
	return privateKey(keys[0])
}

func privateKey(b *pem.Block) (crypto.Signer, error) {
	if _, encrypted := b.Headers["Proc-Type"]; encrypted || b.Type == "ENCRYPTED PRIVATE KEY" {
		return nil, errors.New("the private key is encrypted; upload it without a passphrase")
	}
	var key any
	var err error
	switch b.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("unsupported private key type %q", truncate(b.Type))
	}
	if err != nil {
		return nil, errors.New("the private key cannot be parsed")
	}
	return checkKey(key)
}

func checkKey(key any) (crypto.Signer, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < MinRSABits {
			return nil, fmt.Errorf("the RSA key has %d bits; at least %d are required", k.N.BitLen(), MinRSABits)
		}
		if err := k.Validate(); err != nil {
			return nil, errors.New("the RSA key is inconsistent")
		}
		return k, nil
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return k, nil
		}
		return nil, errors.New("the EC key uses an unsupported curve (want P-256, P-384 or P-521)")
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, errors.New("unsupported private key algorithm")
}

// pemBlocks splits text into PEM blocks, refusing anything that is not
// PEM (text before, between or after blocks other than whitespace).
func pemBlocks(text string) ([]*pem.Block, error) {
	rest := []byte(strings.TrimSpace(text))
	if len(rest) == 0 {
		return nil, errors.New("empty: paste the PEM text")
	}
	var blocks []*pem.Block
	for len(rest) > 0 {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("not PEM: expected -----BEGIN …----- blocks only")
		}
		blocks = append(blocks, b)
		rest = []byte(strings.TrimSpace(string(rest)))
		if len(blocks) > 16 {
			return nil, errors.New("too many PEM blocks")
		}
	}
	return blocks, nil
}

// KeyInfo names a key's algorithm and size.
func KeyInfo(k crypto.Signer) (alg string, bits int) {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return "RSA", k.N.BitLen()
	case *ecdsa.PrivateKey:
		return "EC " + k.Curve.Params().Name, k.Curve.Params().BitSize
	case ed25519.PrivateKey:
		return "Ed25519", 256
	}
	return "unknown", 0
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
