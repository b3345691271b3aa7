package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/stormcreds/storm/internal/server"
	"github.com/stormcreds/storm/internal/tokens"
)

// serve runs `storm serve`: flags, with STORM_* environment variables as
// defaults. Structured logs go to stderr; the few lines a person reads
// (where to sign in, that it stopped) to stdout.
func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	start := time.Now()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var cfg server.Config
	fs.StringVar(&cfg.Addr, "addr", envOr("STORM_ADDR", "127.0.0.1:8080"), "listen address (STORM_ADDR)")
	fs.StringVar(&cfg.DataDir, "data-dir", envOr("STORM_DATA_DIR", "./storm-data"), "data directory: SQLite file, key file, admin token (STORM_DATA_DIR)")
	fs.StringVar(&cfg.Database, "database", "", "postgres://… for a cluster; empty: SQLite in the data dir (STORM_DATABASE)")
	fs.StringVar(&cfg.PublicURL, "public-url", os.Getenv("STORM_PUBLIC_URL"), "external base URL, for OAuth redirects (STORM_PUBLIC_URL; default http://<addr>)")
	fs.StringVar(&cfg.KEKURL, "kek-url", "", "key-encryption key: base64key://…, file:///path, or empty for a key file in the data dir (STORM_KEK_URL)")
	verifyEvery := fs.Duration("verify-interval", envDuration("STORM_VERIFY_INTERVAL", time.Hour), "verify every integration this often; 0 turns it off (STORM_VERIFY_INTERVAL)")
	fs.Int64Var(&cfg.DataKeyRotateAfter, "data-key-rotate-after", envInt64("STORM_DATA_KEY_ROTATE_AFTER", 1<<31), "rotate the data key automatically after this many encryptions, cluster-wide; negative: never (STORM_DATA_KEY_ROTATE_AFTER)")
	fs.DurationVar(&cfg.Keys.Interval, "key-poll-interval", envDuration("STORM_KEY_POLL_INTERVAL", 15*time.Second), "how often to reload the keyring, so a data-key rotation elsewhere reaches this instance (STORM_KEY_POLL_INTERVAL)")
	fs.DurationVar(&cfg.Tokens.LeaseTTL, "refresh-lease-ttl", envDuration("STORM_REFRESH_LEASE_TTL", tokens.DefaultLeaseTTL), "how long a dead instance's refresh (or mint, or exchange) blocks the others; a live one renews it every third of that (STORM_REFRESH_LEASE_TTL)")
	fs.StringVar(&cfg.ProvidersDir, "providers-dir", os.Getenv("STORM_PROVIDERS_DIR"), "provider definitions (*.yaml) added to the catalog or replacing its entries (STORM_PROVIDERS_DIR; default <data-dir>/providers when it exists)")
	logLevel := fs.String("log-level", envOr("STORM_LOG_LEVEL", "info"), "debug|info|warn|error (STORM_LOG_LEVEL)")
	if err := parseServerFlags(fs, args, stdout); err != nil {
		return err
	}
	secretDefaults(fs, &cfg)
	allow, err := envBool("STORM_ALLOW_PRIVATE_UPSTREAMS")
	if err != nil {
		return err
	}
	cfg.AllowPrivateUpstreams = allow
	cfg.Verify.Interval = *verifyEvery
	cfg.AdminToken = os.Getenv("STORM_ADMIN_TOKEN")
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	cfg.Logger = logger

	srv, err := server.Open(ctx, cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		srv.Close()
		return err
	}
	logger.Info("storm is ready", "addr", ln.Addr().String(), "data_dir", cfg.DataDir,
		"startup_ms", time.Since(start).Milliseconds(), "allow_private_upstreams", cfg.AllowPrivateUpstreams)
	fmt.Fprintf(stdout, "Storm is running at %s — %s\n", browserURL(cfg.PublicURL, ln.Addr()), signInHint(cfg))
	err = srv.Serve(ctx, ln)
	if cerr := srv.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		fmt.Fprintln(stdout, "Storm stopped: requests in flight were answered and background work ended.")
	}
	return err
}

// browserURL is where a person opens the UI: the public URL when one is
// set, else the listener's address (127.0.0.1 for "all interfaces").
func browserURL(public string, addr net.Addr) string {
	if public != "" {
		return strings.TrimSuffix(public, "/") + "/"
	}
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String() + "/"
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

// signInHint says where the admin token is.
func signInHint(cfg server.Config) string {
	if cfg.AdminToken != "" {
		return "sign in with the admin token from STORM_ADMIN_TOKEN"
	}
	return "sign in with the token in " + filepath.Join(cfg.DataDir, server.AdminTokenFile)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func envBool(key string) (bool, error) {
	v := os.Getenv(key)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s: want true or false, got %q", key, v)
	}
	return b, nil
}

func envDuration(key string, def time.Duration) time.Duration {
	if v := os.Getenv(key); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}

func envInt64(key string, def int64) int64 {
	if v := os.Getenv(key); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n
		}
	}
	return def
}

// secretDefaults fills --database and --kek-url from STORM_DATABASE and
// STORM_KEK_URL after parsing, so -h never prints a database password or
// an inline key as a flag default.
func secretDefaults(fs *flag.FlagSet, cfg *server.Config) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["database"] && fs.Lookup("database") != nil {
		cfg.Database = os.Getenv("STORM_DATABASE")
	}
	if !set["kek-url"] && fs.Lookup("kek-url") != nil {
		cfg.KEKURL = os.Getenv("STORM_KEK_URL")
	}
}
