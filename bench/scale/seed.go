package main

import (
	"context"
	crand "crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stormcreds/storm/internal/audit"
	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/postgres"
	"github.com/stormcreds/storm/internal/store/sqlite"
	"github.com/stormcreds/storm/internal/vault"
)

// size is how much data one database gets.
type size struct {
	Name         string
	Integrations int
	Versions     int // credential versions in all
	Events       int
	Audit        int
	Heavy        int // versions of the integration with the most
}

// fixture is what the measurements need to know about a seeded database.
type fixture struct {
	Kind     string // "sqlite" or "postgres"
	Size     size
	DataDir  string
	Database string // postgres URL with the benchmark's search_path; "" for SQLite
	Schema   string // postgres schema, dropped at the end unless -keep
	WS       string // the default workspace's id
	Real     []string
	Heavy    string // the bulk integration with the most versions
	SeedTime time.Duration
}

// realIntegrations is how many integrations are made through the API
// (real configuration, sealed material, events, audit); /access and save
// use the first.
const realIntegrations = 3

// prepare makes a data dir (and, for PostgreSQL, a fresh schema), starts
// storm serve once so the real migrations and bootstrap run, creates the
// real integrations through the API, stops it, and adds the bulk rows.
func prepare(ctx context.Context, o options, kind string, sz size, upstream string) (*fixture, error) {
	fx := &fixture{Kind: kind, Size: sz, DataDir: filepath.Join(o.work, kind+"-"+sz.Name)}
	if err := os.MkdirAll(fx.DataDir, 0o700); err != nil {
		return nil, err
	}
	if kind == "postgres" {
		var b [6]byte
		crand.Read(b[:])
		fx.Schema = "scale_" + sz.Name + "_" + hex.EncodeToString(b[:])
		if err := pgAdmin(ctx, o.pgURL, "CREATE SCHEMA "+fx.Schema); err != nil {
			return nil, err
		}
		fx.Database = withSearchPath(o.pgURL, fx.Schema)
	}
	t0 := time.Now()
	in, err := startStorm(o.bin, fx.DataDir, fx.Database, o.token)
	if err != nil {
		return nil, err
	}
	api := newAPI(in.url, o.token)
	for i := range realIntegrations {
		out, err := api.call(ctx, "POST", "/v1/integrations", map[string]any{
			"name": fmt.Sprintf("real %d", i), "provider": "custom", "auth_method": "api_key",
			"config": map[string]any{
				"base_url": upstream,
				"api_key":  map[string]any{"in": "header", "name": "Authorization", "prefix": "Bearer "},
				"verify":   map[string]any{"method": "GET", "path": "/me"},
			},
		}, 201)
		if err != nil {
			in.stop()
			return nil, err
		}
		id := out["id"].(string)
		fx.WS = out["workspace"].(string)
		fx.Real = append(fx.Real, id)
		for range 2 { // an active and a previous version
			if _, err := api.call(ctx, "PUT", "/v1/integrations/"+id+"/credentials", map[string]any{"api_key": newKey()}, 200); err != nil {
				in.stop()
				return nil, err
			}
		}
	}
	in.stop()
	if err := seedBulk(ctx, fx); err != nil {
		return nil, err
	}
	fx.SeedTime = time.Since(t0)
	b, err := json.Marshal(fx)
	if err != nil {
		return nil, err
	}
	return fx, os.WriteFile(filepath.Join(fx.DataDir, "fixture.json"), b, 0o600)
}

// loadFixture returns the fixture a run with -keep left for kind and sz
// when -reuse is set and one is there with the same sizes, else nil.
func loadFixture(o options, kind string, sz size) (*fixture, error) {
	if !o.reuse {
		return nil, nil
	}
	b, err := os.ReadFile(filepath.Join(o.work, kind+"-"+sz.Name, "fixture.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var fx fixture
	if err := json.Unmarshal(b, &fx); err != nil {
		return nil, err
	}
	if fx.Size != sz {
		return nil, fmt.Errorf("%s: seeded with %+v, not %+v", o.work, fx.Size, sz)
	}
	fx.SeedTime = 0
	return &fx, nil
}

// newKey is a fresh API key the upstream accepts.
func newKey() string {
	var b [16]byte
	crand.Read(b[:])
	return "sk-scale-" + hex.EncodeToString(b[:])
}

func pgAdmin(ctx context.Context, base, sql string) error {
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// withSearchPath adds search_path to a postgres URL.
func withSearchPath(conn, schema string) string {
	u, err := url.Parse(conn)
	if err != nil {
		return conn
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// seedBulk adds sz's rows beyond what the API made. Integrations copy the
// first real one's configuration; every active and previous version
// holds that one's material sealed anew for its own row, so /access,
// verification and the background jobs can use any of them; revoked
// versions hold none, as Storm leaves them.
func seedBulk(ctx context.Context, fx *fixture) error {
	var st store.Store
	var err error
	if fx.Kind == "postgres" {
		st, err = postgres.Open(ctx, fx.Database)
	} else {
		st, err = sqlite.Open(ctx, filepath.Join(fx.DataDir, "storm.db"))
	}
	if err != nil {
		return err
	}
	defer st.Close()
	kek, err := vault.OpenKEK(ctx, "", fx.DataDir)
	if err != nil {
		return err
	}
	// The keyring alone, not the usage counter: counting a million seals
	// would contend with the bulk writer for SQLite's write lock, and
	// they are far below any rotation threshold.
	v, err := vault.Open(ctx, kek, keyringOnly{st})
	if err != nil {
		return err
	}
	defer v.Close()
	model, err := st.GetIntegration(ctx, fx.Real[0])
	if err != nil {
		return err
	}
	creds, err := st.ListCredentials(ctx, model.ID)
	if err != nil {
		return err
	}
	var material []byte
	for _, c := range creds {
		if c.State == store.StateActive {
			if material, err = v.Open(c.Secret, vault.CredentialAD(c)); err != nil {
				return fmt.Errorf("open the model credential: %w", err)
			}
		}
	}
	if material == nil {
		return fmt.Errorf("the model integration has no active credential")
	}

	var b bulk
	if fx.Kind == "postgres" {
		b, err = openPGBulk(ctx, fx.Database)
	} else {
		b, err = openSQLiteBulk(filepath.Join(fx.DataDir, "storm.db"))
	}
	if err != nil {
		return err
	}
	defer b.close()

	sz := fx.Size
	now := time.Now().UTC().Truncate(time.Microsecond)
	rng := rand.New(rand.NewPCG(1, 2))

	// Integrations: 70% connected, 10% degraded, 10% pending (no
	// credential), 5% reconnect_required, 5% disabled; verified within
	// the last 70 minutes, so the hourly verification schedule has work
	// (their turns are due an hour after it).
	ids := make([]string, sz.Integrations)
	statuses := make([]string, sz.Integrations)
	for i := range ids {
		ids[i] = store.NewID("int")
		switch i % 20 {
		case 14, 15:
			statuses[i] = store.StatusDegraded
		case 16, 17:
			statuses[i] = store.StatusPending
		case 18:
			statuses[i] = store.StatusReconnectRequired
		case 19:
			statuses[i] = store.StatusDisabled
		default:
			statuses[i] = store.StatusConnected
		}
	}
	fx.Heavy = ids[0] // connected
	integCols := []string{"id", "workspace_id", "name", "provider", "auth_method", "config", "secret_config", "status",
		"status_reason", "created_at", "updated_at", "last_verified_at", "last_used_at", "revision", "next_verify_at"}
	t := time.Now()
	err = b.insert(ctx, "integrations", integCols, sz.Integrations, func(i int, d []any) {
		var verified time.Time
		if statuses[i] != store.StatusPending {
			verified = now.Add(-time.Duration(rng.Int64N(int64(70 * time.Minute))))
		}
		var sc any
		if model.SecretConfig != nil {
			in := model
			in.ID, in.WorkspaceID = ids[i], fx.WS
			ct, err := v.Seal(mustOpen(v, model.SecretConfig, vault.ConfigAD(model)), vault.ConfigAD(in))
			if err != nil {
				panic(err)
			}
			sc = ct
		}
		d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7] = ids[i], fx.WS, fmt.Sprintf("bulk %07d", i), model.Provider, model.AuthMethod, model.Config, sc, statuses[i]
		d[8], d[9], d[10], d[11], d[12], d[13] = "seeded", now.Add(-30*24*time.Hour), now, verified, time.Time{}, int64(1)
		// As the hourly schedule leaves them: the next turn an interval
		// after the last verification (never verified: due at once).
		d[14] = time.Unix(0, 0).UTC()
		if !verified.IsZero() {
			d[14] = verified.Add(time.Hour)
		}
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "  %s/%s: %d integrations in %s\n", fx.Kind, sz.Name, sz.Integrations, time.Since(t).Round(time.Millisecond))

	// Versions: one (active) for every integration with a credential,
	// sz.heavy for the first, 1000 for each of the next 99 when there is
	// room, the rest spread at random.
	counts := make([]int, sz.Integrations)
	var with []int
	total := 0
	for i, s := range statuses {
		if s != store.StatusPending {
			counts[i] = 1
			with = append(with, i)
			total++
		}
	}
	extra := max(0, sz.Versions-total)
	give := func(i, n int) {
		n = min(n, extra)
		counts[i] += n
		extra -= n
	}
	give(0, sz.Heavy-1)
	for k := 1; k < 100 && k < len(with) && extra > 1000*(100-k); k++ {
		give(with[k], 999)
	}
	for extra > 0 {
		give(with[rng.IntN(len(with))], 1)
	}
	versions := 0
	for _, c := range counts {
		versions += c
	}
	credCols := []string{"id", "integration_id", "workspace_id", "version", "state", "hint", "fingerprint", "secret",
		"created_at", "verified_at", "expires_at", "revoked_at", "refresh_at", "failures", "revision"}
	j, ver := 0, 0 // the integration and version the next row is
	t = time.Now()
	err = b.insert(ctx, "credentials", credCols, versions, func(i int, d []any) {
		for ver == counts[j] {
			j, ver = j+1, 0
		}
		ver++
		c := store.Credential{ID: orderedID("cred", i), IntegrationID: ids[j], WorkspaceID: fx.WS, Version: ver}
		created := now.Add(-time.Duration(counts[j]-ver+1) * time.Hour)
		var secret any
		var revoked time.Time
		switch {
		case ver == counts[j]:
			c.State = store.StateActive
		case ver == counts[j]-1:
			c.State = store.StatePrevious
		default:
			c.State, revoked = store.StateRevoked, created.Add(time.Hour)
		}
		if c.State != store.StateRevoked {
			ct, err := v.Seal(material, vault.CredentialAD(c))
			if err != nil {
				panic(err)
			}
			secret = ct
		}
		d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7] = c.ID, c.IntegrationID, c.WorkspaceID, int64(ver), c.State, fmt.Sprintf("sk-s…%04d", ver%10000), fmt.Sprintf("%016x", rng.Uint64()), secret
		d[8], d[9], d[10], d[11], d[12], d[13], d[14] = created, created, time.Time{}, revoked, time.Time{}, int64(0), int64(1)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "  %s/%s: %d credential versions (%d on %s) in %s\n", fx.Kind, sz.Name, versions, counts[0], fx.Heavy, time.Since(t).Round(time.Millisecond))

	// Events: the heavy integration has 10%, the rest are spread at
	// random; a minute apart up to now.
	types := []string{events.CredentialSaved, events.VerificationSucceeded, events.CredentialRevoked, events.IntegrationDegraded}
	eventCols := []string{"id", "workspace_id", "integration_id", "type", "at", "data"}
	t = time.Now()
	err = b.insert(ctx, "events", eventCols, sz.Events, func(i int, d []any) {
		integ := ids[0]
		if i%10 != 0 {
			integ = ids[rng.IntN(len(ids))]
		}
		data, _ := json.Marshal(map[string]any{"credential": "cred_seeded", "version": i % 7, "hint": "sk-s…0001"})
		d[0], d[1], d[2], d[3], d[4], d[5] = orderedID("evt", i), fx.WS, integ, types[i%len(types)], now.Add(-time.Duration(sz.Events-i)*time.Second), data
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "  %s/%s: %d events in %s\n", fx.Kind, sz.Name, sz.Events, time.Since(t).Round(time.Millisecond))

	// Audit: chained after the entries the API wrote, so the log still
	// verifies.
	var head audit.Head
	if err := b.queryRow(ctx, `SELECT chain_seq, hash FROM audit WHERE hash <> '' ORDER BY chain_seq DESC LIMIT 1`, nil, &head.Seq, &head.Hash); err != nil {
		return fmt.Errorf("audit head: %w", err)
	}
	auditCols := []string{"id", "workspace_id", "actor", "action", "target", "at", "ip", "detail", "chain_seq", "prev_hash", "hash"}
	recs := make([]store.AuditRecord, 1)
	t = time.Now()
	err = b.insert(ctx, "audit", auditCols, sz.Audit, func(i int, d []any) {
		r := &recs[0]
		*r = store.AuditRecord{ID: orderedID("aud", i), WorkspaceID: fx.WS, Actor: "tok_seeded", Action: "credential.read",
			Target: ids[rng.IntN(len(ids))], At: now.Add(-time.Duration(sz.Audit-i) * time.Second), IP: "127.0.0.1",
			Detail: []byte(`{"integration":"seeded"}`)}
		head = audit.Link(head, recs)
		d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10] = r.ID, r.WorkspaceID, r.Actor, r.Action, r.Target, r.At, r.IP, r.Detail, r.Seq, r.PrevHash, r.Hash
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "  %s/%s: %d audit entries in %s\n", fx.Kind, sz.Name, sz.Audit, time.Since(t).Round(time.Millisecond))
	if fx.Kind == "postgres" {
		// What autovacuum would have done by the time a table grew this
		// large.
		if err := b.exec(ctx, "ANALYZE"); err != nil {
			return err
		}
	}
	return nil
}

func mustOpen(v *vault.Vault, ct []byte, ad vault.AD) []byte {
	pt, err := v.Open(ct, ad)
	if err != nil {
		panic(err)
	}
	return pt
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// orderedID is an id shaped like store.NewID's (prefix, 26 base32
// characters, 128 bits) whose first 64 bits count up with i, so bulk rows
// append to their id index instead of inserting all over it: seeding
// 10,000,000 events goes several times faster. The rest is random, so
// two databases never share ids. Lookups by id cost the same either way.
func orderedID(prefix string, i int) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(i)+1<<62)
	crand.Read(b[8:])
	return prefix + "_" + idEncoding.EncodeToString(b[:])
}

// keyringOnly hides every method of a store but the keyring's.
type keyringOnly struct{ vault.KeyringStore }
