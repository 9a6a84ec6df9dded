package pn532

import "fmt"

// TargetType selects the modulation InListPassiveTarget polls for.
type TargetType uint8

// Target types.
const (
	TypeA TargetType = iota + 1 // ISO 14443 Type A, 106 kbit/s
	TypeB                       // ISO 14443 Type B, 106 kbit/s
)

func (t TargetType) String() string {
	switch t {
	case TypeA:
		return "ISO14443A"
	case TypeB:
		return "ISO14443B"
	}
	return fmt.Sprintf("TargetType(%d)", uint8(t))
}

// BrTy is the baud rate / modulation byte of InListPassiveTarget
// (UM0701-02 §7.3.5).
type BrTy byte

// Baud rate / modulation types used here.
const (
	BrTyA106 BrTy = 0x00 // 106 kbit/s Type A
	BrTyB106 BrTy = 0x03 // 106 kbit/s Type B
)

// Target is one card found by InListPassiveTarget.
type Target struct {
	Type TargetType
	Tg   byte // logical number the chip gave the target

	// Type A.
	ATQA [2]byte // SENS_RES, in the order the chip sends it
	SAK  byte    // SEL_RES
	UID  []byte  // NFCID1 (4, 7 or 10 bytes)
	// ATS is the answer to select, TL first, when the chip got one: only
	// for SAK bit 0x20, and only when the chip sent RATS (SetParameters
	// ParamAutoRATS) and the card answered it. A card whose SAK claims
	// ISO 14443-4 may still come without (e.g. SAK 0x28, MIFARE Classic
	// emulation on a smart card chip, listed before RATS); libnfc's
	// pn53x_decode_target_data likewise takes the ATS only when bytes
	// remain.
	ATS []byte

	// Type B.
	ATQB      []byte // 12 bytes: 0x50, PUPI, application data, protocol info
	AttribRes []byte
}

// ISO14443_4 reports whether the target speaks ISO-DEP, i.e. Transmit
// carries APDUs to it.
func (t *Target) ISO14443_4() bool {
	if t.Type == TypeB {
		return len(t.ATQB) == 12 && t.ATQB[10]&0x01 != 0
	}
	return t.SAK&0x20 != 0
}

// ParseListResponse parses the parameters of an InListPassiveTarget
// response (everything after D5 4B): NbTg followed by NbTg TargetData
// blocks of the given type. The returned slices are copies.
func ParseListResponse(typ TargetType, b []byte) ([]Target, error) {
	if len(b) < 1 {
		return nil, fmt.Errorf("%w: InListPassiveTarget without NbTg", ErrBadResponse)
	}
	n := int(b[0])
	if n > 2 {
		return nil, fmt.Errorf("%w: NbTg %d", ErrBadResponse, n)
	}
	b = b[1:]
	ts := make([]Target, 0, n)
	for i := 0; i < n; i++ {
		var t Target
		var err error
		switch typ {
		case TypeA:
			t, b, err = parseTargetA(b, i == n-1)
		case TypeB:
			t, b, err = parseTargetB(b)
		default:
			err = fmt.Errorf("%w: unknown target type", ErrBadResponse)
		}
		if err != nil {
			return nil, err
		}
		ts = append(ts, t)
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrBadResponse, len(b))
	}
	return ts, nil
}

// parseTargetA parses one type A TargetData. last says whether it is the
// last of the response: then the ATS is present exactly when bytes remain;
// otherwise a next byte equal to the following Tg (this target's plus one)
// starts the next target rather than an ATS.
func parseTargetA(b []byte, last bool) (Target, []byte, error) {
	if len(b) < 5 {
		return Target{}, nil, fmt.Errorf("%w: short type A target data", ErrBadResponse)
	}
	t := Target{Type: TypeA, Tg: b[0], ATQA: [2]byte{b[1], b[2]}, SAK: b[3]}
	l := int(b[4])
	b = b[5:]
	if l != 4 && l != 7 && l != 10 {
		return Target{}, nil, fmt.Errorf("%w: UID length %d", ErrBadResponse, l)
	}
	if len(b) < l {
		return Target{}, nil, fmt.Errorf("%w: UID runs past the end", ErrBadResponse)
	}
	t.UID = append([]byte(nil), b[:l]...)
	b = b[l:]
	hasATS := len(b) > 0 && (last || b[0] != t.Tg+1)
	if t.SAK&0x20 != 0 && hasATS {
		if b[0] < 1 || len(b) < int(b[0]) {
			return Target{}, nil, fmt.Errorf("%w: bad ATS length", ErrBadResponse)
		}
		tl := int(b[0])
		t.ATS = append([]byte(nil), b[:tl]...)
		b = b[tl:]
	}
	return t, b, nil
}

func parseTargetB(b []byte) (Target, []byte, error) {
	if len(b) < 14 {
		return Target{}, nil, fmt.Errorf("%w: short type B target data", ErrBadResponse)
	}
	if b[1] != 0x50 {
		return Target{}, nil, fmt.Errorf("%w: ATQB does not start with 0x50", ErrBadResponse)
	}
	t := Target{Type: TypeB, Tg: b[0], ATQB: append([]byte(nil), b[1:13]...)}
	l := int(b[13])
	b = b[14:]
	if len(b) < l {
		return Target{}, nil, fmt.Errorf("%w: ATTRIB_RES runs past the end", ErrBadResponse)
	}
	t.AttribRes = append([]byte(nil), b[:l]...)
	return t, b[l:], nil
}
