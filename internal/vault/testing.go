package vault

import (
	"context"
	"encoding/base64"
	"testing"
)

// OpenTest opens a Vault on ks and closes it (its background work) when t
// ends. Every test vault uses the same key-encryption key, so several of
// them on one store behave as a cluster's instances do.
func OpenTest(t testing.TB, ks KeyringStore) *Vault {
	t.Helper()
	kek, err := OpenKEK(context.Background(), "base64key://"+base64.URLEncoding.EncodeToString([]byte("storm test key-encryption key 32")), "")
	if err != nil {
		t.Fatalf("test KEK: %v", err)
	}
	v, err := Open(context.Background(), kek, ks)
	if err != nil {
		t.Fatalf("open test vault: %v", err)
	}
	t.Cleanup(v.Close)
	return v
}
