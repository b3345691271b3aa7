package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/stormcreds/storm/internal/suggest"
)

// command is a top-level CLI command; subs are its subcommands, or one
// subcommand named "" when it has none.
type command struct {
	name    string
	summary string
	def     string // subcommand run when none is named; "" means one is required
	// idDef is the subcommand run when the first argument is not a
	// subcommand but an id ("storm credentials int_…" lists them).
	idDef string
	subs  []subcommand
}

type subcommand struct {
	name    string
	usage   string // arguments after "storm COMMAND SUB"
	summary string
	run     func(c *cli, ctx context.Context, f *flags, args []string) error
}

func (cmd *command) sub(name string) *subcommand {
	for i := range cmd.subs {
		if cmd.subs[i].name == name {
			return &cmd.subs[i]
		}
	}
	return nil
}

func (cmd *command) usageSummary() string {
	var names []string
	for _, s := range cmd.subs {
		names = append(names, s.name)
	}
	return "storm " + cmd.name + " " + strings.Join(names, "|") + " …; see \"storm help " + cmd.name + "\""
}

func commands() []*command {
	return []*command{
		{name: "providers", summary: "list the provider catalog, show one provider, or validate definition files", def: "list", subs: []subcommand{
			{"list", "[--json]", "Lists the providers Storm knows.", (*cli).providersList},
			{"show", "NAME [--json]", "Shows a provider's full (non-secret) definition.", (*cli).providersShow},
			{"validate", "FILE ... [--json]",
				"Checks provider definition files as storm serve would load them from --providers-dir,\n" +
					"on top of this build's catalog. Works offline. Prints every problem as file:line: field: message\n" +
					"and exits with status 1 when any file has one. docs/providers.md describes the format.", (*cli).providersValidate},
		}},
		{name: "workspaces", summary: "list or create workspaces (admin)", def: "list", subs: []subcommand{
			{"list", "[--json]", "Lists the workspaces.", (*cli).workspacesList},
			{"create", "NAME [--json]", "Creates a workspace.", (*cli).workspacesCreate},
		}},
		{name: "tokens", summary: "list, create or delete API tokens (admin)", def: "list", subs: []subcommand{
			{"list", "[--workspace W] [--json]", "Lists API tokens (every workspace's unless --workspace names one) with when each was\nlast used; never their secrets.", (*cli).tokensList},
			{"create", "--name N --role R [--workspace W] [--json]",
				"Creates an API token and prints it. The token is shown only this once.\nRoles: admin, editor, worker, viewer. An admin token spans every workspace, so it takes\nno --workspace; use editor for a token limited to one workspace.", (*cli).tokensCreate},
			{"delete", "ID", "Deletes an API token.", (*cli).tokensDelete},
		}},
		{name: "integrations", summary: "list, show, create, update or delete integrations", def: "list", subs: []subcommand{
			{"list", "[--workspace W] [--limit N] [--after ID] [--json]", "Lists integrations (default: the token's workspace): every page, or one page with --limit or --after.", (*cli).integrationsList},
			{"show", "ID [--json]", "Shows one integration; secrets in its config are masked.", (*cli).integrationsShow},
			{"create", "--provider P --name N [--auth-method M] [--config KEY=VALUE ...] [--config-json JSON|@FILE|-] [--workspace W] [--json]",
				"Creates an integration. Without --auth-method the provider's only auth method is used.\n" +
					"Secret config (an OAuth client_secret) belongs in --config-json @FILE or -, not on the command line.", (*cli).integrationsCreate},
			{"update", "ID [--name N] [--config KEY=VALUE ...] [--config-json JSON|@FILE|-] [--status S] [--json]",
				"Updates an integration (PATCH): only the fields given are sent.", (*cli).integrationsUpdate},
			{"delete", "ID", "Deletes an integration, revoking what the provider allows.", (*cli).integrationsDelete},
		}},
		appsCommand(),
		{name: "credentials", summary: "list, save or revoke an integration's credentials", idDef: "list", subs: []subcommand{
			{"list", "ID [--json]", "Lists an integration's credential versions.", (*cli).credentialsList},
			{"save", "ID [--no-verify] [--file PATH] [--json]",
				"Saves a new credential version. The secret is never taken from the command line:\n" +
					"it is read from stdin when stdin is not a terminal (one trailing newline is dropped),\n" +
					"or prompted for without echo. Service accounts send a key file: --file PATH, or on stdin.\n" +
					"The server verifies the secret first unless --no-verify is given.", (*cli).credentialsSave},
			{"revoke", "ID (CRED_ID | --previous) [--json]", "Revokes one credential version; --previous names the version a rotation keeps as the fallback.", (*cli).credentialsRevoke},
		}},
		{name: "verify", summary: "check an integration's credential against the provider", subs: []subcommand{
			{"", "ID [--json]", "Verifies the active credential; exit status 1 when it does not work.", (*cli).verify},
		}},
		{name: "access", summary: "print what a sync needs to call the provider (JSON, holds a secret)", subs: []subcommand{
			{"", "ID", "Prints the integration's current access (bearer token, API key or AWS keys) as JSON.", (*cli).access},
		}},
		connectCommand(),
		{name: "authorize", summary: "start the OAuth 2.0 flow and print the URL to open", subs: []subcommand{
			{"", "ID [--return-to URL] [--json]", "Prints the provider URL that connects an OAuth 2.0 integration.", (*cli).authorize},
		}},
		{name: "proxy", summary: "send a request to the provider through an integration", subs: []subcommand{
			{"", "ID METHOD PATH [--data @FILE|-|TEXT] [--header 'NAME: VALUE' ...]",
				"Sends METHOD PATH (with any ?query) to the provider and prints the response body.\n" +
					"A non-2xx response prints its status line on stderr and exits with status 1.\n" +
					"Content-Type defaults to application/json when --data is given.", (*cli).proxy},
		}},
		{name: "events", summary: "list events", subs: []subcommand{
			{"", "[--workspace W] [--integration ID] [--after EVENT_ID] [--limit N] [--json]", "Lists events, oldest first.", (*cli).events},
		}},
		{name: "audit", summary: "list, verify or export the audit log", def: "list", subs: []subcommand{
			{"list", "[--workspace W] [--after ID] [--limit N] [--json]", "Lists audit records, oldest first.", (*cli).audit},
			{"verify", "[--file FILE] [--json]",
				"Checks the audit log's hash chain (admin) and prints {\"ok\",\"entries\"} or the first bad\n" +
					"entry and why; exits with status 1 when the chain is broken. --file checks an export\n" +
					"offline instead.", (*cli).auditVerify},
			{"export", "--to FILE|URL [--state FILE] [--follow] [--interval D] [--batch N]",
				"Streams the audit log (admin token) as JSON lines, one entry each with its hash: appended\n" +
					"to FILE, or POSTed in batches (application/x-ndjson) to URL. A restart resumes after the\n" +
					"last entry delivered (a file's last line; for a URL the --state file), so nothing is\n" +
					"missed or repeated. --follow keeps exporting new entries until interrupted.", (*cli).auditExport},
		}},
		{name: "webhooks", summary: "subscribe URLs to events, list them, see their deliveries", def: "list", subs: []subcommand{
			{"create", "--url URL [--event TYPE ...] [--workspace W] [--json]",
				"Creates a webhook and prints its signing secret, shown only this once.\n" +
					"Without --event it receives every event type.", (*cli).webhooksCreate},
			{"list", "[--workspace W] [--json]", "Lists webhooks with their delivery state (never their secrets).", (*cli).webhooksList},
			{"delete", "ID", "Deletes a webhook and its delivery log.", (*cli).webhooksDelete},
			{"enable", "ID [--json]", "Re-enables a webhook disabled after repeated failures; delivery resumes where it stopped.", (*cli).webhooksEnable},
			{"deliveries", "ID [--limit N] [--json]", "Shows a webhook's delivery attempts, newest first.", (*cli).webhooksDeliveries},
		}},
		{name: "keys", summary: "show or rotate the data keys, or re-wrap them under a new KEK (admin)", def: "status", subs: []subcommand{
			{"status", "[--json]", "Shows the data-key terms and the re-wrap job's progress.", (*cli).keysStatus},
			{"rotate", "[--wait] [--json]",
				"Adds a new data-key term: new writes use it at once, older terms still decrypt, and a\n" +
					"resumable job re-wraps every stored secret under it. --wait follows the job to the end.", (*cli).keysRotate},
			{"rotate-kek", "--new-kek-url URL [--kek-url URL] [--database URL] [--json]",
				"Re-wraps the keyring under a new key-encryption key (key file or KMS). It opens the\n" +
					"database directly (--data-dir, --database) and needs no API token; running instances\n" +
					"keep working. Restart every instance with the new --kek-url afterwards.", (*cli).keysRotateKEK},
		}},
		{name: "health", summary: "check that the server is alive and ready", subs: []subcommand{
			{"", "[--wait DURATION]", "Checks /healthz and /readyz; needs no API token. --wait keeps asking until the server is ready.", (*cli).health},
		}},
	}
}

func findCommand(name string) *command {
	for _, cmd := range commands() {
		if cmd.name == name {
			return cmd
		}
	}
	return nil
}

// allCommandNames lists every command, server-side ones first.
func allCommandNames() []string {
	var names []string
	for _, sc := range serverCommands() {
		names = append(names, sc.name)
	}
	for _, cmd := range commands() {
		names = append(names, cmd.name)
	}
	return append(names, "help")
}

func commandNames() string { return strings.Join(allCommandNames(), ", ") }

// unknownCommand names the nearest command for a typo.
func unknownCommand(name string) error {
	if s := suggest.Closest(name, allCommandNames()); s != "" {
		return fmt.Errorf("unknown command %q; did you mean %s? (run \"storm help\")", name, s)
	}
	return fmt.Errorf("unknown command %q; commands: %s (run \"storm help\")", name, commandNames())
}

func (c *cli) printUsage(w io.Writer) {
	fmt.Fprint(w, `Storm keeps credentials for other services' APIs. "storm serve" runs the
server, "storm backup" and "storm restore" work on its data dir; every other
command is a client of it.

usage: storm [global flags] COMMAND [ARGS]

commands:
`)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, sc := range serverCommands() {
		fmt.Fprintf(tw, "  %s\t%s\n", sc.name, sc.summary)
	}
	for _, cmd := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintf(tw, "  help\tthis text, or \"storm help COMMAND [SUBCOMMAND]\"\n")
	tw.Flush()
	fmt.Fprint(w, `
global flags (also accepted after the command):
`)
	tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "  --server URL\tserver address (env STORM_SERVER, default %s)\n", defaultServer)
	fmt.Fprintf(tw, "  --token TOKEN\tAPI token (env STORM_TOKEN; default: read DIR/%s)\n", tokenFileName)
	fmt.Fprintf(tw, "  --data-dir DIR\tthe server's data directory (env STORM_DATA_DIR, default %s)\n", defaultDataDir)
	fmt.Fprintf(tw, "  --json\tprint JSON instead of tables\n")
	tw.Flush()
}

func (c *cli) printCommandUsage(w io.Writer, cmd *command) {
	fmt.Fprintf(w, "%s: %s\n\nusage:\n", cmd.name, cmd.summary)
	for _, s := range cmd.subs {
		fmt.Fprintf(w, "  %s\n", strings.Join(strings.Fields("storm "+cmd.name+" "+s.name+" "+s.usage), " "))
	}
	if cmd.def != "" {
		fmt.Fprintf(w, "\nWithout a subcommand, %q runs \"%s %s\".\n", "storm "+cmd.name, cmd.name, cmd.def)
	}
	if cmd.idDef != "" {
		fmt.Fprintf(w, "\n\"storm %s ID\" runs \"%s %s ID\".\n", cmd.name, cmd.name, cmd.idDef)
	}
	fmt.Fprintf(w, "\nRun \"storm help %s SUBCOMMAND\" for its flags.\n", cmd.name)
}
