package link

// HalfFrame reports whether the reader of l's connection holds part of a
// frame (tests wait for it).
func HalfFrame(l *Link) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.wire != nil && l.wire.partial.Load()
}
