package server_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stormcreds/storm/internal/server"
	"github.com/stormcreds/storm/internal/server/servertest"
	"github.com/stormcreds/storm/internal/vault"
)

// TestBackupRestore: a backup taken while the server is writing restores
// into a fresh data dir where every credential still decrypts; without
// the key-encryption key it does not open.
func TestBackupRestore(t *testing.T) {
	env := servertest.Start(t, servertest.Options{})
	up := servertest.NewUpstream(t)
	var ids []string
	for i := range 5 {
		key := "backup-key-" + strings.Repeat(string(rune('a'+i)), 12)
		up.AddKey(key)
		id := env.CustomIntegration("Backup "+string(rune('A'+i)), up)
		env.Must(200, "PUT", "/v1/integrations/"+id+"/credentials", "", map[string]any{"api_key": key})
		ids = append(ids, id)
	}
	// Writes go on while the backup runs.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
				env.Do("PATCH", "/v1/integrations/"+ids[i%len(ids)], "", map[string]any{"name": "Renamed " + ids[i%len(ids)] + string(rune('a'+i%26))})
			}
		}
	}()
	out := filepath.Join(t.TempDir(), "storm-backup.db")
	err := server.Backup(context.Background(), server.Config{DataDir: env.DataDir}, out)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(out); len(b) == 0 || strings.Contains(string(b), "backup-key-") || !strings.Contains(string(b), "Backup A") {
		t.Fatal("the backup is empty, or holds a plaintext key")
	}

	// Restore into a fresh dir with the same key file.
	fresh := t.TempDir()
	key, _ := os.ReadFile(filepath.Join(env.DataDir, vault.DefaultKeyFile))
	os.WriteFile(filepath.Join(fresh, vault.DefaultKeyFile), key, 0o600)
	rep, err := server.Restore(context.Background(), server.Config{DataDir: fresh}, out)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Integrations != 5 || rep.Credentials != 5 {
		t.Fatalf("restored %s, want 5 and 5", rep)
	}
	// The restored server serves the keys.
	restored := servertest.Start(t, servertest.Options{DataDir: fresh})
	if a := restored.Must(200, "GET", "/v1/integrations/"+ids[0]+"/access", restored.AdminToken, nil); !strings.HasPrefix(a["api_key"].(string), "backup-key-") {
		t.Fatalf("access after restore = %v", a)
	}
	// Not over an existing database, and not with another key.
	if _, err := server.Restore(context.Background(), server.Config{DataDir: fresh}, out); err == nil {
		t.Fatal("restored over an existing database")
	}
	other := t.TempDir()
	if _, err := server.Restore(context.Background(), server.Config{DataDir: other}, out); err == nil || !strings.Contains(err.Error(), "key-encryption key") {
		t.Fatalf("restore with a new key file: %v", err)
	}
}
