package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/stormcreds/storm/client"
	"github.com/stormcreds/storm/internal/suggest"
)

// Defaults of the global options (shared/API.md).
const (
	defaultServer  = "http://127.0.0.1:8080"
	defaultDataDir = "./storm-data"
	tokenFileName  = "admin.token"
	cliUserAgent   = "storm-cli"
)

// runCLI runs every subcommand except serve. The error it returns is one
// line, printed by main after "storm: ".
func runCLI(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := &cli{
		stdin:        stdin,
		stdout:       stdout,
		stderr:       stderr,
		getenv:       os.Getenv,
		isTerminal:   term.IsTerminal,
		readPassword: term.ReadPassword,
	}
	return c.main(ctx, args)
}

// cli holds the streams, the environment and the global options of one
// invocation. Tests build it directly with their own environment.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	isTerminal     func(fd int) bool
	readPassword   func(fd int) ([]byte, error)

	// Global options, settable before the command or after it.
	server, token, dataDir string
	json                   bool

	// tokenSource names where the API token came from, for error hints.
	tokenSource string

	// pollEvery is how often "keys rotate --wait" polls; 0 means 500ms.
	pollEvery time.Duration
}

// errHelp reports that help was printed on request: exit status 0.
var errHelp = errors.New("help requested")

func (c *cli) main(ctx context.Context, args []string) error {
	err := c.run(ctx, args)
	if err == nil || errors.Is(err, errHelp) {
		return nil
	}
	return lineError{c.explain(err)}
}

func (c *cli) run(ctx context.Context, args []string) error {
	f := c.flags(nil, "")
	f.usage = "storm [global flags] COMMAND [ARGS]"
	f.FlagSet.Usage = func() {}
	if err := f.FlagSet.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.printUsage(c.stdout)
			return errHelp
		}
		return flagError(f.FlagSet, err, "storm help")
	}
	rest := f.FlagSet.Args()
	if len(rest) == 0 {
		return fmt.Errorf("missing command; commands: %s (run \"storm help\")", commandNames())
	}
	name := rest[0]
	if name == "help" {
		return c.help(ctx, rest[1:])
	}
	if sc := findServerCommand(name); sc != nil { // after global flags
		args := rest[1:]
		if c.dataDir != "" {
			args = append([]string{"--data-dir", c.dataDir}, args...)
		}
		return sc.run(ctx, args, c.stdout, c.stderr)
	}
	cmd := findCommand(name)
	if cmd == nil {
		return unknownCommand(name)
	}
	return c.dispatch(ctx, cmd, rest[1:])
}

// dispatch picks a command's subcommand and runs it.
func (c *cli) dispatch(ctx context.Context, cmd *command, args []string) error {
	if len(cmd.subs) == 1 && cmd.subs[0].name == "" {
		return cmd.subs[0].run(c, ctx, c.flags(cmd, ""), args)
	}
	name := cmd.def
	if len(args) > 0 {
		switch a := args[0]; {
		case isHelpFlag(a):
			c.printCommandUsage(c.stdout, cmd)
			return errHelp
		case cmd.sub(a) == nil && cmd.idDef != "" && looksLikeID(a):
			name = cmd.idDef // "storm credentials int_…"
		case !strings.HasPrefix(a, "-"):
			name, args = a, args[1:]
		}
	}
	if name == "" {
		return &usageError{msg: cmd.name + ": missing subcommand", usage: cmd.usageSummary()}
	}
	sub := cmd.sub(name)
	if sub == nil {
		var names []string
		for _, s := range cmd.subs {
			names = append(names, s.name)
		}
		msg := fmt.Sprintf("%s: unknown subcommand %q", cmd.name, name)
		if s := suggest.Closest(name, names); s != "" {
			msg += "; did you mean " + s + "?"
		}
		return &usageError{msg: msg, usage: cmd.usageSummary()}
	}
	return sub.run(c, ctx, c.flags(cmd, name), args)
}

// looksLikeID reports whether a is an object id such as int_… rather
// than a (mistyped) subcommand.
func looksLikeID(a string) bool {
	prefix, rest, ok := strings.Cut(a, "_")
	return ok && rest != "" && len(prefix) <= 5 && strings.ToLower(prefix) == prefix && !strings.ContainsAny(prefix, "-.")
}

func isHelpFlag(a string) bool {
	return a == "-h" || a == "--h" || a == "-help" || a == "--help"
}

// help prints the overview, a command's usage or a subcommand's usage.
func (c *cli) help(ctx context.Context, args []string) error {
	if len(args) == 0 {
		c.printUsage(c.stdout)
		return errHelp
	}
	if sc := findServerCommand(args[0]); sc != nil {
		return sc.run(ctx, []string{"-h"}, c.stdout, c.stderr)
	}
	cmd := findCommand(args[0])
	if cmd == nil {
		return unknownCommand(args[0])
	}
	if len(args) == 1 && !(len(cmd.subs) == 1 && cmd.subs[0].name == "") {
		c.printCommandUsage(c.stdout, cmd)
		return errHelp
	}
	return c.dispatch(ctx, cmd, append(args[1:], "-h"))
}

// client returns an API client for the configured server. Only commands
// that call the API resolve the token, so usage errors and help need none.
func (c *cli) client(needToken bool) (*client.Client, error) {
	server := firstNonEmpty(c.server, c.getenv("STORM_SERVER"), defaultServer)
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	c.server = server
	var token string
	if needToken {
		var err error
		if token, err = c.resolveToken(); err != nil {
			return nil, err
		}
	}
	return client.New(server, token, client.WithUserAgent(cliUserAgent))
}

// start parses a command's flags and exactly the named positional
// arguments, and returns those with an API client that has a token.
func (c *cli) start(f *flags, args []string, names ...string) ([]string, *client.Client, error) {
	pos, err := f.parseArgs(args, names...)
	if err != nil {
		return nil, nil, err
	}
	cl, err := c.client(true)
	return pos, cl, err
}

// resolveToken finds the API token: --token, then STORM_TOKEN, then the
// admin.token file that storm serve writes into its data directory.
func (c *cli) resolveToken() (string, error) {
	if t := strings.TrimSpace(c.token); t != "" {
		c.tokenSource = "--token"
		return t, nil
	}
	if t := strings.TrimSpace(c.getenv("STORM_TOKEN")); t != "" {
		c.tokenSource = "STORM_TOKEN"
		return t, nil
	}
	dir := firstNonEmpty(c.dataDir, c.getenv("STORM_DATA_DIR"), defaultDataDir)
	path := filepath.Join(dir, tokenFileName)
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("no API token: set STORM_TOKEN (or pass --token), or point --data-dir / STORM_DATA_DIR at the server's data directory (%s does not exist)", path)
	case err != nil:
		return "", fmt.Errorf("reading the API token: %w; set STORM_TOKEN or pass --token", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("no API token: %s is empty; set STORM_TOKEN or pass --token", path)
	}
	c.tokenSource = path
	return t, nil
}

// explain turns a few well-known failures into messages that say what to
// do about them.
func (c *cli) explain(err error) error {
	var apiErr *client.Error
	var opErr *net.OpError
	switch {
	case errors.As(err, &apiErr) && apiErr.Verification != nil:
		// A refused Save: nothing was saved, and why.
		return fmt.Errorf("not saved, nothing changed: %s", cause(*apiErr.Verification))
	case errors.As(err, &apiErr) && apiErr.Status == 401 && c.tokenSource != "":
		return fmt.Errorf("%w (API token from %s)", err, c.tokenSource)
	case errors.As(err, &opErr):
		return fmt.Errorf("cannot reach the Storm server at %s: %v (set --server or STORM_SERVER)", c.server, opErr)
	case errors.Is(err, context.Canceled):
		return errors.New("interrupted")
	}
	return err
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// lineError keeps an error's chain but prints it on one line.
type lineError struct{ err error }

func (e lineError) Error() string {
	return strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, e.err.Error())), " ")
}

func (e lineError) Unwrap() error { return e.err }
