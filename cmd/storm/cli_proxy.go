package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

func (c *cli) proxy(ctx context.Context, f *flags, args []string) error {
	var data string
	var headers listFlag
	f.FlagSet.StringVar(&data, "data", "", "request body: @FILE, - for stdin, or the `body` itself")
	f.FlagSet.Var(&headers, "header", "request header as `'NAME: VALUE'`; repeatable")
	pos, err := f.parseArgs(args, "ID", "METHOD", "PATH")
	if err != nil {
		return err
	}
	id, method, path := pos[0], strings.ToUpper(pos[1]), pos[2]

	h := http.Header{}
	for _, kv := range headers {
		k, v, ok := strings.Cut(kv, ":")
		if k = strings.TrimSpace(k); !ok || k == "" {
			return f.usageErr("--header wants 'NAME: VALUE'")
		}
		h.Add(k, strings.TrimSpace(v))
	}
	var body io.Reader
	if f.isSet("data") {
		switch {
		case data == "-":
			body = c.stdin
		case strings.HasPrefix(data, "@"):
			if len(data) == 1 {
				return f.usageErr("--data @ needs a file name")
			}
			fh, err := os.Open(data[1:])
			if err != nil {
				return err
			}
			defer fh.Close()
			body = fh
		default:
			body = strings.NewReader(data)
		}
		if h.Get("Content-Type") == "" {
			h.Set("Content-Type", "application/json")
		}
	}

	cl, err := c.client(true)
	if err != nil {
		return err
	}
	resp, err := cl.Proxy(ctx, id, method, path, body, h)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(c.stdout, resp.Body); err != nil {
		return fmt.Errorf("reading the response: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	return nil
}
