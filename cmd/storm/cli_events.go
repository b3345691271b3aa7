package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/stormcreds/storm/client"
)

func (c *cli) events(ctx context.Context, f *flags, args []string) error {
	var filter client.EventFilter
	f.FlagSet.StringVar(&filter.Integration, "integration", "", "only events of integration `ID`")
	cl, err := c.startPaged(f, args, "events", &filter.Workspace, &filter.After, &filter.Limit)
	if err != nil {
		return err
	}
	page, err := cl.EventPage(ctx, filter)
	if err != nil {
		return err
	}
	list := page.Items
	if len(list) == 0 && filter.Integration != "" && filter.After == "" {
		// No events at all: say so when the integration does not exist
		// (a deleted one keeps its events, so this is only asked now).
		var apiErr *client.Error
		if _, err := cl.Integration(ctx, filter.Integration); errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound {
			return fmt.Errorf("integration %s not found, and no events name it (see \"storm integrations\")", cell(filter.Integration))
		}
	}
	if err := printList(c, "events", list, []string{"ID", "AT", "TYPE", "INTEGRATION", "DATA"}, func(e client.Event) []string {
		return []string{e.ID, fmtTime(e.At), e.Type, e.Integration, compact(e.Data)}
	}); err != nil {
		return err
	}
	c.moreHint(page.Next)
	return nil
}

// moreHint tells, on stderr so output stays parseable, how to read the
// page after a listing that showed one page of several.
func (c *cli) moreHint(next string) {
	if next != "" {
		fmt.Fprintf(c.stderr, "more: add --after %s for the next page\n", next)
	}
}

func (c *cli) audit(ctx context.Context, f *flags, args []string) error {
	var filter client.AuditFilter
	cl, err := c.startPaged(f, args, "records", &filter.Workspace, &filter.After, &filter.Limit)
	if err != nil {
		return err
	}
	list, err := cl.Audit(ctx, filter)
	if err != nil {
		return err
	}
	return printList(c, "audit", list, []string{"ID", "AT", "ACTOR", "ACTION", "TARGET", "IP"}, func(a client.AuditRecord) []string {
		return []string{a.ID, fmtTime(a.At), nameOr(a.ActorName, a.Actor), a.Action, a.Target, a.IP}
	})
}

// startPaged is start for a listing of items ("events", "records") that
// takes --workspace, --after and --limit and no positional arguments.
func (c *cli) startPaged(f *flags, args []string, items string, workspace, after *string, limit *int) (*client.Client, error) {
	f.FlagSet.StringVar(workspace, "workspace", "", "workspace `name or id` (default: the token's)")
	f.FlagSet.StringVar(after, "after", "", "only "+items+" after the one with `ID`")
	f.FlagSet.IntVar(limit, "limit", 0, "at most `N` "+items+" (default: the server's)")
	if _, err := f.parseArgs(args); err != nil {
		return nil, err
	}
	if *limit < 0 {
		return nil, f.usageErr("--limit must not be negative")
	}
	return c.client(true)
}

// nameOr shows a name with the id it stands for, or the id alone when
// there is no name.
func nameOr(name, id string) string {
	if name == "" || name == id {
		return id
	}
	return name + " (" + id + ")"
}
