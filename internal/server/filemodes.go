package server

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
)

// warnOpenModes logs a warning for each file of the data directory —
// the directory itself, the admin token, the SQLite database — that
// users other than its owner may use. The key file is stricter: the
// vault refuses to start with it (vault.ErrKeyFileMode).
func warnOpenModes(cfg Config, logger *slog.Logger) {
	if runtime.GOOS == "windows" {
		return
	}
	check := func(path, what, fix string, dir bool) {
		fi, err := os.Stat(path)
		if err != nil || fi.IsDir() != dir {
			return // absent (a cluster's token comes from the environment) or not ours to judge
		}
		if m := fi.Mode().Perm(); m&0o077 != 0 {
			logger.Warn(what+" is open to other users; fix it with: chmod "+fix+" "+path,
				"path", path, "mode", fmt.Sprintf("%04o", m))
		}
	}
	check(cfg.DataDir, "the data directory (it holds the key file, the admin token and the database)", "700", true)
	if cfg.AdminToken == "" {
		check(filepath.Join(cfg.DataDir, AdminTokenFile), "the admin token file", "600", false)
	}
	if path, ok := sqlitePath(cfg); ok {
		check(path, "the database file (wrapped keys and ciphertext)", "600", false)
	}
}
