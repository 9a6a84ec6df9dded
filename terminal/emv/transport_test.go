package emv

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// t0State is a contact transaction state whose card replays exchanges
// byte for byte (c, r in hex): a command other than the next recorded
// one fails the exchange with a *Divergence naming both.
func t0State(t *testing.T, ex ...[2]string) (*txnState, *ReplayCard) {
	t.Helper()
	tr := &Trace{Interface: "contact"}
	for _, e := range ex {
		tr.Exchanges = append(tr.Exchanges, Exchange{C: strings.ReplaceAll(e[0], " ", ""), R: strings.ReplaceAll(e[1], " ", "")})
	}
	rc := tr.Card()
	k := testKernel(t, testConfig(t), nil)
	return k.newState(context.Background(), rc, Contact, purchase(1000), nil, nil), rc
}

// xchg runs one command through the transport.
func xchg(st *txnState, name, c string) ([]byte, uint16, error) {
	cmd := h(c)
	return st.exchange(name, cmd)
}

func TestTransportT0(t *testing.T) {
	data16 := strings.Repeat("A5", 16)
	data12 := strings.Repeat("5A", 12)
	gac := "80AE800008 0000000010000000 00"
	cases := []struct {
		name     string
		cmd      string
		ex       [][2]string
		wantData string
		wantSW   uint16
	}{{
		// Book 1 annex A4: case 4, 61xx, GET RESPONSE with Le = xx.
		name: "case 4: 61xx", cmd: gac,
		ex:       [][2]string{{gac, "6110"}, {"00C0000010", data16 + "9000"}},
		wantData: data16, wantSW: 0x9000,
	}, {
		// ISO 7816-3 10.3.3 and book 1 table 25: 6Cxx re-issues the
		// command that got it, here the GET RESPONSE, never GENERATE AC
		// (the card would compute a second cryptogram).
		name: "6Cxx to GET RESPONSE re-issues GET RESPONSE", cmd: gac,
		ex:       [][2]string{{gac, "6110"}, {"00C0000010", "6C0C"}, {"00C000000C", data12 + "9000"}},
		wantData: data12, wantSW: 0x9000,
	}, {
		// Book 1 annex A5: case 2, 6Cxx then 61xx, data in two parts.
		name: "case 2: 6Cxx, 61xx, 6Cxx on the second GET RESPONSE", cmd: "00B2010C00",
		ex: [][2]string{{"00B2010C00", "6C1C"}, {"00B2010C1C", "611C"}, {"00C000001C", data16 + "610C"},
			{"00C000000C", "6C0C"}, {"00C000000C", data12 + "9000"}},
		wantData: data16 + data12, wantSW: 0x9000,
	}, {
		// Book 1 9.3.1: a warning to a case 2 command is its answer; the
		// warning's GET RESPONSE belongs to case 4 only.
		name: "case 2: warning without GET RESPONSE", cmd: "00B2010C00",
		ex:     [][2]string{{"00B2010C00", "6282"}},
		wantSW: 0x6282,
	}, {
		name: "case 2: GET DATA warning", cmd: "80CA9F1700",
		ex:     [][2]string{{"80CA9F1700", "6283"}},
		wantSW: 0x6283,
	}, {
		// Book 1 annex A7 (first example): case 4, warning, GET RESPONSE
		// with Le = 00, 6Cxx, GET RESPONSE with Le = xx; the warning
		// is the answer's status.
		name: "case 4: warning, GET RESPONSE, 6Cxx", cmd: "00A4040007A000000003101000",
		ex: [][2]string{{"00A4040007A000000003101000", "6283"}, {"00C0000000", "6C10"},
			{"00C0000010", data16 + "9000"}},
		wantData: data16, wantSW: 0x6283,
	}, {
		// The warning path's 61xx asks for the xx bytes the card gave.
		name: "case 4: warning, GET RESPONSE, 61xx", cmd: "00A4040007A000000003101000",
		ex: [][2]string{{"00A4040007A000000003101000", "6283"}, {"00C0000000", data12 + "6110"},
			{"00C0000010", data16 + "9000"}},
		wantData: data12 + data16, wantSW: 0x6283,
	}, {
		name: "case 4: warning, GET RESPONSE refused", cmd: "00A4040007A000000003101000",
		ex:     [][2]string{{"00A4040007A000000003101000", "6283"}, {"00C0000000", "6A86"}},
		wantSW: 0x6283,
	}, {
		// Book 1 annex A7 (second example): the warning after the data.
		name: "case 4: 61xx, then data with a warning", cmd: "00A4040007A000000003101000",
		ex:       [][2]string{{"00A4040007A000000003101000", "6110"}, {"00C0000010", data16 + "6283"}},
		wantData: data16, wantSW: 0x6283,
	}, {
		name: "case 4: 6Cxx replaces Le", cmd: gac,
		ex:       [][2]string{{gac, "6C10"}, {"80AE800008000000001000000010", data16 + "9000"}},
		wantData: data16, wantSW: 0x9000,
	}, {
		// Book 1 annex A1: a case 1 command answers 90xx or an error, it
		// has no Le to correct; re-issuing it with one would run CARD
		// BLOCK a second time, as a case 2 command.
		name: "case 1: 6Cxx is the answer", cmd: "84160000",
		ex:     [][2]string{{"84160000", "6C04"}},
		wantSW: 0x6C04,
	}, {
		// Lc says 5 bytes, 1 follows: no case to re-issue it in.
		name: "no case: 6Cxx is the answer", cmd: "04DA9F580501",
		ex:     [][2]string{{"04DA9F580501", "6C04"}},
		wantSW: 0x6C04,
	}, {
		// Book 1 annex A3: a case 3 command expects no data, so 6Cxx
		// (wrong Le) has no Le to correct: it is the card's answer, and
		// VERIFY or EXTERNAL AUTHENTICATE is never sent twice.
		name: "case 3: 6Cxx is the answer", cmd: "0020008008241234FFFFFFFFFF",
		ex:     [][2]string{{"0020008008241234FFFFFFFFFF", "6C02"}},
		wantSW: 0x6C02,
	}, {
		name: "case 3: 6Cxx is the answer (EXTERNAL AUTHENTICATE)", cmd: "008200000A 11223344556677880012",
		ex:     [][2]string{{"008200000A112233445566778800 12", "6C00"}},
		wantSW: 0x6C00,
	}, {
		name: "case 3: no GET RESPONSE after a warning", cmd: "0020008008241234FFFFFFFFFF",
		ex:     [][2]string{{"0020008008241234FFFFFFFFFF", "63C2"}},
		wantSW: 0x63C2,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, rc := t0State(t, tc.ex...)
			data, sw, err := xchg(st, "TEST", strings.ReplaceAll(tc.cmd, " ", ""))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			if sw != tc.wantSW || !bytes.Equal(data, h(tc.wantData)) {
				t.Errorf("got %X %04X, want %s %04X", data, sw, tc.wantData, tc.wantSW)
			}
			if n := rc.Remaining(); n != 0 {
				t.Errorf("%d exchanges not made", n)
			}
		})
	}
}

// countCard answers a case 4 command with a warning, then every GET
// RESPONSE with 61 01 and one byte, and fails after limit commands.
type countCard struct{ n, limit int }

func (c *countCard) Transmit(_ context.Context, cmd []byte) ([]byte, error) {
	c.n++
	if c.n > c.limit {
		return nil, errors.New("test card: too many commands")
	}
	if c.n == 1 {
		return []byte{0x62, 0x83}, nil
	}
	return []byte{0x00, 0x61, 0x01}, nil
}

func TestWarningGetResponseBounded(t *testing.T) {
	card := &countCard{limit: 1000}
	k := testKernel(t, testConfig(t), nil)
	st := k.newState(context.Background(), card, Contact, purchase(1000), nil, nil)
	_, _, err := xchg(st, "TEST", "00A4040007A000000003101000")
	if !errors.Is(err, ErrFormat) {
		t.Fatalf("a card answering 61xx forever after a warning: %v", err)
	}
	if card.n > maxGetResponse+1 {
		t.Errorf("%d commands", card.n)
	}
}

// An issuer script command is sent as the issuer wrote it; its case comes
// from its bytes, so 6Cxx replaces the Le of a case 2 or 4 command
// instead of adding a second one.
func TestScriptCommand6C(t *testing.T) {
	c2 := "84CA9F3600"
	c4 := "8424000008 1122334455667788 00"
	scripts := [][]byte{tpl("72", tlv("9F18", h("00000001")), tlv("86", h(c2)), tlv("86", h(strings.ReplaceAll(c4, " ", ""))))}
	st, rc := t0State(t,
		[2]string{c2, "6C05"}, [2]string{"84CA9F3605", "9F360200109000"},
		[2]string{strings.ReplaceAll(c4, " ", ""), "6C02"}, [2]string{"84240000081122334455667788" + "02", "12349000"})
	if err := st.runScripts(scripts, 0x72); err != nil {
		t.Fatalf("scripts: %v", err)
	}
	if got := upper(st.scripts); got != "2000000001" {
		t.Errorf("script results %s, want 2000000001", got)
	}
	if n := rc.Remaining(); n != 0 {
		t.Errorf("%d exchanges not made", n)
	}
}

// A case 3 script command answered 6Cxx is not re-issued with an Le: the
// status fails the script (book 3 section 10.10: SW1 other than 90, 62,
// 63), and the next script still runs.
func TestScriptCase3Command6C(t *testing.T) {
	c3 := "841E000008 1122334455667788"
	scripts := [][]byte{
		tpl("71", tlv("9F18", h("00000002")), tlv("86", h(strings.ReplaceAll(c3, " ", "")))),
		tpl("71", tlv("86", h("8418000008AABBCCDDEEFF0011"))),
	}
	st, rc := t0State(t,
		[2]string{c3, "6C08"},
		[2]string{"8418000008AABBCCDDEEFF0011", "9000"})
	if err := st.runScripts(scripts, 0x71); err != nil {
		t.Fatalf("scripts: %v", err)
	}
	if got := upper(st.scripts); got != "11000000022000000000" {
		t.Errorf("script results %s, want 11000000022000000000", got)
	}
	if !st.tvr.has(tvrScriptFailedBefore) {
		t.Errorf("TVR %s: script failure before the final GENERATE AC not set", st.tvr)
	}
	if n := rc.Remaining(); n != 0 {
		t.Errorf("%d exchanges not made", n)
	}
}

// A short APDU's Lc is one byte: 255 bytes of data fit, 256 never wrap
// to Lc = 00.
func TestCommandLc(t *testing.T) {
	c, err := command(0x80, 0xAE, 0x80, 0x00, make([]byte, 255), case4)
	if err != nil || len(c) != 261 || c[4] != 0xFF || apduCase(c) != case4 {
		t.Fatalf("255 bytes: %v, %d bytes, Lc %02X", err, len(c), c[4])
	}
	for _, n := range []int{256, 295, 511} {
		if c, err := command(0x80, 0xAE, 0x80, 0x00, make([]byte, n), case4); !errors.Is(err, ErrFormat) || c != nil {
			t.Errorf("%d bytes: %v, %X", n, err, c)
		}
	}
	if c, err := command(0x00, 0xB2, 0x01, 0x0C, nil, case2); err != nil || upper(c) != "00B2010C00" {
		t.Errorf("READ RECORD %X %v", c, err)
	}
}

// Book 3 section 10.10: a script the terminal cannot parse is not
// performed, not one of its commands reaches the card, its result in 9F5B
// is "failed" (with its identifier when that parsed) and the TVR says so;
// the scripts after it still run.
func TestMalformedScriptsNotSent(t *testing.T) {
	good := "8418000008AABBCCDDEEFF0011"
	cases := []struct {
		name   string
		script []byte
		result string
	}{
		{"86 of 3 bytes", tpl("71", tlv("9F18", h("00000007")), tlv("86", h(good)), tlv("86", h("841800"))), "1000000007"},
		{"Lc longer than the data", tpl("71", tlv("86", h(good)), tlv("86", h("841800000AAABB"))), "1000000000"},
		{"Lc shorter than the data", tpl("71", tlv("86", h("8418000002AABBCCDD"))), "1000000000"},
		{"Lc of 00", tpl("71", tlv("86", h("841800000000"))), "1000000000"},
		{"empty 86", tpl("71", tlv("86", nil), tlv("86", h(good))), "1000000000"},
		{"86 inside a nested template", tpl("71", tlv("9F18", h("00000008")), tpl("A0", tlv("86", h(good)))), "1000000008"},
		{"unknown object", tpl("71", tlv("86", h(good)), tlv("9F1A", h("0978"))), "1000000000"},
		{"identifier of 2 bytes", tpl("71", tlv("9F18", h("0001")), tlv("86", h(good))), "1000000000"},
		{"not BER-TLV", h("7105860384"), "1000000000"},
		{"template of the other kind", tpl("72", tlv("86", h(good))), "1000000000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			next := tpl("71", tlv("9F18", h("00000009")), tlv("86", h("841E000000")))
			st, rc := t0State(t, [2]string{"841E000000", "9000"})
			if err := st.runScripts([][]byte{tc.script, next}, 0x71); err != nil {
				t.Fatalf("scripts: %v", err)
			}
			if got, want := upper(st.scripts), tc.result+"2000000009"; got != want {
				t.Errorf("script results %s, want %s", got, want)
			}
			if !st.tvr.has(tvrScriptFailedBefore) {
				t.Errorf("TVR %s: script failure not set", st.tvr.String())
			}
			if n := rc.Remaining(); n != 0 {
				t.Errorf("%d exchanges not made", n)
			}
		})
	}
}
