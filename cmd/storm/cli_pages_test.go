package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/server/servertest"
)

// TestListCommandsPage: "storm integrations" shows every integration,
// "storm integrations list --limit" one page;
// "storm events --limit" shows one page and says on stderr how to read
// the next, which --after then reads.
func TestListCommandsPage(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	up := servertest.NewUpstream(t)
	var ids []string
	for i := range 5 {
		ids = append(ids, env.CustomIntegration(fmt.Sprintf("Paged %d", i), up))
	}
	run := func(args ...string) (string, string) {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := runCLI(context.Background(), append([]string{"--server", env.URL, "--data-dir", env.DataDir}, args...), strings.NewReader(""), &out, &errOut); err != nil {
			t.Fatalf("storm %v: %v\n%s", args, err, errOut.String())
		}
		return out.String(), errOut.String()
	}
	out, _ := run("integrations")
	for _, id := range ids {
		if !strings.Contains(out, id) {
			t.Errorf("storm integrations lacks %s:\n%s", id, out)
		}
	}
	// One page of integrations, and the next with --after.
	out, errOut := run("integrations", "list", "--limit", "2")
	first := env.Must(http.StatusOK, "GET", "/v1/integrations?limit=2", "", nil)
	if !strings.Contains(errOut, "--after "+first["next"].(string)) || strings.Count(out, "int_") != 2 {
		t.Fatalf("storm integrations list --limit 2: stdout\n%s\nstderr %q", out, errOut)
	}
	if out, _ = run("integrations", "list", "--limit", "3", "--after", first["next"].(string)); strings.Count(out, "int_") != 3 || strings.Contains(out, first["next"].(string)) {
		t.Errorf("storm integrations list --after: %s", out)
	}
	page := env.Must(http.StatusOK, "GET", "/v1/events?limit=2", "", nil)
	next := page["next"].(string)
	out, errOut = run("events", "--limit", "2")
	if !strings.Contains(errOut, "--after "+next) || strings.Count(out, "evt_") != 2 {
		t.Fatalf("storm events --limit 2: stdout\n%s\nstderr %q", out, errOut)
	}
	out, _ = run("events", "--limit", "2", "--after", next)
	if strings.Contains(out, next) || strings.Count(out, "evt_") != 2 {
		t.Errorf("storm events --after %s:\n%s", next, out)
	}
}
