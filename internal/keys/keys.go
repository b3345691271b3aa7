package keys

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stormcreds/storm/internal/apps"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/vault"
)

// JobName names the re-wrap job's row in the jobs table and its lease.
const JobName = "rewrap"

// Job states.
const (
	StateIdle    = "idle"    // never rotated: nothing to re-wrap
	StateRunning = "running" // in progress, or waiting for an instance to resume it
	StateDone    = "done"
)

// Phases of a pass of the re-wrap job.
const (
	PhaseCredentials  = "credentials"  // Credential.Secret
	PhaseIntegrations = "integrations" // Integration.SecretConfig
	PhaseWebhooks     = "webhooks"     // Webhook.Secret
	PhaseAppSecrets   = "app_secrets"  // AppSecret.Secret
	PhaseApps         = "apps"         // App.SecretConfig
	PhaseSettling     = "settling"     // waiting for every live instance to seal under the target
)

// maxSweeps bounds the passes after the first: each finds what instances
// still sealing under an older term wrote behind the cursor.
const maxSweeps = 4

// Config configures a Manager. Store and Vault are required.
type Config struct {
	Store store.Store
	Vault *vault.Vault
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
	// Owner names this instance in the job's lease; default random.
	Owner string
	// Interval is how often Run re-reads the keyring (so a rotation by
	// another instance reaches this one's seals) and looks for a job to
	// run or resume; default 15s.
	Interval time.Duration
	// LeaseTTL is how long the job's lease outlives a holder that died;
	// default 30s.
	LeaseTTL time.Duration
	// Batch is how many rows the job handles between checkpoints;
	// default 200.
	Batch int
	// Workers is how many rows of a batch are re-wrapped at once (each in
	// its own transaction); default 4.
	Workers int
	// Live is how recently an instance must have reported (a heartbeat
	// at every keyring poll) to count as running; default 3 × Interval,
	// at least one second.
	Live time.Duration
	// Settle bounds the wait for every live instance to report the new
	// term after a rotation: past it an instance that still has not
	// (one that cannot reload the keyring) is swept after rather than
	// waited for. Default 3 × Interval.
	Settle time.Duration
	// Hook, when set, is called after each checkpoint; an error stops
	// the job there as if the process died (the lease is kept). Tests.
	Hook func(p Progress) error
}

// Manager rotates data keys and runs the re-wrap job. It is safe for
// concurrent use.
type Manager struct {
	cfg     Config
	st      store.Store
	v       *vault.Vault
	log     *slog.Logger
	kick    chan struct{}
	running atomic.Bool

	staleMu     sync.Mutex
	staleLogged time.Time
}

// New validates cfg and returns a Manager. It asks the vault to report
// automatic rotations, which start the re-wrap job.
func New(cfg Config) (*Manager, error) {
	if cfg.Store == nil || cfg.Vault == nil {
		return nil, errors.New("keys: Store and Vault are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Owner == "" {
		var b [8]byte
		crand.Read(b[:])
		cfg.Owner = "keys-" + hex.EncodeToString(b[:])
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 15 * time.Second
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 30 * time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 200
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 4
	}
	if cfg.Live <= 0 {
		cfg.Live = max(3*cfg.Interval, time.Second)
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 3 * cfg.Interval
	}
	m := &Manager{cfg: cfg, st: cfg.Store, v: cfg.Vault, log: cfg.Logger, kick: make(chan struct{}, 1)}
	m.v.OnRotate(func(term uint32) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := m.startJob(ctx, term); err != nil {
			m.log.Error("keys: could not start the re-wrap job after automatic rotation", "term", term, "err", err)
		}
		m.wake()
	})
	return m, nil
}

// Progress is the re-wrap job's persisted state (its jobs row's data).
// It never holds a secret.
type Progress struct {
	TargetTerm uint32    `json:"target_term"`
	RotatedAt  time.Time `json:"rotated_at"`
	Phase      string    `json:"phase"`
	Cursor     string    `json:"cursor"` // id of the last row handled in Phase
	// Pass 1 visits every row; later passes (sweeps) re-wrap what was
	// written under an older term behind the cursor meanwhile.
	Pass int `json:"pass"`
	// Total is the number of rows when the job started; Done counts the
	// rows pass 1 visited, each Rewrapped, Skipped (no secret, or already
	// under the target term) or Failed (did not open: left as it is).
	Total     int64 `json:"total"`
	Done      int64 `json:"done"`
	Rewrapped int64 `json:"rewrapped"`
	Skipped   int64 `json:"skipped"`
	Failed    int64 `json:"failed"`
	// Swept counts rows re-wrapped by sweeps; PassRewrapped those of the
	// current pass.
	Swept         int64     `json:"swept"`
	PassRewrapped int64     `json:"pass_rewrapped"`
	PassStartedAt time.Time `json:"pass_started_at"`
	// PassSettled says the current sweep began after every live instance
	// sealed under the target (or Settle passed): only such a sweep
	// that finds nothing ends the job.
	PassSettled bool `json:"pass_settled,omitempty"`
}

// TermStatus is one data-key term.
type TermStatus struct {
	Term      uint32
	CreatedAt time.Time
	// Encryptions is the cluster-wide count reserved under the term: an
	// upper bound of the encryptions made (instances reserve in blocks).
	Encryptions int64
}

// Status is the keyring and the re-wrap job.
type Status struct {
	ActiveTerm uint32
	Terms      []TermStatus
	Rewrap     JobStatus
}

// JobStatus is the re-wrap job as stored.
type JobStatus struct {
	State      string
	Progress   Progress
	StartedAt  time.Time
	UpdatedAt  time.Time
	FinishedAt time.Time
}

// Status reports the keyring (re-read first, so it is the cluster's)
// and the re-wrap job.
func (m *Manager) Status(ctx context.Context) (Status, error) {
	m.refresh(ctx)
	info := m.v.Info()
	usage, err := m.st.KeyUsage(ctx)
	if err != nil {
		return Status{}, err
	}
	out := Status{ActiveTerm: info.Active}
	for _, t := range info.Terms {
		out.Terms = append(out.Terms, TermStatus{Term: t.Term, CreatedAt: t.CreatedAt, Encryptions: usage[t.Term]})
	}
	j, p, err := m.job(ctx)
	switch {
	case errors.Is(err, store.ErrNotFound):
		out.Rewrap = JobStatus{State: StateIdle}
	case err != nil:
		return Status{}, err
	default:
		out.Rewrap = JobStatus{State: j.State, Progress: p, StartedAt: j.StartedAt, UpdatedAt: j.UpdatedAt, FinishedAt: j.FinishedAt}
	}
	return out, nil
}

// Rotate adds a new data-key term, which new seals use at once on this
// instance and within Interval on the others, and starts the re-wrap job
// that moves every stored ciphertext to it. Old terms keep opening.
func (m *Manager) Rotate(ctx context.Context) (Status, error) {
	term, err := m.v.Rotate(ctx)
	if err != nil {
		return Status{}, err
	}
	m.log.Info("keys: rotated the data key", "term", term)
	m.heartbeat(ctx)
	if _, err := m.startJob(ctx, term); err != nil {
		return Status{}, fmt.Errorf("keys: rotated to term %d, but the re-wrap job did not start (it starts within %s): %w", term, m.cfg.Interval, err)
	}
	m.wake()
	return m.Status(ctx)
}

func (m *Manager) wake() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// job loads the stored job and its progress.
func (m *Manager) job(ctx context.Context) (store.Job, Progress, error) {
	j, err := m.st.GetJob(ctx, JobName)
	if err != nil {
		return store.Job{}, Progress{}, err
	}
	var p Progress
	if err := json.Unmarshal(j.Data, &p); err != nil {
		return store.Job{}, Progress{}, fmt.Errorf("keys: job %s is corrupt: %w", JobName, err)
	}
	return j, p, nil
}

// startJob makes the stored job a fresh one for term unless one for term
// or a later term exists already.
func (m *Manager) startJob(ctx context.Context, term uint32) (store.Job, error) {
	for attempt := 0; ; attempt++ {
		j, p, err := m.job(ctx)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.Job{}, err
		}
		if err == nil && p.TargetTerm >= term {
			return j, nil
		}
		creds, err := m.st.CountCredentials(ctx)
		if err != nil {
			return store.Job{}, err
		}
		ints, err := m.st.CountIntegrations(ctx)
		if err != nil {
			return store.Job{}, err
		}
		now := m.cfg.Now().UTC()
		p = Progress{TargetTerm: term, RotatedAt: now, Phase: PhaseCredentials, Pass: 1, Total: creds + ints, PassStartedAt: now}
		data, _ := json.Marshal(p)
		next, err := m.st.PutJob(ctx, store.Job{Name: JobName, State: StateRunning, Data: data, StartedAt: now, UpdatedAt: now, Revision: j.Revision})
		if errors.Is(err, store.ErrConflict) && attempt < 5 {
			continue
		}
		return next, err
	}
}

// refresh re-reads the keyring; it reports false when this instance's
// KEK no longer opens it (it must not run the job then).
func (m *Manager) refresh(ctx context.Context) bool {
	err := m.v.Refresh(ctx)
	if err == nil {
		return true
	}
	m.staleMu.Lock()
	defer m.staleMu.Unlock()
	if now := m.cfg.Now(); now.Sub(m.staleLogged) >= 5*time.Minute {
		m.staleLogged = now
		m.log.Warn("keys: cannot reload the keyring", "err", err)
	}
	return !errors.Is(err, vault.ErrStaleKEK)
}

// Run re-reads the keyring every Interval and runs (or resumes) the
// re-wrap job when it is due and no other instance holds it, until ctx
// ends.
func (m *Manager) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	for {
		fresh := m.refresh(ctx)
		m.heartbeat(ctx)
		if fresh && m.due(ctx) && m.running.CompareAndSwap(false, true) {
			wg.Go(func() {
				defer m.running.Store(false)
				if _, err := m.RunJob(ctx); err != nil && !errors.Is(err, ErrBusy) && ctx.Err() == nil {
					m.log.Error("keys: re-wrap job stopped; it resumes later", "err", err)
				}
			})
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.kick:
		}
	}
}

// due reports whether the job should run: it is unfinished, or the
// active term is newer than its target (an automatic rotation here or a
// rotation by an instance that crashed before starting the job).
func (m *Manager) due(ctx context.Context) bool {
	active := m.v.ActiveTerm()
	j, p, err := m.job(ctx)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return active > 1
	case err != nil:
		m.log.Warn("keys: cannot read the re-wrap job", "err", err)
		return false
	}
	return j.State == StateRunning || p.TargetTerm < active
}

// ErrBusy means another instance holds the re-wrap job's lease.
var ErrBusy = errors.New("keys: another instance is running the re-wrap job")

// errLost means the job's lease or row was taken over by another
// instance (this one stalled past LeaseTTL).
var errLost = errors.New("keys: lost the re-wrap job to another instance")

// RunJob runs the re-wrap job to completion on this instance if no
// other holds it (else ErrBusy), resuming from the stored checkpoint. A
// job for a term older than the active one is restarted for the active
// term. It returns the final progress.
func (m *Manager) RunJob(ctx context.Context) (Progress, error) {
	if !m.lease(ctx) {
		return Progress{}, ErrBusy
	}
	defer m.st.ReleaseLease(context.WithoutCancel(ctx), JobName, m.cfg.Owner)

	if active := m.v.ActiveTerm(); active > 1 {
		if _, err := m.startJob(ctx, active); err != nil {
			return Progress{}, err
		}
	}
	j, p, err := m.job(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return Progress{}, nil // never rotated
	}
	if err != nil {
		return Progress{}, err
	}
	if j.State != StateRunning {
		return p, nil
	}
	m.log.Info("keys: re-wrap job running", "target_term", p.TargetTerm, "phase", p.Phase, "pass", p.Pass, "cursor", p.Cursor, "done", p.Done, "total", p.Total)
	for j.State == StateRunning {
		if err := ctx.Err(); err != nil {
			return p, err
		}
		if p.TargetTerm > m.v.ActiveTerm() {
			// Another instance rotated; this one has not reloaded yet.
			if !m.refresh(ctx) || p.TargetTerm > m.v.ActiveTerm() {
				return p, fmt.Errorf("keys: the re-wrap job targets term %d, which this instance cannot load", p.TargetTerm)
			}
		}
		if active := m.v.ActiveTerm(); active > p.TargetTerm {
			// Rotated again meanwhile: move everything to the newest.
			if j, err = m.startJob(ctx, active); err != nil {
				return p, err
			}
			if _, p, err = m.job(ctx); err != nil {
				return p, err
			}
			continue
		}
		if err := m.step(ctx, &p); errors.Is(err, errTargetMoved) {
			m.refresh(ctx)
			continue // rotated again: the checks above restart the job
		} else if err != nil {
			return p, err
		}
		if p.Phase == StateDone && m.refresh(ctx) && m.v.ActiveTerm() > p.TargetTerm {
			continue // rotated elsewhere meanwhile: restart for the newer term
		}
		now := m.cfg.Now().UTC()
		next := j
		next.UpdatedAt = now
		if p.Phase == StateDone {
			next.State, next.FinishedAt = StateDone, now
		}
		next.Data, _ = json.Marshal(p)
		if !m.lease(ctx) {
			return p, errLost
		}
		j, err = m.st.PutJob(ctx, next)
		if errors.Is(err, store.ErrConflict) {
			return p, errLost
		}
		if err != nil {
			return p, err
		}
		if m.cfg.Hook != nil {
			if err := m.cfg.Hook(p); err != nil {
				return p, err
			}
		}
	}
	if p.Failed > 0 {
		m.log.Warn("keys: re-wrap job finished; some ciphertexts did not open and were left as they were", "target_term", p.TargetTerm, "failed", p.Failed)
	}
	m.log.Info("keys: re-wrap job done", "target_term", p.TargetTerm, "rows", p.Done, "rewrapped", p.Rewrapped, "skipped", p.Skipped, "failed", p.Failed, "swept", p.Swept)
	return p, nil
}

// lease takes or renews the job's lease.
func (m *Manager) lease(ctx context.Context) bool {
	now := m.cfg.Now()
	ok, err := m.st.AcquireLease(ctx, JobName, m.cfg.Owner, now.Add(m.cfg.LeaseTTL), now)
	if err != nil {
		m.log.Warn("keys: re-wrap lease", "err", err)
	}
	return ok && err == nil
}

// step handles one batch of the current phase, or moves to the next
// phase; p.Phase becomes StateDone when the job is complete.
func (m *Manager) step(ctx context.Context, p *Progress) error {
	switch p.Phase {
	case PhaseCredentials:
		rows, err := m.st.ScanCredentials(ctx, p.Cursor, m.cfg.Batch)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			p.Phase, p.Cursor = PhaseIntegrations, ""
			return nil
		}
		if err := each(m, p, rows, func(c store.Credential) (outcome, error) { return m.rewrapCredential(ctx, c, p.TargetTerm) }); err != nil {
			return err
		}
		p.Cursor = rows[len(rows)-1].ID
	case PhaseIntegrations:
		rows, err := m.st.ScanIntegrations(ctx, p.Cursor, m.cfg.Batch)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			p.Phase, p.Cursor = PhaseWebhooks, ""
			return nil
		}
		if err := each(m, p, rows, func(in store.Integration) (outcome, error) { return m.rewrapIntegration(ctx, in, p.TargetTerm) }); err != nil {
			return err
		}
		p.Cursor = rows[len(rows)-1].ID
	case PhaseWebhooks:
		// Webhooks are few (one list); the cursor still skips those done
		// before a restart.
		all, err := m.st.ListWebhooks(ctx, "")
		if err != nil {
			return err
		}
		var rows []store.Webhook
		for _, w := range all {
			if w.ID > p.Cursor {
				rows = append(rows, w)
			}
		}
		slices.SortFunc(rows, func(a, b store.Webhook) int { return strings.Compare(a.ID, b.ID) })
		if len(rows) > m.cfg.Batch {
			rows = rows[:m.cfg.Batch]
		}
		if len(rows) == 0 {
			p.Phase, p.Cursor = PhaseAppSecrets, ""
			return nil
		}
		if err := each(m, p, rows, func(w store.Webhook) (outcome, error) { return m.rewrapWebhook(ctx, w, p.TargetTerm) }); err != nil {
			return err
		}
		p.Cursor = rows[len(rows)-1].ID
	case PhaseAppSecrets:
		rows, err := m.st.ScanAppSecrets(ctx, p.Cursor, m.cfg.Batch)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			p.Phase, p.Cursor = PhaseApps, ""
			return nil
		}
		if err := each(m, p, rows, func(x store.AppSecret) (outcome, error) { return m.rewrapAppSecret(ctx, x, p.TargetTerm) }); err != nil {
			return err
		}
		p.Cursor = rows[len(rows)-1].ID
	case PhaseApps:
		rows, err := m.st.ListApps(ctx, store.AppPage{After: p.Cursor, Limit: m.cfg.Batch})
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			m.endPass(p)
			return nil
		}
		if err := each(m, p, rows, func(a store.App) (outcome, error) { return m.rewrapAppConfig(ctx, a, p.TargetTerm) }); err != nil {
			return err
		}
		p.Cursor = rows[len(rows)-1].ID
	case PhaseSettling:
		// Wait for every live instance to seal under the target, checking
		// their heartbeats often; return within a third of the lease so it
		// is renewed.
		until := time.Now().Add(m.cfg.LeaseTTL / 3)
		for !m.settled(ctx, p.TargetTerm, p.RotatedAt) {
			if !time.Now().Before(until) {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(settlePoll(m.cfg.Interval)):
			}
		}
		p.Phase, p.Cursor, p.Pass, p.PassRewrapped, p.PassStartedAt = PhaseCredentials, "", p.Pass+1, 0, m.cfg.Now().UTC()
		p.PassSettled = true
	default:
		return fmt.Errorf("keys: re-wrap job has an unknown phase %q", p.Phase)
	}
	return nil
}

// heartbeat reports that this instance runs and the term it seals
// under. A failure is logged and changes nothing else: the job then
// waits for Settle instead.
func (m *Manager) heartbeat(ctx context.Context) {
	if err := m.st.Heartbeat(ctx, m.cfg.Owner, m.v.ActiveTerm()); err != nil && ctx.Err() == nil {
		m.log.Warn("keys: could not record this instance's heartbeat", "err", err)
	}
}

// settled reports whether every live instance seals under target (or a
// later term), so a sweep that starts now sees every write made under an
// older one; or whether Settle has passed since the rotation, after which
// an instance that still reports an older term is not waited for.
func (m *Manager) settled(ctx context.Context, target uint32, rotatedAt time.Time) bool {
	if !m.cfg.Now().Before(rotatedAt.Add(m.cfg.Settle)) {
		return true
	}
	m.heartbeat(ctx) // this instance's own report is current
	live, err := m.st.LiveInstances(ctx, m.cfg.Live)
	if err != nil {
		m.log.Warn("keys: cannot read the instances' heartbeats; waiting for the settle time", "err", err)
		return false
	}
	for _, in := range live {
		if in.KeyTerm < target {
			return false
		}
	}
	return true
}

// settlePoll is how often the settling phase re-reads the heartbeats.
func settlePoll(interval time.Duration) time.Duration {
	return min(max(interval/4, 10*time.Millisecond), 250*time.Millisecond)
}

// each re-wraps a batch of rows, Workers at a time, and counts the
// outcomes in p. A batch counts as a whole or not at all: on an error p is
// untouched and the batch is visited again later, which is harmless (rows
// already re-wrapped are skipped).
func each[T any](m *Manager, p *Progress, rows []T, fn func(T) (outcome, error)) error {
	outs := make([]outcome, len(rows))
	errs := make([]error, len(rows))
	sem := make(chan struct{}, m.cfg.Workers)
	var wg sync.WaitGroup
	for i, r := range rows {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			outs[i], errs[i] = fn(r)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	for _, o := range outs {
		p.count(o)
	}
	return nil
}

// endPass decides after a pass: done when a sweep that began after every
// instance had settled on the target term found nothing left, else
// another sweep (after the settling time).
func (m *Manager) endPass(p *Progress) {
	if p.Pass == 1 {
		p.Total = max(p.Total, p.Done)
	}
	settled := p.PassSettled
	switch {
	case p.Pass > 1 && settled && p.PassRewrapped == 0:
		p.Phase = StateDone
	case p.Pass > maxSweeps && settled:
		m.log.Warn("keys: ciphertexts under an older term keep appearing; is an instance unable to reload the keyring (a stale --kek-url)?", "target_term", p.TargetTerm, "last_sweep", p.PassRewrapped)
		p.Phase = StateDone
	default:
		p.Phase, p.Cursor = PhaseSettling, ""
	}
	p.Cursor = ""
}

type outcome int

const (
	rewrapped outcome = iota
	skipped
	failed
)

func (p *Progress) count(o outcome) {
	if p.Pass == 1 {
		p.Done++
		switch o {
		case rewrapped:
			p.Rewrapped++
		case skipped:
			p.Skipped++
		case failed:
			p.Failed++
		}
	} else if o == rewrapped {
		p.Swept++
	}
	if o == rewrapped {
		p.PassRewrapped++
	}
}

var (
	errSkip        = errors.New("skip")
	errUnreadable  = errors.New("unreadable")
	errTargetMoved = errors.New("keys: the active term changed during the re-wrap")
)

// current reports whether a stored ciphertext needs no re-wrap: empty,
// or under the target term or a later one.
func current(ct []byte, target uint32) bool {
	if len(ct) == 0 {
		return true
	}
	term, ok := vault.Term(ct)
	return ok && term >= target
}

// reseal opens ct and seals it again for the same place under target.
func (m *Manager) reseal(ct []byte, ad vault.AD, target uint32) ([]byte, error) {
	if _, ok := vault.Term(ct); !ok {
		return nil, errUnreadable
	}
	pt, err := m.v.Open(ct, ad)
	if err != nil {
		return nil, errUnreadable
	}
	out, err := m.v.Seal(pt, ad)
	clear(pt)
	if err != nil {
		return nil, err
	}
	if term, _ := vault.Term(out); term != target {
		return nil, errTargetMoved
	}
	return out, nil
}

func (m *Manager) rewrapCredential(ctx context.Context, c store.Credential, target uint32) (outcome, error) {
	if current(c.Secret, target) {
		return skipped, nil
	}
	_, err := m.st.UpdateCredential(ctx, c.ID, func(cur store.Credential) (store.Credential, error) {
		if current(cur.Secret, target) {
			return cur, errSkip
		}
		ct, err := m.reseal(cur.Secret, vault.CredentialAD(cur), target)
		if err != nil {
			return cur, err
		}
		cur.Secret = ct
		return cur, nil
	})
	return m.outcome(err, "credential", c.ID)
}

func (m *Manager) rewrapIntegration(ctx context.Context, in store.Integration, target uint32) (outcome, error) {
	if current(in.SecretConfig, target) {
		return skipped, nil
	}
	_, err := m.st.UpdateIntegration(ctx, in.ID, func(cur store.Integration) (store.Integration, error) {
		if current(cur.SecretConfig, target) {
			return cur, errSkip
		}
		ct, err := m.reseal(cur.SecretConfig, vault.ConfigAD(cur), target)
		if err != nil {
			return cur, err
		}
		cur.SecretConfig = ct // UpdatedAt stays: nothing a person changed
		return cur, nil
	})
	return m.outcome(err, "integration", in.ID)
}

func (m *Manager) rewrapWebhook(ctx context.Context, w store.Webhook, target uint32) (outcome, error) {
	if current(w.Secret, target) {
		return skipped, nil
	}
	_, err := m.st.UpdateWebhook(ctx, w.ID, func(ch *store.WebhookChange) error {
		if current(ch.Webhook.Secret, target) {
			return errSkip
		}
		ct, err := m.reseal(ch.Webhook.Secret, vault.WebhookAD(ch.Webhook), target)
		if err != nil {
			return err
		}
		ch.Webhook.Secret = ct
		return nil
	})
	return m.outcome(err, "webhook", w.ID)
}

func (m *Manager) rewrapAppSecret(ctx context.Context, x store.AppSecret, target uint32) (outcome, error) {
	if current(x.Secret, target) {
		return skipped, nil
	}
	_, err := m.st.UpdateApp(ctx, x.AppID, func(ch *store.AppChange) error {
		for i := range ch.Secrets {
			cur := &ch.Secrets[i]
			if cur.ID != x.ID {
				continue
			}
			if current(cur.Secret, target) {
				return errSkip
			}
			ct, err := m.reseal(cur.Secret, vault.AppSecretAD(*cur), target)
			if err != nil {
				return err
			}
			cur.Secret = ct
			return nil
		}
		return errSkip // revoked and gone meanwhile
	})
	return m.outcome(err, "app_secret", x.ID)
}

func (m *Manager) rewrapAppConfig(ctx context.Context, a store.App, target uint32) (outcome, error) {
	if current(a.SecretConfig, target) {
		return skipped, nil
	}
	_, err := m.st.UpdateApp(ctx, a.ID, func(ch *store.AppChange) error {
		if current(ch.App.SecretConfig, target) {
			return errSkip
		}
		ct, err := m.reseal(ch.App.SecretConfig, apps.SecretConfigAD(ch.App), target)
		if err != nil {
			return err
		}
		ch.App.SecretConfig = ct // UpdatedAt stays: nothing a person changed
		return nil
	})
	return m.outcome(err, "app", a.ID)
}

func (m *Manager) outcome(err error, kind, id string) (outcome, error) {
	switch {
	case err == nil:
		return rewrapped, nil
	case errors.Is(err, errSkip), errors.Is(err, store.ErrNotFound): // deleted meanwhile
		return skipped, nil
	case errors.Is(err, errUnreadable):
		m.log.Error("keys: a ciphertext does not open; left as it is", kind, id)
		return failed, nil
	}
	return 0, fmt.Errorf("re-wrap %s %s: %w", kind, id, err)
}
