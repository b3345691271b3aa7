package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/store"
)

// walk follows pages of size limit from the first until one comes back
// short, and returns every id read in order. It fails t on a page larger
// than limit or when the walk does not end.
func walk[T any](t *testing.T, what string, limit int, id func(T) string, page func(after string) ([]T, error)) []string {
	t.Helper()
	var ids []string
	after := ""
	for range 1000 {
		list, err := page(after)
		must(t, err, what)
		if len(list) > limit {
			t.Fatalf("%s: page of %d, limit %d", what, len(list), limit)
		}
		for _, v := range list {
			ids = append(ids, id(v))
		}
		if len(list) < limit {
			return ids
		}
		after = id(list[len(list)-1])
	}
	t.Fatalf("%s: the walk does not end", what)
	return nil
}

func sortedIDs(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// testPageLists: every listing walked in small pages returns each record
// exactly once, in its order (id for store.ListPage, number for
// store.VersionPage), and only the records of the workspace or parent
// asked for.
func testPageLists(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newWorkspace(t, s, "a")
	b := newWorkspace(t, s, "b")
	var wsIDs = []string{a.ID, b.ID}
	for i := range 5 {
		wsIDs = append(wsIDs, newWorkspace(t, s, fmt.Sprintf("w%d", i)).ID)
	}
	wsID := func(w store.Workspace) string { return w.ID }
	got := walk(t, "PageWorkspaces", 3, wsID, func(after string) ([]store.Workspace, error) {
		return s.PageWorkspaces(ctx, store.ListPage{After: after, Limit: 3})
	})
	wantEqual(t, got, sortedIDs(wsIDs), "PageWorkspaces walk")

	var inA, all []string
	for i := range 7 {
		inA = append(inA, newIntegration(t, s, a.ID, fmt.Sprintf("a%d", i)).ID)
	}
	all = append(all, inA...)
	for i := range 4 {
		all = append(all, newIntegration(t, s, b.ID, fmt.Sprintf("b%d", i)).ID)
	}
	integID := func(in store.Integration) string { return in.ID }
	for _, tc := range []struct {
		ws   string
		want []string
	}{{a.ID, inA}, {"", all}} {
		for _, limit := range []int{1, 2, 3, 100} {
			got := walk(t, "PageIntegrations", limit, integID, func(after string) ([]store.Integration, error) {
				return s.PageIntegrations(ctx, store.ListPage{WorkspaceID: tc.ws, After: after, Limit: limit})
			})
			wantEqual(t, got, sortedIDs(tc.want), fmt.Sprintf("PageIntegrations(workspace %q, limit %d) walk", tc.ws, limit))
		}
	}
	// The records themselves, not only their ids.
	first, err := s.PageIntegrations(ctx, store.ListPage{WorkspaceID: a.ID, Limit: 1})
	must(t, err, "PageIntegrations")
	one, err := s.GetIntegration(ctx, sortedIDs(inA)[0])
	must(t, err, "GetIntegration")
	wantEqual(t, first, []store.Integration{one}, "PageIntegrations first page")

	var hooksA, hooks []string
	for range 5 {
		hooksA = append(hooksA, newWebhook(t, s, a.ID).ID)
	}
	hooks = append(append(hooks, hooksA...), newWebhook(t, s, b.ID).ID, newWebhook(t, s, b.ID).ID)
	whID := func(w store.Webhook) string { return w.ID }
	for _, tc := range []struct {
		ws   string
		want []string
	}{{a.ID, hooksA}, {"", hooks}} {
		got := walk(t, "PageWebhooks", 2, whID, func(after string) ([]store.Webhook, error) {
			return s.PageWebhooks(ctx, store.ListPage{WorkspaceID: tc.ws, After: after, Limit: 2})
		})
		wantEqual(t, got, sortedIDs(tc.want), fmt.Sprintf("PageWebhooks(workspace %q) walk", tc.ws))
	}
}

// testPageCursorDeleted: a ListPage cursor is a position, so the record
// it names may be deleted between two pages without any record being
// skipped or repeated.
func testPageCursorDeleted(t *testing.T, s store.Store) {
	ctx := t.Context()
	ws := newWorkspace(t, s, "a")
	var ids []string
	for i := range 6 {
		ids = append(ids, newIntegration(t, s, ws.ID, fmt.Sprintf("i%d", i)).ID)
	}
	ids = sortedIDs(ids)
	page, err := s.PageIntegrations(ctx, store.ListPage{WorkspaceID: ws.ID, Limit: 3})
	must(t, err, "PageIntegrations")
	last := page[len(page)-1].ID
	must(t, s.DeleteIntegration(ctx, last), "DeleteIntegration")
	page, err = s.PageIntegrations(ctx, store.ListPage{WorkspaceID: ws.ID, After: last, Limit: 3})
	must(t, err, "PageIntegrations after a deleted cursor")
	var got []string
	for _, in := range page {
		got = append(got, in.ID)
	}
	wantEqual(t, got, ids[3:], "page after a deleted cursor")

	// Past the end is an empty page, not an error.
	page, err = s.PageIntegrations(ctx, store.ListPage{After: strings.Repeat("z", 40), Limit: 3})
	must(t, err, "PageIntegrations past the end")
	wantEqual(t, len(page), 0, "page past the end")
}

// testPageVersions: an integration's credential versions page in version
// order and a webhook's deliveries newest first; a cursor that is not
// one of the parent's records is ErrNotFound.
func testPageVersions(t *testing.T, s store.Store) {
	ctx := t.Context()
	ws := newWorkspace(t, s, "a")
	in := newIntegration(t, s, ws.ID, "one")
	other := newIntegration(t, s, ws.ID, "two")
	for i := range 7 {
		newCredential(t, s, in.ID, fmt.Appendf(nil, "secret %d", i))
	}
	otherCred := newCredential(t, s, other.ID, []byte("other"))
	all, err := s.ListCredentials(ctx, in.ID)
	must(t, err, "ListCredentials")
	var want []string
	for _, c := range all {
		want = append(want, c.ID)
	}
	credID := func(c store.Credential) string { return c.ID }
	for _, limit := range []int{1, 3, 7, 100} {
		got := walk(t, "PageCredentials", limit, credID, func(after string) ([]store.Credential, error) {
			return s.PageCredentials(ctx, store.VersionPage{Parent: in.ID, After: after, Limit: limit})
		})
		wantEqual(t, got, want, fmt.Sprintf("PageCredentials(limit %d) walk", limit))
	}
	page, err := s.PageCredentials(ctx, store.VersionPage{Parent: in.ID, Limit: 2})
	must(t, err, "PageCredentials")
	wantEqual(t, page, all[:2], "PageCredentials first page")
	_, err = s.PageCredentials(ctx, store.VersionPage{Parent: in.ID, After: store.NewID("cred")})
	wantErr(t, err, store.ErrNotFound, "PageCredentials after an unknown id")
	_, err = s.PageCredentials(ctx, store.VersionPage{Parent: in.ID, After: otherCred.ID})
	wantErr(t, err, store.ErrNotFound, "PageCredentials after another integration's credential")

	w := newWebhook(t, s, ws.ID)
	w2 := newWebhook(t, s, ws.ID)
	for _, id := range []string{w.ID, w2.ID} {
		_, err = s.UpdateWebhook(ctx, id, func(ch *store.WebhookChange) error {
			for i := range 8 {
				ch.Deliveries = append(ch.Deliveries, store.WebhookDelivery{EventID: fmt.Sprintf("evt_%d", i), Attempt: 1, At: t0})
			}
			return nil
		})
		must(t, err, "UpdateWebhook")
	}
	ds, err := s.ListWebhookDeliveries(ctx, store.VersionPage{Parent: w.ID, Limit: 100})
	must(t, err, "ListWebhookDeliveries")
	want = want[:0]
	for i, d := range ds {
		want = append(want, d.ID)
		if i > 0 && d.Number >= ds[i-1].Number {
			t.Errorf("deliveries not newest first: %d after %d", d.Number, ds[i-1].Number)
		}
	}
	wantEqual(t, len(want), 8, "deliveries")
	delID := func(d store.WebhookDelivery) string { return d.ID }
	for _, limit := range []int{1, 3, 8} {
		got := walk(t, "ListWebhookDeliveries", limit, delID, func(after string) ([]store.WebhookDelivery, error) {
			return s.ListWebhookDeliveries(ctx, store.VersionPage{Parent: w.ID, After: after, Limit: limit})
		})
		wantEqual(t, got, want, fmt.Sprintf("ListWebhookDeliveries(limit %d) walk", limit))
	}
	other2, err := s.ListWebhookDeliveries(ctx, store.VersionPage{Parent: w2.ID, Limit: 1})
	must(t, err, "ListWebhookDeliveries")
	_, err = s.ListWebhookDeliveries(ctx, store.VersionPage{Parent: w.ID, After: other2[0].ID})
	wantErr(t, err, store.ErrNotFound, "ListWebhookDeliveries after another webhook's delivery")
	_, err = s.ListWebhookDeliveries(ctx, store.VersionPage{Parent: w.ID, After: "whd_unknown"})
	wantErr(t, err, store.ErrNotFound, "ListWebhookDeliveries after an unknown id")
}
