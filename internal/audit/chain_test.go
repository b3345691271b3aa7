package audit

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

func entries(n int) []store.AuditRecord {
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("CET", 3600))
	var recs []store.AuditRecord
	for i := range n {
		recs = append(recs, store.AuditRecord{
			ID: fmt.Sprintf("aud_%d", i+1), WorkspaceID: "ws_1", Actor: "tok_1",
			Action: "credential.save", Target: fmt.Sprintf("int_%d", i), At: at.Add(time.Duration(i) * time.Second),
			IP: "192.0.2.1", Detail: []byte(`{"n": 1, "s": "<b>"}`),
		})
	}
	Link(Head{}, recs)
	return recs
}

func verify(recs []store.AuditRecord) Result {
	var v Verifier
	for _, r := range recs {
		v.Add(r)
	}
	return v.Result()
}

func TestLinkChainsFromGenesis(t *testing.T) {
	recs := entries(3)
	if recs[0].Seq != 1 || recs[0].PrevHash != Genesis || recs[2].Seq != 3 || recs[2].PrevHash != recs[1].Hash {
		t.Fatalf("bad links: %+v", recs)
	}
	if got := verify(recs); !got.OK || got.Entries != 3 {
		t.Fatalf("verify = %+v", got)
	}
	// Continuing from a head gives the same chain as linking at once.
	more := entries(5)
	tail := slices.Clone(more[3:])
	Link(Head{Seq: recs[2].Seq, Hash: recs[2].Hash}, tail)
	if tail[1].Hash != more[4].Hash {
		t.Error("linking in two batches differs from linking in one")
	}
}

// Every chained field changes the hash, and the length prefixes keep
// moved boundaries apart.
func TestHashCoversEveryField(t *testing.T) {
	base := entries(1)[0]
	for name, change := range map[string]func(*store.AuditRecord){
		"seq":       func(r *store.AuditRecord) { r.Seq++ },
		"id":        func(r *store.AuditRecord) { r.ID += "x" },
		"workspace": func(r *store.AuditRecord) { r.WorkspaceID = "" },
		"actor":     func(r *store.AuditRecord) { r.Actor = "system" },
		"action":    func(r *store.AuditRecord) { r.Action = "credential.revoke" },
		"target":    func(r *store.AuditRecord) { r.Target = "int_9" },
		"at":        func(r *store.AuditRecord) { r.At = r.At.Add(time.Microsecond) },
		"ip":        func(r *store.AuditRecord) { r.IP = "192.0.2.2" },
		"detail":    func(r *store.AuditRecord) { r.Detail = []byte(`{"n":2,"s":"<b>"}`) },
		"prev_hash": func(r *store.AuditRecord) { r.PrevHash = Hash(*r) },
		"boundary":  func(r *store.AuditRecord) { r.Actor, r.Action = r.Actor+"c", r.Action[1:] },
	} {
		r := base
		change(&r)
		if Hash(r) == base.Hash {
			t.Errorf("changing %s keeps the hash", name)
		}
	}
}

// The same entry read from a store, or from an exported JSON line (other
// zone, nanoseconds dropped, detail re-encoded), hashes the same.
func TestHashIsStableAcrossForms(t *testing.T) {
	r := entries(1)[0]
	r2 := r
	r2.At = r.At.UTC().Truncate(time.Microsecond)
	r2.Detail = []byte(`{"n":1,"s":"\u003cb\u003e"}`)
	if Hash(r2) != r.Hash {
		t.Error("the same entry in another form hashes differently")
	}
	if got := Hash(store.AuditRecord{}); got == "" || FormatTime(time.Time{}) != "" {
		t.Error("zero entry")
	}
}

func TestVerifierFindsFirstBadEntry(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tamper  func([]store.AuditRecord) []store.AuditRecord
		bad     string
		reason  string
		entries int64
	}{
		{"changed", func(r []store.AuditRecord) []store.AuditRecord { r[2].Action = "x"; return r }, "aud_3", ReasonChanged, 6},
		{"changed and rehashed", func(r []store.AuditRecord) []store.AuditRecord {
			r[2].Action = "x"
			r[2].Hash = Hash(r[2])
			return r
		}, "aud_4", ReasonBrokenLink, 6},
		{"deleted", func(r []store.AuditRecord) []store.AuditRecord { return slices.Delete(r, 2, 3) }, "aud_4", ReasonMissing, 5},
		{"first deleted", func(r []store.AuditRecord) []store.AuditRecord { return r[1:] }, "aud_2", ReasonMissing, 5},
		{"swapped", func(r []store.AuditRecord) []store.AuditRecord { r[2], r[3] = r[3], r[2]; return r }, "aud_4", ReasonReordered, 6},
		{"moved to the end", func(r []store.AuditRecord) []store.AuditRecord {
			moved := r[1]
			return append(slices.Delete(r, 1, 2), moved)
		}, "aud_3", ReasonReordered, 6},
		{"repeated", func(r []store.AuditRecord) []store.AuditRecord { return slices.Insert(r, 3, r[2]) }, "aud_3", ReasonRepeated, 7},
		{"unchained", func(r []store.AuditRecord) []store.AuditRecord { r[4].Hash = ""; return r }, "aud_5", ReasonNotChained, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := verify(tc.tamper(entries(6)))
			want := Result{OK: false, Entries: tc.entries, FirstBad: tc.bad, Reason: tc.reason}
			if got != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
	if got := verify(nil); !got.OK || got.Entries != 0 {
		t.Errorf("empty log: %+v", got)
	}
}

func TestVerifyPages(t *testing.T) {
	recs := entries(2*PageSize + 3)
	calls := 0
	list := func(_ context.Context, p store.Page) ([]store.AuditRecord, error) {
		calls++
		i := 0
		if p.After != "" {
			i = slices.IndexFunc(recs, func(r store.AuditRecord) bool { return r.ID == p.After }) + 1
		}
		return recs[i:min(len(recs), i+p.Limit)], nil
	}
	got, err := Verify(t.Context(), list)
	if err != nil || !got.OK || got.Entries != int64(len(recs)) || calls != 3 {
		t.Errorf("Verify = %+v, %v after %d pages", got, err, calls)
	}
}
