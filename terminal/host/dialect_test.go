package host

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/moov-io/iso8583"

	"posd/internal/testhex"
	"posd/terminal/wiresec"
)

// fixedMAC stands in for a MAC key in byte-exact tests.
func fixedMAC([]byte) ([]byte, error) { return testhex.Must("A1A2A3A4A5A6A7A8"), nil }

// TestCUPPurchaseBytes checks a CUP 0200 byte for byte against an encoding
// derived by hand from the field table in CUP's doc comment.
func TestCUPPurchaseBytes(t *testing.T) {
	req := Request{
		Kind: KindPurchase, STAN: 42, Time: testTime, TerminalID: "T0000001", MerchantID: "M00000000000001",
		Amount: 1234, Currency: "156", EntryMode: "021", Batch: 1, Mode: wiresec.ModeTDES,
		KSN: testhex.Must("FFFF9876543210E00001"), Track2Enc: testhex.Must("0102030405060708"),
	}
	m, err := CUP.EncodeRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := CUP.Seal(m, fixedMAC)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"0200",                                // MTI, BCD
		"3020048000C08895",                    // bitmap: 3 4 | 11 | 22 | 25 | - | 41 42 | 49 53 | 57 60 62 64
		"000000",                              // DE3 processing code n6
		"000000001234",                        // DE4 amount n12: 12.34
		"000042",                              // DE11 STAN n6
		"0210",                                // DE22 "021", left-aligned: trailing zero nibble
		"00",                                  // DE25 condition code n2
		"5430303030303031",                    // DE41 "T0000001", ASCII
		"4D30303030303030303030303030" + "31", // DE42 "M00000000000001", ASCII
		"313536",                              // DE49 "156", ASCII
		"1610000000000000",                    // DE53 n16: format 0 ("1"), TDES ("6"), track encrypted ("1")
		"0010" + "FFFF9876543210E00001",       // DE57 LLL "010" (bytes) + the KSN
		"0011" + "220000010000",               // DE60 LLL "011" (digits) + "22" "000001" "000", left-aligned
		"0008" + "0102030405060708",           // DE62 LLL "008" + encrypted track
		"A1A2A3A4A5A6A7A8",                    // DE64 MAC
	}, "")
	if got := strings.ToUpper(hex.EncodeToString(raw)); got != want {
		t.Fatalf("cup 0200\n got %s\nwant %s", got, want)
	}
	// On the wire: length (2 bytes) counting TPDU (5) + header (6) + message.
	fr, err := CUP.NewFramer(nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := fr.WriteFrame(&buf, raw); err != nil {
		t.Fatal(err)
	}
	// The message is 97 bytes: 2 MTI, 8 bitmap, then 3+6+3+2+1+8+15+3+8,
	// 12 (DE57), 8 (DE60), 10 (DE62) and 8 (DE64); with TPDU and header
	// 108 = 0x6C.
	wantFrame := "006C" + "6000010000" + "603100000000" + want
	if got := strings.ToUpper(hex.EncodeToString(buf.Bytes())); got != wantFrame {
		t.Fatalf("cup 0200 frame\n got %s\nwant %s", got, wantFrame)
	}
}

// TestCUPReversalBytes checks the reversal of the purchase above byte for
// byte: the original resent with its STAN, reason A0, field 61 and the
// original's KSN in field 62.
func TestCUPReversalBytes(t *testing.T) {
	req := Request{
		Kind: KindReversal, STAN: 77, Time: testTime, TerminalID: "T0000001", MerchantID: "M00000000000001",
		Amount: 1234, Currency: "156", EntryMode: "021", Batch: 1, Mode: wiresec.ModeTDES,
		KSN: testhex.Must("FFFF9876543210E00002"), OrigSTAN: 42, OrigTime: testTime,
		OrigKSN: testhex.Must("FFFF9876543210E00001"), Reason: ReasonMACFailure,
	}
	m, err := CUP.EncodeRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := CUP.Seal(m, fixedMAC)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"0400",                                // MTI
		"3020048002C0889D",                    // bitmap: 3 4 | 11 | 22 | 25 | 39 | 41 42 | 49 53 | 57 60 61 62 64
		"000000",                              // DE3
		"000000001234",                        // DE4, the original's amount
		"000042",                              // DE11: the original's STAN, not the reversal's own 77
		"0210",                                // DE22, the original's entry mode
		"00",                                  // DE25
		"4130",                                // DE39 "A0": the response MAC failed
		"5430303030303031",                    // DE41
		"4D30303030303030303030303030" + "31", // DE42
		"313536",                              // DE49
		"1600000000000000",                    // DE53: format 0, TDES, no track data
		"0010" + "FFFF9876543210E00002",       // DE57: this message's KSN
		"0011" + "220000010000",               // DE60: the original's type and batch
		"0016" + "0000010000420314",           // DE61 LLL "016": batch 000001, STAN 000042, date 0314
		"0010" + "FFFF9876543210E00001",       // DE62: the original's KSN
		"A1A2A3A4A5A6A7A8",                    // DE64
	}, "")
	if got := strings.ToUpper(hex.EncodeToString(raw)); got != want {
		t.Fatalf("cup 0400\n got %s\nwant %s", got, want)
	}
}

// roundTripRequests are requests of every kind each dialect maps.
func roundTripRequests(ksn []byte) []Request {
	pur := purchaseRequest(42, ksn)
	pur.PINBlock = testhex.Must("00112233445566778899AABBCCDDEEFF")
	pur.ICC = testhex.Must("9F2608A1A2A3A4A5A6A7A8")
	rev := Request{
		Kind: KindReversal, STAN: 43, Time: testTime, TerminalID: "T0000001", MerchantID: "M00000000000001",
		Amount: 1000, Currency: "156", EntryMode: "021", Batch: 7, KSN: ksn, OrigSTAN: 42,
		OrigTime: testTime, OrigKSN: testhex.Must("123456789012345600000001"), Reason: ReasonNoResponse,
	}
	rep := rev
	rep.Repeat = true
	return []Request{
		pur, rev, rep, adviceRequest(44, ksn),
		{Kind: KindSignOn, STAN: 1, Time: testTime, TerminalID: "T0000001", MerchantID: "M00000000000001", Batch: 7},
		{Kind: KindSignOff, STAN: 2, Time: testTime, TerminalID: "T0000001", MerchantID: "M00000000000001", Batch: 7},
		{Kind: KindEcho, STAN: 3, Time: testTime, TerminalID: "T0000001", MerchantID: "M00000000000001", Batch: 7},
	}
}

// TestRoundTrips: every request and its response of every dialect packs,
// unpacks to the same neutral message and packs again to the same bytes.
func TestRoundTrips(t *testing.T) {
	term, hst := sessions(t, 1)
	for _, d := range testDialects {
		for _, req := range roundTripRequests(term.KSN()) {
			name := d.Name + "/" + string(req.Kind)
			if req.Repeat {
				name += "/repeat"
			}
			m, err := d.EncodeRequest(req)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			raw, err := d.Seal(m, term.MACRequest)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			dm, err := d.Decode(raw)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			got, err := d.DecodeRequest(dm)
			if err != nil {
				t.Fatalf("%s: decode: %v", name, err)
			}
			if want := wantDecoded(d, req, got.MTI); !reflect.DeepEqual(normal(got), normal(want)) {
				t.Errorf("%s:\n got %+v\nwant %+v", name, normal(got), normal(want))
			}
			// The decoded request, with the times the wire does not carry
			// in full, encodes to the same bytes.
			again := got
			again.Time, again.OrigTime = req.Time, req.OrigTime
			if d == CUP && req.Kind == KindReversal {
				again.STAN = req.STAN // cup sends the original's STAN instead
			}
			m2, err := d.EncodeRequest(again)
			if err != nil {
				t.Fatalf("%s: re-encode: %v", name, err)
			}
			raw2, _ := d.Seal(m2, term.MACRequest)
			if !bytes.Equal(raw, raw2) {
				t.Errorf("%s: re-encoded bytes differ\n% X\n% X", name, raw, raw2)
			}

			// The answer.
			resp := Response{ResponseCode: "00", Time: testTime}
			if req.Kind == KindPurchase {
				resp.AuthCode, resp.RRN, resp.ICC = "A1B2C3", "503141000001", testIssuerICC
			}
			rm, err := d.EncodeResponse(got, resp)
			if err != nil {
				t.Fatalf("%s: response: %v", name, err)
			}
			rraw, err := d.Seal(rm, hst.MACResponse)
			if err != nil {
				t.Fatal(err)
			}
			rdm, err := d.Decode(rraw)
			if err != nil {
				t.Fatalf("%s: response decode: %v", name, err)
			}
			r, err := d.DecodeResponse(rdm)
			if err != nil {
				t.Fatalf("%s: response: %v", name, err)
			}
			if r.MTI != ResponseMTI(got.MTI) || r.Kind != req.Kind || r.STAN != got.STAN || r.TerminalID != req.TerminalID ||
				r.ResponseCode != "00" || r.AuthCode != resp.AuthCode || r.RRN != resp.RRN || !bytes.Equal(r.ICC, resp.ICC) {
				t.Errorf("%s: response %+v", name, r)
			}
			if financial := req.Kind != KindSignOn && req.Kind != KindSignOff && req.Kind != KindEcho; financial != r.HasAmount || (financial && r.Amount != req.Amount) {
				t.Errorf("%s: response amount %+v", name, r)
			}
			if r.Ref != req.Ref {
				t.Errorf("%s: response ref %q, want %q", name, r.Ref, req.Ref)
			}
		}
	}
}

// wantDecoded is what DecodeRequest should make of req in dialect d.
func wantDecoded(d *Dialect, req Request, mti string) Request {
	w := req
	w.MTI = mti
	w.Time, w.OrigTime = time.Time{}, time.Time{}
	if w.Kind == KindPurchase || w.Kind == KindReversal || w.Kind == KindAdvice {
		w.Mode = modeOfKSN(w.KSN)
	}
	if w.Kind == KindReversal {
		w.OrigKind = orKind(w.OrigKind) // decoded explicitly
	}
	switch d {
	case ASCII87:
		w.Batch = 0 // not sent
		if w.Kind != KindPurchase && w.Kind != KindReversal && w.Kind != KindAdvice {
			w.MerchantID = "" // network management carries no DE42
		}
		if w.Kind == KindReversal {
			w.ReasonCode = string(w.Reason)
			w.OrigKSN = nil // not sent
			w.OrigRef = "0200" + "000042" + "0314150926" + strings.Repeat("0", 22)
		}
	case CUP:
		if w.Kind == KindReversal {
			w.STAN = w.OrigSTAN
			w.Repeat = false // cup cannot tell
			w.ReasonCode = CUPReasonNoResponse
			w.OrigRef = "000042/" + "000007" + "000042" + "0314"
		}
	}
	return w
}

// normal makes empty and nil byte slices compare equal.
func normal(r Request) Request {
	for _, b := range []*[]byte{&r.KSN, &r.Track2Enc, &r.PINBlock, &r.ICC, &r.OrigKSN} {
		if len(*b) == 0 {
			*b = nil
		}
	}
	return r
}

func TestReversalReasonsOnTheWire(t *testing.T) {
	term, _ := sessions(t, 1)
	for reason, code := range map[ReversalReason]string{
		ReasonNoResponse: "98", ReasonMACFailure: "A0", ReasonBadResponse: "06", ReasonCardRemoved: "06",
		ReasonTerminalCancel: "06", ReasonCustomerCancel: "06", "interrupted while the request was in flight": "06", "": "06",
	} {
		req := Request{
			Kind: KindReversal, STAN: 43, TerminalID: "T0000001", MerchantID: "M00000000000001",
			Amount: 1000, Currency: "156", KSN: term.KSN(), OrigSTAN: 42, Reason: reason,
		}
		m, err := CUP.EncodeRequest(req)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := m.GetString(DEResponseCode); got != code {
			t.Errorf("cup: %q sent as %q, want %q", reason, got, code)
		}
		m, err = ASCII87.EncodeRequest(req)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := m.GetString(DEReversalReason); got != string(reason) {
			t.Errorf("ascii87: %q sent as DE60 %q", reason, got)
		}
	}
	for code, want := range map[string]ReversalReason{"98": ReasonNoResponse, "A0": ReasonMACFailure, "06": ReasonOther} {
		if got := cupReason(code); got != want {
			t.Errorf("cup code %s read as %q", code, got)
		}
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	// Unknown MTI, unknown network code: ErrUnsupported, the MTI still
	// known; a reject answers them.
	for _, d := range testDialects {
		m := iso8583.NewMessage(d.Spec)
		m.MTI("0600")
		_ = m.Field(DESTAN, "000009")
		_ = m.Field(DETerminalID, "T0000001")
		req, err := d.DecodeRequest(m)
		if !errors.Is(err, ErrUnsupported) || req.MTI != "0600" {
			t.Errorf("%s: 0600: %+v %v", d, req, err)
		}
		rej, err := d.EncodeReject(m, "12")
		if err != nil {
			t.Fatal(err)
		}
		if mti, _ := rej.GetMTI(); mti != "0610" {
			t.Errorf("%s: reject MTI %s", d, mti)
		}
		if k1, _ := d.MatchKey(m); func() string { k2, _ := d.MatchKey(rej); return k2 }() != k1 {
			t.Errorf("%s: reject does not match its request", d)
		}
		if _, err := d.EncodeRequest(Request{Kind: "chargeback"}); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: chargeback: %v", d, err)
		}
	}
	// ascii87: a non-digit amount is malformed.
	m := iso8583.NewMessage(ASCII87.Spec)
	m.MTI(MTIPurchase)
	_ = m.Field(DESTAN, "000001")
	_ = m.Field(DEAmount, "00000000001x")
	if _, err := ASCII87.DecodeRequest(m); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad amount: %v", err)
	}
	// cup: field 53 must agree with the KSN.
	term, _ := sessions(t, 1)
	cm, err := CUP.EncodeRequest(purchaseRequest(1, term.KSN()))
	if err != nil {
		t.Fatal(err)
	}
	_ = cm.Field(DESecurity, "1610000000000000") // TDES, but an AES KSN
	if _, err := CUP.DecodeRequest(cm); !errors.Is(err, ErrMalformed) {
		t.Errorf("field 53 against the KSN: %v", err)
	}
}

// fuzzDecode runs arbitrary bytes through everything that reads a message
// of d: decode, request and response decoding, rejection, the response
// path. Nothing may panic, errors are typed, and only responses MACed
// under the host's key are accepted.
func fuzzDecode(f *testing.F, d *Dialect) {
	term, hst := sessions(f, 1)
	good := sealedResponse(f, d, hst, 42, "T0000001", "00")
	f.Add(good)
	f.Add(good[:len(good)-3])
	// A response with issuer data for the card.
	req := purchaseRequest(42, hst.KSN())
	req.MTI = MTIPurchase
	if m, err := d.EncodeResponse(req, Response{ResponseCode: "00", Time: testTime, ICC: testIssuerICC}); err == nil {
		raw, _ := d.Seal(m, hst.MACResponse)
		f.Add(raw)
	}
	// An advice (0220, also among roundTripRequests below) and its 0230,
	// accepted and busy.
	adv := adviceRequest(44, term.KSN())
	if m, err := d.EncodeRequest(adv); err == nil {
		raw, _ := d.Seal(m, term.MACRequest)
		f.Add(raw)
	} else {
		f.Fatal(err)
	}
	adv.MTI = MTIAdvice
	for _, rc := range []string{AdviceAccepted, AdviceBusy} {
		m, err := d.EncodeResponse(adv, Response{ResponseCode: rc, Time: testTime})
		if err != nil {
			f.Fatal(err)
		}
		raw, _ := d.Seal(m, hst.MACResponse)
		f.Add(raw)
	}
	for _, req := range roundTripRequests(term.KSN()) {
		m, err := d.EncodeRequest(req)
		if err != nil {
			f.Fatal(err)
		}
		raw, err := d.Seal(m, term.MACRequest)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	// The kinds of kinds.go: every request and its answers (a balance
	// inquiry's with DE54, a settlement's balanced and out of balance).
	for _, raw := range kindSeeds(f, d, term, hst) {
		f.Add(raw)
	}
	f.Add([]byte("0810"))
	f.Add([]byte{0x08, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})
	f.Add([]byte{})
	want := expect{mti: MTIPurchaseResponse, stan: "000042", tid: "T0000001", amount: 1000, hasAmount: true}
	typed := func(t *testing.T, err error, what string) {
		if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrInvalidRequest) {
			t.Fatalf("%s: untyped error %v", what, err)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if res, err := d.parseResponse(raw, want, term); err == nil {
			m, derr := d.Decode(raw)
			if derr != nil {
				t.Fatalf("accepted bytes do not decode: %v", derr)
			}
			in, mac, serr := d.SplitMAC(m, raw)
			if serr != nil || hst.VerifyResponseMAC(in, mac) != nil {
				t.Fatal("accepted a response without a valid MAC")
			}
			if len(res.ResponseCode) != 2 {
				t.Fatalf("response code %q", res.ResponseCode)
			}
		}
		_, _ = d.parseResponse(raw, expect{mti: "0810", stan: "000001", tid: "T0000001"}, nil)
		m, err := d.Decode(raw)
		if err != nil {
			typed(t, err, "decode")
			return
		}
		again, err := m.Pack()
		if err != nil || !bytes.Equal(again, raw) {
			t.Fatal("decoded message does not pack back")
		}
		req, err := d.DecodeRequest(m)
		typed(t, err, "request")
		if err == nil && req.Kind == "" {
			t.Fatal("request decoded without a kind")
		}
		_, err = d.DecodeResponse(m)
		typed(t, err, "response")
		if rej, err := d.EncodeReject(m, "30"); err == nil {
			if _, err := rej.Pack(); err != nil {
				t.Fatalf("reject does not pack: %v", err)
			}
		}
	})
}

// kindSeeds are the sealed requests of kindRequests and their sealed
// answers, in d.
func kindSeeds(f *testing.F, d *Dialect, term, hst *wiresec.Session) [][]byte {
	var out [][]byte
	for _, req := range kindRequests(term.KSN()) {
		m, err := d.EncodeRequest(req)
		if err != nil {
			f.Fatal(err)
		}
		raw, err := d.Seal(m, term.MACRequest)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, raw)
		dm, _ := d.Decode(raw)
		got, err := d.DecodeRequest(dm)
		if err != nil {
			f.Fatal(err)
		}
		resps := []Response{{ResponseCode: "00", RRN: "503141000009", AuthCode: "H00001", Time: testTime}}
		switch req.Kind {
		case KindBalance:
			resps[0].Balance, resps[0].BalanceCurrency, resps[0].HasBalance, resps[0].ICC = -42, "156", true, testIssuerICC
		case KindSettlement:
			resps = []Response{{ResponseCode: SettlementBalanced}, {ResponseCode: SettlementOutOfBalance}, {ResponseCode: "96"}}
		case KindBatchUpload, KindReversal:
			resps[0].RRN, resps[0].AuthCode = "", ""
		}
		for _, resp := range resps {
			rm, err := d.EncodeResponse(got, resp)
			if err != nil {
				f.Fatal(err)
			}
			raw, err := d.Seal(rm, hst.MACResponse)
			if err != nil {
				f.Fatal(err)
			}
			out = append(out, raw)
		}
	}
	return out
}

func FuzzDecodeASCII87(f *testing.F) { fuzzDecode(f, ASCII87) }
func FuzzDecodeCUP(f *testing.F)     { fuzzDecode(f, CUP) }

// fuzzFrame reads arbitrary bytes as a stream of frames of d, with and
// without a TPDU.
func fuzzFrame(f *testing.F, d *Dialect) {
	term, hst := sessions(f, 1)
	good := sealedResponse(f, d, hst, 42, "T0000001", "00")
	tf, err := d.NewFramer([]byte{0x60, 0, 1, 0, 2})
	if err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	_ = tf.Peer().WriteFrame(&buf, good)
	f.Add(bytes.Clone(buf.Bytes()))
	m, _ := d.EncodeRequest(purchaseRequest(1, term.KSN()))
	raw, _ := d.Seal(m, term.MACRequest)
	buf.Reset()
	_ = tf.WriteFrame(&buf, raw)
	f.Add(bytes.Clone(buf.Bytes()))
	// An advice and its answer, framed by their senders.
	adv := adviceRequest(2, term.KSN())
	m, err = d.EncodeRequest(adv)
	if err != nil {
		f.Fatal(err)
	}
	raw, _ = d.Seal(m, term.MACRequest)
	buf.Reset()
	_ = tf.WriteFrame(&buf, raw)
	f.Add(bytes.Clone(buf.Bytes()))
	adv.MTI = MTIAdvice
	m, err = d.EncodeResponse(adv, Response{ResponseCode: AdviceAccepted, Time: testTime})
	if err != nil {
		f.Fatal(err)
	}
	raw, _ = d.Seal(m, hst.MACResponse)
	buf.Reset()
	_ = tf.Peer().WriteFrame(&buf, raw)
	f.Add(bytes.Clone(buf.Bytes()))
	// A void, a settlement and the answer to a balance inquiry, framed.
	for i, raw := range kindSeeds(f, d, term, hst) {
		if i%7 != 0 {
			continue
		}
		buf.Reset()
		_ = tf.WriteFrame(&buf, raw)
		f.Add(bytes.Clone(buf.Bytes()))
	}
	f.Add([]byte{0, 0, 0, 1, '0'})
	framers := []*Framer{tf, tf.Peer()}
	if !d.Framing.TPDURequired {
		off, _ := d.NewFramer(nil)
		framers = append(framers, off)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, fr := range framers {
			r := bytes.NewReader(data)
			for range 4 {
				m, err := fr.ReadMessage(r)
				if err != nil && !errors.Is(err, ErrMalformed) {
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

func FuzzFrameASCII87(f *testing.F) { fuzzFrame(f, ASCII87) }
func FuzzFrameCUP(f *testing.F)     { fuzzFrame(f, CUP) }
