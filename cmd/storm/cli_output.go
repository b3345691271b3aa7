package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

// printJSON writes v as indented JSON.
func (c *cli) printJSON(v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := c.stdout.Write(buf.Bytes())
	return err
}

// show prints v as JSON with --json, else its name/value pairs.
func (c *cli) show(v any, pairs ...[2]string) error {
	if c.json {
		return c.printJSON(v)
	}
	return c.record(pairs...)
}

// printList prints list as {"key": [...]} with --json, else as a table
// with one row per element.
func printList[T any](c *cli, key string, list []T, header []string, row func(T) []string) error {
	if c.json {
		if list == nil {
			list = []T{} // [] rather than null
		}
		return c.printJSON(map[string]any{key: list})
	}
	rows := make([][]string, 0, len(list))
	for _, v := range list {
		rows = append(rows, row(v))
	}
	return c.table(header, rows)
}

// table writes an aligned table with a header row.
func (c *cli) table(header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(c.stdout, 0, 8, 2, ' ', 0)
	writeRow(tw, header)
	for _, r := range rows {
		writeRow(tw, r)
	}
	return tw.Flush()
}

// record writes the name/value pairs of one object, aligned.
func (c *cli) record(pairs ...[2]string) error {
	tw := tabwriter.NewWriter(c.stdout, 0, 8, 2, ' ', 0)
	for _, p := range pairs {
		fmt.Fprintf(tw, "%s:\t%s\n", p[0], cell(p[1]))
	}
	return tw.Flush()
}

func writeRow(tw *tabwriter.Writer, cells []string) {
	for i, s := range cells {
		if i > 0 {
			tw.Write([]byte("\t"))
		}
		tw.Write([]byte(cell(s)))
	}
	tw.Write([]byte("\n"))
}

// cell makes a server-supplied value safe for one table cell: no control
// characters (terminal escapes, tabs, newlines), "-" when empty.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// compact renders a value as one line of JSON (strings as themselves).
func compact(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.RawMessage:
		var buf bytes.Buffer
		if json.Compact(&buf, v) != nil {
			return string(v)
		}
		if s := buf.String(); s != "null" && s != "{}" {
			return s
		}
		return ""
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return fmt.Sprint(v)
	}
	s := strings.TrimSuffix(buf.String(), "\n")
	if s == "null" || s == "{}" {
		return ""
	}
	return s
}
