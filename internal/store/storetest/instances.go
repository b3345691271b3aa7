package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

// testInstances: a heartbeat inserts or updates an instance's row with
// the database's time; LiveInstances lists those seen within the window,
// in id order, and drops those that stopped reporting.
func testInstances(t *testing.T, s store.Store) {
	ctx := t.Context()
	list, err := s.LiveInstances(ctx, time.Minute)
	must(t, err, "LiveInstances")
	if len(list) != 0 {
		t.Fatalf("a new store lists instances: %v", list)
	}
	before := time.Now()
	must(t, s.Heartbeat(ctx, "keys-b", 2), "Heartbeat b")
	must(t, s.Heartbeat(ctx, "keys-a", 1), "Heartbeat a")
	must(t, s.Heartbeat(ctx, "keys-a", 3), "Heartbeat a again")
	list, err = s.LiveInstances(ctx, time.Minute)
	must(t, err, "LiveInstances")
	var got []string
	for _, in := range list {
		got = append(got, in.ID)
		if in.SeenAt.Before(before.Add(-5*time.Second)) || in.SeenAt.After(time.Now().Add(5*time.Second)) || in.SeenAt.Location() != time.UTC {
			t.Errorf("%s seen at %v (test began %v)", in.ID, in.SeenAt, before)
		}
	}
	if !slices.Equal(got, []string{"keys-a", "keys-b"}) || list[0].KeyTerm != 3 || list[1].KeyTerm != 2 {
		t.Fatalf("live instances: %+v", list)
	}
	// Terms use all 32 bits.
	must(t, s.Heartbeat(ctx, "keys-c", 1<<32-1), "Heartbeat c")
	time.Sleep(150 * time.Millisecond)
	must(t, s.Heartbeat(ctx, "keys-b", 4), "Heartbeat b again")
	list, err = s.LiveInstances(ctx, 100*time.Millisecond)
	must(t, err, "LiveInstances")
	if len(list) != 1 || list[0].ID != "keys-b" || list[0].KeyTerm != 4 {
		t.Fatalf("after a and c stopped reporting: %+v", list)
	}
	list, err = s.LiveInstances(ctx, time.Minute)
	must(t, err, "LiveInstances")
	if len(list) != 3 || list[1].ID != "keys-b" || list[2].KeyTerm != 1<<32-1 {
		t.Fatalf("within a minute: %+v", list)
	}
}
