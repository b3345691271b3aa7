package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

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
	integs, err := st.ListIntegrations(ctx, "")
	if err != nil {
		return rep, err
	}
	for _, in := range integs {
		rep.Integrations++
		if len(in.SecretConfig) > 0 {
			pt, err := v.Open(in.SecretConfig, vault.ConfigAD(in))
			if err != nil {
				return rep, fmt.Errorf("integration %s: sealed config: %w", in.ID, err)
			}
			clear(pt)
			rep.Configs++
		}
		creds, err := st.ListCredentials(ctx, in.ID)
		if err != nil {
			return rep, err
		}
		for _, c := range creds {
			if len(c.Secret) == 0 {
				continue // revoked: material destroyed
			}
			pt, err := v.Open(c.Secret, vault.CredentialAD(c))
			if err != nil {
				return rep, fmt.Errorf("credential %s: %w", c.ID, err)
			}
			clear(pt)
			rep.Credentials++
		}
	}
	return rep, nil
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

// Restore installs the backup file from into cfg's (new) data dir and
// proves every secret in it decrypts with cfg's key-encryption key. It
// refuses to overwrite an existing database.
func Restore(ctx context.Context, cfg Config, from string) (CheckReport, error) {
	cfg = withDefaults(cfg)
	if cfg.Database != "" {
		return CheckReport{}, errors.New("restore: only into a data dir's SQLite database (PostgreSQL: pg_restore)")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return CheckReport{}, err
	}
	dst := filepath.Join(cfg.DataDir, dbFile)
	if _, err := os.Stat(dst); err == nil {
		return CheckReport{}, fmt.Errorf("restore: %s already exists; restore into an empty data dir", dst)
	}
	if err := copyFile(from, dst); err != nil {
		return CheckReport{}, fmt.Errorf("restore: %w", err)
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		os.Remove(dst)
		return CheckReport{}, err
	}
	defer st.Close()
	kek, err := vault.OpenKEK(ctx, cfg.KEKURL, cfg.DataDir)
	if err != nil {
		return CheckReport{}, err
	}
	v, err := vault.Open(ctx, kek, st)
	if err != nil {
		return CheckReport{}, fmt.Errorf("restore: %w (restore the key file or pass the --kek-url the backup was made with)", err)
	}
	return CheckDecrypts(ctx, st, v)
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
