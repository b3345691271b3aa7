package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/stormcreds/storm/client"
)

func connectCommand() *command {
	return &command{name: "connect", summary: "make, list or delete connect links (a person without a token connects an integration)", idDef: "create", subs: []subcommand{
		{"create", "ID [--expires DURATION] [--return-url URL] [--json]",
			"Makes a single-use link that lets the account's owner connect (or reconnect) the integration\n" +
				"on a page of its own, without a Storm token, and prints its URL, shown only this once.\n" +
				"--expires is a duration from 1s to 168h (default 30m); --return-url (https, or http on\n" +
				"localhost) gets ?integration=ID&status=connected. \"storm connect ID\" runs this.", (*cli).connectCreate},
		{"new", "--provider P [--provider P ...] --name N [--workspace W] [--expires DURATION] [--return-url URL] [--json]",
			"Makes a link that creates an integration named N: the person picks one of the providers and\n" +
				"connects; the integration exists only once its credential works. An OAuth provider takes its\n" +
				"client from the workspace's app for it. Prints the URL, shown only this once.", (*cli).connectNew},
		{"list", "[ID] [--workspace W] [--json]", "Lists an integration's links (or the workspace's): state, expiry, use; never their secrets.", (*cli).connectList},
		{"delete", "LINK_ID", "Deletes a link: its page answers 410 from then on.", (*cli).connectDelete},
	}}
}

func (c *cli) connectCreate(ctx context.Context, f *flags, args []string) error {
	var req client.ConnectLinkRequest
	f.FlagSet.StringVar(&req.ExpiresIn, "expires", "", "how long the link works, a `duration` from 1s to 168h (default 30m)")
	f.FlagSet.StringVar(&req.ReturnURL, "return-url", "", "`URL` the browser goes to once connected")
	pos, cl, err := c.start(f, args, "ID")
	if err != nil {
		return err
	}
	l, err := cl.CreateConnectLink(ctx, pos[0], req)
	if err != nil {
		return err
	}
	return c.printLink(l)
}

func (c *cli) connectNew(ctx context.Context, f *flags, args []string) error {
	var req client.NewConnectLinkRequest
	var providers listFlag
	f.FlagSet.Var(&providers, "provider", "a `provider` the person may choose (repeat, or separate with commas)")
	f.FlagSet.StringVar(&req.Name, "name", "", "the `name` the new integration gets")
	f.FlagSet.StringVar(&req.Workspace, "workspace", "", "workspace `name or id` (default: the token's)")
	f.FlagSet.StringVar(&req.ExpiresIn, "expires", "", "how long the link works, a `duration` from 1s to 168h (default 30m)")
	f.FlagSet.StringVar(&req.ReturnURL, "return-url", "", "`URL` the browser goes to once connected")
	_, cl, err := c.start(f, args)
	if err != nil {
		return err
	}
	for _, p := range providers {
		for _, name := range strings.Split(p, ",") {
			if name = strings.TrimSpace(name); name != "" {
				req.Providers = append(req.Providers, name)
			}
		}
	}
	if len(req.Providers) == 0 {
		return f.usageErr("--provider is required: the providers the person may choose among")
	}
	if req.Name == "" {
		return f.usageErr("--name is required: the name the new integration gets")
	}
	l, err := cl.CreateNewConnectLink(ctx, req)
	if err != nil {
		return err
	}
	return c.printLink(l)
}

// printLink prints a new link's URL (alone on stdout, for scripts) and,
// on stderr, what to do with it.
func (c *cli) printLink(l *client.ConnectLink) error {
	if c.json {
		return c.printJSON(l)
	}
	fmt.Fprintln(c.stdout, cell(l.URL))
	fmt.Fprintf(c.stderr, "Send this link to the account's owner: it works once, until %s (%s). It is not shown again.\n", fmtTime(l.ExpiresAt), l.ID)
	return nil
}

func (c *cli) connectList(ctx context.Context, f *flags, args []string) error {
	var filter client.ConnectLinkFilter
	f.FlagSet.StringVar(&filter.Workspace, "workspace", "", "workspace `name or id` (default: the token's)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	switch len(pos) {
	case 0:
	case 1:
		filter.Integration = pos[0]
	default:
		return f.usageErr("unexpected argument %q", pos[1])
	}
	cl, err := c.client(true)
	if err != nil {
		return err
	}
	list, err := cl.AllConnectLinks(ctx, filter)
	if err != nil {
		return err
	}
	return printList(c, "links", list, []string{"ID", "STATE", "INTEGRATION", "CREATED", "EXPIRES", "USED", "FAILED", "CREATED BY"}, func(l client.ConnectLink) []string {
		integ := l.Integration
		if integ == "" && len(l.Providers) > 0 {
			integ = "(new: " + strings.Join(l.Providers, ",") + ")"
		}
		return []string{l.ID, l.State, cell(integ), fmtTime(l.CreatedAt), fmtTime(l.ExpiresAt), cell(fmtTime(l.UsedAt)), strconv.Itoa(l.FailedAttempts), l.CreatedBy}
	})
}

func (c *cli) connectDelete(ctx context.Context, f *flags, args []string) error {
	pos, cl, err := c.start(f, args, "LINK_ID")
	if err != nil {
		return err
	}
	if err := cl.DeleteConnectLink(ctx, pos[0]); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "deleted connect link %s\n", cell(pos[0]))
	return nil
}
