package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmeMarker marks a README shell block that TestREADME runs.
const readmeMarker = "<!-- readme-test -->"

// readmeBlock is one marked block: where it starts and its commands.
type readmeBlock struct {
	line int
	text string
}

// readmeBlocks returns the marked ```sh blocks of a README, in order. A
// marker that is not followed by a ```sh block is an error, so a block
// cannot silently drop out of the test.
func readmeBlocks(readme string) ([]readmeBlock, error) {
	lines := strings.Split(readme, "\n")
	var blocks []readmeBlock
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != readmeMarker {
			continue
		}
		if i+1 >= len(lines) || strings.TrimSpace(lines[i+1]) != "```sh" {
			return nil, fmt.Errorf("README.md:%d: %s is not followed by a ```sh block", i+1, readmeMarker)
		}
		start := i + 2
		end := start
		for end < len(lines) && strings.TrimSpace(lines[end]) != "```" {
			end++
		}
		if end == len(lines) {
			return nil, fmt.Errorf("README.md:%d: the block never ends", start)
		}
		blocks = append(blocks, readmeBlock{line: start + 1, text: strings.Join(lines[start:end], "\n")})
		i = end
	}
	return blocks, nil
}

// The stand-ins for the outside world (see README "The README is tested").
const (
	acmeURLInREADME = "https://api.acme.test"
	acmeKey         = "acme_live_4f1c9a7e2b8d0c3f5a6e"
	acmeNewKey      = "acme_live_9b2e7d4c1a0f8e3d6c5b"
)

// acmeAPI is the local API standing in for Acme: it accepts the two keys
// the README's files hold and answers /me and /projects.
func acmeAPI(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.Header.Get("Authorization") {
		case "Bearer " + acmeKey, "Bearer " + acmeNewKey:
		default:
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":{"message":"invalid api key"}}`)
			return
		}
		switch r.URL.Path {
		case "/me":
			io.WriteString(w, `{"id":"acct_1","name":"Acme"}`)
		case "/projects":
			io.WriteString(w, `[{"id":1,"name":"Apollo"},{"id":2,"name":"Gemini"}]`)
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":{"message":"not found"}}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestREADME runs the README's marked shell blocks exactly as written, in
// order, in one bash (set -euo pipefail), in a scratch directory that
// mirrors the repository, against the storm they build and start. Only
// the outside world is stood in for: a free local port (STORM_ADDR,
// STORM_SERVER), a local API for https://api.acme.test (reachable with
// STORM_ALLOW_PRIVATE_UPSTREAMS=true), and the files the blocks read.
func TestREADME(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("bash is not installed")
		}
		t.Skip("bash is not installed")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := readmeBlocks(string(readme))
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) < 5 {
		t.Fatalf("only %d blocks of README.md are marked %s", len(blocks), readmeMarker)
	}

	// The scratch directory: the module's source by symlink, so that
	// "go build -o storm ./cmd/storm" works as written, and a fresh
	// ./storm-data.
	work := filepath.Join(t.TempDir(), "storm")
	if err := os.Mkdir(work, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"go.mod", "go.sum", "cmd", "client", "internal"} {
		if err := os.Symlink(filepath.Join(root, name), filepath.Join(work, name)); err != nil {
			t.Fatal(err)
		}
	}
	acme := acmeAPI(t)
	files := map[string]string{
		"acme.key":        acmeKey + "\n",
		"new.key":         acmeNewKey + "\n",
		"github-app.json": `{"client_id":"Iv1.readme0test0client","client_secret":"readme-test-client-secret"}` + "\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(work, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	addr := freeLocalAddr(t)
	env := []string{"STORM_ADDR=" + addr, "STORM_SERVER=http://" + addr, "STORM_ALLOW_PRIVATE_UPSTREAMS=true"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STORM_") {
			env = append(env, kv)
		}
	}

	// One bash for every block, so variables carry from one to the next.
	// Its output goes to a file: "storm serve &" keeps the descriptor open
	// after bash is done with a block.
	outPath := filepath.Join(t.TempDir(), "readme.out")
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(bash, "--noprofile", "--norc")
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = work, env, out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		// The whole group: bash and the storm serve it started.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if t.Failed() {
			b, _ := os.ReadFile(outPath)
			t.Logf("---- everything the blocks printed ----\n%s", b)
		}
	})
	io.WriteString(stdin, "set -euo pipefail\n")

	output := func() string { b, _ := os.ReadFile(outPath); return string(b) }
	var printed []string // per block
	for i, b := range blocks {
		text := strings.ReplaceAll(b.text, acmeURLInREADME, acme.URL)
		done := fmt.Sprintf("__readme_block_%d_done__", i)
		before := len(output())
		start := time.Now()
		if _, err := io.WriteString(stdin, text+"\necho "+done+"\n"); err != nil {
			t.Fatalf("README.md:%d: bash stopped before this block: %v", b.line, err)
		}
		limit := time.Minute
		if strings.Contains(text, "go build") {
			limit = 5 * time.Minute
		}
		for !strings.Contains(output(), done) {
			select {
			case err := <-exited:
				exited <- err
				t.Fatalf("README.md:%d: a command of this block failed (%v):\n%s\n---- it printed ----\n%s", b.line, err, b.text, output()[before:])
			case <-time.After(50 * time.Millisecond):
			}
			if time.Since(start) > limit {
				t.Fatalf("README.md:%d: this block did not finish within %v:\n%s\n---- it printed ----\n%s", b.line, limit, b.text, output()[before:])
			}
		}
		got := output()[before:]
		got = got[:strings.Index(got, done)]
		printed = append(printed, got)
		t.Logf("README.md:%d: block %d ran in %v", b.line, i+1, time.Since(start).Round(time.Millisecond))
	}

	// What the blocks printed shows they did what the README says.
	all := strings.Join(printed, "")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`Storm is running at http://` + regexp.QuoteMeta(addr) + `/ — sign in with the token in storm-data/admin\.token`),
		regexp.MustCompile(`(?m)^stripe\s`),                               // providers
		regexp.MustCompile(`"name":"Apollo"`),                             // the proxied answer
		regexp.MustCompile(`(?m)^state:\s+active$`),                       // credentials save
		regexp.MustCompile(`(?m)^ok:\s+true$`),                            // verify
		regexp.MustCompile(`\bprevious\b`),                                // the versions during the rotation
		regexp.MustCompile(`(?m)^state:\s+revoked$`),                      // revoke --previous
		regexp.MustCompile(`https://github\.com/login/oauth/authorize\?`), // authorize
		regexp.MustCompile(`re-wrap: done|done:`),                         // keys rotate --wait
		regexp.MustCompile(`The key-encryption key was copied to restored/storm\.key`),
	} {
		if !want.MatchString(all) {
			t.Errorf("the README's blocks never printed %s", want)
		}
	}
	// storm access prints the key, by design; nothing else may.
	if !strings.Contains(all, `"api_key": "`+acmeKey+`"`) || strings.Count(all, acmeKey) != 1 || strings.Contains(all, acmeNewKey) {
		t.Errorf("the key was printed %d times (once, by storm access, is right)", strings.Count(all, acmeKey))
	}
}

// freeLocalAddr returns a loopback address with a port free right now.
func freeLocalAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestREADMEBlocksParse: markers must sit right above a ```sh block.
func TestREADMEBlocksParse(t *testing.T) {
	got, err := readmeBlocks("x\n" + readmeMarker + "\n```sh\necho one\necho two\n```\n\n```sh\nnot marked\n```\n" + readmeMarker + "\n```sh\nthree\n```")
	if err != nil || len(got) != 2 || got[0].text != "echo one\necho two" || got[0].line != 4 || got[1].text != "three" {
		t.Fatalf("blocks = %+v, %v", got, err)
	}
	if _, err := readmeBlocks(readmeMarker + "\n\n```sh\nx\n```"); err == nil {
		t.Fatal("a marker away from its block was accepted")
	}
	if _, err := readmeBlocks(readmeMarker + "\n```sh\nx\n"); err == nil {
		t.Fatal("an unended block was accepted")
	}
}
