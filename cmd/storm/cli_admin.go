package main

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/stormcreds/storm/client"
)

func (c *cli) providersList(ctx context.Context, f *flags, args []string) error {
	_, cl, err := c.start(f, args)
	if err != nil {
		return err
	}
	ps, err := cl.Providers(ctx)
	if err != nil {
		return err
	}
	return printList(c, "providers", ps, []string{"NAME", "DISPLAY NAME", "AUTH METHODS", "BASE URL"}, func(p client.Provider) []string {
		return []string{p.Name, p.DisplayName, strings.Join(p.AuthMethods, ","), p.BaseURL}
	})
}

func (c *cli) providersShow(ctx context.Context, f *flags, args []string) error {
	pos, cl, err := c.start(f, args, "NAME")
	if err != nil {
		return err
	}
	p, err := cl.Provider(ctx, pos[0])
	if err != nil {
		return err
	}
	// The listing fields first, then the rest of the definition.
	first := []string{"name", "display_name", "auth_methods", "base_url", "docs_url"}
	var pairs [][2]string
	for _, k := range first {
		if v, ok := p[k]; ok {
			pairs = append(pairs, [2]string{k, listOrCompact(v)})
		}
	}
	var rest []string
	for k := range p {
		if !slices.Contains(first, k) {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	for _, k := range rest {
		pairs = append(pairs, [2]string{k, compact(p[k])})
	}
	return c.show(p, pairs...)
}

// listOrCompact shows a list of strings as "a,b" and anything else as
// compact JSON.
func listOrCompact(v any) string {
	if l, ok := v.([]any); ok {
		s := make([]string, 0, len(l))
		for _, e := range l {
			str, ok := e.(string)
			if !ok {
				return compact(v)
			}
			s = append(s, str)
		}
		return strings.Join(s, ",")
	}
	return compact(v)
}

func (c *cli) workspacesList(ctx context.Context, f *flags, args []string) error {
	_, cl, err := c.start(f, args)
	if err != nil {
		return err
	}
	ws, err := cl.Workspaces(ctx)
	if err != nil {
		return err
	}
	return printList(c, "workspaces", ws, []string{"ID", "NAME", "CREATED"}, func(w client.Workspace) []string {
		return []string{w.ID, w.Name, fmtTime(w.CreatedAt)}
	})
}

func (c *cli) workspacesCreate(ctx context.Context, f *flags, args []string) error {
	pos, cl, err := c.start(f, args, "NAME")
	if err != nil {
		return err
	}
	w, err := cl.CreateWorkspace(ctx, pos[0])
	if err != nil {
		return err
	}
	return c.show(w, [2]string{"id", w.ID}, [2]string{"name", w.Name}, [2]string{"created_at", fmtTime(w.CreatedAt)})
}

var tokenRoles = []string{client.RoleAdmin, client.RoleEditor, client.RoleWorker, client.RoleViewer}

func (c *cli) tokensCreate(ctx context.Context, f *flags, args []string) error {
	var req client.TokenRequest
	f.FlagSet.StringVar(&req.Name, "name", "", "token `name` (required)")
	f.FlagSet.StringVar(&req.Role, "role", "", "`role`: admin, editor, worker or viewer (required)")
	f.FlagSet.StringVar(&req.Workspace, "workspace", "", "workspace `name or id` (default: the caller's)")
	if _, err := f.parseArgs(args); err != nil {
		return err
	}
	switch {
	case req.Name == "":
		return f.usageErr("--name is required")
	case req.Role == "":
		return f.usageErr("--role is required")
	case !slices.Contains(tokenRoles, req.Role):
		return f.usageErr("--role must be one of %s", strings.Join(tokenRoles, ", "))
	case req.Role == client.RoleAdmin && req.Workspace != "":
		return f.usageErr("an admin token spans every workspace: leave out --workspace, or use --role editor for one workspace")
	}
	cl, err := c.client(true)
	if err != nil {
		return err
	}
	t, err := cl.CreateToken(ctx, req)
	if err != nil {
		return err
	}
	// Printing the token is the point of this command.
	err = c.show(t, [2]string{"id", t.ID}, [2]string{"role", t.Role}, [2]string{"workspace", t.Workspace}, [2]string{"token", t.Token})
	fmt.Fprintln(c.stderr, "The token is shown only once: store it now.")
	return err
}

func (c *cli) tokensList(ctx context.Context, f *flags, args []string) error {
	var workspace string
	f.FlagSet.StringVar(&workspace, "workspace", "", "workspace `name or id` (default: every workspace)")
	_, cl, err := c.start(f, args)
	if err != nil {
		return err
	}
	list, err := cl.AllTokens(ctx, workspace)
	if err != nil {
		return err
	}
	return printList(c, "tokens", list, []string{"ID", "NAME", "ROLE", "WORKSPACE", "CREATED", "LAST USED"}, func(t client.APIToken) []string {
		ws := t.WorkspaceName
		if t.Role == client.RoleAdmin {
			ws = "(all)"
		} else if ws == "" {
			ws = t.Workspace
		}
		lastUsed := fmtTime(t.LastUsedAt)
		if lastUsed == "" {
			lastUsed = "never"
		}
		return []string{t.ID, t.Name, t.Role, ws, fmtTime(t.CreatedAt), lastUsed}
	})
}

func (c *cli) tokensDelete(ctx context.Context, f *flags, args []string) error {
	pos, cl, err := c.start(f, args, "ID")
	if err != nil {
		return err
	}
	if err := cl.DeleteToken(ctx, pos[0]); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "deleted token %s\n", cell(pos[0]))
	return nil
}

func (c *cli) webhooksCreate(ctx context.Context, f *flags, args []string) error {
	var req client.WebhookRequest
	var events listFlag
	f.FlagSet.StringVar(&req.URL, "url", "", "`URL` that receives deliveries (required)")
	f.FlagSet.Var(&events, "event", "event `type` to deliver; repeat or separate with commas (default: every type)")
	f.FlagSet.StringVar(&req.Workspace, "workspace", "", "workspace `name or id` (default: the caller's)")
	if _, err := f.parseArgs(args); err != nil {
		return err
	}
	for _, e := range events {
		for _, t := range strings.Split(e, ",") {
			if t = strings.TrimSpace(t); t != "" {
				req.Events = append(req.Events, t)
			}
		}
	}
	if req.URL == "" {
		return f.usageErr("--url is required")
	}
	cl, err := c.client(true)
	if err != nil {
		return err
	}
	w, err := cl.CreateWebhook(ctx, req)
	if err != nil {
		return err
	}
	err = c.show(w, [2]string{"id", w.ID}, [2]string{"secret", w.Secret})
	fmt.Fprintln(c.stderr, "The signing secret is shown only once: store it now.")
	return err
}

func (c *cli) health(ctx context.Context, f *flags, args []string) error {
	wait := f.FlagSet.Duration("wait", 0, "keep asking for up to `DURATION` (e.g. 10s) until the server is ready, as after \"storm serve &\"")
	if _, err := f.parseArgs(args); err != nil {
		return err
	}
	if *wait < 0 {
		return f.usageErr("--wait must not be negative")
	}
	cl, err := c.client(false)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(*wait)
	for {
		err = cl.Health(ctx)
		if err != nil {
			err = fmt.Errorf("not alive: %w", err)
		} else if err = cl.Ready(ctx); err != nil {
			err = fmt.Errorf("alive but not ready: %w", err)
		}
		if err == nil || !time.Now().Before(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(map[string]string{"status": "ok"})
	}
	fmt.Fprintln(c.stdout, "ok")
	return nil
}
