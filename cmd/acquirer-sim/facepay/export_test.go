package facepay

// PictureInBody is pictureIn, for the tests of package facepay_test.
var PictureInBody = pictureIn

// SpentKSNs is how many KSN counters the platform holds as spent for
// terminal, over the windows of its devices.
func (p *Platform) SpentKSNs(terminal string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.spentKSNs(terminal)
}

// KSNDeviceWindows is how many devices' windows the platform keeps for
// terminal.
func (p *Platform) KSNDeviceWindows(terminal string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ksns[terminal])
}

// Held is how many sessions and orders the platform holds in memory.
func (p *Platform) Held() (sessions, orders int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.sessions), len(p.orders)
}
