package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"time"

	"github.com/stormcreds/storm/internal/store"
)

// A frame is one appended batch: an 8-byte header (payload length and
// its CRC-32C, both little-endian uint32) and the payload: the number of
// records, then each record's fields in a fixed order, strings as a
// uvarint length and bytes, the time as varint Unix nanoseconds (UTC).
// A crash of the machine mid-write leaves a short or mismatching last
// frame, which readers drop. (JSON was half of an append's CPU.)
const headerSize = 8

// maxFrame bounds one frame's payload, so a corrupt length cannot make
// a reader allocate much.
const maxFrame = 16 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeFrame appends recs' frame to buf[:0] (buf may be nil).
func encodeFrame(buf []byte, recs []store.AuditRecord) ([]byte, error) {
	size := headerSize + binary.MaxVarintLen64
	for _, r := range recs {
		size += 8*binary.MaxVarintLen64 + len(r.ID) + len(r.WorkspaceID) + len(r.Actor) + len(r.Action) + len(r.Target) + len(r.IP) + len(r.Detail)
	}
	frame := slices.Grow(buf[:0], size)[:headerSize]
	frame = binary.AppendUvarint(frame, uint64(len(recs)))
	for _, r := range recs {
		for _, f := range []string{r.ID, r.WorkspaceID, r.Actor, r.Action, r.Target} {
			frame = appendString(frame, f)
		}
		frame = binary.AppendVarint(frame, r.At.UnixNano())
		frame = appendString(frame, r.IP)
		frame = appendString(frame, string(r.Detail))
	}
	payload := frame[headerSize:]
	if len(payload) > maxFrame {
		return nil, fmt.Errorf("a batch of %d records is %d bytes, more than a frame holds", len(recs), len(payload))
	}
	binary.LittleEndian.PutUint32(frame[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(frame[4:8], crc32.Checksum(payload, castagnoli))
	return frame, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
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
		if recs, err = decodePayload(recs, payload); err != nil {
			return nil, 0, fmt.Errorf("frame at byte %d: %w", good, err)
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
	// No frame is empty (its payload counts its records): a zero length
	// is the unused room of a mapped segment, whose zero checksum would
	// match.
	if n == 0 || n > maxFrame || int(n) > len(data)-headerSize {
		return nil, errTorn
	}
	payload := data[headerSize : headerSize+int(n)]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(data[4:8]) {
		return nil, errTorn
	}
	return payload, nil
}

var errBadPayload = errors.New("malformed batch")

// decodePayload appends the records of one frame's payload to recs.
func decodePayload(recs []store.AuditRecord, p []byte) ([]store.AuditRecord, error) {
	d := decoder{p: p}
	n := d.uvarint()
	// Each record takes at least 8 bytes: a bound before allocating.
	if d.err != nil || n > uint64(len(p)/8) {
		return nil, errBadPayload
	}
	for range n {
		var r store.AuditRecord
		r.ID, r.WorkspaceID, r.Actor, r.Action, r.Target = d.str(), d.str(), d.str(), d.str(), d.str()
		r.At = time.Unix(0, d.varint()).UTC()
		r.IP = d.str()
		if detail := d.str(); detail != "" {
			r.Detail = []byte(detail)
		}
		if d.err != nil {
			return nil, d.err
		}
		recs = append(recs, r)
	}
	if len(d.p) != 0 {
		return nil, errBadPayload
	}
	return recs, nil
}

// decoder reads a payload; the first error sticks.
type decoder struct {
	p   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.p)
	if n <= 0 {
		d.err, d.p = errBadPayload, nil
		return 0
	}
	d.p = d.p[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.p)
	if n <= 0 {
		d.err, d.p = errBadPayload, nil
		return 0
	}
	d.p = d.p[n:]
	return v
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.p)) {
		d.err, d.p = errBadPayload, nil
		return ""
	}
	s := string(d.p[:n])
	d.p = d.p[n:]
	return s
}
