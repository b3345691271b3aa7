package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/stormcreds/storm/internal/catalog"
)

// providersValidate checks operator provider files locally: no server,
// no token.
func (c *cli) providersValidate(_ context.Context, f *flags, args []string) error {
	files, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return f.usageErr("want at least one FILE")
	}
	type result struct {
		File     string            `json:"file"`
		OK       bool              `json:"ok"`
		Problems []catalog.Problem `json:"problems,omitempty"`
	}
	var results []result
	bad := 0
	for _, file := range files {
		r := result{File: file, OK: true}
		err := catalog.ValidateFile(file)
		var le *catalog.LoadError
		switch {
		case err == nil:
		case errors.As(err, &le):
			r.OK, r.Problems = false, le.Problems
		default:
			r.OK, r.Problems = false, []catalog.Problem{{File: file, Message: err.Error()}}
		}
		if !r.OK {
			bad++
		}
		results = append(results, r)
	}
	if c.json {
		if err := c.printJSON(map[string]any{"files": results}); err != nil {
			return err
		}
	} else {
		for _, r := range results {
			if r.OK {
				fmt.Fprintf(c.stdout, "%s: ok\n", r.File)
			}
			for _, p := range r.Problems {
				fmt.Fprintln(c.stdout, p.String())
			}
		}
	}
	if bad > 0 {
		return fmt.Errorf("%d of %d files have problems", bad, len(files))
	}
	return nil
}
