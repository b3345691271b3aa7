// Command storm runs the Storm credentials server (`storm serve`) and is
// the command-line client for it (every other subcommand).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil && !errors.Is(err, errHelp) {
		fmt.Fprintln(os.Stderr, "storm:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) > 0 {
		// Server-side commands work on the data dir itself.
		if sc := findServerCommand(args[0]); sc != nil {
			return sc.run(ctx, args[1:], os.Stdout, os.Stderr)
		}
	}
	return runCLI(ctx, args, os.Stdin, os.Stdout, os.Stderr)
}
