package icc

// Status words the card answers (ISO/IEC 7816-4 and EMV book 1/3).
const (
	swOK                 = 0x9000
	swWarnInvalidated    = 0x6283 // selected file invalidated: application blocked
	swVerifyFailed       = 0x63C0 // | tries left
	swIssuerAuthFailed   = 0x6300
	swWrongLength        = 0x6700
	swSecurityStatus     = 0x6982
	swAuthMethodBlocked  = 0x6983
	swConditionsNotMet   = 0x6985
	swSMDataIncorrect    = 0x6988
	swWrongData          = 0x6A80
	swFunctionNotSupp    = 0x6A81 // card blocked
	swFileNotFound       = 0x6A82
	swRecordNotFound     = 0x6A83
	swWrongP1P2          = 0x6A86
	swRefDataNotFound    = 0x6A88
	swINSNotSupported    = 0x6D00
	swCLANotSupported    = 0x6E00
	swBytesAvailable     = 0x6100 // | length: T=0, GET RESPONSE follows
	swWrongLe            = 0x6C00 // | exact length: T=0, command again
	swNoPreciseDiagnosis = 0x6F00
)

// command is a parsed short command APDU (ISO/IEC 7816-3 cases 1 to 4).
type command struct {
	cla, ins, p1, p2 byte
	data             []byte
	// le is the expected length (1 to 256) when the command has an Le
	// byte; hasLe tells whether it had one.
	le    int
	hasLe bool
	// hasData: case 3 or 4 (an Lc byte and data).
	hasData bool
}

// parseCommand reads a short APDU. Extended lengths (Lc = 00 followed by
// two bytes) are not supported by EMV cards: they are a wrong length.
// It never panics; ok is false for anything it cannot read.
func parseCommand(b []byte) (c command, ok bool) {
	if len(b) < 4 {
		return c, false
	}
	c.cla, c.ins, c.p1, c.p2 = b[0], b[1], b[2], b[3]
	switch n := len(b); {
	case n == 4:
		return c, true
	case n == 5:
		c.hasLe, c.le = true, int(b[4])
		if c.le == 0 {
			c.le = 256
		}
		return c, true
	default:
		lc := int(b[4])
		if lc == 0 {
			return c, false
		}
		switch n {
		case 5 + lc:
		case 6 + lc:
			c.hasLe, c.le = true, int(b[n-1])
			if c.le == 0 {
				c.le = 256
			}
		default:
			return c, false
		}
		c.hasData = true
		c.data = append([]byte(nil), b[5:5+lc]...)
		return c, true
	}
}

// sw appends a status word to data.
func sw(data []byte, w uint16) []byte {
	out := make([]byte, 0, len(data)+2)
	out = append(out, data...)
	return append(out, byte(w>>8), byte(w))
}
