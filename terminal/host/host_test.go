package host

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moov-io/iso8583"

	"posd/internal/testhex"
	"posd/terminal/wiresec"
)

func TestLookupDialect(t *testing.T) {
	if got := DialectNames(); strings.Join(got, ",") != "ascii87,cup" {
		t.Fatalf("dialects %v", got)
	}
	for name, want := range map[string]*Dialect{"": ASCII87, "ascii87": ASCII87, "cup": CUP} {
		d, err := LookupDialect(name)
		if err != nil || d != want {
			t.Errorf("LookupDialect(%q) = %v, %v", name, d, err)
		}
	}
	if _, err := LookupDialect("iso93"); !errors.Is(err, ErrUnknownDialect) {
		t.Fatalf("unknown dialect: %v", err)
	}
}

func TestSpecsHaveNoClearCardDataFields(t *testing.T) {
	for _, d := range testDialects {
		for _, id := range []int{2, 14, 35, 36, 45} {
			if _, ok := d.Spec.Fields[id]; ok {
				t.Errorf("%s defines DE%d", d, id)
			}
		}
		m := iso8583.NewMessage(d.Spec)
		m.MTI(MTIPurchase)
		if err := m.Field(2, testPAN); err == nil {
			t.Errorf("%s: DE2 can be set", d)
		}
	}
	// A message on the wire carrying DE2 does not decode: bit 2 set, then
	// an LL-prefixed PAN in the dialect's encoding.
	raw := append([]byte("0200"), 0x40, 0, 0, 0, 0, 0, 0, 0)
	raw = append(raw, []byte("16"+testPAN)...)
	if _, err := ASCII87.Decode(raw); !errors.Is(err, ErrMalformed) {
		t.Errorf("ascii87 message with DE2 decoded: %v", err)
	}
	raw = append([]byte{0x02, 0x00, 0x40, 0, 0, 0, 0, 0, 0, 0, 0x16}, testhex.Must(testPAN)...)
	if _, err := CUP.Decode(raw); !errors.Is(err, ErrMalformed) {
		t.Errorf("cup message with DE2 decoded: %v", err)
	}
}

func TestSealAndSplitMAC(t *testing.T) {
	term, hst := sessions(t, 1)
	rev := Request{
		Kind: KindReversal, STAN: 43, OrigSTAN: 42, OrigTime: testTime, TerminalID: "T0000001",
		MerchantID: "M00000000000001", Amount: 1000, Currency: "156", KSN: term.KSN(), Reason: ReasonNoResponse,
	}
	cases := []struct {
		d           *Dialect
		req         Request
		macField    int
		secondary   bool
		description string
	}{
		{ASCII87, purchaseRequest(42, term.KSN()), DEMAC, false, "ascii87 0200"},
		{ASCII87, rev, DEMAC2, true, "ascii87 0400 (DE90: secondary bitmap)"},
		{CUP, purchaseRequest(42, term.KSN()), DEMAC, false, "cup 0200"},
		{CUP, rev, DEMAC, false, "cup 0400"},
	}
	for _, tc := range cases {
		m, err := tc.d.EncodeRequest(tc.req)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := tc.d.Seal(m, term.MACRequest)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tc.d.Decode(raw)
		if err != nil {
			t.Fatalf("%s: sealed message does not decode: %v", tc.description, err)
		}
		fields := got.GetFields()
		if _, ok := fields[tc.macField]; !ok {
			t.Fatalf("%s: MAC not in DE%d", tc.description, tc.macField)
		}
		if _, ok := fields[DEMAC+DEMAC2-tc.macField]; ok {
			t.Fatalf("%s: MAC in both fields", tc.description)
		}
		input, mac, err := tc.d.SplitMAC(got, raw)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(input, raw[:len(raw)-8]) || !bytes.Equal(mac, raw[len(raw)-8:]) {
			t.Fatalf("%s: SplitMAC does not cut the last 8 bytes", tc.description)
		}
		if err := hst.VerifyRequestMAC(input, mac); err != nil {
			t.Fatalf("%s: host rejects sealed message: %v", tc.description, err)
		}
		// The bitmap is part of the MACed bytes: the MTI is 4 ASCII or 2
		// BCD bytes, then the bitmap.
		at := 4
		if tc.d == CUP {
			at = 2
		}
		bad := bytes.Clone(raw)
		bad[at] ^= 0x02 // toggles DE7 in the primary bitmap
		if m2, err := tc.d.Decode(bad); err == nil {
			if in2, mac2, err := tc.d.SplitMAC(m2, bad); err == nil && hst.VerifyRequestMAC(in2, mac2) == nil {
				t.Fatalf("%s: bitmap change not covered by the MAC", tc.description)
			}
		}
		// Unsealed: no MAC.
		m3, _ := tc.d.EncodeRequest(tc.req)
		raw3, _ := m3.Pack()
		if _, _, err := tc.d.SplitMAC(m3, raw3); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s: SplitMAC without MAC: %v", tc.description, err)
		}
	}
}

func TestDecodeRejectsNonCanonical(t *testing.T) {
	m := iso8583.NewMessage(ASCII87.Spec)
	m.MTI(MTINetwork)
	_ = m.Field(DESTAN, "000001")
	_ = m.BinaryField(DEICC, []byte{0x9F, 0x26, 0x01, 0x00})
	raw, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ASCII87.Decode(raw); err != nil {
		t.Fatalf("canonical message rejected: %v", err)
	}
	if _, err := ASCII87.Decode(append(bytes.Clone(raw), 0)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("trailing byte accepted: %v", err)
	}
	// "+4" is read as length 4 by the prefixer but packs back as "004".
	i := bytes.Index(raw, []byte("004\x9f\x26"))
	if i < 0 {
		t.Fatal("ICC length prefix not found")
	}
	bad := bytes.Clone(raw)
	copy(bad[i:], "+04")
	if _, err := ASCII87.Decode(bad); !errors.Is(err, ErrMalformed) {
		t.Fatalf("non-canonical length prefix accepted: %v", err)
	}

	// CUP: a left-aligned DE22 whose pad nibble is not zero reads as the
	// same three digits but packs back differently.
	cm, err := CUP.EncodeRequest(purchaseRequest(42, make([]byte, 12)))
	if err != nil {
		t.Fatal(err)
	}
	craw, err := cm.Pack()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CUP.Decode(craw); err != nil {
		t.Fatalf("canonical cup message rejected: %v", err)
	}
	// MTI (2) + bitmap (8) + DE3 (3) + DE4 (6) + DE11 (3): DE22 at 22.
	if !bytes.Equal(craw[22:24], []byte{0x02, 0x10}) {
		t.Fatalf("DE22 not where expected: % X", craw[20:26])
	}
	bad = bytes.Clone(craw)
	bad[23] = 0x11
	if _, err := CUP.Decode(bad); !errors.Is(err, ErrMalformed) {
		t.Fatalf("non-zero pad nibble accepted: %v", err)
	}
	bad = bytes.Clone(craw)
	bad[22] = 0x0A // not a BCD digit
	if _, err := CUP.Decode(bad); !errors.Is(err, ErrMalformed) {
		t.Fatalf("non-BCD nibble accepted: %v", err)
	}
}

func TestFramer(t *testing.T) {
	tpdu := []byte{0x60, 0x00, 0x01, 0x00, 0x02}
	term, err := ASCII87.NewFramer(tpdu)
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
	off, _ := ASCII87.NewFramer(nil)
	if got, err := off.ReadFrame(bytes.NewReader([]byte{0, 0})); err != nil || len(got) != 0 {
		t.Fatalf("keep-alive: %q, %v", got, err)
	}
	if _, err := off.ReadFrame(bytes.NewReader([]byte{0, 5, '0'})); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short frame: %v", err)
	}
	for _, bad := range [][]byte{{0x60, 0, 0}, {0x61, 0, 0, 0, 0}} {
		if _, err := ASCII87.NewFramer(bad); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("NewFramer(% X): %v", bad, err)
		}
	}
}

func TestCUPFraming(t *testing.T) {
	// No TPDU configured: the dialect's default, then the message header.
	term, err := CUP.NewFramer(nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := term.WriteFrame(&buf, []byte{0x08, 0x00}); err != nil {
		t.Fatal(err)
	}
	// 2 + 5 + 6 + 2 = 13 bytes after the length header.
	want := testhex.Must("000D" + "6000010000" + "603100000000" + "0800")
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("frame % X, want % X", buf.Bytes(), want)
	}
	acq := term.Peer()
	got, err := acq.ReadFrame(bytes.NewReader(buf.Bytes()))
	if err != nil || !bytes.Equal(got, []byte{0x08, 0x00}) {
		t.Fatalf("acquirer reads % X, %v", got, err)
	}
	// The host's header may differ after the application type.
	answer := testhex.Must("000D" + "6000000001" + "603100190000" + "0810")
	if got, err := term.ReadFrame(bytes.NewReader(answer)); err != nil || !bytes.Equal(got, []byte{0x08, 0x10}) {
		t.Fatalf("terminal reads % X, %v", got, err)
	}
	for name, frame := range map[string]string{
		"application type": "000D" + "6000000001" + "613100000000" + "0810",
		"short header":     "0008" + "6000000001" + "603100",
	} {
		r := bytes.NewReader(testhex.Must(frame))
		if _, err := term.ReadFrame(r); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
		if r.Len() != 0 {
			t.Errorf("%s: frame not consumed", name)
		}
	}
}

func TestResponsePath(t *testing.T) {
	for _, d := range testDialects {
		t.Run(d.Name, func(t *testing.T) {
			term, hst := sessions(t, 2)
			want := expect{mti: MTIPurchaseResponse, stan: "000042", tid: "T0000001", amount: 1000, hasAmount: true}
			raw := sealedResponse(t, d, hst, 42, "T0000001", "00")
			res, err := d.parseResponse(raw, want, term)
			if err != nil {
				t.Fatal(err)
			}
			if wantRes := (Result{ResponseCode: "00", AuthCode: "A1B2C3", RRN: "503141000001"}); !reflect.DeepEqual(res, wantRes) {
				t.Fatalf("result %+v", res)
			}
			// Every single-bit change is caught (MAC or decode).
			for bit := range len(raw) * 8 {
				bad := bytes.Clone(raw)
				bad[bit/8] ^= 1 << (bit % 8)
				if _, err := d.parseResponse(bad, want, term); err == nil {
					t.Fatalf("bit %d flipped: response accepted", bit)
				}
			}
			// Flipped MAC bit: ErrBadMAC, never ErrBadResponse.
			bad := bytes.Clone(raw)
			bad[len(bad)-1] ^= 0x80
			if _, err := d.parseResponse(bad, want, term); !errors.Is(err, ErrBadMAC) || errors.Is(err, ErrBadResponse) {
				t.Fatalf("bad MAC: %v", err)
			}
			// A response MACed with the request key (reflection) is a bad MAC.
			m, _ := d.Decode(raw)
			refl, _ := d.Seal(m, term.MACRequest)
			if _, err := d.parseResponse(refl, want, term); !errors.Is(err, ErrBadMAC) {
				t.Fatalf("reflected MAC: %v", err)
			}
			// Correct MAC but wrong echo.
			for name, r := range map[string][]byte{
				"stan": sealedResponse(t, d, hst, 43, "T0000001", "00"),
				"tid":  sealedResponse(t, d, hst, 42, "T0000002", "00"),
				"rc":   sealedResponse(t, d, hst, 42, "T0000001", "0 "),
			} {
				if _, err := d.parseResponse(r, want, term); !errors.Is(err, ErrBadResponse) {
					t.Errorf("%s mismatch: %v", name, err)
				}
			}
			w2 := want
			w2.amount = 2000
			if _, err := d.parseResponse(raw, w2, term); !errors.Is(err, ErrBadResponse) {
				t.Errorf("amount mismatch: %v", err)
			}
			w3 := want
			w3.mti = MTIReversalResponse
			if _, err := d.parseResponse(raw, w3, term); !errors.Is(err, ErrBadResponse) {
				t.Errorf("MTI mismatch: %v", err)
			}
			if _, err := d.parseResponse([]byte("0210"), want, term); !errors.Is(err, ErrBadResponse) {
				t.Errorf("garbage: %v", err)
			}
		})
	}
}

// TestMACVerifiedBeforeFields: a response whose every other field is wrong
// (MTI, STAN, terminal id, response code) but whose MAC does not verify is
// reported as ErrBadMAC: the MAC is checked before anything is read.
func TestMACVerifiedBeforeFields(t *testing.T) {
	for _, d := range testDialects {
		term, _ := sessions(t, 3)
		_, other := sessions(t, 4)
		m := iso8583.NewMessage(d.Spec)
		m.MTI("0810")
		for id, v := range map[int]string{DESTAN: "999999", DETerminalID: "GARBAGE!", DEResponseCode: "\x01\x02"} {
			if err := m.Field(id, v); err != nil {
				t.Fatal(err)
			}
		}
		if err := m.BinaryField(DEICC, []byte{0xFF, 0xFF, 0xFF}); err != nil {
			t.Fatal(err)
		}
		raw, err := d.Seal(m, other.MACResponse)
		if err != nil {
			t.Fatal(err)
		}
		want := expect{mti: MTIPurchaseResponse, stan: "000042", tid: "T0000001", amount: 1000, hasAmount: true}
		_, err = d.parseResponse(raw, want, term)
		if !errors.Is(err, ErrBadMAC) || errors.Is(err, ErrBadResponse) {
			t.Errorf("%s: garbage with a bad MAC: %v", d, err)
		}
		// The same garbage correctly MACed is a bad response: the check
		// above was decided by the MAC alone.
		_, hst := sessions(t, 3)
		raw, _ = d.Seal(m, hst.MACResponse)
		if _, err := d.parseResponse(raw, want, term); !errors.Is(err, ErrBadResponse) {
			t.Errorf("%s: garbage with a good MAC: %v", d, err)
		}
	}
}

func TestMatchKey(t *testing.T) {
	for _, d := range testDialects {
		key := func(mti, stan, tid string) string {
			t.Helper()
			m := iso8583.NewMessage(d.Spec)
			m.MTI(mti)
			_ = m.Field(DESTAN, stan)
			_ = m.Field(DETerminalID, tid)
			k, err := d.MatchKey(m)
			if err != nil {
				t.Fatal(err)
			}
			return k
		}
		a := key("0200", "000042", "T0000001")
		if b := key("0210", "000042", "T0000001"); a != b {
			t.Fatalf("%s: request %q and response %q keys differ", d, a, b)
		}
		if key("0210", "000042", "T0000002") == a {
			t.Fatalf("%s: terminal id not part of the key", d)
		}
		if key("0210", "000043", "T0000001") == a {
			t.Fatalf("%s: STAN not part of the key", d)
		}
		if key("0410", "000042", "T0000001") == a {
			t.Fatalf("%s: MTI class not part of the key", d)
		}
		r := key("0400", "000042", "T0000001")
		if key("0401", "000042", "T0000001") != r || key("0410", "000042", "T0000001") != r {
			t.Fatalf("%s: a repeat and its response do not match the reversal", d)
		}
		if key("0830", "000001", "T0000001") != key("0820", "000001", "T0000001") {
			t.Fatalf("%s: 0830 does not match 0820", d)
		}
	}
	for in, want := range map[string]string{"0200": "0210", "0401": "0410", "0820": "0830", "0810": "", "02x0": ""} {
		if got := ResponseMTI(in); got != want {
			t.Errorf("ResponseMTI(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClientErrors(t *testing.T) {
	for _, d := range testDialects {
		t.Run(d.Name, func(t *testing.T) { clientErrors(t, d) })
	}
}

func clientErrors(t *testing.T, d *Dialect) {
	term, hst := sessions(t, 3)
	var lastRaw []byte
	var mu sync.Mutex
	got5 := make(chan struct{}, 1)
	addr := fakeHost(t, d, func(m *iso8583.Message) []byte {
		raw, _ := m.Pack()
		mu.Lock()
		lastRaw = raw
		mu.Unlock()
		req, err := d.DecodeRequest(m)
		if err != nil {
			return nil
		}
		switch {
		case req.Kind == KindSignOn && req.STAN == 1:
			r, _ := d.EncodeResponse(req, Response{ResponseCode: "91"})
			out, _ := r.Pack()
			return out
		case req.Kind == KindPurchase && req.STAN == 2:
			// Answer under the wrong key.
			_, other := sessions(t, 9)
			return sealedResponse(t, d, other, req.STAN, "T0000001", "00")
		case req.Kind == KindPurchase && req.STAN == 3:
			return sealedResponse(t, d, hst, req.STAN, "T0000001", "00")
		case req.Kind == KindPurchase && req.STAN == 5:
			select {
			case got5 <- struct{}{}:
			default:
			}
		}
		return nil
	})
	c, err := New(&Opts{Addr: addr, Dialect: d.Name, TerminalID: "T0000001", MerchantID: "M00000000000001", ResponseTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	var rej *RejectedError
	if err := c.SignOn(ctx, 1); !errors.As(err, &rej) || rej.ResponseCode != "91" || !errors.Is(err, ErrRejected) {
		t.Fatalf("sign-on answered 91: %v", err)
	}
	p := Purchase{STAN: 2, Amount: 1000, Currency: "156", Track2: []byte(testTrack2), EntryMode: "021"}
	if _, err := c.Purchase(ctx, p, term); !errors.Is(err, ErrBadMAC) {
		t.Fatalf("response under wrong key: %v", err)
	}
	p.STAN = 3
	if res, err := c.Purchase(ctx, p, term); err != nil || !res.Approved() {
		t.Fatalf("good response: %+v %v", res, err)
	}
	// What went on the wire: no clear track or PAN, a MAC that verifies,
	// and the track decrypts at the host.
	mu.Lock()
	raw := lastRaw
	mu.Unlock()
	if bytes.Contains(raw, []byte(testPAN)) || bytes.Contains(raw, testhex.Must(testPAN)) {
		t.Fatal("clear PAN on the wire")
	}
	m, err := d.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	in, mac, err := d.SplitMAC(m, raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := hst.VerifyRequestMAC(in, mac); err != nil {
		t.Fatalf("request MAC: %v", err)
	}
	req, err := d.DecodeRequest(m)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := hst.DecryptRequestData(req.Track2Enc); err != nil || string(pt) != testTrack2 {
		t.Fatalf("track at host: %v", err)
	}
	if !bytes.Equal(req.KSN, term.KSN()) || req.EntryMode != "021" || req.Amount != 1000 {
		t.Fatalf("request as the host reads it: %+v", req)
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
		"batch":    {STAN: 6, Amount: 1, Currency: "156", Track2: []byte(testTrack2), Batch: 1000000},
	} {
		if name == "batch" && d != CUP {
			continue // only cup sends the batch
		}
		if _, err := c.Purchase(ctx, bad, term); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := c.Reverse(ctx, Reversal{STAN: 7, Amount: 1, Currency: "156", Reason: "bad\n"}, term); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("reason with newline: %v", err)
	}
	if _, err := c.Reverse(ctx, Reversal{STAN: 7, OrigSTAN: 1000000, Amount: 1, Currency: "156"}, term); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("original STAN out of range: %v", err)
	}

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Echo(ctx, 8); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// TestReversalAttempts: the caller sends a reversal twice, the second time
// as a repeat with the same STAN. ascii87 sends 0400 then 0401 with the
// same DE11; cup resends the 0400 with the original's STAN, identical but
// for the DUKPT KSN and the MAC.
func TestReversalAttempts(t *testing.T) {
	for _, d := range testDialects {
		t.Run(d.Name, func(t *testing.T) {
			var mu sync.Mutex
			var seen []*iso8583.Message
			addr := fakeHost(t, d, func(m *iso8583.Message) []byte {
				mu.Lock()
				seen = append(seen, m)
				mu.Unlock()
				req, err := d.DecodeRequest(m)
				if err != nil {
					t.Errorf("host cannot read the reversal: %v", err)
					return nil
				}
				resp, err := d.EncodeResponse(req, Response{ResponseCode: "00", Time: testTime})
				if err != nil {
					t.Errorf("answer: %v", err)
					return nil
				}
				hst, err := wiresec.ForHost(wiresec.ModeAES, testBDK, req.KSN)
				if err != nil {
					t.Errorf("host session: %v", err)
					return nil
				}
				raw, _ := d.Seal(resp, hst.MACResponse)
				return raw
			})
			c, err := New(&Opts{Addr: addr, Dialect: d.Name, TerminalID: "T0000001", ResponseTimeout: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			r := Reversal{
				STAN: 77, OrigSTAN: 42, OrigTime: testTime, OrigEntryMode: "021", Amount: 4091, Currency: "156",
				OrigKSN: testhex.Must("123456789012345600000005"), Batch: 3, Reason: ReasonNoResponse,
			}
			for i := range 2 {
				r.Repeat = i > 0
				term, _ := sessions(t, 5+i)
				if res, err := c.Reverse(context.Background(), r, term); err != nil || res.ResponseCode != "00" {
					t.Fatalf("attempt %d: %+v %v", i+1, res, err)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if len(seen) != 2 {
				t.Fatalf("%d messages", len(seen))
			}
			var reqs [2]Request
			for i, m := range seen {
				if reqs[i], err = d.DecodeRequest(m); err != nil {
					t.Fatal(err)
				}
			}
			first, second := reqs[0], reqs[1]
			switch d {
			case ASCII87:
				if first.MTI != "0400" || second.MTI != "0401" || !second.Repeat {
					t.Fatalf("MTIs %s, %s", first.MTI, second.MTI)
				}
				if first.STAN != 77 || second.STAN != 77 || first.OrigRef != second.OrigRef || first.OrigSTAN != 42 {
					t.Fatalf("attempts do not name the same reversal: %+v / %+v", first, second)
				}
				if first.Reason != ReasonNoResponse || first.EntryMode != "021" {
					t.Fatalf("reason or entry mode: %+v", first)
				}
			case CUP:
				if first.MTI != "0400" || second.MTI != "0400" {
					t.Fatalf("MTIs %s, %s", first.MTI, second.MTI)
				}
				if first.STAN != 42 || first.ReasonCode != CUPReasonNoResponse || first.Batch != 3 ||
					!bytes.Equal(first.OrigKSN, r.OrigKSN) || first.EntryMode != "021" {
					t.Fatalf("first attempt: %+v", first)
				}
				if bytes.Equal(first.KSN, second.KSN) {
					t.Fatal("both attempts under one DUKPT key")
				}
				first.KSN, second.KSN = nil, nil
				f1, _ := seen[0].GetBytes(DEMAC)
				f2, _ := seen[1].GetBytes(DEMAC)
				if bytes.Equal(f1, f2) {
					t.Fatal("same MAC under different keys")
				}
				a, _ := d.EncodeRequest(first)
				b, _ := d.EncodeRequest(second)
				pa, _ := a.Pack()
				pb, _ := b.Pack()
				if !bytes.Equal(pa, pb) {
					t.Fatalf("repeat differs beyond KSN and MAC:\n% X\n% X", pa, pb)
				}
			}
		})
	}
}

func TestNewValidates(t *testing.T) {
	for name, o := range map[string]Opts{
		"tid":     {TerminalID: "123456789"},
		"mid":     {MerchantID: strings.Repeat("M", 16)},
		"tpdu":    {TPDU: []byte{1, 2, 3, 4, 5}},
		"cuptpdu": {Dialect: "cup", TPDU: []byte{0x60, 1}},
		"dialect": {Dialect: "iso93"},
	} {
		if _, err := New(&o); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("%s: %v", name, err)
		}
	}
	c, err := New(&Opts{TerminalID: "T1"})
	if err != nil {
		t.Fatal(err)
	}
	if c.TerminalID() != "T1      " || c.Dialect() != ASCII87 {
		t.Fatalf("terminal id %q, dialect %v", c.TerminalID(), c.Dialect())
	}
}

func BenchmarkSealDecode(b *testing.B) {
	for _, d := range testDialects {
		b.Run(d.Name, func(b *testing.B) {
			term, hst := sessions(b, 1)
			req := purchaseRequest(42, term.KSN())
			for b.Loop() {
				m, err := d.EncodeRequest(req)
				if err != nil {
					b.Fatal(err)
				}
				raw, err := d.Seal(m, term.MACRequest)
				if err != nil {
					b.Fatal(err)
				}
				got, err := d.Decode(raw)
				if err != nil {
					b.Fatal(err)
				}
				in, mac, err := d.SplitMAC(got, raw)
				if err != nil {
					b.Fatal(err)
				}
				if err := hst.VerifyRequestMAC(in, mac); err != nil {
					b.Fatal(err)
				}
				if _, err := d.DecodeRequest(got); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
