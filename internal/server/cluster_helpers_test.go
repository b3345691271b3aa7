//go:build unix

package server_test

// Helpers of TestCluster…: the storm binary run as child processes, and
// in-process servers (an OAuth token endpoint gate, a webhook receiver)
// that attribute every request to the TCP connection it came over. A
// process killed with SIGKILL has all its connections closed by the
// kernel at the moment it dies, so the connections that close then are
// the dead instance's, and so is the work that came over them.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/webhooks"
)

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// buildStorm builds ./cmd/storm into a temporary directory (with -race
// when the test binary has it, so the race detector watches the
// instances too) and returns the binary's path.
func buildStorm(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("the go command is needed to build storm: %v", err)
	}
	out, err := exec.Command(goBin, "list", "-m", "-f", "{{.Dir}}", "github.com/stormcreds/storm").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	root := strings.TrimSpace(string(out))
	bin := filepath.Join(t.TempDir(), "storm")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/storm")
	start := time.Now()
	cmd := exec.Command(goBin, args...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	t.Logf("built storm (race=%v) in %v", raceEnabled, time.Since(start).Round(time.Millisecond))
	return bin
}

// freeAddr is a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// stormProc is one `storm serve` child process.
type stormProc struct {
	name    string
	URL     string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error // valid once exited is closed
}

// startStorm starts `storm serve` with args (--addr and --public-url are
// added) and the environment env on top of this process's, less its
// STORM_* variables. Its stderr goes to a file in the test's
// temporary directory, printed if the test fails (stdout, the lines
// for people, is dropped).
func startStorm(t *testing.T, bin, name string, env []string, args ...string) *stormProc {
	t.Helper()
	addr := freeAddr(t)
	p := &stormProc{name: name, URL: "http://" + addr, logPath: filepath.Join(t.TempDir(), name+".log"), exited: make(chan struct{})}
	logf, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, append([]string{"serve", "--addr", addr, "--public-url", p.URL}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STORM_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Env = append(p.cmd.Env, env...)
	// stdout holds the lines for people (where to sign in, stopped);
	// stderr the JSON log this test reads.
	p.cmd.Stdout, p.cmd.Stderr = io.Discard, logf
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		logf.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		if !p.hasExited() {
			p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("---- %s log (%s) ----\n%s", name, p.logPath, tail(p.logs(), 256<<10))
		}
	})
	return p
}

func (p *stormProc) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

func (p *stormProc) logs() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// waitReady waits for /readyz to answer 200.
func (p *stormProc) waitReady(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	c := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		if p.hasExited() {
			t.Fatalf("%s exited during startup (%v):\n%s", p.name, p.waitErr, p.logs())
		}
		if resp, err := c.Get(p.URL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not ready within %v:\n%s", p.name, within, p.logs())
}

// kill sends SIGKILL and waits for the process to be gone; it returns
// the moment just before the signal.
func (p *stormProc) kill(t *testing.T) time.Time {
	t.Helper()
	at := time.Now()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill %s: %v", p.name, err)
	}
	<-p.exited
	return at
}

// stop asks for a graceful shutdown (SIGTERM) and returns the exit error
// (nil: exit status 0).
func (p *stormProc) stop(t *testing.T, within time.Duration) error {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.cmd.Process.Kill()
	}
	select {
	case <-p.exited:
		return p.waitErr
	case <-time.After(within):
		p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("%s did not shut down within %v of SIGTERM", p.name, within)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…(truncated)…\n" + s[len(s)-n:]
}

// connTracker numbers a server's connections and records when each
// closed.
type connTracker struct {
	mu     sync.Mutex
	next   int64
	ids    map[net.Conn]int64
	closed map[int64]time.Time
}

type connIDKey struct{}

// newTrackedServer starts an httptest server whose requests carry their
// connection's number (connID).
func newTrackedServer(t *testing.T, h http.Handler) (*httptest.Server, *connTracker) {
	ct := &connTracker{ids: map[net.Conn]int64{}, closed: map[int64]time.Time{}}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		ct.mu.Lock()
		defer ct.mu.Unlock()
		ct.next++
		ct.ids[c] = ct.next
		return context.WithValue(ctx, connIDKey{}, ct.next)
	}
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s != http.StateClosed && s != http.StateHijacked {
			return
		}
		ct.mu.Lock()
		defer ct.mu.Unlock()
		if id, ok := ct.ids[c]; ok {
			ct.closed[id] = time.Now()
			delete(ct.ids, c)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, ct
}

func connID(r *http.Request) int64 {
	id, _ := r.Context().Value(connIDKey{}).(int64)
	return id
}

// closedBetween is the set of connections that closed in [from, to].
func (ct *connTracker) closedBetween(from, to time.Time) map[int64]bool {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	out := map[int64]bool{}
	for id, at := range ct.closed {
		if !at.Before(from) && !at.After(to) {
			out[id] = true
		}
	}
	return out
}

// tokenCall is one request to the token endpoint as the gate saw it.
type tokenCall struct {
	Conn       int64
	Start, End time.Time
	Grant      string
	Label      string // the integration being connected (code exchanges)
	RTIn       string // the refresh token presented
	RTOut      string // the refresh token issued
	AccessOut  string
	Code       string
	Status     int
	Error      string // the OAuth error code of a failed answer
}

// tokenGate stands in front of an oauthtest server's token endpoint
// (integrations name it as token_url) and records every call: which
// refresh token was presented and which was issued, over which
// connection. A refresh token presented twice is a duplicate refresh.
type tokenGate struct {
	*httptest.Server
	conns  *connTracker
	as     *oauthtest.Server
	client *http.Client

	mu      sync.Mutex
	label   string
	calls   []tokenCall
	held    chan struct{} // non-nil while refreshes are held; closed to release them
	dropped int           // held refreshes whose client went away
	waiting int           // refreshes being held now
}

// holding reports how many refreshes are being held back now.
func (g *tokenGate) holding() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.waiting
}

func newTokenGate(t *testing.T, as *oauthtest.Server) *tokenGate {
	g := &tokenGate{as: as, client: &http.Client{Timeout: 30 * time.Second}}
	g.Server, g.conns = newTrackedServer(t, http.HandlerFunc(g.serve))
	return g
}

// hold keeps refresh requests from reaching the provider until release
// is called; those whose client goes away meanwhile never do.
func (g *tokenGate) hold() (release func()) {
	ch := make(chan struct{})
	g.mu.Lock()
	g.held = ch
	g.mu.Unlock()
	return func() {
		g.mu.Lock()
		g.held = nil
		g.mu.Unlock()
		close(ch)
	}
}

// setLabel names the integration whose authorization code is exchanged
// next (connections are made one at a time).
func (g *tokenGate) setLabel(l string) {
	g.mu.Lock()
	g.label = l
	g.mu.Unlock()
}

func (g *tokenGate) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/token" || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	c := tokenCall{Conn: connID(r), Start: time.Now()}
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	c.Grant, c.RTIn, c.Code = form.Get("grant_type"), form.Get("refresh_token"), form.Get("code")
	g.mu.Lock()
	held := g.held
	g.mu.Unlock()
	if held != nil && c.Grant == "refresh_token" {
		g.mu.Lock()
		g.waiting++
		g.mu.Unlock()
		select {
		case <-held:
			g.mu.Lock()
			g.waiting--
			g.mu.Unlock()
		case <-r.Context().Done(): // never reaches the provider
			g.mu.Lock()
			g.dropped++
			g.waiting--
			g.mu.Unlock()
			return
		}
	}
	// Like a real provider, the AS finishes what it was sent even if the
	// client dies meanwhile.
	req, _ := http.NewRequestWithContext(context.WithoutCancel(r.Context()), http.MethodPost, g.as.TokenURL(), bytes.NewReader(body))
	req.Header = r.Header.Clone()
	resp, err := g.client.Do(req)
	if err != nil {
		c.End, c.Status, c.Error = time.Now(), http.StatusBadGateway, "gate: "+err.Error()
		g.record(c)
		http.Error(w, "gate: "+err.Error(), http.StatusBadGateway)
		return
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		Error        string `json:"error"`
	}
	json.Unmarshal(rb, &tok)
	c.End, c.Status, c.Error, c.RTOut, c.AccessOut = time.Now(), resp.StatusCode, tok.Error, tok.RefreshToken, tok.AccessToken
	g.record(c)
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(rb)
}

func (g *tokenGate) record(c tokenCall) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c.Grant == "authorization_code" {
		c.Label = g.label
	}
	g.calls = append(g.calls, c)
}

func (g *tokenGate) droppedCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.dropped
}

func (g *tokenGate) snapshot() []tokenCall {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]tokenCall(nil), g.calls...)
}

// hookDelivery is one webhook request as the receiver saw it.
type hookDelivery struct {
	Conn    int64
	At      time.Time
	EventID string
	Type    string
	Status  int // what the receiver answered
	SigErr  string
}

// hookReceiver is a webhook endpoint: it checks every signature, answers
// 500 to the first attempt of a few chosen events, and records every
// delivery. Receivers dedupe by Storm-Event-Id; accepted keeps the first
// acceptance of each event, in order.
type hookReceiver struct {
	*httptest.Server
	conns  *connTracker
	secret atomic.Value // string

	mu         sync.Mutex
	failFirst  map[int]bool // nth distinct event → 500 on its first attempt
	attempts   map[string]int
	distinct   int
	deliveries []hookDelivery
	accepted   map[string]int // event id → index in deliveries of its first 2xx
	order      []string       // event ids in order of first acceptance
	injected   int
}

func newHookReceiver(t *testing.T, failFirst ...int) *hookReceiver {
	rc := &hookReceiver{failFirst: map[int]bool{}, attempts: map[string]int{}, accepted: map[string]int{}}
	for _, n := range failFirst {
		rc.failFirst[n] = true
	}
	rc.secret.Store("")
	rc.Server, rc.conns = newTrackedServer(t, http.HandlerFunc(rc.serve))
	return rc
}

func (rc *hookReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	d := hookDelivery{Conn: connID(r), At: time.Now(), EventID: r.Header.Get(webhooks.EventIDHeader)}
	if err := webhooks.VerifySignature(rc.secret.Load().(string), r.Header.Get(webhooks.SignatureHeader), body, time.Now(), 0); err != nil {
		d.SigErr = err.Error()
	}
	var p webhooks.Payload
	if err := json.Unmarshal(body, &p); err != nil || p.ID != d.EventID {
		d.SigErr += fmt.Sprintf(" (payload id %q, header %q, %v)", p.ID, d.EventID, err)
	}
	d.Type = p.Type
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if _, seen := rc.attempts[d.EventID]; !seen {
		rc.distinct++
		if rc.failFirst[rc.distinct] {
			rc.attempts[d.EventID] = -1 // marks "fail the first attempt"
		}
	}
	if rc.attempts[d.EventID] == -1 {
		rc.attempts[d.EventID] = 1
		rc.injected++
		d.Status = http.StatusInternalServerError
	} else {
		rc.attempts[d.EventID]++
		d.Status = http.StatusOK
	}
	rc.deliveries = append(rc.deliveries, d)
	if d.Status == http.StatusOK {
		if _, ok := rc.accepted[d.EventID]; !ok {
			rc.accepted[d.EventID] = len(rc.deliveries) - 1
			rc.order = append(rc.order, d.EventID)
		}
	}
	w.WriteHeader(d.Status)
}

func (rc *hookReceiver) snapshot() (deliveries []hookDelivery, accepted map[string]int, order []string, injected int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	acc := make(map[string]int, len(rc.accepted))
	for k, v := range rc.accepted {
		acc[k] = v
	}
	return append([]hookDelivery(nil), rc.deliveries...), acc, append([]string(nil), rc.order...), rc.injected
}

// leaseRow is a row of the leases table.
type leaseRow struct {
	Owner   string
	Expires time.Time
}

// heldLeases returns the leases that stay put over gap: present, the
// same and unexpired in two reads of the leases table gap apart, and
// named with one of prefixes (any name when none).
func heldLeases(ctx context.Context, dbURL string, gap time.Duration, prefixes ...string) (map[string]leaseRow, error) {
	first, err := leaseSnapshot(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	time.Sleep(gap)
	second, err := leaseSnapshot(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := map[string]leaseRow{}
	for name, l := range first {
		match := len(prefixes) == 0
		for _, p := range prefixes {
			match = match || strings.HasPrefix(name, p)
		}
		if l2, ok := second[name]; ok && match && l2 == l && l.Expires.After(now) {
			out[name] = l
		}
	}
	return out, nil
}

// killWhenIdle SIGKILLs p at a moment it holds no refresh or webhook
// lease: it stops p (SIGSTOP), lets the other instances finish what
// they are doing, and reads the leases table; leases that stay put are
// p's. If there are any, p resumes (SIGCONT) and it tries again a moment
// later. A kill inside a refresh strands the credential until its lease
// expires (a minute), and one between the provider's answer and the
// commit loses the rotated refresh token, which nothing can recover.
// It returns when p stopped working, when it was killed, how many tries
// it took and the leases it held.
func killWhenIdle(t *testing.T, p *stormProc, dbURL string) (stoppedAt, killAt time.Time, tries int, held map[string]leaseRow) {
	t.Helper()
	for tries = 1; ; tries++ {
		p.signal(t, syscall.SIGSTOP)
		stoppedAt = time.Now()
		time.Sleep(100 * time.Millisecond)
		var err error
		held, err = heldLeases(context.Background(), dbURL, 250*time.Millisecond, "refresh:", "webhook:")
		if err != nil {
			t.Fatal(err)
		}
		if len(held) == 0 || tries == 30 {
			if len(held) > 0 {
				t.Logf("%s was never idle in %d tries; killed holding %v", p.name, tries, held)
			}
			return stoppedAt, p.kill(t), tries, held
		}
		p.signal(t, syscall.SIGCONT)
		time.Sleep(time.Duration(100+mrand.IntN(200)) * time.Millisecond)
	}
}

// killWhileRefreshing SIGKILLs p while it holds a refresh lease whose
// refresh has not reached the provider, so the credential waits for the
// lease to expire and another instance to take over, and nothing is
// lost. The gate holds refreshes back meanwhile: p is caught waiting on
// one, which then never reaches the provider; and nothing answered is
// left uncommitted, as nothing was answered for a while before the stop.
// p's leases are told from the others' by their owner, learnt first
// (liveRefreshOwners).
func killWhileRefreshing(t *testing.T, p *stormProc, dbURL string, gate *tokenGate) (stoppedAt, killAt time.Time, tries int, held map[string]leaseRow) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	live := map[string]bool{}
	for try := 0; try < 5 && len(live) < 2; try++ {
		maps.Copy(live, liveRefreshOwners(t, ctx, conn, p, gate))
	}
	if len(live) < 2 {
		t.Logf("could tell only %d live owners of refresh leases: %v", len(live), live)
	}
	for tries = 1; ; tries++ {
		release := gate.hold()
		time.Sleep(400 * time.Millisecond) // answered refreshes get committed; new ones wait
		p.signal(t, syscall.SIGSTOP)
		stoppedAt = time.Now()
		leases, err := readLeases(ctx, conn)
		if err != nil {
			release()
			t.Fatal(err)
		}
		held = map[string]leaseRow{}
		for name, l := range leases {
			if strings.HasPrefix(name, "refresh:") && !live[l.Owner] && l.Expires.After(time.Now()) {
				held[name] = l
			}
		}
		if len(held) > 0 || tries == 30 {
			if len(held) == 0 {
				t.Logf("%s held no refresh lease in %d tries", p.name, tries)
			}
			killAt = p.kill(t)
			release()
			return stoppedAt, killAt, tries, held
		}
		p.signal(t, syscall.SIGCONT)
		release()
		time.Sleep(time.Duration(200+mrand.IntN(300)) * time.Millisecond)
	}
}

// liveRefreshOwners stops p for a moment while the gate holds refreshes
// back and returns the owners of the refresh leases taken meanwhile: the
// other instances' (p, stopped, takes none).
func liveRefreshOwners(t *testing.T, ctx context.Context, conn *pgx.Conn, p *stormProc, gate *tokenGate) map[string]bool {
	t.Helper()
	release := gate.hold()
	defer release()
	p.signal(t, syscall.SIGSTOP)
	defer p.signal(t, syscall.SIGCONT)
	before, err := readLeases(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond)
	after, err := readLeases(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	owners := map[string]bool{}
	for name, l := range after {
		if strings.HasPrefix(name, "refresh:") && before[name] != l {
			owners[l.Owner] = true
		}
	}
	return owners
}

func (p *stormProc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to %s: %v", sig, p.name, err)
	}
}

// leaseSnapshot reads the leases table directly.
func leaseSnapshot(ctx context.Context, dbURL string) (map[string]leaseRow, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	return readLeases(ctx, conn)
}

func readLeases(ctx context.Context, conn *pgx.Conn) (map[string]leaseRow, error) {
	rows, err := conn.Query(ctx, `SELECT name, owner, expires_at FROM leases`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]leaseRow{}
	for rows.Next() {
		var name string
		var l leaseRow
		if err := rows.Scan(&name, &l.Owner, &l.Expires); err != nil {
			return nil, err
		}
		out[name] = l
	}
	return out, rows.Err()
}

// tokenWords splits text into the runs of characters the provider's
// tokens and codes are made of (base64url and dots), to look them up in
// a set of secrets; "access_token=…" or ".../…" still yield the token.
var tokenWords = regexp.MustCompile(`[A-Za-z0-9_\-.~]{16,}`)

// logLine is the part of a JSON log line the test looks at.
type logLine struct {
	Level string `json:"level"`
	Msg   string `json:"msg"`
}

// logSummary counts a log's lines by level and message, for WARN and
// ERROR, and returns the ERROR lines and the lines that are not JSON (a
// panic, a race report).
func logSummary(logs string) (byMsg map[string]int, errs, other []string) {
	byMsg = map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l logLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			other = append(other, sc.Text())
			continue
		}
		if l.Level == "WARN" || l.Level == "ERROR" {
			byMsg[l.Level+" "+l.Msg]++
		}
		if l.Level == "ERROR" {
			errs = append(errs, sc.Text())
		}
	}
	return byMsg, errs, other
}
