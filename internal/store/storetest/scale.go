package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stormcreds/storm/internal/store"
)

// testScaleReads: the reads that keep a page's cost flat at 100,000
// integrations: versions newest first, integrations of one status, and
// the active versions of a page of integrations in one query.
func testScaleReads(t *testing.T, s store.Store) {
	ctx := t.Context()
	ws := newWorkspace(t, s, "a")
	other := newWorkspace(t, s, "b")
	var integs []store.Integration
	for i := range 6 {
		integs = append(integs, newIntegration(t, s, ws.ID, fmt.Sprintf("scale %d", i)))
	}
	elsewhere := newIntegration(t, s, other.ID, "elsewhere")
	slices.SortFunc(integs, func(a, b store.Integration) int { return strings.Compare(a.ID, b.ID) })

	// Versions newest first, walked with After.
	in := integs[0]
	for i := range 5 {
		newCredential(t, s, in.ID, fmt.Appendf(nil, "secret %d", i))
	}
	all, err := s.ListCredentials(ctx, in.ID)
	must(t, err, "ListCredentials")
	var want []string
	for i := len(all) - 1; i >= 0; i-- {
		want = append(want, all[i].ID)
	}
	for _, limit := range []int{1, 2, 5} {
		got := walk(t, "PageCredentials(newest)", limit, func(c store.Credential) string { return c.ID }, func(after string) ([]store.Credential, error) {
			return s.PageCredentials(ctx, store.VersionPage{Parent: in.ID, After: after, Limit: limit, Newest: true})
		})
		wantEqual(t, got, want, fmt.Sprintf("PageCredentials(newest, limit %d) walk", limit))
	}

	// Integrations of one status, a page at a time, this workspace only.
	var connected []string
	for _, i := range []int{1, 3, 4} {
		newCredential(t, s, integs[i].ID, []byte("key"))
	}
	elsewhereActive := newCredential(t, s, elsewhere.ID, []byte("key"))
	for _, i := range []int{0, 1, 3, 4} {
		_, err := s.Mutate(ctx, integs[i].ID, func(set *store.CredentialSet) error {
			set.Integration.Status = store.StatusConnected
			return nil
		})
		must(t, err, "Mutate")
		connected = append(connected, integs[i].ID)
	}
	for _, limit := range []int{1, 3, 100} {
		got := walk(t, "PageIntegrations(status)", limit, func(in store.Integration) string { return in.ID }, func(after string) ([]store.Integration, error) {
			return s.PageIntegrations(ctx, store.ListPage{WorkspaceID: ws.ID, Status: store.StatusConnected, After: after, Limit: limit})
		})
		wantEqual(t, got, connected, fmt.Sprintf("PageIntegrations(connected, limit %d) walk", limit))
	}
	_, err = s.PageIntegrations(ctx, store.ListPage{Status: store.StatusConnected})
	if err == nil {
		t.Error("PageIntegrations with a status and no workspace: no error")
	}

	// Active versions of the integrations in (after, through].
	got, err := s.ActiveCredentials(ctx, integs[0].ID, integs[4].ID)
	must(t, err, "ActiveCredentials")
	var gotIntegs []string
	for _, c := range got {
		if c.State != store.StateActive {
			t.Errorf("ActiveCredentials returned a %s version", c.State)
		}
		gotIntegs = append(gotIntegs, c.IntegrationID)
	}
	wantIntegs := []string{integs[1].ID, integs[3].ID, integs[4].ID}
	if elsewhere.ID > integs[0].ID && elsewhere.ID <= integs[4].ID { // every workspace's
		wantIntegs = append(wantIntegs, elsewhere.ID)
		slices.Sort(wantIntegs)
	}
	wantEqual(t, gotIntegs, wantIntegs, "ActiveCredentials(integs 1–4)")
	got, err = s.ActiveCredentials(ctx, "", integs[0].ID)
	must(t, err, "ActiveCredentials")
	want = []string{all[len(all)-1].ID}
	if elsewhere.ID < integs[0].ID { // ids are random: the other workspace's may sort first
		want = []string{elsewhereActive.ID, want[0]}
	}
	var gotIDs []string
	for _, c := range got {
		gotIDs = append(gotIDs, c.ID)
	}
	wantEqual(t, gotIDs, want, "ActiveCredentials up to the first")
}
