//go:build linux

package journal

import (
	"errors"
	"os"
	"syscall"
)

// mapSegment reserves size bytes of disk for f (empty, just created) and
// maps them shared, so an append is a copy into the page cache instead
// of a write(2) (the system call was most of an append's cost). Space is
// reserved first because writing to a mapped page the file system cannot
// back faults the process instead of failing a call. On failure f is
// left empty, for write(2).
func mapSegment(f *os.File, size int) ([]byte, error) {
	fd := int(f.Fd())
	if err := syscall.Fallocate(fd, 0, 0, int64(size)); err != nil {
		return nil, err
	}
	mem, err := syscall.Mmap(fd, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		return nil, errors.Join(err, f.Truncate(0))
	}
	return mem, nil
}

func unmapSegment(mem []byte) error { return syscall.Munmap(mem) }
