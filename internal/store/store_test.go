package store

import (
	"regexp"
	"testing"
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
