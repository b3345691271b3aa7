package journal

import (
	"testing"

	"github.com/stormcreds/storm/internal/store"
)

// FuzzDecodeFrames: whatever a segment file holds after a crash or
// damage, reading it never panics, never claims more bytes than it has,
// and the bytes it accepts are exactly a run of whole frames.
func FuzzDecodeFrames(f *testing.F) {
	one, _ := encodeFrame(nil, nil)
	two, _ := encodeFrame(nil, []store.AuditRecord{read("int_1", 1), read("int_2", 2)})
	f.Add([]byte{})
	f.Add(one)
	f.Add(append(append([]byte{}, two...), two[:len(two)-3]...))
	f.Add(append(append([]byte{}, two...), 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0))
	f.Add(append(append([]byte{}, two...), tallyFrame(len(two), read("int_3", 1), 7)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, good, err := decodeFrames(data, countIn)
		if err != nil {
			return // a checksummed frame that is not JSON: refused, not misread
		}
		if good < 0 || good > len(data) {
			t.Fatalf("good = %d of %d bytes", good, len(data))
		}
		// The accepted bytes split exactly into whole frames.
		for off := 0; off < good; {
			f, err := nextFrame(data[:good], off)
			if err != nil {
				t.Fatalf("accepted bytes do not split into frames: %v", err)
			}
			off = f.end
		}
		if good == 0 && len(recs) != 0 {
			t.Fatalf("%d records from no bytes", len(recs))
		}
	})
}
