package api_test

import (
	"os"

	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/stormcreds/storm/internal/server/servertest"
	"github.com/stormcreds/storm/internal/store"
)

// walkPages follows a list endpoint's pages of size limit and returns
// every id in the order served. Each page holds at most limit items, a
// page with next holds exactly limit and names its last item, and the
// walk ends at the first page without next.
func walkPages(t *testing.T, env *servertest.Env, path, key string, limit int) []string {
	t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	var ids []string
	after := ""
	for range 200 {
		q := path + sep + "limit=" + fmt.Sprint(limit)
		if after != "" {
			q += "&after=" + url.QueryEscape(after)
		}
		r := env.Do(http.MethodGet, q, "", nil)
		if r.Status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", q, r.Status, r.Body)
		}
		page := r.JSON(t)
		list, _ := page[key].([]any)
		if len(list) > limit {
			t.Fatalf("GET %s: %d items", q, len(list))
		}
		for _, v := range list {
			ids = append(ids, v.(map[string]any)["id"].(string))
		}
		next, ok := page["next"]
		if !ok {
			return ids
		}
		if len(list) != limit || next != list[len(list)-1].(map[string]any)["id"] {
			t.Fatalf("GET %s: next %v on a page of %d", q, next, len(list))
		}
		after = next.(string)
	}
	t.Fatalf("%s: the pages never end", path)
	return nil
}

// wantLimitErrors: limit 0, negative, above 1000 and not a number are
// each a 400 problem naming the field limit.
func wantLimitErrors(t *testing.T, env *servertest.Env, path string) {
	t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	for _, bad := range []string{"0", "-1", "1001", "ten", "1.5"} {
		r := env.Do(http.MethodGet, path+sep+"limit="+bad, "", nil)
		if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), `"field":"limit"`) {
			t.Errorf("GET %s limit=%s: %d %s, want a 400 naming limit", path, bad, r.Status, r.Body)
		}
	}
}

func allPages(t *testing.T, env *servertest.Env, path, key string) []string {
	t.Helper()
	r := env.Do(http.MethodGet, path, "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
	}
	page := r.JSON(t)
	if _, ok := page["next"]; ok {
		t.Fatalf("GET %s: next on a single page: %v", path, page["next"])
	}
	var ids []string
	for _, v := range page[key].([]any) {
		ids = append(ids, v.(map[string]any)["id"].(string))
	}
	return ids
}

// TestListPagination: each list endpoint walked in pages of 1, 2 and 3
// returns every item exactly once, in the list's order, with next absent
// on the last page; the same as one page of the default size.
func TestListPagination(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	ctx := t.Context()
	st := env.Server.Store
	env.Must(201, "POST", "/v1/workspaces", "", map[string]any{"name": "acme"})
	for i := range 4 {
		env.Must(201, "POST", "/v1/workspaces", "", map[string]any{"name": fmt.Sprintf("w%d", i)})
	}
	up := servertest.NewUpstream(t)
	var integs []string
	for i := range 7 {
		integs = append(integs, env.CustomIntegration(fmt.Sprintf("Page %d", i), up))
	}
	env.Must(201, "POST", "/v1/integrations", "", map[string]any{"workspace": "acme", "name": "elsewhere", "provider": "custom", "auth_method": "api_key",
		"config": map[string]any{"base_url": up.URL, "api_key": map[string]any{"in": "header", "name": "Authorization"}}})
	integ := integs[0]
	for i := range 5 {
		key := fmt.Sprintf("page-key-%d-aaaaaaaaaaaa", i)
		env.Must(200, "PUT", "/v1/integrations/"+integ+"/credentials?verify=false", "", map[string]any{"api_key": key})
	}
	def, err := st.GetWorkspace(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	var hooks []string
	for range 5 {
		h, err := st.CreateWebhook(ctx, store.Webhook{ID: store.NewID("wh"), WorkspaceID: def.ID, URL: "https://hooks.example/x",
			Secret: []byte("ciphertext"), CreatedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		hooks = append(hooks, h.ID)
	}
	_, err = st.UpdateWebhook(ctx, hooks[0], func(ch *store.WebhookChange) error {
		for i := range 7 {
			ch.Deliveries = append(ch.Deliveries, store.WebhookDelivery{EventID: fmt.Sprintf("evt_%d", i), EventType: "integration.created", Attempt: 1, StatusCode: 200, At: time.Now()})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		path, key string
		min       int
		sorted    bool // in id order; else in the store's own order (versions, log)
	}{
		{"/v1/workspaces", "workspaces", 6, true},
		{"/v1/integrations", "integrations", 7, true},
		{"/v1/integrations?workspace=acme", "integrations", 1, true},
		{"/v1/integrations?status=pending", "integrations", 6, true},
		{"/v1/integrations/" + integ + "/credentials", "credentials", 5, false},
		{"/v1/webhooks", "webhooks", 5, true},
		{"/v1/webhooks/" + hooks[0] + "/deliveries", "deliveries", 7, false},
		{"/v1/events", "events", 8, false},
		{"/v1/events?integration=" + integ, "events", 5, false},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			want := allPages(t, env, c.path, c.key)
			if len(want) < c.min {
				t.Fatalf("%d items, want at least %d", len(want), c.min)
			}
			if c.sorted && !slices.IsSorted(want) {
				t.Errorf("not in id order: %v", want)
			}
			for _, limit := range []int{1, 2, 3} {
				got := walkPages(t, env, c.path, c.key, limit)
				if !slices.Equal(got, want) {
					t.Errorf("limit %d: walked %v, want %v", limit, got, want)
				}
			}
			// Exactly one full page: no next.
			r := env.Do(http.MethodGet, c.path+sepOf(c.path)+"limit="+fmt.Sprint(len(want)), "", nil).JSON(t)
			if _, ok := r["next"]; ok {
				t.Errorf("next on a last page that is full: %v", r["next"])
			}
			wantLimitErrors(t, env, c.path)
		})
	}
}

// TestListIntegrationsByStatus: ?status= keeps the integrations of that
// status only (read from their own index, so a rare status still fills
// a page at 100,000 integrations); an unknown status is a 400 naming it.
func TestListIntegrationsByStatus(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	up := servertest.NewUpstream(t)
	var connected []string
	for i := range 5 {
		id := env.CustomIntegration(fmt.Sprintf("Status %d", i), up)
		if i%2 == 0 {
			env.Must(200, "PUT", "/v1/integrations/"+id+"/credentials?verify=false", "", map[string]any{"api_key": fmt.Sprintf("status-key-%d-aaaaaaaaaaaa", i)})
			connected = append(connected, id)
		}
	}
	for status, want := range map[string]int{"connected": 3, "pending": 2, "disabled": 0} {
		got := allPages(t, env, "/v1/integrations?status="+status, "integrations")
		if len(got) != want {
			t.Errorf("status=%s: %d integrations, want %d", status, len(got), want)
		}
		if status == "connected" && !slices.Equal(got, slices.Sorted(slices.Values(connected))) {
			t.Errorf("status=connected: %v, want %v", got, connected)
		}
	}
	r := env.Do(http.MethodGet, "/v1/integrations?status=broken", "", nil)
	if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "status") {
		t.Errorf("status=broken: %d %s", r.Status, r.Body)
	}
}

func sepOf(path string) string {
	if strings.Contains(path, "?") {
		return "&"
	}
	return "?"
}

// TestListPaginationCursors: in lists ordered by id, after is a position,
// so a cursor whose item was deleted still continues the walk; in
// numbered lists (credential versions, deliveries, events) after must
// name an item of the list, else 400 naming after.
func TestListPaginationCursors(t *testing.T) {
	env := servertest.Start(t, servertest.Options{NoBackground: true})
	up := servertest.NewUpstream(t)
	var ids []string
	for i := range 4 {
		ids = append(ids, env.CustomIntegration(fmt.Sprintf("Cursor %d", i), up))
	}
	slices.Sort(ids)
	first := env.Must(200, "GET", "/v1/integrations?limit=2", "", nil)
	last := first["next"].(string)
	if last != ids[1] {
		t.Fatalf("next %s, want %s", last, ids[1])
	}
	env.Must(204, "DELETE", "/v1/integrations/"+last, "", nil)
	if got := walkPages(t, env, "/v1/integrations?after="+last, "integrations", 10); !slices.Equal(got, ids[2:]) {
		t.Errorf("after a deleted cursor: %v, want %v", got, ids[2:])
	}
	r := env.Do("GET", "/v1/integrations?after="+strings.Repeat("z", 201), "", nil)
	if r.Status != 400 || !strings.Contains(string(r.Body), `"field":"after"`) {
		t.Errorf("after of 201 bytes: %d %s", r.Status, r.Body)
	}

	for _, path := range []string{
		"/v1/integrations/" + ids[0] + "/credentials?after=cred_unknown",
		"/v1/events?after=evt_unknown",
	} {
		r := env.Do("GET", path, "", nil)
		if r.Status != 400 || !strings.Contains(string(r.Body), `"field":"after"`) {
			t.Errorf("GET %s: %d %s, want a 400 naming after", path, r.Status, r.Body)
		}
	}
}

// TestOpenAPIListsArePaged: openapi.yaml documents limit, after and next
// for every paged list. (GET /v1/audit is documented with its own
// change.)
func TestOpenAPIListsArePaged(t *testing.T) {
	b, err := os.ReadFile("../../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type param struct {
		Name string `yaml:"name"`
		Ref  string `yaml:"$ref"`
	}
	type operation struct {
		Parameters []param `yaml:"parameters"`
		Responses  map[string]struct {
			Content map[string]struct {
				Schema struct {
					Properties map[string]any `yaml:"properties"`
				} `yaml:"schema"`
			} `yaml:"content"`
		} `yaml:"responses"`
	}
	var spec struct {
		Paths map[string]map[string]yaml.Node `yaml:"paths"`
	}
	if err := yaml.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/workspaces", "/v1/tokens", "/v1/integrations", "/v1/integrations/{id}/credentials",
		"/v1/events", "/v1/webhooks", "/v1/webhooks/{id}/deliveries", "/v1/apps", "/v1/connect", "/v1/integrations/{id}/connect", "/v1/audit",
		"/v1/apps/{id}/integrations", "/v1/apps/{id}/secrets"} {
		node, ok := spec.Paths[path]["get"]
		var op operation
		if !ok || node.Decode(&op) != nil {
			t.Errorf("GET %s is not in openapi.yaml", path)
			continue
		}
		names := map[string]bool{}
		for _, p := range op.Parameters {
			names[p.Name] = true
			if p.Ref == "#/components/parameters/Limit" {
				names["limit"] = true
			}
		}
		if !names["limit"] || !names["after"] {
			t.Errorf("GET %s documents parameters %v, want limit and after", path, names)
		}
		if _, ok := op.Responses["200"].Content["application/json"].Schema.Properties["next"]; !ok {
			t.Errorf("GET %s: the 200 answer documents no next", path)
		}
	}
}
