package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/stormcreds/storm/internal/suggest"
)

// serverCommand is a command that works on the data dir or runs the
// server itself, rather than calling a server's API.
type serverCommand struct {
	name    string
	usage   string // the arguments after "storm NAME"
	summary string // one line for "storm help"
	about   string // the paragraph of "storm help NAME"
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func serverCommands() []serverCommand {
	return []serverCommand{
		{"serve", "[flags]", "run the server",
			"Runs the Storm server: the API, the web UI and the background work (token refresh,\n" +
				"verification, key rotation, webhooks). The first start creates the data dir with the\n" +
				"database, the key-encryption key and an admin token.", serve},
		{"backup", "--out FILE [--data-dir DIR]", "write a consistent copy of the database (SQLite)",
			"Writes a consistent copy of the data dir's SQLite database while the server runs. The copy\n" +
				"holds ciphertext only, and not the key-encryption key: keep storm.key (or the KMS key) safe\n" +
				"separately. For PostgreSQL use pg_dump --format=custom.", backup},
		{"restore", "--from FILE --data-dir DIR (--key-file KEY | --kek-url URL)", "restore a backup into a new data dir",
			"Installs a backup into a new data dir and proves that every secret in it decrypts. It needs\n" +
				"the key-encryption key the backup was made with: --key-file (the old storm.key, copied into\n" +
				"DIR on success), a storm.key already in DIR, or --kek-url. It never creates a key, and on\n" +
				"failure it leaves nothing behind.", restore},
	}
}

func findServerCommand(name string) *serverCommand {
	for _, sc := range serverCommands() {
		if sc.name == name {
			return &sc
		}
	}
	return nil
}

// parseServerFlags parses a server command's flags: -h prints its help on
// stdout (errHelp, exit status 0); a mistake is one line with a hint,
// never a dump of every flag.
func parseServerFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	switch {
	case err == nil:
		if fs.NArg() > 0 {
			return fmt.Errorf("%s: unexpected argument %q (see \"storm help %s\")", fs.Name(), fs.Arg(0), fs.Name())
		}
		return nil
	case errors.Is(err, flag.ErrHelp):
		printServerHelp(stdout, fs)
		return errHelp
	}
	return flagError(fs, err, "storm help "+fs.Name())
}

func printServerHelp(w io.Writer, fs *flag.FlagSet) {
	sc := findServerCommand(fs.Name())
	if sc == nil {
		return
	}
	fmt.Fprintf(w, "usage: storm %s %s\n\n%s\n", sc.name, sc.usage, sc.about)
	if list := flagList(fs, nil); list != "" {
		fmt.Fprintf(w, "\nflags:\n%s", list)
	}
}

// flagError turns the flag package's complaint into one line that names
// the flag as it is written on a command line, suggests the nearest
// flag for a typo, and says where the help is.
func flagError(fs *flag.FlagSet, err error, help string) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		name = strings.TrimLeft(name, "-")
		msg = "unknown flag --" + name
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		if s := suggest.Closest(name, names); s != "" {
			msg += "; did you mean --" + s + "?"
		}
	} else if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		msg = "flag --" + strings.TrimLeft(name, "-") + " needs a value"
	}
	return fmt.Errorf("%s: %s (see \"%s\")", fs.Name(), msg, help)
}

// flagList lists a FlagSet's flags, one per entry, leaving out skip.
func flagList(fs *flag.FlagSet, skip map[string]bool) string {
	var b strings.Builder
	fs.VisitAll(func(fl *flag.Flag) {
		if skip[fl.Name] {
			return
		}
		typ, usage := flag.UnquoteUsage(fl)
		fmt.Fprintf(&b, "  --%s", fl.Name)
		if typ != "" {
			fmt.Fprintf(&b, " %s", typ)
		}
		fmt.Fprintf(&b, "\n    \t%s", strings.ReplaceAll(usage, "\n", "\n    \t"))
		if fl.DefValue != "" && fl.DefValue != "false" && fl.DefValue != "0" && fl.DefValue != "[]" {
			fmt.Fprintf(&b, " (default %s)", fl.DefValue)
		}
		b.WriteString("\n")
	})
	return b.String()
}
