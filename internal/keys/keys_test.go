package keys_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/keys"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/postgres"
	"github.com/stormcreds/storm/internal/store/sqlite"
	"github.com/stormcreds/storm/internal/vault"
)

// kekURL is the test KEK: a fixed key, so a child process opens the same
// keyring.
var kekURL = "base64key://" + base64.URLEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

func openSQLite(t testing.TB, path string) store.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openVault(t testing.TB, st store.Store, opts vault.Options) *vault.Vault {
	t.Helper()
	kek, err := vault.OpenKEK(context.Background(), kekURL, "")
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.OpenWithOptions(context.Background(), kek, st, opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func newManager(t testing.TB, st store.Store, v *vault.Vault, cfg keys.Config) *keys.Manager {
	t.Helper()
	cfg.Store, cfg.Vault = st, v
	if cfg.Interval == 0 {
		cfg.Interval = 20 * time.Millisecond
	}
	if cfg.Settle == 0 {
		cfg.Settle = 100 * time.Millisecond
	}
	m, err := keys.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// secretOf is the plaintext of a credential: its id and a write counter,
// so a reader can tell a ciphertext moved to another row (it would not
// open) from a stale one.
func secretOf(id string, n int) []byte { return fmt.Appendf(nil, "secret-%s-%d", id, n) }

func parseSecret(id string, pt []byte) (int, error) {
	rest, ok := strings.CutPrefix(string(pt), "secret-"+id+"-")
	if !ok {
		return 0, fmt.Errorf("credential %s holds %q", id, pt)
	}
	return strconv.Atoi(rest)
}

// seed stores ints integrations, each with a sealed secret config, and
// per credentials each (one active, the rest revoked), all sealed by v.
// It returns the credential ids.
func seed(t testing.TB, st store.Store, v *vault.Vault, ints, per int) []string {
	t.Helper()
	ctx := context.Background()
	ws := store.Workspace{ID: store.NewID("ws"), Name: "rewrap", CreatedAt: time.Now()}
	if err := st.CreateWorkspace(ctx, ws); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range ints {
		in := store.Integration{ID: store.NewID("int"), WorkspaceID: ws.ID, Name: fmt.Sprintf("int-%d", i), Provider: "custom",
			AuthMethod: "api_key", Status: store.StatusConnected, CreatedAt: time.Now(), UpdatedAt: time.Now()}
		if i%2 == 0 {
			in.SecretConfig, _ = v.Seal([]byte(`{"client_secret":"cs-`+in.ID+`"}`), vault.ConfigAD(in))
		}
		if err := st.CreateIntegration(ctx, in); err != nil {
			t.Fatal(err)
		}
		_, err := st.Mutate(ctx, in.ID, func(set *store.CredentialSet) error {
			for k := range per {
				c := store.Credential{ID: store.NewID("cred"), IntegrationID: in.ID, WorkspaceID: ws.ID, Version: k + 1,
					State: store.StateRevoked, CreatedAt: time.Now()}
				if k == per-1 {
					c.State = store.StateActive
				}
				c.Secret, _ = v.Seal(secretOf(c.ID, 0), vault.CredentialAD(c))
				set.Credentials = append(set.Credentials, c)
				ids = append(ids, c.ID)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// terms counts stored ciphertexts per term, checking that each opens.
func terms(t testing.TB, st store.Store, v *vault.Vault) map[uint32]int {
	t.Helper()
	ctx := context.Background()
	out := map[uint32]int{}
	for after := ""; ; {
		cs, err := st.ScanCredentials(ctx, after, 500)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) == 0 {
			break
		}
		for _, c := range cs {
			term, _ := vault.Term(c.Secret)
			out[term]++
			pt, err := v.Open(c.Secret, vault.CredentialAD(c))
			if err != nil {
				t.Fatalf("credential %s: %v", c.ID, err)
			}
			if _, err := parseSecret(c.ID, pt); err != nil {
				t.Fatal(err)
			}
			after = c.ID
		}
	}
	for after := ""; ; {
		ins, err := st.ScanIntegrations(ctx, after, 500)
		if err != nil {
			t.Fatal(err)
		}
		if len(ins) == 0 {
			break
		}
		for _, in := range ins {
			after = in.ID
			if len(in.SecretConfig) == 0 {
				continue
			}
			term, _ := vault.Term(in.SecretConfig)
			out[term]++
			if _, err := v.Open(in.SecretConfig, vault.ConfigAD(in)); err != nil {
				t.Fatalf("integration %s: %v", in.ID, err)
			}
		}
	}
	return out
}

// revisions maps every row to its revision.
func revisions(t testing.TB, st store.Store) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for after := ""; ; {
		cs, err := st.ScanCredentials(context.Background(), after, 500)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) == 0 {
			break
		}
		for _, c := range cs {
			out[c.ID], after = c.Revision, c.ID
		}
	}
	for after := ""; ; {
		ins, err := st.ScanIntegrations(context.Background(), after, 500)
		if err != nil {
			t.Fatal(err)
		}
		if len(ins) == 0 {
			break
		}
		for _, in := range ins {
			out[in.ID], after = in.Revision, in.ID
		}
	}
	return out
}

func runToDone(t testing.TB, m *keys.Manager) keys.Progress {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		p, err := m.RunJob(context.Background())
		if errors.Is(err, keys.ErrBusy) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if err != nil {
			t.Fatalf("RunJob: %v", err)
		}
		return p
	}
}

// A rotation moves every ciphertext to the new term; the counts add up;
// running the job again changes nothing.
func TestRewrap(t *testing.T) {
	st := openSQLite(t, filepath.Join(t.TempDir(), "storm.db"))
	v := openVault(t, st, vault.Options{})
	ids := seed(t, st, v, 20, 3)
	m := newManager(t, st, v, keys.Config{Batch: 7})

	s, err := m.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if s.ActiveTerm != 1 || s.Rewrap.State != keys.StateIdle || len(s.Terms) != 1 || s.Terms[0].Encryptions < 70 {
		t.Fatalf("status before rotation: %+v", s)
	}
	if p, err := m.RunJob(t.Context()); err != nil || p.TargetTerm != 0 {
		t.Fatalf("RunJob before any rotation = %+v, %v", p, err)
	}
	s, err = m.Rotate(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if s.ActiveTerm != 2 || s.Rewrap.State != keys.StateRunning || s.Rewrap.Progress.TargetTerm != 2 || s.Rewrap.Progress.Total != 80 {
		t.Fatalf("status after rotation: %+v", s)
	}
	p := runToDone(t, m)
	if p.Done != 80 || p.Rewrapped != 70 || p.Skipped != 10 || p.Failed != 0 || p.Total != 80 {
		t.Fatalf("progress = %+v; want 80 rows: 60 credentials and 10 configs re-wrapped, 10 integrations without one", p)
	}
	if got := terms(t, st, v); got[1] != 0 || got[2] != len(ids)+10 {
		t.Fatalf("terms after the job: %v", got)
	}
	s, _ = m.Status(t.Context())
	if s.Rewrap.State != keys.StateDone || s.Rewrap.FinishedAt.IsZero() {
		t.Fatalf("status after the job: %+v", s)
	}

	// Idempotent: a job over the same term re-wraps nothing.
	before := revisions(t, st)
	j, err := st.GetJob(t.Context(), keys.JobName)
	if err != nil {
		t.Fatal(err)
	}
	j.State, j.Data = keys.StateRunning, fmt.Appendf(nil, `{"target_term":2,"phase":"credentials","pass":1,"rotated_at":%q,"pass_started_at":%q}`,
		time.Now().Add(-time.Hour).Format(time.RFC3339), time.Now().Format(time.RFC3339))
	if _, err := st.PutJob(t.Context(), j); err != nil {
		t.Fatal(err)
	}
	p = runToDone(t, m)
	if p.Rewrapped != 0 || p.Swept != 0 || p.Done != 80 || p.Skipped != 80 {
		t.Fatalf("second run: %+v", p)
	}
	if after := revisions(t, st); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatal("a second run changed rows")
	}
}

// A ciphertext that does not open is counted and left as it is; the job
// goes on.
func TestRewrapSkipsUnreadable(t *testing.T) {
	st := openSQLite(t, filepath.Join(t.TempDir(), "storm.db"))
	v := openVault(t, st, vault.Options{})
	ids := seed(t, st, v, 3, 2)
	bad, err := st.UpdateCredential(t.Context(), ids[0], func(c store.Credential) (store.Credential, error) {
		c.Secret[len(c.Secret)-1] ^= 1
		return c, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	m := newManager(t, st, v, keys.Config{})
	if _, err := m.Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}
	p := runToDone(t, m)
	if p.Failed != 1 || p.Rewrapped != 5+2 {
		t.Fatalf("progress = %+v", p)
	}
	got, _ := st.GetCredential(t.Context(), ids[0])
	if string(got.Secret) != string(bad.Secret) || got.Revision != bad.Revision {
		t.Fatal("an unreadable ciphertext was changed")
	}
}

// Automatic rotation starts the re-wrap job, which the background loop
// runs to completion.
func TestAutomaticRotationRewraps(t *testing.T) {
	st := openSQLite(t, filepath.Join(t.TempDir(), "storm.db"))
	v := openVault(t, st, vault.Options{RotateAfter: 64, ReserveBlock: 8})
	ids := seed(t, st, v, 10, 2) // 25 seals
	m := newManager(t, st, v, keys.Config{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	for i := 0; v.ActiveTerm() == 1; i++ {
		if i > 10000 {
			t.Fatal("no automatic rotation")
		}
		v.Seal([]byte("x"), vault.AD{Field: "load"})
		time.Sleep(100 * time.Microsecond)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		s, err := m.Status(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if s.Rewrap.State == keys.StateDone && s.Rewrap.Progress.TargetTerm == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job not done: %+v", s.Rewrap)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := terms(t, st, v); got[2] != len(ids)+5 || got[1] != 0 {
		t.Fatalf("terms: %v", got)
	}
	cancel()
	<-done
}

// TestRotationUnderLoad: two instances share the store while 10,000
// credentials are read and written concurrently; one rotates and the
// job runs: no read or write fails, and afterwards every ciphertext is
// on the new term.
//
// -race builds run the SQLite engine itself instrumented (some thirty
// times slower per write), so they use 1,000 credentials on SQLite; the
// PostgreSQL run always has 10,000.
func TestRotationUnderLoad(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		ints := 1000
		if raceEnabled || testing.Short() {
			ints = 100
		}
		rotationUnderLoad(t, openSQLite(t, filepath.Join(t.TempDir(), "storm.db")), ints, 10)
	})
	t.Run("postgres", func(t *testing.T) {
		rotationUnderLoad(t, postgres.OpenTest(t), 1000, 10)
	})
}

func rotationUnderLoad(t *testing.T, st store.Store, ints, per int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := openVault(t, st, vault.Options{})
	ids := seed(t, st, a, ints, per)
	b := openVault(t, st, vault.Options{})
	cfg := keys.Config{Interval: 25 * time.Millisecond, Settle: 300 * time.Millisecond, Batch: 250}
	ma, mb := newManager(t, st, a, cfg), newManager(t, st, b, cfg)
	var bg sync.WaitGroup
	bg.Go(func() { ma.Run(ctx) })
	bg.Go(func() { mb.Run(ctx) })

	var reads, writes, failures atomic.Int64
	fail := func(format string, args ...any) {
		if failures.Add(1) <= 10 {
			t.Errorf(format, args...)
		}
	}
	stop := make(chan struct{})
	var load sync.WaitGroup
	vaults := []*vault.Vault{a, b}
	for w := range 4 {
		load.Go(func() { // readers
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				id := ids[r.IntN(len(ids))]
				c, err := st.GetCredential(ctx, id)
				if err != nil {
					fail("read %s: %v", id, err)
					continue
				}
				pt, err := vaults[r.IntN(2)].Open(c.Secret, vault.CredentialAD(c))
				if err != nil {
					fail("open %s: %v", id, err)
					continue
				}
				if _, err := parseSecret(id, pt); err != nil {
					fail("%v", err)
				}
				reads.Add(1)
				time.Sleep(200 * time.Microsecond) // load, not a CPU hog
			}
		})
	}
	for w := range 2 {
		load.Go(func() { // writers: re-seal with a new value, as a refresh does
			r := rand.New(rand.NewPCG(uint64(w), 2))
			for {
				select {
				case <-stop:
					return
				default:
				}
				id := ids[r.IntN(len(ids))]
				v := vaults[r.IntN(2)]
				_, err := st.UpdateCredential(ctx, id, func(c store.Credential) (store.Credential, error) {
					pt, err := v.Open(c.Secret, vault.CredentialAD(c))
					if err != nil {
						return c, err
					}
					n, err := parseSecret(id, pt)
					if err != nil {
						return c, err
					}
					c.Secret, err = v.Seal(secretOf(id, n+1), vault.CredentialAD(c))
					return c, err
				})
				if err != nil {
					fail("write %s: %v", id, err)
					continue
				}
				writes.Add(1)
				time.Sleep(time.Millisecond)
			}
		})
	}

	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	s, err := ma.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	target := s.ActiveTerm
	var last keys.JobStatus
	for {
		s, err := mb.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		last = s.Rewrap
		if last.State == keys.StateDone && last.Progress.TargetTerm == target {
			break
		}
		if time.Since(start) > 4*time.Minute {
			t.Fatalf("job not done: %+v", last)
		}
		time.Sleep(50 * time.Millisecond)
	}
	close(stop)
	load.Wait()
	cancel()
	bg.Wait()

	p := last.Progress
	t.Logf("%d credentials: job took %v (%d rewrapped, %d skipped, %d swept, %d passes); %d reads and %d writes meanwhile",
		len(ids), time.Since(start).Round(time.Millisecond), p.Rewrapped, p.Skipped, p.Swept, p.Pass, reads.Load(), writes.Load())
	if n := failures.Load(); n != 0 {
		t.Fatalf("%d failures", n)
	}
	if reads.Load() == 0 || writes.Load() == 0 {
		t.Fatal("no load ran")
	}
	if p.Failed != 0 || p.Done != p.Rewrapped+p.Skipped {
		t.Errorf("counts do not add up: %+v", p)
	}
	got := terms(t, st, a)
	if len(got) != 1 || got[target] != len(ids)+ints/2 {
		t.Fatalf("ciphertexts per term after the job: %v, want all %d on term %d", got, len(ids)+ints/2, target)
	}
}

// The re-wrap job resumes after SIGKILL from its last checkpoint, and
// its counts add up as if it had never stopped.
func TestRewrapResumesAfterSIGKILL(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "storm.db")
	st := openSQLite(t, path)
	v := openVault(t, st, vault.Options{})
	const ints, per = 200, 5
	ids := seed(t, st, v, ints, per)
	m := newManager(t, st, v, keys.Config{})
	if _, err := m.Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperRewrap$", "-test.count=1")
	cmd.Env = append(os.Environ(), "STORM_TEST_REWRAP_DB="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		done, ok := strings.CutPrefix(sc.Text(), "checkpoint ")
		if n, _ := strconv.Atoi(done); ok && n >= 300 {
			time.Sleep(3 * time.Millisecond) // into the next batch
			t.Logf("killing at %s", sc.Text())
			cmd.Process.Signal(syscall.SIGKILL)
			killed = true
			break
		}
	}
	cmd.Wait()
	if !killed {
		t.Fatal("the helper finished before it could be killed")
	}

	j, err := st.GetJob(t.Context(), keys.JobName)
	if err != nil {
		t.Fatal(err)
	}
	before := terms(t, st, v)
	if j.State != keys.StateRunning || before[1] == 0 || before[2] == 0 {
		t.Fatalf("after SIGKILL: job %s, terms %v; want a job half done", j.State, before)
	}
	t.Logf("killed with ciphertexts per term %v", before)

	// Another instance resumes once the dead holder's lease expires.
	p := runToDone(t, newManager(t, st, v, keys.Config{}))
	rows := int64(len(ids) + ints)
	if p.Done != rows || p.Total != rows || p.Rewrapped+p.Skipped != p.Done || p.Failed != 0 {
		t.Fatalf("resumed progress = %+v; want %d rows, rewrapped + skipped = done", p, rows)
	}
	// Rows re-wrapped after the killed run's last checkpoint are found
	// done and skipped; the 100 integrations without a secret config are
	// skipped in any case.
	t.Logf("resumed: %+v (%d re-wrapped after the last checkpoint)", p, p.Skipped-ints/2)
	after := terms(t, st, v)
	if len(after) != 1 || after[2] != len(ids)+ints/2 {
		t.Fatalf("after resuming: %v", after)
	}
	revs := revisions(t, st)
	if again := runToDone(t, m); fmt.Sprint(again) != fmt.Sprint(p) {
		t.Fatalf("a finished job ran again: %+v", again)
	}
	if fmt.Sprint(revisions(t, st)) != fmt.Sprint(revs) {
		t.Fatal("running a finished job changed rows")
	}
}

// TestHelperRewrap is the child process of TestRewrapResumesAfterSIGKILL:
// it runs the job slowly, printing each checkpoint, until killed.
func TestHelperRewrap(t *testing.T) {
	path := os.Getenv("STORM_TEST_REWRAP_DB")
	if path == "" {
		t.Skip("helper process only")
	}
	st := openSQLite(t, path)
	v := openVault(t, st, vault.Options{})
	m := newManager(t, st, v, keys.Config{Batch: 25, LeaseTTL: 300 * time.Millisecond, Hook: func(p keys.Progress) error {
		// The parent kills this process when it reads a line, so most
		// likely in the middle of the next batch.
		fmt.Printf("checkpoint %d\n", p.Done)
		return nil
	}})
	if _, err := m.RunJob(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Fatal("finished without being killed")
}

// A rotation while the job runs restarts it for the newer term; it ends
// with everything there.
func TestRotationDuringRewrap(t *testing.T) {
	st := openSQLite(t, filepath.Join(t.TempDir(), "storm.db"))
	v := openVault(t, st, vault.Options{})
	ids := seed(t, st, v, 10, 3)
	other := openVault(t, st, vault.Options{}) // another instance rotates
	rotated := false
	m := newManager(t, st, v, keys.Config{Batch: 5, Hook: func(p keys.Progress) error {
		if !rotated && p.Done >= 10 {
			rotated = true
			if _, err := other.Rotate(context.Background()); err != nil {
				return err
			}
		}
		return nil
	}})
	if _, err := m.Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}
	p := runToDone(t, m)
	if !rotated || p.TargetTerm != 3 || p.Done != int64(len(ids)+10) {
		t.Fatalf("progress = %+v", p)
	}
	if got := terms(t, st, v); len(got) != 1 || got[3] != len(ids)+5 {
		t.Fatalf("terms: %v", got)
	}
}

// TestRewrapWebhookSecrets: webhook signing secrets are re-wrapped too.
func TestRewrapWebhookSecrets(t *testing.T) {
	st := openSQLite(t, filepath.Join(t.TempDir(), "storm.db"))
	v := openVault(t, st, vault.Options{})
	seed(t, st, v, 2, 1)
	ws, err := st.GetWorkspace(t.Context(), "rewrap")
	if err != nil {
		t.Fatal(err)
	}
	var hooks []store.Webhook
	for i := range 3 {
		w := store.Webhook{ID: store.NewID("wh"), WorkspaceID: ws.ID, URL: fmt.Sprintf("https://example.com/hook%d", i), CreatedAt: time.Now()}
		w.Secret, _ = v.Seal([]byte("whsec_test"), vault.WebhookAD(w))
		created, err := st.CreateWebhook(t.Context(), w)
		if err != nil {
			t.Fatal(err)
		}
		hooks = append(hooks, created)
	}
	m := newManager(t, st, v, keys.Config{Batch: 2})
	if _, err := m.Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}
	runToDone(t, m)
	for _, h := range hooks {
		w, err := st.GetWebhook(t.Context(), h.ID)
		if err != nil {
			t.Fatal(err)
		}
		if term, ok := vault.Term(w.Secret); !ok || term != 2 {
			t.Fatalf("webhook %s secret on term %d after the job", w.ID, term)
		}
		if pt, err := v.Open(w.Secret, vault.WebhookAD(w)); err != nil || string(pt) != "whsec_test" {
			t.Fatalf("webhook %s secret: %v", w.ID, err)
		}
	}
}

// TestRewrapAppSecrets: the job re-wraps apps' client secret versions and
// their sealed registration data; revoked versions (no material) are
// left alone, and everything still opens where it belongs.
func TestRewrapAppSecrets(t *testing.T) {
	st := openSQLite(t, filepath.Join(t.TempDir(), "storm.db"))
	v := openVault(t, st, vault.Options{})
	seed(t, st, v, 1, 1)
	ws, err := st.GetWorkspace(t.Context(), "rewrap")
	if err != nil {
		t.Fatal(err)
	}
	var appIDs []string
	for i := range 3 {
		a := store.App{ID: store.NewID("app"), WorkspaceID: ws.ID, Name: fmt.Sprintf("app %d", i), Provider: "custom", AuthMethod: "oauth2",
			Config: []byte(`{"client_id":"c"}`), Origin: store.AppOriginManual, CreatedAt: time.Now(), UpdatedAt: time.Now()}
		a.SecretConfig, _ = v.Seal([]byte(`{"registration_access_token":"rat"}`), vault.AppConfigAD(a))
		var xs []store.AppSecret
		for k, state := range []string{store.StateRevoked, store.StatePrevious, store.StateActive} {
			x := store.AppSecret{ID: store.NewID("asec"), AppID: a.ID, WorkspaceID: ws.ID, Version: k + 1, State: state, CreatedAt: time.Now()}
			if state != store.StateRevoked {
				x.Secret, _ = v.Seal([]byte("cs-"+x.ID), vault.AppSecretAD(x))
			}
			xs = append(xs, x)
		}
		if err := st.CreateApp(t.Context(), a, xs); err != nil {
			t.Fatal(err)
		}
		appIDs = append(appIDs, a.ID)
	}
	// A registration migration 0012 moved that Storm has not converted
	// yet: its data is still bound to the old row, and is re-wrapped too.
	legacy := store.App{ID: "app_legacy", WorkspaceID: ws.ID, Name: "legacy", Provider: "mcp", AuthMethod: "oauth2",
		Config: []byte(`{"client_id":"c","legacy_registration":"reg_legacy"}`), Origin: store.AppOriginRegistered,
		Issuer: "https://as.example.com", RedirectURI: "https://storm.example.com/oauth/callback", CreatedAt: time.Now(), UpdatedAt: time.Now()}
	legacy.SecretConfig, _ = v.Seal([]byte(`{"client_secret":"cs"}`), vault.LegacyRegistrationAD(ws.ID, "reg_legacy"))
	if err := st.CreateApp(t.Context(), legacy, nil); err != nil {
		t.Fatal(err)
	}
	m := newManager(t, st, v, keys.Config{Batch: 2})
	if _, err := m.Rotate(t.Context()); err != nil {
		t.Fatal(err)
	}
	runToDone(t, m)
	if a, _ := st.GetApp(t.Context(), legacy.ID); func() bool { term, _ := vault.Term(a.SecretConfig); return term != 2 }() {
		t.Fatal("a moved registration's data was not re-wrapped")
	} else if _, err := v.Open(a.SecretConfig, vault.LegacyRegistrationAD(ws.ID, "reg_legacy")); err != nil {
		t.Fatalf("a moved registration's data after the job: %v", err)
	}
	for _, id := range appIDs {
		a, err := st.GetApp(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if term, _ := vault.Term(a.SecretConfig); term != 2 {
			t.Fatalf("app %s registration data on term %d after the job", id, term)
		}
		if _, err := v.Open(a.SecretConfig, vault.AppConfigAD(a)); err != nil {
			t.Fatalf("app %s registration data: %v", id, err)
		}
		xs, _ := st.ListAppSecrets(t.Context(), id)
		for _, x := range xs {
			if x.State == store.StateRevoked {
				if len(x.Secret) != 0 {
					t.Fatalf("a revoked secret gained material")
				}
				continue
			}
			if term, _ := vault.Term(x.Secret); term != 2 {
				t.Fatalf("app secret %s on term %d after the job", x.ID, term)
			}
			if pt, err := v.Open(x.Secret, vault.AppSecretAD(x)); err != nil || string(pt) != "cs-"+x.ID {
				t.Fatalf("app secret %s: %v", x.ID, err)
			}
		}
	}
}
