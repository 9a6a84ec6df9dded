package emv

import (
	"bytes"
	"context"
	"fmt"
	"math/big"
	"testing"

	"posd/conn/apdu"
	cemv "posd/crypto/emv"
)

// This file is a scripted software card for the kernel's tests: an ICC
// that answers the commands the kernel sends, checks them byte for byte
// (header, Lc, Le, DOL data lengths) and signs with real RSA keys under a
// test CA, so every ODA path can pass or fail for a stated reason.

const (
	testPAN    = "4761739001010119"
	testTrack2 = "4761739001010119D29122010123456789"
)

// testApp is one application on the test card.
type testApp struct {
	aid      []byte
	label    string
	priority []byte // 87, nil for none
	pdol     []byte // 9F38
	blocked  bool   // SELECT answers 6283

	aip       [2]byte
	afl       []byte
	records   map[[2]byte][]byte // (SFI, record) → record
	gpoSW     uint16             // when set, GPO answers it
	gpoFmt1   bool
	gpoRaw    []byte // the whole GPO response data, when set
	intAuthSW uint16
	badDDA    bool
	gpoExtra  []byte // more objects in a format 2 GPO response
	cdol1     []byte
	cdol2     []byte
	gacFmt1   bool
	iad       []byte
	atc       uint16
	lastOnl   uint16
	noGetData bool

	pinBlock []byte // format 2 plaintext block of the right PIN
	ptc      int

	// decide returns the card's cryptogram for a request (nil: as asked,
	// ARQC for TC).
	decide    func(want byte, second bool) byte
	cidExtra  byte   // ORed into the CID (advice, reason)
	gacExtra  []byte // more objects in a format 2 GENERATE AC response
	badCDA    bool   // sign over the wrong hash
	noSDAD    bool   // leave 9F4B out of a CDA response
	arpc      []byte
	scriptSW  map[byte]uint16 // by INS
	iccDynNum []byte

	// contactless
	quick     func(c *testCard, pdolData []byte) []byte // a qVSDC/qPBOC GPO response (data only)
	kernelID  []byte                                    // 9F2A in the PPSE
	ppseExtra []byte
}

// testCard is the scripted card.
type testCard struct {
	t        testing.TB
	apps     []*testApp
	pse      bool
	pseSFI   byte   // the PSE directory's SFI (0: 1)
	psePad   []byte // bytes after the PSE directory record's template
	ppse     bool
	blocked  bool // SELECT answers 6A81
	sel      *testApp
	selOcc   int
	selName  []byte
	t0       bool // T=0 procedure: 61xx and 6Cxx
	t0Short  int  // 61xx of a case 4 command gives this many bytes fewer (its GET RESPONSE gets 6Cxx)
	pending  []byte
	pendSW   uint16
	removeAt string // command name at which the card leaves
	removeN  int    // ... at its n-th occurrence (0: first)
	counts   map[string]int
	cmds     []string // commands received, hex

	pdolData, cdol1Data []byte
	un                  []byte
	challenge           []byte
	challengeLen        int    // GET CHALLENGE gives this many bytes (0: 8)
	challengeSW         uint16 // GET CHALLENGE answers this status, when set
	gacCount            int
	scriptsRun          int
	extAuth             int
}

func (c *testCard) Transmit(_ context.Context, capdu []byte) ([]byte, error) {
	c.cmds = append(c.cmds, fmt.Sprintf("%X", capdu))
	if c.counts == nil {
		c.counts = map[string]int{}
	}
	name := insName(capdu)
	n := c.counts[name]
	c.counts[name]++
	if c.removeAt != "" && name == c.removeAt && n == c.removeN {
		return nil, fmt.Errorf("test reader: %w", apdu.ErrCardRemoved)
	}
	if len(capdu) < 4 {
		return sw(0x6700), nil
	}
	if c.t0 && capdu[1] == 0xC0 {
		if c.pending == nil {
			return sw(0x6985), nil
		}
		le := int(capdu[4])
		if le != len(c.pending) {
			return sw(0x6C00 | uint16(len(c.pending))), nil
		}
		r := append(c.pending, byte(c.pendSW>>8), byte(c.pendSW))
		c.pending = nil
		return r, nil
	}
	data, s := c.handle(capdu)
	if c.t0 {
		switch capdu[1] {
		case 0xB2, 0xCA, 0x84: // case 2: wrong Le first
			if len(data) > 0 && int(capdu[len(capdu)-1]) != len(data) {
				return sw(0x6C00 | uint16(len(data))), nil
			}
		case 0xA4, 0xA8, 0xAE, 0x88: // case 4: 61xx, or a warning without data
			if len(data) > 0 && s == 0x9000 {
				c.pending, c.pendSW = data, 0x9000
				return sw(0x6100 | uint16(len(data)-min(c.t0Short, len(data)-1))), nil
			}
			if len(data) > 0 && s>>8 == 0x62 {
				c.pending, c.pendSW = data, 0x9000
				return sw(s), nil
			}
		}
	}
	return append(data, byte(s>>8), byte(s)), nil
}

func sw(s uint16) []byte { return []byte{byte(s >> 8), byte(s)} }

func insName(c []byte) string {
	if len(c) < 2 {
		return "?"
	}
	switch c[1] {
	case 0xA4:
		return "SELECT"
	case 0xB2:
		return "READ RECORD"
	case 0xA8:
		return "GPO"
	case 0xAE:
		return "GENERATE AC"
	case 0xCA:
		return "GET DATA"
	case 0x20:
		return "VERIFY"
	case 0x84:
		return "GET CHALLENGE"
	case 0x88:
		return "INTERNAL AUTHENTICATE"
	case 0x82:
		return "EXTERNAL AUTHENTICATE"
	case 0xC0:
		return "GET RESPONSE"
	}
	return "SCRIPT"
}

// body checks Lc against the data and the trailing Le, returns the data.
func body(c []byte, wantLe bool) ([]byte, bool) {
	if len(c) == 4 {
		return nil, !wantLe
	}
	if len(c) == 5 {
		return nil, wantLe
	}
	lc := int(c[4])
	rest := c[5:]
	if wantLe {
		if len(rest) != lc+1 || rest[lc] != 0x00 {
			return nil, false
		}
		return rest[:lc], true
	}
	return rest, len(rest) == lc
}

func (c *testCard) handle(capdu []byte) ([]byte, uint16) {
	switch {
	case capdu[0] == 0x00 && capdu[1] == 0xA4:
		return c.doSelect(capdu)
	case capdu[0] == 0x00 && capdu[1] == 0xB2:
		return c.readRecord(capdu)
	case capdu[0] == 0x80 && capdu[1] == 0xA8:
		return c.gpo(capdu)
	case capdu[0] == 0x80 && capdu[1] == 0xCA:
		return c.getData(capdu)
	case capdu[0] == 0x80 && capdu[1] == 0xAE:
		return c.generateAC(capdu)
	case capdu[0] == 0x00 && capdu[1] == 0x20:
		return c.verify(capdu)
	case capdu[0] == 0x00 && capdu[1] == 0x84:
		if len(capdu) != 5 || capdu[4] != 0 && capdu[4] != 8 {
			return nil, 0x6700
		}
		if c.challengeSW != 0 {
			return nil, c.challengeSW
		}
		c.challenge = h("0102030405060708")
		if c.challengeLen > 0 {
			c.challenge = c.challenge[:c.challengeLen]
		}
		return c.challenge, 0x9000
	case capdu[0] == 0x00 && capdu[1] == 0x88:
		return c.internalAuth(capdu)
	case capdu[0] == 0x00 && capdu[1] == 0x82:
		c.extAuth++
		d, ok := body(capdu, false)
		if !ok || c.sel == nil {
			return nil, 0x6700
		}
		if bytes.Equal(d, c.sel.arpc) {
			return nil, 0x9000
		}
		return nil, 0x6300
	case capdu[0]&0xF0 == 0x80 || capdu[0]&0xF0 == 0x00:
		c.scriptsRun++
		if c.sel != nil && c.sel.scriptSW != nil {
			if s, ok := c.sel.scriptSW[capdu[1]]; ok {
				return nil, s
			}
		}
		return nil, 0x9000
	}
	return nil, 0x6E00
}

func (c *testCard) doSelect(capdu []byte) ([]byte, uint16) {
	name, ok := body(capdu, true)
	if !ok || capdu[2] != 0x04 || capdu[3] != 0x00 && capdu[3] != 0x02 {
		return nil, 0x6700
	}
	if c.blocked {
		return nil, 0x6A81
	}
	if bytes.Equal(name, pseName) {
		if !c.pse {
			return nil, 0x6A82
		}
		c.sel = nil
		return tpl("6F", tlv("84", pseName), tpl("A5", tlv("88", []byte{c.dirSFI()}), tlv("5F2D", []byte("en")))), 0x9000
	}
	if bytes.Equal(name, ppseName) {
		if !c.ppse {
			return nil, 0x6A82
		}
		c.sel = nil
		var entries [][]byte
		for _, a := range c.apps {
			e := [][]byte{tlv("4F", a.aid), tlv("50", []byte(a.label))}
			if a.priority != nil {
				e = append(e, tlv("87", a.priority))
			}
			if a.kernelID != nil {
				e = append(e, tlv("9F2A", a.kernelID))
			}
			e = append(e, a.ppseExtra)
			entries = append(entries, tpl("61", e...))
		}
		return tpl("6F", tlv("84", ppseName), tpl("A5", tpl("BF0C", entries...))), 0x9000
	}
	// By AID: exact or partial, with occurrences.
	var matches []*testApp
	for _, a := range c.apps {
		if bytes.HasPrefix(a.aid, name) {
			matches = append(matches, a)
		}
	}
	occ := 0
	if capdu[3] == 0x02 {
		if !bytes.Equal(name, c.selName) {
			return nil, 0x6A82
		}
		occ = c.selOcc + 1
	}
	c.selName = bytes.Clone(name)
	c.selOcc = occ
	if occ >= len(matches) {
		return nil, 0x6A82
	}
	a := matches[occ]
	c.sel = a
	parts := [][]byte{tlv("50", []byte(a.label))}
	if a.priority != nil {
		parts = append(parts, tlv("87", a.priority))
	}
	if a.pdol != nil {
		parts = append(parts, tlv("9F38", a.pdol))
	}
	fci := tpl("6F", tlv("84", a.aid), tpl("A5", parts...))
	if a.blocked {
		return fci, 0x6283
	}
	return fci, 0x9000
}

func (c *testCard) readRecord(capdu []byte) ([]byte, uint16) {
	if len(capdu) != 5 || capdu[3]&0x07 != 0x04 {
		return nil, 0x6700
	}
	sfi, rec := capdu[3]>>3, capdu[2]
	if c.sel == nil {
		if !c.pse || sfi != c.dirSFI() {
			return nil, 0x6A82
		}
		if rec != 1 {
			return nil, 0x6A83
		}
		var entries [][]byte
		for _, a := range c.apps {
			e := [][]byte{tlv("4F", a.aid), tlv("50", []byte(a.label))}
			if a.priority != nil {
				e = append(e, tlv("87", a.priority))
			}
			entries = append(entries, tpl("61", e...))
		}
		return append(tpl("70", entries...), c.psePad...), 0x9000
	}
	r, ok := c.sel.records[[2]byte{sfi, rec}]
	if !ok {
		return nil, 0x6A83
	}
	return r, 0x9000
}

// dirSFI is the SFI of the PSE directory.
func (c *testCard) dirSFI() byte {
	if c.pseSFI == 0 {
		return 1
	}
	return c.pseSFI
}

// dolLen is the total length a DOL asks for.
func dolLen(t testing.TB, d []byte) int {
	e, err := parseDOL(d)
	if err != nil {
		t.Fatalf("test card DOL: %v", err)
	}
	n := 0
	for _, x := range e {
		n += x.length
	}
	return n
}

// dolField returns the value a DOL's data gives for tag.
func dolField(t testing.TB, d []byte, data []byte, want tag) []byte {
	e, _ := parseDOL(d)
	off := 0
	for _, x := range e {
		if x.tag == want {
			return data[off : off+x.length]
		}
		off += x.length
	}
	return nil
}

func (c *testCard) gpo(capdu []byte) ([]byte, uint16) {
	d, ok := body(capdu, true)
	a := c.sel
	if !ok || a == nil || capdu[2] != 0 || capdu[3] != 0 || len(d) < 2 || d[0] != 0x83 {
		return nil, 0x6700
	}
	// 83 with a one-byte length, or 81 xx from 128 bytes on (BER-TLV).
	n, pd := int(d[1]), d[2:]
	if d[1] == 0x81 && len(d) > 2 {
		n, pd = int(d[2]), d[3:]
		if n < 0x80 {
			return nil, 0x6700
		}
	} else if d[1] >= 0x80 {
		return nil, 0x6700
	}
	if n != len(pd) || len(pd) != dolLen(c.t, a.pdol) {
		return nil, 0x6700
	}
	c.pdolData = bytes.Clone(pd)
	if a.gpoSW != 0 {
		return nil, a.gpoSW
	}
	if f := dolField(c.t, a.pdol, pd, 0x9F37); f != nil {
		c.un = bytes.Clone(f)
	}
	if a.gpoRaw != nil {
		return a.gpoRaw, 0x9000
	}
	if a.quick != nil {
		return a.quick(c, pd), 0x9000
	}
	if a.gpoFmt1 {
		return tlv("80", append(a.aip[:], a.afl...)), 0x9000
	}
	return tpl("77", tlv("82", a.aip[:]), tlv("94", a.afl), a.gpoExtra), 0x9000
}

func (c *testCard) getData(capdu []byte) ([]byte, uint16) {
	a := c.sel
	if len(capdu) != 5 || a == nil {
		return nil, 0x6700
	}
	if a.noGetData {
		return nil, 0x6A88
	}
	switch uint16(capdu[2])<<8 | uint16(capdu[3]) {
	case 0x9F36:
		return tlv("9F36", []byte{byte(a.atc >> 8), byte(a.atc)}), 0x9000
	case 0x9F13:
		return tlv("9F13", []byte{byte(a.lastOnl >> 8), byte(a.lastOnl)}), 0x9000
	case 0x9F17:
		if a.ptc < 0 {
			return nil, 0x6A88
		}
		return tlv("9F17", []byte{byte(a.ptc)}), 0x9000
	}
	return nil, 0x6A88
}

func (c *testCard) verify(capdu []byte) ([]byte, uint16) {
	a := c.sel
	d, ok := body(capdu, false)
	if !ok || a == nil || capdu[2] != 0 {
		return nil, 0x6700
	}
	if a.ptc == 0 {
		return nil, 0x6983
	}
	var block []byte
	switch capdu[3] {
	case 0x80:
		block = d
	case 0x88:
		key := getPKI(c.t).icc
		for _, r := range a.records {
			if bytes.Contains(r, []byte{0x9F, 0x2D}) {
				key = getPKI(c.t).pin
			}
		}
		m := new(big.Int).Exp(new(big.Int).SetBytes(d), new(big.Int).SetBytes(key.D), new(big.Int).SetBytes(key.Modulus))
		plain := make([]byte, len(key.Modulus))
		m.FillBytes(plain)
		if plain[0] != 0x7F || !bytes.Equal(plain[9:17], c.challenge) {
			return nil, 0x6A80
		}
		block = plain[1:9]
	default:
		return nil, 0x6A86
	}
	if bytes.Equal(block, a.pinBlock) {
		if a.ptc > 0 {
			a.ptc = 3
		}
		return nil, 0x9000
	}
	if a.ptc > 0 {
		a.ptc--
	}
	return nil, 0x63C0 | uint16(max(a.ptc, 0))
}

func (c *testCard) internalAuth(capdu []byte) ([]byte, uint16) {
	d, ok := body(capdu, true)
	if !ok || c.sel == nil {
		return nil, 0x6700
	}
	if c.sel.intAuthSW != 0 {
		return nil, c.sel.intAuthSW
	}
	if c.sel.badDDA {
		d = append([]byte{0xFF}, d...)
	}
	sdad, err := cemv.SignSDAD(getPKI(c.t).icc, append([]byte{2}, 0x12, 0x34), d)
	if err != nil {
		c.t.Fatalf("test card: %v", err)
	}
	return tlv("80", sdad), 0x9000
}

var testACKey = h("0123456789ABCDEFFEDCBA9876543210")

func (c *testCard) generateAC(capdu []byte) ([]byte, uint16) {
	a := c.sel
	d, ok := body(capdu, true)
	if !ok || a == nil || capdu[3] != 0 {
		return nil, 0x6700
	}
	second := c.gacCount > 0
	c.gacCount++
	dol := a.cdol1
	if second {
		dol = a.cdol2
	}
	if len(d) != dolLen(c.t, dol) {
		return nil, 0x6700
	}
	if !second {
		c.cdol1Data = bytes.Clone(d)
		if f := dolField(c.t, dol, d, 0x9F37); f != nil {
			c.un = bytes.Clone(f)
		}
	}
	want := capdu[2] & 0xC0
	got := want
	if a.decide != nil {
		got = a.decide(want, second)
	}
	cid := got | a.cidExtra
	a.atc++
	atc := []byte{byte(a.atc >> 8), byte(a.atc)}
	ac, _ := cemv.GenerateAC(testACKey, append(bytes.Clone(d), atc...), cemv.Padding2)
	if a.gacFmt1 {
		return tlv("80", bytes.Join([][]byte{{cid}, atc, ac, a.iad}, nil)), 0x9000
	}
	objs := [][]byte{tlv("9F27", []byte{cid}), tlv("9F36", atc)}
	if a.iad != nil {
		objs = append(objs, tlv("9F10", a.iad))
	}
	if a.gacExtra != nil {
		objs = append(objs, a.gacExtra)
	}
	if capdu[2]&0x10 != 0 && got != 0x00 {
		if a.noSDAD {
			return tpl("77", objs...), 0x9000
		}
		var cdol2 []byte
		if second {
			cdol2 = d
		}
		hash := cemv.CDATransactionDataHash(c.pdolData, c.cdol1Data, cdol2, bytes.Join(objs, nil))
		if a.badCDA {
			hash[0] ^= 1
		}
		dyn := a.iccDynNum
		if dyn == nil {
			dyn = h("1122334455667788")
		}
		sdad, err := cemv.SignCDA(getPKI(c.t).icc, &cemv.DynamicData{ICCDynamicNumber: dyn, CID: cid, AC: ac, TxnDataHash: hash}, c.un)
		if err != nil {
			c.t.Fatalf("test card CDA: %v", err)
		}
		objs = append(objs, tlv("9F4B", sdad))
		return tpl("77", objs...), 0x9000
	}
	objs = append(objs, tlv("9F26", ac))
	return tpl("77", objs...), 0x9000
}
