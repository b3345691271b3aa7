package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/stormcreds/storm/internal/server"
)

// backup runs `storm backup --out FILE`: a consistent copy of the data
// dir's SQLite database, safe while the server runs.
func backup(ctx context.Context, args []string, stdout, _ io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	var cfg server.Config
	fs.StringVar(&cfg.DataDir, "data-dir", envOr("STORM_DATA_DIR", "./storm-data"), "data `directory` (STORM_DATA_DIR)")
	fs.StringVar(&cfg.Database, "database", "", "database (SQLite only; PostgreSQL: use pg_dump)")
	out := fs.String("out", "", "`file` to write (must not exist)")
	if err := parseServerFlags(fs, args, stdout); err != nil {
		return err
	}
	secretDefaults(fs, &cfg)
	if *out == "" {
		return errors.New("backup: --out FILE is required (see \"storm help backup\")")
	}
	if err := server.Backup(ctx, cfg, *out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (ciphertext only; keep the key-encryption key, e.g. %s/storm.key, safe separately)\n", *out, cfg.DataDir)
	return nil
}

// restore runs `storm restore --from FILE --data-dir NEW`: installs a
// backup into an empty data dir and proves every secret decrypts.
func restore(ctx context.Context, args []string, stdout, _ io.Writer) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	var cfg server.Config
	var opt server.RestoreOptions
	fs.StringVar(&cfg.DataDir, "data-dir", envOr("STORM_DATA_DIR", "./storm-data"), "data `directory` to restore into (STORM_DATA_DIR)")
	fs.StringVar(&opt.KeyFile, "key-file", "", "the key `file` the backup was made with (the old storm.key); copied into the data dir on success")
	fs.StringVar(&cfg.KEKURL, "kek-url", "", "the key-encryption key `URL` the backup was made with (STORM_KEK_URL)")
	fs.StringVar(&opt.From, "from", "", "backup `file`")
	if err := parseServerFlags(fs, args, stdout); err != nil {
		return err
	}
	secretDefaults(fs, &cfg)
	if opt.From == "" {
		return errors.New("restore: --from FILE is required (see \"storm help restore\")")
	}
	rep, err := server.Restore(ctx, cfg, opt)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored into %s: %s\n", cfg.DataDir, rep.CheckReport)
	if rep.Audit.OK {
		fmt.Fprintf(stdout, "audit chain ok: %d entries\n", rep.Audit.Entries)
	} else {
		fmt.Fprintf(stdout, "WARNING: the backup's audit chain is broken: %d entries; first bad entry %s: %s\n", rep.Audit.Entries, rep.Audit.FirstBad, rep.Audit.Reason)
	}
	switch {
	case rep.CopiedKey:
		fmt.Fprintf(stdout, "The key-encryption key was copied to %s. Start it with: storm serve --data-dir %s\n", rep.KeyFile, cfg.DataDir)
	case rep.KeyFile != "":
		fmt.Fprintf(stdout, "The key-encryption key is %s. Start it with: storm serve --data-dir %s\n", rep.KeyFile, cfg.DataDir)
	default:
		// Never print the URL: a base64key:// URL is the key itself.
		fmt.Fprintf(stdout, "%s holds no key file: the key is the --kek-url you gave. Start it with the same URL:\n  storm serve --data-dir %s --kek-url … (or STORM_KEK_URL)\n", cfg.DataDir, cfg.DataDir)
	}
	return nil
}
