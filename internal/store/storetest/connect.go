package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

// connectLink returns a link to integrationID (or, with providers, one
// that creates an integration) whose secret hashes from secret.
func connectLink(workspaceID, integrationID, secret string, providers ...string) store.ConnectLink {
	return store.ConnectLink{
		ID: store.NewID("cnl"), WorkspaceID: workspaceID, IntegrationID: integrationID, Providers: providers,
		Name: "Acme", Hash: stateHash(secret), ReturnURL: "https://app.example.com/done?x=1", CreatedBy: "tok_creator",
		CreatedAt: t0, ExpiresAt: t1,
	}
}

func linkIDs(ls []store.ConnectLink) []string {
	out := make([]string, 0, len(ls))
	for _, l := range ls {
		out = append(out, l.ID)
	}
	return out
}

func testConnectLinks(t *testing.T, s store.Store) {
	ctx := t.Context()
	ws := newWorkspace(t, s, "acme")
	in := newIntegration(t, s, ws.ID, "GitHub")

	l := connectLink(ws.ID, in.ID, "secret-one")
	must(t, s.CreateConnectLink(ctx, l), "CreateConnectLink")
	l.Revision = 1
	got, err := s.GetConnectLink(ctx, l.ID)
	must(t, err, "GetConnectLink")
	wantEqual(t, got, l, "GetConnectLink")
	got, err = s.GetConnectLinkByHash(ctx, stateHash("secret-one"))
	must(t, err, "GetConnectLinkByHash")
	wantEqual(t, got, l, "GetConnectLinkByHash")
	if got.Creates() {
		t.Error("a link to an existing integration reports Creates")
	}

	// A link that creates an integration keeps its providers in order
	// and has no integration yet.
	c := connectLink(ws.ID, "", "secret-two", "stripe", "github")
	must(t, s.CreateConnectLink(ctx, c), "CreateConnectLink(creates)")
	c.Revision = 1
	got, err = s.GetConnectLink(ctx, c.ID)
	must(t, err, "GetConnectLink(creates)")
	wantEqual(t, got, c, "GetConnectLink(creates)")
	if !got.Creates() || got.IntegrationID != "" {
		t.Errorf("creating link: Creates %v, integration %q", got.Creates(), got.IntegrationID)
	}

	dupHash := connectLink(ws.ID, in.ID, "secret-one")
	wantErr(t, s.CreateConnectLink(ctx, dupHash), store.ErrConflict, "CreateConnectLink with a taken hash")
	dupID := connectLink(ws.ID, in.ID, "secret-three")
	dupID.ID = l.ID
	wantErr(t, s.CreateConnectLink(ctx, dupID), store.ErrConflict, "CreateConnectLink with a taken id")
	wantErr(t, s.CreateConnectLink(ctx, connectLink(store.NewID("ws"), in.ID, "secret-four")), store.ErrNotFound, "CreateConnectLink in an unknown workspace")
	_, err = s.GetConnectLink(ctx, store.NewID("cnl"))
	wantErr(t, err, store.ErrNotFound, "GetConnectLink(unknown)")
	_, err = s.GetConnectLinkByHash(ctx, stateHash("guessed"))
	wantErr(t, err, store.ErrNotFound, "GetConnectLinkByHash(guessed)")

	// Update is a compare-and-swap whose every field but the fixed ones
	// is stored; a failing fn stores nothing.
	up, err := s.UpdateConnectLink(ctx, c.ID, func(cur store.ConnectLink) (store.ConnectLink, error) {
		cur.IntegrationID, cur.UsedAt, cur.Failures, cur.LastError = in.ID, t1, 3, "the provider refused the key"
		cur.ClaimedUntil, cur.LockedAt, cur.ExpiresAt = t2, t2, t2
		cur.Hash, cur.CreatedBy = stateHash("changed"), "tok_other" // never change
		return cur, nil
	})
	must(t, err, "UpdateConnectLink")
	want := c
	want.IntegrationID, want.UsedAt, want.Failures, want.LastError = in.ID, t1, 3, "the provider refused the key"
	want.ClaimedUntil, want.LockedAt, want.ExpiresAt, want.Revision = t2, t2, t2, 2
	wantEqual(t, up, want, "UpdateConnectLink")
	_, err = s.UpdateConnectLink(ctx, c.ID, func(cur store.ConnectLink) (store.ConnectLink, error) {
		cur.Failures = 99
		return cur, errBoom
	})
	wantErr(t, err, errBoom, "UpdateConnectLink whose fn fails")
	got, err = s.GetConnectLink(ctx, c.ID)
	must(t, err, "GetConnectLink after a failed update")
	wantEqual(t, got, want, "GetConnectLink after a failed update")
	_, err = s.UpdateConnectLink(ctx, store.NewID("cnl"), func(cur store.ConnectLink) (store.ConnectLink, error) { return cur, nil })
	wantErr(t, err, store.ErrNotFound, "UpdateConnectLink(unknown)")
}

// Listing pages through a workspace's (or one integration's) links in id
// order and leaves deleted ones out.
func testListConnectLinks(t *testing.T, s store.Store) {
	ctx := t.Context()
	wsA, wsB := newWorkspace(t, s, "a"), newWorkspace(t, s, "b")
	inA1, inA2 := newIntegration(t, s, wsA.ID, "one"), newIntegration(t, s, wsA.ID, "two")
	inB := newIntegration(t, s, wsB.ID, "three")
	var all, ofOne []string
	for i := range 7 {
		var l store.ConnectLink
		switch i % 3 {
		case 0:
			l = connectLink(wsA.ID, inA1.ID, fmt.Sprint("a1-", i))
			ofOne = append(ofOne, l.ID)
		case 1:
			l = connectLink(wsA.ID, inA2.ID, fmt.Sprint("a2-", i))
		default:
			l = connectLink(wsA.ID, "", fmt.Sprint("new-", i), "stripe")
		}
		must(t, s.CreateConnectLink(ctx, l), "CreateConnectLink")
		all = append(all, l.ID)
	}
	must(t, s.CreateConnectLink(ctx, connectLink(wsB.ID, inB.ID, "b")), "CreateConnectLink(b)")
	// One deleted link is left out of every listing.
	gone := connectLink(wsA.ID, inA1.ID, "deleted")
	gone.DeletedAt = t1
	must(t, s.CreateConnectLink(ctx, gone), "CreateConnectLink(deleted)")
	slices.Sort(all)
	slices.Sort(ofOne)

	var paged []string
	after := ""
	for {
		page, err := s.ListConnectLinks(ctx, store.ConnectLinkPage{WorkspaceID: wsA.ID, After: after, Limit: 3})
		must(t, err, "ListConnectLinks")
		if len(page) > 3 {
			t.Fatalf("page of %d > limit 3", len(page))
		}
		paged = append(paged, linkIDs(page)...)
		if len(page) < 3 {
			break
		}
		after = page[len(page)-1].ID
	}
	if !slices.Equal(paged, all) {
		t.Errorf("paged listing = %v, want %v", paged, all)
	}
	got, err := s.ListConnectLinks(ctx, store.ConnectLinkPage{WorkspaceID: wsA.ID, IntegrationID: inA1.ID})
	must(t, err, "ListConnectLinks(integration)")
	if !slices.Equal(linkIDs(got), ofOne) {
		t.Errorf("integration's links = %v, want %v", linkIDs(got), ofOne)
	}
	got, err = s.ListConnectLinks(ctx, store.ConnectLinkPage{WorkspaceID: wsB.ID, IntegrationID: inA1.ID})
	must(t, err, "ListConnectLinks(other workspace)")
	if len(got) != 0 {
		t.Errorf("another workspace's integration listed %v", linkIDs(got))
	}
}

// runConnectConcurrency: a link is single use however many attempts race
// for it; the compare-and-swap lets exactly one claim it.
func runConnectConcurrency(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("ClaimConnectLink", func(t *testing.T) {
		s := newStore(t)
		ws := newWorkspace(t, s, "acme")
		in := newIntegration(t, s, ws.ID, "GitHub")
		l := connectLink(ws.ID, in.ID, "race")
		must(t, s.CreateConnectLink(t.Context(), l), "CreateConnectLink")
		errTaken := errors.New("taken")
		winners := race(t, 16, func(i int) (string, bool, error) {
			_, err := s.UpdateConnectLink(t.Context(), l.ID, func(cur store.ConnectLink) (store.ConnectLink, error) {
				if !cur.UsedAt.IsZero() {
					return cur, errTaken
				}
				cur.UsedAt, cur.LastError = time.Now(), fmt.Sprint("worker ", i)
				return cur, nil
			})
			if errors.Is(err, errTaken) {
				return "", false, nil
			}
			return fmt.Sprint("worker ", i), err == nil, err
		})
		got, err := s.GetConnectLink(t.Context(), l.ID)
		must(t, err, "GetConnectLink")
		if len(winners) != 1 || got.LastError != winners[0] {
			t.Errorf("winners %v, stored %q: want exactly one", winners, got.LastError)
		}
	})
}

// testConnectLinkForgetting: creating a link forgets links expired for
// longer than store.ConnectLinkForgetAfter, at most
// store.ConnectLinkPurgeBatch at a time and oldest first, and keeps the
// rest (a recently expired link still says "expired").
func testConnectLinkForgetting(t *testing.T, s store.Store) {
	ctx := t.Context()
	ws := newWorkspace(t, s, "acme")
	in := newIntegration(t, s, ws.ID, "GitHub")
	now := t0.Add(365 * 24 * time.Hour)

	old := make([]store.ConnectLink, store.ConnectLinkPurgeBatch+5)
	for i := range old {
		old[i] = connectLink(ws.ID, in.ID, fmt.Sprintf("old-%d", i))
		old[i].ExpiresAt = now.Add(-store.ConnectLinkForgetAfter - time.Duration(len(old)-i)*time.Minute)
		must(t, s.CreateConnectLink(ctx, old[i]), "CreateConnectLink(old)")
	}
	recent := connectLink(ws.ID, in.ID, "recent")
	recent.ExpiresAt = now.Add(-store.ConnectLinkForgetAfter + time.Minute)
	must(t, s.CreateConnectLink(ctx, recent), "CreateConnectLink(recent)")

	fresh := connectLink(ws.ID, in.ID, "fresh")
	fresh.CreatedAt, fresh.ExpiresAt = now, now.Add(time.Hour)
	must(t, s.CreateConnectLink(ctx, fresh), "CreateConnectLink(fresh)")

	gone := 0
	for i, l := range old {
		_, err := s.GetConnectLink(ctx, l.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			gone++
			if i >= store.ConnectLinkPurgeBatch {
				t.Errorf("old link %d forgotten before older ones", i)
			}
		case err != nil:
			t.Fatal(err)
		}
	}
	if gone != store.ConnectLinkPurgeBatch {
		t.Errorf("one creation forgot %d old links, want %d", gone, store.ConnectLinkPurgeBatch)
	}
	for _, l := range []store.ConnectLink{recent, fresh} {
		if _, err := s.GetConnectLink(ctx, l.ID); err != nil {
			t.Errorf("link expiring %v: %v (it must stay)", l.ExpiresAt, err)
		}
	}
}
