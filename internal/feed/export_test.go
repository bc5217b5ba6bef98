package feed

// SetMaxQueuedBytes changes the byte bound of subscriber queues; the
// returned func restores it.
func SetMaxQueuedBytes(n int) (restore func()) {
	old := maxQueuedBytes
	maxQueuedBytes = n
	return func() { maxQueuedBytes = old }
}
