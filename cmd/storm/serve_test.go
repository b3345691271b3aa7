package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/vault"
)

// TestServeHelpHidesSecrets: -h lists flags without printing the
// database URL or an inline key taken from the environment.
func TestServeHelpHidesSecrets(t *testing.T) {
	t.Setenv("STORM_DATABASE", "postgres://storm:db-password-canary@db/storm")
	t.Setenv("STORM_KEK_URL", "base64key://kek-canary-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	var out, errOut bytes.Buffer
	if err := serve(context.Background(), []string{"-h"}, &out, &errOut); !errors.Is(err, errHelp) {
		t.Fatalf("serve -h: %v", err)
	}
	if s := out.String() + errOut.String(); strings.Contains(s, "canary") || !strings.Contains(s, "kek-url") {
		t.Fatalf("help output:\n%s", s)
	}
}

// TestServeRefusesKeyFileOthersCanRead: storm serve does not start with
// a key file (the data dir's storm.key or a file:// --kek-url) that group
// or others can read, and says how to fix it; with mode 0600 it starts.
func TestServeRefusesKeyFileOthersCanRead(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{5}, 32)) + "\n"
	start := func(t *testing.T, args ...string) error {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		return serve(ctx, append([]string{"--addr", "127.0.0.1:0", "--log-level", "error"}, args...), io.Discard, io.Discard)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		dir := t.TempDir()
		path := filepath.Join(dir, "storm.key")
		if err := os.WriteFile(path, []byte(key), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		err := start(t, "--data-dir", dir)
		if err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) || !errors.Is(err, vault.ErrKeyFileMode) {
			t.Errorf("storm.key mode %04o: %v", mode, err)
		}
		if _, statErr := os.Stat(filepath.Join(dir, "storm.db")); statErr == nil {
			t.Errorf("storm.key mode %04o: the database was created anyway", mode)
		}

		other := filepath.Join(t.TempDir(), "kek")
		if err := os.WriteFile(other, []byte(key), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chmod(other, mode)
		err = start(t, "--data-dir", t.TempDir(), "--kek-url", "file://"+other)
		if err == nil || !strings.Contains(err.Error(), "chmod 600 "+other) {
			t.Errorf("file:// key mode %04o: %v", mode, err)
		}
	}
	// The same file with 0600 serves: it says so, and stops cleanly
	// when asked (however long a loaded machine takes to start it).
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "storm.key"), []byte(key), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	running := &stopWhenRunning{cancel: cancel}
	if err := serve(ctx, []string{"--addr", "127.0.0.1:0", "--log-level", "error", "--data-dir", dir}, running, io.Discard); err != nil || !running.seen {
		t.Fatalf("storm.key mode 0600: %v (running line seen: %v)", err, running.seen)
	}
}

// stopWhenRunning is serve's stdout that cancels the serve once it says
// "Storm is running".
type stopWhenRunning struct {
	cancel context.CancelFunc
	seen   bool
}

func (w *stopWhenRunning) Write(p []byte) (int, error) {
	if strings.Contains(string(p), "Storm is running") {
		w.seen = true
		w.cancel()
	}
	return len(p), nil
}
