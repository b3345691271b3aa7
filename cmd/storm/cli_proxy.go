package main

import (
	"context"
	"fmt"
	"io"
	"mime"
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
	last := &lastByte{w: c.stdout}
	if _, err := io.Copy(last, resp.Body); err != nil {
		return fmt.Errorf("reading the response: %w", err)
	}
	if last.n > 0 && last.b != '\n' && textual(resp.Header.Get("Content-Type")) {
		// The shell prompt starts on a line of its own; binary bodies
		// are left exactly as they came.
		fmt.Fprintln(c.stdout)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	return nil
}

// lastByte passes writes through and remembers the last byte written.
type lastByte struct {
	w io.Writer
	n int64
	b byte
}

func (l *lastByte) Write(p []byte) (int, error) {
	n, err := l.w.Write(p)
	if n > 0 {
		l.n += int64(n)
		l.b = p[n-1]
	}
	return n, err
}

// textual reports whether a Content-Type is text a terminal shows (JSON,
// XML, text/*), to which a final newline may be added.
func textual(ctype string) bool {
	mt, _, err := mime.ParseMediaType(ctype)
	if err != nil {
		return ctype == ""
	}
	return strings.HasPrefix(mt, "text/") || strings.HasSuffix(mt, "json") || strings.HasSuffix(mt, "xml") ||
		mt == "application/x-www-form-urlencoded" || mt == "application/javascript"
}
