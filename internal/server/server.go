package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stormcreds/storm/internal/api"
	"github.com/stormcreds/storm/internal/apps"
	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/connect"
	"github.com/stormcreds/storm/internal/creds"
	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/journal"
	"github.com/stormcreds/storm/internal/keys"
	"github.com/stormcreds/storm/internal/proxy"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/postgres"
	"github.com/stormcreds/storm/internal/store/sqlite"
	"github.com/stormcreds/storm/internal/tokens"
	"github.com/stormcreds/storm/internal/vault"
	"github.com/stormcreds/storm/internal/web"
	"github.com/stormcreds/storm/internal/webhooks"
)

// Config is what an operator sets (flags and STORM_* variables).
type Config struct {
	Addr     string // default 127.0.0.1:8080
	DataDir  string // default ./storm-data
	Database string // default: SQLite file in DataDir; postgres://… for a cluster
	// PublicURL is the externally visible base URL (OAuth redirects);
	// default http://<Addr>.
	PublicURL string
	KEKURL    string // default: key file in DataDir
	// AllowPrivateUpstreams lets integrations reach loopback and private
	// addresses (STORM_ALLOW_PRIVATE_UPSTREAMS).
	AllowPrivateUpstreams bool
	// AdminToken, when set (STORM_ADMIN_TOKEN), is the admin token and no
	// token file is written.
	AdminToken string
	// CredentialCacheTTL is how long a decrypted credential is reused
	// before it is re-read (creds.Config.CacheTTL); zero means 1s.
	CredentialCacheTTL time.Duration
	// Tokens tunes the token engine (tests shorten its timeouts).
	Tokens tokens.Config
	// Keys tunes key management: keyring polling and the re-wrap job
	// (Store and Vault are filled in).
	Keys keys.Config
	// DataKeyRotateAfter is how many encryptions a data key may have
	// before it is rotated automatically (vault.Options.RotateAfter; 0:
	// 2^31).
	DataKeyRotateAfter int64
	// Webhooks tunes webhook delivery (tests shorten its timings).
	Webhooks webhooks.Tuning
	// ProvidersDir holds an operator's provider definitions (*.yaml),
	// added to the catalog or replacing its entries by name
	// (STORM_PROVIDERS_DIR); empty means <DataDir>/providers when that
	// directory exists.
	ProvidersDir string
	// NoBackground leaves the background refresh loop off (tests that
	// drive refreshes themselves).
	NoBackground bool
	// Verify schedules health verification of every integration
	// (STORM_VERIFY_INTERVAL); zero Interval turns it off.
	Verify creds.VerifySchedule
	Logger *slog.Logger
}

// AdminTokenFile is the file in the data directory holding the
// bootstrap admin token.
const AdminTokenFile = "admin.token"

// Server is an assembled Storm.
type Server struct {
	cfg      Config
	Store    store.Store
	Vault    *vault.Vault
	Keys     *keys.Manager
	API      *api.Server
	UI       *web.UI
	Creds    *creds.Service
	Apps     *apps.Service
	Connect  *connect.Service
	recorder *events.Recorder
	journal  *journal.Journal // secret reads on their way to the audit log; nil on PostgreSQL
	logger   *slog.Logger
	// dispatcher delivers webhooks (StartBackground).
	dispatcher *webhooks.Dispatcher
}

// Open assembles a server from cfg, creating the data directory, the key
// file, the database and the admin token on first start.
func Open(ctx context.Context, cfg Config) (*Server, error) {
	cfg = withDefaults(cfg)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	// A data dir whose key is lost must not get a new one: the new key
	// would not open the data, and the next restore of the right key
	// would then find a file in its way.
	if err := checkKeyNotLost(ctx, cfg); err != nil {
		return nil, err
	}
	// The key first: a key file that cannot be used (other users can
	// read it) stops the start before the database is touched.
	kek, err := vault.OpenKEK(ctx, cfg.KEKURL, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s, err := assemble(ctx, cfg, st, kek)
	if err != nil {
		st.Close()
		return nil, err
	}
	warnOpenModes(cfg, cfg.Logger)
	return s, nil
}

// ErrKeyMissing means the data dir's key file is gone while its
// database holds data sealed under it.
var ErrKeyMissing = errors.New("the key-encryption key is missing")

// checkKeyNotLost refuses to start with the data dir's key file (no
// --kek-url) when that file is absent but the database already holds a
// keyring: creating a key then would make a second, useless one.
func checkKeyNotLost(ctx context.Context, cfg Config) error {
	if cfg.KEKURL != "" {
		return nil
	}
	keyPath := filepath.Join(cfg.DataDir, vault.DefaultKeyFile)
	if _, err := os.Stat(keyPath); !errors.Is(err, os.ErrNotExist) {
		return nil // there (or unreadable: OpenKEK says why)
	}
	where := cfg.Database
	if path, ok := sqlitePath(cfg); ok {
		fi, err := os.Stat(path)
		if errors.Is(err, os.ErrNotExist) || (err == nil && fi.Size() == 0) {
			return nil // a first start
		}
		where = path
	} else {
		where = "the database"
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Keyring(ctx); errors.Is(err, store.ErrNotFound) {
		return nil // a database without keys yet: a first start
	} else if err != nil {
		return err
	}
	return fmt.Errorf("%w: %s holds data sealed under a key-encryption key, but %s does not exist. "+
		"Put the key file back (chmod 600 %s) or pass the --kek-url the data was made with; "+
		"storm does not create a new key here because it could not open the data",
		ErrKeyMissing, where, keyPath, keyPath)
}

// OpenStore opens the database cfg names (Database, else the SQLite file
// in DataDir) as Open does, for offline tools such as
// `storm keys rotate-kek`.
func OpenStore(ctx context.Context, cfg Config) (store.Store, error) {
	if cfg.DataDir == "" {
		cfg.DataDir = "storm-data"
	}
	return openStore(ctx, cfg)
}

// withDefaults fills cfg's defaults (shared/API.md).
func withDefaults(cfg Config) Config {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8080"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = "storm-data"
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = "http://" + cfg.Addr
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return cfg
}

// dbFile is the SQLite database in the data dir.
const dbFile = "storm.db"

func openStore(ctx context.Context, cfg Config) (store.Store, error) {
	if path, ok := sqlitePath(cfg); ok {
		return sqlite.Open(ctx, path)
	}
	if db := cfg.Database; strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://") {
		return postgres.Open(ctx, db)
	}
	return nil, fmt.Errorf("--database: want postgres://… or sqlite:///path (empty for the data dir's SQLite file)")
}

// sqlitePath is the SQLite file cfg names, if it names one.
func sqlitePath(cfg Config) (string, bool) {
	switch db := cfg.Database; {
	case db == "":
		return filepath.Join(cfg.DataDir, dbFile), true
	case strings.HasPrefix(db, "sqlite://"):
		return strings.TrimPrefix(db, "sqlite://"), true
	}
	return "", false
}

func assemble(ctx context.Context, cfg Config, st store.Store, kek vault.KEK) (_ *Server, err error) {
	v, err := vault.OpenWithOptions(ctx, kek, st, vault.Options{RotateAfter: cfg.DataKeyRotateAfter, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	kc := cfg.Keys
	kc.Store, kc.Vault = st, v
	if kc.Logger == nil {
		kc.Logger = cfg.Logger
	}
	km, err := keys.New(kc)
	if err != nil {
		return nil, err
	}
	cat, err := loadCatalog(cfg)
	if err != nil {
		return nil, err
	}
	px, err := proxy.New(proxy.Config{AllowPrivate: cfg.AllowPrivateUpstreams, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	batches := readBatches(reg)
	jnl, err := openJournal(ctx, cfg, st, reg, batches)
	if err != nil {
		return nil, err
	}
	if jnl != nil {
		defer func() {
			if err != nil {
				jnl.Close(context.WithoutCancel(ctx))
			}
		}()
	}
	perCommit := batches // a transaction per group of reads
	if jnl != nil {
		perCommit = nil // folds are the commits (journalMetrics)
	}
	rec := events.NewRecorder(st, time.Now, cfg.Logger, events.ReadsConfig{Metrics: readMetrics(reg, perCommit), Journal: jnl})
	stateMetrics(reg, st, v)
	tc := cfg.Tokens
	if tc.Metrics == nil {
		tc.Metrics = tokenMetrics(reg)
	}
	clients, err := apps.NewClients(apps.ClientsConfig{Store: st, Vault: v, Recorder: rec, Logger: cfg.Logger, Metrics: appClientMetrics(reg)})
	if err != nil {
		return nil, err
	}
	cs, err := creds.New(creds.Config{Store: st, Vault: v, Catalog: cat, Recorder: rec, Proxy: px, Logger: cfg.Logger, CacheTTL: cfg.CredentialCacheTTL,
		PublicURL: cfg.PublicURL, Tokens: tc, Apps: clients})
	if err != nil {
		return nil, err
	}
	as, err := apps.New(apps.Config{Store: st, Vault: v, Catalog: cat, Recorder: rec, Clients: clients, Integrations: cs, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	// Registrations migration 0012 moved into apps get their secrets
	// re-sealed as the apps' own (idempotent; a failure leaves the app
	// unusable until its server is authorized again, never the start).
	if n, err := apps.ConvertRegistrations(ctx, st, v, cfg.Logger, nil); err != nil {
		cfg.Logger.Error("convert dynamic client registrations into apps", "err", err)
	} else if n > 0 {
		cfg.Logger.Info("converted dynamic client registrations into apps", "apps", n)
	}
	links, err := connect.New(connect.Config{Store: st, Creds: cs, Catalog: cat, Recorder: rec, PublicURL: cfg.PublicURL, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	ready := func(ctx context.Context) error {
		if err := st.Ping(ctx); err != nil {
			return fmt.Errorf("database: %w", err)
		}
		if err := v.Check(); err != nil {
			return fmt.Errorf("keys: %w", err)
		}
		return nil
	}
	whc := webhooks.Config{Store: st, Vault: v, AllowPrivate: cfg.AllowPrivateUpstreams, Logger: cfg.Logger, Tuning: cfg.Webhooks}
	whs, err := webhooks.NewService(whc)
	if err != nil {
		return nil, err
	}
	whd, err := webhooks.NewDispatcher(whc)
	if err != nil {
		return nil, err
	}
	a, err := api.New(api.Config{Store: st, Catalog: cat, Creds: cs, Proxy: px, Recorder: rec, Ready: ready,
		Registry: reg, Logger: cfg.Logger, Keys: km, Webhooks: whs, Apps: as, Connect: links})
	if err != nil {
		return nil, err
	}
	ui, err := web.New(web.Config{Store: st, Catalog: cat, Creds: cs, Apps: as, Connect: links, Vault: v, Recorder: rec, Tokens: a,
		PublicURL: cfg.PublicURL, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, Store: st, Vault: v, Keys: km, API: a, UI: ui, Creds: cs, Apps: as, Connect: links, recorder: rec, journal: jnl, logger: cfg.Logger}
	s.dispatcher = whd
	if err := s.bootstrap(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// loadCatalog loads the embedded catalog and the operator's provider
// definitions; a bad definition stops the start, naming file and line.
func loadCatalog(cfg Config) (*catalog.Catalog, error) {
	dir := cfg.ProvidersDir
	if dir == "" {
		if fi, err := os.Stat(filepath.Join(cfg.DataDir, "providers")); err == nil && fi.IsDir() {
			dir = filepath.Join(cfg.DataDir, "providers")
		}
	}
	cat, err := catalog.LoadDir(dir)
	if err != nil {
		return nil, err
	}
	if dir != "" {
		n := 0
		for _, p := range cat.List() {
			if cat.Origin(p.Name) != "" {
				n++
			}
		}
		cfg.Logger.Info("loaded provider definitions", "dir", dir, "providers", n)
	}
	return cat, nil
}

// DefaultWorkspace exists from the first start.
const DefaultWorkspace = "default"

// bootstrap creates the default workspace and makes sure an admin token
// exists: STORM_ADMIN_TOKEN when set, else the token file (created on
// first start). Several instances may run it at once.
func (s *Server) bootstrap(ctx context.Context) error {
	ws, err := s.Store.GetWorkspace(ctx, DefaultWorkspace)
	if errors.Is(err, store.ErrNotFound) {
		ws = store.Workspace{ID: store.NewID("ws"), Name: DefaultWorkspace, CreatedAt: time.Now().UTC()}
		if err = s.Store.CreateWorkspace(ctx, ws); errors.Is(err, store.ErrConflict) {
			ws, err = s.Store.GetWorkspace(ctx, DefaultWorkspace)
		}
	}
	if err != nil {
		return fmt.Errorf("bootstrap default workspace: %w", err)
	}
	token := s.cfg.AdminToken
	if token == "" {
		path := filepath.Join(s.cfg.DataDir, AdminTokenFile)
		b, err := os.ReadFile(path)
		switch {
		case err == nil:
			token = strings.TrimSpace(string(b))
		case errors.Is(err, os.ErrNotExist):
			token, _ = api.NewToken()
			if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
				return fmt.Errorf("write admin token: %w", err)
			}
			s.logger.Info("created the admin token", "file", path)
		default:
			return fmt.Errorf("read admin token: %w", err)
		}
	}
	hash := api.HashToken(token)
	if _, err := s.Store.GetAPITokenByHash(ctx, hash); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("bootstrap admin token: %w", err)
	}
	t := store.APIToken{ID: store.NewID("tok"), Name: "bootstrap admin", WorkspaceID: ws.ID, Role: store.RoleAdmin, Hash: hash, CreatedAt: time.Now().UTC()}
	if err := s.Store.CreateAPIToken(ctx, t); err != nil && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("bootstrap admin token: %w", err)
	}
	return nil
}

// Handler is the HTTP handler for everything Storm serves: the API's
// paths (/v1/, /oauth/, /healthz, /readyz, /metrics) go to the API,
// everything else to the web UI.
func (s *Server) Handler() http.Handler {
	return api.WithRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if api.Serves(r.URL.Path) {
			s.API.ServeHTTP(w, r)
			return
		}
		s.UI.ServeHTTP(w, r)
	}))
}

// Serve serves on ln until ctx ends, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	stopBackground := s.StartBackground(bg)
	defer stopBackground()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	var err error
	select {
	case <-ctx.Done():
		shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err = hs.Shutdown(shutCtx)
		cancel()
	case err = <-errc:
	}
	stop()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// StartBackground starts the background work (unless NoBackground): the
// token engine's refresh loop, the hourly expiry/key-age notices,
// scheduled verification and key management (keyring poll, re-wrap job).
// It returns a function that stops them and waits.
func (s *Server) StartBackground(ctx context.Context) (stop func()) {
	if s.cfg.NoBackground {
		return func() {}
	}
	runners := []func(context.Context){
		s.Creds.Tokens().Run,
		func(ctx context.Context) { s.Creds.RunNotices(ctx, time.Hour) },
		func(ctx context.Context) { s.Creds.RunVerifySchedule(ctx, s.cfg.Verify) },
		s.Keys.Run,       // keyring poll, re-wrap job
		s.dispatcher.Run, // webhook deliveries
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, run := range runners {
		wg.Add(1)
		go func() { defer wg.Done(); run(ctx) }()
	}
	return func() { cancel(); wg.Wait() }
}

// Close waits for background work that still writes (provider
// revocations, refreshes in flight, key-usage counting) and then
// releases the store, so nothing runs against a closed store.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.Creds.Close(ctx)
	if s.journal != nil {
		if err := s.journal.Close(ctx); err != nil {
			s.logger.Error("audit journal: records not folded stay in the journal for the next start", "err", err)
		}
	}
	s.Vault.Close()
	return s.Store.Close()
}

// openJournal opens the audit journal of secret reads when the database
// is SQLite: a file next to the database file, so the journal is as
// durable as the database itself. On PostgreSQL reads commit to the
// database directly: instances are disposable there, and reads kept on
// one instance's disk would be missing from the audit log if it never
// came back.
func openJournal(ctx context.Context, cfg Config, st store.Store, reg *prometheus.Registry, batches prometheus.Histogram) (*journal.Journal, error) {
	path, ok := sqlitePath(cfg)
	if !ok {
		return nil, nil
	}
	j, err := journal.Open(ctx, journal.Config{Dir: path + journalSuffix, Store: st, Merge: events.MergeReads, Count: events.CountReads,
		Metrics: journalMetrics(reg, batches), Logger: cfg.Logger})
	if errors.Is(err, journal.ErrInUse) {
		// A second server on the same file: its reads commit to the
		// database, which serialises both.
		cfg.Logger.Warn("another storm process uses this database's audit journal; this one records secret reads in the database directly", "err", err)
		return nil, nil
	}
	return j, err
}

// journalSuffix names the audit journal's directory after the database
// file it folds into.
const journalSuffix = ".audit-journal"
