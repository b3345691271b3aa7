//go:build !linux

package journal

import (
	"errors"
	"os"
)

// mapSegment is not used here: appends are written with write(2).
func mapSegment(*os.File, int) ([]byte, error) {
	return nil, errors.ErrUnsupported
}

func unmapSegment([]byte) error { return nil }

func prefault([]byte) {}
