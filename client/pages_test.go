package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
)

// pagedServer serves n integrations as the API does: limit and after,
// next on every page but the last. It records the queries it saw.
func pagedServer(t *testing.T, n int) (*Client, *[]string) {
	t.Helper()
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.RawQuery)
		mu.Unlock()
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		limit = min(limit, 3) // a server may answer fewer than asked
		start := 0
		if a := r.URL.Query().Get("after"); a != "" {
			start, _ = strconv.Atoi(a[len("int_"):])
			start++
		}
		var items []map[string]any
		for i := start; i < n && len(items) < limit; i++ {
			items = append(items, map[string]any{"id": fmt.Sprintf("int_%03d", i)})
		}
		body := map[string]any{"integrations": items}
		if start+len(items) < n {
			body["next"] = items[len(items)-1]["id"]
		}
		json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, testToken)
	if err != nil {
		t.Fatal(err)
	}
	return c, &seen
}

// TestIntegrationsFollowsPages: Integrations reads every page, passing
// each page's Next as the following After, and returns every item once.
func TestIntegrationsFollowsPages(t *testing.T) {
	c, seen := pagedServer(t, 8)
	list, err := c.Integrations(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, in := range list {
		ids = append(ids, in.ID)
	}
	var want []string
	for i := range 8 {
		want = append(want, fmt.Sprintf("int_%03d", i))
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("Integrations = %v, want %v", ids, want)
	}
	wantQ := []string{"limit=1000&workspace=acme", "after=int_002&limit=1000&workspace=acme", "after=int_005&limit=1000&workspace=acme"}
	if !slices.Equal(*seen, wantQ) {
		t.Errorf("queries %v, want %v", *seen, wantQ)
	}
}

// TestIntegrationPage: one page carries its Next; the last page none.
func TestIntegrationPage(t *testing.T) {
	c, _ := pagedServer(t, 4)
	p, err := c.IntegrationPage(context.Background(), ListFilter{Limit: 2})
	if err != nil || len(p.Items) != 2 || p.Next != "int_001" {
		t.Fatalf("first page = %+v, %v", p, err)
	}
	p, err = c.IntegrationPage(context.Background(), ListFilter{Limit: 2, After: p.Next})
	if err != nil || len(p.Items) != 2 || p.Next != "" {
		t.Fatalf("last page = %+v, %v", p, err)
	}
}
