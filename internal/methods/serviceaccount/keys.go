package serviceaccount

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
)

// MinRSABits is the smallest RSA key accepted.
const MinRSABits = 2048

// MaxRSABits is the largest RSA key accepted: bigger keys only make
// parsing and signing slow.
const MaxRSABits = 8192

// maxPEMBlocks bounds the blocks in one PEM text (a certificate chain
// plus its key).
const maxPEMBlocks = 16

// KeyError is the error of PrivateKey and of the other PEM readers here.
// Its message never contains key material. Rejected tells a key that was
// read but is refused (too weak, encrypted, an unsupported algorithm)
// from text that is not a readable PEM private key.
type KeyError struct {
	Msg      string
	Rejected bool
}

func (e *KeyError) Error() string { return e.Msg }

func malformedKey(format string, args ...any) error {
	return &KeyError{Msg: fmt.Sprintf(format, args...)}
}

func rejectedKey(format string, args ...any) error {
	return &KeyError{Msg: fmt.Sprintf(format, args...), Rejected: true}
}

// PrivateKey parses exactly one PEM private key (PKCS#8 "PRIVATE KEY",
// PKCS#1 "RSA PRIVATE KEY" or SEC 1 "EC PRIVATE KEY"). Encrypted keys,
// other block types, text around the block, RSA keys under 2048 (or over
// 8192) bits and EC curves other than P-256/P-384/P-521 are refused.
// Errors are *KeyError and never contain key material.
func PrivateKey(pemText string) (crypto.Signer, error) {
	blocks, err := pemBlocks(pemText)
	if err != nil {
		return nil, err
	}
	var keys []*pem.Block
	for _, b := range blocks {
		if !isPrivateKeyBlock(b.Type) {
			return nil, malformedKey("unexpected %s (want one private key)", describeBlock(b.Type))
		}
		keys = append(keys, b)
	}
	if len(keys) != 1 {
		return nil, malformedKey("want exactly one private key, found %d", len(keys))
	}
	return privateKey(keys[0])
}

func isPrivateKeyBlock(typ string) bool { return strings.HasSuffix(typ, "PRIVATE KEY") }

func privateKey(b *pem.Block) (crypto.Signer, error) {
	if _, encrypted := b.Headers["Proc-Type"]; encrypted || b.Type == "ENCRYPTED PRIVATE KEY" {
		return nil, rejectedKey("the private key is encrypted; upload it without a passphrase (openssl pkey -in key.pem -out plain.pem)")
	}
	if len(b.Headers) > 0 {
		return nil, malformedKey("the private key block has unexpected PEM headers")
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
	case "OPENSSH PRIVATE KEY":
		return nil, rejectedKey("this is an OpenSSH key; convert it to PKCS#8 first (ssh-keygen -p -m PKCS8 -f <file>)")
	default:
		return nil, rejectedKey("unsupported private key type %s", describeBlock(b.Type))
	}
	if err != nil {
		return nil, malformedKey("the private key cannot be parsed")
	}
	return checkKey(key)
}

func checkKey(key any) (crypto.Signer, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if n := k.N.BitLen(); n < MinRSABits {
			return nil, rejectedKey("the RSA key has %d bits; at least %d are required", n, MinRSABits)
		} else if n > MaxRSABits {
			return nil, rejectedKey("the RSA key has %d bits; at most %d are supported", n, MaxRSABits)
		}
		if err := k.Validate(); err != nil {
			return nil, rejectedKey("the RSA key is inconsistent")
		}
		return k, nil
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return k, nil
		}
		return nil, rejectedKey("the EC key uses an unsupported curve (want P-256, P-384 or P-521)")
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, rejectedKey("unsupported private key algorithm")
}

// pemBlocks splits text into PEM blocks, refusing anything that is not
// PEM: text before, between or after blocks other than whitespace, blocks
// pem.Decode would skip as malformed, and more than maxPEMBlocks blocks.
func pemBlocks(text string) ([]*pem.Block, error) {
	rest := bytes.TrimSpace([]byte(text))
	if len(rest) == 0 {
		return nil, malformedKey("empty: paste the PEM text")
	}
	if !bytes.Contains(rest, []byte("\n")) && bytes.Contains(rest, []byte(`\n`)) {
		return nil, malformedKey(`not PEM: the text has literal \n sequences instead of line breaks`)
	}
	var blocks []*pem.Block
	for len(rest) > 0 {
		if !bytes.HasPrefix(rest, []byte("-----BEGIN ")) {
			if len(blocks) == 0 {
				return nil, malformedKey("not PEM: expected -----BEGIN …----- blocks only")
			}
			return nil, malformedKey("not PEM: unexpected text after PEM block %d", len(blocks))
		}
		b, after := pem.Decode(rest)
		// pem.Decode skips a malformed block and returns the next one; the
		// text it consumed must hold exactly the one block it returned.
		if b == nil || bytes.Count(rest[:len(rest)-len(after)], []byte("-----BEGIN ")) != 1 {
			return nil, malformedKey("not PEM: PEM block %d is malformed", len(blocks)+1)
		}
		blocks = append(blocks, b)
		if len(blocks) > maxPEMBlocks {
			return nil, malformedKey("too many PEM blocks (at most %d)", maxPEMBlocks)
		}
		rest = bytes.TrimSpace(after)
	}
	return blocks, nil
}

// describeBlock names a PEM block type for a message. Only well-known
// types are repeated; any other label is not echoed.
func describeBlock(typ string) string {
	switch typ {
	case "CERTIFICATE", "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY",
		"OPENSSH PRIVATE KEY", "DSA PRIVATE KEY", "PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE REQUEST",
		"NEW CERTIFICATE REQUEST", "X509 CRL", "TRUSTED CERTIFICATE", "EC PARAMETERS", "PKCS7",
		"PGP PRIVATE KEY BLOCK", "PGP PUBLIC KEY BLOCK":
		return "PEM block \"" + typ + "\""
	}
	return "PEM block type"
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
