package host

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moov-io/iso8583"

	"posd/crypto/dukpt"
	"posd/terminal/wiresec"
)

var (
	testBDK  = mustHex("FEDCBA9876543210F1F1F1F1F1F1F1F1")
	testIKSN = mustHex("123456789012345600000000")
)

const testTrack2 = "4761739001010010=25122011143804400000"

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// sessions returns a terminal session and the matching host session.
func sessions(t testing.TB, n int) (term, hst *wiresec.Session) {
	t.Helper()
	ik, err := dukpt.AESDeriveIK(testBDK, testIKSN)
	if err != nil {
		t.Fatal(err)
	}
	o, err := dukpt.NewAESOriginator(ik, testIKSN)
	if err != nil {
		t.Fatal(err)
	}
	var ksn, key []byte
	for range n {
		if ksn, key, err = o.Next(); err != nil {
			t.Fatal(err)
		}
	}
	if term, err = wiresec.ForTerminal(wiresec.ModeAES, ksn, key); err != nil {
		t.Fatal(err)
	}
	if hst, err = wiresec.ForHost(wiresec.ModeAES, testBDK, ksn); err != nil {
		t.Fatal(err)
	}
	return term, hst
}

func TestSpecHasNoClearCardDataFields(t *testing.T) {
	for _, id := range []int{2, 35, 36, 45} {
		if _, ok := Spec.Fields[id]; ok {
			t.Errorf("spec defines DE%d", id)
		}
	}
	m := iso8583.NewMessage(Spec)
	m.MTI(MTIPurchase)
	if err := m.Field(2, "4761739001010010"); err == nil {
		t.Error("DE2 can be set")
	}
	// A message on the wire carrying DE2 does not decode.
	raw := append([]byte("0200"), 0x40, 0, 0, 0, 0, 0, 0, 0)
	raw = append(raw, []byte("164761739001010010")...)
	if _, err := Decode(raw); !errors.Is(err, ErrMalformed) {
		t.Errorf("message with DE2 decoded: %v", err)
	}
}

func buildRequest(t *testing.T, withSecondary bool) *iso8583.Message {
	t.Helper()
	m := iso8583.NewMessage(Spec)
	m.MTI(MTIPurchase)
	for id, v := range map[int]string{
		DEProcessingCode: "000000", DEAmount: "000000001000", DETransmission: "0314150926",
		DESTAN: "000042", DETerminalID: "T0000001", DECurrency: "156",
	} {
		if err := m.Field(id, v); err != nil {
			t.Fatal(err)
		}
	}
	if withSecondary {
		if err := m.Field(DEOriginalData, strings.Repeat("0", 42)); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func TestSealAndSplitMAC(t *testing.T) {
	term, hst := sessions(t, 1)
	for _, sec := range []bool{false, true} {
		m := buildRequest(t, sec)
		raw, err := Seal(m, term.MACRequest)
		if err != nil {
			t.Fatal(err)
		}
		wantField, otherField := DEMAC, DEMAC2
		if sec {
			wantField, otherField = DEMAC2, DEMAC
		}
		got, err := Decode(raw)
		if err != nil {
			t.Fatalf("sealed message does not decode: %v", err)
		}
		fields := got.GetFields()
		if _, ok := fields[wantField]; !ok {
			t.Fatalf("secondary=%v: MAC not in DE%d", sec, wantField)
		}
		if _, ok := fields[otherField]; ok {
			t.Fatalf("secondary=%v: MAC also in DE%d", sec, otherField)
		}
		input, mac, err := SplitMAC(got, raw)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(input, raw[:len(raw)-8]) || !bytes.Equal(mac, raw[len(raw)-8:]) {
			t.Fatal("SplitMAC does not cut the last 8 bytes")
		}
		if err := hst.VerifyRequestMAC(input, mac); err != nil {
			t.Fatalf("host rejects sealed message: %v", err)
		}
		// The bitmap is part of the MACed bytes.
		bad := bytes.Clone(raw)
		bad[4] ^= 0x02 // toggles DE7 in the primary bitmap
		if m2, err := Decode(bad); err == nil {
			if in2, mac2, err := SplitMAC(m2, bad); err == nil && hst.VerifyRequestMAC(in2, mac2) == nil {
				t.Fatal("bitmap change not covered by the MAC")
			}
		}
	}
	// Unsealed message: no MAC.
	m := buildRequest(t, false)
	raw, _ := m.Pack()
	if _, _, err := SplitMAC(m, raw); !errors.Is(err, ErrMalformed) {
		t.Fatalf("SplitMAC without MAC: %v", err)
	}
}

func TestDecodeRejectsNonCanonical(t *testing.T) {
	m := iso8583.NewMessage(Spec)
	m.MTI(MTINetwork)
	_ = m.Field(DESTAN, "000001")
	_ = m.BinaryField(DEICC, []byte{0x9F, 0x26, 0x01, 0x00})
	raw, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode(raw); err != nil {
		t.Fatalf("canonical message rejected: %v", err)
	}
	// Trailing garbage.
	if _, err := Decode(append(bytes.Clone(raw), 0)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("trailing byte accepted: %v", err)
	}
	// "+4" is read as length 4 by the prefixer but packs back as "004".
	i := bytes.Index(raw, []byte("004\x9f\x26"))
	if i < 0 {
		t.Fatal("ICC length prefix not found")
	}
	bad := bytes.Clone(raw)
	copy(bad[i:], "+04")
	if _, err := Decode(bad); !errors.Is(err, ErrMalformed) {
		t.Fatalf("non-canonical length prefix accepted: %v", err)
	}
}

func TestFramer(t *testing.T) {
	tpdu := []byte{0x60, 0x00, 0x01, 0x00, 0x02}
	term, err := NewFramer(tpdu)
	if err != nil {
		t.Fatal(err)
	}
	acq := term.Peer()
	var buf bytes.Buffer
	if err := term.WriteFrame(&buf, []byte("0800abc")); err != nil {
		t.Fatal(err)
	}
	want := append([]byte{0x00, 0x0C}, tpdu...)
	want = append(want, "0800abc"...)
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("frame % X, want % X", buf.Bytes(), want)
	}
	got, err := acq.ReadFrame(bytes.NewReader(buf.Bytes()))
	if err != nil || string(got) != "0800abc" {
		t.Fatalf("acquirer reads %q, %v", got, err)
	}
	// The acquirer answers with addresses swapped; the terminal accepts it
	// and rejects its own TPDU echoed back unswapped.
	buf.Reset()
	_ = acq.WriteFrame(&buf, []byte("0810"))
	if buf.Bytes()[3] != 0x00 || buf.Bytes()[4] != 0x02 || buf.Bytes()[5] != 0x00 || buf.Bytes()[6] != 0x01 {
		t.Fatalf("response TPDU not swapped: % X", buf.Bytes()[:7])
	}
	if got, err := term.ReadFrame(&buf); err != nil || string(got) != "0810" {
		t.Fatalf("terminal reads %q, %v", got, err)
	}
	buf.Reset()
	_ = term.WriteFrame(&buf, []byte("0810"))
	_ = term.WriteFrame(&buf, []byte("0811"))
	r := bytes.NewReader(buf.Bytes())
	if _, err := term.ReadFrame(r); !errors.Is(err, ErrMalformed) {
		t.Fatalf("own TPDU accepted: %v", err)
	}
	// The bad frame was consumed: the next one is read in step (and also
	// rejected for the same reason, not for a broken stream).
	if _, err := term.ReadFrame(r); !errors.Is(err, ErrMalformed) {
		t.Fatalf("stream out of step: %v", err)
	}
	// Keep-alive.
	off, _ := NewFramer(nil)
	if got, err := off.ReadFrame(bytes.NewReader([]byte{0, 0})); err != nil || len(got) != 0 {
		t.Fatalf("keep-alive: %q, %v", got, err)
	}
	if _, err := off.ReadFrame(bytes.NewReader([]byte{0, 5, '0'})); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short frame: %v", err)
	}
	for _, bad := range [][]byte{{0x60, 0, 0}, {0x61, 0, 0, 0, 0}} {
		if _, err := NewFramer(bad); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("NewFramer(% X): %v", bad, err)
		}
	}
}

// sealedResponse builds a 0210 MACed by hst.
func sealedResponse(t testing.TB, hst *wiresec.Session, stan, tid, rc string) []byte {
	t.Helper()
	m := iso8583.NewMessage(Spec)
	m.MTI(MTIPurchaseResponse)
	for id, v := range map[int]string{
		DEAmount: "000000001000", DETransmission: "0314150926", DESTAN: stan,
		DETerminalID: tid, DEResponseCode: rc, DEAuthCode: "A1B2C3", DERRN: "503141000001",
	} {
		if err := m.Field(id, v); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := Seal(m, hst.MACResponse)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestResponsePath(t *testing.T) {
	term, hst := sessions(t, 2)
	want := expect{mti: MTIPurchaseResponse, stan: "000042", tid: "T0000001", amount: "000000001000"}
	raw := sealedResponse(t, hst, "000042", "T0000001", "00")
	res, err := parseResponse(raw, want, term)
	if err != nil {
		t.Fatal(err)
	}
	if wantRes := (Result{ResponseCode: "00", AuthCode: "A1B2C3", RRN: "503141000001"}); res != wantRes {
		t.Fatalf("result %+v", res)
	}
	// Every single-bit change is caught (MAC or decode).
	for bit := range len(raw) * 8 {
		bad := bytes.Clone(raw)
		bad[bit/8] ^= 1 << (bit % 8)
		if _, err := parseResponse(bad, want, term); err == nil {
			t.Fatalf("bit %d flipped: response accepted", bit)
		}
	}
	// Flipped MAC bit: ErrBadMAC, never ErrBadResponse.
	bad := bytes.Clone(raw)
	bad[len(bad)-1] ^= 0x80
	if _, err := parseResponse(bad, want, term); !errors.Is(err, ErrBadMAC) {
		t.Fatalf("bad MAC: %v", err)
	}
	// A response MACed with the request key (reflection) is a bad MAC.
	m, _ := Decode(raw)
	refl, _ := Seal(m, term.MACRequest)
	if _, err := parseResponse(refl, want, term); !errors.Is(err, ErrBadMAC) {
		t.Fatalf("reflected MAC: %v", err)
	}
	// Correct MAC but wrong echo.
	for name, r := range map[string][]byte{
		"stan": sealedResponse(t, hst, "000043", "T0000001", "00"),
		"tid":  sealedResponse(t, hst, "000042", "T0000002", "00"),
		"rc":   sealedResponse(t, hst, "000042", "T0000001", "0 "),
	} {
		if _, err := parseResponse(r, want, term); !errors.Is(err, ErrBadResponse) {
			t.Errorf("%s mismatch: %v", name, err)
		}
	}
	w2 := want
	w2.amount = "000000002000"
	if _, err := parseResponse(raw, w2, term); !errors.Is(err, ErrBadResponse) {
		t.Errorf("amount mismatch: %v", err)
	}
	if _, err := parseResponse([]byte("0210"), want, term); !errors.Is(err, ErrBadResponse) {
		t.Errorf("garbage: %v", err)
	}
}

func TestMatchKey(t *testing.T) {
	req := iso8583.NewMessage(Spec)
	req.MTI("0200")
	_ = req.Field(DESTAN, "000042")
	_ = req.Field(DETerminalID, "T0000001")
	resp := iso8583.NewMessage(Spec)
	resp.MTI("0210")
	_ = resp.Field(DESTAN, "000042")
	_ = resp.Field(DETerminalID, "T0000001")
	a, err := matchKey{}.GenerateRequestID(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := matchKey{}.GenerateRequestID(resp)
	if a != b {
		t.Fatalf("request %q and response %q keys differ", a, b)
	}
	_ = resp.Field(DETerminalID, "T0000002")
	if c, _ := (matchKey{}).GenerateRequestID(resp); c == a {
		t.Fatal("terminal id not part of the key")
	}
	resp.MTI("0410")
	_ = resp.Field(DETerminalID, "T0000001")
	if c, _ := (matchKey{}).GenerateRequestID(resp); c == a {
		t.Fatal("MTI class not part of the key")
	}
	if ResponseMTI("0200") != "0210" || ResponseMTI("0810") != "" || ResponseMTI("02x0") != "" {
		t.Fatal("ResponseMTI")
	}
}

// fakeHost answers every request with whatever reply returns (nil: no
// answer) over the real framing.
func fakeHost(t *testing.T, reply func(m *iso8583.Message) []byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fr, _ := NewFramer(nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := bufio.NewReader(nc)
				for {
					m, err := fr.ReadMessage(r)
					if err != nil {
						return
					}
					if out := reply(m); out != nil {
						_ = fr.WriteFrame(nc, out)
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func TestClientErrors(t *testing.T) {
	term, hst := sessions(t, 3)
	var lastRaw []byte
	var mu sync.Mutex
	got5 := make(chan struct{}, 1)
	addr := fakeHost(t, func(m *iso8583.Message) []byte {
		raw, _ := m.Pack()
		mu.Lock()
		lastRaw = raw
		mu.Unlock()
		mti, _ := m.GetMTI()
		stan, _ := m.GetString(DESTAN)
		switch {
		case mti == MTINetwork && stan == "000001":
			r := iso8583.NewMessage(Spec)
			r.MTI(MTINetworkResponse)
			_ = r.Field(DESTAN, stan)
			_ = r.Field(DETerminalID, "T0000001")
			_ = r.Field(DEResponseCode, "91")
			out, _ := r.Pack()
			return out
		case mti == MTIPurchase && stan == "000002":
			// Answer under the wrong key.
			_, other := sessions(t, 9)
			return sealedResponse(t, other, stan, "T0000001", "00")
		case mti == MTIPurchase && stan == "000003":
			return sealedResponse(t, hst, stan, "T0000001", "00")
		case mti == MTIPurchase && stan == "000005":
			select {
			case got5 <- struct{}{}:
			default:
			}
		}
		return nil
	})
	c, err := New(&Opts{Addr: addr, TerminalID: "T0000001", ResponseTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	var rej *RejectedError
	if err := c.SignOn(ctx, 1); !errors.As(err, &rej) || rej.ResponseCode != "91" || !errors.Is(err, ErrRejected) {
		t.Fatalf("sign-on answered 91: %v", err)
	}
	p := Purchase{STAN: 2, Amount: 1000, Currency: "156", Track2: []byte(testTrack2)}
	if _, err := c.Purchase(ctx, p, term); !errors.Is(err, ErrBadMAC) {
		t.Fatalf("response under wrong key: %v", err)
	}
	p.STAN = 3
	if res, err := c.Purchase(ctx, p, term); err != nil || !res.Approved() {
		t.Fatalf("good response: %+v %v", res, err)
	}
	// What went on the wire: no clear track, PAN or PIN field, a MAC that
	// verifies, and the track decrypts at the host.
	mu.Lock()
	raw := lastRaw
	mu.Unlock()
	if bytes.Contains(raw, []byte("4761739001010010")) {
		t.Fatal("clear PAN on the wire")
	}
	m, err := Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	in, mac, err := SplitMAC(m, raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := hst.VerifyRequestMAC(in, mac); err != nil {
		t.Fatalf("request MAC: %v", err)
	}
	ct, _ := m.GetBytes(DETrack2Enc)
	if pt, err := hst.DecryptRequestData(ct); err != nil || string(pt) != testTrack2 {
		t.Fatalf("track at host: %v", err)
	}
	if ksn, _ := m.GetBytes(DEKSN); !bytes.Equal(ksn, term.KSN()) {
		t.Fatal("DE53 is not the KSN")
	}

	// Unanswered: ErrNoResponse.
	p.STAN = 4
	if _, err := c.Purchase(ctx, p, term); !errors.Is(err, ErrNoResponse) {
		t.Fatalf("unanswered: %v", err)
	}
	// Cancelled while waiting (once the host has the request): ErrNoResponse
	// too, it was sent.
	cctx, cancel := context.WithCancel(ctx)
	go func() { <-got5; cancel() }()
	p.STAN = 5
	if _, err := c.Purchase(cctx, p, term); !errors.Is(err, ErrNoResponse) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	// Already expired before sending: nothing sent.
	dctx, cancel2 := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel2()
	if _, err := c.Purchase(dctx, p, term); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("expired context: %v", err)
	}

	// Bad input: nothing sent.
	for name, bad := range map[string]Purchase{
		"amount":   {STAN: 6, Amount: -1, Currency: "156", Track2: []byte(testTrack2)},
		"currency": {STAN: 6, Amount: 1, Currency: "CNY", Track2: []byte(testTrack2)},
		"track":    {STAN: 6, Amount: 1, Currency: "156"},
		"stan":     {STAN: 1000000, Amount: 1, Currency: "156", Track2: []byte(testTrack2)},
		"pin":      {STAN: 6, Amount: 1, Currency: "156", Track2: []byte(testTrack2), PINBlock: make([]byte, 8)},
		"entry":    {STAN: 6, Amount: 1, Currency: "156", Track2: []byte(testTrack2), EntryMode: "9"},
	} {
		if _, err := c.Purchase(ctx, bad, term); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := c.Reverse(ctx, Reversal{STAN: 7, Amount: 1, Currency: "156", Reason: "bad\n"}, term); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("reason with newline: %v", err)
	}

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Echo(ctx, 8); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	for name, o := range map[string]Opts{
		"tid":  {TerminalID: "123456789"},
		"mid":  {MerchantID: strings.Repeat("M", 16)},
		"tpdu": {TPDU: []byte{1, 2, 3, 4, 5}},
	} {
		if _, err := New(&o); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("%s: %v", name, err)
		}
	}
	c, err := New(&Opts{TerminalID: "T1"})
	if err != nil {
		t.Fatal(err)
	}
	if c.TerminalID() != "T1      " {
		t.Fatalf("terminal id %q", c.TerminalID())
	}
}

func FuzzResponse(f *testing.F) {
	term, hst := sessions(f, 1)
	good := sealedResponse(f, hst, "000042", "T0000001", "00")
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add([]byte("0810"))
	f.Add(append([]byte("0210"), 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF))
	f.Add([]byte{})
	want := expect{mti: MTIPurchaseResponse, stan: "000042", tid: "T0000001", amount: "000000001000"}
	f.Fuzz(func(t *testing.T, raw []byte) {
		res, err := parseResponse(raw, want, term)
		if err == nil {
			// Only a response MACed under the host's key gets through.
			m, derr := Decode(raw)
			if derr != nil {
				t.Fatalf("accepted bytes do not decode: %v", derr)
			}
			in, mac, serr := SplitMAC(m, raw)
			if serr != nil || hst.VerifyResponseMAC(in, mac) != nil {
				t.Fatal("accepted a response without a valid MAC")
			}
			if len(res.ResponseCode) != 2 {
				t.Fatalf("response code %q", res.ResponseCode)
			}
		}
		_, _ = parseResponse(raw, expect{mti: MTINetworkResponse, stan: "000001", tid: "T0000001"}, nil)
	})
}

func FuzzFrame(f *testing.F) {
	_, hst := sessions(f, 1)
	good := sealedResponse(f, hst, "000042", "T0000001", "00")
	frame := func(tpdu, msg []byte) []byte {
		b := binary.BigEndian.AppendUint16(nil, uint16(len(tpdu)+len(msg)))
		return append(append(b, tpdu...), msg...)
	}
	f.Add(frame(nil, good))
	f.Add(frame([]byte{0x60, 0, 2, 0, 1}, good))
	f.Add([]byte{0, 0, 0, 1, '0'})
	on, _ := NewFramer([]byte{0x60, 0, 1, 0, 2})
	off, _ := NewFramer(nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, fr := range []*Framer{on, off} {
			r := bytes.NewReader(data)
			for range 4 {
				m, err := fr.ReadMessage(r)
				if err != nil && !isUnpack(err) {
					break
				}
				if m != nil {
					if _, err := m.Pack(); err != nil {
						t.Fatalf("decoded message does not pack: %v", err)
					}
				}
			}
		}
	})
}

func isUnpack(err error) bool { return errors.Is(err, ErrMalformed) }

func BenchmarkSealDecode(b *testing.B) {
	term, hst := sessions(b, 1)
	m := iso8583.NewMessage(Spec)
	m.MTI(MTIPurchase)
	_ = m.Field(DEAmount, "000000001000")
	_ = m.Field(DESTAN, "000042")
	_ = m.Field(DETerminalID, "T0000001")
	ct, _ := term.EncryptRequestData([]byte(testTrack2))
	_ = m.BinaryField(DETrack2Enc, ct)
	_ = m.BinaryField(DEKSN, term.KSN())
	for b.Loop() {
		raw, err := Seal(m, term.MACRequest)
		if err != nil {
			b.Fatal(err)
		}
		d, err := Decode(raw)
		if err != nil {
			b.Fatal(err)
		}
		in, mac, err := SplitMAC(d, raw)
		if err != nil {
			b.Fatal(err)
		}
		if err := hst.VerifyRequestMAC(in, mac); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTimeoutStartsAFreshConnection: after a request times out, the next one
// goes over a new connection, so a late reply or a wedged link cannot
// swallow it.
func TestTimeoutStartsAFreshConnection(t *testing.T) {
	term1, hst1 := sessions(t, 4)
	term2, hst2 := sessions(t, 5)
	release := make(chan struct{})
	addr := fakeHost(t, func(m *iso8583.Message) []byte {
		stan, _ := m.GetString(DESTAN)
		if stan == "000011" {
			<-release // answers only after the client gave up
			return sealedResponse(t, hst1, stan, "T0000001", "00")
		}
		return sealedResponse(t, hst2, stan, "T0000001", "00")
	})
	t.Cleanup(func() { close(release) }) // runs before the host's cleanup
	c, err := New(&Opts{Addr: addr, TerminalID: "T0000001", ResponseTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	p := Purchase{STAN: 11, Amount: 1000, Currency: "156", Track2: []byte(testTrack2)}
	sctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := c.Purchase(sctx, p, term1); !errors.Is(err, ErrNoResponse) {
		t.Fatalf("slow host: %v", err)
	}
	c.mu.Lock()
	first := c.conn
	c.mu.Unlock()
	if first != nil {
		t.Fatal("the timed-out connection is still in use")
	}
	p.STAN = 12
	if res, err := c.Purchase(ctx, p, term2); err != nil || !res.Approved() {
		t.Fatalf("after a timeout: %+v %v", res, err)
	}
}

// stuckConn is a TCP connection whose writes block until it is closed, as
// with a peer that stopped reading.
type stuckConn struct {
	net.Conn
	once   sync.Once
	closed chan struct{}
}

func (s *stuckConn) Write(p []byte) (int, error) {
	<-s.closed
	return 0, net.ErrClosed
}

func (s *stuckConn) Close() error {
	s.once.Do(func() { close(s.closed) })
	return s.Conn.Close()
}

// TestBlockedWriteEndsEveryCall: with the socket's writes blocked, a second
// request must not queue behind the blocked write inside the connection
// module (nothing would end it); every call ends, and Close returns.
func TestBlockedWriteEndsEveryCall(t *testing.T) {
	term, _ := sessions(t, 6)
	addr := fakeHost(t, func(*iso8583.Message) []byte { return nil })
	c, err := New(&Opts{Addr: addr, TerminalID: "T0000001", ResponseTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	c.dial = func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return &stuckConn{Conn: nc, closed: make(chan struct{})}, nil
	}
	ctx := context.Background()
	errs := make(chan error, 2)
	go func() {
		p := Purchase{STAN: 21, Amount: 1000, Currency: "156", Track2: []byte(testTrack2)}
		_, err := c.Purchase(ctx, p, term)
		errs <- err
	}()
	go func() { errs <- c.Echo(ctx, 22) }()
	// The call that wrote gets ErrNoResponse; the other either waited its
	// turn and did the same or gave up before sending (ErrUnreachable).
	sent := 0
	for range 2 {
		select {
		case err := <-errs:
			switch {
			case errors.Is(err, ErrNoResponse):
				sent++
			case !errors.Is(err, ErrUnreachable):
				t.Errorf("call over a blocked socket: %v", err)
			}
		case <-time.After(time.Minute):
			t.Fatal("a call over a blocked socket does not end")
		}
	}
	if sent == 0 {
		t.Error("no call reports that it may have sent")
	}
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Close does not return")
	}
}
