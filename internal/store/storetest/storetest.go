package storetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/audit"
	"github.com/stormcreds/storm/internal/store"
)

// Run runs the conformance suite. newStore must return an empty store
// that is closed when its t ends; every subtest gets its own.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Workspaces", testWorkspaces},
		{"APITokens", testAPITokens},
		{"ListAPITokens", testListAPITokens},
		{"UISessions", testUISessions},
		{"Integrations", testIntegrations},
		{"UpdateIntegration", testUpdateIntegration},
		{"TouchIntegration", testTouchIntegration},
		{"DeleteIntegration", testDeleteIntegration},
		{"Mutate", testMutate},
		{"MutateRollback", testMutateRollback},
		{"MutateConflicts", testMutateConflicts},
		{"MutateLiveVersions", testMutateLiveVersions},
		{"UpdateCredential", testUpdateCredential},
		{"Events", testEvents},
		{"EventsDefaultLimit", testEventsDefaultLimit},
		{"Audit", testAudit},
		{"Keyring", testKeyring},
		{"OAuthStates", testOAuthStates},
		{"OAuthStatePurge", testOAuthStatePurge},
		{"Leases", testLeases},
		{"RefreshFields", testRefreshFields},
		{"HoldLease", testHoldLease},
		{"ListDueCredentials", testListDueCredentials},
		{"ListDueVerifications", testListDueVerifications},
		{"ScheduleVerificationRace", testScheduleVerificationRace},
		{"ScheduleVerifications", testScheduleVerifications},
		{"Times", testTimes},
		{"NotFound", testNotFound},
		{"Ping", testPing},
		{"Scan", testScan},
		{"Jobs", testJobs},
		{"KeyUsage", testKeyUsage},
		{"Instances", testInstances},
		{"Webhooks", testWebhooks},
		{"WebhookDeliveryLogBound", testWebhookDeliveryLogBound},
		{"Apps", testApps},
		{"RegisteredApps", testRegisteredApps},
		{"AppIntegrations", testAppIntegrations},
		{"UpdateApp", testUpdateApp},
		{"TouchAppSecret", testTouchAppSecret},
		{"ConnectLinks", testConnectLinks},
		{"ListConnectLinks", testListConnectLinks},
		{"ConnectLinkForgetting", testConnectLinkForgetting},
		{"PageLists", testPageLists},
		{"PageCursorDeleted", testPageCursorDeleted},
		{"PageVersions", testPageVersions},
		{"ScaleReads", testScaleReads},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
	t.Run("Concurrency", func(t *testing.T) {
		runConcurrency(t, newStore)
		runLeaseConcurrency(t, newStore)
		runKeysConcurrency(t, newStore)
		runWebhookConcurrency(t, newStore)
		runAppConcurrency(t, newStore)
		runConnectConcurrency(t, newStore)
	})
}

// t0 has nanoseconds and a zone on purpose: stores must keep at least
// microseconds and return UTC.
var (
	t0 = time.Date(2025, 3, 4, 5, 6, 7, 123456789, time.FixedZone("CET", 3600))
	t1 = t0.Add(time.Hour + 1500*time.Nanosecond)
	t2 = t0.Add(90 * 24 * time.Hour)
)

var errBoom = errors.New("boom")

// fixtures

func newWorkspace(t *testing.T, s store.Store, name string) store.Workspace {
	t.Helper()
	w := store.Workspace{ID: store.NewID("ws"), Name: name, CreatedAt: t0}
	if err := s.CreateWorkspace(t.Context(), w); err != nil {
		t.Fatalf("CreateWorkspace(%s): %v", name, err)
	}
	return w
}

func integration(workspaceID, name string) store.Integration {
	return store.Integration{
		ID:          store.NewID("int"),
		WorkspaceID: workspaceID,
		Name:        name,
		Provider:    "github",
		AuthMethod:  "api_key",
		Config:      []byte(`{"base_url":"https://api.github.com"}`),
		Status:      store.StatusPending,
		CreatedAt:   t0,
		UpdatedAt:   t0,
	}
}

func newIntegration(t *testing.T, s store.Store, workspaceID, name string) store.Integration {
	t.Helper()
	in := integration(workspaceID, name)
	if err := s.CreateIntegration(t.Context(), in); err != nil {
		t.Fatalf("CreateIntegration(%s): %v", name, err)
	}
	got, err := s.GetIntegration(t.Context(), in.ID)
	if err != nil {
		t.Fatalf("GetIntegration: %v", err)
	}
	return got
}

// rotate demotes the active version to previous, any previous to revoked,
// and adds a new active version holding secret.
func rotate(set *store.CredentialSet, secret []byte, at time.Time) {
	next := set.MaxVersion + 1
	for i := range set.Credentials {
		c := &set.Credentials[i]
		switch c.State {
		case store.StateActive:
			c.State = store.StatePrevious
		case store.StatePrevious:
			c.State = store.StateRevoked
			c.RevokedAt = at
		}
	}
	set.Credentials = append(set.Credentials, store.Credential{
		Version:     next,
		State:       store.StateActive,
		Hint:        "…" + fmt.Sprint(next),
		Fingerprint: fmt.Sprintf("fp%d", next),
		Secret:      secret,
		CreatedAt:   at,
		ExpiresAt:   at.Add(time.Hour),
	})
	set.Integration.Status = store.StatusConnected
	set.Integration.UpdatedAt = at
	set.Events = append(set.Events, store.Event{
		Type: "credential.rotated",
		At:   at,
		Data: fmt.Appendf(nil, `{"version":%d}`, next),
	})
}

func newCredential(t *testing.T, s store.Store, integrationID string, secret []byte) store.Credential {
	t.Helper()
	set, err := s.Mutate(t.Context(), integrationID, func(set *store.CredentialSet) error {
		rotate(set, secret, t0)
		return nil
	})
	if err != nil {
		t.Fatalf("Mutate: %v", err)
	}
	return active(t, set.Credentials)
}

func active(t *testing.T, creds []store.Credential) store.Credential {
	t.Helper()
	var found []store.Credential
	for _, c := range creds {
		if c.State == store.StateActive {
			found = append(found, c)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d active credentials, want 1: %+v", len(found), creds)
	}
	return found[0]
}

// assertions

func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error %v, want %v", what, err, target)
	}
}

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// norm makes a record comparable with reflect.DeepEqual: times truncated
// to microseconds in UTC (zero stays zero), empty byte slices nil. It
// walks structs and slices of structs.
func norm[T any](v T) T {
	rv := reflect.ValueOf(&v).Elem()
	normValue(rv)
	return v
}

var (
	timeType  = reflect.TypeFor[time.Time]()
	bytesType = reflect.TypeFor[[]byte]()
)

func normValue(v reflect.Value) {
	switch {
	case v.Type() == timeType:
		tt := v.Interface().(time.Time)
		if tt.IsZero() {
			v.Set(reflect.ValueOf(time.Time{}))
		} else {
			v.Set(reflect.ValueOf(tt.Truncate(time.Microsecond).UTC()))
		}
	case v.Type() == bytesType:
		if v.Len() == 0 {
			v.Set(reflect.Zero(bytesType))
		}
	case v.Kind() == reflect.Struct:
		for i := range v.NumField() {
			normValue(v.Field(i))
		}
	case v.Kind() == reflect.Slice:
		if v.Len() == 0 {
			v.Set(reflect.Zero(v.Type()))
			return
		}
		// Copy first: never modify the caller's backing array.
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(c, v)
		for i := range c.Len() {
			normValue(c.Index(i))
		}
		v.Set(c)
	}
}

func wantEqual[T any](t *testing.T, got, want T, what string) {
	t.Helper()
	if g, w := norm(got), norm(want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

// tests

func testWorkspaces(t *testing.T, s store.Store) {
	ctx := t.Context()
	def := newWorkspace(t, s, "default")
	acme := newWorkspace(t, s, "acme")

	for _, key := range []string{def.ID, def.Name} {
		got, err := s.GetWorkspace(ctx, key)
		must(t, err, "GetWorkspace("+key+")")
		wantEqual(t, got, def, "GetWorkspace("+key+")")
	}
	list, err := s.ListWorkspaces(ctx)
	must(t, err, "ListWorkspaces")
	wantEqual(t, list, []store.Workspace{def, acme}, "ListWorkspaces")

	err = s.CreateWorkspace(ctx, store.Workspace{ID: store.NewID("ws"), Name: "acme", CreatedAt: t0})
	wantErr(t, err, store.ErrConflict, "CreateWorkspace with a taken name")
	err = s.CreateWorkspace(ctx, store.Workspace{ID: acme.ID, Name: "other", CreatedAt: t0})
	wantErr(t, err, store.ErrConflict, "CreateWorkspace with a taken id")
	list, err = s.ListWorkspaces(ctx)
	must(t, err, "ListWorkspaces")
	if len(list) != 2 {
		t.Errorf("after conflicts, %d workspaces, want 2", len(list))
	}
}

func testAPITokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	ws := newWorkspace(t, s, "default")
	hash := sha256.Sum256([]byte("storm_token_secret"))
	tok := store.APIToken{ID: store.NewID("tok"), Name: "ci", WorkspaceID: ws.ID, Role: store.RoleWorker,
		Hash: hash[:], CreatedAt: t0}
	must(t, s.CreateAPIToken(ctx, tok), "CreateAPIToken")

	got, err := s.GetAPITokenByHash(ctx, hash[:])
	must(t, err, "GetAPITokenByHash")
	wantEqual(t, got, tok, "GetAPITokenByHash")
	got, err = s.GetAPIToken(ctx, tok.ID)
	must(t, err, "GetAPIToken")
	wantEqual(t, got, tok, "GetAPIToken")

	other := sha256.Sum256([]byte("another"))
	_, err = s.GetAPITokenByHash(ctx, other[:])
	wantErr(t, err, store.ErrNotFound, "GetAPITokenByHash(unknown)")

	dup := tok
	dup.ID = store.NewID("tok")
	wantErr(t, s.CreateAPIToken(ctx, dup), store.ErrConflict, "CreateAPIToken with a taken hash")
	dup = tok
	dup.Hash = other[:]
	wantErr(t, s.CreateAPIToken(ctx, dup), store.ErrConflict, "CreateAPIToken with a taken id")

	must(t, s.DeleteAPIToken(ctx, tok.ID), "DeleteAPIToken")
	_, err = s.GetAPIToken(ctx, tok.ID)
	wantErr(t, err, store.ErrNotFound, "GetAPIToken after delete")
	_, err = s.GetAPITokenByHash(ctx, hash[:])
	wantErr(t, err, store.ErrNotFound, "GetAPITokenByHash after delete")
	wantErr(t, s.DeleteAPIToken(ctx, tok.ID), store.ErrNotFound, "DeleteAPIToken twice")
}

func testIntegrations(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := newWorkspace(t, s, "a")
	b := newWorkspace(t, s, "b")

	in1 := integration(a.ID, "github")
	in1.SecretConfig = []byte("ciphertext-of-client-secret")
	in1.StatusReason = "waiting for consent"
	must(t, s.CreateIntegration(ctx, in1), "CreateIntegration")
	got, err := s.GetIntegration(ctx, in1.ID)
	must(t, err, "GetIntegration")
	if got.Revision <= 0 {
		t.Errorf("new integration has revision %d, want > 0", got.Revision)
	}
	in1.Revision = got.Revision
	wantEqual(t, got, in1, "GetIntegration")

	in2 := newIntegration(t, s, a.ID, "slack")
	// The same name in another workspace is fine.
	in3 := newIntegration(t, s, b.ID, "github")

	dup := integration(a.ID, "github")
	wantErr(t, s.CreateIntegration(ctx, dup), store.ErrConflict, "CreateIntegration with a name taken in the workspace")
	dup = integration(b.ID, "other")
	dup.ID = in1.ID
	wantErr(t, s.CreateIntegration(ctx, dup), store.ErrConflict, "CreateIntegration with a taken id")
	wantErr(t, s.CreateIntegration(ctx, integration(store.NewID("ws"), "x")), store.ErrNotFound,
		"CreateIntegration in an unknown workspace")
	for _, tc := range []struct {
		workspace, name string
		want            bool
	}{
		{a.ID, in2.Name, true},
		{b.ID, in3.Name, true},
		{b.ID, in2.Name, false}, // taken in another workspace only
		{a.ID, in2.Name + "x", false},
		{store.NewID("ws"), in1.Name, false},
	} {
		taken, err := s.IntegrationNameTaken(ctx, tc.workspace, tc.name)
		must(t, err, "IntegrationNameTaken")
		if taken != tc.want {
			t.Errorf("IntegrationNameTaken(%s, %q) = %v, want %v", tc.workspace, tc.name, taken, tc.want)
		}
	}

	for _, tc := range []struct {
		workspace string
		want      []store.Integration
	}{
		{a.ID, []store.Integration{in1, in2}},
		{b.ID, []store.Integration{in3}},
		{"", []store.Integration{in1, in2, in3}},
		{store.NewID("ws"), nil},
	} {
		list, err := s.ListIntegrations(ctx, tc.workspace)
		must(t, err, "ListIntegrations")
		wantEqual(t, list, tc.want, "ListIntegrations("+tc.workspace+")")
	}
}

func testUpdateIntegration(t *testing.T, s store.Store) {
	ctx := t.Context()
	ws := newWorkspace(t, s, "default")
	in := newIntegration(t, s, ws.ID, "github")
	other := newIntegration(t, s, ws.ID, "slack")

	want := in
	want.Status = store.StatusConnected
	want.StatusReason = ""
	want.Config = []byte(`{"base_url":"https://ghe.example.com"}`)
	want.SecretConfig = []byte("new-ciphertext")
	want.UpdatedAt = t1
	want.LastVerifiedAt = t1
	want.Revision = in.Revision + 1

	got, err := s.UpdateIntegration(ctx, in.ID, func(old store.Integration) (store.Integration, error) {
		wantEqual(t, old, in, "UpdateIntegration fn argument")
		upd := want
		upd.ID = "int_ignored" // ids never change
		upd.Revision = 12345   // callers must not set it; ignored
		return upd, nil
	})
	must(t, err, "UpdateIntegration")
	wantEqual(t, got, want, "UpdateIntegration result")
	stored, err := s.GetIntegration(ctx, in.ID)
	must(t, err, "GetIntegration")
	wantEqual(t, stored, want, "GetIntegration after update")

	_, err = s.UpdateIntegration(ctx, in.ID, func(old store.Integration) (store.Integration, error) {
		old.Status = store.StatusDisabled
		return old, fmt.Errorf("refusing: %w", errBoom)
	})
	wantErr(t, err, errBoom, "UpdateIntegration with a failing fn")
	stored, err = s.GetIntegration(ctx, in.ID)
	must(t, err, "GetIntegration")
	wantEqual(t, stored, want, "GetIntegration after a failed update")

	_, err = s.UpdateIntegration(ctx, in.ID, func(old store.Integration) (store.Integration, error) {
		old.Name = other.Name
		return old, nil
	})
	wantErr(t, err, store.ErrConflict, "UpdateIntegration to a taken name")
	stored, err = s.GetIntegration(ctx, in.ID)
	must(t, err, "GetIntegration")
	wantEqual(t, stored, want, "GetIntegration after a conflicting update")
}

func testTouchIntegration(t *testing.T, s store.Store) {
	ctx := t.Context()
	ws := newWorkspace(t, s, "default")
	in := newIntegration(t, s, ws.ID, "github")

	must(t, s.TouchIntegration(ctx, in.ID, t1), "TouchIntegration")
	got, err := s.GetIntegration(ctx, in.ID)
	must(t, err, "GetIntegration")
	want := in
	want.LastUsedAt = t1 // and nothing else, not even the revision
	wantEqual(t, got, want, "GetIntegration after touch")
}

func testDeleteIntegration(t *testing.T, s store.Store) {
	ctx := t.Context()
	ws := newWorkspace(t, s, "default")
	in := newIntegration(t, s, ws.ID, "github")
	keep := newIntegration(t, s, ws.ID, "slack")
	c1 := newCredential(t, s, in.ID, []byte("ct1"))
	newCredential(t, s, in.ID, []byte("ct2"))
	kept := newCredential(t, s, keep.ID, []byte("ct3"))
	must(t, s.AppendAudit(ctx, store.AuditRecord{WorkspaceID: ws.ID, Actor: "system", Action: "integration.create",
		Target: in.ID, At: t0}), "AppendAudit")

	must(t, s.DeleteIntegration(ctx, in.ID), "DeleteIntegration")
	_, err := s.GetIntegration(ctx, in.ID)
	wantErr(t, err, store.ErrNotFound, "GetIntegration after delete")
	_, err = s.GetCredential(ctx, c1.ID)
	wantErr(t, err, store.ErrNotFound, "GetCredential after its integration was deleted")
	creds, err := s.ListCredentials(ctx, in.ID)
	must(t, err, "ListCredentials")
	if len(creds) != 0 {
		t.Errorf("ListCredentials after delete: %d credentials, want 0", len(creds))
	}
	wantErr(t, s.DeleteIntegration(ctx, in.ID), store.ErrNotFound, "DeleteIntegration twice")

	// The log stays, and other integrations are untouched.
	events, err := s.ListEvents(ctx, store.Page{IntegrationID: in.ID})
	must(t, err, "ListEvents")
	if len(events) != 2 {
		t.Errorf("ListEvents after delete: %d events, want 2", len(events))
	}
	audit, err := s.ListAudit(ctx, store.Page{})
	must(t, err, "ListAudit")
	if len(audit) != 1 {
		t.Errorf("ListAudit after delete: %d records, want 1", len(audit))
	}
	got, err := s.GetCredential(ctx, kept.ID)
	must(t, err, "GetCredential of another integration")
	wantEqual(t, got, kept, "GetCredential of another integration")

	// The name is free again.
	newIntegration(t, s, ws.ID, "github")
}

func testMutate(t *testing.T, s store.Store) {
	ctx := t.Context()
	ws := newWorkspace(t, s, "default")
	in := newIntegration(t, s, ws.ID, "github")

	set, err := s.Mutate(ctx, in.ID, func(set *store.CredentialSet) error {
		wantEqual(t, set.Integration, in, "Mutate fn integration")
		if len(set.Credentials) != 0 || len(set.Events) != 0 || set.MaxVersion != 0 {
			t.Errorf("Mutate fn got %d credentials, %d events and MaxVersion %d, want none", len(set.Credentials), len(set.Events), set.MaxVersion)
		}
		rotate(set, []byte("ct1"), t0)
		set.Credentials[0].VerifiedAt = t0
		return nil
	})
	must(t, err, "Mutate (first version)")
	if set.Integration.Revision != in.Revision+1 || set.Integration.Status != store.StatusConnected {
		t.Errorf("Mutate integration: revision %d status %q, want %d %q", set.Integration.Revision,
			set.Integration.Status, in.Revision+1, store.StatusConnected)
	}
	if len(set.Credentials) != 1 {
		t.Fatalf("Mutate returned %d credentials, want 1", len(set.Credentials))
	}
	c1 := set.Credentials[0]
	if !strings.HasPrefix(c1.ID, "cred_") || c1.IntegrationID != in.ID || c1.WorkspaceID != ws.ID ||
		c1.Version != 1 || c1.State != store.StateActive || c1.Revision <= 0 {
		t.Errorf("Mutate stored credential %+v", c1)
	}
	wantEqual(t, c1, store.Credential{ID: c1.ID, IntegrationID: in.ID, WorkspaceID: ws.ID, Version: 1,
		State: store.StateActive, Hint: "…1", Fingerprint: "fp1", Secret: []byte("ct1"), CreatedAt: t0,
		VerifiedAt: t0, ExpiresAt: t0.Add(time.Hour), Revision: c1.Revision}, "Mutate stored credential")
	if len(set.Events) != 1 || !strings.HasPrefix(set.Events[0].ID, "evt_") ||
		set.Events[0].WorkspaceID != ws.ID || set.Events[0].IntegrationID != in.ID {
		t.Errorf("Mutate events %+v", set.Events)
	}

	stored, err := s.GetIntegration(ctx, in.ID)
	must(t, err, "GetIntegration")
	wantEqual(t, stored, set.Integration, "GetIntegration after Mutate")
	creds, err := s.ListCredentials(ctx, in.ID)
	must(t, err, "ListCredentials")
	wantEqual(t, creds, set.Credentials, "ListCredentials after Mutate")
	got, err := s.GetCredential(ctx, c1.ID)
	must(t, err, "GetCredential")
	wantEqual(t, got, c1, "GetCredential")
	events, err := s.ListEvents(ctx, store.Page{})
	must(t, err, "ListEvents")
	wantEqual(t, events, set.Events, "ListEvents after Mutate")

	// Rotate twice: 1 active → previous → revoked.
	for i, want := range [][]string{
		{store.StatePrevious, store.StateActive},
		{store.StateRevoked, store.StatePrevious, store.StateActive},
	} {
		set, err = s.Mutate(ctx, in.ID, func(set *store.CredentialSet) error {
			rotate(set, fmt.Appendf(nil, "ct%d", i+2), t1)
			return nil
		})
		must(t, err, "Mutate (rotate)")
		var states []string
		for j, c := range set.Credentials {
			states = append(states, c.State)
			if c.Version != j+1 {
				t.Errorf("rotation %d: credential %d has version %d", i, j, c.Version)
			}
		}
		if !reflect.DeepEqual(states, want) {
			t.Errorf("rotation %d: states %v, want %v", i, states, want)
		}
	}
	if c := set.Credentials[0]; c.Revision != c1.Revision+2 || !c.RevokedAt.Equal(t1.Truncate(time.Microsecond)) {
		t.Errorf("twice-demoted credential: revision %d revoked %v, want %d %v", c.Revision, c.RevokedAt,
			c1.Revision+2, t1)
	}
	creds, err = s.ListCredentials(ctx, in.ID)
	must(t, err, "ListCredentials")
	wantEqual(t, creds, set.Credentials, "ListCredentials after rotations")

	// Leaving credentials out of the set does not delete them; the set
	// returned holds what fn left in it.
	set, err = s.Mutate(ctx, in.ID, func(set *store.CredentialSet) error {
		set.Credentials = nil
		return nil
	})
	must(t, err, "Mutate (empty set)")
	if len(set.Credentials) != 0 || set.MaxVersion != 3 {
		t.Errorf("Mutate without credentials returned %d credentials and MaxVersion %d, want none and 3", len(set.Credentials), set.MaxVersion)
	}
	after, err := s.ListCredentials(ctx, in.ID)
	must(t, err, "ListCredentials")
	wantEqual(t, after, creds, "ListCredentials after a Mutate without credentials")
}

// testMutateLiveVersions: Mutate hands fn the live versions (active and
// previous) and the highest version number, never a revoked version, so
// its cost does not grow with them; numbering continues after the
// highest version even when that one is revoked; revoked versions are
// never written, and cannot be reached through the set.
func testMutateLiveVersions(t *testing.T, s store.Store) {
	ctx := t.Context()
	ws := newWorkspace(t, s, "default")
	in := newIntegration(t, s, ws.ID, "github")
	other := newIntegration(t, s, ws.ID, "other")
	newCredential(t, s, other.ID, []byte("elsewhere"))
	for i := range 20 {
		newCredential(t, s, in.ID, fmt.Appendf(nil, "ct%d", i+1))
	}
	all, err := s.ListCredentials(ctx, in.ID)
	must(t, err, "ListCredentials")
	if len(all) != 20 || all[18].State != store.StatePrevious || all[19].State != store.StateActive {
		t.Fatalf("20 rotations left %d versions: %+v", len(all), all)
	}
	revoked := all[:18]
	live, err := s.LiveCredentials(ctx, in.ID)
	must(t, err, "LiveCredentials")
	wantEqual(t, live, all[18:], "LiveCredentials (the previous and active versions)")

	// Revoke the active version (20) and roll back to the previous (19):
	// the highest version is now a revoked one.
	set, err := s.Mutate(ctx, in.ID, func(set *store.CredentialSet) error {
		wantEqual(t, set.Credentials, all[18:], "Mutate fn credentials (the live versions)")
		if set.MaxVersion != 20 {
			t.Errorf("Mutate fn MaxVersion %d, want 20", set.MaxVersion)
		}
		prev, act := &set.Credentials[0], &set.Credentials[1]
		act.State, act.RevokedAt, act.Secret = store.StateRevoked, t1, nil
		prev.State = store.StateActive
		return nil
	})
	must(t, err, "Mutate (roll back)")
	if len(set.Credentials) != 2 || set.MaxVersion != 20 {
		t.Fatalf("roll back returned %d credentials, MaxVersion %d: %+v", len(set.Credentials), set.MaxVersion, set.Credentials)
	}
	for _, c := range set.Credentials { // what fn revoked is returned too
		got, err := s.GetCredential(ctx, c.ID)
		must(t, err, "GetCredential")
		wantEqual(t, c, got, "Mutate result against GetCredential")
	}
	if set.Credentials[0].State != store.StateActive || set.Credentials[1].State != store.StateRevoked {
		t.Errorf("roll back stored states %s, %s", set.Credentials[0].State, set.Credentials[1].State)
	}
	v19 := set.Credentials[0]

	// A new version is numbered after the revoked 20.
	set, err = s.Mutate(ctx, in.ID, func(set *store.CredentialSet) error {
		wantEqual(t, set.Credentials, []store.Credential{v19}, "Mutate fn credentials after the roll back")
		if set.MaxVersion != 20 {
			t.Errorf("Mutate fn MaxVersion %d, want 20 (a revoked version's)", set.MaxVersion)
		}
		rotate(set, []byte("ct21"), t2)
		return nil
	})
	must(t, err, "Mutate (rotate after the roll back)")
	var versions []int
	for _, c := range set.Credentials {
		versions = append(versions, c.Version)
	}
	wantEqual(t, versions, []int{19, 21}, "versions after rotating")
	live, err = s.LiveCredentials(ctx, in.ID)
	must(t, err, "LiveCredentials")
	wantEqual(t, live, set.Credentials, "LiveCredentials after rotating")
	if set.MaxVersion != 21 || set.Credentials[1].State != store.StateActive {
		t.Errorf("rotation returned MaxVersion %d, new version %+v", set.MaxVersion, set.Credentials[1])
	}

	// A version fn leaves as it was is returned as loaded, not written.
	set, err = s.Mutate(ctx, in.ID, func(set *store.CredentialSet) error {
		set.Integration.StatusReason = "touched"
		return nil
	})
	must(t, err, "Mutate (integration only)")
	now, err := s.ListCredentials(ctx, in.ID)
	must(t, err, "ListCredentials")
	wantEqual(t, set.Credentials, []store.Credential{now[18], now[20]}, "Mutate result of an integration-only change")

	// A revoked version cannot be reached through the set: added with its
	// id, it is inserted, and the id is taken.
	_, err = s.Mutate(ctx, in.ID, func(set *store.CredentialSet) error {
		c := revoked[3]
		c.Hint, c.Secret = "…new", []byte("resurrected")
		set.Credentials = append(set.Credentials, c)
		return nil
	})
	wantErr(t, err, store.ErrConflict, "Mutate adding a revoked version's id")

	// No revoked version was written by any of it.
	now, err = s.ListCredentials(ctx, in.ID)
	must(t, err, "ListCredentials")
	wantEqual(t, now[:18], revoked, "revoked versions after the mutations")
}

func testMutateRollback(t *testing.T, s store.Store) {
	ctx := t.Context()
	ws := newWorkspace(t, s, "default")
	in := newIntegration(t, s, ws.ID, "github")
	newCredential(t, s, in.ID, []byte("ct1"))
	before := snapshot(t, s, in.ID)

	called := false
	_, err := s.Mutate(ctx, in.ID, func(set *store.CredentialSet) error {
		called = true
		rotate(set, []byte("ct2"), t1)
		set.Integration.Status = store.StatusReconnectRequired
		set.Credentials[0].Secret = []byte("overwritten")
		return fmt.Errorf("verify: %w", errBoom)
	})
	if !called {
		t.Fatal("Mutate did not call fn")
	}
	wantErr(t, err, errBoom, "Mutate with a failing fn")
	wantEqual(t, snapshot(t, s, in.ID), before, "state after a failed Mutate")
}

// state is everything Mutate may change.
type state struct {
	Integration store.Integration
	Credentials []store.Credential
	Events      []store.Event
}

func snapshot(t *testing.T, s store.Store, integrationID string) state {
	t.Helper()
	ctx := t.Context()
	in, err := s.GetIntegration(ctx, integrationID)
	must(t, err, "GetIntegration")
	creds, err := s.ListCredentials(ctx, integrationID)
	must(t, err, "ListCredentials")
	events, err := s.ListEvents(ctx, store.Page{IntegrationID: integrationID})
	must(t, err, "ListEvents")
	return state{in, creds, events}
}

func testMutateConflicts(t *testing.T, s store.Store) {
	ctx := t.Context()
	ws := newWorkspace(t, s, "default")
	in := newIntegration(t, s, ws.ID, "github")
	newCredential(t, s, in.ID, []byte("ct1"))
	before := snapshot(t, s, in.ID)

	for _, tc := range []struct {
		name string
		fn   func(*store.CredentialSet) error
	}{
		{"two active versions", func(set *store.CredentialSet) error {
			set.Credentials = append(set.Credentials, store.Credential{Version: 2, State: store.StateActive,
				Secret: []byte("ct2"), CreatedAt: t1})
			set.Events = append(set.Events, store.Event{Type: "credential.created", At: t1})
			return nil
		}},
		{"duplicate version", func(set *store.CredentialSet) error {
			set.Credentials[0].State = store.StatePrevious
			set.Credentials = append(set.Credentials, store.Credential{Version: 1, State: store.StateActive,
				Secret: []byte("ct2"), CreatedAt: t1})
			return nil
		}},
	} {
		_, err := s.Mutate(ctx, in.ID, tc.fn)
		wantErr(t, err, store.ErrConflict, "Mutate with "+tc.name)
		wantEqual(t, snapshot(t, s, in.ID), before, "state after Mutate with "+tc.name)
	}
}

func testUpdateCredential(t *testing.T, s store.Store) {
	ctx := t.Context()
	ws := newWorkspace(t, s, "default")
	in := newIntegration(t, s, ws.ID, "github")
	c := newCredential(t, s, in.ID, []byte("ct1"))

	want := c
	want.Secret = []byte("refreshed-token-set")
	want.Hint = "…wxyz"
	want.Fingerprint = "fp-refreshed"
	want.VerifiedAt = t1
	want.ExpiresAt = t2
	want.Revision = c.Revision + 1
	got, err := s.UpdateCredential(ctx, c.ID, func(old store.Credential) (store.Credential, error) {
		wantEqual(t, old, c, "UpdateCredential fn argument")
		upd := want
		upd.Revision = 999 // ignored
		return upd, nil
	})
	must(t, err, "UpdateCredential")
	wantEqual(t, got, want, "UpdateCredential result")
	stored, err := s.GetCredential(ctx, c.ID)
	must(t, err, "GetCredential")
	wantEqual(t, stored, want, "GetCredential after update")

	_, err = s.UpdateCredential(ctx, c.ID, func(old store.Credential) (store.Credential, error) {
		old.Secret = []byte("lost")
		return old, errBoom
	})
	wantErr(t, err, errBoom, "UpdateCredential with a failing fn")
	stored, err = s.GetCredential(ctx, c.ID)
	must(t, err, "GetCredential")
	wantEqual(t, stored, want, "GetCredential after a failed update")
}

// logFixture appends six events over two workspaces and three
// integrations (one event without an integration) and returns them as
// stored, in order.
func logFixture(t *testing.T, s store.Store) (wsA, wsB string, events []store.Event) {
	t.Helper()
	wsA, wsB = store.NewID("ws"), store.NewID("ws")
	intA1, intA2, intB := store.NewID("int"), store.NewID("int"), store.NewID("int")
	for i, e := range []store.Event{
		{WorkspaceID: wsA, IntegrationID: intA1},
		{WorkspaceID: wsB, IntegrationID: intB},
		{WorkspaceID: wsA, IntegrationID: intA2},
		{WorkspaceID: wsA, IntegrationID: intA1},
		{WorkspaceID: wsA},
		{WorkspaceID: wsB, IntegrationID: intB},
	} {
		e.ID = store.NewID("evt")
		e.Type = "integration.status_changed"
		e.At = t0.Add(time.Duration(i) * time.Second)
		if i%2 == 0 {
			e.Data = fmt.Appendf(nil, `{"n":%d}`, i)
		}
		must(t, s.AppendEvent(t.Context(), e), "AppendEvent")
		events = append(events, e)
	}
	return wsA, wsB, events
}

func pick[T any](all []T, idx ...int) []T {
	var out []T
	for _, i := range idx {
		out = append(out, all[i])
	}
	return out
}

func testEvents(t *testing.T, s store.Store) {
	ctx := t.Context()
	wsA, wsB, all := logFixture(t, s)
	intA1, intB := all[0].IntegrationID, all[1].IntegrationID

	for _, tc := range []struct {
		name string
		page store.Page
		want []store.Event
	}{
		{"all", store.Page{}, all},
		{"limit", store.Page{Limit: 2}, all[:2]},
		{"after", store.Page{After: all[1].ID}, all[2:]},
		{"after and limit", store.Page{After: all[1].ID, Limit: 3}, all[2:5]},
		{"after the last", store.Page{After: all[5].ID}, nil},
		{"workspace", store.Page{WorkspaceID: wsA}, pick(all, 0, 2, 3, 4)},
		{"workspace after another's entry", store.Page{WorkspaceID: wsA, After: all[1].ID}, pick(all, 2, 3, 4)},
		{"workspace and limit", store.Page{WorkspaceID: wsB, Limit: 1}, pick(all, 1)},
		{"integration", store.Page{IntegrationID: intA1}, pick(all, 0, 3)},
		{"workspace and integration", store.Page{WorkspaceID: wsA, IntegrationID: intB}, nil},
		{"integration after", store.Page{IntegrationID: intB, After: all[1].ID}, pick(all, 5)},
	} {
		got, err := s.ListEvents(ctx, tc.page)
		must(t, err, "ListEvents "+tc.name)
		wantEqual(t, got, tc.want, "ListEvents "+tc.name)
	}

	// Paging through with After visits every entry once, in order.
	var paged []store.Event
	after := ""
	for range len(all) + 1 {
		page, err := s.ListEvents(ctx, store.Page{After: after, Limit: 4})
		must(t, err, "ListEvents page")
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		after = page[len(page)-1].ID
	}
	wantEqual(t, paged, all, "paging through events")

	// An id is assigned when missing.
	must(t, s.AppendEvent(ctx, store.Event{WorkspaceID: wsA, Type: "x", At: t1}), "AppendEvent without id")
	got, err := s.ListEvents(ctx, store.Page{After: all[5].ID})
	must(t, err, "ListEvents")
	if len(got) != 1 || !strings.HasPrefix(got[0].ID, "evt_") {
		t.Errorf("event appended without id: %+v", got)
	}
	wantErr(t, s.AppendEvent(ctx, all[0]), store.ErrConflict, "AppendEvent with a taken id")
}

func testEventsDefaultLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	ws := store.NewID("ws")
	for i := range 101 {
		must(t, s.AppendEvent(ctx, store.Event{WorkspaceID: ws, Type: "x", At: t0.Add(time.Duration(i))}), "AppendEvent")
	}
	got, err := s.ListEvents(ctx, store.Page{})
	must(t, err, "ListEvents")
	if len(got) != 100 {
		t.Errorf("ListEvents without a limit returned %d events, want 100", len(got))
	}
	got, err = s.ListEvents(ctx, store.Page{Limit: 200})
	must(t, err, "ListEvents")
	if len(got) != 101 {
		t.Errorf("ListEvents with limit 200 returned %d events, want 101", len(got))
	}
}

func testAudit(t *testing.T, s store.Store) {
	ctx := t.Context()
	wsA, wsB := store.NewID("ws"), store.NewID("ws")
	var all []store.AuditRecord
	for i, ws := range []string{wsA, wsB, wsA, wsA, "", wsB} {
		a := store.AuditRecord{
			ID:          store.NewID("aud"),
			WorkspaceID: ws,
			Actor:       store.NewID("tok"),
			Action:      "integration.update",
			Target:      store.NewID("int"),
			At:          t0.Add(time.Duration(i) * time.Minute),
			IP:          "192.0.2.7",
		}
		if i%2 == 1 {
			a.Detail = []byte(`{"field":"status"}`)
		}
		must(t, s.AppendAudit(ctx, a), "AppendAudit")
		all = append(all, a)
	}
	// The store places them in the hash chain exactly as audit.Link does.
	audit.Link(audit.Head{}, all)

	for _, tc := range []struct {
		name string
		page store.Page
		want []store.AuditRecord
	}{
		{"all", store.Page{}, all},
		{"after and limit", store.Page{After: all[0].ID, Limit: 2}, all[1:3]},
		{"workspace", store.Page{WorkspaceID: wsA}, pick(all, 0, 2, 3)},
		{"workspace after", store.Page{WorkspaceID: wsB, After: all[1].ID}, pick(all, 5)},
		// Audit records have no integration: the filter does not apply.
		{"integration ignored", store.Page{IntegrationID: store.NewID("int"), Limit: 1}, all[:1]},
	} {
		got, err := s.ListAudit(ctx, tc.page)
		must(t, err, "ListAudit "+tc.name)
		wantEqual(t, got, tc.want, "ListAudit "+tc.name)
	}

	must(t, s.AppendAudit(ctx, store.AuditRecord{Actor: "system", Action: "startup", At: t1}), "AppendAudit without id")
	got, err := s.ListAudit(ctx, store.Page{After: all[5].ID})
	must(t, err, "ListAudit")
	if len(got) != 1 || got[0].ID == "" {
		t.Errorf("audit record appended without id: %+v", got)
	}
}

func testKeyring(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.Keyring(ctx)
	wantErr(t, err, store.ErrNotFound, "Keyring when empty")

	k1, k2, k3 := []byte("keyring-1"), []byte("keyring-2"), []byte("keyring-3")
	wantErr(t, s.PutKeyring(ctx, k1, k2), store.ErrConflict, "PutKeyring with a prev when empty")
	must(t, s.PutKeyring(ctx, nil, k1), "PutKeyring(nil, k1)")
	wantErr(t, s.PutKeyring(ctx, nil, k2), store.ErrConflict, "PutKeyring(nil, …) when set")
	wantErr(t, s.PutKeyring(ctx, k3, k2), store.ErrConflict, "PutKeyring with a stale prev")
	got, err := s.Keyring(ctx)
	must(t, err, "Keyring")
	if !bytes.Equal(got, k1) {
		t.Errorf("Keyring = %q, want %q", got, k1)
	}
	must(t, s.PutKeyring(ctx, k1, k2), "PutKeyring(k1, k2)")
	got, err = s.Keyring(ctx)
	must(t, err, "Keyring")
	if !bytes.Equal(got, k2) {
		t.Errorf("Keyring = %q, want %q", got, k2)
	}
}

func testTimes(t *testing.T, s store.Store) {
	ctx := t.Context()
	ws := newWorkspace(t, s, "default")
	in := integration(ws.ID, "github")
	in.LastVerifiedAt = time.Date(1969, 7, 20, 20, 17, 40, 999999999, time.FixedZone("EDT", -4*3600))
	in.LastUsedAt = time.Date(2200, 1, 1, 0, 0, 0, 1000, time.UTC)
	in.UpdatedAt = time.Time{}
	must(t, s.CreateIntegration(ctx, in), "CreateIntegration")
	got, err := s.GetIntegration(ctx, in.ID)
	must(t, err, "GetIntegration")

	check := func(what string, got, want time.Time) {
		t.Helper()
		if want.IsZero() {
			if !got.IsZero() {
				t.Errorf("%s = %v, want the zero time", what, got)
			}
			return
		}
		if got.Location() != time.UTC {
			t.Errorf("%s is in %v, want UTC", what, got.Location())
		}
		if w := want.Truncate(time.Microsecond); !got.Truncate(time.Microsecond).Equal(w) {
			t.Errorf("%s = %v, want %v", what, got, w)
		}
	}
	check("CreatedAt", got.CreatedAt, in.CreatedAt)
	check("UpdatedAt", got.UpdatedAt, in.UpdatedAt)
	check("LastVerifiedAt", got.LastVerifiedAt, in.LastVerifiedAt)
	check("LastUsedAt", got.LastUsedAt, in.LastUsedAt)

	c := newCredential(t, s, in.ID, []byte("ct"))
	check("Credential.CreatedAt", c.CreatedAt, t0)
	check("Credential.ExpiresAt", c.ExpiresAt, t0.Add(time.Hour))
	check("Credential.VerifiedAt", c.VerifiedAt, time.Time{})
	check("Credential.RevokedAt", c.RevokedAt, time.Time{})

	ws2, err := s.GetWorkspace(ctx, ws.ID)
	must(t, err, "GetWorkspace")
	check("Workspace.CreatedAt", ws2.CreatedAt, t0)
	events, err := s.ListEvents(ctx, store.Page{})
	must(t, err, "ListEvents")
	check("Event.At", events[0].At, t0)
}

func testNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	ws := newWorkspace(t, s, "default")
	newIntegration(t, s, ws.ID, "github")
	must(t, s.AppendEvent(ctx, store.Event{WorkspaceID: ws.ID, Type: "x", At: t0}), "AppendEvent")
	must(t, s.AppendAudit(ctx, store.AuditRecord{WorkspaceID: ws.ID, Actor: "system", Action: "x", At: t0}), "AppendAudit")

	never := func(string) { t.Error("fn called for an unknown id") }
	unknownHash := sha256.Sum256([]byte("unknown"))
	for name, op := range map[string]func() error{
		"GetWorkspace": func() error { _, err := s.GetWorkspace(ctx, "nope"); return err },
		"GetWorkspace(id)": func() error {
			_, err := s.GetWorkspace(ctx, store.NewID("ws"))
			return err
		},
		"GetAPIToken":       func() error { _, err := s.GetAPIToken(ctx, store.NewID("tok")); return err },
		"GetAPITokenByHash": func() error { _, err := s.GetAPITokenByHash(ctx, unknownHash[:]); return err },
		"DeleteAPIToken":    func() error { return s.DeleteAPIToken(ctx, store.NewID("tok")) },
		"TouchAPIToken":     func() error { return s.TouchAPIToken(ctx, store.NewID("tok"), t0) },
		"GetUISession":      func() error { _, err := s.GetUISession(ctx, store.NewID("ses")); return err },
		"DeleteUISession":   func() error { return s.DeleteUISession(ctx, store.NewID("ses")) },
		"GetIntegration":    func() error { _, err := s.GetIntegration(ctx, store.NewID("int")); return err },
		"UpdateIntegration": func() error {
			_, err := s.UpdateIntegration(ctx, store.NewID("int"), func(in store.Integration) (store.Integration, error) {
				never("UpdateIntegration")
				return in, nil
			})
			return err
		},
		"TouchIntegration":  func() error { return s.TouchIntegration(ctx, store.NewID("int"), t0) },
		"DeleteIntegration": func() error { return s.DeleteIntegration(ctx, store.NewID("int")) },
		"GetCredential":     func() error { _, err := s.GetCredential(ctx, store.NewID("cred")); return err },
		"UpdateCredential": func() error {
			_, err := s.UpdateCredential(ctx, store.NewID("cred"), func(c store.Credential) (store.Credential, error) {
				never("UpdateCredential")
				return c, nil
			})
			return err
		},
		"Mutate": func() error {
			_, err := s.Mutate(ctx, store.NewID("int"), func(*store.CredentialSet) error {
				never("Mutate")
				return nil
			})
			return err
		},
		"ListEvents(After)": func() error { _, err := s.ListEvents(ctx, store.Page{After: store.NewID("evt")}); return err },
		"ListAudit(After)":  func() error { _, err := s.ListAudit(ctx, store.Page{After: store.NewID("aud")}); return err },
		"Keyring":           func() error { _, err := s.Keyring(ctx); return err },
		"ConsumeOAuthState": func() error { _, err := s.ConsumeOAuthState(ctx, unknownHash[:]); return err },
	} {
		wantErr(t, op(), store.ErrNotFound, name)
	}

	// Lists of unknown parents are empty, not errors.
	creds, err := s.ListCredentials(ctx, store.NewID("int"))
	if err != nil || len(creds) != 0 {
		t.Errorf("ListCredentials(unknown) = %v, %v; want none", creds, err)
	}
}

func testPing(t *testing.T, s store.Store) {
	must(t, s.Ping(t.Context()), "Ping")
}
