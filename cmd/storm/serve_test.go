package main

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
)

// TestServeHelpHidesSecrets: -h lists flags without printing the
// database URL or an inline key taken from the environment.
func TestServeHelpHidesSecrets(t *testing.T) {
	t.Setenv("STORM_DATABASE", "postgres://storm:db-password-canary@db/storm")
	t.Setenv("STORM_KEK_URL", "base64key://kek-canary-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := os.Stderr
	os.Stderr = w
	serve(context.Background(), []string{"-h"})
	os.Stderr = stderr
	w.Close()
	out, _ := io.ReadAll(r)
	if s := string(out); strings.Contains(s, "canary") || !strings.Contains(s, "kek-url") {
		t.Fatalf("help output:\n%s", s)
	}
}
