package icc

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Card is a software EMV card. Its state (ATC, last online ATC, PIN try
// counter, blocked applications, consecutive offline approvals, offline
// limits changed by scripts) lives as long as the Card; each
// presentation (Present) is a fresh activation with its own transaction
// state, as when a real card is powered up or enters the field. A Card
// is safe for concurrent use.
type Card struct {
	mu      sync.Mutex
	p       *Profile
	rand    io.Reader
	apps    []*appState
	ptc     int
	blocked bool // whole card (CARD BLOCK)
}

type appState struct {
	*App
	pdol  map[Interface][]DOLEntry
	cdol1 []DOLEntry
	cdol2 []DOLEntry
	ddol  []DOLEntry

	atc                    uint16
	lastOnlineATC          uint16
	blocked                bool
	consecutiveOffline     int
	lastOnlineNotCompleted bool
	lastIssuerAuthFailed   bool
	risk                   Risk
}

// New makes a card from a profile (which it keeps and must not be
// changed afterwards). random supplies the card's challenges, ICC
// dynamic numbers and card unpredictable numbers; a seeded reader makes
// a card's answers reproducible.
func New(p *Profile, random io.Reader) (*Card, error) {
	if p == nil || len(p.Apps) == 0 {
		return nil, fmt.Errorf("%w: no application", ErrProfile)
	}
	if random == nil {
		return nil, fmt.Errorf("%w: no random source", ErrProfile)
	}
	if p.PIN != "" && (len(p.PIN) < 4 || len(p.PIN) > 12 || strings.Trim(p.PIN, "0123456789") != "") {
		return nil, fmt.Errorf("%w: reference PIN must be 4 to 12 digits", ErrProfile)
	}
	c := &Card{p: p, rand: random, ptc: p.pinTryLimit()}
	for i, a := range p.Apps {
		s, err := newAppState(a)
		if err != nil {
			return nil, fmt.Errorf("application %d: %w", i+1, err)
		}
		c.apps = append(c.apps, s)
	}
	return c, nil
}

func (p *Profile) pinTryLimit() int {
	if p.PINTryLimit <= 0 {
		return 3
	}
	return min(p.PINTryLimit, 15)
}

// requiredAC are the tags ACInput needs from the terminal.
var requiredAC = []string{"9F02", "9F03", "9F1A", "95", "5F2A", "9A", "9C", "9F37"}

func newAppState(a *App) (*appState, error) {
	if len(a.AID) < 5 || len(a.AID) > 16 {
		return nil, fmt.Errorf("%w: AID of %d bytes", ErrProfile, len(a.AID))
	}
	if !a.CVN.known() {
		return nil, fmt.Errorf("%w: %v", ErrCVN, a.CVN)
	}
	if len(a.MKAC) != 16 || (a.MKSMI != nil && len(a.MKSMI) != 16) {
		return nil, fmt.Errorf("%w: master keys must be 16 bytes", ErrProfile)
	}
	if a.ARPCMethod != 1 && a.ARPCMethod != 2 {
		return nil, fmt.Errorf("%w: ARPC method %d", ErrProfile, a.ARPCMethod)
	}
	if a.Contact == nil && a.Contactless == nil {
		return nil, fmt.Errorf("%w: application on no interface", ErrProfile)
	}
	s := &appState{App: a, pdol: map[Interface][]DOLEntry{}, blocked: a.Blocked, risk: a.Risk}
	var err error
	if s.cdol1, err = ParseDOL(a.Data["8C"]); err != nil {
		return nil, err
	}
	if s.cdol2, err = ParseDOL(a.Data["8D"]); err != nil {
		return nil, err
	}
	if s.ddol, err = ParseDOL(a.Data["9F49"]); err != nil {
		return nil, err
	}
	for _, i := range []Interface{Contact, Contactless} {
		f := a.iface(i)
		if f == nil {
			continue
		}
		pdol, err := ParseDOL(f.PDOL)
		if err != nil {
			return nil, err
		}
		s.pdol[i] = pdol
		switch f.Kernel {
		case KernelEMV:
			if err := hasTags(s.cdol1, requiredAC...); err != nil {
				return nil, fmt.Errorf("CDOL1: %w", err)
			}
		case KernelQuick:
			if err := hasTags(pdol, append([]string{"9F66"}, requiredAC...)...); err != nil {
				return nil, fmt.Errorf("%v PDOL: %w", i, err)
			}
		default:
			return nil, fmt.Errorf("%w: unknown kernel %d", ErrProfile, f.Kernel)
		}
		for _, file := range f.Files {
			if file.SFI < 1 || file.SFI > 10 {
				return nil, fmt.Errorf("%w: SFI %d outside 1 to 10", ErrProfile, file.SFI)
			}
			oda := true
			for n, r := range file.Records {
				if r.ODA && !oda {
					return nil, fmt.Errorf("%w: SFI %d record %d: ODA records must come first", ErrProfile, file.SFI, n+1)
				}
				oda = r.ODA
				v, err := a.recordValue(f, r)
				if err != nil {
					return nil, err
				}
				if len(tlv("70", v)) > 254 {
					return nil, fmt.Errorf("%w: SFI %d record %d longer than a short response", ErrProfile, file.SFI, n+1)
				}
			}
		}
	}
	return s, nil
}

func hasTags(dol []DOLEntry, tags ...string) error {
	for _, t := range tags {
		found := false
		for _, e := range dol {
			if e.Tag == t {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("%w: %s missing", ErrProfile, t)
		}
	}
	return nil
}

// ATC returns the application transaction counter of application i
// (from 0).
func (c *Card) ATC(i int) uint16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i < 0 || i >= len(c.apps) {
		return 0
	}
	return c.apps[i].atc
}

// PINTries returns the PIN try counter.
func (c *Card) PINTries() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ptc
}

// Blocked reports whether application i is blocked.
func (c *Card) Blocked(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return i >= 0 && i < len(c.apps) && c.apps[i].blocked
}

// Present activates the card on an interface (power-up in the slot,
// entry into the field) and returns the port the reader simulator talks
// to. Each presentation starts with nothing selected.
func (c *Card) Present(i Interface) *Port {
	return &Port{c: c, iface: i}
}

// Port is one activation of a card on one interface; it implements the
// Transmit of the PN532 and TDA8029 simulators' cards. On the contact
// interface it speaks T=0 as a card does (61xx after a command with
// data, then GET RESPONSE; 6Cxx for a wrong Le); contactless it answers
// whole responses.
type Port struct {
	c     *Card
	iface Interface

	mu       sync.Mutex
	gone     bool
	trigger  func(cmd, resp []byte) bool
	onRemove func()
	pending  []byte // T=0: the data GET RESPONSE gives
	s        session
}

// Interface is the interface the card was presented on.
func (p *Port) Interface() Interface { return p.iface }

// Remove takes the card away: the next Transmit finds it mute
// (ErrRemoved). A command being processed completes first.
func (p *Port) Remove() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gone = true
}

// Removed reports whether the card was taken away.
func (p *Port) Removed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gone
}

// RemoveWhen takes the card away right after it answers a command for
// which trigger returns true (the command and the response are given),
// then calls then (when not nil) in its own goroutine, for the board to
// empty the slot or the field. It makes "card removed after the ARQC"
// reproducible: the card answers the command, and no other.
func (p *Port) RemoveWhen(trigger func(cmd, resp []byte) bool, then func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.trigger, p.onRemove = trigger, then
}

// AfterGenerateAC is a RemoveWhen trigger: the card leaves after it
// answers the n-th GENERATE AC of the presentation with success (n = 1:
// right after the ARQC or first AC). AfterCommand(0xA8, 1) does the same
// after the GET PROCESSING OPTIONS of a quick contactless kernel, which
// carries the cryptogram.
func AfterGenerateAC(n int) func(cmd, resp []byte) bool { return AfterCommand(0xAE, n) }

// AfterCommand is a RemoveWhen trigger: the card leaves after its n-th
// successful answer to a command with instruction byte ins. On the
// contact interface a command whose data comes with GET RESPONSE counts
// when GET RESPONSE delivers it.
func AfterCommand(ins byte, n int) func(cmd, resp []byte) bool {
	count := 0
	waiting := false
	return func(cmd, resp []byte) bool {
		if len(cmd) < 4 || len(resp) < 2 {
			return false
		}
		sw1 := resp[len(resp)-2]
		done := false
		switch {
		case cmd[1] == ins && sw1 == 0x90:
			done, waiting = true, false
		case cmd[1] == ins && sw1 == 0x61:
			waiting = true
		case cmd[1] == 0xC0 && waiting:
			switch sw1 {
			case 0x90:
				done, waiting = true, false
			case 0x61, 0x6C:
			default:
				waiting = false
			}
		default:
			waiting = false
		}
		if !done {
			return false
		}
		count++
		return count == n
	}
}

// Transmit processes one command APDU and returns the response APDU
// (data, SW1, SW2). The only error is ErrRemoved.
func (p *Port) Transmit(apdu []byte) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gone {
		return nil, ErrRemoved
	}
	p.c.mu.Lock()
	resp := p.process(apdu)
	p.c.mu.Unlock()
	if p.trigger != nil && p.trigger(apdu, resp) {
		p.gone = true
		if p.onRemove != nil {
			go p.onRemove()
		}
	}
	return resp, nil
}

// process runs one command; the card's lock is held.
func (p *Port) process(b []byte) []byte {
	cmd, ok := parseCommand(b)
	if !ok {
		p.pending = nil
		return sw(nil, swWrongLength)
	}
	if p.iface == Contact && cmd.cla == 0x00 && cmd.ins == 0xC0 {
		return p.getResponse(cmd)
	}
	p.pending = nil
	data, status := p.dispatch(cmd)
	if p.iface != Contact || len(data) == 0 {
		return sw(data, status)
	}
	// T=0 (ISO/IEC 7816-3 and EMV book 1 annex A).
	if !cmd.hasData {
		// Case 2: P3 is Le. The exact length, or 6Cxx to ask for it.
		if cmd.hasLe && cmd.le == len(data) {
			return sw(data, status)
		}
		return sw(nil, swWrongLe|uint16(byte(len(data))))
	}
	// Case 4: the data waits for GET RESPONSE; 61xx says how much, a
	// warning status is sent instead (annex A, case 4 with warning).
	p.pending = data
	if status == swOK {
		return sw(nil, swBytesAvailable|uint16(byte(len(data))))
	}
	return sw(nil, status)
}

// getResponse is T=0's GET RESPONSE (00 C0 00 00 Le).
func (p *Port) getResponse(cmd command) []byte {
	if cmd.p1 != 0 || cmd.p2 != 0 {
		return sw(nil, swWrongP1P2)
	}
	if cmd.hasData {
		p.pending = nil
		return sw(nil, swWrongLength)
	}
	if len(p.pending) == 0 {
		return sw(nil, swConditionsNotMet)
	}
	n := len(p.pending)
	switch {
	case !cmd.hasLe || cmd.le > n:
		return sw(nil, swWrongLe|uint16(byte(n)))
	case cmd.le < n:
		out := p.pending[:cmd.le]
		p.pending = p.pending[cmd.le:]
		return sw(out, swBytesAvailable|uint16(byte(len(p.pending))))
	}
	out := p.pending
	p.pending = nil
	return sw(out, swOK)
}

// dispatch runs a command and returns its data and status.
func (p *Port) dispatch(cmd command) ([]byte, uint16) {
	if p.c.blocked {
		return nil, swFunctionNotSupp
	}
	switch cmd.cla {
	case 0x00:
		switch cmd.ins {
		case 0xA4:
			return p.selectCmd(cmd)
		case 0xB2:
			return p.readRecord(cmd)
		case 0x20:
			return p.verify(cmd)
		case 0x84:
			return p.getChallenge(cmd)
		case 0x88:
			return p.internalAuthenticate(cmd)
		case 0x82:
			return p.externalAuthenticate(cmd)
		}
		return nil, swINSNotSupported
	case 0x80:
		switch cmd.ins {
		case 0xA8:
			return p.gpo(cmd)
		case 0xAE:
			return p.generateAC(cmd)
		case 0xCA:
			return p.getData(cmd)
		}
		return nil, swINSNotSupported
	case 0x84, 0x04:
		switch cmd.ins {
		case 0x1E, 0x18, 0x16, 0x24, 0xDA:
			return p.script(cmd)
		}
		return nil, swINSNotSupported
	}
	return nil, swCLANotSupported
}

// random reads n bytes from the card's source; a failing source gives
// zeros rather than a panic (a test card, not a secure element).
func (c *Card) random(n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(c.rand, b); err != nil {
		clear(b)
	}
	return b
}

// errPIN is internal: a malformed PIN block.
var errPIN = errors.New("malformed PIN block")

// pinFromBlock reads an ISO 9564 format 2 PIN block (2N, digits, F
// filler), the form EMV's VERIFY carries.
func pinFromBlock(b []byte) (string, error) {
	if len(b) != 8 || b[0]>>4 != 2 {
		return "", errPIN
	}
	n := int(b[0] & 0x0F)
	if n < 4 || n > 12 {
		return "", errPIN
	}
	digits := make([]byte, 0, 14)
	for _, x := range b[1:] {
		digits = append(digits, x>>4, x&0x0F)
	}
	for i, d := range digits {
		if (i < n && d > 9) || (i >= n && d != 0x0F) {
			return "", errPIN
		}
	}
	out := make([]byte, n)
	for i := range out {
		out[i] = '0' + digits[i]
	}
	return string(out), nil
}

// pinEqual compares in constant time (lengths are not secret here).
func pinEqual(a, b string) bool {
	return len(a) == len(b) && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

var (
	pseName  = []byte("1PAY.SYS.DDF01")
	ppseName = []byte("2PAY.SYS.DDF01")
)

func isName(a, b []byte) bool { return bytes.Equal(a, b) }
