package alpar

import "fmt"

// ATR is what a card announces in its answer to reset, decoded by the
// rules of ISO/IEC 7816-3:2006 clause 8 (the TDA8029 returns the ATR
// verbatim as the answer to power_up_iso). Absent bytes take the default
// values of the standard.
type ATR struct {
	// Inverse is true for TS = 3Fh (inverse convention), false for 3Bh.
	Inverse bool
	// Protocols lists the protocols offered (T of TD1, TD2... in order,
	// T=15 excepted); just T=0 when TD1 is absent. The first one is the
	// card's preferred protocol.
	Protocols []int
	// FiDi is TA1: Fi index (high nibble) and Di index (low nibble);
	// 11h (Fi 372, Di 1) when absent.
	FiDi byte
	// N is TC1, the extra guard time in etu; 0 when absent.
	N byte
	// Specific is true when TA2 is present: the card works in the
	// specific mode, with protocol SpecificT and no PPS.
	Specific  bool
	SpecificT int
	// WI is TC2, the T=0 waiting time integer; 10 when absent.
	WI byte
	// IFSC is the first TA for T=1 (from TA3 on), the card's information
	// field size; 32 when absent.
	IFSC int
	// BWI and CWI are the first TB for T=1 (from TB3 on), block and
	// character waiting time integers; 4 and 13 when absent.
	BWI, CWI byte
	// CRC is bit 1 of the first TC for T=1: CRC instead of LRC.
	CRC bool
	// Historical are the historical bytes.
	Historical []byte
}

// fiTable and fmaxTable are Table 7 of ISO/IEC 7816-3 (Fi and f(max) in
// kHz by Fi index); 0 marks an index reserved for future use.
var (
	fiTable   = [16]int{372, 372, 558, 744, 1116, 1488, 1860, 0, 0, 512, 768, 1024, 1536, 2048, 0, 0}
	fmaxTable = [16]int{4000, 5000, 6000, 8000, 12000, 16000, 20000, 0, 0, 5000, 7500, 10000, 15000, 20000, 0, 0}
	// diTable is Table 8 (Di by Di index).
	diTable = [16]int{0, 1, 2, 4, 8, 16, 32, 64, 12, 20, 0, 0, 0, 0, 0, 0}
)

// Fi is the clock rate conversion integer of TA1; 0 for a reserved index.
func (a ATR) Fi() int { return fiTable[a.FiDi>>4] }

// FMaxKHz is the highest clock frequency TA1 allows, in kHz; 0 for a
// reserved index.
func (a ATR) FMaxKHz() int { return fmaxTable[a.FiDi>>4] }

// Di is the baud rate adjustment integer of TA1; 0 for a reserved index.
func (a ATR) Di() int { return diTable[a.FiDi&0x0F] }

// Offers reports whether the card offers protocol t.
func (a ATR) Offers(t int) bool {
	for _, p := range a.Protocols {
		if p == t {
			return true
		}
	}
	return false
}

// MaxATR is the longest answer to reset: TS and 32 more bytes (ISO/IEC
// 7816-3 clause 8.2.1).
const MaxATR = 33

// ParseATR decodes an answer to reset. It checks TS, the structure given
// by T0 and the TDi bytes, the length, and TCK when present (present
// unless T=0 is the only protocol indicated; the XOR of T0 to TCK is 0).
// It never keeps a reference to b.
func ParseATR(b []byte) (ATR, error) {
	a := ATR{FiDi: 0x11, WI: 10, IFSC: 32, BWI: 4, CWI: 13}
	bad := func(format string, args ...any) (ATR, error) {
		return ATR{}, fmt.Errorf("alpar: ATR: "+format+": %w", append(args, ErrBadATR)...)
	}
	if len(b) < 2 {
		return bad("%d bytes", len(b))
	}
	if len(b) > MaxATR {
		return bad("%d bytes, more than %d", len(b), MaxATR)
	}
	switch b[0] {
	case 0x3B:
	case 0x3F:
		a.Inverse = true
	default:
		return bad("TS %02Xh", b[0])
	}
	pos := 1
	y := b[pos] >> 4 // which of TAi..TDi follow
	k := int(b[pos] & 0x0F)
	pos++
	onlyT0 := true // no T other than 0 indicated: no TCK
	t := 0         // protocol the current group's bytes belong to (i >= 2)
	tdSeen := false
	var firstT1TA, firstT1TB, firstT1TC bool
	for i := 1; ; i++ {
		ta, tb, tc, td := -1, -1, -1, -1
		for bit, dst := range []*int{&ta, &tb, &tc, &td} {
			if y&(1<<bit) == 0 {
				continue
			}
			if pos >= len(b) {
				return bad("ends inside interface bytes of group %d", i)
			}
			*dst = int(b[pos])
			pos++
		}
		switch i {
		case 1:
			if ta >= 0 {
				a.FiDi = byte(ta)
			}
			if tc >= 0 {
				a.N = byte(tc)
			}
		case 2:
			if ta >= 0 {
				a.Specific, a.SpecificT = true, ta&0x0F
			}
			if tc >= 0 {
				a.WI = byte(tc)
			}
		default:
			if t == 1 {
				if ta >= 0 && !firstT1TA {
					firstT1TA = true
					a.IFSC = ta
				}
				if tb >= 0 && !firstT1TB {
					firstT1TB = true
					a.BWI, a.CWI = byte(tb>>4), byte(tb&0x0F)
				}
				if tc >= 0 && !firstT1TC {
					firstT1TC = true
					a.CRC = tc&0x01 != 0
				}
			}
		}
		if td < 0 {
			break
		}
		tdSeen = true
		t = td & 0x0F
		if t != 0 {
			onlyT0 = false
		}
		if t != 15 && !containsInt(a.Protocols, t) {
			a.Protocols = append(a.Protocols, t)
		}
		y = byte(td >> 4)
	}
	if !tdSeen || len(a.Protocols) == 0 {
		a.Protocols = []int{0}
	}
	if pos+k > len(b) {
		return bad("%d historical bytes announced, %d left", k, len(b)-pos)
	}
	a.Historical = append([]byte(nil), b[pos:pos+k]...)
	pos += k
	if onlyT0 {
		if pos != len(b) {
			return bad("%d bytes after the historical bytes", len(b)-pos)
		}
		return a, nil
	}
	if pos+1 != len(b) {
		return bad("%d bytes where TCK alone should end it", len(b)-pos)
	}
	if lrc(b[1:]) != 0 {
		return bad("TCK %02Xh does not check", b[pos])
	}
	return a, nil
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
