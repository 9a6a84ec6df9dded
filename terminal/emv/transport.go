package emv

import (
	"bytes"
	"fmt"
	"log/slog"
)

// maxGetResponse bounds the GET RESPONSE and 6Cxx rounds of one command,
// so that a card answering 61xx forever cannot hold the kernel.
const maxGetResponse = 16

// cmdCase is the case of a command APDU (ISO/IEC 7816-3 section 12.1.3,
// EMV book 1 annex A), which decides the T=0 handling: only case 4 gets
// the GET RESPONSE of a warning.
type cmdCase int

const (
	case1 cmdCase = iota + 1 // CLA INS P1 P2
	case2                    // CLA INS P1 P2 Le (READ RECORD, GET DATA, GET CHALLENGE)
	case3                    // CLA INS P1 P2 Lc data (VERIFY, EXTERNAL AUTHENTICATE)
	case4                    // CLA INS P1 P2 Lc data Le (SELECT, GPO, GENERATE AC, INTERNAL AUTHENTICATE)
)

// apduCase reads the case of a command APDU from its bytes (short
// lengths), as the card sees it: the kernel's own commands (see command)
// and issuer script commands, sent as the issuer wrote them. It is 0 for
// bytes that are none of the four.
func apduCase(c []byte) cmdCase {
	switch {
	case len(c) == 4:
		return case1
	case len(c) == 5:
		return case2
	case len(c) < 6 || c[4] == 0:
		return 0
	case len(c) == 5+int(c[4]):
		return case3
	case len(c) == 6+int(c[4]):
		return case4
	}
	return 0
}

// hasLe tells whether the command expects response data.
func (c cmdCase) hasLe() bool { return c == case2 || c == case4 }

// maxLc is the most data a short command APDU carries: Lc is one byte
// (ISO/IEC 7816-4 5.1; EMV uses short lengths only).
const maxLc = 0xFF

// command builds a C-APDU: header, Lc and data when there is data, and
// Le = 00 when the command expects data. Data over maxLc bytes (a DOL
// asking for too much) is ErrFormat: its Lc would wrap.
func command(cla, ins, p1, p2 byte, data []byte, c cmdCase) ([]byte, error) {
	if len(data) > maxLc {
		return nil, fmt.Errorf("%w: command data of %d bytes, more than a command carries (%d)", ErrFormat, len(data), maxLc)
	}
	out := make([]byte, 0, 6+len(data))
	out = append(out, cla, ins, p1, p2)
	if len(data) > 0 {
		out = append(out, byte(len(data)))
		out = append(out, data...)
	}
	if c.hasLe() {
		out = append(out, 0x00)
	}
	return out, nil
}

// send builds a command (see command) and exchanges it.
func (st *txnState) send(name string, cla, ins, p1, p2 byte, data []byte, c cmdCase) ([]byte, uint16, error) {
	cmd, err := command(cla, ins, p1, p2, data, c)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", name, err)
	}
	return st.exchange(name, cmd)
}

// exchange sends a command and returns the response data and status
// word, following the T=0 procedure of book 1 section 9.3.1 (the contact
// reader hands back the card's procedure status words) for the case the
// command's bytes have (apduCase):
//
//   - 61xx: GET RESPONSE with Le = xx, the data concatenated;
//   - 6Cxx to a command with an Le (case 2 or 4): the command that got
//     it again with Le = xx (ISO/IEC 7816-3 10.3.3: the previous command
//     header), so a GET RESPONSE answered 6Cxx is re-issued, never the
//     command before it (GENERATE AC again would be a second
//     cryptogram). A command without an Le (case 1 or 3: VERIFY,
//     EXTERNAL AUTHENTICATE, CARD BLOCK and other script commands)
//     expects no data (book 1 annex A1 and A3: 90xx, a warning or an
//     error), so 6Cxx, "wrong Le", is its answer: re-issuing it with an
//     Le would run it a second time. Bytes of no case keep 6Cxx as
//     their answer too;
//   - 62xx/63xx without data to a case 4 command (contact): GET RESPONSE
//     with Le = 00, its own 61xx and 6Cxx handled as above, and the
//     warning kept as the answer's status (annex A7). The warning of a
//     case 2 command is its answer: it holds no data back.
//
// Every round counts towards maxGetResponse. A transport error is
// ErrCardRemoved (or ErrCancelled when the context ended).
func (st *txnState) exchange(name string, c []byte) ([]byte, uint16, error) {
	cc := apduCase(c)
	r, err := st.transmit(name, c)
	if err != nil {
		return nil, 0, err
	}
	cur, curName := c, name // the command r answers
	gr := false             // cur is a GET RESPONSE
	var data []byte
	var warning uint16 // a case 4 command's warning, the status of its answer
	for round := 0; ; round++ {
		sw := swOf(r)
		data = append(data, r[:len(r)-2]...)
		sw1 := byte(sw >> 8)
		if round >= maxGetResponse {
			return nil, 0, fmt.Errorf("%w: %s: too many GET RESPONSE rounds", ErrFormat, name)
		}
		switch {
		case sw1 == 0x61:
			cur, curName, gr = getResponse(byte(sw)), name+"/GET RESPONSE", true
			if r, err = st.transmit(curName, cur); err != nil {
				return nil, 0, err
			}
			continue
		case sw1 == 0x6C && len(r) == 2 && reissuable(apduCase(cur)):
			cur = withLe(cur, byte(sw))
			if r, err = st.transmit(curName, cur); err != nil {
				return nil, 0, err
			}
			continue
		case (sw1 == 0x62 || sw1 == 0x63) && len(data) == 0 && cc == case4 && !gr && st.iface == Contact:
			// The card holds the data back: GET RESPONSE with Le = 00,
			// then its 61xx and 6Cxx like any other (annex A7).
			warning = sw
			cur, curName, gr = getResponse(0x00), name+"/GET RESPONSE", true
			if r, err = st.transmit(curName, cur); err != nil {
				return nil, 0, err
			}
			continue
		}
		if warning != 0 {
			if sw != 0x9000 && sw1 != 0x62 && sw1 != 0x63 {
				data = nil // the data held back did not come
			}
			return data, warning, nil
		}
		return data, sw, nil
	}
}

// reissuable tells whether a 6Cxx answer re-issues a command of case c
// with the Le it gives (see exchange).
func reissuable(c cmdCase) bool { return c.hasLe() }

// withLe returns c, a case 2 or 4 command, with Le = le.
func withLe(c []byte, le byte) []byte {
	out := bytes.Clone(c)
	out[len(out)-1] = le
	return out
}

func getResponse(le byte) []byte { return []byte{0x00, 0xC0, 0x00, 0x00, le} }

// transmit is one exchange with the card, logged without card data.
func (st *txnState) transmit(name string, c []byte) ([]byte, error) {
	if err := st.ctx.Err(); err != nil {
		return nil, cancelled(name, err)
	}
	r, err := st.card.Transmit(st.ctx, c)
	if err != nil {
		if st.ctx.Err() != nil {
			return nil, cancelled(name, st.ctx.Err())
		}
		st.log.LogAttrs(st.ctx, slog.LevelDebug, "emv: transport failed", slog.String("cmd", name))
		return nil, removed(name, err)
	}
	if len(r) < 2 {
		return nil, fmt.Errorf("%w: %s: response of %d bytes", ErrFormat, name, len(r))
	}
	shown := safeAPDU(c)
	if st.hideNext && len(c) > 4 {
		shown = fmt.Sprintf("%X+%d bytes", c[:4], len(c)-4)
	}
	st.hideNext = false
	st.log.LogAttrs(st.ctx, slog.LevelDebug, "emv: apdu", slog.String("cmd", name), slog.String("c", shown),
		slog.String("sw", fmt.Sprintf("%04X", swOf(r))), slog.Int("len", len(r)-2))
	return r, nil
}

func swOf(r []byte) uint16 { return uint16(r[len(r)-2])<<8 | uint16(r[len(r)-1]) }
