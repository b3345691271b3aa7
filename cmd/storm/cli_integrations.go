package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/stormcreds/storm/client"
)

func (c *cli) integrationsList(ctx context.Context, f *flags, args []string) error {
	var filter client.ListFilter
	cl, err := c.startPaged(f, args, "integrations", &filter.Workspace, &filter.After, &filter.Limit)
	if err != nil {
		return err
	}
	// Every page by default; --limit or --after show one page (what a
	// workspace of 100,000 integrations needs) and say how to read on.
	var list []client.Integration
	next := ""
	if filter.Limit > 0 || filter.After != "" {
		p, err := cl.IntegrationPage(ctx, filter)
		if err != nil {
			return err
		}
		list, next = p.Items, p.Next
	} else if list, err = cl.Integrations(ctx, filter.Workspace); err != nil {
		return err
	}
	if err := printList(c, "integrations", list, []string{"ID", "NAME", "PROVIDER", "AUTH METHOD", "STATUS", "WORKSPACE"}, func(in client.Integration) []string {
		return []string{in.ID, in.Name, in.Provider, in.AuthMethod, in.Status, firstNonEmpty(in.WorkspaceName, in.Workspace)}
	}); err != nil {
		return err
	}
	c.moreHint(next)
	return nil
}

func (c *cli) integrationsShow(ctx context.Context, f *flags, args []string) error {
	pos, cl, err := c.start(f, args, "ID")
	if err != nil {
		return err
	}
	in, err := cl.Integration(ctx, pos[0])
	if err != nil {
		return err
	}
	return c.printIntegration(in)
}

func (c *cli) printIntegration(in *client.Integration) error {
	return c.show(in,
		[2]string{"id", in.ID},
		[2]string{"name", in.Name},
		[2]string{"workspace", nameOr(in.WorkspaceName, in.Workspace)},
		[2]string{"provider", in.Provider},
		[2]string{"auth_method", in.AuthMethod},
		[2]string{"app", in.App},
		[2]string{"status", in.Status},
		[2]string{"status_reason", in.StatusReason},
		[2]string{"config", compact(in.Config)},
		[2]string{"created_at", fmtTime(in.CreatedAt)},
		[2]string{"updated_at", fmtTime(in.UpdatedAt)},
		[2]string{"last_verified_at", fmtTime(in.LastVerifiedAt)},
		[2]string{"last_used_at", fmtTime(in.LastUsedAt)},
	)
}

// configFlags are the --config and --config-json flags of create and
// update.
type configFlags struct {
	pairs listFlag
	json  string
}

func (cf *configFlags) register(f *flags) {
	f.FlagSet.Var(&cf.pairs, "config", "config setting as `KEY=VALUE` (a string); repeatable")
	f.FlagSet.StringVar(&cf.json, "config-json", "", "config as a JSON object: the `JSON` itself, @FILE, or - for stdin;\n--config settings are applied on top")
}

// build returns the config object, or nil when neither flag was given.
func (cf *configFlags) build(c *cli, f *flags) (map[string]any, error) {
	if cf.json == "" && len(cf.pairs) == 0 {
		return nil, nil
	}
	config := map[string]any{}
	if cf.json != "" {
		b := []byte(cf.json)
		var err error
		switch {
		case cf.json == "-":
			b, err = io.ReadAll(io.LimitReader(c.stdin, maxInput+1))
		case strings.HasPrefix(cf.json, "@"):
			b, err = readFileLimited(cf.json[1:])
		}
		if err != nil {
			return nil, err
		}
		if len(b) > maxInput {
			return nil, f.usageErr("--config-json is larger than %d bytes", maxInput)
		}
		if err := json.Unmarshal(b, &config); err != nil || config == nil {
			// The JSON may hold a client secret: do not repeat it.
			return nil, f.usageErr("--config-json must be a JSON object")
		}
	}
	for _, p := range cf.pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			// The value may be a secret pasted by mistake: do not repeat it.
			return nil, f.usageErr("--config wants KEY=VALUE")
		}
		config[k] = v
	}
	return config, nil
}

func (c *cli) integrationsCreate(ctx context.Context, f *flags, args []string) error {
	var req client.IntegrationRequest
	var cf configFlags
	f.FlagSet.StringVar(&req.Provider, "provider", "", "provider `name` from \"storm providers\" (required)")
	f.FlagSet.StringVar(&req.Name, "name", "", "integration `name` (required)")
	f.FlagSet.StringVar(&req.AuthMethod, "auth-method", "", "`method`: api_key, oauth2 or service_account\n(default: the provider's only one)")
	f.FlagSet.StringVar(&req.Workspace, "workspace", "", "workspace `name or id` (default: the token's)")
	f.FlagSet.StringVar(&req.App, "app", "", "use app `ID`'s OAuth client (provider and auth method default to the app's)")
	var quiet bool
	f.FlagSet.BoolVar(&quiet, "quiet", false, "print only the new integration's id (for scripts: ID=$(storm integrations create … --quiet))")
	f.FlagSet.BoolVar(&quiet, "q", false, "short for --quiet")
	cf.register(f)
	_, err := f.parseArgs(args)
	if err != nil {
		return err
	}
	if req.Provider == "" && req.App == "" {
		return f.usageErr("--provider is required (or --app ID)")
	}
	if req.Name == "" {
		return f.usageErr("--name is required")
	}
	if req.Config, err = cf.build(c, f); err != nil {
		return err
	}
	cl, err := c.client(true)
	if err != nil {
		return err
	}
	if req.AuthMethod == "" && req.App == "" {
		if req.AuthMethod, err = onlyAuthMethod(ctx, cl, req.Provider); err != nil {
			return err
		}
	}
	in, err := cl.CreateIntegration(ctx, req)
	if err != nil {
		return err
	}
	c.printWarnings(in.Warnings)
	if quiet && !c.json {
		fmt.Fprintln(c.stdout, cell(in.ID))
		return nil
	}
	return c.printIntegration(in)
}

// printWarnings shows what the server wants the operator to know at once,
// on stderr so that --quiet and --json output stay clean.
func (c *cli) printWarnings(warnings []string) {
	for _, w := range warnings {
		fmt.Fprintf(c.stderr, "warning: %s\n", cell(w))
	}
}

// onlyAuthMethod returns the provider's auth method when it has exactly
// one, and otherwise says which to choose from.
func onlyAuthMethod(ctx context.Context, cl *client.Client, provider string) (string, error) {
	p, err := cl.Provider(ctx, provider)
	if err != nil {
		return "", err
	}
	var methods []string
	if l, ok := p["auth_methods"].([]any); ok {
		for _, m := range l {
			if s, ok := m.(string); ok {
				methods = append(methods, s)
			}
		}
	}
	if len(methods) == 1 {
		return methods[0], nil
	}
	if len(methods) == 0 {
		return "", fmt.Errorf("provider %s lists no auth methods; pass --auth-method", provider)
	}
	return "", fmt.Errorf("provider %s supports %s: choose one with --auth-method", provider, strings.Join(methods, ", "))
}

func (c *cli) integrationsUpdate(ctx context.Context, f *flags, args []string) error {
	var name, status string
	var cf configFlags
	f.FlagSet.StringVar(&name, "name", "", "new `name`")
	f.FlagSet.StringVar(&status, "status", "", "new `status` (for example disabled)")
	cf.register(f)
	pos, err := f.parseArgs(args, "ID")
	if err != nil {
		return err
	}
	patch := map[string]any{}
	if f.isSet("name") {
		patch["name"] = name
	}
	if f.isSet("status") {
		patch["status"] = status
	}
	config, err := cf.build(c, f)
	if err != nil {
		return err
	}
	if config != nil {
		patch["config"] = config
	}
	if len(patch) == 0 {
		return f.usageErr("nothing to update: give --name, --status, --config or --config-json")
	}
	cl, err := c.client(true)
	if err != nil {
		return err
	}
	in, err := cl.UpdateIntegration(ctx, pos[0], patch)
	if err != nil {
		return err
	}
	if in == nil { // 204: fetch the new state to show it
		if in, err = cl.Integration(ctx, pos[0]); err != nil {
			return fmt.Errorf("updated, but reading it back failed: %w", err)
		}
	}
	c.printWarnings(in.Warnings)
	return c.printIntegration(in)
}

func (c *cli) integrationsDelete(ctx context.Context, f *flags, args []string) error {
	pos, cl, err := c.start(f, args, "ID")
	if err != nil {
		return err
	}
	if err := cl.DeleteIntegration(ctx, pos[0]); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "deleted integration %s\n", cell(pos[0]))
	return nil
}

// maxInput bounds secrets, key files and JSON read from stdin or a file
// (the server's limit for key files is 64 KiB).
const maxInput = 64 << 10

// readFileLimited reads at most maxInput+1 bytes, so callers can tell an
// oversized file.
func readFileLimited(path string) ([]byte, error) {
	if path == "" {
		return nil, errors.New("missing file name after @")
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return io.ReadAll(io.LimitReader(fh, maxInput+1))
}
