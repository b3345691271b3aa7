package server_test

import (
	"fmt"
	"net/url"
	"slices"
	"testing"

	"github.com/stormcreds/storm/internal/oauth/oauthtest"
	"github.com/stormcreds/storm/internal/server/servertest"
)

// TestAppListsArePaged (issue 14): an app's integrations (in id order)
// and its secret versions (in version order) come a page at a time, like
// every other list, so an app used by 100,000 integrations answers one
// page; a cursor that is not one of the app's secrets is a 400.
func TestAppListsArePaged(t *testing.T) { backends(t, testAppListsArePaged) }

func testAppListsArePaged(t *testing.T, opts servertest.Options) {
	opts.NoBackground = true
	o := startOAuth(t, opts, oauthtest.Options{})
	app := o.createApp("Paged app", oauthtest.DefaultClientSecret)
	var integs []string
	for i := range 5 {
		integs = append(integs, o.appIntegration(fmt.Sprintf("paged %d", i), app))
	}
	slices.Sort(integs)
	o.Must(201, "POST", "/v1/apps/"+app+"/secrets", "", map[string]any{"client_secret": "second-secret-abcdefgh"})

	walk := func(path, key string, limit int) []string {
		t.Helper()
		var ids []string
		after := ""
		for range 20 {
			q := fmt.Sprintf("%s?limit=%d", path, limit)
			if after != "" {
				q += "&after=" + url.QueryEscape(after)
			}
			page := o.Must(200, "GET", q, "", nil)
			list, _ := page[key].([]any)
			if len(list) > limit {
				t.Fatalf("GET %s: %d items", q, len(list))
			}
			for _, v := range list {
				ids = append(ids, v.(map[string]any)["id"].(string))
			}
			next, ok := page["next"].(string)
			if !ok {
				return ids
			}
			after = next
		}
		t.Fatalf("%s: the pages never end", path)
		return nil
	}
	for _, limit := range []int{1, 2, 5} {
		if got := walk("/v1/apps/"+app+"/integrations", "integrations", limit); !slices.Equal(got, integs) {
			t.Errorf("integrations, limit %d: %v, want %v", limit, got, integs)
		}
	}
	all := secretsOf(t, o.Env, app)
	var want []string
	for _, x := range all {
		want = append(want, x["id"].(string))
	}
	if len(want) != 2 {
		t.Fatalf("secrets: %v", all)
	}
	if got := walk("/v1/apps/"+app+"/secrets", "secrets", 1); !slices.Equal(got, want) {
		t.Errorf("secrets, limit 1: %v, want %v", got, want)
	}
	if r := o.Do("GET", "/v1/apps/"+app+"/secrets?after="+integs[0], "", nil); r.Status != 400 {
		t.Errorf("secrets after an integration's id: %d %s", r.Status, r.Body)
	}
}
