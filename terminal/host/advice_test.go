package host

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moov-io/iso8583"

	"posd/internal/testhex"
	"posd/terminal/wiresec"
)

// testAdviceICC is the DE55 of the byte-exact advices: a TC (9F26) and
// its cryptogram information data (9F27 40: TC).
var testAdviceICC = testhex.Must("9F2608A1A2A3A4A5A6A7A8" + "9F270140")

// byteAdvice is the advice the byte-exact tests encode.
func byteAdvice() Request {
	return Request{
		Kind: KindAdvice, STAN: 43, Time: testTime, TerminalID: "T0000001", MerchantID: "M00000000000001",
		Amount: 1234, Currency: "156", EntryMode: "051", Batch: 1, Mode: wiresec.ModeTDES,
		KSN: testhex.Must("FFFF9876543210E00002"), Track2Enc: testhex.Must("0102030405060708"),
		ICC: testAdviceICC, Ref: "R42", ResponseCode: OfflineApproved,
	}
}

func asciiHex(s string) string { return strings.ToUpper(hex.EncodeToString([]byte(s))) }

// TestCUPAdviceBytes checks a CUP 0220 byte for byte against an encoding
// derived by hand from the field table in CUP's doc comment.
func TestCUPAdviceBytes(t *testing.T) {
	m, err := CUP.EncodeRequest(byteAdvice())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := CUP.Seal(m, fixedMAC)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"0220",                      // MTI, BCD
		"302004800AC08A95",          // bitmap: 3 4 | 11 | 22 | 25 | 37 39 | 41 42 | 49 53 55 | 57 60 62 64
		"000000",                    // DE3 processing code n6
		"000000001234",              // DE4 amount n12: 12.34
		"000043",                    // DE11 STAN n6: the advice's own
		"0510",                      // DE22 "051", left-aligned
		"00",                        // DE25 condition code
		asciiHex("R42         "),    // DE37 the ref, space-padded on the right
		asciiHex("Y1"),              // DE39 offline approved
		asciiHex("T0000001"),        // DE41
		asciiHex("M00000000000001"), // DE42
		asciiHex("156"),             // DE49
		"1610000000000000",          // DE53: format 0, TDES, track encrypted
		"0015" + hex.EncodeToString(testAdviceICC), // DE55 LLL "015" + the TC's data
		"0010" + "FFFF9876543210E00002",            // DE57 LLL "010" + the KSN
		"0011" + "300000010000",                    // DE60 LLL "011": "30" offline settlement, batch 000001, "000"
		"0008" + "0102030405060708",                // DE62 encrypted track
		"A1A2A3A4A5A6A7A8",                         // DE64 MAC
	}, "")
	if got := strings.ToUpper(hex.EncodeToString(raw)); got != strings.ToUpper(want) {
		t.Fatalf("cup 0220\n got %s\nwant %s", got, strings.ToUpper(want))
	}
}

// TestASCII87AdviceBytes checks an ascii87 0220 byte for byte against the
// field table in ASCII87's doc comment.
func TestASCII87AdviceBytes(t *testing.T) {
	m, err := ASCII87.EncodeRequest(byteAdvice())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ASCII87.Seal(m, fixedMAC)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		asciiHex("0220"),                        // MTI
		"323804800AC08A05",                      // bitmap: 3 4 7 | 11 12 13 | 22 | 25 | 37 39 | 41 42 | 49 53 55 | 62 64
		asciiHex("000000"),                      // DE3
		asciiHex("000000001234"),                // DE4
		asciiHex("0314150926"),                  // DE7 MMDDhhmmss UTC
		asciiHex("000043"),                      // DE11
		asciiHex("150926"),                      // DE12
		asciiHex("0314"),                        // DE13
		asciiHex("051"),                         // DE22
		asciiHex("00"),                          // DE25
		asciiHex("R42         "),                // DE37 left-justified, trailing spaces
		asciiHex("Y1"),                          // DE39
		asciiHex("T0000001"),                    // DE41
		asciiHex("M00000000000001"),             // DE42
		asciiHex("156"),                         // DE49
		asciiHex("10") + "FFFF9876543210E00002", // DE53 LL + KSN
		asciiHex("015") + hex.EncodeToString(testAdviceICC), // DE55 LLL + TC data
		asciiHex("008") + "0102030405060708",                // DE62 LLL + encrypted track
		"A1A2A3A4A5A6A7A8",                                  // DE64
	}, "")
	if got := strings.ToUpper(hex.EncodeToString(raw)); got != strings.ToUpper(want) {
		t.Fatalf("ascii87 0220\n got %s\nwant %s", got, strings.ToUpper(want))
	}
}

// TestAdviceFields: what an advice must have beyond a purchase's fields,
// on both sides of the wire.
func TestAdviceFields(t *testing.T) {
	for _, d := range testDialects {
		t.Run(d.Name, func(t *testing.T) {
			// Every ref length pads to the 12 characters of DE37 and reads
			// back without the padding.
			for _, ref := range []string{"1", "R42", "abcDEF123456"} {
				req := byteAdvice()
				req.Ref = ref
				m, err := d.EncodeRequest(req)
				if err != nil {
					t.Fatalf("ref %q: %v", ref, err)
				}
				if de37, _ := m.GetString(DERRN); len(de37) != 12 || strings.TrimRight(de37, " ") != ref {
					t.Fatalf("ref %q sent as %q", ref, de37)
				}
				raw, _ := d.Seal(m, fixedMAC)
				dm, err := d.Decode(raw)
				if err != nil {
					t.Fatal(err)
				}
				got, err := d.DecodeRequest(dm)
				if err != nil || got.Ref != ref || got.ResponseCode != OfflineApproved || got.Kind != KindAdvice {
					t.Fatalf("ref %q read as %+v, %v", ref, got, err)
				}
			}
			// Bad input: nothing encodes.
			for name, f := range map[string]func(*Request){
				"no ref":        func(r *Request) { r.Ref = "" },
				"long ref":      func(r *Request) { r.Ref = "1234567890123" },
				"ref with dash": func(r *Request) { r.Ref = "R-42" },
				"ref space":     func(r *Request) { r.Ref = "R 42" },
				"no rc":         func(r *Request) { r.ResponseCode = "" },
				"rc of one":     func(r *Request) { r.ResponseCode = "Y" },
				"rc not alnum":  func(r *Request) { r.ResponseCode = "Y\n" },
				"PIN block":     func(r *Request) { r.PINBlock = make([]byte, 8) },
				"amount":        func(r *Request) { r.Amount = -1 },
				"clear PAN ICC": func(r *Request) { r.ICC = testhex.Must("5A08" + testPAN) },
			} {
				req := byteAdvice()
				f(&req)
				if _, err := d.EncodeRequest(req); !errors.Is(err, ErrInvalidRequest) {
					t.Errorf("%s: %v", name, err)
				}
			}
			// The answer to a request without a valid ref cannot be built.
			req := byteAdvice()
			req.MTI, req.Ref = MTIAdvice, ""
			if _, err := d.EncodeResponse(req, Response{ResponseCode: AdviceAccepted}); !errors.Is(err, ErrInvalidRequest) {
				t.Errorf("answer without ref: %v", err)
			}

			// Bad messages: DE37 or DE39 missing or malformed, a PIN block.
			good, err := d.EncodeRequest(byteAdvice())
			if err != nil {
				t.Fatal(err)
			}
			for name, f := range map[string]func(m *iso8583.Message){
				"no DE37":       func(m *iso8583.Message) { m.UnsetField(DERRN) },
				"blank DE37":    func(m *iso8583.Message) { _ = m.Field(DERRN, strings.Repeat(" ", 12)) },
				"DE37 leading":  func(m *iso8583.Message) { _ = m.Field(DERRN, "         R42") },
				"DE37 dash":     func(m *iso8583.Message) { _ = m.Field(DERRN, "R-42        ") },
				"no DE39":       func(m *iso8583.Message) { m.UnsetField(DEResponseCode) },
				"DE39 not code": func(m *iso8583.Message) { _ = m.Field(DEResponseCode, "Y ") },
				"PIN block":     func(m *iso8583.Message) { _ = m.BinaryField(DEPINBlock, make([]byte, 8)) },
			} {
				raw, err := good.Pack()
				if err != nil {
					t.Fatal(err)
				}
				m, _ := d.Decode(raw)
				f(m)
				raw, err = m.Pack()
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				m, err = d.Decode(raw)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if _, err := d.DecodeRequest(m); !errors.Is(err, ErrMalformed) {
					t.Errorf("%s: %v", name, err)
				}
			}
			if d == CUP {
				// A purchase's 60.1 on a 0220 is not an advice.
				m, _ := d.EncodeRequest(byteAdvice())
				_ = m.Field(DEReserved60, "22000001000")
				if _, err := d.DecodeRequest(m); !errors.Is(err, ErrUnsupported) {
					t.Errorf("0220 with 60.1 22: %v", err)
				}
			}

			// The answer: DE37 echoed, read back without padding; absent is
			// no ref; a malformed one is malformed.
			req = byteAdvice()
			req.MTI = MTIAdvice
			rm, err := d.EncodeResponse(req, Response{ResponseCode: AdviceBusy, Time: testTime})
			if err != nil {
				t.Fatal(err)
			}
			if mti, _ := rm.GetMTI(); mti != MTIAdviceResponse {
				t.Fatalf("answer MTI %s", mti)
			}
			r, err := d.DecodeResponse(rm)
			if err != nil || r.Kind != KindAdvice || r.Ref != "R42" || r.ResponseCode != AdviceBusy || !r.HasAmount || r.Amount != 1234 || r.RRN != "" {
				t.Fatalf("answer %+v, %v", r, err)
			}
			rm.UnsetField(DERRN)
			if r, err := d.DecodeResponse(rm); err != nil || r.Ref != "" {
				t.Fatalf("answer without DE37: %+v, %v", r, err)
			}
			_ = rm.Field(DERRN, "R42\x01        ")
			if _, err := d.DecodeResponse(rm); !errors.Is(err, ErrMalformed) {
				t.Fatalf("answer with a bad DE37: %v", err)
			}
		})
	}
}

// TestMatchKeyAdvice: a 0230 is routed to its 0220, not to a purchase of
// the same STAN.
func TestMatchKeyAdvice(t *testing.T) {
	for _, d := range testDialects {
		key := func(mti string) string {
			m := iso8583.NewMessage(d.Spec)
			m.MTI(mti)
			_ = m.Field(DESTAN, "000042")
			_ = m.Field(DETerminalID, "T0000001")
			k, err := d.MatchKey(m)
			if err != nil {
				t.Fatal(err)
			}
			return k
		}
		if key("0220") != key("0230") {
			t.Errorf("%s: 0230 does not match 0220", d)
		}
		if key("0230") == key("0210") || key("0220") == key("0200") {
			t.Errorf("%s: an advice matches a purchase", d)
		}
	}
	if got := ResponseMTI(MTIAdvice); got != MTIAdviceResponse {
		t.Fatalf("ResponseMTI(0220) = %q", got)
	}
}

// testAdvice is the advice the client tests send.
func testAdvice(stan uint32) Advice {
	return Advice{
		STAN: stan, Ref: "R" + fmtSTAN(stan), Time: testTime, Amount: 1000, Currency: "156", EntryMode: "051",
		Track2: []byte(testTrack2), ICC: testAdviceICC, Batch: 3,
	}
}

// adviceHost answers advices as a host would, by STAN: 1 and 8 "00", 2
// "91", 3 with another ref, 4 with another amount, 5 under a wrong key, 6
// not at all, 7 "00" without DE37. It records every advice it read.
type adviceHost struct {
	t    *testing.T
	d    *Dialect
	mu   sync.Mutex
	seen []Request
	raw  [][]byte
}

func (h *adviceHost) reply(m *iso8583.Message) []byte {
	t, d := h.t, h.d
	raw, _ := m.Pack()
	req, err := d.DecodeRequest(m)
	if err != nil {
		t.Errorf("host cannot read the request: %v", err)
		return nil
	}
	hst, err := wiresec.ForHost(wiresec.ModeAES, testBDK, req.KSN)
	if err != nil {
		t.Errorf("host session: %v", err)
		return nil
	}
	defer hst.Wipe()
	in, mac, err := d.SplitMAC(m, raw)
	if err != nil || hst.VerifyRequestMAC(in, mac) != nil {
		t.Errorf("advice MAC does not verify: %v", err)
		return nil
	}
	if pt, err := hst.DecryptRequestData(req.Track2Enc); err != nil || string(pt) != testTrack2 {
		t.Errorf("track at the host: %v", err)
	}
	h.mu.Lock()
	h.seen = append(h.seen, req)
	h.raw = append(h.raw, raw)
	h.mu.Unlock()
	rc, answerReq, key := AdviceAccepted, req, hst
	switch req.STAN {
	case 2:
		rc = AdviceBusy
	case 3:
		answerReq.Ref = "OTHER1"
	case 4:
		answerReq.Amount++
	case 5:
		_, key = sessions(t, 9)
	case 6:
		return nil
	}
	resp, err := d.EncodeResponse(answerReq, Response{ResponseCode: rc, Time: testTime})
	if err != nil {
		t.Errorf("answer: %v", err)
		return nil
	}
	if req.STAN == 7 {
		resp.UnsetField(DERRN)
	}
	out, err := d.Seal(resp, key.MACResponse)
	if err != nil {
		t.Errorf("seal: %v", err)
		return nil
	}
	return out
}

func TestClientAdvice(t *testing.T) {
	for _, d := range testDialects {
		t.Run(d.Name, func(t *testing.T) {
			h := &adviceHost{t: t, d: d}
			addr := fakeHost(t, d, h.reply)
			c, err := New(&Opts{Addr: addr, Dialect: d.Name, TerminalID: "T0000001", MerchantID: "M00000000000001", ResponseTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx := context.Background()
			n := 0
			send := func(a Advice) (Result, error) {
				n++
				term, _ := sessions(t, n)
				return c.Advice(ctx, a, term)
			}

			// Accepted, and the same advice again (another attempt: same
			// STAN and ref, a fresh KSN) accepted again.
			for range 2 {
				res, err := send(testAdvice(1))
				if err != nil || res.ResponseCode != AdviceAccepted || !res.Approved() {
					t.Fatalf("advice: %+v %v", res, err)
				}
				if res.AuthCode != "" || res.RRN != "" || res.ICC != nil {
					t.Fatalf("advice result carries purchase data: %+v", res)
				}
			}
			// Busy is an answer, not an error.
			if res, err := send(testAdvice(2)); err != nil || res.ResponseCode != AdviceBusy {
				t.Fatalf("busy: %+v %v", res, err)
			}
			// An answer for another ref or amount is a bad response.
			for _, stan := range []uint32{3, 4} {
				if _, err := send(testAdvice(stan)); !errors.Is(err, ErrBadResponse) {
					t.Fatalf("STAN %d: %v", stan, err)
				}
			}
			if _, err := send(testAdvice(5)); !errors.Is(err, ErrBadMAC) {
				t.Fatalf("answer under a wrong key: %v", err)
			}
			wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			term, _ := sessions(t, 20)
			_, err = c.Advice(wctx, testAdvice(6), term)
			cancel()
			if !errors.Is(err, ErrNoResponse) {
				t.Fatalf("unanswered: %v", err)
			}
			// DE37 is checked when the answer carries it.
			if res, err := send(testAdvice(7)); err != nil || res.ResponseCode != AdviceAccepted {
				t.Fatalf("answer without DE37: %+v %v", res, err)
			}
			// ResponseCode given: sent as it is.
			a := testAdvice(8)
			a.ResponseCode = "Y3"
			if res, err := send(a); err != nil || !res.Approved() {
				t.Fatalf("Y3: %+v %v", res, err)
			}

			// What the host read.
			h.mu.Lock()
			seen := append([]Request(nil), h.seen...)
			h.mu.Unlock()
			if len(seen) != 9 {
				t.Fatalf("host read %d advices, want 9", len(seen))
			}
			first, again := seen[0], seen[1]
			if first.Kind != KindAdvice || first.MTI != MTIAdvice || first.STAN != 1 || first.Ref != "R000001" ||
				first.ResponseCode != OfflineApproved || first.Amount != 1000 || first.Currency != "156" ||
				first.EntryMode != "051" || !bytes.Equal(first.ICC, testAdviceICC) || len(first.PINBlock) != 0 ||
				first.MerchantID != "M00000000000001" || first.Mode != wiresec.ModeAES {
				t.Fatalf("advice as the host read it: %+v", first)
			}
			if d == CUP && first.Batch != 3 {
				t.Fatalf("cup batch %d", first.Batch)
			}
			if again.STAN != first.STAN || again.Ref != first.Ref || bytes.Equal(again.KSN, first.KSN) {
				t.Fatalf("second attempt: STAN %d ref %q, KSN the same: %v", again.STAN, again.Ref, bytes.Equal(again.KSN, first.KSN))
			}
			if last := seen[8]; last.ResponseCode != "Y3" {
				t.Fatalf("response code sent %q", last.ResponseCode)
			}

			// Bad input: nothing sent.
			for name, f := range map[string]func(*Advice){
				"no ref":     func(a *Advice) { a.Ref = "" },
				"long ref":   func(a *Advice) { a.Ref = "1234567890123" },
				"ref punct":  func(a *Advice) { a.Ref = "R.1" },
				"no track":   func(a *Advice) { a.Track2 = nil },
				"long track": func(a *Advice) { a.Track2 = bytes.Repeat([]byte("4"), 41) },
				"long ICC":   func(a *Advice) { a.ICC = make([]byte, MaxICC+1) },
				"amount":     func(a *Advice) { a.Amount = -1 },
				"currency":   func(a *Advice) { a.Currency = "CNY" },
				"entry":      func(a *Advice) { a.EntryMode = "5" },
				"rc":         func(a *Advice) { a.ResponseCode = "Y" },
				"stan":       func(a *Advice) { a.STAN = 1000000 },
			} {
				a := testAdvice(10)
				f(&a)
				if _, err := send(a); !errors.Is(err, ErrInvalidRequest) {
					t.Errorf("%s: %v", name, err)
				}
			}
			if _, err := c.Advice(ctx, testAdvice(10), nil); !errors.Is(err, ErrInvalidRequest) {
				t.Errorf("no session: %v", err)
			}
			h.mu.Lock()
			if len(h.seen) != 9 {
				t.Errorf("bad input reached the host")
			}
			h.mu.Unlock()
		})
	}

	// Unreachable: nothing sent.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	c, err := New(&Opts{Addr: closed})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	term, _ := sessions(t, 1)
	if _, err := c.Advice(context.Background(), testAdvice(1), term); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("unreachable: %v", err)
	}
}
