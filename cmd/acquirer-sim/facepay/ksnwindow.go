package facepay

import (
	"encoding/hex"
	"math/bits"

	"posd/crypto/dukpt"
)

// The platform's memory of spent KSNs. A DUKPT KSN is the device's
// initial KSN with a transaction counter in its low-order bits (21 of a
// TDES KSN, 32 of an AES one) that only goes up on the device: its
// originator hands out every counter once, in order, and may skip some,
// never go back. So, as IPsec's anti-replay window does with sequence
// numbers (RFC 4303 3.4.3), the platform keeps per terminal and device
// the highest counter spent and which of the KSNWindow counters below it
// were spent too, instead of every KSN ever seen.
const (
	// KSNWindow is how many counters, the highest one spent of a device
	// included, the platform tells spent from unspent: a counter that
	// far or farther below the highest is refused as too old, spent or
	// not. A terminal spends its KSNs one after the other, one sale at a
	// time: one that arrives behind by more than the window is no
	// terminal's retry.
	KSNWindow = 64
	// KSNDevices is how many DUKPT devices of one terminal the platform
	// keeps windows for. A terminal changes device (initial KSN) only
	// when a key custodian loads it a new initial key; a KSN of a device
	// whose window was dropped for a fifth is taken as a new device's.
	// Its PIN block still pays nothing: it is bound to the session it
	// was made for (PasswordBinding), which has ended.
	KSNDevices = 4
)

// ksnVerdict is what a KSN is to its device's window.
type ksnVerdict int

const (
	ksnFresh    ksnVerdict = iota // never spent: spent now
	ksnReplayed                   // spent before
	ksnTooOld                     // KSNWindow or more below the highest spent
)

// ksnWindow is one device's window: top is the highest counter spent,
// bit i of seen says whether counter top-i was.
type ksnWindow struct {
	device string // the initial KSN, raw
	top    uint32
	seen   uint64
	used   uint64 // the platform's spend count at its last use
}

// spend judges counter c and spends it when fresh.
func (w *ksnWindow) spend(c uint32) ksnVerdict {
	switch {
	case c > w.top:
		if d := c - w.top; d < KSNWindow {
			w.seen = w.seen<<d | 1
		} else {
			w.seen = 1
		}
		w.top = c
		return ksnFresh
	case w.top-c >= KSNWindow:
		return ksnTooOld
	case w.seen&(1<<(w.top-c)) != 0:
		return ksnReplayed
	}
	w.seen |= 1 << (w.top - c)
	return ksnFresh
}

// ksnDevice splits a transaction KSN into its device, the initial KSN
// (the KSN with its counter cleared), and its counter.
func ksnDevice(ksn []byte) (string, uint32, error) {
	dev, c, err := dukpt.SplitKSN(ksn)
	return string(dev), c, err
}

// spendKSN judges counter c of device under terminal's windows and
// spends it when fresh; a device new to the terminal gets a window, in
// the place of the terminal's least recently used one when it has
// KSNDevices already. p.mu is held.
func (p *Platform) spendKSN(terminal, device string, c uint32) ksnVerdict {
	p.ksnSpends++
	ws := p.ksns[terminal]
	for i := range ws {
		if ws[i].device == device {
			ws[i].used = p.ksnSpends
			return ws[i].spend(c)
		}
	}
	w := ksnWindow{device: device, top: c, seen: 1, used: p.ksnSpends}
	if len(ws) < KSNDevices {
		p.ksns[terminal] = append(ws, w)
		return ksnFresh
	}
	lru := 0
	for i := range ws {
		if ws[i].used < ws[lru].used {
			lru = i
		}
	}
	p.log.Warn("face-pay KSN window of a terminal's least recently used DUKPT device dropped", "terminal", terminal,
		"device", hex.EncodeToString([]byte(ws[lru].device)), "new_device", hex.EncodeToString([]byte(device)))
	ws[lru] = w
	return ksnFresh
}

// spentKSNs is how many counters terminal's windows hold spent; p.mu is
// held.
func (p *Platform) spentKSNs(terminal string) int {
	n := 0
	for _, w := range p.ksns[terminal] {
		n += bits.OnesCount64(w.seen)
	}
	return n
}
