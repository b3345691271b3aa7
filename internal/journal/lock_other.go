//go:build !unix

package journal

import "os"

// lockDir opens dir's lock file; without flock(2) it cannot tell whether
// another process uses the journal.
func lockDir(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}
