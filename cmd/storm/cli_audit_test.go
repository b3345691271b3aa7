package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stormcreds/storm/client"
	"github.com/stormcreds/storm/internal/server/servertest"
	"github.com/stormcreds/storm/internal/store"
)

// runAt runs the CLI against a server with its admin token.
func runAt(ctx context.Context, env *servertest.Env, args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	err = runCLI(ctx, append([]string{"--server", env.URL, "--token", env.AdminToken}, args...), strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), err
}

// exported reads an export file's entries.
func exported(t *testing.T, path string) []client.AuditRecord {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	var recs []client.AuditRecord
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		var r client.AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %d: %v: %s", len(recs)+1, err, sc.Bytes())
		}
		recs = append(recs, r)
	}
	return recs
}

// wantContiguous checks that recs are the chain from seq 1 to n, each
// once, in order.
func wantContiguous(t *testing.T, recs []client.AuditRecord, n int) {
	t.Helper()
	if len(recs) != n {
		t.Fatalf("%d entries, want %d", len(recs), n)
	}
	for i, r := range recs {
		if r.Seq != int64(i+1) || r.Hash == "" {
			t.Fatalf("entry %d has seq %d (hash %q): gap or duplicate", i, r.Seq, r.Hash)
		}
	}
}

func serverEntries(t *testing.T, env *servertest.Env) int {
	t.Helper()
	res := env.Must(http.StatusOK, "GET", "/v1/audit/verify", "", nil)
	if res["ok"] != true {
		t.Fatalf("server chain: %v", res)
	}
	return int(res["entries"].(float64))
}

// storm audit verify prints the outcome and exits non-zero (an error)
// when the chain is broken, naming the first bad entry.
func TestAuditVerifyCommandExitCodes(t *testing.T) {
	env := servertest.Start(t, servertest.Options{})
	env.NewToken(store.RoleViewer, "default")
	out, _, err := runAt(t.Context(), env, "audit", "verify")
	if err != nil || !strings.HasPrefix(out, "audit chain ok: ") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	out, _, err = runAt(t.Context(), env, "--json", "audit", "verify")
	var res map[string]any
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || res["ok"] != true || res["entries"].(float64) < 1 {
		t.Fatalf("verify --json: %v\n%s", err, out)
	}

	list := env.Must(http.StatusOK, "GET", "/v1/audit", "", nil)["audit"].([]any)
	bad := list[0].(map[string]any)["id"].(string)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(env.DataDir, "storm.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE audit SET ip = '203.0.113.1' WHERE id = ?`, bad); err != nil {
		t.Fatal(err)
	}
	out, _, err = runAt(t.Context(), env, "--json", "audit", "verify")
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("verify of a changed log: err %v", err)
	}
	if json.Unmarshal([]byte(out), &res) != nil || res["ok"] != false || res["first_bad"] != bad || res["reason"] == "" {
		t.Fatalf("verify of a changed log printed %s", out)
	}
	out, _, err = runAt(t.Context(), env, "audit", "verify")
	if err == nil || !strings.Contains(out, "first bad entry "+bad) {
		t.Fatalf("text verify of a changed log: %v\n%s", err, out)
	}
	// A non-admin token may not verify.
	if _, _, err := runAt(t.Context(), env, "--token", env.NewToken(store.RoleEditor, "default"), "audit", "verify"); err == nil {
		t.Error("an editor verified the chain")
	}
}

// storm audit export --to FILE resumes after a restart of the export (a
// torn last line included) and of the server without a gap or a
// duplicate, and the export verifies offline; a changed export does not.
func TestAuditExportFileResumes(t *testing.T) {
	dataDir := t.TempDir()
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	var n int
	t.Run("first server", func(t *testing.T) {
		env := servertest.Start(t, servertest.Options{DataDir: dataDir})
		for range 3 {
			env.NewToken(store.RoleViewer, "default")
		}
		if _, _, err := runAt(t.Context(), env, "audit", "export", "--to", file, "--batch", "2"); err != nil {
			t.Fatal(err)
		}
		n = serverEntries(t, env)
		wantContiguous(t, exported(t, file), n)
		// Exporting again adds nothing.
		if _, _, err := runAt(t.Context(), env, "audit", "export", "--to", file); err != nil {
			t.Fatal(err)
		}
		wantContiguous(t, exported(t, file), n)
		for range 2 {
			env.NewToken(store.RoleViewer, "default")
		}
	})
	// A crash mid-write left half a line.
	fh, _ := os.OpenFile(file, os.O_WRONLY|os.O_APPEND, 0)
	fh.WriteString(`{"id":"aud_half","act`)
	fh.Close()
	t.Run("restarted server", func(t *testing.T) {
		env := servertest.Start(t, servertest.Options{DataDir: dataDir})
		env.NewToken(store.RoleViewer, "default")
		_, errOut, err := runAt(t.Context(), env, "audit", "export", "--to", file, "--batch", "3")
		if err != nil {
			t.Fatal(err)
		}
		n2 := serverEntries(t, env)
		if n2 <= n {
			t.Fatalf("no new entries (%d then %d)", n, n2)
		}
		wantContiguous(t, exported(t, file), n2)
		if !strings.Contains(errOut, "exported ") {
			t.Errorf("no summary: %s", errOut)
		}
		out, _, err := runAt(t.Context(), env, "audit", "verify", "--file", file)
		if err != nil || !strings.HasPrefix(out, "audit chain ok: ") {
			t.Fatalf("verify --file: %v\n%s", err, out)
		}
		if info, _ := os.Stat(file); info.Mode().Perm() != 0o600 {
			t.Errorf("export file mode %v", info.Mode().Perm())
		}
	})

	// Offline verification finds a changed or a dropped line.
	b, _ := os.ReadFile(file)
	lines := strings.SplitAfter(string(b), "\n")
	changed := filepath.Join(t.TempDir(), "changed.jsonl")
	os.WriteFile(changed, []byte(strings.Join(lines[:2], "")+strings.Replace(lines[2], `"action":"`, `"action":"x`, 1)+strings.Join(lines[3:], "")), 0o600)
	var third client.AuditRecord
	json.Unmarshal([]byte(lines[2]), &third)
	var out bytes.Buffer
	err := runCLI(t.Context(), []string{"audit", "verify", "--file", changed}, strings.NewReader(""), &out, io.Discard)
	if err == nil || !strings.Contains(out.String(), third.ID) {
		t.Errorf("changed export verified: %v\n%s", err, out.String())
	}
	dropped := filepath.Join(t.TempDir(), "dropped.jsonl")
	os.WriteFile(dropped, []byte(strings.Join(lines[:2], "")+strings.Join(lines[3:], "")), 0o600)
	out.Reset()
	if err := runCLI(t.Context(), []string{"audit", "verify", "--file", dropped}, strings.NewReader(""), &out, io.Discard); err == nil {
		t.Errorf("export with a line dropped verified:\n%s", out.String())
	}
}

// receiver is a webhook that keeps what it is sent, and can be told to
// fail.
type receiver struct {
	mu      sync.Mutex
	lines   []client.AuditRecord
	failing bool
	posts   int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.posts++
	if rc.failing || r.Header.Get("Content-Type") != "application/x-ndjson" {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	sc := bufio.NewScanner(r.Body)
	for sc.Scan() {
		var rec client.AuditRecord
		json.Unmarshal(sc.Bytes(), &rec)
		rc.lines = append(rc.lines, rec)
	}
}

func (rc *receiver) snapshot() []client.AuditRecord {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]client.AuditRecord(nil), rc.lines...)
}

// storm audit export --to URL --state FILE: a batch the receiver refuses
// is not recorded, and the next run sends it again; nothing is skipped or
// repeated. --follow keeps sending new entries until interrupted.
func TestAuditExportURLResumes(t *testing.T) {
	env := servertest.Start(t, servertest.Options{})
	rc := &receiver{}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	state := filepath.Join(t.TempDir(), "export.state")

	if _, _, err := runAt(t.Context(), env, "audit", "export", "--to", hook.URL); err == nil {
		t.Error("a URL export without --state ran")
	}
	if _, _, err := runAt(t.Context(), env, "audit", "export", "--to", hook.URL, "--state", state, "--batch", "2"); err != nil {
		t.Fatal(err)
	}
	n := serverEntries(t, env)
	wantContiguous(t, rc.snapshot(), n)

	env.NewToken(store.RoleViewer, "default")
	rc.mu.Lock()
	rc.failing = true
	rc.mu.Unlock()
	if _, _, err := runAt(t.Context(), env, "audit", "export", "--to", hook.URL, "--state", state); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("export to a failing receiver: %v", err)
	}
	rc.mu.Lock()
	rc.failing = false
	rc.mu.Unlock()

	// --follow picks up the refused batch and then new entries.
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, _, err := runAt(ctx, env, "audit", "export", "--to", hook.URL, "--state", state, "--follow", "--interval", "20ms")
		done <- err
	}()
	env.NewToken(store.RoleViewer, "default")
	want := serverEntries(t, env)
	deadline := time.Now().Add(10 * time.Second)
	for len(rc.snapshot()) < want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("--follow ended with %v", err)
	}
	wantContiguous(t, rc.snapshot(), want)
}
