package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

// testOAuthRegistrations: one registration per workspace, issuer and
// redirect URI (a second is ErrConflict), found only with all three,
// round-trips every field, an unknown workspace is ErrNotFound, delete.
func testOAuthRegistrations(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newWorkspace(t, s, "a")
	b := newWorkspace(t, s, "b")
	const iss, redirect = "https://as.example.com/tenant", "https://storm.example.com/oauth/callback"
	g := store.OAuthRegistration{ID: store.NewID("reg"), WorkspaceID: a.ID, Issuer: iss, RedirectURI: redirect,
		ClientID: "client-1", AuthMethod: "client_secret_basic", Secret: []byte{1, 2, 3}, CreatedAt: t0, ExpiresAt: t2}
	must(t, s.CreateOAuthRegistration(ctx, g), "CreateOAuthRegistration")

	got, err := s.GetOAuthRegistration(ctx, a.ID, iss, redirect)
	must(t, err, "GetOAuthRegistration")
	if got.ID != g.ID || got.ClientID != g.ClientID || got.AuthMethod != g.AuthMethod || string(got.Secret) != string(g.Secret) ||
		!got.CreatedAt.Equal(t0.Truncate(time.Microsecond)) || !got.ExpiresAt.Equal(t2.Truncate(time.Microsecond)) || got.CreatedAt.Location() != time.UTC {
		t.Fatalf("got %+v, want %+v", got, g)
	}
	dup := g
	dup.ID, dup.ClientID = store.NewID("reg"), "client-2"
	if err := s.CreateOAuthRegistration(ctx, dup); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second registration for the same server: %v, want ErrConflict", err)
	}
	// Another workspace, or another redirect URI, is another client.
	other := dup
	other.WorkspaceID = b.ID
	must(t, s.CreateOAuthRegistration(ctx, other), "registration in another workspace")
	moved := dup
	moved.ID, moved.RedirectURI, moved.ExpiresAt = store.NewID("reg"), "https://new.example.com/oauth/callback", time.Time{}
	must(t, s.CreateOAuthRegistration(ctx, moved), "registration for another redirect URI")
	if got, err := s.GetOAuthRegistration(ctx, a.ID, iss, moved.RedirectURI); err != nil || !got.ExpiresAt.IsZero() {
		t.Fatalf("zero expiry: %+v, %v", got, err)
	}
	if _, err := s.GetOAuthRegistration(ctx, b.ID, iss+"/other", redirect); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown issuer: %v", err)
	}
	ghost := g
	ghost.ID, ghost.WorkspaceID = store.NewID("reg"), "ws_missing"
	if err := s.CreateOAuthRegistration(ctx, ghost); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown workspace: %v, want ErrNotFound", err)
	}
	must(t, s.DeleteOAuthRegistration(ctx, g.ID), "DeleteOAuthRegistration")
	if _, err := s.GetOAuthRegistration(ctx, a.ID, iss, redirect); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if err := s.DeleteOAuthRegistration(ctx, g.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	// The slot is free again.
	g.ID = store.NewID("reg")
	must(t, s.CreateOAuthRegistration(ctx, g), "registration after delete")
}
