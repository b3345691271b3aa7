//go:build linux

package journal

import (
	"errors"
	"os"
	"syscall"
	"unsafe"
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
	mem, err := syscall.Mmap(fd, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return nil, errors.Join(err, f.Truncate(0))
	}
	return mem, nil
}

func unmapSegment(mem []byte) error { return syscall.Munmap(mem) }

// madvPopulateWrite is MADV_POPULATE_WRITE (Linux 5.14): fault the pages
// in writable, as the first write to each would.
const madvPopulateWrite = 23

// prefault faults mem's pages in ahead of the appends, in one call. On
// older kernels it does nothing: the appends fault them in one by one.
func prefault(mem []byte) {
	if len(mem) > 0 {
		syscall.Syscall(syscall.SYS_MADVISE, uintptr(unsafe.Pointer(&mem[0])), uintptr(len(mem)), madvPopulateWrite)
	}
}
