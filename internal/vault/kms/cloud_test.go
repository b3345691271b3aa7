//go:build kms

package kms_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stormcreds/storm/internal/vault"
)

const kmsBuilt = true

// fakeKMS "encrypts" by prefixing and base64-encoding, remembering which
// key did it, and counts calls: enough to drive a keeper's client end to
// end without a cloud.
type fakeKMS struct {
	calls atomic.Int64
	mu    sync.Mutex
	owner map[string]string // ciphertext → key
}

func (f *fakeKMS) encrypt(key string, pt []byte) string {
	f.calls.Add(1)
	ct := "fake:" + key + ":" + base64.StdEncoding.EncodeToString(pt)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.owner == nil {
		f.owner = map[string]string{}
	}
	f.owner[ct] = key
	return ct
}

func (f *fakeKMS) decrypt(key, ct string) ([]byte, bool) {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	owner, ok := f.owner[ct]
	if key == "" { // the key is named in the ciphertext (AWS)
		key = owner
	}
	if !ok || owner != key {
		return nil, false
	}
	pt, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(ct, "fake:"+key+":"))
	return pt, err == nil
}

func roundTrip(t *testing.T, kekURL string, f *fakeKMS) {
	t.Helper()
	ctx := context.Background()
	kek, err := vault.OpenKEK(ctx, kekURL, "")
	if err != nil {
		t.Fatal(err)
	}
	ks := &memKeyring{}
	v, err := vault.Open(ctx, kek, ks)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if _, err := vault.Open(ctx, kek, ks); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	ad := vault.AD{Field: "x"}
	before := f.calls.Load()
	for range 1000 {
		ct, _ := v.Seal([]byte("secret"), ad)
		if _, err := v.Open(ct, ad); err != nil {
			t.Fatal(err)
		}
	}
	if f.calls.Load() != before {
		t.Fatalf("%d KMS calls for 1000 secrets", f.calls.Load()-before)
	}
	if _, err := v.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if f.calls.Load() != before+1 {
		t.Fatalf("rotation made %d KMS calls, want 1", f.calls.Load()-before)
	}
}

// hashivault:// against a fake Vault transit engine.
func TestHashiVault(t *testing.T) {
	f := &fakeKMS{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Vault-Token") != "test-token" {
			http.Error(w, `{"errors":["permission denied"]}`, http.StatusForbidden)
			return
		}
		var in map[string]string
		json.NewDecoder(r.Body).Decode(&in)
		key := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		var data map[string]any
		switch {
		case strings.HasPrefix(r.URL.Path, "/v1/transit/encrypt/"):
			pt, _ := base64.StdEncoding.DecodeString(in["plaintext"])
			data = map[string]any{"ciphertext": f.encrypt(key, pt)}
		case strings.HasPrefix(r.URL.Path, "/v1/transit/decrypt/"):
			pt, ok := f.decrypt(key, in["ciphertext"])
			if !ok {
				http.Error(w, `{"errors":["cipher: message authentication failed"]}`, http.StatusBadRequest)
				return
			}
			data = map[string]any{"plaintext": base64.StdEncoding.EncodeToString(pt)}
		default:
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"data": data})
	}))
	defer srv.Close()
	t.Setenv("VAULT_SERVER_URL", srv.URL)
	t.Setenv("VAULT_SERVER_TOKEN", "test-token")
	roundTrip(t, "hashivault://storm-keyring", f)
}

// awskms:// against a fake KMS (the JSON protocol, at endpoint=).
func TestAWSKMS(t *testing.T) {
	f := &fakeKMS{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential=AKIDTEST/") {
			http.Error(w, "unsigned", http.StatusForbidden)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var in struct {
			KeyId          string
			Plaintext      []byte
			CiphertextBlob []byte
		}
		json.Unmarshal(body, &in)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		switch r.Header.Get("X-Amz-Target") {
		case "TrentService.Encrypt":
			json.NewEncoder(w).Encode(map[string]any{"KeyId": in.KeyId, "CiphertextBlob": []byte(f.encrypt(in.KeyId, in.Plaintext))})
		case "TrentService.Decrypt":
			// Symmetric KMS finds the key in the blob; KeyId is optional.
			pt, ok := f.decrypt(in.KeyId, string(in.CiphertextBlob))
			if !ok {
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"__type":"InvalidCiphertextException","message":"bad"}`)
				return
			}
			json.NewEncoder(w).Encode(map[string]any{"KeyId": in.KeyId, "Plaintext": pt})
		default:
			http.Error(w, "unknown target "+r.Header.Get("X-Amz-Target"), http.StatusBadRequest)
		}
	}))
	defer srv.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	roundTrip(t, "awskms://alias/storm?region=us-east-1&endpoint="+srv.URL, f)
}
