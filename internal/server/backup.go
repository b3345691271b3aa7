package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/stormcreds/storm/internal/audit"
	"github.com/stormcreds/storm/internal/store"
	"github.com/stormcreds/storm/internal/store/sqlite"
	"github.com/stormcreds/storm/internal/vault"
)

// CheckReport counts what a decryption check opened.
type CheckReport struct {
	Integrations int // integrations read
	Credentials  int // credential versions whose material opened
	Configs      int // sealed integration configs that opened
}

func (r CheckReport) String() string {
	return fmt.Sprintf("%d integrations, %d credential versions and %d sealed configs decrypt", r.Integrations, r.Credentials, r.Configs)
}

// CheckDecrypts opens every stored secret with the vault: the proof that
// a restored (or rotated) database is usable. The first failure is
// returned with the object it concerns, never with key material.
func CheckDecrypts(ctx context.Context, st store.Store, v *vault.Vault) (CheckReport, error) {
	var rep CheckReport
	// A page of integrations at a time: a check of 100,000 must not hold
	// them all.
	err := store.EachIntegration(ctx, st, "", func(in store.Integration) error {
		rep.Integrations++
		if len(in.SecretConfig) > 0 {
			pt, err := v.Open(in.SecretConfig, vault.ConfigAD(in))
			if err != nil {
				return fmt.Errorf("integration %s: sealed config: %w", in.ID, err)
			}
			clear(pt)
			rep.Configs++
		}
		creds, err := st.ListCredentials(ctx, in.ID)
		if err != nil {
			return err
		}
		for _, c := range creds {
			if len(c.Secret) == 0 {
				continue // revoked: material destroyed
			}
			pt, err := v.Open(c.Secret, vault.CredentialAD(c))
			if err != nil {
				return fmt.Errorf("credential %s: %w", c.ID, err)
			}
			clear(pt)
			rep.Credentials++
		}
		return nil
	})
	return rep, err
}

// Backup writes a consistent copy of the SQLite database of cfg's data
// dir to out while the server may be running. The key-encryption key is
// not in it: keep the key file (or KMS key) safe separately. For
// PostgreSQL, use pg_dump (see README).
func Backup(ctx context.Context, cfg Config, out string) error {
	if cfg.Database != "" && !strings.HasPrefix(cfg.Database, "sqlite://") {
		return errors.New("backup: this database is PostgreSQL: use pg_dump --format=custom (see README)")
	}
	st, err := openStore(ctx, withDefaults(cfg))
	if err != nil {
		return err
	}
	defer st.Close()
	lite, ok := st.(*sqlite.Store)
	if !ok {
		return errors.New("backup: not an SQLite store")
	}
	return lite.Backup(ctx, out)
}

// RestoreOptions says what to restore and with which key.
type RestoreOptions struct {
	// From is the backup file.
	From string
	// KeyFile is the key file the backup was made with (the old data
	// dir's storm.key); it is copied into the new data dir once it has
	// opened every secret. Empty: the data dir's own storm.key, or
	// Config.KEKURL.
	KeyFile string
}

// RestoreReport is what a restore proved and where its key comes from.
type RestoreReport struct {
	CheckReport
	// Audit is the restored audit log's hash chain check. A broken chain
	// does not stop the restore (the backup may be the only copy), but it
	// is reported.
	Audit audit.Result
	// KeyFile is the new data dir's key file when it has one; empty when
	// the key is Config.KEKURL (the server then needs the same URL).
	KeyFile string
	// CopiedKey says KeyFile was copied in from RestoreOptions.KeyFile.
	CopiedKey bool
}

// ErrNoKey means a restore was given no key-encryption key: a backup
// never holds one, and a new key could not open it.
var ErrNoKey = errors.New("restore needs the key-encryption key the backup was made with; the backup does not hold it")

// Restore installs the backup opt.From as the SQLite database of cfg's
// (new) data dir and proves that every secret in it decrypts with the
// backup's key-encryption key: opt.KeyFile, the data dir's storm.key, or
// cfg.KEKURL. It never creates a key. It refuses to overwrite a database,
// and when it fails it leaves nothing behind: the database is written
// under a temporary name and renamed only once it has proved itself.
func Restore(ctx context.Context, cfg Config, opt RestoreOptions) (RestoreReport, error) {
	cfg = withDefaults(cfg)
	var rep RestoreReport
	if cfg.Database != "" {
		return rep, errors.New("restore: only into a data dir's SQLite database (PostgreSQL: pg_restore)")
	}
	if _, err := os.Stat(opt.From); err != nil {
		return rep, fmt.Errorf("restore: the backup file: %w", err)
	}
	dst := filepath.Join(cfg.DataDir, dbFile)
	if _, err := os.Stat(dst); err == nil {
		return rep, fmt.Errorf("restore: %s already exists; restore into an empty data dir", dst)
	}
	ownKey := filepath.Join(cfg.DataDir, vault.DefaultKeyFile)
	_, statErr := os.Stat(ownKey)
	haveOwnKey := statErr == nil
	keyURL := cfg.KEKURL
	switch {
	case keyURL != "" && opt.KeyFile != "":
		return rep, errors.New("restore: give --key-file or --kek-url, not both")
	case opt.KeyFile != "" && haveOwnKey:
		return rep, fmt.Errorf("restore: %s exists already; leave out --key-file to use it, or remove it", ownKey)
	case opt.KeyFile != "":
		abs, err := filepath.Abs(opt.KeyFile)
		if err != nil {
			return rep, err
		}
		keyURL = "file://" + abs
	case keyURL == "" && haveOwnKey:
		abs, err := filepath.Abs(ownKey)
		if err != nil {
			return rep, err
		}
		keyURL, rep.KeyFile = "file://"+abs, ownKey
	case keyURL == "":
		return rep, fmt.Errorf("%w: pass --key-file (e.g. storm-data/%s, copied into %s when the restore succeeds) or the --kek-url it was made with; nothing was written",
			ErrNoKey, vault.DefaultKeyFile, cfg.DataDir)
	}
	kek, err := vault.OpenKEK(ctx, keyURL, "")
	if err != nil {
		return rep, fmt.Errorf("restore: %w", err)
	}

	// From here on, whatever fails is undone.
	var made []string // files created, removed on failure
	madeDir := false
	if _, err := os.Stat(cfg.DataDir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return rep, fmt.Errorf("restore: %w", err)
		}
		madeDir = true
	}
	ok := false
	defer func() {
		if ok {
			return
		}
		for _, f := range made {
			os.Remove(f)
		}
		if madeDir {
			os.Remove(cfg.DataDir) // only if empty
		}
	}()
	tmp := filepath.Join(cfg.DataDir, "."+dbFile+".restoring")
	made = append(made, tmp, tmp+"-wal", tmp+"-shm", tmp+"-journal")
	if err := copyFile(opt.From, tmp); err != nil {
		return rep, fmt.Errorf("restore: %w", err)
	}
	check, chain, err := checkRestored(ctx, tmp, kek)
	if err != nil {
		return rep, err
	}
	rep.CheckReport, rep.Audit = check, chain
	if opt.KeyFile != "" {
		if err := copyFile(opt.KeyFile, ownKey); err != nil {
			return rep, fmt.Errorf("restore: copying the key file: %w", err)
		}
		made = append(made, ownKey)
		rep.KeyFile, rep.CopiedKey = ownKey, true
	}
	if err := os.Rename(tmp, dst); err != nil {
		return rep, fmt.Errorf("restore: %w", err)
	}
	ok = true
	return rep, nil
}

// checkRestored opens the restored database at path with kek, proves
// that every secret decrypts and verifies the audit hash chain; the store
// is closed (and its log checkpointed into the file) before it returns.
func checkRestored(ctx context.Context, path string, kek vault.KEK) (CheckReport, audit.Result, error) {
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return CheckReport{}, audit.Result{}, fmt.Errorf("restore: %w", err)
	}
	defer st.Close()
	if _, err := st.Keyring(ctx); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return CheckReport{}, audit.Result{}, errors.New("restore: the backup holds no keyring: it is not a Storm backup")
		}
		return CheckReport{}, audit.Result{}, fmt.Errorf("restore: %w", err)
	}
	v, err := vault.Open(ctx, kek, st)
	if err != nil {
		return CheckReport{}, audit.Result{}, fmt.Errorf("restore: %w (use the key file or --kek-url the backup was made with)", err)
	}
	defer v.Close()
	check, err := CheckDecrypts(ctx, st, v)
	if err != nil {
		return check, audit.Result{}, err
	}
	chain, err := audit.Verify(ctx, st.ListAudit)
	if err != nil {
		return check, chain, fmt.Errorf("restore: audit log: %w", err)
	}
	return check, chain, nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(to)
		return err
	}
	return out.Close()
}
