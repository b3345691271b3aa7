package creds

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"testing"

	"github.com/stormcreds/storm/internal/catalog"
	"github.com/stormcreds/storm/internal/events"
	"github.com/stormcreds/storm/internal/problem"
	"github.com/stormcreds/storm/internal/store"
)

func save(t testing.TB, s *Service, in store.Integration, key string) store.Credential {
	t.Helper()
	c, err := s.Save(context.Background(), actor, in, SaveInput{APIKey: key})
	if err != nil {
		t.Fatalf("save: %v", err)
	}
	return c
}

func states(cs []store.Credential) map[string]string {
	out := map[string]string{}
	for _, c := range cs {
		out[c.ID] = c.State
	}
	return out
}

// TestIdenticalSaveChangesNothing is the regression test for issue 9
// item 12: saving the active key again created a new version and revoked
// the working key kept as the rotation fallback.
func TestIdenticalSaveChangesNothing(t *testing.T) {
	w := newWorld(t)
	s := w.service(nil)
	api := newKeyAPI(t, "sk_live_first_key_0001", "sk_live_second_key_0002")
	in := w.create(s, "identical", catalog.MethodAPIKey, apiKeyConfig(api.URL))
	first := save(t, s, in, "sk_live_first_key_0001")
	second := save(t, s, in, "sk_live_second_key_0002")
	before, eventsBefore := w.credentials(in.ID), len(w.events(in.ID))

	again := save(t, s, in, "sk_live_second_key_0002")
	if again.ID != second.ID || again.Version != second.Version {
		t.Fatalf("saving the active key again answered version %d (%s), want the active version %d", again.Version, again.ID, second.Version)
	}
	after := w.credentials(in.ID)
	if len(after) != len(before) {
		t.Fatalf("%d versions after an identical save, want %d", len(after), len(before))
	}
	if got := states(after); got[first.ID] != store.StatePrevious || got[second.ID] != store.StateActive {
		t.Fatalf("states after an identical save: %v", got)
	}
	if n := len(w.events(in.ID)); n != eventsBefore {
		t.Fatalf("%d events after an identical save, want %d", n, eventsBefore)
	}
	recs := w.audit("credential.save")
	if last := detail(t, recs[len(recs)-1].Detail); last["unchanged"] != true {
		t.Fatalf("the identical save's audit record: %v", last)
	}
}

// TestEveryRevocationIsRecorded (issue 9 item 12): a version pushed out
// of the overlap by a save and one revoked by a person both get
// revoked_at, a credential.revoked event and an audit record.
func TestEveryRevocationIsRecorded(t *testing.T) {
	w := newWorld(t)
	s := w.service(nil)
	api := newKeyAPI(t, "key-one-0000000001", "key-two-0000000002", "key-three-00000003")
	in := w.create(s, "revocations", catalog.MethodAPIKey, apiKeyConfig(api.URL))
	one := save(t, s, in, "key-one-0000000001")
	two := save(t, s, in, "key-two-0000000002")
	save(t, s, in, "key-three-00000003") // pushes one out
	if _, err := s.Revoke(context.Background(), actor, in, two.ID); err != nil {
		t.Fatal(err)
	}
	revokedEvents := map[string]string{}
	for _, e := range w.events(in.ID) {
		if e.Type == events.CredentialRevoked {
			d := detail(t, e.Data)
			revokedEvents[d["credential"].(string)] = d["reason"].(string)
		}
	}
	audited := map[string]bool{}
	for _, r := range w.audit("credential.revoke") {
		audited[r.Target] = true
	}
	for _, c := range w.credentials(in.ID) {
		if c.ID != one.ID && c.ID != two.ID {
			continue
		}
		if c.State != store.StateRevoked || c.RevokedAt.IsZero() || c.Secret != nil {
			t.Errorf("%s: state %s, revoked_at %v, material kept %v", c.ID, c.State, c.RevokedAt, c.Secret != nil)
		}
		if revokedEvents[c.ID] == "" {
			t.Errorf("%s: no credential.revoked event (events: %v)", c.ID, revokedEvents)
		}
		if !audited[c.ID] {
			t.Errorf("%s: no audit record", c.ID)
		}
	}
	if revokedEvents[one.ID] != revokedBySave || revokedEvents[two.ID] != revokedByUser {
		t.Errorf("reasons %v", revokedEvents)
	}
}

// TestRevokeNamesOneVersion: Mutate hands Revoke only the live
// versions, so a revoked or unknown version is answered after it. Revoking
// a revoked version answers it and records nothing; a version of another
// integration, or none, is not found, and changes nothing.
func TestRevokeNamesOneVersion(t *testing.T) {
	w := newWorld(t)
	s := w.service(nil)
	api := newKeyAPI(t, "key-one-0000000001", "key-two-0000000002", "key-elsewhere-0003")
	in := w.create(s, "revoke one", catalog.MethodAPIKey, apiKeyConfig(api.URL))
	elsewhere := w.create(s, "revoke elsewhere", catalog.MethodAPIKey, apiKeyConfig(api.URL))
	one := save(t, s, in, "key-one-0000000001")
	save(t, s, in, "key-two-0000000002")
	other := save(t, s, elsewhere, "key-elsewhere-0003")
	first, err := s.Revoke(context.Background(), actor, in, one.ID)
	if err != nil || first.State != store.StateRevoked {
		t.Fatalf("revoke: %+v, %v", first, err)
	}
	if _, err := s.Revoke(context.Background(), actor, elsewhere, other.ID); err != nil {
		t.Fatal(err)
	}
	before, eventsBefore, auditBefore := w.credentials(in.ID), len(w.events(in.ID)), len(w.audit("credential.revoke"))

	again, err := s.Revoke(context.Background(), actor, in, one.ID)
	if err != nil || !reflect.DeepEqual(again, first) {
		t.Errorf("revoking it again = %+v, %v; want %+v", again, err, first)
	}
	for _, id := range []string{other.ID, "cred_unknown"} {
		_, err := s.Revoke(context.Background(), actor, in, id)
		if p, ok := problem.As(err); !ok || p.Status != http.StatusNotFound {
			t.Errorf("revoking %s through another integration: %v, want 404", id, err)
		}
	}
	if after := w.credentials(in.ID); !reflect.DeepEqual(after, before) {
		t.Errorf("versions changed:\n%+v\nwant %+v", after, before)
	}
	if n, m := len(w.events(in.ID)), len(w.audit("credential.revoke")); n != eventsBefore || m != auditBefore {
		t.Errorf("%d events and %d revocation audit records, want %d and %d", n, m, eventsBefore, auditBefore)
	}
}

// TestSaveRefusedChangesNothing: a key the provider refuses is not
// stored and the active one stays.
func TestSaveRefusedChangesNothing(t *testing.T) {
	w := newWorld(t)
	s := w.service(nil)
	api := newKeyAPI(t, "good-key-000000001")
	in := w.create(s, "refused", catalog.MethodAPIKey, apiKeyConfig(api.URL))
	good := save(t, s, in, "good-key-000000001")
	_, err := s.Save(context.Background(), actor, in, SaveInput{APIKey: "bad-key-0000000002"})
	var vf *VerifyFailed
	if !errors.As(err, &vf) || vf.Problem().Status != http.StatusUnprocessableEntity {
		t.Fatalf("refused key: %v", err)
	}
	cs := w.credentials(in.ID)
	if len(cs) != 1 || cs[0].ID != good.ID || cs[0].State != store.StateActive {
		t.Fatalf("versions after a refused save: %v", states(cs))
	}
}

func problemStatus(err error) int {
	if p, ok := problem.As(err); ok {
		return p.Status
	}
	return 0
}
