package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/keys"
	"github.com/stormcreds/storm/internal/server"
	"github.com/stormcreds/storm/internal/server/servertest"
	"github.com/stormcreds/storm/internal/vault"
)

const keysJSON = `{"active_term":2,"terms":[{"term":1,"created_at":"2026-01-01T00:00:00Z","encryptions":4096,"active":false},{"term":2,"created_at":"2026-02-01T00:00:00Z","encryptions":1024,"active":true}],"rewrap":{"state":"running","target_term":2,"phase":"credentials","pass":1,"done":450,"total":1000,"rewrapped":400,"skipped":50,"failed":0,"swept":0,"started_at":"2026-02-01T00:00:00Z","updated_at":"2026-02-01T00:00:01Z","finished_at":null}}`

func TestKeysCommands(t *testing.T) {
	f := newFakeAPI(t)
	f.set("GET /v1/keys", jsonReply(200, keysJSON))
	f.set("POST /v1/keys/rotate", jsonReply(202, keysJSON))

	r, err := storm(t, f, "", "keys")
	if err != nil {
		t.Fatal(err)
	}
	out := r.stdout.String()
	for _, want := range []string{"TERM", "4096", "active", "450/1000 (45%), credentials", "re-wrap:", "running"} {
		if !strings.Contains(out, want) {
			t.Errorf("keys status lacks %q:\n%s", want, out)
		}
	}
	f.find(t, "GET", "/v1/keys")

	r, err = storm(t, f, "", "keys", "rotate")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.stdout.String(), "data-key term 2") {
		t.Errorf("rotate:\n%s", r.stdout.String())
	}
	f.find(t, "POST", "/v1/keys/rotate")

	r, err = storm(t, f, "", "keys", "status", "--json")
	if err != nil || !strings.Contains(r.stdout.String(), `"target_term": 2`) {
		t.Errorf("--json: %v\n%s", err, r.stdout.String())
	}

	if _, err := storm(t, f, "", "keys", "rotate-kek"); err == nil || !strings.Contains(err.Error(), "--new-kek-url is required") {
		t.Errorf("rotate-kek without --new-kek-url: %v", err)
	}
}

// rotateServer answers the rotation, then a job that advances on every
// status poll.
func rotateServer(t *testing.T, steps []string) *httptest.Server {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		i := 0
		if r.Method == "GET" {
			i = min(int(n.Add(1)), len(steps)-1)
		} else {
			w.WriteHeader(http.StatusAccepted)
		}
		fmt.Fprintf(w, `{"active_term":3,"terms":[],"rewrap":%s}`, steps[i])
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestKeysRotateWait(t *testing.T) {
	steps := []string{
		`{"state":"running","target_term":3,"phase":"credentials","pass":1,"done":0,"total":100}`,
		`{"state":"running","target_term":3,"phase":"credentials","pass":1,"done":55,"total":100}`,
		`{"state":"running","target_term":3,"phase":"settling","pass":1,"done":100,"total":100}`,
		`{"state":"done","target_term":3,"phase":"done","pass":2,"done":100,"total":100,"rewrapped":90,"skipped":10,"swept":2}`,
	}
	for _, tty := range []bool{false, true} {
		srv := rotateServer(t, steps)
		var out, errOut bytes.Buffer
		c := &cli{stdin: strings.NewReader(""), stdout: &ttyWriter{&out}, stderr: &errOut, pollEvery: time.Millisecond,
			getenv:     func(k string) string { return map[string]string{"STORM_SERVER": srv.URL, "STORM_TOKEN": "t"}[k] },
			isTerminal: func(fd int) bool { return tty && fd == 7 }}
		if err := c.main(context.Background(), []string{"keys", "rotate", "--wait"}); err != nil {
			t.Fatal(err)
		}
		s := out.String()
		for _, want := range []string{"term 3", "done: 100 rows, 90 re-wrapped, 10 already current, 0 failed, 2 swept up"} {
			if !strings.Contains(s, want) {
				t.Errorf("tty=%v: output lacks %q:\n%s", tty, want, s)
			}
		}
		if tty {
			if !strings.Contains(s, "\r\x1b[K[################..............]  55%") || !strings.Contains(s, "100%") {
				t.Errorf("no progress bar:\n%q", s)
			}
		} else {
			if strings.Contains(s, "\r") || !strings.Contains(s, "re-wrap: 50%, credentials\n") || !strings.Contains(s, "waiting for every instance") {
				t.Errorf("plain progress:\n%s", s)
			}
		}
	}
}

// ttyWriter has a file descriptor, as a terminal's stdout does.
type ttyWriter struct{ *bytes.Buffer }

func (ttyWriter) Fd() uintptr { return 7 }

// keys rotate --wait against a real server, then rotate-kek on its data
// directory while it runs.
func TestKeysAgainstRealServer(t *testing.T) {
	env := servertest.Start(t, servertest.Options{Keys: keys.Config{Interval: 20 * time.Millisecond, Settle: 50 * time.Millisecond}})
	up := servertest.NewUpstream(t, "kek-key-aaaaaaaaaaaaaaaa")
	id := env.CustomIntegration("acme", up)
	env.Must(http.StatusOK, "PUT", "/v1/integrations/"+id+"/credentials", "", map[string]any{"api_key": "kek-key-aaaaaaaaaaaaaaaa"})
	run := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := runCLI(context.Background(), append([]string{"--server", env.URL, "--data-dir", env.DataDir}, args...), strings.NewReader(""), &out, &errOut)
		return out.String(), err
	}
	out, err := run("keys", "rotate", "--wait")
	if err != nil || !strings.Contains(out, "done:") || !strings.Contains(out, "0 failed") {
		t.Fatalf("rotate --wait: %v\n%s", err, out)
	}
	out, err = run("keys", "status")
	if err != nil || !strings.Contains(out, "done") {
		t.Fatalf("status: %v\n%s", err, out)
	}

	// A new key file, and the keyring re-wrapped under it while the
	// server runs.
	newKey := filepath.Join(t.TempDir(), "new.key")
	if err := os.WriteFile(newKey, []byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = run("keys", "rotate-kek", "--new-kek-url", "file://"+newKey)
	if err != nil || !strings.Contains(out, "re-wrapped the keyring (2 data-key terms, active 2)") {
		t.Fatalf("rotate-kek: %v\n%s", err, out)
	}
	if out, err = run("keys", "rotate-kek", "--new-kek-url", "file://"+newKey); err != nil || !strings.Contains(out, "nothing to do") {
		t.Fatalf("rotate-kek again (idempotent): %v\n%s", err, out)
	}
	other := "base64key://" + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))
	if out, err = run("keys", "rotate-kek", "--kek-url", other, "--new-kek-url", other+"x"); err == nil {
		t.Fatalf("rotate-kek with a bad new URL: %s", out)
	}
	if out, err = run("keys", "rotate-kek", "--kek-url", other, "--new-kek-url", "base64key://"+base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{8}, 32))); err == nil || !strings.Contains(err.Error(), "is --kek-url the KEK") {
		t.Fatalf("rotate-kek from a KEK that does not open the keyring: %v\n%s", err, out)
	}
	if out, err = run("keys", "rotate-kek", "--kek-url", "file://"+newKey, "--new-kek-url", "file://"+newKey); err == nil {
		t.Fatalf("rotate-kek to the same key: %s", out)
	}
	// The running server keeps serving with the keys it loaded.
	if a := env.Must(http.StatusOK, "GET", "/v1/integrations/"+id+"/access", "", nil); a["api_key"] != "kek-key-aaaaaaaaaaaaaaaa" {
		t.Fatalf("access after rotate-kek: %v", a)
	}
	// It refuses a data-key rotation it could not share.
	if r := env.Do("POST", "/v1/keys/rotate", "", nil); r.Status != http.StatusConflict || !strings.Contains(string(r.Body), "--kek-url") {
		t.Fatalf("rotate on a stale instance: %d %s", r.Status, r.Body)
	}
	// A second instance needs the new KEK: the old key file no longer
	// opens the database.
	if _, err := server.Open(context.Background(), server.Config{DataDir: env.DataDir, NoBackground: true}); !errors.Is(err, vault.ErrWrongKEK) {
		t.Fatalf("open with the old key file: %v", err)
	}
	again, err := server.Open(context.Background(), server.Config{DataDir: env.DataDir, KEKURL: "file://" + newKey, NoBackground: true})
	if err != nil {
		t.Fatalf("open with the new key: %v", err)
	}
	defer again.Close()
	if info := again.Vault.Info(); info.Active != 2 || len(info.Terms) != 2 {
		t.Fatalf("keyring under the new KEK: %+v", info)
	}
}
