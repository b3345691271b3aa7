package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/stormcreds/storm/client"
)

func (c *cli) credentialsList(ctx context.Context, f *flags, args []string) error {
	pos, cl, err := c.start(f, args, "ID")
	if err != nil {
		return err
	}
	list, err := cl.Credentials(ctx, pos[0])
	if err != nil {
		return err
	}
	return printList(c, "credentials", list, []string{"ID", "VERSION", "STATE", "HINT", "CREATED", "VERIFIED", "EXPIRES"}, func(v client.CredentialVersion) []string {
		return []string{v.ID, strconv.Itoa(v.Version), v.State, hintText(v.Hint), fmtTime(v.CreatedAt), fmtTime(v.VerifiedAt), fmtTime(v.ExpiresAt)}
	})
}

func (c *cli) printVersion(v *client.CredentialVersion) error {
	return c.show(v,
		[2]string{"id", v.ID},
		[2]string{"version", strconv.Itoa(v.Version)},
		[2]string{"state", v.State},
		[2]string{"hint", hintText(v.Hint)},
		[2]string{"fingerprint", v.Fingerprint},
		[2]string{"created_at", fmtTime(v.CreatedAt)},
		[2]string{"verified_at", fmtTime(v.VerifiedAt)},
		[2]string{"expires_at", fmtTime(v.ExpiresAt)},
	)
}

func (c *cli) credentialsSave(ctx context.Context, f *flags, args []string) error {
	var noVerify bool
	var file string
	f.FlagSet.BoolVar(&noVerify, "no-verify", false, "save without checking the secret against the provider first")
	f.FlagSet.StringVar(&file, "file", "", "read the secret or key file from `PATH` instead of stdin")
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
	id := pos[0]
	cl, err := c.client(true)
	if err != nil {
		return err
	}
	in, err := cl.Integration(ctx, id)
	if err != nil {
		return err
	}
	var v *client.CredentialVersion
	switch in.AuthMethod {
	case client.AuthAPIKey:
		var key string
		if file != "" {
			b, err := readFileLimited(file)
			if err != nil {
				return err
			}
			if key, err = secretText(b, file); err != nil {
				return err
			}
		} else if key, err = c.readSecret(fmt.Sprintf("API key for %s (input hidden): ", cell(in.Name))); err != nil {
			return err
		}
		v, err = cl.SaveCredential(ctx, id, map[string]any{"api_key": key}, !noVerify)
	case client.AuthServiceAccount:
		var b []byte
		name := "key"
		if file != "" {
			name = filepath.Base(file)
			b, err = readFileLimited(file)
		} else if _, tty := c.terminalFD(); tty {
			return f.usageErr("a service account needs its key file: pass --file PATH or pipe it on stdin")
		} else {
			b, err = io.ReadAll(io.LimitReader(c.stdin, maxInput+1))
		}
		if err != nil {
			return err
		}
		if len(b) > maxInput {
			return fmt.Errorf("the key file is larger than %d KiB", maxInput>>10)
		}
		if len(bytes.TrimSpace(b)) == 0 {
			return errors.New("the key file is empty")
		}
		v, err = cl.SaveCredentialFile(ctx, id, name, bytes.NewReader(b), !noVerify)
	case client.AuthOAuth2:
		return fmt.Errorf("integration %s uses OAuth 2.0: its tokens come from the authorization flow (storm authorize %s)", cell(id), cell(id))
	default:
		return fmt.Errorf("integration %s has auth method %q, which this CLI cannot save credentials for", cell(id), cell(in.AuthMethod))
	}
	if err != nil {
		return err
	}
	return c.printVersion(v)
}

// hintText shows a key's hint; a key too short to show any of it has
// the bare "…", which reads as nothing at all.
func hintText(h string) string {
	if h == "…" {
		return "(short key, no hint)"
	}
	return h
}

// terminalFD returns stdin's file descriptor and whether it is a terminal.
func (c *cli) terminalFD() (int, bool) {
	f, ok := c.stdin.(interface{ Fd() uintptr })
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, c.isTerminal(fd)
}

// readSecret reads one secret: prompted for without echo on a terminal,
// else all of stdin minus one trailing newline. It never comes from argv.
func (c *cli) readSecret(prompt string) (string, error) {
	if fd, tty := c.terminalFD(); tty {
		fmt.Fprint(c.stderr, prompt)
		b, err := c.readPassword(fd)
		fmt.Fprintln(c.stderr)
		if err != nil {
			return "", fmt.Errorf("reading the secret: %w", err)
		}
		return secretText(b, "the prompt")
	}
	if c.stdin == nil {
		return "", errors.New("no secret: pipe it on stdin")
	}
	b, err := io.ReadAll(io.LimitReader(c.stdin, maxInput+1))
	if err != nil {
		return "", fmt.Errorf("reading the secret from stdin: %w", err)
	}
	return secretText(b, "stdin")
}

// secretText drops one trailing newline (as echo and most editors add)
// and refuses an empty or oversized secret.
func secretText(b []byte, from string) (string, error) {
	if len(b) > maxInput {
		return "", fmt.Errorf("the secret from %s is larger than %d KiB", from, maxInput>>10)
	}
	s := string(b)
	if t, ok := strings.CutSuffix(s, "\n"); ok {
		s = strings.TrimSuffix(t, "\r")
	}
	if strings.TrimSpace(s) == "" {
		return "", fmt.Errorf("no secret: %s was empty", from)
	}
	return s, nil
}

func (c *cli) credentialsRevoke(ctx context.Context, f *flags, args []string) error {
	previous := f.FlagSet.Bool("previous", false, "revoke the previous version: the last step of a rotation")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	switch want := map[bool]int{true: 1, false: 2}[*previous]; {
	case len(pos) == 0:
		return f.usageErr("missing ID")
	case len(pos) < want:
		return f.usageErr("missing CRED_ID (or --previous)")
	case len(pos) > want:
		return f.usageErr("unexpected argument %q", pos[want])
	}
	cl, err := c.client(true)
	if err != nil {
		return err
	}
	credID := ""
	if *previous {
		list, err := cl.Credentials(ctx, pos[0])
		if err != nil {
			return err
		}
		for _, v := range list {
			if v.State == client.StatePrevious {
				credID = v.ID
			}
		}
		if credID == "" {
			return fmt.Errorf("integration %s has no previous version to revoke", cell(pos[0]))
		}
	} else {
		credID = pos[1]
	}
	v, err := cl.RevokeCredential(ctx, pos[0], credID)
	if err != nil {
		return err
	}
	return c.printVersion(v)
}

func (c *cli) verify(ctx context.Context, f *flags, args []string) error {
	pos, cl, err := c.start(f, args, "ID")
	if err != nil {
		return err
	}
	r, err := cl.Verify(ctx, pos[0])
	if err != nil {
		return err
	}
	ok := strconv.FormatBool(r.OK)
	if !r.Checked() {
		ok = "not checked"
	}
	err = c.show(r,
		[2]string{"ok", ok},
		[2]string{"reason", r.Reason},
		[2]string{"status", strconv.Itoa(r.Status)},
		[2]string{"latency", strconv.FormatInt(r.LatencyMS, 10) + "ms"},
		[2]string{"error", r.Error},
		[2]string{"provider said", r.ProviderMessage},
	)
	if err != nil {
		return err
	}
	if !r.Checked() {
		// Not a success either: scripts must not read it as one.
		return errors.New("not checked: " + r.Error)
	}
	if !r.OK {
		return fmt.Errorf("not working: %s", cause(*r))
	}
	return nil
}

func (c *cli) access(ctx context.Context, f *flags, args []string) error {
	pos, cl, err := c.start(f, args, "ID")
	if err != nil {
		return err
	}
	a, err := cl.Access(ctx, pos[0])
	if err != nil {
		return err
	}
	// Printing the secret is what this command is for; always JSON.
	return c.printJSON(a)
}

func (c *cli) authorize(ctx context.Context, f *flags, args []string) error {
	var returnTo string
	f.FlagSet.StringVar(&returnTo, "return-to", "", "`URL` to return to after the provider's consent page")
	pos, cl, err := c.start(f, args, "ID")
	if err != nil {
		return err
	}
	u, err := cl.Authorize(ctx, pos[0], returnTo)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(map[string]string{"authorize_url": u})
	}
	fmt.Fprintln(c.stdout, cell(u))
	fmt.Fprintln(c.stderr, "Open this URL in a browser within 10 minutes to connect the integration.")
	return nil
}
