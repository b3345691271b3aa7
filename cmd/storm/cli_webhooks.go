package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/stormcreds/storm/client"
)

func (c *cli) webhooksList(ctx context.Context, f *flags, args []string) error {
	var workspace string
	f.FlagSet.StringVar(&workspace, "workspace", "", "workspace `name or id` (default: the token's; all for an admin)")
	_, cl, err := c.start(f, args)
	if err != nil {
		return err
	}
	list, err := cl.ListWebhooks(ctx, workspace)
	if err != nil {
		return err
	}
	return printList(c, "webhooks", list, []string{"ID", "URL", "EVENTS", "STATE", "FAILURES", "NEXT ATTEMPT", "WORKSPACE"}, func(w client.Webhook) []string {
		return []string{w.ID, w.URL, webhookEvents(w), webhookState(w), strconv.Itoa(w.Failures), fmtTime(w.NextAttemptAt), w.Workspace}
	})
}

func webhookEvents(w client.Webhook) string {
	if len(w.Events) == 0 {
		return "all"
	}
	return strings.Join(w.Events, ",")
}

func webhookState(w client.Webhook) string {
	switch {
	case w.Disabled:
		return "disabled"
	case w.Failures > 0:
		return "retrying"
	}
	return "active"
}

func (c *cli) webhooksDelete(ctx context.Context, f *flags, args []string) error {
	pos, cl, err := c.start(f, args, "ID")
	if err != nil {
		return err
	}
	if err := cl.DeleteWebhook(ctx, pos[0]); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "deleted webhook %s\n", cell(pos[0]))
	return nil
}

func (c *cli) webhooksEnable(ctx context.Context, f *flags, args []string) error {
	pos, cl, err := c.start(f, args, "ID")
	if err != nil {
		return err
	}
	w, err := cl.EnableWebhook(ctx, pos[0])
	if err != nil {
		return err
	}
	return c.show(w, [2]string{"id", w.ID}, [2]string{"url", w.URL}, [2]string{"events", webhookEvents(*w)}, [2]string{"state", webhookState(*w)})
}

func (c *cli) webhooksDeliveries(ctx context.Context, f *flags, args []string) error {
	var lf client.ListFilter
	f.FlagSet.IntVar(&lf.Limit, "limit", 0, "at most `N` attempts (default: the server's)")
	f.FlagSet.StringVar(&lf.After, "after", "", "only attempts older than the one with `ID`")
	pos, cl, err := c.start(f, args, "ID")
	if err != nil {
		return err
	}
	if lf.Limit < 0 {
		return f.usageErr("--limit must not be negative")
	}
	page, err := cl.DeliveryPage(ctx, pos[0], lf)
	if err != nil {
		return err
	}
	defer c.moreHint(page.Next)
	list := page.Items
	return printList(c, "deliveries", list, []string{"AT", "EVENT", "TYPE", "ATTEMPT", "STATUS", "MS", "ERROR"}, func(d client.WebhookDelivery) []string {
		status := "-"
		if d.StatusCode != 0 {
			status = strconv.Itoa(d.StatusCode)
		}
		return []string{fmtTime(d.At), d.Event, d.EventType, strconv.Itoa(d.Attempt), status, strconv.FormatInt(d.DurationMS, 10), d.Error}
	})
}
