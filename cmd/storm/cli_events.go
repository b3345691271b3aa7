package main

import (
	"context"

	"github.com/stormcreds/storm/client"
)

func (c *cli) events(ctx context.Context, f *flags, args []string) error {
	var filter client.EventFilter
	f.FlagSet.StringVar(&filter.Workspace, "workspace", "", "workspace `name or id` (default: the token's)")
	f.FlagSet.StringVar(&filter.Integration, "integration", "", "only events of integration `ID`")
	f.FlagSet.StringVar(&filter.After, "after", "", "only events after the one with `ID`")
	f.FlagSet.IntVar(&filter.Limit, "limit", 0, "at most `N` events (default: the server's)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if err := f.want(pos); err != nil {
		return err
	}
	if filter.Limit < 0 {
		return f.usageErr("--limit must not be negative")
	}
	cl, err := c.client(true)
	if err != nil {
		return err
	}
	list, err := cl.Events(ctx, filter)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(map[string]any{"events": nonNil(list)})
	}
	rows := make([][]string, 0, len(list))
	for _, e := range list {
		rows = append(rows, []string{e.ID, fmtTime(e.At), e.Type, e.Integration, compact(e.Data)})
	}
	return c.table([]string{"ID", "AT", "TYPE", "INTEGRATION", "DATA"}, rows)
}

func (c *cli) audit(ctx context.Context, f *flags, args []string) error {
	var filter client.AuditFilter
	f.FlagSet.StringVar(&filter.Workspace, "workspace", "", "workspace `name or id` (default: the token's)")
	f.FlagSet.StringVar(&filter.After, "after", "", "only records after the one with `ID`")
	f.FlagSet.IntVar(&filter.Limit, "limit", 0, "at most `N` records (default: the server's)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if err := f.want(pos); err != nil {
		return err
	}
	if filter.Limit < 0 {
		return f.usageErr("--limit must not be negative")
	}
	cl, err := c.client(true)
	if err != nil {
		return err
	}
	list, err := cl.Audit(ctx, filter)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(map[string]any{"audit": nonNil(list)})
	}
	rows := make([][]string, 0, len(list))
	for _, a := range list {
		rows = append(rows, []string{a.ID, fmtTime(a.At), a.Actor, a.Action, a.Target, a.IP})
	}
	return c.table([]string{"ID", "AT", "ACTOR", "ACTION", "TARGET", "IP"}, rows)
}
