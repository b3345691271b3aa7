package web

// SetListChunk sets how many integrations one request of the list reads
// until the returned function restores it.
func SetListChunk(n int) (restore func()) {
	old := listChunk
	listChunk = n
	return func() { listChunk = old }
}
