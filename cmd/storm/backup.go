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
func backup(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	var cfg server.Config
	fs.StringVar(&cfg.DataDir, "data-dir", envOr("STORM_DATA_DIR", "./storm-data"), "data directory (STORM_DATA_DIR)")
	fs.StringVar(&cfg.Database, "database", "", "database (SQLite only; PostgreSQL: use pg_dump)")
	out := fs.String("out", "", "file to write (must not exist)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	secretDefaults(fs, &cfg)
	if *out == "" || fs.NArg() > 0 {
		return errors.New("usage: storm backup --out FILE [--data-dir DIR]")
	}
	if err := server.Backup(ctx, cfg, *out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (ciphertext only; keep the key-encryption key, e.g. %s/storm.key, safe separately)\n", *out, cfg.DataDir)
	return nil
}

// restore runs `storm restore --from FILE --data-dir NEW`: installs a
// backup into an empty data dir and proves every secret decrypts.
func restore(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	var cfg server.Config
	fs.StringVar(&cfg.DataDir, "data-dir", envOr("STORM_DATA_DIR", "./storm-data"), "data directory to restore into (STORM_DATA_DIR)")
	fs.StringVar(&cfg.KEKURL, "kek-url", "", "key-encryption key the backup was made with (default: the data dir's key file)")
	from := fs.String("from", "", "backup file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	secretDefaults(fs, &cfg)
	if *from == "" || fs.NArg() > 0 {
		return errors.New("usage: storm restore --from FILE [--data-dir DIR] [--kek-url URL]")
	}
	rep, err := server.Restore(ctx, cfg, *from)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored into %s: %s\n", cfg.DataDir, rep)
	return nil
}
