package serviceaccount

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/problem"
)

// The fuzz targets feed arbitrary input to the parsers. Each asserts
// that they do not panic, that a refusal is a problem naming a field with
// status 400 or 422, and that accepted material round-trips: Inspect
// (directly and after the vault's JSON encoding) yields the same Info.
// Seeds, valid and invalid, are in testdata/fuzz/<target>/.

func fuzzCheck(t *testing.T, kind string, m Material, info Info, err error) {
	t.Helper()
	if err != nil {
		p, ok := err.(*problem.Problem)
		if !ok {
			t.Fatalf("error %T is not a *problem.Problem: %v", err, err)
		}
		if p.Status != http.StatusBadRequest && p.Status != http.StatusUnprocessableEntity {
			t.Fatalf("status %d: %v", p.Status, p)
		}
		if len(p.Errors) == 0 {
			t.Fatalf("problem without field errors: %v", p)
		}
		for _, fe := range p.Errors {
			if fe.Field == "" || fe.Message == "" {
				t.Fatalf("empty field error in %+v", p.Errors)
			}
		}
		if !reflect.DeepEqual(m, Material{}) || !reflect.DeepEqual(info, Info{}) {
			t.Fatalf("refused input returned material or info")
		}
		return
	}
	if m.Kind != kind {
		t.Fatalf("accepted material of kind %q, want %q", m.Kind, kind)
	}
	got, err := Inspect(m, ptNow)
	if err != nil {
		t.Fatalf("accepted material fails Inspect: %v", err)
	}
	if !reflect.DeepEqual(got, info) {
		t.Fatalf("Inspect = %+v, Parse gave %+v", got, info)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("accepted material does not marshal: %v", err)
	}
	var back Material
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("accepted material does not unmarshal: %v", err)
	}
	if got, err = Inspect(back, ptNow); err != nil || !reflect.DeepEqual(got, info) {
		t.Fatalf("after the vault's JSON encoding, Inspect = %+v, %v; want %+v", got, err, info)
	}
}

// FuzzParseGoogle: a Google service-account JSON key file, as a body
// member and as an uploaded file.
func FuzzParseGoogle(f *testing.F) {
	f.Fuzz(func(t *testing.T, file []byte) {
		m, info, err := ParseFile(KindGoogle, file, nil, ptNow)
		fuzzCheck(t, KindGoogle, m, info, err)
		if json.Valid(file) {
			m, info, err = Parse(KindGoogle, map[string]json.RawMessage{"file": file}, ptNow)
			fuzzCheck(t, KindGoogle, m, info, err)
		}
	})
}

// FuzzParsePEMKey: a PEM private key with a key id, for jwt_bearer,
// client_credentials (private_key_jwt) and github_app (RSA only).
func FuzzParsePEMKey(f *testing.F) {
	f.Fuzz(func(t *testing.T, keyPEM, keyID string) {
		kid, _ := json.Marshal(keyID)
		pemJSON, _ := json.Marshal(keyPEM)
		m, info, err := Parse(KindJWTBearer, map[string]json.RawMessage{"key_pem": pemJSON, "key_id": kid}, ptNow)
		fuzzCheck(t, KindJWTBearer, m, info, err)
		if err == nil {
			if _, kerr := PrivateKey(keyPEM); kerr != nil {
				t.Fatalf("Parse accepted a key PrivateKey refuses: %v", kerr)
			}
		}
		m, info, err = ParseFile(KindJWTBearer, []byte(keyPEM), map[string]string{"key_id": keyID}, ptNow)
		fuzzCheck(t, KindJWTBearer, m, info, err)
		m, info, err = ParseFile(KindClientCredentials, []byte(keyPEM), map[string]string{"client_id": "fuzz-client", "key_id": keyID}, ptNow)
		fuzzCheck(t, KindClientCredentials, m, info, err)
		m, info, err = ParseFile(KindGitHubApp, []byte(keyPEM), nil, ptNow)
		fuzzCheck(t, KindGitHubApp, m, info, err)
		if err == nil && info.Algorithm != "RSA" {
			t.Fatalf("github_app accepted a %s key", info.Algorithm)
		}
	})
}

// FuzzParseMTLS: a certificate chain and a key, given apart (JSON body)
// and in one file, in both orders.
func FuzzParseMTLS(f *testing.F) {
	f.Fuzz(func(t *testing.T, certPEM, keyPEM string) {
		c, _ := json.Marshal(certPEM)
		k, _ := json.Marshal(keyPEM)
		m, info, err := Parse(KindMTLS, map[string]json.RawMessage{"cert_pem": c, "key_pem": k}, ptNow)
		fuzzCheck(t, KindMTLS, m, info, err)
		m, info, err = ParseFile(KindMTLS, []byte(certPEM+"\n"+keyPEM), nil, ptNow)
		fuzzCheck(t, KindMTLS, m, info, err)
		m, info, err = ParseFile(KindMTLS, []byte(keyPEM+"\n"+certPEM), nil, ptNow)
		fuzzCheck(t, KindMTLS, m, info, err)
	})
}

// FuzzParseAWSFile: the console's access-key CSV or an INI credentials
// file, with optional session_token and profile form fields.
func FuzzParseAWSFile(f *testing.F) {
	f.Fuzz(func(t *testing.T, file []byte, sessionToken, profile string) {
		m, info, err := ParseFile(KindAWS, file, map[string]string{"session_token": sessionToken, "profile": profile}, ptNow)
		fuzzCheck(t, KindAWS, m, info, err)
	})
}

// TestFuzzSeeds keeps the seed corpora honest: seeds named valid_* are
// accepted, invalid_* refused.
func TestFuzzSeeds(t *testing.T) {
	run := map[string]func(v []string) error{
		"FuzzParseGoogle": func(v []string) error {
			_, _, err := ParseFile(KindGoogle, []byte(v[0]), nil, ptNow)
			return err
		},
		"FuzzParsePEMKey": func(v []string) error {
			_, _, err := ParseFile(KindJWTBearer, []byte(v[0]), map[string]string{"key_id": v[1]}, ptNow)
			return err
		},
		"FuzzParseMTLS": func(v []string) error {
			c, _ := json.Marshal(v[0])
			k, _ := json.Marshal(v[1])
			_, _, err := Parse(KindMTLS, map[string]json.RawMessage{"cert_pem": c, "key_pem": k}, ptNow)
			return err
		},
		"FuzzParseAWSFile": func(v []string) error {
			_, _, err := ParseFile(KindAWS, []byte(v[0]), map[string]string{"session_token": v[1], "profile": v[2]}, ptNow)
			return err
		},
	}
	for target, parse := range run {
		files, err := filepath.Glob(filepath.Join("testdata", "fuzz", target, "*"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no seeds (%v)", target, err)
		}
		var valid, invalid int
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if lines[0] != "go test fuzz v1" {
				t.Fatalf("%s: not a corpus file", name)
			}
			var vals []string
			for _, l := range lines[1:] {
				open, end := strings.IndexByte(l, '('), strings.LastIndexByte(l, ')')
				s, err := strconv.Unquote(l[open+1 : end])
				if open < 0 || err != nil {
					t.Fatalf("%s: cannot read %q", name, l)
				}
				vals = append(vals, s)
			}
			err = parse(vals)
			switch base := filepath.Base(name); {
			case strings.HasPrefix(base, "valid_"):
				valid++
				if err != nil {
					t.Errorf("%s: refused: %v", name, err)
				}
			case strings.HasPrefix(base, "invalid_"):
				invalid++
				if err == nil {
					t.Errorf("%s: accepted", name)
				}
			}
		}
		if valid == 0 || invalid == 0 {
			t.Errorf("%s: %d valid and %d invalid seeds; want both", target, valid, invalid)
		}
	}
}
