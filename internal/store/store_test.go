package store

import (
	"bytes"
	"reflect"
	"regexp"
	"testing"
	"time"
)

// TestNewIDIsRandomAndWellFormed: prefix, underscore, 26 base32
// characters (128 bits), no repeats.
func TestNewIDIsRandomAndWellFormed(t *testing.T) {
	form := regexp.MustCompile(`^int_[a-z2-7]{26}$`)
	seen := map[string]bool{}
	for range 10000 {
		id := NewID("int")
		if !form.MatchString(id) {
			t.Fatalf("id %q", id)
		}
		if seen[id] {
			t.Fatalf("id %q twice", id)
		}
		seen[id] = true
	}
}

// TestWriteOrderPutsActiveLast: demotions are written before the
// promotion that replaces them (the one-active index), and the order of
// the others is kept.
func TestWriteOrderPutsActiveLast(t *testing.T) {
	in := []Credential{{ID: "a", State: StateActive}, {ID: "b", State: StatePrevious}, {ID: "c", State: StateRevoked}}
	got := writeOrder(in)
	var ids string
	for _, c := range got {
		ids += c.ID
	}
	if ids != "bca" {
		t.Errorf("order %q, want bca", ids)
	}
	if in[0].ID != "a" {
		t.Error("writeOrder changed its input")
	}
}

func TestDueLimitDefaults(t *testing.T) {
	for in, want := range map[int]int{-1: DefaultPageLimit, 0: DefaultPageLimit, 1: 1, 500: 500} {
		if got := DueLimit(in); got != want {
			t.Errorf("DueLimit(%d) = %d, want %d", in, got, want)
		}
	}
}

func TestEncodeEventTypes(t *testing.T) {
	if got := EncodeEventTypes(nil); got != "[]" {
		t.Errorf("nil → %q", got)
	}
	if got := EncodeEventTypes([]string{"token.refreshed", `a"b`}); got != `["token.refreshed","a\"b"]` {
		t.Errorf("→ %q", got)
	}
}

// TestPageClauseNewest: Newest reads backwards from the cursor, so an
// integration page's latest entries are one short index range.
func TestPageClauseNewest(t *testing.T) {
	q := func(int) string { return "?" }
	cases := []struct {
		p    Page
		want string
		args int
	}{
		{Page{WorkspaceID: "ws", Limit: 20}, " WHERE workspace_id = ? ORDER BY seq LIMIT ?", 2},
		{Page{WorkspaceID: "ws", Newest: true, Limit: 20}, " WHERE workspace_id = ? ORDER BY seq DESC LIMIT ?", 2},
		{Page{WorkspaceID: "ws", IntegrationID: "int", After: "evt", Newest: true}, " WHERE seq < ? AND workspace_id = ? AND integration_id = ? ORDER BY seq DESC LIMIT ?", 4},
		{Page{After: "evt"}, " WHERE seq > ? ORDER BY seq LIMIT ?", 2},
	}
	for _, c := range cases {
		got, args := PageClause(c.p, 7, q)
		if got != c.want || len(args) != c.args {
			t.Errorf("PageClause(%+v) = %q, %v; want %q with %d arguments", c.p, got, args, c.want, c.args)
		}
	}
}

// TestSameCredentialComparesEveryField: RunMutate skips writing a
// version that sameCredential calls unchanged, so a field it ignored
// would be lost.
func TestSameCredentialComparesEveryField(t *testing.T) {
	base := Credential{ID: "cred_a", IntegrationID: "int_a", WorkspaceID: "ws_a", Version: 1, State: StateActive,
		Hint: "abcd", Fingerprint: "f", Secret: []byte("s"), CreatedAt: time.Unix(1, 0), VerifiedAt: time.Unix(2, 0),
		ExpiresAt: time.Unix(3, 0), RevokedAt: time.Unix(4, 0), RefreshAt: time.Unix(5, 0), Failures: 1, Revision: 1}
	if !sameCredential(base, base) {
		t.Fatal("a credential differs from itself")
	}
	typ := reflect.TypeOf(base)
	for i := range typ.NumField() {
		changed := base
		f := reflect.ValueOf(&changed).Elem().Field(i)
		switch v := f.Interface().(type) {
		case string:
			f.SetString(v + "x")
		case int:
			f.SetInt(int64(v) + 1)
		case int64:
			f.SetInt(v + 1)
		case []byte:
			f.SetBytes(append(bytes.Clone(v), 'x'))
		case time.Time:
			f.Set(reflect.ValueOf(v.Add(time.Second)))
		default:
			t.Fatalf("field %s: type %T not covered by this test", typ.Field(i).Name, v)
		}
		if sameCredential(base, changed) {
			t.Errorf("sameCredential ignores a change of %s", typ.Field(i).Name)
		}
	}
}
