package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/stormcreds/storm/client"
)

// appsCommand is "storm apps": one OAuth client registration shared by
// many integrations, with its client-secret rotation.
func appsCommand() *command {
	return &command{name: "apps", summary: "manage apps: OAuth clients shared by many integrations, and their secret rotation", def: "list", subs: []subcommand{
		{"list", "[--workspace W] [--json]", "Lists the workspace's apps (never their secrets).", (*cli).appsList},
		{"show", "ID [--json]", "Shows an app, its secret versions (hint, state, last use) and the integrations using it.", (*cli).appsShow},
		{"create", "--provider P --name N [--auth-method M] [--config KEY=VALUE ...] [--config-json JSON|@FILE|-] [--public] [--from-integration ID] [--workspace W] [--json]",
			"Creates an app. Its client secret is read from stdin when stdin is not a terminal, or\n" +
				"prompted for without echo; --public makes an app without one. --from-integration makes\n" +
				"the app from an integration's own client (id, secret, endpoints); adopt it afterwards.", (*cli).appsCreate},
		{"update", "ID [--name N] [--config KEY=VALUE ...] [--config-json JSON|@FILE|-] [--json]",
			"Renames or reconfigures an app (PATCH); its integrations follow. Moving its endpoints or\n" +
				"client id needs a new client_secret in --config-json @FILE or - (the old ones are revoked).", (*cli).appsUpdate},
		{"add-secret", "ID [--json]",
			"Adds a client secret (rotation, step 2 of 4): it becomes the newest, used first, and the\n" +
				"current one the fallback. Read from stdin or a prompt, never from the command line.\n" +
				"Rotation: 1. add the new secret at the provider, 2. storm apps add-secret,\n" +
				"3. remove the old secret at the provider, 4. storm apps revoke-secret.", (*cli).appsAddSecret},
		{"rotate", "ID [--json]", "Same as add-secret.", (*cli).appsAddSecret},
		{"secrets", "ID [--json]", "Lists an app's client secret versions with when each was last accepted or refused.", (*cli).appsSecrets},
		{"revoke-secret", "ID SECRET_ID [--json]", "Revokes a client secret version (the last unrevoked one cannot be).", (*cli).appsRevokeSecret},
		{"adopt", "ID [INTEGRATION_ID ...] | --create NAME --from INTEGRATION_ID [--json]",
			"Moves integrations that hold an identical client (same provider, client id and endpoints)\n" +
				"into the app: they use its client from then on and their own copy of the secret is\n" +
				"destroyed; their tokens stay. Without INTEGRATION_IDs every such integration moves.\n" +
				"--create makes the app from an integration's client first.", (*cli).appsAdopt},
		{"delete", "ID", "Deletes an app that no integration uses.", (*cli).appsDelete},
	}}
}

func (c *cli) appsList(ctx context.Context, f *flags, args []string) error {
	var workspace string
	f.FlagSet.StringVar(&workspace, "workspace", "", "workspace `name or id` (default: the token's)")
	_, cl, err := c.start(f, args)
	if err != nil {
		return err
	}
	list, err := cl.AllApps(ctx, workspace)
	if err != nil {
		return err
	}
	return printList(c, "apps", list, []string{"ID", "NAME", "PROVIDER", "AUTH METHOD", "CLIENT ID", "SECRET", "INTEGRATIONS", "ORIGIN"}, func(a client.App) []string {
		return []string{a.ID, a.Name, a.Provider, a.AuthMethod, clientIDOf(a), activeHint(a), strconv.Itoa(a.Integrations), originOf(a)}
	})
}

func clientIDOf(a client.App) string {
	for _, k := range []string{"client_id", "consumer_key"} {
		if s, ok := a.Config[k].(string); ok {
			return s
		}
	}
	return ""
}

// originOf says who registered the client: a person (manual), or Storm
// at an authorization server (registered, with its issuer).
func originOf(a client.App) string {
	if a.Issuer != "" {
		return a.Origin + " at " + a.Issuer
	}
	return a.Origin
}

func activeHint(a client.App) string {
	if a.ActiveSecret == nil {
		return "none"
	}
	return a.ActiveSecret.Hint
}

func (c *cli) printApp(a *client.App) error {
	return c.show(a,
		[2]string{"id", a.ID},
		[2]string{"name", a.Name},
		[2]string{"workspace", a.Workspace},
		[2]string{"provider", a.Provider},
		[2]string{"auth_method", a.AuthMethod},
		[2]string{"origin", originOf(*a)},
		[2]string{"client_id", clientIDOf(*a)},
		[2]string{"secret", activeHint(*a)},
		[2]string{"config", compact(a.Config)},
		[2]string{"integrations", strconv.Itoa(a.Integrations)},
		[2]string{"created_at", fmtTime(a.CreatedAt)},
		[2]string{"updated_at", fmtTime(a.UpdatedAt)},
	)
}

func (c *cli) appsShow(ctx context.Context, f *flags, args []string) error {
	pos, cl, err := c.start(f, args, "ID")
	if err != nil {
		return err
	}
	a, err := cl.App(ctx, pos[0])
	if err != nil {
		return err
	}
	secrets, err := cl.AppSecrets(ctx, a.ID)
	if err != nil {
		return err
	}
	ins, err := cl.AppIntegrations(ctx, a.ID)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(map[string]any{"app": a, "secrets": secrets, "integrations": ins})
	}
	if err := c.printApp(a); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout)
	if err := c.secretsTable(secrets); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout)
	rows := make([][]string, 0, len(ins))
	for _, in := range ins {
		rows = append(rows, []string{in.ID, in.Name, in.Status})
	}
	return c.table([]string{"INTEGRATION", "NAME", "STATUS"}, rows)
}

func (c *cli) secretsTable(list []client.AppSecret) error {
	rows := make([][]string, 0, len(list))
	for _, x := range list {
		rows = append(rows, []string{x.ID, strconv.Itoa(x.Version), x.State, x.Hint, fmtTime(x.CreatedAt), fmtTime(x.LastUsedAt), fmtTime(x.LastRejectedAt), fmtTime(x.RevokedAt)})
	}
	return c.table([]string{"SECRET", "VERSION", "STATE", "HINT", "CREATED", "LAST USED", "LAST REFUSED", "REVOKED"}, rows)
}

func (c *cli) appsCreate(ctx context.Context, f *flags, args []string) error {
	var req client.AppRequest
	var cf configFlags
	var public bool
	f.FlagSet.StringVar(&req.Provider, "provider", "", "provider `name` from \"storm providers\"")
	f.FlagSet.StringVar(&req.Name, "name", "", "app `name` (required)")
	f.FlagSet.StringVar(&req.AuthMethod, "auth-method", "", "`method`: oauth2 or oauth1 (default: the provider's)")
	f.FlagSet.StringVar(&req.Workspace, "workspace", "", "workspace `name or id` (default: the token's)")
	f.FlagSet.StringVar(&req.FromIntegration, "from-integration", "", "make the app from integration `ID`'s own client")
	f.FlagSet.BoolVar(&public, "public", false, "a public client: no client secret")
	cf.register(f)
	if _, err := f.parseArgs(args); err != nil {
		return err
	}
	if req.Name == "" {
		return f.usageErr("--name is required")
	}
	if req.Provider == "" && req.FromIntegration == "" {
		return f.usageErr("--provider (or --from-integration) is required")
	}
	var err error
	if req.Config, err = cf.build(c, f); err != nil {
		return err
	}
	_, hasSecret := req.Config["client_secret"]
	if _, ok := req.Config["consumer_secret"]; ok {
		hasSecret = true
	}
	if !hasSecret && !public && req.FromIntegration == "" {
		secret, err := c.readSecret(fmt.Sprintf("client secret of app %s (input hidden): ", cell(req.Name)))
		if err != nil {
			return err
		}
		if req.Config == nil {
			req.Config = map[string]any{}
		}
		key := "client_secret"
		if req.AuthMethod == "oauth1" {
			key = "consumer_secret"
		}
		req.Config[key] = secret
	}
	cl, err := c.client(true)
	if err != nil {
		return err
	}
	a, err := cl.CreateApp(ctx, req)
	if err != nil {
		return err
	}
	return c.printApp(a)
}

func (c *cli) appsUpdate(ctx context.Context, f *flags, args []string) error {
	var name string
	var cf configFlags
	f.FlagSet.StringVar(&name, "name", "", "new `name`")
	cf.register(f)
	pos, err := f.parseArgs(args, "ID")
	if err != nil {
		return err
	}
	patch := map[string]any{}
	if name != "" {
		patch["name"] = name
	}
	cfg, err := cf.build(c, f)
	if err != nil {
		return err
	}
	if cfg != nil {
		patch["config"] = cfg
	}
	if len(patch) == 0 {
		return f.usageErr("nothing to change: give --name, --config or --config-json")
	}
	cl, err := c.client(true)
	if err != nil {
		return err
	}
	a, err := cl.UpdateApp(ctx, pos[0], patch)
	if err != nil {
		return err
	}
	return c.printApp(a)
}

func (c *cli) appsAddSecret(ctx context.Context, f *flags, args []string) error {
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 0:
		return f.usageErr("missing ID")
	case len(pos) > 1:
		// Never echo the extra argument: it is most likely the secret.
		return f.usageErr("too many arguments; the secret is read from stdin or a prompt, never from the command line")
	}
	cl, err := c.client(true)
	if err != nil {
		return err
	}
	secret, err := c.readSecret(fmt.Sprintf("new client secret of app %s (input hidden): ", cell(pos[0])))
	if err != nil {
		return err
	}
	x, err := cl.AddAppSecret(ctx, pos[0], secret)
	if err != nil {
		return err
	}
	return c.printAppSecret(x)
}

func (c *cli) printAppSecret(x *client.AppSecret) error {
	return c.show(x,
		[2]string{"id", x.ID},
		[2]string{"app", x.App},
		[2]string{"version", strconv.Itoa(x.Version)},
		[2]string{"state", x.State},
		[2]string{"hint", x.Hint},
		[2]string{"created_at", fmtTime(x.CreatedAt)},
		[2]string{"last_used_at", fmtTime(x.LastUsedAt)},
		[2]string{"revoked_at", fmtTime(x.RevokedAt)},
	)
}

func (c *cli) appsSecrets(ctx context.Context, f *flags, args []string) error {
	pos, cl, err := c.start(f, args, "ID")
	if err != nil {
		return err
	}
	list, err := cl.AppSecrets(ctx, pos[0])
	if err != nil {
		return err
	}
	if c.json {
		if list == nil {
			list = []client.AppSecret{}
		}
		return c.printJSON(map[string]any{"secrets": list})
	}
	return c.secretsTable(list)
}

func (c *cli) appsRevokeSecret(ctx context.Context, f *flags, args []string) error {
	pos, cl, err := c.start(f, args, "ID", "SECRET_ID")
	if err != nil {
		return err
	}
	x, err := cl.RevokeAppSecret(ctx, pos[0], pos[1])
	if err != nil {
		return err
	}
	return c.printAppSecret(x)
}

func (c *cli) appsAdopt(ctx context.Context, f *flags, args []string) error {
	var create, from, workspace string
	f.FlagSet.StringVar(&create, "create", "", "create an app named `NAME` from --from's client first")
	f.FlagSet.StringVar(&from, "from", "", "the integration `ID` whose client --create takes")
	f.FlagSet.StringVar(&workspace, "workspace", "", "workspace `name or id` of --create (default: the token's)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if (create == "") != (from == "") {
		return f.usageErr("--create and --from go together")
	}
	if create == "" && len(pos) == 0 {
		return f.usageErr("missing ID (or --create NAME --from INTEGRATION_ID)")
	}
	cl, err := c.client(true)
	if err != nil {
		return err
	}
	var id string
	ids := pos
	if create != "" {
		a, err := cl.CreateApp(ctx, client.AppRequest{Name: create, FromIntegration: from, Workspace: workspace})
		if err != nil {
			return err
		}
		id = a.ID
		fmt.Fprintf(c.stderr, "created app %s from integration %s\n", a.ID, cell(from))
	} else {
		id, ids = pos[0], pos[1:]
	}
	res, err := cl.AdoptIntoApp(ctx, id, ids)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(res)
	}
	rows := make([][]string, 0, len(res.Adopted)+len(res.Skipped))
	for _, in := range res.Adopted {
		rows = append(rows, []string{in, "adopted", ""})
	}
	for _, s := range res.Skipped {
		rows = append(rows, []string{s.Integration, "skipped", s.Reason})
	}
	fmt.Fprintf(c.stdout, "app %s: %d adopted, %d skipped; %d integrations use it\n", res.App.ID, len(res.Adopted), len(res.Skipped), res.App.Integrations)
	if len(rows) == 0 {
		return nil
	}
	return c.table([]string{"INTEGRATION", "RESULT", "REASON"}, rows)
}

func (c *cli) appsDelete(ctx context.Context, f *flags, args []string) error {
	pos, cl, err := c.start(f, args, "ID")
	if err != nil {
		return err
	}
	if err := cl.DeleteApp(ctx, pos[0]); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "deleted app %s\n", cell(pos[0]))
	return nil
}
