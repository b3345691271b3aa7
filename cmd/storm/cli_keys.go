package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/stormcreds/storm/client"
	"github.com/stormcreds/storm/internal/server"
	"github.com/stormcreds/storm/internal/vault"
)

func (c *cli) keysStatus(ctx context.Context, f *flags, args []string) error {
	_, cl, err := c.start(f, args)
	if err != nil {
		return err
	}
	st, err := cl.Keys(ctx)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(st)
	}
	return c.printKeys(st)
}

func (c *cli) printKeys(st *client.KeyStatus) error {
	rows := make([][]string, 0, len(st.Terms))
	for _, t := range st.Terms {
		active := "decrypt only"
		if t.Active {
			active = "active"
		}
		rows = append(rows, []string{strconv.FormatUint(uint64(t.Term), 10), fmtTime(t.CreatedAt), strconv.FormatInt(t.Encryptions, 10), active})
	}
	if err := c.table([]string{"TERM", "CREATED", "ENCRYPTIONS", "STATE"}, rows); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout)
	return c.record(rewrapPairs(st.Rewrap)...)
}

func rewrapPairs(j client.RewrapJob) [][2]string {
	if j.State == client.RewrapIdle || j.State == "" {
		return [][2]string{{"re-wrap", "idle (no rotation yet)"}}
	}
	return [][2]string{
		{"re-wrap", j.State},
		{"target term", strconv.FormatUint(uint64(j.TargetTerm), 10)},
		{"progress", progressText(j)},
		{"rewrapped", strconv.FormatInt(j.Rewrapped, 10)},
		{"skipped", strconv.FormatInt(j.Skipped, 10)},
		{"failed", strconv.FormatInt(j.Failed, 10)},
		{"started", fmtTime(j.StartedAt)},
		{"finished", fmtTime(j.FinishedAt)},
	}
}

// progressText is "4500/10000 (45%), credentials" and the like.
func progressText(j client.RewrapJob) string {
	s := fmt.Sprintf("%d/%d (%d%%)", min(j.Done, j.Total), j.Total, percent(j))
	switch {
	case j.State == client.RewrapDone:
		return s
	case j.Phase == "settling":
		return s + ", waiting for every instance to load the new key before the last sweep"
	case j.Pass > 1:
		return s + fmt.Sprintf(", sweep %d: %s", j.Pass-1, j.Phase)
	}
	return s + ", " + j.Phase
}

func percent(j client.RewrapJob) int64 {
	if j.State == client.RewrapDone {
		return 100
	}
	if j.Total <= 0 { // nothing stored: the first pass is over at once
		if j.Pass > 1 || j.Phase == "settling" {
			return 100
		}
		return 0
	}
	return min(99, 100*j.Done/j.Total)
}

func (c *cli) keysRotate(ctx context.Context, f *flags, args []string) error {
	wait := f.FlagSet.Bool("wait", false, "follow the re-wrap job until it is done (a progress bar on a terminal)")
	_, cl, err := c.start(f, args)
	if err != nil {
		return err
	}
	st, err := cl.RotateKeys(ctx)
	if err != nil {
		return err
	}
	term := st.ActiveTerm
	if !*wait {
		if c.json {
			return c.printJSON(st)
		}
		fmt.Fprintf(c.stdout, "rotated: new writes use data-key term %d; older terms still decrypt.\n", term)
		fmt.Fprintln(c.stdout, "The re-wrap job moves every stored secret to it; follow it with \"storm keys status\".")
		return nil
	}
	if !c.json {
		fmt.Fprintf(c.stdout, "rotated: new writes use data-key term %d; re-wrapping every stored secret…\n", term)
	}
	st, err = c.followRewrap(ctx, cl, term, st)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(st)
	}
	j := st.Rewrap
	fmt.Fprintf(c.stdout, "done: %d rows, %d re-wrapped, %d already current, %d failed", j.Done, j.Rewrapped, j.Skipped, j.Failed)
	if j.Swept > 0 {
		fmt.Fprintf(c.stdout, ", %d swept up", j.Swept)
	}
	fmt.Fprintln(c.stdout)
	if j.Failed > 0 {
		return fmt.Errorf("%d ciphertexts did not decrypt and were left as they were; the server log names them", j.Failed)
	}
	return nil
}

// followRewrap polls the key status until the re-wrap job for term (or
// a later one) is done, drawing a progress bar on a terminal and printing
// a line per 10%% otherwise.
func (c *cli) followRewrap(ctx context.Context, cl *client.Client, term uint32, st *client.KeyStatus) (*client.KeyStatus, error) {
	tty := !c.json && c.stdoutIsTerminal()
	every := c.pollEvery
	if every == 0 {
		every = 500 * time.Millisecond
	}
	lastLine := ""
	for {
		j := st.Rewrap
		if !c.json {
			if tty {
				fmt.Fprintf(c.stdout, "\r\x1b[K%s", progressBar(j, 30))
			} else if line := fmt.Sprintf("re-wrap: %d%%, %s", percent(j)/10*10, phaseText(j)); line != lastLine {
				fmt.Fprintln(c.stdout, line)
				lastLine = line
			}
		}
		if j.State == client.RewrapDone && j.TargetTerm >= term {
			if tty {
				fmt.Fprintln(c.stdout)
			}
			return st, nil
		}
		select {
		case <-ctx.Done():
			if tty {
				fmt.Fprintln(c.stdout)
			}
			return nil, fmt.Errorf("%w (the re-wrap job goes on in the server; \"storm keys status\" shows it)", ctx.Err())
		case <-time.After(every):
		}
		next, err := cl.Keys(ctx)
		if err != nil {
			return nil, err
		}
		st = next
	}
}

func phaseText(j client.RewrapJob) string {
	switch {
	case j.State == client.RewrapDone:
		return "done"
	case j.Phase == "settling":
		return "waiting for every instance to load the new key"
	case j.Pass > 1:
		return "sweep " + strconv.Itoa(j.Pass-1)
	}
	return j.Phase
}

func progressBar(j client.RewrapJob, width int) string {
	p := percent(j)
	filled := int(p) * width / 100
	return fmt.Sprintf("[%s%s] %3d%%  %d/%d  %s", strings.Repeat("#", filled), strings.Repeat(".", width-filled), p, min(j.Done, j.Total), j.Total, phaseText(j))
}

func (c *cli) stdoutIsTerminal() bool {
	f, ok := c.stdout.(interface{ Fd() uintptr })
	return ok && c.isTerminal(int(f.Fd()))
}

// keysRotateKEK re-wraps the keyring in the database under a new KEK. It
// opens the database directly (no server needed, but running instances
// are fine: the swap is a compare-and-swap and data keys do not change).
func (c *cli) keysRotateKEK(ctx context.Context, f *flags, args []string) error {
	// Defaults from the environment are applied after parsing, so help
	// never prints them: a base64key:// URL is the key itself.
	cfg := server.Config{}
	f.FlagSet.StringVar(&cfg.KEKURL, "kek-url", "", "the current key-encryption key `URL` (env STORM_KEK_URL; default: the key file in the data dir)")
	newURL := f.FlagSet.String("new-kek-url", "", "the new key-encryption key `URL` (env STORM_NEW_KEK_URL; required)")
	f.FlagSet.StringVar(&cfg.Database, "database", "", "the server's database `URL` (env STORM_DATABASE; default: SQLite in the data dir)")
	if _, err := f.parseArgs(args); err != nil {
		return err
	}
	cfg.KEKURL = firstNonEmpty(cfg.KEKURL, c.getenv("STORM_KEK_URL"))
	*newURL = firstNonEmpty(*newURL, c.getenv("STORM_NEW_KEK_URL"))
	cfg.Database = firstNonEmpty(cfg.Database, c.getenv("STORM_DATABASE"))
	if *newURL == "" {
		return f.usageErr("--new-kek-url is required")
	}
	cfg.DataDir = firstNonEmpty(c.dataDir, c.getenv("STORM_DATA_DIR"), defaultDataDir)
	if *newURL == cfg.KEKURL {
		return f.usageErr("--new-kek-url is the current KEK")
	}
	if cfg.Database == "" {
		// Never create an empty database by mistake.
		if _, err := os.Stat(filepath.Join(cfg.DataDir, "storm.db")); err != nil {
			return fmt.Errorf("no database in %s (set --data-dir, or --database for PostgreSQL): %w", cfg.DataDir, err)
		}
	}
	oldKEK, err := vault.OpenKEK(ctx, cfg.KEKURL, cfg.DataDir)
	if err != nil {
		return fmt.Errorf("current KEK: %w", err)
	}
	newKEK, err := vault.OpenKEK(ctx, *newURL, cfg.DataDir)
	if err != nil {
		return fmt.Errorf("new KEK: %w", err)
	}
	st, err := server.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	info, rewrapped, err := vault.RewrapKEK(ctx, st, oldKEK, newKEK)
	if errors.Is(err, vault.ErrWrongKEK) {
		return fmt.Errorf("%w (is --kek-url the KEK the server runs with?)", err)
	}
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(map[string]any{"rewrapped": rewrapped, "active_term": info.Active, "terms": len(info.Terms)})
	}
	printKEKDone(c.stdout, rewrapped, info)
	return nil
}

func printKEKDone(w io.Writer, rewrapped bool, info vault.Info) {
	if !rewrapped {
		fmt.Fprintf(w, "the keyring already opens with the new KEK (%d data-key terms, active %d): nothing to do.\n", len(info.Terms), info.Active)
	} else {
		fmt.Fprintf(w, "re-wrapped the keyring (%d data-key terms, active %d) under the new KEK; the data keys are unchanged.\n", len(info.Terms), info.Active)
	}
	fmt.Fprint(w, `Next: restart every instance with the new --kek-url (or STORM_KEK_URL), then
retire the old key. Until restarted, instances keep serving with the keys they
loaded but cannot load keyring changes: do not rotate data keys meanwhile.
`)
}
