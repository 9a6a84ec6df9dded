package acquirer_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/moov-io/iso8583"

	"posd/board/sim/deck"
	"posd/cmd/acquirer-sim/acquirer"
	"posd/terminal/host"
	"posd/terminal/wiresec"
)

// Short delays keep the fault tests quick; what they check is the order:
// nothing within quiet, the answer after the delay.
const (
	testLateDelay = 300 * time.Millisecond
	testSlowDelay = 150 * time.Millisecond
	quiet         = 100 * time.Millisecond
)

func withDelays(late, slow time.Duration) func(*acquirer.Opts) {
	return func(o *acquirer.Opts) { o.LateDelay, o.SlowDelay = late, slow }
}

// rawTerminal speaks a dialect over a plain TCP connection, so the test
// sees the bytes the simulator writes, faults included.
type rawTerminal struct {
	t  *testing.T
	d  *host.Dialect
	fr *host.Framer
	nc net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, dialect, addr string) *rawTerminal {
	t.Helper()
	d, err := host.LookupDialect(dialect)
	if err != nil {
		t.Fatal(err)
	}
	fr, err := d.NewFramer(nil)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return &rawTerminal{t: t, d: d, fr: fr, nc: nc, br: bufio.NewReader(nc)}
}

// send writes a purchase of amount, MACed under s (ICC data when icc is
// not nil, then track is the chip's track 2 equivalent data).
func (rt *rawTerminal) send(s *wiresec.Session, stan uint32, amount int64, track string, icc []byte) {
	rt.t.Helper()
	enc, err := s.EncryptRequestData([]byte(track))
	if err != nil {
		rt.t.Fatal(err)
	}
	entry := "901"
	if icc != nil {
		entry = "051"
	}
	m, err := rt.d.EncodeRequest(host.Request{
		Kind: host.KindPurchase, STAN: stan, Time: time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC),
		TerminalID: "T0000001", MerchantID: "M00000000000001", Amount: amount, Currency: "156", EntryMode: entry,
		Mode: s.Mode(), KSN: s.KSN(), Track2Enc: enc, ICC: icc,
	})
	if err != nil {
		rt.t.Fatal(err)
	}
	raw, err := rt.d.Seal(m, s.MACRequest)
	if err != nil {
		rt.t.Fatal(err)
	}
	if err := rt.fr.WriteFrame(rt.nc, raw); err != nil {
		rt.t.Fatal(err)
	}
}

// readFrame reads one whole frame (length header included) within
// within; the error is the read's.
func (rt *rawTerminal) readFrame(within time.Duration) ([]byte, error) {
	if err := rt.nc.SetReadDeadline(time.Now().Add(within)); err != nil {
		return nil, err
	}
	hdr := make([]byte, 2)
	if _, err := io.ReadFull(rt.br, hdr); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint16(hdr))
	if _, err := io.ReadFull(rt.br, body); err != nil {
		return nil, err
	}
	return append(hdr, body...), nil
}

// nothingWithin checks no byte arrives within d.
func (rt *rawTerminal) nothingWithin(d time.Duration) {
	rt.t.Helper()
	if err := rt.nc.SetReadDeadline(time.Now().Add(d)); err != nil {
		rt.t.Fatal(err)
	}
	if _, err := rt.br.Peek(1); err == nil {
		rt.t.Fatalf("bytes arrived within %v", d)
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		rt.t.Fatalf("waiting %v: %v", d, err)
	}
}

// decode decodes a frame as the terminal does: TPDU and message header
// checked, message in canonical encoding.
func (rt *rawTerminal) decode(frame []byte) (msg *iso8583.Message, body []byte, err error) {
	if body, err = rt.fr.ReadFrame(bytes.NewReader(frame)); err != nil {
		return nil, nil, err
	}
	msg, err = rt.d.Decode(body)
	return msg, body, err
}

// approval checks frame is the approval of stan and returns whether its
// MAC verifies under s.
func (rt *rawTerminal) approval(frame []byte, stan uint32, s *wiresec.Session) (macOK bool, icc []byte) {
	rt.t.Helper()
	m, body, err := rt.decode(frame)
	if err != nil {
		rt.t.Fatalf("answer does not decode: %v", err)
	}
	if mti, _ := m.GetMTI(); mti != host.MTIPurchaseResponse {
		rt.t.Fatalf("answer MTI %q", mti)
	}
	resp, err := rt.d.DecodeResponse(m)
	if err != nil {
		rt.t.Fatal(err)
	}
	if resp.ResponseCode != acquirer.RCApproved || resp.STAN != stan || len(resp.AuthCode) != 6 {
		rt.t.Fatalf("answer %+v, want the approval of STAN %d", resp, stan)
	}
	input, mac, err := rt.d.SplitMAC(m, body)
	if err != nil {
		rt.t.Fatalf("answer without MAC: %v", err)
	}
	return s.VerifyResponseMAC(input, mac) == nil, resp.ICC
}

// TestFaults: in both dialects, each magic amount's fault is exactly what
// a terminal sees on the wire, and the journal names it.
func TestFaults(t *testing.T) {
	for _, dialect := range host.DialectNames() {
		t.Run(dialect, func(t *testing.T) { faults(t, dialect) })
	}
}

func faults(t *testing.T, dialect string) {
	r := startServer(t, dialect, wiresec.ModeAES, nil, withCards(findChip), withDelays(testLateDelay, testSlowDelay))
	tm := newTerminal(t, wiresec.ModeAES)
	wantFault := map[string]string{} // by STAN

	t.Run("reset", func(t *testing.T) {
		rt := dialRaw(t, dialect, r.addr)
		rt.send(tm.session(t), 1, 1092, testTrack2, nil)
		wantFault["000001"] = acquirer.FaultReset
		if err := rt.nc.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rt.br) // until the host closes
		if err != nil {
			t.Fatalf("reading until the close: %v (after %d bytes)", err, len(got))
		}
		if len(got) < 3 {
			t.Fatalf("%d bytes before the close, want a length header and part of a message", len(got))
		}
		whole := 2 + int(binary.BigEndian.Uint16(got))
		if len(got) != whole/2 {
			t.Fatalf("%d bytes of a %d-byte frame before the close, want half (%d)", len(got), whole, whole/2)
		}
	})

	t.Run("garbage", func(t *testing.T) {
		rt := dialRaw(t, dialect, r.addr)
		rt.send(tm.session(t), 2, 1093, testTrack2, nil)
		wantFault["000002"] = acquirer.FaultGarbage
		frame, err := rt.readFrame(2 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		body, err := rt.fr.ReadFrame(bytes.NewReader(frame))
		if err != nil {
			t.Fatalf("frame is not well framed (TPDU, header): %v", err)
		}
		if len(body) == 0 {
			t.Fatal("empty frame, want random bytes")
		}
		if _, err := rt.d.Decode(body); !errors.Is(err, host.ErrMalformed) {
			t.Fatalf("garbage decodes: %v", err)
		}
		// The connection stays: the next purchase is answered on it.
		s := tm.session(t)
		rt.send(s, 3, 1000, testTrack2, nil)
		next, err := rt.readFrame(2 * time.Second)
		if err != nil {
			t.Fatalf("after the garbage: %v", err)
		}
		if ok, _ := rt.approval(next, 3, s); !ok {
			t.Fatal("the answer after the garbage has a bad MAC")
		}
	})

	t.Run("bad_mac", func(t *testing.T) {
		// A chip card: the approval still carries its ARPC.
		card := chipCard(t, "visa-chip")
		ac := arqcCase{card: card, iss: deck.Issuers[card.Scheme], amount: 1094, atc: []byte{0, 0x21}, un: []byte{1, 2, 3, 4}}
		icc, _, _, _ := ac.build(t)
		rt := dialRaw(t, dialect, r.addr)
		s := tm.session(t)
		rt.send(s, 4, 1094, card.PAN+"D30122011000000000F", icc)
		wantFault["000004"] = acquirer.FaultBadMAC
		frame, err := rt.readFrame(2 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		ok, de55 := rt.approval(frame, 4, s)
		if ok {
			t.Fatal("MAC verifies")
		}
		if len(de55) == 0 {
			t.Fatal("approval without its DE55")
		}
		if e := journalIn(t, r, 4); e.ARQCOK == nil || !*e.ARQCOK {
			t.Fatalf("journal %+v, want a verified ARQC", e)
		}
	})

	t.Run("late", func(t *testing.T) {
		rt := dialRaw(t, dialect, r.addr)
		s := tm.session(t)
		start := time.Now()
		rt.send(s, 5, 1095, testTrack2, nil)
		wantFault["000005"] = acquirer.FaultLate
		rt.nothingWithin(quiet)
		frame, err := rt.readFrame(testLateDelay + 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el < testLateDelay {
			t.Fatalf("answer after %v, want at least %v", el, testLateDelay)
		}
		if ok, _ := rt.approval(frame, 5, s); !ok {
			t.Fatal("late answer's MAC does not verify")
		}
	})

	t.Run("duplicate", func(t *testing.T) {
		rt := dialRaw(t, dialect, r.addr)
		s := tm.session(t)
		rt.send(s, 6, 1097, testTrack2, nil)
		wantFault["000006"] = acquirer.FaultDuplicate
		first, err := rt.readFrame(2 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		second, err := rt.readFrame(2 * time.Second)
		if err != nil {
			t.Fatalf("second answer: %v", err)
		}
		if !bytes.Equal(first, second) {
			t.Fatal("the two answers differ")
		}
		if ok, _ := rt.approval(first, 6, s); !ok {
			t.Fatal("duplicate answer's MAC does not verify")
		}
		rt.nothingWithin(quiet) // twice, not three times
	})

	t.Run("slow", func(t *testing.T) {
		rt := dialRaw(t, dialect, r.addr)
		s := tm.session(t)
		start := time.Now()
		rt.send(s, 7, 1098, testTrack2, nil)
		wantFault["000007"] = acquirer.FaultSlow
		frame, err := rt.readFrame(testSlowDelay + 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el < testSlowDelay {
			t.Fatalf("answer after %v, want at least %v", el, testSlowDelay)
		}
		if ok, _ := rt.approval(frame, 7, s); !ok {
			t.Fatal("slow answer's MAC does not verify")
		}
	})

	// Not faults: 96 is a decline, a declined magic amount goes out
	// normally, and so do reversals and advices of the fault amounts.
	t.Run("not faults", func(t *testing.T) {
		c := newClient(t, dialect, r.addr, nil)
		ctx := context.Background()
		if res, err := c.Purchase(ctx, purchase(8, 1096), tm.session(t)); err != nil || res.ResponseCode != acquirer.RCSystemFailure {
			t.Fatalf("amount 1096: %+v %v", res, err)
		}
		// The wrong PIN is declined before the fault would apply.
		s := tm.session(t)
		p := purchase(9, 1097)
		var err error
		if p.PINBlock, err = s.EncryptPIN("0000", testPAN); err != nil {
			t.Fatal(err)
		}
		if res, err := c.Purchase(ctx, p, s); err != nil || res.ResponseCode != acquirer.RCIncorrectPIN {
			t.Fatalf("amount 1097 with a wrong PIN: %+v %v", res, err)
		}
		for i, amount := range []int64{1092, 1093, 1094, 1095, 1097, 1098} {
			stan := uint32(20 + 2*i)
			start := time.Now()
			rev, err := c.Reverse(ctx, host.Reversal{
				STAN: stan, OrigSTAN: stan - 1, OrigTime: p.Time, OrigEntryMode: "901", Amount: amount,
				Currency: "156", Reason: host.ReasonNoResponse,
			}, tm.session(t))
			if err != nil || rev.ResponseCode != acquirer.RCApproved {
				t.Fatalf("reversal of %d: %+v %v", amount, rev, err)
			}
			adv := host.Advice{STAN: stan + 1, Ref: fmt.Sprintf("F%d", amount), Time: p.Time, Amount: amount,
				Currency: "156", EntryMode: "901", Track2: []byte(testTrack2)}
			if res, err := c.Advice(ctx, adv, tm.session(t)); err != nil || res.ResponseCode != host.AdviceAccepted {
				t.Fatalf("advice of %d: %+v %v", amount, res, err)
			}
			if el := time.Since(start); el >= testSlowDelay {
				t.Fatalf("reversal and advice of %d took %v", amount, el)
			}
		}
	})

	r.stop()
	lines := map[string]int{}
	for _, e := range r.journal.entries(t) {
		want := wantFault[e.STAN]
		if e.Kind != string(host.KindPurchase) {
			want = ""
		}
		if e.Fault != want {
			t.Errorf("%s %s STAN %s amount %d: fault %q, want %q", e.Direction, e.MTI, e.STAN, e.Amount, e.Fault, want)
		}
		if want == "" {
			continue
		}
		lines[e.STAN+" "+e.Direction]++
		if e.MACOK == nil || !*e.MACOK || e.MaskedPAN == "" {
			t.Errorf("%s line of STAN %s: %+v", e.Direction, e.STAN, e)
		}
		if e.Direction == "out" && (e.ResponseCode != acquirer.RCApproved || e.Note == "") {
			t.Errorf("out line of STAN %s: response code %q note %q", e.STAN, e.ResponseCode, e.Note)
		}
	}
	for stan := range wantFault {
		if lines[stan+" in"] != 1 || lines[stan+" out"] != 1 {
			t.Errorf("STAN %s: %d in and %d out lines, want 1 each", stan, lines[stan+" in"], lines[stan+" out"])
		}
	}
	checkNoCardData(t, r, chipCards)
}

// TestCloseWithLateAnswerPending: Close returns at once while a late
// answer waits, the answer is journaled as dropped, and the wait held up
// no other terminal meanwhile.
func TestCloseWithLateAnswerPending(t *testing.T) {
	r := startServer(t, "", wiresec.ModeAES, nil, withDelays(time.Minute, testSlowDelay))
	tm := newTerminal(t, wiresec.ModeAES)
	rt := dialRaw(t, "", r.addr)
	rt.send(tm.session(t), 1, 2095, testTrack2, nil)
	for deadline := time.Now().Add(2 * time.Second); !strings.Contains(r.journal.String(), `"fault":"late"`); {
		if time.Now().After(deadline) {
			t.Fatal("the late purchase is not journaled")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Another terminal is answered meanwhile.
	c := newClient(t, "", r.addr, nil)
	start := time.Now()
	if res, err := c.Purchase(context.Background(), purchase(2, 1000), tm.session(t)); err != nil || !res.Approved() {
		t.Fatalf("other terminal: %+v %v", res, err)
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("other terminal answered after %v", el)
	}

	start = time.Now()
	r.stop()
	if el := time.Since(start); el > time.Second {
		t.Fatalf("Close took %v with a late answer pending", el)
	}
	if _, err := rt.readFrame(time.Second); !errors.Is(err, io.EOF) {
		t.Fatalf("after Close the terminal reads %v, want EOF", err)
	}
	var drop *acquirer.Entry
	for _, e := range r.journal.entries(t) {
		if e.STAN == "000001" && e.Direction == "drop" {
			drop = &e
		}
	}
	if drop == nil || drop.Fault != acquirer.FaultLate || drop.ResponseCode != acquirer.RCApproved {
		t.Fatalf("late answer not journaled as dropped: %+v", drop)
	}
}

// TestLateAnswerAfterTerminalGaveUp: the terminal times out before the
// late answer and drops the connection; the host then journals the answer
// as not sent, and the terminal's next purchase goes through.
func TestLateAnswerAfterTerminalGaveUp(t *testing.T) {
	r := startServer(t, "", wiresec.ModeAES, nil, withDelays(testLateDelay, testSlowDelay))
	c, err := host.New(&host.Opts{Addr: r.addr, ResponseTimeout: quiet, TerminalID: "T0000001", MerchantID: "M00000000000001"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	tm := newTerminal(t, wiresec.ModeAES)
	ctx := context.Background()
	if _, err := c.Purchase(ctx, purchase(1, 3095), tm.session(t)); !errors.Is(err, host.ErrNoResponse) {
		t.Fatalf("late purchase: %v, want ErrNoResponse", err)
	}
	if res, err := c.Purchase(ctx, purchase(2, 3000), tm.session(t)); err != nil || !res.Approved() {
		t.Fatalf("next purchase: %+v %v", res, err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(r.journal.String(), `"direction":"drop"`) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	r.stop()
	for _, e := range r.journal.entries(t) {
		if e.STAN == "000001" && e.Direction != "in" {
			if e.Direction != "drop" || e.Fault != acquirer.FaultLate || !strings.Contains(e.Note, "connection closed") {
				t.Fatalf("late answer journaled %+v", e)
			}
			return
		}
	}
	t.Fatal("late answer not journaled")
}

func TestFaultDelayConfig(t *testing.T) {
	for _, o := range []acquirer.Opts{{LateDelay: -time.Second}, {SlowDelay: -1}} {
		if _, err := acquirer.New(&o); !errors.Is(err, acquirer.ErrConfig) {
			t.Errorf("%+v: %v", o, err)
		}
	}
}
