package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// flags is the FlagSet of one (sub)command, with the global options
// registered on it too so they may follow the command.
type flags struct {
	FlagSet *flag.FlagSet
	c       *cli
	name    string // "integrations create"
	usage   string // "storm integrations create --provider P --name N …"
	summary string
}

// globalFlags are registered on every FlagSet; help lists them once.
var globalFlags = map[string]bool{"server": true, "token": true, "data-dir": true, "json": true}

func (c *cli) flags(cmd *command, sub string) *flags {
	f := &flags{c: c, name: "storm"}
	if cmd != nil {
		f.name = cmd.name
		if sub != "" {
			f.name += " " + sub
		}
		if s := cmd.sub(sub); s != nil {
			f.usage = strings.TrimSpace("storm " + f.name + " " + s.usage)
			f.summary = s.summary
		}
	}
	fs := flag.NewFlagSet(f.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	// strRef and boolRef do not reset the variable when registered, so a
	// global option given before the command survives, and help never
	// prints its value (it may be a token).
	fs.Var(strRef{&c.server}, "server", "Storm server `URL` (env STORM_SERVER, default "+defaultServer+")")
	fs.Var(strRef{&c.token}, "token", "API `token` (env STORM_TOKEN; default: "+tokenFileName+" in the data dir)")
	fs.Var(strRef{&c.dataDir}, "data-dir", "`directory` holding "+tokenFileName+" (env STORM_DATA_DIR, default "+defaultDataDir+")")
	fs.Var(boolRef{&c.json}, "json", "print JSON instead of a table")
	f.FlagSet = fs
	return f
}

// parse parses flags and positional arguments in any order ("--" ends the
// flags). -h prints this command's help and returns errHelp.
func (f *flags) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := f.FlagSet.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				f.printHelp(f.c.stdout)
				return nil, errHelp
			}
			return nil, f.flagErr(err)
		}
		rest := f.FlagSet.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// parseArgs parses like parse and checks that exactly the named positional
// arguments were given.
func (f *flags) parseArgs(args []string, names ...string) ([]string, error) {
	pos, err := f.parse(args)
	switch {
	case err != nil:
		return nil, err
	case len(pos) < len(names):
		return nil, f.usageErr("missing %s", strings.Join(names[len(pos):], " "))
	case len(pos) > len(names):
		return nil, f.usageErr("unexpected argument %q", pos[len(names)])
	}
	return pos, nil
}

// flagErr is a flag the command does not know (or one without its
// value): one line, the nearest flag, and where the help is.
func (f *flags) flagErr(err error) error {
	help := "storm help"
	if f.name != "storm" {
		help += " " + f.name
	}
	return flagError(f.FlagSet, err, help)
}

func (f *flags) usageErr(format string, a ...any) error {
	return &usageError{msg: f.name + ": " + fmt.Sprintf(format, a...), usage: f.usage}
}

// isSet reports whether the named flag was given.
func (f *flags) isSet(name string) bool {
	set := false
	f.FlagSet.Visit(func(fl *flag.Flag) {
		if fl.Name == name {
			set = true
		}
	})
	return set
}

func (f *flags) printHelp(w io.Writer) {
	fmt.Fprintf(w, "usage: %s\n", f.usage)
	if f.summary != "" {
		fmt.Fprintf(w, "\n%s\n", f.summary)
	}
	if list := flagList(f.FlagSet, globalFlags); list != "" {
		fmt.Fprintf(w, "\nflags:\n%s", list)
	}
	fmt.Fprintln(w, "\nglobal flags: --server URL, --token TOKEN, --data-dir DIR, --json (see \"storm help\")")
}

// usageError is a mistake in the command line; it carries the usage line.
type usageError struct{ msg, usage string }

func (e *usageError) Error() string {
	if e.usage == "" {
		return e.msg
	}
	return e.msg + " (usage: " + e.usage + ")"
}

// strRef is a string flag.Value that does not reset its variable.
type strRef struct{ p *string }

func (s strRef) String() string     { return "" }
func (s strRef) Set(v string) error { *s.p = v; return nil }

// boolRef is a bool flag.Value that does not reset its variable.
type boolRef struct{ p *bool }

func (b boolRef) String() string   { return "" }
func (b boolRef) IsBoolFlag() bool { return true }
func (b boolRef) Set(v string) error {
	switch v {
	case "true", "1", "t", "T", "TRUE", "True":
		*b.p = true
	case "false", "0", "f", "F", "FALSE", "False":
		*b.p = false
	default:
		return errors.New("want true or false")
	}
	return nil
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return "" }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }
