package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"slices"
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

	// Restore into a fresh dir with the key file the backup was made with.
	fresh := filepath.Join(t.TempDir(), "restored")
	rep, err := server.Restore(context.Background(), server.Config{DataDir: fresh}, server.RestoreOptions{From: out, KeyFile: filepath.Join(env.DataDir, vault.DefaultKeyFile)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Integrations != 5 || rep.Credentials != 5 || !rep.CopiedKey {
		t.Fatalf("restored %+v, want 5 and 5 and the key copied", rep)
	}
	// The audit chain, written to while the backup ran, holds in the copy
	// and goes on in the restored server.
	if !rep.Audit.OK || rep.Audit.Entries < 10 {
		t.Fatalf("restored audit chain: %+v", rep.Audit)
	}
	// The restored server serves the keys.
	restored := servertest.Start(t, servertest.Options{DataDir: fresh})
	if a := restored.Must(200, "GET", "/v1/integrations/"+ids[0]+"/access", restored.AdminToken, nil); !strings.HasPrefix(a["api_key"].(string), "backup-key-") {
		t.Fatalf("access after restore = %v", a)
	}
	restored.Must(200, "PATCH", "/v1/integrations/"+ids[0], restored.AdminToken, map[string]any{"name": "After restore"})
	if v := restored.Must(200, "GET", "/v1/audit/verify", restored.AdminToken, nil); v["ok"] != true || v["entries"].(float64) <= float64(rep.Audit.Entries) {
		t.Fatalf("verify after restore and a write = %v (restored %d entries)", v, rep.Audit.Entries)
	}
	// Not over an existing database.
	if _, err := server.Restore(context.Background(), server.Config{DataDir: fresh}, server.RestoreOptions{From: out}); err == nil {
		t.Fatal("restored over an existing database")
	}
}

// dirEntries lists what a data dir holds ("" when it does not exist).
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// backupOf returns a backup of a server holding one API key, and the
// server's data dir.
func backupOf(t *testing.T) (backup, dataDir, intID string) {
	t.Helper()
	env := servertest.Start(t, servertest.Options{})
	up := servertest.NewUpstream(t, "restore-key-aaaaaaaaaaaa")
	intID = env.CustomIntegration("Restore", up)
	env.Must(200, "PUT", "/v1/integrations/"+intID+"/credentials", "", map[string]any{"api_key": "restore-key-aaaaaaaaaaaa"})
	backup = filepath.Join(t.TempDir(), "storm-backup.db")
	if err := server.Backup(context.Background(), server.Config{DataDir: env.DataDir}, backup); err != nil {
		t.Fatal(err)
	}
	return backup, env.DataDir, intID
}

// TestRestoreNeverCreatesAKey: without a key (no --key-file, no
// storm.key in the data dir, no --kek-url) restore refuses before it
// writes anything; it never generates a key.
func TestRestoreNeverCreatesAKey(t *testing.T) {
	backup, _, _ := backupOf(t)
	dir := filepath.Join(t.TempDir(), "restored")
	_, err := server.Restore(context.Background(), server.Config{DataDir: dir}, server.RestoreOptions{From: backup})
	if !errors.Is(err, server.ErrNoKey) || !strings.Contains(err.Error(), "--key-file") || !strings.Contains(err.Error(), "--kek-url") {
		t.Fatalf("restore without a key: %v", err)
	}
	if got := dirEntries(t, dir); got != nil {
		t.Fatalf("a failed restore left %v", got)
	}
	// An existing empty dir stays empty too.
	empty := t.TempDir()
	if _, err := server.Restore(context.Background(), server.Config{DataDir: empty}, server.RestoreOptions{From: backup}); err == nil {
		t.Fatal("restored without a key")
	}
	if got := dirEntries(t, empty); len(got) != 0 {
		t.Fatalf("a failed restore left %v", got)
	}
}

// TestRestoreWithWrongKeyLeavesNothing: a key that does not open the
// backup fails the restore, which leaves no storm.db and no storm.key,
// so the retry with the right key just works (no "already exists").
func TestRestoreWithWrongKeyLeavesNothing(t *testing.T) {
	backup, dataDir, id := backupOf(t)
	wrong := filepath.Join(t.TempDir(), "wrong.key")
	os.WriteFile(wrong, []byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))+"\n"), 0o600)
	dir := filepath.Join(t.TempDir(), "restored")
	for _, opt := range []server.RestoreOptions{{From: backup, KeyFile: wrong}} {
		_, err := server.Restore(context.Background(), server.Config{DataDir: dir}, opt)
		if err == nil || !strings.Contains(err.Error(), "key-encryption key") {
			t.Fatalf("restore with a wrong key: %v", err)
		}
		if got := dirEntries(t, dir); got != nil {
			t.Fatalf("a failed restore left %v", got)
		}
	}
	_, err := server.Restore(context.Background(), server.Config{DataDir: dir, KEKURL: "base64key://" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))}, server.RestoreOptions{From: backup})
	if err == nil || dirEntries(t, dir) != nil {
		t.Fatalf("restore with a wrong --kek-url: %v, left %v", err, dirEntries(t, dir))
	}
	// The retry with the right key succeeds and serves.
	rep, err := server.Restore(context.Background(), server.Config{DataDir: dir}, server.RestoreOptions{From: backup, KeyFile: filepath.Join(dataDir, vault.DefaultKeyFile)})
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if got := dirEntries(t, dir); !slices.Equal(got, []string{"storm.db", "storm.key"}) {
		t.Fatalf("restored dir holds %v", got)
	}
	if fi, _ := os.Stat(filepath.Join(dir, vault.DefaultKeyFile)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("restored key mode %v", fi.Mode())
	}
	if rep.KeyFile != filepath.Join(dir, vault.DefaultKeyFile) || !rep.CopiedKey {
		t.Fatalf("report %+v", rep)
	}
	env := servertest.Start(t, servertest.Options{DataDir: dir})
	env.Must(200, "GET", "/v1/integrations/"+id+"/access", "", nil)
}

// TestRestoreWithKEKURL: with --kek-url the restored dir holds no key
// file; the server then starts with the same URL, and refuses (without
// creating a key) when it is left out.
func TestRestoreWithKEKURL(t *testing.T) {
	kek := "base64key://" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))
	env := servertest.Start(t, servertest.Options{KEKURL: kek})
	up := servertest.NewUpstream(t, "kek-url-key-aaaaaaaaaaaa")
	id := env.CustomIntegration("KEK URL", up)
	env.Must(200, "PUT", "/v1/integrations/"+id+"/credentials", "", map[string]any{"api_key": "kek-url-key-aaaaaaaaaaaa"})
	backup := filepath.Join(t.TempDir(), "b.db")
	if err := server.Backup(context.Background(), server.Config{DataDir: env.DataDir}, backup); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rep, err := server.Restore(context.Background(), server.Config{DataDir: dir, KEKURL: kek}, server.RestoreOptions{From: backup})
	if err != nil || rep.KeyFile != "" || rep.Credentials != 1 {
		t.Fatalf("restore: %+v %v", rep, err)
	}
	if got := dirEntries(t, dir); !slices.Equal(got, []string{"storm.db"}) {
		t.Fatalf("restored dir holds %v", got)
	}
	_, err = server.Open(context.Background(), server.Config{DataDir: dir})
	if !errors.Is(err, server.ErrKeyMissing) {
		t.Fatalf("open without the key: %v", err)
	}
	if got := dirEntries(t, dir); !slices.Equal(got, []string{"storm.db"}) {
		t.Fatalf("a refused start left %v", got)
	}
	restored := servertest.Start(t, servertest.Options{DataDir: dir, KEKURL: kek})
	restored.Must(200, "GET", "/v1/integrations/"+id+"/access", "", nil)
}

// TestServeRefusesDatabaseWithoutKey: a data dir that holds a database
// but lost its storm.key does not start, and no new key is created; with
// the key back it starts.
func TestServeRefusesDatabaseWithoutKey(t *testing.T) {
	dir := t.TempDir()
	env := servertest.Start(t, servertest.Options{DataDir: dir})
	up := servertest.NewUpstream(t, "lost-key-aaaaaaaaaaaaaaaa")
	id := env.CustomIntegration("Lost key", up)
	env.Must(200, "PUT", "/v1/integrations/"+id+"/credentials", "", map[string]any{"api_key": "lost-key-aaaaaaaaaaaaaaaa"})
	env.Server.Close()
	keyPath := filepath.Join(dir, vault.DefaultKeyFile)
	key, _ := os.ReadFile(keyPath)
	os.Remove(keyPath)

	_, err := server.Open(context.Background(), server.Config{DataDir: dir})
	if !errors.Is(err, server.ErrKeyMissing) || !strings.Contains(err.Error(), keyPath) || !strings.Contains(err.Error(), "--kek-url") {
		t.Fatalf("open without the key: %v", err)
	}
	if _, err := os.Stat(keyPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a new key was created: %v", err)
	}
	os.WriteFile(keyPath, key, 0o600)
	again := servertest.Start(t, servertest.Options{DataDir: dir})
	again.Must(200, "GET", "/v1/integrations/"+id+"/access", "", nil)
}
