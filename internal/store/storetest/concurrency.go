package storetest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

// runConcurrency checks that concurrent compare-and-swaps of one
// integration are serialised: every update lands, none is lost, and the
// one-active-version invariant holds throughout. Run it with -race.
func runConcurrency(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("UpdateCredential", func(t *testing.T) {
		s := newStore(t)
		c := concurrencyFixture(t, s)
		const workers, rounds = 32, 10
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range rounds {
					if err := incrementCredential(t, s, c.ID); err != nil {
						t.Errorf("UpdateCredential: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		got, err := s.GetCredential(t.Context(), c.ID)
		must(t, err, "GetCredential")
		if n := counter(got.Secret); n != workers*rounds {
			t.Errorf("counter = %d, want %d", n, workers*rounds)
		}
		if got.Revision != c.Revision+workers*rounds {
			t.Errorf("revision = %d, want %d", got.Revision, c.Revision+workers*rounds)
		}
	})

	t.Run("Mutate", func(t *testing.T) {
		s := newStore(t)
		c := concurrencyFixture(t, s)
		const workers = 16
		var wg sync.WaitGroup
		for i := range workers {
			wg.Go(func() {
				_, err := s.Mutate(t.Context(), c.IntegrationID, func(set *store.CredentialSet) error {
					rotate(set, fmt.Appendf(nil, "worker-%d", i), t1)
					return nil
				})
				if err != nil {
					t.Errorf("Mutate: %v", err)
				}
			})
		}
		wg.Wait()
		checkVersions(t, s, c.IntegrationID, 1+workers)
		events, err := s.ListEvents(t.Context(), store.Page{IntegrationID: c.IntegrationID})
		must(t, err, "ListEvents")
		if len(events) != 1+workers {
			t.Errorf("%d events, want %d", len(events), 1+workers)
		}
	})

	t.Run("UpdateIntegration", func(t *testing.T) {
		s := newStore(t)
		c := concurrencyFixture(t, s)
		before, err := s.GetIntegration(t.Context(), c.IntegrationID)
		must(t, err, "GetIntegration")
		const workers, rounds = 16, 5
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range rounds {
					if err := incrementIntegration(t, s, c.IntegrationID); err != nil {
						t.Errorf("UpdateIntegration: %v", err)
						return
					}
				}
			})
		}
		wg.Wait()
		got, err := s.GetIntegration(t.Context(), c.IntegrationID)
		must(t, err, "GetIntegration")
		if n := configCounter(t, got.Config); n != workers*rounds {
			t.Errorf("counter = %d, want %d", n, workers*rounds)
		}
		if got.Revision != before.Revision+workers*rounds {
			t.Errorf("revision = %d, want %d", got.Revision, before.Revision+workers*rounds)
		}
	})

	// All three paths at once on one integration: they share one lock.
	t.Run("Mixed", func(t *testing.T) {
		s := newStore(t)
		c := concurrencyFixture(t, s)
		before, err := s.GetIntegration(t.Context(), c.IntegrationID)
		must(t, err, "GetIntegration")
		const workers, rounds, rotations = 6, 5, 4
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for range rounds {
					if err := incrementCredential(t, s, c.ID); err != nil {
						t.Errorf("UpdateCredential: %v", err)
						return
					}
				}
			})
			wg.Go(func() {
				for range rounds {
					if err := incrementIntegration(t, s, c.IntegrationID); err != nil {
						t.Errorf("UpdateIntegration: %v", err)
						return
					}
				}
			})
		}
		for i := range rotations {
			wg.Go(func() {
				_, err := s.Mutate(t.Context(), c.IntegrationID, func(set *store.CredentialSet) error {
					rotate(set, fmt.Appendf(nil, "rotation-%d", i), t1)
					return nil
				})
				if err != nil {
					t.Errorf("Mutate: %v", err)
				}
			})
		}
		wg.Wait()

		got, err := s.GetCredential(t.Context(), c.ID)
		must(t, err, "GetCredential")
		if n := counter(got.Secret); n != workers*rounds {
			t.Errorf("credential counter = %d, want %d", n, workers*rounds)
		}
		in, err := s.GetIntegration(t.Context(), c.IntegrationID)
		must(t, err, "GetIntegration")
		if n := configCounter(t, in.Config); n != workers*rounds {
			t.Errorf("integration counter = %d, want %d", n, workers*rounds)
		}
		if want := before.Revision + workers*rounds + rotations; in.Revision != want {
			t.Errorf("integration revision = %d, want %d", in.Revision, want)
		}
		checkVersions(t, s, c.IntegrationID, 1+rotations)
	})
}

// concurrencyFixture returns the one active credential of a new
// integration; its Secret is a counter at zero.
func concurrencyFixture(t *testing.T, s store.Store) store.Credential {
	t.Helper()
	ws := newWorkspace(t, s, "default")
	in := integration(ws.ID, "github")
	in.Config = []byte(`{"n":0}`)
	must(t, s.CreateIntegration(t.Context(), in), "CreateIntegration")
	return newCredential(t, s, in.ID, make([]byte, 8))
}

func counter(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func incrementCredential(t *testing.T, s store.Store, id string) error {
	_, err := s.UpdateCredential(t.Context(), id, func(c store.Credential) (store.Credential, error) {
		c.Secret = binary.BigEndian.AppendUint64(nil, counter(c.Secret)+1)
		return c, nil
	})
	return err
}

type config struct {
	N int `json:"n"`
}

func configCounter(t *testing.T, b []byte) int {
	t.Helper()
	var c config
	if err := json.Unmarshal(b, &c); err != nil {
		t.Errorf("config %q: %v", b, err)
	}
	return c.N
}

func incrementIntegration(t *testing.T, s store.Store, id string) error {
	_, err := s.UpdateIntegration(t.Context(), id, func(in store.Integration) (store.Integration, error) {
		var c config
		if err := json.Unmarshal(in.Config, &c); err != nil {
			return in, err
		}
		c.N++
		b, err := json.Marshal(c)
		in.Config = b
		return in, err
	})
	return err
}

// checkVersions checks that an integration has versions 1..n, the last
// active, the one before previous and the rest revoked.
func checkVersions(t *testing.T, s store.Store, integrationID string, n int) {
	t.Helper()
	creds, err := s.ListCredentials(t.Context(), integrationID)
	must(t, err, "ListCredentials")
	if len(creds) != n {
		t.Fatalf("%d credential versions, want %d", len(creds), n)
	}
	for i, c := range creds {
		want := store.StateRevoked
		switch i {
		case n - 1:
			want = store.StateActive
		case n - 2:
			want = store.StatePrevious
		}
		if c.Version != i+1 || c.State != want {
			t.Errorf("credential %d: version %d %s, want %d %s", i, c.Version, c.State, i+1, want)
		}
	}
}

// runLeaseConcurrency checks that a lease has at most one holder however
// many callers race for it.
func runLeaseConcurrency(t *testing.T, newStore func(t *testing.T) store.Store) {
	// Every round the lease has expired and 32 owners race for it: exactly
	// one wins.
	t.Run("AcquireLease", func(t *testing.T) {
		s := newStore(t)
		const workers, rounds = 32, 8
		const name = "refresh:cred_race"
		for r := range rounds {
			now := t0.Add(time.Duration(r) * 2 * time.Minute)
			until := now.Add(time.Minute) // expired when the next round starts
			winners := race(t, workers, func(i int) (string, bool, error) {
				owner := fmt.Sprintf("owner-%d", i)
				held, err := s.AcquireLease(t.Context(), name, owner, until, now)
				return owner, held, err
			})
			if len(winners) != 1 {
				t.Fatalf("round %d: %d callers acquired the lease, want 1: %v", r, len(winners), winners)
			}
			// The winner holds it; nobody else does.
			held, err := s.AcquireLease(t.Context(), name, winners[0], until, now.Add(time.Second))
			must(t, err, "AcquireLease")
			if !held {
				t.Errorf("round %d: winner %s does not hold the lease", r, winners[0])
			}
			held, err = s.AcquireLease(t.Context(), name, "outsider", until, now.Add(time.Second))
			must(t, err, "AcquireLease")
			if held {
				t.Errorf("round %d: outsider acquired the lease held by %s", r, winners[0])
			}
		}
	})

	// HoldLease: 32 owners race for a free lease; exactly one wins, and
	// while it is live nobody else gets it.
	t.Run("HoldLease", func(t *testing.T) {
		s := newStore(t)
		const workers, rounds = 32, 4
		for r := range rounds {
			name := fmt.Sprintf("refresh:cred_hold_%d", r)
			winners := race(t, workers, func(i int) (string, bool, error) {
				owner := fmt.Sprintf("owner-%d", i)
				held, err := s.HoldLease(t.Context(), name, owner, time.Minute)
				return owner, held, err
			})
			if len(winners) != 1 {
				t.Fatalf("round %d: %d callers hold the lease, want 1: %v", r, len(winners), winners)
			}
			held, err := s.HoldLease(t.Context(), name, "outsider", time.Minute)
			must(t, err, "HoldLease")
			if held {
				t.Errorf("round %d: outsider took the lease held by %s", r, winners[0])
			}
		}
	})

	// Owners are instances: the goroutines of one owner share the lease,
	// those of every other owner are refused.
	t.Run("AcquireLeaseSharedOwners", func(t *testing.T) {
		s := newStore(t)
		const workers, owners, rounds = 32, 4, 8
		const name = "refresh:cred_shared"
		for r := range rounds {
			now := t0.Add(time.Duration(r) * 2 * time.Minute)
			until := now.Add(time.Minute)
			winners := race(t, workers, func(i int) (string, bool, error) {
				owner := fmt.Sprintf("instance-%d", i%owners)
				held, err := s.AcquireLease(t.Context(), name, owner, until, now)
				return owner, held, err
			})
			if len(winners) == 0 {
				t.Fatalf("round %d: nobody acquired the lease", r)
			}
			for _, w := range winners {
				if w != winners[0] {
					t.Fatalf("round %d: owners %v all acquired the lease", r, winners)
				}
			}
		}
	})

	// Holders in real time: acquire, work, release, again. The critical
	// section never has two owners in it.
	t.Run("MutualExclusion", func(t *testing.T) {
		s := newStore(t)
		const workers, rounds = 32, 8
		const name = "refresh:cred_mutex"
		var inside, entered atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range workers {
			wg.Go(func() {
				<-start
				owner := fmt.Sprintf("owner-%d", i)
				for range rounds {
					now := time.Now()
					held, err := s.AcquireLease(t.Context(), name, owner, now.Add(time.Hour), now)
					if err != nil {
						t.Errorf("AcquireLease: %v", err)
						return
					}
					if !held {
						continue
					}
					if n := inside.Add(1); n != 1 {
						t.Errorf("%d holders of the lease at once", n)
					}
					entered.Add(1)
					time.Sleep(100 * time.Microsecond)
					inside.Add(-1)
					if err := s.ReleaseLease(t.Context(), name, owner); err != nil {
						t.Errorf("ReleaseLease: %v", err)
						return
					}
				}
			})
		}
		close(start)
		wg.Wait()
		if entered.Load() == 0 {
			t.Error("nobody ever acquired the lease")
		}
	})

	// Of many consumers of one OAuth state exactly one gets it.
	t.Run("ConsumeOAuthState", func(t *testing.T) {
		s := newStore(t)
		const workers, rounds = 16, 4
		now := time.Now()
		for r := range rounds {
			st := oauthState(fmt.Sprintf("race-%d", r), now, now.Add(time.Minute))
			must(t, s.CreateOAuthState(t.Context(), st), "CreateOAuthState")
			// An old state to purge on the way, so purges race too.
			stale := oauthState(fmt.Sprintf("stale-%d", r), now.Add(-72*time.Hour), now.Add(-48*time.Hour))
			must(t, s.CreateOAuthState(t.Context(), stale), "CreateOAuthState")
			winners := race(t, workers, func(i int) (string, bool, error) {
				got, err := s.ConsumeOAuthState(t.Context(), st.Hash)
				if errors.Is(err, store.ErrNotFound) {
					return "", false, nil
				}
				if err == nil && !bytes.Equal(got.Hash, st.Hash) {
					err = fmt.Errorf("consumed hash %x, want %x", got.Hash, st.Hash)
				}
				return fmt.Sprint(i), err == nil, err
			})
			if len(winners) != 1 {
				t.Fatalf("round %d: %d consumers got the state, want 1", r, len(winners))
			}
			_, err := s.ConsumeOAuthState(t.Context(), stale.Hash)
			wantErr(t, err, store.ErrNotFound, "ConsumeOAuthState of a purged state")
		}
	})
}

// race runs fn for workers goroutines released at once and returns the
// names of those that report success.
func race(t *testing.T, workers int, fn func(i int) (string, bool, error)) []string {
	t.Helper()
	var (
		mu      sync.Mutex
		winners []string
		wg      sync.WaitGroup
	)
	start := make(chan struct{})
	for i := range workers {
		wg.Go(func() {
			<-start
			name, ok, err := fn(i)
			if err != nil {
				t.Errorf("worker %d: %v", i, err)
				return
			}
			if ok {
				mu.Lock()
				winners = append(winners, name)
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	return winners
}
