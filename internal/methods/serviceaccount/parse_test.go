package serviceaccount

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/problem"
)

// ptNow is the clock of these tests; the fixtures' certificates are
// valid from 2025 to 2125.
var ptNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var (
	ptRSAMu   sync.Mutex
	ptRSAKeys = map[int]*rsa.PrivateKey{}
)

// ptRSA returns an RSA key of bits, generated once per size.
func ptRSA(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	ptRSAMu.Lock()
	defer ptRSAMu.Unlock()
	if k, ok := ptRSAKeys[bits]; ok {
		return k
	}
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	ptRSAKeys[bits] = k
	return k
}

func ptEC(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ptBlock(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

// ptPKCS8 encodes key as a PKCS#8 "PRIVATE KEY" block.
func ptPKCS8(t testing.TB, key crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return ptBlock("PRIVATE KEY", der)
}

func ptSEC1(t testing.TB, key *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return ptBlock("EC PRIVATE KEY", der)
}

type ptCertOpts struct {
	cn        string
	notBefore time.Time
	notAfter  time.Time
	eku       []x509.ExtKeyUsage
	isCA      bool
}

// ptCert issues a certificate for pub, signed by parent/parentKey or
// self-signed when parent is nil.
func ptCert(t testing.TB, o ptCertOpts, pub crypto.PublicKey, parent *x509.Certificate, parentKey crypto.Signer) (*x509.Certificate, string) {
	t.Helper()
	if o.notBefore.IsZero() {
		o.notBefore = ptNow.Add(-24 * time.Hour)
	}
	if o.notAfter.IsZero() {
		o.notAfter = ptNow.Add(365 * 24 * time.Hour)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: o.cn, Organization: []string{"Storm tests"}},
		NotBefore: o.notBefore, NotAfter: o.notAfter, ExtKeyUsage: o.eku,
		IsCA: o.isCA, BasicConstraintsValid: o.isCA,
	}
	if o.isCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, ptBlock("CERTIFICATE", der)
}

// ptSelfSigned is a client certificate for key, valid around ptNow.
func ptSelfSigned(t testing.TB, key crypto.Signer, o ptCertOpts) string {
	t.Helper()
	if o.cn == "" {
		o.cn = "client.storm.test"
	}
	if o.eku == nil {
		o.eku = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	_, p := ptCert(t, o, key.Public(), nil, key)
	return p
}

func ptFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ptGoogleFile builds a service-account key file; set overrides members
// (a nil value deletes one).
func ptGoogleFile(t testing.TB, keyPEM string, set map[string]any) []byte {
	t.Helper()
	f := map[string]any{
		"type":                        "service_account",
		"project_id":                  "storm-proj",
		"private_key_id":              "f00dfacef00dfacef00dfacef00dfacef00dface",
		"private_key":                 keyPEM,
		"client_email":                "storm@storm-proj.iam.gserviceaccount.com",
		"client_id":                   "109876543210987654321",
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   "https://oauth2.googleapis.com/token",
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
		"universe_domain":             "googleapis.com",
	}
	for k, v := range set {
		if v == nil {
			delete(f, k)
		} else {
			f[k] = v
		}
	}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ptBody turns members into a Parse body; json.RawMessage values are
// used as they are.
func ptBody(t testing.TB, members map[string]any) map[string]json.RawMessage {
	t.Helper()
	body := map[string]json.RawMessage{}
	for k, v := range members {
		if raw, ok := v.(json.RawMessage); ok {
			body[k] = raw
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		body[k] = b
	}
	return body
}

// ptWantProblem asserts err is a problem with status naming field, whose
// message for that field contains every string in contains.
func ptWantProblem(t *testing.T, err error, status int, field string, contains ...string) *problem.Problem {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want %d on %q", status, field)
	}
	p, ok := err.(*problem.Problem)
	if !ok {
		t.Fatalf("error %T %v is not a *problem.Problem", err, err)
	}
	if p.Status != status {
		t.Errorf("status %d, want %d (%v)", p.Status, status, p)
	}
	var msg string
	for _, fe := range p.Errors {
		if fe.Field == field {
			msg = fe.Message
			break
		}
	}
	if msg == "" {
		t.Fatalf("no error on field %q: %+v", field, p.Errors)
	}
	for _, c := range contains {
		if !strings.Contains(msg, c) {
			t.Errorf("message %q for %s lacks %q", msg, field, c)
		}
	}
	return p
}

// ptSecretParts are the pieces of a secret that must not appear in an
// error: a PEM's base64 lines, or the secret itself.
func ptSecretParts(s string) []string {
	if !strings.Contains(s, "-----BEGIN") {
		return []string{s}
	}
	var parts []string
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "-----") {
			parts = append(parts, line)
		}
	}
	return parts
}

// ptNoLeak asserts no 8-character window of any secret appears in err's
// text, in its field errors or in its JSON form.
func ptNoLeak(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		return
	}
	texts := []string{err.Error()}
	if p, ok := err.(*problem.Problem); ok {
		b, _ := json.Marshal(p)
		texts = append(texts, string(b), p.Detail)
		for _, fe := range p.Errors {
			texts = append(texts, fe.Field, fe.Message)
		}
	}
	for _, s := range secrets {
		for _, part := range ptSecretParts(s) {
			for i := 0; i+8 <= len(part); i++ {
				w := part[i : i+8]
				for _, text := range texts {
					if strings.Contains(text, w) {
						t.Fatalf("error leaks secret text %q: %s", w, text)
					}
				}
			}
		}
	}
}

// ptRoundTrip asserts stored material yields the same Info, directly and
// after a JSON round trip through the vault's encoding.
func ptRoundTrip(t testing.TB, m Material, info Info) {
	t.Helper()
	got, err := Inspect(m, ptNow)
	if err != nil {
		t.Fatalf("Inspect: %v", err)
	}
	if !reflect.DeepEqual(got, info) {
		t.Fatalf("Inspect = %+v, want %+v", got, info)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("marshal material: %v", err)
	}
	var back Material
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("unmarshal material: %v", err)
	}
	got, err = Inspect(back, ptNow)
	if err != nil {
		t.Fatalf("Inspect after JSON: %v", err)
	}
	if !reflect.DeepEqual(got, info) {
		t.Fatalf("Inspect after JSON = %+v, want %+v", got, info)
	}
}

func ptSPKI(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	b, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// --- Google ------------------------------------------------------------

func TestGoogleAccepted(t *testing.T) {
	key := ptRSA(t, 2048)
	keyPEM := ptPKCS8(t, key)
	file := ptGoogleFile(t, keyPEM, nil)
	want := Info{
		Hint:             "f00dface…face",
		Identity:         "storm@storm-proj.iam.gserviceaccount.com",
		KeyID:            "f00dfacef00dfacef00dfacef00dfacef00dface",
		Algorithm:        "RSA",
		Bits:             2048,
		FingerprintInput: ptSPKI(t, key.Public()),
	}
	check := func(t *testing.T, m Material, info Info, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if m.Kind != KindGoogle || !json.Valid(m.Google) || m.KeyPEM != "" || m.ClientSecret != "" {
			t.Fatalf("material %#v", m)
		}
		if !reflect.DeepEqual(info, want) {
			t.Fatalf("info %+v, want %+v", info, want)
		}
		ptRoundTrip(t, m, info)
	}
	t.Run("Parse", func(t *testing.T) {
		m, info, err := Parse(KindGoogle, ptBody(t, map[string]any{"file": json.RawMessage(file)}), ptNow)
		check(t, m, info, err)
	})
	t.Run("ParseFile", func(t *testing.T) {
		m, info, err := ParseFile(KindGoogle, append(append([]byte{0xEF, 0xBB, 0xBF}, file...), '\n'), nil, ptNow)
		check(t, m, info, err)
	})
	t.Run("PKCS1 key, loopback http token_uri, extra members", func(t *testing.T) {
		f := ptGoogleFile(t, ptBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key)), map[string]any{
			"token_uri":        "http://127.0.0.1:8080/token",
			"a_new_google_key": map[string]any{"nested": []int{1, 2, 3}},
			"project_id":       nil,
		})
		m, info, err := ParseFile(KindGoogle, f, map[string]string{}, ptNow)
		if err != nil {
			t.Fatal(err)
		}
		ptRoundTrip(t, m, info)
		f = ptGoogleFile(t, keyPEM, map[string]any{"token_uri": "http://localhost/token"})
		if _, _, err := Parse(KindGoogle, ptBody(t, map[string]any{"file": json.RawMessage(f)}), ptNow); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("fixture", func(t *testing.T) {
		m, info, err := ParseFile(KindGoogle, ptFixture(t, "google_service_account.json"), nil, ptNow)
		if err != nil {
			t.Fatal(err)
		}
		if info.Identity != "storm-ci@storm-test.iam.gserviceaccount.com" || info.Bits != 2048 {
			t.Fatalf("info %+v", info)
		}
		ptRoundTrip(t, m, info)
	})
}

func TestGoogleRejected(t *testing.T) {
	key := ptRSA(t, 2048)
	keyPEM := ptPKCS8(t, key)
	weakPEM := ptPKCS8(t, ptRSA(t, 1024))
	ecPEM := ptPKCS8(t, ptEC(t, elliptic.P256()))
	gf := func(set map[string]any) json.RawMessage { return ptGoogleFile(t, keyPEM, set) }
	big := make(map[string]any)
	for i := range 101 {
		big[fmt.Sprintf("extra_%d", i)] = i
	}
	huge := gf(map[string]any{"padding": strings.Repeat("x", MaxFileSize)})

	tests := []struct {
		name     string
		file     json.RawMessage
		status   int
		field    string
		contains []string
	}{
		{"array", json.RawMessage(`[1,2]`), 400, "file", []string{"JSON object"}},
		{"string holding JSON", json.RawMessage(`"{\"type\":\"service_account\"}"`), 400, "file", []string{"not a string"}},
		{"number", json.RawMessage(`42`), 400, "file", nil},
		{"bad JSON", json.RawMessage(`{"type":"service_account",}`), 400, "file", []string{"not valid JSON"}},
		{"trailing data", append(gf(nil), []byte(` {"x":1}`)...), 400, "file", []string{"after the JSON object"}},
		{"duplicate member", json.RawMessage(`{"type":"service_account","type":"authorized_user"}`), 400, "file", []string{"twice"}},
		{"too large", huge, 400, "file", []string{"larger than 64 KiB"}},
		{"too many members", gf(big), 400, "file", []string{"more than 100 members"}},
		{"authorized_user", json.RawMessage(ptFixture(t, "google_authorized_user.json")), 422, "file.type", []string{"this is a user credential, not a service-account key"}},
		{"external_account", gf(map[string]any{"type": "external_account"}), 422, "file.type", []string{"workload identity federation"}},
		{"impersonated", gf(map[string]any{"type": "impersonated_service_account"}), 422, "file.type", []string{"impersonation"}},
		{"other type", gf(map[string]any{"type": "something_else"}), 422, "file.type", []string{`not "service_account"`}},
		{"type missing", gf(map[string]any{"type": nil}), 400, "file.type", []string{"required"}},
		{"type not a string", gf(map[string]any{"type": 7}), 400, "file.type", []string{"must be a string"}},
		{"OAuth client file", json.RawMessage(`{"installed":{"client_id":"x","client_secret":"y","redirect_uris":["http://localhost"]}}`), 422, "file.type", []string{"OAuth client file"}},
		{"web section in a key", gf(map[string]any{"web": map[string]any{"client_id": "x", "redirect_uris": []string{"https://a"}}}), 422, "file.web", nil},
		{"audience", gf(map[string]any{"audience": "https://evil.example"}), 422, "file.audience", nil},
		{"capitalised member", gf(map[string]any{"Token_URI": "https://evil.example/token"}), 400, "file.token_uri", []string{"case-sensitive"}},
		{"capitalised type", gf(map[string]any{"TYPE": "authorized_user"}), 400, "file.type", []string{"case-sensitive"}},
		{"client_email missing", gf(map[string]any{"client_email": nil}), 400, "file.client_email", []string{"required"}},
		{"client_email not an email", gf(map[string]any{"client_email": "storm at example"}), 400, "file.client_email", []string{"email"}},
		{"client_email wrong type", gf(map[string]any{"client_email": []string{"a@b.c"}}), 400, "file.client_email", []string{"must be a string"}},
		{"private_key missing", gf(map[string]any{"private_key": nil}), 400, "file.private_key", []string{"required"}},
		{"private_key not PEM", gf(map[string]any{"private_key": "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"}), 400, "file.private_key", []string{"not PEM"}},
		{"private_key literal \\n", gf(map[string]any{"private_key": strings.ReplaceAll(keyPEM, "\n", `\n`)}), 400, "file.private_key", []string{`literal \n`}},
		{"private_key weak", gf(map[string]any{"private_key": weakPEM}), 422, "file.private_key", []string{"1024 bits", "2048"}},
		{"private_key EC", gf(map[string]any{"private_key": ecPEM}), 422, "file.private_key", []string{"RSA"}},
		{"private_key encrypted", gf(map[string]any{"private_key": "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQI\n-----END ENCRYPTED PRIVATE KEY-----\n"}), 422, "file.private_key", []string{"encrypted"}},
		{"private_key_id missing", gf(map[string]any{"private_key_id": nil}), 400, "file.private_key_id", []string{"required"}},
		{"token_uri missing", gf(map[string]any{"token_uri": nil}), 400, "file.token_uri", []string{"required"}},
		{"token_uri http", gf(map[string]any{"token_uri": "http://oauth2.example.com/token"}), 422, "file.token_uri", []string{"https"}},
		{"token_uri other scheme", gf(map[string]any{"token_uri": "ftp://oauth2.example.com/token"}), 422, "file.token_uri", []string{"https"}},
		{"token_uri relative", gf(map[string]any{"token_uri": "/token"}), 400, "file.token_uri", []string{"absolute"}},
		{"token_uri with user", gf(map[string]any{"token_uri": "https://u:p@oauth2.example.com/token"}), 400, "file.token_uri", nil},
		{"project_id wrong type", gf(map[string]any{"project_id": 12}), 400, "file.project_id", []string{"must be a string"}},
		{"library reads a member with another type", gf(map[string]any{"delegates": "x"}), 400, "file.delegates", []string{"wrong type"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := ptBody(t, map[string]any{"file": tc.file})
			_, _, err := Parse(KindGoogle, body, ptNow)
			ptWantProblem(t, err, tc.status, tc.field, tc.contains...)
			ptNoLeak(t, err, keyPEM, weakPEM, ecPEM)
			// The same file uploaded as a file gets the same answer.
			if tc.file[0] == '{' {
				_, _, err = ParseFile(KindGoogle, tc.file, nil, ptNow)
				ptWantProblem(t, err, tc.status, tc.field, tc.contains...)
				ptNoLeak(t, err, keyPEM, weakPEM, ecPEM)
			}
		})
	}

	t.Run("body", func(t *testing.T) {
		_, _, err := Parse(KindGoogle, ptBody(t, map[string]any{}), ptNow)
		ptWantProblem(t, err, 400, "file", "required")
		_, _, err = Parse(KindGoogle, ptBody(t, map[string]any{"file": gf(nil), "key_pem": keyPEM}), ptNow)
		ptWantProblem(t, err, 400, "key_pem", "not a field")
		ptNoLeak(t, err, keyPEM)
	})
	t.Run("files", func(t *testing.T) {
		_, _, err := ParseFile(KindGoogle, []byte{0x30, 0x82, 0x01, 0x00, 0x02}, nil, ptNow)
		ptWantProblem(t, err, 400, "file", "P12")
		_, _, err = ParseFile(KindGoogle, []byte("0.5"), nil, ptNow)
		ptWantProblem(t, err, 400, "file", "must be a JSON object")
		_, _, err = ParseFile(KindGoogle, []byte(keyPEM), nil, ptNow)
		ptWantProblem(t, err, 400, "file", "PEM")
		ptNoLeak(t, err, keyPEM)
		_, _, err = ParseFile(KindGoogle, []byte("  \n"), nil, ptNow)
		ptWantProblem(t, err, 400, "file", "empty")
		_, _, err = ParseFile(KindGoogle, gf(nil), map[string]string{"key_id": "k"}, ptNow)
		ptWantProblem(t, err, 400, "key_id", "not a form field")
	})
}

// --- JWT bearer --------------------------------------------------------

func TestJWTBearerAccepted(t *testing.T) {
	rsaKey := ptRSA(t, 2048)
	ec := ptEC(t, elliptic.P256())
	ec384 := ptEC(t, elliptic.P384())
	tests := []struct {
		name, pem, keyID string
		pub              crypto.PublicKey
		alg              string
		bits             int
	}{
		{"RSA PKCS#8", ptPKCS8(t, rsaKey), "key-1", rsaKey.Public(), "RSA", 2048},
		{"RSA PKCS#1", ptBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), "", rsaKey.Public(), "RSA", 2048},
		{"EC SEC 1", ptSEC1(t, ec), "ec-key", ec.Public(), "EC P-256", 256},
		{"EC P-384 PKCS#8 with surrounding blank lines", "\n\n" + ptPKCS8(t, ec384) + "\n\n", "a long key identifier of more than 16 characters", ec384.Public(), "EC P-384", 384},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check := func(m Material, info Info, err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
				if m.Kind != KindJWTBearer || m.KeyID != tc.keyID {
					t.Fatalf("material %#v", m)
				}
				if _, err := PrivateKey(m.KeyPEM); err != nil {
					t.Fatalf("stored key does not parse: %v", err)
				}
				if info.Algorithm != tc.alg || info.Bits != tc.bits || info.KeyID != tc.keyID ||
					!bytes.Equal(info.FingerprintInput, ptSPKI(t, tc.pub)) || info.Identity != "" {
					t.Fatalf("info %+v", info)
				}
				switch {
				case tc.keyID == "" && !strings.HasPrefix(info.Hint, "sha256:"):
					t.Fatalf("hint %q", info.Hint)
				case tc.keyID != "" && !strings.HasPrefix(tc.keyID, strings.TrimSuffix(info.Hint[:min(len(info.Hint), 8)], "…")):
					t.Fatalf("hint %q for key id %q", info.Hint, tc.keyID)
				}
				ptRoundTrip(t, m, info)
			}
			body := map[string]any{"key_pem": tc.pem}
			if tc.keyID != "" {
				body["key_id"] = tc.keyID
			}
			check(Parse(KindJWTBearer, ptBody(t, body), ptNow))
			check(ParseFile(KindJWTBearer, []byte(tc.pem), map[string]string{"key_id": tc.keyID}, ptNow))
		})
	}
	t.Run("fixtures", func(t *testing.T) {
		for _, name := range []string{"rsa2048_pkcs8.pem", "rsa2048_pkcs1.pem", "ec256_sec1.pem"} {
			m, info, err := ParseFile(KindJWTBearer, ptFixture(t, name), nil, ptNow)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			ptRoundTrip(t, m, info)
		}
		_, a, _ := ParseFile(KindJWTBearer, ptFixture(t, "rsa2048_pkcs8.pem"), nil, ptNow)
		_, b, _ := ParseFile(KindJWTBearer, ptFixture(t, "rsa2048_pkcs1.pem"), nil, ptNow)
		if !bytes.Equal(a.FingerprintInput, b.FingerprintInput) || a.Hint != b.Hint {
			t.Fatal("one key in two encodings has two fingerprints")
		}
	})
	t.Run("null key_id", func(t *testing.T) {
		if _, _, err := Parse(KindJWTBearer, ptBody(t, map[string]any{"key_pem": ptPKCS8(t, ec), "key_id": nil}), ptNow); err != nil {
			t.Fatal(err)
		}
	})
}

// ptKeyRejections are bad key_pem values shared by the key-based kinds.
func ptKeyRejections(t *testing.T) (cases []struct {
	name, pem string
	status    int
	contains  []string
}, secrets []string) {
	rsaKey := ptRSA(t, 2048)
	good := ptPKCS8(t, rsaKey)
	ec := ptEC(t, elliptic.P256())
	p224 := ptEC(t, elliptic.P224())
	p224DER, err := x509.MarshalECPrivateKey(p224)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	cert := ptSelfSigned(t, rsaKey, ptCertOpts{})
	weak := ptPKCS8(t, ptRSA(t, 1024))
	lines := strings.Split(strings.TrimSpace(good), "\n")
	corrupt := strings.Join(append(append([]string{lines[0]}, lines[1:len(lines)-2]...), lines[len(lines)-1]), "\n")
	encrypted := "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0123456789ABCDEF0123456789ABCDEF\n\n" +
		strings.Join(lines[1:len(lines)-1], "\n") + "\n-----END RSA PRIVATE KEY-----\n"
	type tc = struct {
		name, pem string
		status    int
		contains  []string
	}
	cases = []tc{
		{"empty", "   ", 400, []string{"required"}},
		{"not PEM", "this is not a key", 400, []string{"not PEM"}},
		{"text before the key", "my key:\n" + good, 400, []string{"not PEM"}},
		{"text after the key", good + "trailing words\n", 400, []string{"after PEM block 1"}},
		{"malformed block before a good one", "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n" + good, 400, []string{"malformed"}},
		{"literal \\n", strings.ReplaceAll(good, "\n", `\n`), 400, []string{`literal \n`}},
		{"two keys", good + ptSEC1(t, ec), 400, []string{"exactly one private key, found 2"}},
		{"a certificate", cert, 400, []string{`"CERTIFICATE"`}},
		{"key plus certificate", good + cert, 400, []string{`"CERTIFICATE"`}},
		{"unparseable DER", corrupt, 400, []string{"cannot be parsed"}},
		{"unknown block type", "-----BEGIN SECRET STUFF-----\nAAAA\n-----END SECRET STUFF-----\n", 400, []string{"PEM block type"}},
		{"weak RSA", weak, 422, []string{"1024 bits", "at least 2048"}},
		{"P-224", ptBlock("EC PRIVATE KEY", p224DER), 422, []string{"unsupported curve"}},
		{"Ed25519", ptPKCS8(t, edKey), 422, []string{"Ed25519"}},
		{"encrypted", encrypted, 422, []string{"encrypted"}},
		{"encrypted PKCS#8", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", 422, []string{"encrypted"}},
		{"OpenSSH", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n", 422, []string{"ssh-keygen"}},
		{"PEM headers", "-----BEGIN PRIVATE KEY-----\nComment: hi\n\n" + strings.Join(lines[1:len(lines)-1], "\n") + "\n-----END PRIVATE KEY-----\n", 400, []string{"headers"}},
	}
	return cases, []string{good, weak, ptPKCS8(t, ec), ptPKCS8(t, edKey), encrypted}
}

func TestJWTBearerRejected(t *testing.T) {
	cases, secrets := ptKeyRejections(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse(KindJWTBearer, ptBody(t, map[string]any{"key_pem": tc.pem, "key_id": "k1"}), ptNow)
			ptWantProblem(t, err, tc.status, "key_pem", tc.contains...)
			ptNoLeak(t, err, secrets...)
			_, _, err = ParseFile(KindJWTBearer, []byte(tc.pem), map[string]string{"key_id": "k1"}, ptNow)
			if strings.TrimSpace(tc.pem) == "" {
				ptWantProblem(t, err, 400, "file", "empty")
			} else {
				ptWantProblem(t, err, tc.status, "file", tc.contains...)
			}
			ptNoLeak(t, err, secrets...)
		})
	}
	good := secrets[0]
	others := []struct {
		name   string
		body   map[string]any
		status int
		field  string
		msg    string
	}{
		{"key_pem missing", map[string]any{"key_id": "k"}, 400, "key_pem", "required"},
		{"key_pem null", map[string]any{"key_pem": nil}, 400, "key_pem", "required"},
		{"key_pem not a string", map[string]any{"key_pem": map[string]any{"pem": good}}, 400, "key_pem", "must be a string"},
		{"key_id not a string", map[string]any{"key_pem": good, "key_id": 5}, 400, "key_id", "must be a string"},
		{"key_id too long", map[string]any{"key_pem": good, "key_id": strings.Repeat("k", 201)}, 400, "key_id", "longer than 200"},
		{"key_id control character", map[string]any{"key_pem": good, "key_id": "a\nb"}, 400, "key_id", "printable"},
		{"unknown field", map[string]any{"key_pem": good, "kid": "k"}, 400, "kid", "not a field"},
	}
	for _, tc := range others {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse(KindJWTBearer, ptBody(t, tc.body), ptNow)
			ptWantProblem(t, err, tc.status, tc.field, tc.msg)
			ptNoLeak(t, err, secrets...)
		})
	}
	t.Run("file form", func(t *testing.T) {
		_, _, err := ParseFile(KindJWTBearer, []byte(good), map[string]string{"client_id": "x"}, ptNow)
		ptWantProblem(t, err, 400, "client_id", "not a form field")
		_, _, err = ParseFile(KindJWTBearer, []byte(good), map[string]string{"key_id": strings.Repeat("é", 201)}, ptNow)
		ptWantProblem(t, err, 400, "key_id", "longer than 200")
		_, _, err = ParseFile(KindJWTBearer, bytes.Repeat([]byte("A"), MaxFileSize+1), nil, ptNow)
		ptWantProblem(t, err, 400, "file", "larger than 64 KiB")
	})
}

// --- Client credentials ---------------------------------------------------

func TestClientCredentialsAccepted(t *testing.T) {
	secret := "s3cr3t-" + strings.Repeat("q", 20) + "WXYZ"
	t.Run("secret", func(t *testing.T) {
		check := func(m Material, info Info, err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(m, Material{Kind: KindClientCredentials, ClientID: "storm-client", ClientSecret: secret}) {
				t.Fatalf("material %#v", m)
			}
			want := Info{Hint: "…WXYZ", Identity: "storm-client", FingerprintInput: []byte("storm-client")}
			if !reflect.DeepEqual(info, want) {
				t.Fatalf("info %+v, want %+v", info, want)
			}
			ptRoundTrip(t, m, info)
		}
		check(Parse(KindClientCredentials, ptBody(t, map[string]any{"client_id": " storm-client ", "client_secret": secret + "\n"}), ptNow))
		check(ParseFile(KindClientCredentials, []byte(`{"client_id":"storm-client","client_secret":"`+secret+`"}`), nil, ptNow))
		check(ParseFile(KindClientCredentials, []byte(`{"client_secret":"`+secret+`"}`), map[string]string{"client_id": "storm-client"}, ptNow))
	})
	t.Run("short secret shows nothing", func(t *testing.T) {
		_, info, err := Parse(KindClientCredentials, ptBody(t, map[string]any{"client_id": "c", "client_secret": "short"}), ptNow)
		if err != nil {
			t.Fatal(err)
		}
		if info.Hint != "…" {
			t.Fatalf("hint %q", info.Hint)
		}
	})
	t.Run("private_key_jwt", func(t *testing.T) {
		ec := ptEC(t, elliptic.P256())
		keyPEM := ptPKCS8(t, ec)
		check := func(m Material, info Info, err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			if m.Kind != KindClientCredentials || m.ClientID != "storm-client" || m.KeyID != "kid-7" || m.ClientSecret != "" || m.KeyPEM == "" {
				t.Fatalf("material %#v", m)
			}
			if info.Identity != "storm-client" || info.KeyID != "kid-7" || info.Hint != "kid-7" || info.Algorithm != "EC P-256" ||
				!bytes.Equal(info.FingerprintInput, ptSPKI(t, ec.Public())) {
				t.Fatalf("info %+v", info)
			}
			ptRoundTrip(t, m, info)
		}
		check(Parse(KindClientCredentials, ptBody(t, map[string]any{"client_id": "storm-client", "key_pem": keyPEM, "key_id": "kid-7"}), ptNow))
		check(ParseFile(KindClientCredentials, []byte(keyPEM), map[string]string{"client_id": "storm-client", "key_id": "kid-7"}, ptNow))
		jsonFile, _ := json.Marshal(map[string]string{"client_id": "storm-client", "key_pem": keyPEM, "key_id": "kid-7"})
		check(ParseFile(KindClientCredentials, jsonFile, nil, ptNow))
	})
}

func TestClientCredentialsRejected(t *testing.T) {
	secret := "client-secret-" + strings.Repeat("z", 24)
	keyPEM := ptPKCS8(t, ptRSA(t, 2048))
	weak := ptPKCS8(t, ptRSA(t, 1024))
	tests := []struct {
		name   string
		body   map[string]any
		status int
		field  string
		msg    string
	}{
		{"client_id missing", map[string]any{"client_secret": secret}, 400, "client_id", "required"},
		{"client_id blank", map[string]any{"client_id": "  ", "client_secret": secret}, 400, "client_id", "required"},
		{"client_id too long", map[string]any{"client_id": strings.Repeat("c", 513), "client_secret": secret}, 400, "client_id", "longer than 512"},
		{"client_id not a string", map[string]any{"client_id": 12345, "client_secret": secret}, 400, "client_id", "must be a string"},
		{"client_id control character", map[string]any{"client_id": "a\x00b", "client_secret": secret}, 400, "client_id", "printable"},
		{"neither secret nor key", map[string]any{"client_id": "c"}, 400, "client_secret", "required"},
		{"both secret and key", map[string]any{"client_id": "c", "client_secret": secret, "key_pem": keyPEM}, 400, "client_secret", "not both"},
		{"key_id with a secret", map[string]any{"client_id": "c", "client_secret": secret, "key_id": "k"}, 400, "key_id", "only used with key_pem"},
		{"secret too long", map[string]any{"client_id": "c", "client_secret": strings.Repeat("s", 4097)}, 400, "client_secret", "longer than 4096"},
		{"secret with a line break", map[string]any{"client_id": "c", "client_secret": secret + "\n" + secret}, 400, "client_secret", "printable"},
		{"secret not a string", map[string]any{"client_id": "c", "client_secret": []string{secret}}, 400, "client_secret", "must be a string"},
		{"weak key", map[string]any{"client_id": "c", "key_pem": weak}, 422, "key_pem", "1024 bits"},
		{"unknown field", map[string]any{"client_id": "c", "client_secret": secret, "scope": "x"}, 400, "scope", "not a field"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse(KindClientCredentials, ptBody(t, tc.body), ptNow)
			ptWantProblem(t, err, tc.status, tc.field, tc.msg)
			ptNoLeak(t, err, secret, keyPEM, weak)
		})
	}
	files := []struct {
		name   string
		file   string
		form   map[string]string
		status int
		field  string
		msg    string
	}{
		{"not JSON or PEM", "client_id=c&client_secret=" + secret, nil, 400, "file", "JSON file"},
		{"bad JSON", `{"client_id":"c","client_secret":"` + secret + `"`, nil, 400, "file", "not valid JSON"},
		{"duplicate member", `{"client_id":"c","client_secret":"` + secret + `","client_secret":"x"}`, nil, 400, "file", "twice"},
		{"unknown member", `{"client_id":"c","client_secret":"` + secret + `","token_url":"https://x"}`, nil, 400, "file.token_url", "not a field"},
		{"client_id missing", `{"client_secret":"` + secret + `"}`, nil, 400, "file.client_id", "required"},
		{"client_id differs from form", `{"client_id":"c","client_secret":"` + secret + `"}`, map[string]string{"client_id": "d"}, 400, "client_id", "differs"},
		{"PEM without client_id", keyPEM, nil, 400, "client_id", "required"},
		{"PEM with weak key", weak, map[string]string{"client_id": "c"}, 422, "file", "1024 bits"},
		{"unknown form field", keyPEM, map[string]string{"client_id": "c", "client_secret": secret}, 400, "client_secret", "not a form field"},
	}
	for _, tc := range files {
		t.Run("file/"+tc.name, func(t *testing.T) {
			_, _, err := ParseFile(KindClientCredentials, []byte(tc.file), tc.form, ptNow)
			ptWantProblem(t, err, tc.status, tc.field, tc.msg)
			ptNoLeak(t, err, secret, keyPEM, weak)
		})
	}
}

// --- mTLS ------------------------------------------------------------------

func TestMTLSAccepted(t *testing.T) {
	t.Run("self-signed RSA", func(t *testing.T) {
		key := ptRSA(t, 2048)
		keyPEM := ptPKCS8(t, key)
		certPEM := ptSelfSigned(t, key, ptCertOpts{cn: "svc.storm.test"})
		check := func(m Material, info Info, err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			if m.Kind != KindMTLS || m.CertPEM != certPEM || m.KeyPEM != keyPEM {
				t.Fatalf("material %#v", m)
			}
			if info.Hint != "svc.storm.test" || !strings.Contains(info.Identity, "CN=svc.storm.test") || info.Algorithm != "RSA" ||
				info.Bits != 2048 || info.NotAfter.Before(ptNow) || info.NotBefore.After(ptNow) ||
				!bytes.Equal(info.FingerprintInput, ptSPKI(t, key.Public())) {
				t.Fatalf("info %+v", info)
			}
			ptRoundTrip(t, m, info)
		}
		check(Parse(KindMTLS, ptBody(t, map[string]any{"cert_pem": certPEM, "key_pem": keyPEM}), ptNow))
		check(ParseFile(KindMTLS, []byte(certPEM+keyPEM), nil, ptNow))
		check(ParseFile(KindMTLS, []byte(keyPEM+"\n"+certPEM), nil, ptNow))
	})
	t.Run("EC leaf with intermediate and no EKU", func(t *testing.T) {
		rootKey := ptEC(t, elliptic.P384())
		root, _ := ptCert(t, ptCertOpts{cn: "root", isCA: true}, rootKey.Public(), nil, rootKey)
		interKey := ptEC(t, elliptic.P256())
		inter, interPEM := ptCert(t, ptCertOpts{cn: "intermediate", isCA: true}, interKey.Public(), root, rootKey)
		leafKey := ptEC(t, elliptic.P256())
		_, leafPEM := ptCert(t, ptCertOpts{cn: "leaf"}, leafKey.Public(), inter, interKey)
		m, info, err := ParseFile(KindMTLS, []byte(leafPEM+interPEM+ptSEC1(t, leafKey)), nil, ptNow)
		if err != nil {
			t.Fatal(err)
		}
		if m.CertPEM != leafPEM+interPEM || info.Hint != "leaf" || info.Algorithm != "EC P-256" {
			t.Fatalf("material/info %#v %+v", m, info)
		}
		ptRoundTrip(t, m, info)
	})
	t.Run("Ed25519", func(t *testing.T) {
		_, key, _ := ed25519.GenerateKey(rand.Reader)
		certPEM := ptSelfSigned(t, key, ptCertOpts{})
		m, info, err := Parse(KindMTLS, ptBody(t, map[string]any{"cert_pem": certPEM, "key_pem": ptPKCS8(t, key)}), ptNow)
		if err != nil {
			t.Fatal(err)
		}
		ptRoundTrip(t, m, info)
	})
	t.Run("fixtures", func(t *testing.T) {
		m, info, err := ParseFile(KindMTLS, ptFixture(t, "mtls_client.pem"), nil, ptNow)
		if err != nil {
			t.Fatal(err)
		}
		if info.Hint != "storm-client" || info.NotAfter.Year() != 2125 {
			t.Fatalf("info %+v", info)
		}
		ptRoundTrip(t, m, info)
		m2, info2, err := Parse(KindMTLS, ptBody(t, map[string]any{
			"cert_pem": string(ptFixture(t, "mtls_client_cert.pem")), "key_pem": string(ptFixture(t, "mtls_client_key.pem"))}), ptNow)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(m2, m) || !reflect.DeepEqual(info, info2) {
			t.Fatal("the split fixture differs from the combined one")
		}
	})
}

func TestMTLSRejected(t *testing.T) {
	key := ptRSA(t, 2048)
	keyPEM := ptPKCS8(t, key)
	other := ptEC(t, elliptic.P256())
	otherPEM := ptPKCS8(t, other)
	cert := ptSelfSigned(t, key, ptCertOpts{})
	expired := ptSelfSigned(t, key, ptCertOpts{notBefore: ptNow.AddDate(-2, 0, 0), notAfter: time.Date(2025, 6, 30, 12, 0, 0, 0, time.UTC)})
	future := ptSelfSigned(t, key, ptCertOpts{notBefore: time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC), notAfter: ptNow.AddDate(2, 0, 0)})
	serverOnly := ptSelfSigned(t, key, ptCertOpts{eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	weakKey := ptRSA(t, 1024)
	weakPEM := ptPKCS8(t, weakKey)
	weakCert := ptSelfSigned(t, weakKey, ptCertOpts{})
	caKey := ptEC(t, elliptic.P256())
	ca, caPEM := ptCert(t, ptCertOpts{cn: "ca", isCA: true}, caKey.Public(), nil, caKey)
	_, issued := ptCert(t, ptCertOpts{cn: "leaf"}, key.Public(), ca, caKey)
	secrets := []string{keyPEM, otherPEM, weakPEM}

	tests := []struct {
		name          string
		cert, key     string
		status        int
		field         string
		contains      []string
		fileContains  []string // for ParseFile(cert+key); nil to skip
		fileStatus    int
		skipCombining bool
	}{
		{name: "expired", cert: expired, key: keyPEM, status: 422, field: "cert_pem", contains: []string{"expired on 2025-06-30T12:00:00Z"}},
		{name: "not yet valid", cert: future, key: keyPEM, status: 422, field: "cert_pem", contains: []string{"not valid until 2026-09-01T00:00:00Z"}},
		{name: "key of another certificate", cert: cert, key: otherPEM, status: 422, field: "key_pem", contains: []string{"the key does not belong to the certificate"}},
		{name: "weak RSA", cert: weakCert, key: weakPEM, status: 422, field: "key_pem", contains: []string{"1024 bits"}},
		{name: "server-only certificate", cert: serverOnly, key: keyPEM, status: 422, field: "cert_pem", contains: []string{"clientAuth"}},
		{name: "chain out of order", cert: caPEM + issued, key: keyPEM, status: 422, field: "cert_pem", contains: []string{"out of order"}},
		{name: "unknown block in cert_pem", cert: cert + "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n", key: keyPEM, status: 400, field: "cert_pem", contains: []string{`"X509 CRL"`}},
		{name: "public key in cert_pem", cert: cert + ptBlock("PUBLIC KEY", ptSPKI(t, key.Public())), key: keyPEM, status: 400, field: "cert_pem", contains: []string{`"PUBLIC KEY"`}},
		{name: "private key in cert_pem", cert: cert + keyPEM, key: keyPEM, status: 400, field: "cert_pem", contains: []string{"put it in key_pem"}, skipCombining: true},
		{name: "certificate in key_pem", cert: cert, key: cert, status: 400, field: "key_pem", contains: []string{`"CERTIFICATE"`}, skipCombining: true},
		{name: "bad certificate DER", cert: ptBlock("CERTIFICATE", []byte("not DER")), key: keyPEM, status: 400, field: "cert_pem", contains: []string{"certificate 1 cannot be parsed"}},
		{name: "cert_pem not PEM", cert: "MIIB" + strings.Repeat("A", 60), key: keyPEM, status: 400, field: "cert_pem", contains: []string{"not PEM"}},
		{name: "cert_pem missing", cert: "", key: keyPEM, status: 400, field: "cert_pem", contains: []string{"required"}, skipCombining: true},
		{name: "key_pem missing", cert: cert, key: "", status: 400, field: "key_pem", contains: []string{"required"}, skipCombining: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := map[string]any{}
			if tc.cert != "" {
				body["cert_pem"] = tc.cert
			}
			if tc.key != "" {
				body["key_pem"] = tc.key
			}
			_, _, err := Parse(KindMTLS, ptBody(t, body), ptNow)
			ptWantProblem(t, err, tc.status, tc.field, tc.contains...)
			ptNoLeak(t, err, secrets...)
			if tc.skipCombining {
				return
			}
			_, _, err = ParseFile(KindMTLS, []byte(tc.cert+tc.key), nil, ptNow)
			ptWantProblem(t, err, tc.status, "file", tc.contains...)
			ptNoLeak(t, err, secrets...)
		})
	}
	files := []struct {
		name, file string
		status     int
		msg        string
	}{
		{"no key", cert, 400, "exactly one private key, found 0"},
		{"two keys", cert + keyPEM + otherPEM, 400, "exactly one private key, found 2"},
		{"no certificate", keyPEM, 400, "no certificate"},
		{"text between blocks", cert + "junk\n" + keyPEM, 400, "after PEM block 1"},
		{"expired fixture", string(ptFixture(t, "mtls_expired.pem")), 422, "expired on 2021-01-01T00:00:00Z"},
		{"weak key in file", weakCert + weakPEM, 422, "1024 bits"},
	}
	for _, tc := range files {
		t.Run("file/"+tc.name, func(t *testing.T) {
			_, _, err := ParseFile(KindMTLS, []byte(tc.file), nil, ptNow)
			ptWantProblem(t, err, tc.status, "file", tc.msg)
			ptNoLeak(t, err, secrets...)
		})
	}
	t.Run("unknown field", func(t *testing.T) {
		_, _, err := Parse(KindMTLS, ptBody(t, map[string]any{"cert_pem": cert, "key_pem": keyPEM, "ca_pem": cert}), ptNow)
		ptWantProblem(t, err, 400, "ca_pem", "not a field")
		ptNoLeak(t, err, secrets...)
	})
	t.Run("Inspect reports an expired certificate", func(t *testing.T) {
		m := Material{Kind: KindMTLS, CertPEM: expired, KeyPEM: keyPEM}
		info, err := Inspect(m, ptNow)
		if err != nil {
			t.Fatal(err)
		}
		if !info.NotAfter.Equal(time.Date(2025, 6, 30, 12, 0, 0, 0, time.UTC)) {
			t.Fatalf("NotAfter %v", info.NotAfter)
		}
	})
}

// --- AWS -------------------------------------------------------------------

const (
	ptAWSID     = "AKIAZ7STORMTEST0WXYZ"
	ptAWSTmpID  = "ASIAZ7STORMTEST0TEMP"
	ptAWSSecret = "q8Lm/2xVb+T9kPzR4wYd7NcHs1EjUa6GfKo3iBn5"
	ptAWSToken  = "IQoJb3JpZ2luX2VjStormTestSessionToken/abc+def=="
)

func TestAWSAccepted(t *testing.T) {
	check := func(t *testing.T, id, token string, m Material, info Info, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(m, Material{Kind: KindAWS, AccessKeyID: id, SecretAccessKey: ptAWSSecret, SessionToken: token}) {
			t.Fatalf("material %#v", m)
		}
		want := Info{Hint: id[:4] + "…" + id[16:], Identity: id, KeyID: id, FingerprintInput: []byte(id)}
		if !reflect.DeepEqual(info, want) {
			t.Fatalf("info %+v, want %+v", info, want)
		}
		ptRoundTrip(t, m, info)
	}
	t.Run("Parse long-term", func(t *testing.T) {
		m, info, err := Parse(KindAWS, ptBody(t, map[string]any{"access_key_id": ptAWSID, "secret_access_key": ptAWSSecret + " "}), ptNow)
		check(t, ptAWSID, "", m, info, err)
		if info.Hint != "AKIA…WXYZ" {
			t.Fatalf("hint %q", info.Hint)
		}
	})
	t.Run("Parse temporary", func(t *testing.T) {
		m, info, err := Parse(KindAWS, ptBody(t, map[string]any{"access_key_id": ptAWSTmpID, "secret_access_key": ptAWSSecret, "session_token": ptAWSToken}), ptNow)
		check(t, ptAWSTmpID, ptAWSToken, m, info, err)
	})
	files := []struct {
		name, file string
		form       map[string]string
		id, token  string
	}{
		{"CSV", "Access key ID,Secret access key\n" + ptAWSID + "," + ptAWSSecret + "\n", nil, ptAWSID, ""},
		{"CSV with BOM, CRLF, quotes", "\ufeff\"Access key ID\",\"Secret access key\"\r\n\"" + ptAWSID + "\",\"" + ptAWSSecret + "\"\r\n\r\n", nil, ptAWSID, ""},
		{"CSV user variant", "User name,Password,Access key ID,Secret access key,Console login link\nci,," + ptAWSID + "," + ptAWSSecret + ",https://123456789012.signin.aws.amazon.com/console\n", nil, ptAWSID, ""},
		{"CSV temporary with form token", "Access key ID,Secret access key\n" + ptAWSTmpID + "," + ptAWSSecret + "\n", map[string]string{"session_token": ptAWSToken}, ptAWSTmpID, ptAWSToken},
		{"INI", "[default]\naws_access_key_id = " + ptAWSID + "\naws_secret_access_key = " + ptAWSSecret + "\n", nil, ptAWSID, ""},
		{"INI with comments, region, token", "; creds\n[profile ci]\n# temporary\naws_access_key_id=" + ptAWSTmpID + "\r\naws_secret_access_key=" + ptAWSSecret + "\r\naws_session_token=" + ptAWSToken + "\nregion = eu-west-1\n", nil, ptAWSTmpID, ptAWSToken},
		{"INI profile chosen", "[default]\naws_access_key_id=AKIAAAAAAAAAAAAAAAAA\naws_secret_access_key=" + ptAWSSecret + "\n[ci]\naws_access_key_id=" + ptAWSID + "\naws_secret_access_key=" + ptAWSSecret + "\n", map[string]string{"profile": "ci"}, ptAWSID, ""},
	}
	for _, tc := range files {
		t.Run("file/"+tc.name, func(t *testing.T) {
			m, info, err := ParseFile(KindAWS, []byte(tc.file), tc.form, ptNow)
			check(t, tc.id, tc.token, m, info, err)
		})
	}
	t.Run("fixtures", func(t *testing.T) {
		for _, f := range []struct {
			name string
			form map[string]string
		}{
			{"aws_accessKeys.csv", nil}, {"aws_user_credentials.csv", nil}, {"aws_credentials.ini", nil},
			{"aws_credentials_temporary.ini", map[string]string{"profile": "ci"}},
		} {
			m, info, err := ParseFile(KindAWS, ptFixture(t, f.name), f.form, ptNow)
			if err != nil {
				t.Fatalf("%s: %v", f.name, err)
			}
			ptRoundTrip(t, m, info)
		}
	})
}

func TestAWSRejected(t *testing.T) {
	secrets := []string{ptAWSSecret, ptAWSToken, "Hunter2-xQ9!zzK"}
	tests := []struct {
		name   string
		body   map[string]any
		status int
		field  string
		msg    string
	}{
		{"id missing", map[string]any{"secret_access_key": ptAWSSecret}, 400, "access_key_id", "required"},
		{"id lower case", map[string]any{"access_key_id": strings.ToLower(ptAWSID), "secret_access_key": ptAWSSecret}, 400, "access_key_id", "AKIA (long-term key) or ASIA (temporary key)"},
		{"id wrong prefix", map[string]any{"access_key_id": "AIDAZ7STORMTEST0WXYZ", "secret_access_key": ptAWSSecret}, 400, "access_key_id", "16 upper-case letters or digits"},
		{"id too short", map[string]any{"access_key_id": ptAWSID[:19], "secret_access_key": ptAWSSecret}, 400, "access_key_id", "AKIA"},
		{"fields swapped", map[string]any{"access_key_id": ptAWSSecret, "secret_access_key": ptAWSID}, 400, "access_key_id", "swapped"},
		{"id not a string", map[string]any{"access_key_id": 1, "secret_access_key": ptAWSSecret}, 400, "access_key_id", "must be a string"},
		{"secret missing", map[string]any{"access_key_id": ptAWSID}, 400, "secret_access_key", "required"},
		{"secret too short", map[string]any{"access_key_id": ptAWSID, "secret_access_key": ptAWSSecret[:39]}, 400, "secret_access_key", "40 characters"},
		{"secret bad characters", map[string]any{"access_key_id": ptAWSID, "secret_access_key": ptAWSSecret[:39] + "="}, 400, "secret_access_key", "40 characters"},
		{"temporary key without token", map[string]any{"access_key_id": ptAWSTmpID, "secret_access_key": ptAWSSecret}, 400, "session_token", "temporary (ASIA…) access keys"},
		{"long-term key with token", map[string]any{"access_key_id": ptAWSID, "secret_access_key": ptAWSSecret, "session_token": ptAWSToken}, 422, "session_token", "only used with temporary"},
		{"token with spaces", map[string]any{"access_key_id": ptAWSTmpID, "secret_access_key": ptAWSSecret, "session_token": "a b"}, 400, "session_token", "without spaces"},
		{"token too long", map[string]any{"access_key_id": ptAWSTmpID, "secret_access_key": ptAWSSecret, "session_token": strings.Repeat("t", 8193)}, 400, "session_token", "longer than 8192"},
		{"unknown field", map[string]any{"access_key_id": ptAWSID, "secret_access_key": ptAWSSecret, "region": "us-east-1"}, 400, "region", "not a field"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse(KindAWS, ptBody(t, tc.body), ptNow)
			ptWantProblem(t, err, tc.status, tc.field, tc.msg)
			ptNoLeak(t, err, secrets...)
		})
	}
	header := "Access key ID,Secret access key\n"
	files := []struct {
		name   string
		file   string
		form   map[string]string
		status int
		field  string
		msg    string
	}{
		{"CSV wrong header", "Key,Secret\n" + ptAWSID + "," + ptAWSSecret + "\n", nil, 400, "file", "Access key ID,Secret access key"},
		{"CSV no row", header, nil, 400, "file", "no access key row"},
		{"CSV two rows", header + ptAWSID + "," + ptAWSSecret + "\n" + ptAWSID + "," + ptAWSSecret + "\n", nil, 400, "file", "holds 2 access keys"},
		{"CSV short row", header + ptAWSID + "\n", nil, 400, "file", "1 columns"},
		{"CSV bad quoting", header + "\"" + ptAWSID + "," + ptAWSSecret + "\n", nil, 400, "file", "not valid CSV"},
		{"CSV bad id", header + "AKIA123," + ptAWSSecret + "\n", nil, 400, "file.access_key_id", "AKIA"},
		{"CSV bad secret", header + ptAWSID + ",short\n", nil, 400, "file.secret_access_key", "40 characters"},
		{"CSV user variant leaks no password", "User name,Password,Access key ID,Secret access key,Console login link\nci,Hunter2-xQ9!zzK," + ptAWSID + ",bad,https://x\n", nil, 400, "file.secret_access_key", "40 characters"},
		{"CSV temporary without token", header + ptAWSTmpID + "," + ptAWSSecret + "\n", nil, 400, "session_token", "required"},
		{"CSV with profile", header + ptAWSID + "," + ptAWSSecret + "\n", map[string]string{"profile": "x"}, 400, "profile", "INI"},
		{"INI two profiles", "[a]\naws_access_key_id=" + ptAWSID + "\n[b]\naws_access_key_id=" + ptAWSID + "\n", nil, 400, "file", "holds 2 profiles"},
		{"INI unknown profile", "[a]\naws_access_key_id=" + ptAWSID + "\naws_secret_access_key=" + ptAWSSecret + "\n", map[string]string{"profile": "b"}, 400, "profile", "no profile"},
		{"INI duplicate profile", "[a]\n[a]\n", nil, 400, "file", "appears twice"},
		{"INI duplicate key", "[a]\naws_access_key_id=" + ptAWSID + "\naws_access_key_id=" + ptAWSID + "\n", nil, 400, "file", "appears twice"},
		{"INI role profile", "[a]\nrole_arn=arn:aws:iam::123456789012:role/x\nsource_profile=b\n", nil, 422, "file", "static access keys"},
		{"INI unknown setting", "[a]\naws_access_key_id=" + ptAWSID + "\nfoo=" + ptAWSSecret + "\n", nil, 400, "file", "line 3: unsupported setting"},
		{"INI key outside section", "aws_access_key_id=" + ptAWSID + "\n", nil, 400, "file", "outside a [profile] section"},
		{"INI no secret", "[default]\naws_access_key_id=" + ptAWSID + "\n", nil, 400, "file.secret_access_key", "no aws_secret_access_key"},
		{"INI not key=value", "[default]\n" + ptAWSSecret + "\n", nil, 400, "file", "line 2"},
		{"INI token differs from form", "[default]\naws_access_key_id=" + ptAWSTmpID + "\naws_secret_access_key=" + ptAWSSecret + "\naws_session_token=" + ptAWSToken + "\n", map[string]string{"session_token": "other"}, 400, "session_token", "differs"},
		{"INI long-term with token", "[default]\naws_access_key_id=" + ptAWSID + "\naws_secret_access_key=" + ptAWSSecret + "\naws_session_token=" + ptAWSToken + "\n", nil, 422, "file.session_token", "only used with temporary"},
		{"shell variables", "export AWS_ACCESS_KEY_ID=" + ptAWSID + "\nexport AWS_SECRET_ACCESS_KEY=" + ptAWSSecret + "\n", nil, 400, "file", "shell variables"},
		{"binary", "\xff\xfe\x00A", nil, 400, "file", "UTF-8"},
		{"unknown form field", header + ptAWSID + "," + ptAWSSecret + "\n", map[string]string{"region": "us-east-1"}, 400, "region", "not a form field"},
	}
	for _, tc := range files {
		t.Run("file/"+tc.name, func(t *testing.T) {
			_, _, err := ParseFile(KindAWS, []byte(tc.file), tc.form, ptNow)
			ptWantProblem(t, err, tc.status, tc.field, tc.msg)
			ptNoLeak(t, err, secrets...)
		})
	}
}

// --- Common ------------------------------------------------------------------

func TestUnknownKind(t *testing.T) {
	_, _, err := Parse("kerberos", ptBody(t, map[string]any{"file": "x"}), ptNow)
	ptWantProblem(t, err, http.StatusUnprocessableEntity, "kind")
	_, _, err = ParseFile("", []byte("x"), nil, ptNow)
	ptWantProblem(t, err, http.StatusUnprocessableEntity, "kind")
	if _, err := Inspect(Material{Kind: "nope"}, ptNow); err == nil {
		t.Fatal("Inspect accepted an unknown kind")
	}
}

func TestProblemShape(t *testing.T) {
	_, _, err := Parse(KindClientCredentials, ptBody(t, map[string]any{"client_secret": 1, "extra": true}), ptNow)
	p := ptWantProblem(t, err, 400, "client_secret", "must be a string")
	ptWantProblem(t, err, 400, "extra", "not a field")
	if p.Title != "Bad Request" || !strings.Contains(p.Detail, "(and ") {
		t.Fatalf("problem %+v", p)
	}
}

func TestInspectRefusesCorruptMaterial(t *testing.T) {
	key := ptPKCS8(t, ptRSA(t, 2048))
	for _, m := range []Material{
		{Kind: KindGoogle, Google: json.RawMessage(`{"type":"service_account"}`)},
		{Kind: KindJWTBearer, KeyPEM: "garbage"},
		{Kind: KindClientCredentials, ClientID: "c"},
		{Kind: KindMTLS, KeyPEM: key},
		{Kind: KindAWS, AccessKeyID: ptAWSID, SecretAccessKey: "x"},
	} {
		info, err := Inspect(m, ptNow)
		if err == nil {
			t.Fatalf("%s: accepted: %+v", m.Kind, info)
		}
		if _, isProblem := problem.As(err); isProblem {
			t.Fatalf("%s: Inspect's error is a problem for the caller: %v", m.Kind, err)
		}
		ptNoLeak(t, err, key, "garbage")
	}
}

func TestInfoHoldsNoSecret(t *testing.T) {
	secret := "averyLONGclientsecretvalue0123456789"
	_, info, err := Parse(KindClientCredentials, ptBody(t, map[string]any{"client_id": "c", "client_secret": secret}), ptNow)
	if err != nil {
		t.Fatal(err)
	}
	shown := fmt.Sprintf("%+v %s", info, info.FingerprintInput)
	for i := 0; i+5 <= len(secret); i++ {
		if strings.Contains(shown, secret[i:i+5]) {
			t.Fatalf("info shows 5 characters of the secret: %s", shown)
		}
	}
	_, info, err = Parse(KindAWS, ptBody(t, map[string]any{"access_key_id": ptAWSID, "secret_access_key": ptAWSSecret}), ptNow)
	if err != nil {
		t.Fatal(err)
	}
	ptNoLeak(t, fmt.Errorf("%+v %s", info, info.FingerprintInput), ptAWSSecret)
}

func TestPEMBlocksStrict(t *testing.T) {
	good := ptPKCS8(t, ptRSA(t, 2048))
	for name, text := range map[string]string{
		"junk before":     "x" + good,
		"junk between":    good + "x\n" + good,
		"skipped block":   "-----BEGIN A-----\n%%%\n-----END A-----\n" + good,
		"unterminated":    strings.TrimSuffix(strings.TrimSpace(good), "-----END PRIVATE KEY-----"),
		"too many blocks": strings.Repeat(good, maxPEMBlocks+1),
	} {
		if _, err := pemBlocks(text); err == nil {
			t.Errorf("%s: accepted", name)
		} else if _, ok := err.(*KeyError); !ok {
			t.Errorf("%s: error %T", name, err)
		}
	}
	if _, err := PrivateKey(good); err != nil {
		t.Fatal(err)
	}
}
