package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/server"
	"github.com/stormcreds/storm/internal/server/servertest"
	"github.com/stormcreds/storm/internal/vault"
)

// These tests follow a new operator through the CLI against a real
// server (issue 13): every command they meet works as written and every
// mistake gets one line that says what to do.

// realCLI runs CLI commands against env with its admin token (found in
// the data dir, as a person's CLI finds it).
type realCLI struct {
	t   *testing.T
	env *servertest.Env
}

func (r realCLI) run(stdin string, args ...string) (stdout, stderr string, err error) {
	r.t.Helper()
	inv := &invocation{env: map[string]string{"STORM_SERVER": r.env.URL, "STORM_DATA_DIR": r.env.DataDir}, stdin: strings.NewReader(stdin)}
	err = inv.exec(args...)
	return inv.stdout.String(), inv.stderr.String(), err
}

func (r realCLI) must(stdin string, args ...string) string {
	r.t.Helper()
	out, _, err := r.run(stdin, args...)
	if err != nil {
		r.t.Fatalf("storm %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// TestHelpListsEveryCommand: "storm help" names every command, backup and
// restore included, and "storm help CMD" works for each of them.
func TestHelpListsEveryCommand(t *testing.T) {
	r := &invocation{env: map[string]string{}}
	if err := r.exec("help"); err != nil {
		t.Fatal(err)
	}
	overview := r.stdout.String()
	names := allCommandNames()
	for _, want := range []string{"serve", "backup", "restore", "keys", "webhooks"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("allCommandNames lacks %s", want)
		}
	}
	for _, name := range names {
		if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(name) + `\s`).MatchString(overview) {
			t.Errorf("storm help does not list %s:\n%s", name, overview)
		}
		if name == "help" {
			continue
		}
		t.Run(name, func(t *testing.T) {
			r := &invocation{env: map[string]string{}}
			if err := r.exec("help", name); err != nil {
				t.Fatalf("storm help %s: %v", name, err)
			}
			if out := r.stdout.String(); !strings.Contains(out, "storm "+name) || !strings.Contains(out, "usage") {
				t.Errorf("storm help %s:\n%s", name, out)
			}
		})
	}
	// Help is a success: the process exits 0.
	var out bytes.Buffer
	if err := backup(context.Background(), []string{"-h"}, &out, io.Discard); !errors.Is(err, errHelp) || !strings.Contains(out.String(), "--out") {
		t.Fatalf("backup -h: %v\n%s", err, out.String())
	}
}

// TestCLIHabitsAgainstRealServer: `storm credentials ID` lists versions;
// provider names match case-insensitively and a typo gets the nearest
// name; events of an unknown integration are "not found"; tables show
// workspace and actor names; a whole-config error names "config", never
// "config.".
func TestCLIHabitsAgainstRealServer(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	up := servertest.NewUpstream(t, "habit-key-aaaaaaaaaaaaaaa")
	cli := realCLI{t, env}
	id := env.CustomIntegration("Habits", up)
	cli.must("habit-key-aaaaaaaaaaaaaaa\n", "credentials", "save", id)

	out := cli.must("", "credentials", id)
	if !strings.Contains(out, "VERSION") || !strings.Contains(out, "active") || !strings.Contains(out, "…aaaa") {
		t.Errorf("storm credentials ID:\n%s", out)
	}

	_, _, err := cli.run("", "integrations", "create", "--provider", "strip", "--name", "Typo")
	if err == nil || !strings.Contains(err.Error(), "did you mean stripe?") {
		t.Errorf("provider typo: %v", err)
	}
	_, _, err = cli.run("", "providers", "show", "sripe")
	if err == nil || !strings.Contains(err.Error(), "did you mean stripe?") {
		t.Errorf("providers show typo: %v", err)
	}
	if out := cli.must("", "providers", "show", "STRIPE"); !strings.Contains(out, "name:") || !strings.Contains(out, "stripe") {
		t.Errorf("providers show STRIPE:\n%s", out)
	}
	out = cli.must("", "integrations", "create", "--provider", "Stripe", "--name", "Stripe – acme")
	if !regexp.MustCompile(`(?m)^provider:\s+stripe$`).MatchString(out) {
		t.Errorf("created with provider Stripe:\n%s", out)
	}

	_, _, err = cli.run("", "events", "--integration", "int_doesnotexist")
	if err == nil || !strings.Contains(err.Error(), "integration int_doesnotexist not found") {
		t.Errorf("events of an unknown integration: %v", err)
	}
	if out := cli.must("", "events", "--integration", id); !strings.Contains(out, "credential.saved") {
		t.Errorf("events:\n%s", out)
	}

	out = cli.must("", "integrations")
	if !regexp.MustCompile(`(?m)^` + id + `\s+Habits\s+custom\s+api_key\s+connected\s+default\s*$`).MatchString(out) {
		t.Errorf("integrations: WORKSPACE is not the name:\n%s", out)
	}
	out = cli.must("", "audit")
	if !regexp.MustCompile(`bootstrap admin \(tok_[a-z0-9]+\)\s+credential\.save`).MatchString(out) {
		t.Errorf("audit: ACTOR is not the token's name:\n%s", out)
	}

	_, _, err = cli.run("", "integrations", "create", "--provider", "custom", "--auth-method", "api_key", "--name", "Empty", "--config-json", `{"base_url":"https://api.acme.test"}`)
	if err == nil || strings.Contains(err.Error(), "config.:") || !strings.Contains(err.Error(), "config: a custom integration needs") {
		t.Errorf("whole-config error: %v", err)
	}
}

// TestProxyOutputEndsWithNewline: a JSON answer without a final newline
// gets one, so the shell prompt starts on its own line.
func TestProxyOutputEndsWithNewline(t *testing.T) {
	const key = "nl-key-aaaaaaaaaaaaaaaaa"
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+key {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"balance":0}`)
	}))
	t.Cleanup(up.Close)
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	cli := realCLI{t, env}
	id := cli.must("", "integrations", "create", "--provider", "custom", "--auth-method", "api_key", "--name", "Newline", "--quiet",
		"--config-json", `{"base_url":"`+up.URL+`","api_key":{"in":"header","name":"Authorization","prefix":"Bearer "},"verify":{"method":"GET","path":"/v1/balance"}}`)
	id = strings.TrimSpace(id)
	if !strings.HasPrefix(id, "int_") || strings.Contains(id, "\n") {
		t.Fatalf("--quiet printed %q", id)
	}
	cli.must(key, "credentials", "save", id)
	if out := cli.must("", "proxy", id, "GET", "/v1/balance"); out != `{"balance":0}`+"\n" {
		t.Fatalf("proxy output %q", out)
	}
}

// TestCLINamesTheCause: a refused save and a failed verify say what
// happened — the provider refused the key, could not be reached (the key
// was not judged), or its address is blocked (naming
// STORM_ALLOW_PRIVATE_UPSTREAMS) — and creating an integration the
// egress guard will block succeeds with a warning at once.
func TestCLINamesTheCause(t *testing.T) {
	up := servertest.NewUpstream(t, "cause-key-aaaaaaaaaaaaaaa")
	open := servertest.Start(t, servertest.Options{NoBackground: true})
	cli := realCLI{t, open}

	id := open.CustomIntegration("Cause", up)
	_, _, err := cli.run("wrong-key-bbbbbbbbbbbbbbbb\n", "credentials", "save", id)
	if err == nil || !strings.Contains(err.Error(), "not saved, nothing changed: the provider refused the key (HTTP 401)") {
		t.Errorf("refused key: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "wrong-key") {
		t.Errorf("the error repeats the key: %v", err)
	}

	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	deadID := strings.TrimSpace(cli.must("", "integrations", "create", "--provider", "custom", "--auth-method", "api_key", "--name", "Dead", "-q",
		"--config-json", `{"base_url":"`+deadURL+`","api_key":{"in":"header","name":"Authorization","prefix":"Bearer "},"verify":{"method":"GET","path":"/me"}}`))
	_, _, err = cli.run("cause-key-aaaaaaaaaaaaaaa\n", "credentials", "save", deadID)
	if err == nil || !strings.Contains(err.Error(), "could not be reached") || !strings.Contains(err.Error(), "not judged") {
		t.Errorf("unreachable: %v", err)
	}

	guarded := servertest.Start(t, servertest.Options{NoBackground: true, DenyPrivateUpstreams: true})
	gcli := realCLI{t, guarded}
	out, stderr, err := gcli.run("", "integrations", "create", "--provider", "custom", "--auth-method", "api_key", "--name", "Blocked", "-q",
		"--config-json", `{"base_url":"`+up.URL+`","api_key":{"in":"header","name":"Authorization","prefix":"Bearer "},"verify":{"method":"GET","path":"/me"}}`)
	if err != nil || !strings.HasPrefix(out, "int_") {
		t.Fatalf("create blocked: %v %q", err, out)
	}
	if !strings.Contains(stderr, "warning: config.base_url points at 127.0.0.1") || !strings.Contains(stderr, "STORM_ALLOW_PRIVATE_UPSTREAMS=true") {
		t.Errorf("no warning at create: %q", stderr)
	}
	_, _, err = gcli.run("cause-key-aaaaaaaaaaaaaaa\n", "credentials", "save", strings.TrimSpace(out))
	if err == nil || !strings.Contains(err.Error(), "blocked by Storm's egress guard") || !strings.Contains(err.Error(), "STORM_ALLOW_PRIVATE_UPSTREAMS=true") {
		t.Errorf("blocked: %v", err)
	}

	// No verify request: said at creation, and the key is saved unverified.
	_, stderr, err = cli.run("", "integrations", "create", "--provider", "custom", "--auth-method", "api_key", "--name", "Unverified", "-q",
		"--config-json", `{"base_url":"`+up.URL+`","api_key":{"in":"header","name":"Authorization","prefix":"Bearer "}}`)
	if err != nil || !strings.Contains(stderr, "warning: no verify request") || !strings.Contains(stderr, "--no-verify") {
		t.Errorf("create without verify request: %v %q", err, stderr)
	}
}

// syncWriter is a goroutine-safe buffer that serve writes to.
type syncWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestServeSaysWhereToSignIn: besides its JSON log, storm serve tells a
// person the URL and where the admin token is, and says when it stopped.
func TestServeSaysWhereToSignIn(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "storm-data")
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncWriter
	done := make(chan error, 1)
	go func() { done <- serve(ctx, []string{"--addr", "127.0.0.1:0", "--data-dir", dir}, &stdout, &stderr) }()
	line := regexp.MustCompile(`^Storm is running at (http://127\.0\.0\.1:\d+/) — sign in with the token in ` + regexp.QuoteMeta(filepath.Join(dir, "admin.token")) + "\n$")
	deadline := time.Now().Add(20 * time.Second)
	for !line.MatchString(stdout.String()) {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no start-up line; stdout %q", stdout.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	url := line.FindStringSubmatch(stdout.String())[1]
	if resp, err := http.Get(url + "healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("the URL printed does not serve: %v", err)
	}
	// stderr stays the JSON log.
	sc := bufio.NewScanner(strings.NewReader(stderr.String()))
	for sc.Scan() {
		if !strings.HasPrefix(sc.Text(), "{") {
			t.Errorf("a non-JSON line on stderr: %q", sc.Text())
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if !strings.HasSuffix(stdout.String(), "Storm stopped: requests in flight were answered and background work ended.\n") {
		t.Fatalf("no shutdown line: %q", stdout.String())
	}
}

// TestRestoreCommandSaysWhereTheKeyIs: the restore command proves the
// backup, copies the key file in and says how to start; with --kek-url it
// says the same URL is needed (without printing it); without a key it
// refuses and leaves nothing.
func TestRestoreCommandSaysWhereTheKeyIs(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	backupFile := filepath.Join(t.TempDir(), "storm-backup.db")
	var out bytes.Buffer
	if err := backup(context.Background(), []string{"--data-dir", env.DataDir, "--out", backupFile}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}

	into := filepath.Join(t.TempDir(), "restored")
	out.Reset()
	err := restore(context.Background(), []string{"--from", backupFile, "--data-dir", into}, &out, io.Discard)
	if !errors.Is(err, server.ErrNoKey) || !strings.Contains(err.Error(), "--key-file") {
		t.Fatalf("restore without a key: %v", err)
	}
	if _, err := os.Stat(into); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a failed restore left %s", into)
	}

	out.Reset()
	keyFile := filepath.Join(env.DataDir, vault.DefaultKeyFile)
	if err := restore(context.Background(), []string{"--from", backupFile, "--data-dir", into, "--key-file", keyFile}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	want := "The key-encryption key was copied to " + filepath.Join(into, vault.DefaultKeyFile) + ". Start it with: storm serve --data-dir " + into
	if !strings.Contains(out.String(), want) {
		t.Fatalf("restore said:\n%s\nwant %q", out.String(), want)
	}

	kek := "base64key://" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32))
	kenv := servertest.Start(t, servertest.Options{NoBackground: true, KEKURL: kek})
	kBackup := filepath.Join(t.TempDir(), "k.db")
	if err := backup(context.Background(), []string{"--data-dir", kenv.DataDir, "--out", kBackup}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	kInto := t.TempDir()
	if err := restore(context.Background(), []string{"--from", kBackup, "--data-dir", kInto, "--kek-url", kek}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if s := out.String(); !strings.Contains(s, "holds no key file") || !strings.Contains(s, "--kek-url") || strings.Contains(s, "base64key://") {
		t.Fatalf("restore with --kek-url said:\n%s", s)
	}
}

// TestKeysRotateWaitWithOneInstance: with the default 15 s key poll, one
// instance finishes `storm keys rotate --wait` as soon as its passes are
// done; it no longer sits at 90% for two poll intervals.
func TestKeysRotateWaitWithOneInstance(t *testing.T) {
	env := servertest.Start(t, servertest.Options{}) // default key poll: 15 s
	up := servertest.NewUpstream(t, "wait-key-aaaaaaaaaaaaaaaa")
	id := env.CustomIntegration("Wait", up)
	env.Must(http.StatusOK, "PUT", "/v1/integrations/"+id+"/credentials", "", map[string]any{"api_key": "wait-key-aaaaaaaaaaaaaaaa"})
	start := time.Now()
	out := realCLI{t, env}.must("", "keys", "rotate", "--wait")
	took := time.Since(start)
	if !strings.Contains(out, "done:") {
		t.Fatalf("rotate --wait:\n%s", out)
	}
	if took > 8*time.Second {
		t.Fatalf("rotate --wait took %v with one instance", took)
	}
	t.Logf("keys rotate --wait with one instance: %v", took.Round(time.Millisecond))
}
