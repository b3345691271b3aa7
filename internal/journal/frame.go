package journal

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

// A frame is one appended batch: an 8-byte header (payload length and
// its CRC-32C, both little-endian uint32) and the payload, the records
// as a JSON array. A crash of the machine mid-write leaves a short or
// mismatching last frame, which readers drop.
const headerSize = 8

// maxFrame bounds one frame's payload, so a corrupt length cannot make
// a reader allocate much.
const maxFrame = 16 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// wireRecord is an audit record as the journal stores it (before the
// hash chain: the fold places it there).
type wireRecord struct {
	ID          string          `json:"id"`
	WorkspaceID string          `json:"workspace_id,omitempty"`
	Actor       string          `json:"actor"`
	Action      string          `json:"action"`
	Target      string          `json:"target,omitempty"`
	At          time.Time       `json:"at"`
	IP          string          `json:"ip,omitempty"`
	Detail      json.RawMessage `json:"detail,omitempty"`
}

func encodeFrame(recs []store.AuditRecord) ([]byte, error) {
	w := make([]wireRecord, len(recs))
	for i, r := range recs {
		w[i] = wireRecord{ID: r.ID, WorkspaceID: r.WorkspaceID, Actor: r.Actor, Action: r.Action, Target: r.Target,
			At: r.At, IP: r.IP, Detail: r.Detail}
	}
	payload, err := json.Marshal(w)
	if err != nil {
		return nil, err
	}
	if len(payload) > maxFrame {
		return nil, fmt.Errorf("a batch of %d records is %d bytes, more than a frame holds", len(recs), len(payload))
	}
	frame := make([]byte, headerSize, headerSize+len(payload))
	binary.LittleEndian.PutUint32(frame[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(frame[4:8], crc32.Checksum(payload, castagnoli))
	return append(frame, payload...), nil
}

// errTorn ends a segment's good frames: what follows was cut short or
// changed.
var errTorn = errors.New("torn frame")

// decodeFrames returns the records of the whole frames at the start of
// data and how many bytes they take. A short or mismatching frame ends
// the segment (the rest is dropped); a frame whose checksum matches but
// whose payload does not decode is an error: that is not a torn write.
func decodeFrames(data []byte) (recs []store.AuditRecord, good int, err error) {
	for good < len(data) {
		payload, err := nextFrame(data[good:])
		if errors.Is(err, errTorn) {
			return recs, good, nil
		}
		var w []wireRecord
		if err := json.Unmarshal(payload, &w); err != nil {
			return nil, 0, fmt.Errorf("frame at byte %d: %w", good, err)
		}
		for _, r := range w {
			recs = append(recs, store.AuditRecord{ID: r.ID, WorkspaceID: r.WorkspaceID, Actor: r.Actor, Action: r.Action,
				Target: r.Target, At: r.At, IP: r.IP, Detail: []byte(r.Detail)})
		}
		good += headerSize + len(payload)
	}
	return recs, good, nil
}

func nextFrame(data []byte) ([]byte, error) {
	if len(data) < headerSize {
		return nil, errTorn
	}
	n := binary.LittleEndian.Uint32(data[0:4])
	if n > maxFrame || int(n) > len(data)-headerSize {
		return nil, errTorn
	}
	payload := data[headerSize : headerSize+int(n)]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(data[4:8]) {
		return nil, errTorn
	}
	return payload, nil
}
