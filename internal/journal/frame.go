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
//
// A tally frame (Journal.Tally) holds one record that stands for a
// number of occurrences: its length word has tallyBit set, and after
// its payload come zeros up to the next multiple of 8 bytes in the
// segment, then the count, a little-endian uint64 that later tallies
// raise in place. The checksum covers the payload, not the count; a
// count of zero is a frame the machine stopped writing.
const headerSize = 8

// tallyBit marks a tally frame in the length word; lengths stay far
// below it (maxFrame).
const tallyBit = 1 << 31

// countSize is the size of a tally frame's count.
const countSize = 8

// tallyEnd is where the count of a tally frame whose payload ends at
// byte end of its segment ends: end rounded up to a multiple of 8, plus
// the count. Aligned, the count is one machine word, raised by one
// store that a crash of the process cannot tear.
func tallyEnd(end int) int { return (end+countSize-1)&^(countSize-1) + countSize }

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
// data, a segment's bytes, and how many bytes they take. The record of a
// tally frame goes through count with its count (as it is, when count is
// nil). A short or mismatching frame ends the segment (the rest is
// dropped); a frame whose checksum matches but whose payload does not
// decode is an error: that is not a torn write.
func decodeFrames(data []byte, count func(store.AuditRecord, uint64) store.AuditRecord) (recs []store.AuditRecord, good int, err error) {
	for good < len(data) {
		f, err := nextFrame(data, good)
		if errors.Is(err, errTorn) {
			return recs, good, nil
		}
		first := len(recs)
		if recs, err = decodePayload(recs, f.payload); err != nil {
			return nil, 0, fmt.Errorf("frame at byte %d: %w", good, err)
		}
		if f.count > 0 && count != nil {
			for i := first; i < len(recs); i++ {
				recs[i] = count(recs[i], f.count)
			}
		}
		good = f.end
	}
	return recs, good, nil
}

// frameRead is one frame read from a segment.
type frameRead struct {
	payload []byte
	count   uint64 // a tally frame's count; 0 for other frames
	end     int    // the byte of the segment after the frame
}

// nextFrame reads the frame at byte off of a segment's bytes data.
func nextFrame(data []byte, off int) (frameRead, error) {
	rest := data[off:]
	if len(rest) < headerSize {
		return frameRead{}, errTorn
	}
	word := binary.LittleEndian.Uint32(rest[0:4])
	n := word &^ tallyBit
	// No frame is empty (its payload counts its records): a zero length
	// is the unused room of a mapped segment, whose zero checksum would
	// match.
	if n == 0 || n > maxFrame || int(n) > len(rest)-headerSize {
		return frameRead{}, errTorn
	}
	f := frameRead{payload: rest[headerSize : headerSize+int(n)], end: off + headerSize + int(n)}
	if crc32.Checksum(f.payload, castagnoli) != binary.LittleEndian.Uint32(rest[4:8]) {
		return frameRead{}, errTorn
	}
	if word&tallyBit != 0 {
		end := tallyEnd(f.end)
		if end > len(data) {
			return frameRead{}, errTorn
		}
		if f.count = binary.LittleEndian.Uint64(data[end-countSize : end]); f.count == 0 {
			return frameRead{}, errTorn
		}
		f.end = end
	}
	return f, nil
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
