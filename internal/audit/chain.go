package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

// Genesis is the prev_hash of the first entry of every log.
const Genesis = "0000000000000000000000000000000000000000000000000000000000000000"

// TimeLayout is the fixed form of an entry's time in its hash: UTC with
// microseconds, what both stores keep.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// domain separates these hashes from any other SHA-256 use; v1 names the
// encoding below, so a future change of fields can be told apart.
const domain = "storm audit entry v1"

// Hash returns the hex SHA-256 of rec's chained fields: Seq, ID,
// WorkspaceID, Actor, Action, Target, At, IP, Detail and PrevHash. Each is
// written with its length first, so no two different entries encode alike
// ("ab"+"c" vs "a"+"bc"). At counts to the microsecond in UTC and Detail
// in its canonical JSON form (CanonicalDetail), so the entry read back
// from either store, or from an exported JSON line, hashes the same.
func Hash(rec store.AuditRecord) string {
	h := sha256.New()
	var n [8]byte
	field := func(b []byte) {
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	field([]byte(domain))
	field(strconv.AppendInt(nil, rec.Seq, 10))
	for _, s := range []string{rec.ID, rec.WorkspaceID, rec.Actor, rec.Action, rec.Target, FormatTime(rec.At), rec.IP} {
		field([]byte(s))
	}
	field(CanonicalDetail(rec.Detail))
	field([]byte(rec.PrevHash))
	return hex.EncodeToString(h.Sum(nil))
}

// FormatTime is t as TimeLayout, or "" for the zero time.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Truncate(time.Microsecond).Format(TimeLayout)
}

// CanonicalDetail is detail as encoding/json writes a json.RawMessage:
// compact, with <, >, & and U+2028/9 escaped. The API passes stored
// details through that encoding, so the form is the same in the database,
// in API answers and in export lines. Detail that is not JSON is kept as
// is; empty is nil.
func CanonicalDetail(detail []byte) []byte {
	if len(detail) == 0 {
		return nil
	}
	var c bytes.Buffer
	if err := json.Compact(&c, detail); err != nil {
		return detail
	}
	var out bytes.Buffer
	json.HTMLEscape(&out, c.Bytes())
	return out.Bytes()
}

// Head is the end of a chain: the seq and hash of its last entry. The zero
// Head is an empty log; its Hash reads as Genesis.
type Head struct {
	Seq  int64
	Hash string
}

// Link gives recs, in order, the places after head in the chain: each
// gets the next seq, the previous hash and its own hash. It returns the
// new head. Callers hold the log's append lock from reading head to
// commit, so no two entries get the same place.
func Link(head Head, recs []store.AuditRecord) Head {
	if head.Hash == "" {
		head.Hash = Genesis
	}
	for i := range recs {
		recs[i].Seq = head.Seq + 1
		recs[i].PrevHash = head.Hash
		recs[i].Hash = Hash(recs[i])
		head = Head{Seq: recs[i].Seq, Hash: recs[i].Hash}
	}
	return head
}
