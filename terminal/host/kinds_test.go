package host

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/moov-io/iso8583"

	"posd/internal/testhex"
	"posd/terminal/wiresec"
)

// testOrigTime is when the originals of the follow-ups were sent.
var testOrigTime = time.Date(2025, 3, 13, 9, 30, 0, 0, time.UTC)

// kindDialects are the dialects that map the kinds of kinds.go.
var kindDialects = testDialects

// kindRequests are requests of every kind of kinds.go (and the reversal
// of every kind that is reversed), with every field the contract names
// set.
func kindRequests(ksn []byte) []Request {
	base := func(kind Kind, stan uint32) Request {
		return Request{
			Kind: kind, STAN: stan, Time: testTime, TerminalID: "T0000001", MerchantID: "M00000000000001",
			Amount: 1000, Currency: "156", EntryMode: "021", Batch: 7, KSN: ksn,
		}
	}
	card := func(kind Kind, stan uint32) Request {
		r := base(kind, stan)
		r.Track2Enc = testhex.Must("00112233445566778899AABBCCDDEEFF")
		r.PINBlock = testhex.Must("00112233445566778899AABBCCDDEEFF")
		r.ICC = testhex.Must("9F2608A1A2A3A4A5A6A7A8")
		return r
	}
	orig := func(r Request, kind Kind, rrn, auth string) Request {
		r.OrigKind, r.OrigSTAN, r.OrigTime, r.OrigRRN, r.OrigAuthCode, r.OrigBatch = kind, 41, testOrigTime, rrn, auth, 6
		return r
	}
	balance := card(KindBalance, 53)
	balance.Amount = 0
	settle := base(KindSettlement, 70)
	settle.Amount, settle.EntryMode = 0, ""
	settle.Totals = Totals{DebitCount: 12, DebitAmount: 123456, CreditCount: 2, CreditAmount: 2500}
	after := settle
	after.STAN, after.AfterUpload, after.UploadCount = 71, true, 14
	upload := func(kind Kind, stan uint32, rrn, auth string) Request {
		r := orig(base(KindBatchUpload, stan), kind, rrn, auth)
		r.Ref = "R" + fmtSTAN(stan)
		return r
	}
	reversal := func(kind Kind, stan uint32) Request {
		r := base(KindReversal, stan)
		r.OrigKind, r.OrigSTAN, r.OrigTime, r.Reason = kind, 41, testOrigTime, ReasonNoResponse
		return r
	}
	return []Request{
		card(KindRefund, 50),
		orig(card(KindRefund, 51), KindPurchase, "503141000001", "A1B2C3"),
		orig(card(KindRefund, 59), KindCompletion, "", "AUTH1"),
		card(KindPreauth, 52),
		balance,
		orig(base(KindVoid, 54), KindPurchase, "503141000001", "A1B2C3"),
		orig(base(KindVoid, 55), KindRefund, "503141000002", ""),
		orig(base(KindVoid, 56), KindCompletion, "503141000003", "Z9"),
		orig(base(KindVoid, 58), KindPreauth, "503141000004", "P00001"),
		orig(base(KindCompletion, 57), KindPreauth, "503141000004", "P00001"),
		settle, after,
		upload(KindPurchase, 60, "503141000001", "A1B2C3"),
		upload(KindAdvice, 61, "", ""),
		upload(KindRefund, 62, "503141000002", "R1"),
		upload(KindCompletion, 63, "503141000004", "P00001"),
		reversal(KindRefund, 80), reversal(KindPreauth, 81), reversal(KindCompletion, 82), reversal(KindVoid, 83),
		reversalOfVoid(reversal(KindVoid, 84), KindRefund), reversalOfVoid(reversal(KindVoid, 85), KindCompletion),
		reversalOfVoid(reversal(KindVoid, 86), KindPreauth), reversalOfVoid(reversal(KindVoid, 87), KindPurchase),
	}
}

// reversalOfVoid makes r, a reversal of a void, the reversal of the void
// of a voided.
func reversalOfVoid(r Request, voided Kind) Request {
	r.VoidedKind = voided
	return r
}

// wantKindDecoded is what DecodeRequest should make of req in dialect d.
func wantKindDecoded(d *Dialect, req Request, mti string) Request {
	w := req
	w.MTI = mti
	w.Time, w.OrigTime = time.Time{}, time.Time{}
	w.Mode = modeOfKSN(w.KSN)
	hasOrig := w.OrigKind != ""
	switch w.Kind {
	case KindCompletion:
		w.OrigKind = KindPreauth
	case KindReversal:
		w.ReasonCode = string(w.Reason)
	}
	switch d {
	case ASCII87:
		if w.Kind != KindSettlement && w.Kind != KindBatchUpload {
			w.Batch = 0 // only the batch close sends it
		}
		w.OrigBatch, w.UploadCount = 0, 0 // not sent
		if hasOrig {
			mti := a87Kinds[w.OrigKind].mti
			if w.Kind == KindReversal && w.OrigKind == KindVoid && w.VoidedKind == KindPreauth {
				mti = MTIAuthorization // the cancellation of a pre-authorization is a 0100
			}
			w.OrigRef, _ = a87OrigData(mti, req.OrigSTAN, req.OrigTime)
		}
		if w.VoidedKind == KindPurchase || w.VoidedKind == KindCompletion {
			w.VoidedKind = "" // their voids look alike
		}
	case CUP:
		if hasOrig && w.Kind != KindReversal {
			w.OrigRef = "000006" + "000041" + "0313"
			if w.Kind == KindRefund {
				w.OrigRef += cupKinds[w.OrigKind].txn
			}
		}
		if w.Kind == KindReversal && w.OrigKind == KindVoid {
			w.VoidedKind = orKind(w.VoidedKind)
		}
		if w.Kind == KindReversal {
			w.STAN = w.OrigSTAN // the original resent
			w.ReasonCode = CUPReasonNoResponse
			w.OrigRef = "000041/" + "000007" + "000041" + "0313"
		}
		if w.Kind == KindSettlement && w.AfterUpload {
			w.Totals = Totals{} // only the count travels
		}
	}
	return w
}

// TestKindRoundTrips: every request of kinds.go and its answer pack,
// unpack to the same neutral message (every field the contract names) and
// pack again to the same bytes.
func TestKindRoundTrips(t *testing.T) {
	term, hst := sessions(t, 1)
	for _, d := range kindDialects {
		for _, req := range kindRequests(term.KSN()) {
			name := d.Name + "/" + string(req.Kind) + "/" + fmtSTAN(req.STAN)
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
			if want := wantKindDecoded(d, req, got.MTI); !reflect.DeepEqual(normal(got), normal(want)) {
				t.Errorf("%s:\n got %+v\nwant %+v", name, normal(got), normal(want))
			}
			again := got
			again.Time, again.OrigTime = req.Time, req.OrigTime
			m2, err := d.EncodeRequest(again)
			if err != nil {
				t.Fatalf("%s: re-encode: %v", name, err)
			}
			raw2, _ := d.Seal(m2, term.MACRequest)
			if !bytes.Equal(raw, raw2) {
				t.Errorf("%s: re-encoded bytes differ\n% X\n% X", name, raw, raw2)
			}
			in, mac, err := d.SplitMAC(dm, raw)
			if err != nil || hst.VerifyRequestMAC(in, mac) != nil {
				t.Errorf("%s: request MAC: %v", name, err)
			}

			// The answer.
			resp := Response{ResponseCode: "00", AuthCode: "A1B2C3", RRN: "503141000009", Time: testTime}
			switch req.Kind {
			case KindRefund, KindPreauth:
				resp.ICC = testIssuerICC
			case KindBalance:
				resp.ICC, resp.Balance, resp.BalanceCurrency, resp.HasBalance = testIssuerICC, -123456, "156", true
			case KindSettlement:
				resp = Response{ResponseCode: SettlementOutOfBalance, Time: testTime}
			case KindBatchUpload, KindReversal:
				resp.AuthCode, resp.RRN = "", ""
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
				r.ResponseCode != resp.ResponseCode || r.AuthCode != resp.AuthCode || r.RRN != resp.RRN || !bytes.Equal(r.ICC, resp.ICC) ||
				r.Balance != resp.Balance || r.BalanceCurrency != resp.BalanceCurrency || r.HasBalance != resp.HasBalance {
				t.Errorf("%s: response %+v", name, r)
			}
			if r.HasAmount != hasAmount(req.Kind) || r.Amount != req.Amount {
				t.Errorf("%s: response amount %+v", name, r)
			}
			if r.Ref != req.Ref {
				t.Errorf("%s: response ref %q, want %q", name, r.Ref, req.Ref)
			}
		}
	}
}

// TestKindWireCodes checks what tells each kind apart on the wire against
// the tables in the dialects' doc comments, written out here again.
func TestKindWireCodes(t *testing.T) {
	term, _ := sessions(t, 1)
	// By STAN of kindRequests: MTI, DE3, DE25, then (cup) 60.1 and 60.3.
	want := map[string]map[uint32]string{
		"ascii87": {
			50: "0200 200000 00", 51: "0200 200000 00", 59: "0200 200000 00",
			52: "0100 000000 06", 53: "0100 310000 00",
			54: "0200 020000 00", 55: "0200 220000 00", 56: "0200 020000 00",
			57: "0220 000000 06", 58: "0100 020000 06",
			70: "0500 920000 ", 71: "0500 960000 ",
			60: "0320 000000 00", 61: "0320 000000 00", 62: "0320 200000 00", 63: "0320 000000 06",
			80: "0400 200000 00", 81: "0400 000000 06", 82: "0400 000000 06", 83: "0400 020000 00",
			84: "0400 220000 00", 85: "0400 020000 00", 86: "0400 020000 06", 87: "0400 020000 00",
		},
		"cup": {
			50: "0220 200000 00 25 000", 51: "0220 200000 00 25 000", 59: "0220 200000 00 25 000",
			52: "0100 030000 06 10 000", 53: "0200 310000 00 01 000",
			54: "0200 200000 00 23 000", 55: "0200 220000 00 23 000", 56: "0200 200000 06 21 000",
			57: "0200 000000 06 20 000", 58: "0100 200000 06 11 000",
			70: "0500   00 201", 71: "0320   00 202",
			60: "0320 000000 00 22 201", 61: "0320 000000 00 30 201", 62: "0320 200000 00 25 201", 63: "0320 000000 06 20 201",
			80: "0400 200000 00 25 000", 81: "0400 030000 06 10 000", 82: "0400 000000 06 20 000", 83: "0400 200000 00 23 000",
			84: "0400 220000 00 23 000", 85: "0400 200000 06 21 000", 86: "0400 200000 06 11 000", 87: "0400 200000 00 23 000",
		},
	}
	// DE90's original MTI (ascii87) by STAN.
	origMTI := map[uint32]string{
		51: "0200", 59: "0220", 54: "0200", 55: "0200", 56: "0220", 57: "0100", 58: "0100",
		60: "0200", 61: "0220", 62: "0200", 63: "0220", 80: "0200", 81: "0100", 82: "0220", 83: "0200",
		84: "0200", 85: "0200", 86: "0100", 87: "0200",
	}
	for _, d := range kindDialects {
		for _, req := range kindRequests(term.KSN()) {
			m, err := d.EncodeRequest(req)
			if err != nil {
				t.Fatal(err)
			}
			mti, _ := m.GetMTI()
			proc, _ := m.GetString(DEProcessingCode)
			cond, _ := m.GetString(DECondition)
			got := mti + " " + proc + " " + cond
			if d == CUP {
				de60, _ := m.GetString(DEReserved60)
				got += " " + de60[:2] + " " + de60[8:11]
			}
			if w := want[d.Name][req.STAN]; got != w {
				t.Errorf("%s %s (STAN %d): %q, want %q", d, req.Kind, req.STAN, got, w)
			}
			de90, _ := m.GetString(DEOriginalData)
			if d == ASCII87 && (len(de90) >= 4) != (origMTI[req.STAN] != "") || len(de90) >= 4 && de90[:4] != origMTI[req.STAN] {
				t.Errorf("%s %s (STAN %d): DE90 %q, want original MTI %q", d, req.Kind, req.STAN, de90, origMTI[req.STAN])
			}
		}
	}
}

// TestPreauthVoidIsToldApart: the cancellation of a pre-authorization is
// read only with its own codes; the same message under another MTI, DE25
// or 60.1 is refused, not read as another void.
func TestPreauthVoidIsToldApart(t *testing.T) {
	term, _ := sessions(t, 1)
	var void Request
	for _, r := range kindRequests(term.KSN()) {
		if r.Kind == KindVoid && r.OrigKind == KindPreauth {
			void = r
		}
	}
	for _, d := range kindDialects {
		edits := map[string]func(*iso8583.Message){
			"as a 0200":    func(m *iso8583.Message) { m.MTI("0200") },
			"DE25 00":      func(m *iso8583.Message) { _ = m.Field(DECondition, CondNormal) },
			"as a 0100 00": func(m *iso8583.Message) { _ = m.Field(DEProcessingCode, ProcGoods) },
		}
		if d == CUP {
			edits["60.1 23"] = func(m *iso8583.Message) {
				s, _ := m.GetString(DEReserved60)
				_ = m.Field(DEReserved60, CUPTxnVoid+s[2:])
			}
		}
		for name, edit := range edits {
			m, err := d.EncodeRequest(void)
			if err != nil {
				t.Fatal(err)
			}
			edit(m)
			got, err := d.DecodeRequest(m)
			if err == nil && got.Kind == KindVoid && got.OrigKind == KindPreauth {
				t.Errorf("%s %s: still read as the void of a pre-authorization", d, name)
			} else if err == nil && got.Kind == KindVoid {
				t.Errorf("%s %s: read as a void of a %s", d, name, got.OrigKind)
			}
		}
	}
}

// TestASCII87VoidBytes checks a void byte for byte against the field table
// in ASCII87's doc comment: no card data, the original in DE37, DE38 and
// DE90, the MAC in DE128.
func TestASCII87VoidBytes(t *testing.T) {
	req := Request{
		Kind: KindVoid, STAN: 44, Time: testTime, TerminalID: "T0000001", MerchantID: "M00000000000001",
		Amount: 1234, Currency: "156", EntryMode: "051", Mode: wiresec.ModeTDES,
		KSN: testhex.Must("FFFF9876543210E00002"), OrigKind: KindPurchase, OrigSTAN: 42, OrigTime: testTime,
		OrigRRN: "503141000001", OrigAuthCode: "A1B2C3",
	}
	m, err := ASCII87.EncodeRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ASCII87.Seal(m, fixedMAC)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		asciiHex("0200"),
		"B23804800CC08800",                      // primary bitmap: 1 3 4 7 | 11 12 13 | 22 | 25 | 37 38 | 41 42 | 49 53
		"0000004000000001",                      // secondary bitmap: 90 | 128
		asciiHex("020000"),                      // DE3 void of a sale
		asciiHex("000000001234"),                // DE4 the original's amount
		asciiHex("0314150926"),                  // DE7
		asciiHex("000044"),                      // DE11 the void's own STAN
		asciiHex("150926"),                      // DE12
		asciiHex("0314"),                        // DE13
		asciiHex("051"),                         // DE22 the original's
		asciiHex("00"),                          // DE25
		asciiHex("503141000001"),                // DE37 the original's RRN
		asciiHex("A1B2C3"),                      // DE38 the original's authorization code
		asciiHex("T0000001"),                    // DE41
		asciiHex("M00000000000001"),             // DE42
		asciiHex("156"),                         // DE49
		asciiHex("10") + "FFFF9876543210E00002", // DE53
		asciiHex("0200" + "000042" + "0314150926" + strings.Repeat("0", 22)), // DE90
		"A1A2A3A4A5A6A7A8", // DE128
	}, "")
	if got := strings.ToUpper(hex.EncodeToString(raw)); got != want {
		t.Fatalf("ascii87 void\n got %s\nwant %s", got, want)
	}
}

// TestASCII87SettlementBytes checks a 0500 byte for byte: the totals in
// DE74/76/86/88, the batch in DE60.
func TestASCII87SettlementBytes(t *testing.T) {
	req := Request{
		Kind: KindSettlement, STAN: 45, Time: testTime, TerminalID: "T0000001", MerchantID: "M00000000000001",
		Currency: "156", Batch: 3, Mode: wiresec.ModeTDES, KSN: testhex.Must("FFFF9876543210E00002"),
		Totals: Totals{DebitCount: 12, DebitAmount: 123456, CreditCount: 2, CreditAmount: 2500},
	}
	m, err := ASCII87.EncodeRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ASCII87.Seal(m, fixedMAC)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		asciiHex("0500"),
		"A238000000C08810",                      // primary: 1 3 7 | 11 12 13 | 41 42 | 49 53 | 60
		"0050050000000001",                      // secondary: 74 76 | 86 88 | 128
		asciiHex("920000"),                      // DE3 settlement, first
		asciiHex("0314150926"),                  // DE7
		asciiHex("000045"),                      // DE11
		asciiHex("150926"),                      // DE12
		asciiHex("0314"),                        // DE13
		asciiHex("T0000001"),                    // DE41
		asciiHex("M00000000000001"),             // DE42
		asciiHex("156"),                         // DE49
		asciiHex("10") + "FFFF9876543210E00002", // DE53
		asciiHex("006" + "000003"),              // DE60 batch
		asciiHex("0000000002"),                  // DE74 credits count
		asciiHex("0000000012"),                  // DE76 debits count
		asciiHex("0000000000002500"),            // DE86 credits amount
		asciiHex("0000000000123456"),            // DE88 debits amount
		"A1A2A3A4A5A6A7A8",                      // DE128
	}, "")
	if got := strings.ToUpper(hex.EncodeToString(raw)); got != want {
		t.Fatalf("ascii87 0500\n got %s\nwant %s", got, want)
	}
}

// TestCUPSettlementBytes checks a cup 0500 byte for byte against CUP's doc
// comment: the totals in DE48, 60.3 "201".
func TestCUPSettlementBytes(t *testing.T) {
	req := Request{
		Kind: KindSettlement, STAN: 45, Time: testTime, TerminalID: "T0000001", MerchantID: "M00000000000001",
		Currency: "156", Batch: 3, Mode: wiresec.ModeTDES, KSN: testhex.Must("FFFF9876543210E00002"),
		Totals: Totals{DebitCount: 12, DebitAmount: 123456, CreditCount: 2, CreditAmount: 2500},
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
		"0500",
		"0020000000C18891",          // bitmap: 11 | 41 42 48 | 49 53 | 57 60 64
		"000045",                    // DE11
		asciiHex("T0000001"),        // DE41
		asciiHex("M00000000000001"), // DE42
		"0062" + "000000123456" + "012" + "000000002500" + "002" + "0" + strings.Repeat("0", 31), // DE48
		asciiHex("156"),                 // DE49
		"1600000000000000",              // DE53: TDES, no track
		"0010" + "FFFF9876543210E00002", // DE57
		"0011" + "000000032010",         // DE60: "00", batch 000003, "201", left-aligned
		"A1A2A3A4A5A6A7A8",              // DE64
	}, "")
	if got := strings.ToUpper(hex.EncodeToString(raw)); got != want {
		t.Fatalf("cup 0500\n got %s\nwant %s", got, want)
	}
}

// TestCUPSettlementAnswer: a 0510 as a CUP host sends it (DE39 absent or
// "00", the reconciliation code in DE48) reads as SettlementBalanced or
// SettlementOutOfBalance; a refusal stays what it is; a missing or
// malformed DE48 is a bad response.
func TestCUPSettlementAnswer(t *testing.T) {
	term, hst := sessions(t, 1)
	want := expect{mti: CUPMTISettlementResponse, stan: "000045", tid: "T0000001", kind: KindSettlement}
	answer := func(de39, de48 string) []byte {
		m := iso8583.NewMessage(CUP.Spec)
		m.MTI(CUPMTISettlementResponse)
		for id, v := range map[int]string{
			DESTAN: "000045", DETerminalID: "T0000001", DEMerchantID: "M00000000000001", DECurrency: "156",
			DEReserved60: "00000003201", DEResponseCode: de39, DEAdditional48: de48,
		} {
			if v == "" {
				continue
			}
			if err := m.Field(id, v); err != nil {
				t.Fatal(err)
			}
		}
		raw, err := CUP.Seal(m, hst.MACResponse)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	totals := "000000123456" + "012" + "000000002500" + "002"
	foreign := strings.Repeat("0", 30)
	for _, c := range []struct{ de39, code, want string }{
		{"", "1", SettlementBalanced}, {"00", "1", SettlementBalanced},
		{"", "2", SettlementOutOfBalance}, {"00", "2", SettlementOutOfBalance}, {"00", "3", SettlementOutOfBalance},
		{"96", "0", "96"},
	} {
		res, err := CUP.parseResponse(answer(c.de39, totals+c.code+foreign+"1"), want, term)
		if err != nil || res.ResponseCode != c.want {
			t.Errorf("DE39 %q, code %s: %+v %v, want %s", c.de39, c.code, res, err, c.want)
		}
	}
	for name, de48 := range map[string]string{
		"no DE48": "", "no code": totals + "0" + foreign + "0", "short": totals, "foreign totals": totals + "1" + "1" + foreign[1:] + "1",
	} {
		if _, err := CUP.parseResponse(answer("00", de48), want, term); !errors.Is(err, ErrBadResponse) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestParseBalance: DE54 entries, signs, several amounts, and what is
// malformed.
func TestParseBalance(t *testing.T) {
	for in, want := range map[string]struct {
		amount int64
		cur    string
		ok     bool
	}{
		"":                     {0, "", false},
		"1002156C000000012345": {12345, "156", true},
		"0002840D000000000100": {-100, "840", true},
		"1001156C000000099999": {0, "", false}, // ledger balance only
		"1001156C000000099999" + "1002156C000000000001": {1, "156", true},
		"1002156C000000000007" + "1002978C000000000009": {7, "156", true}, // the first available one
	} {
		a, c, ok, err := parseBalance(in)
		if err != nil || a != want.amount || c != want.cur || ok != want.ok {
			t.Errorf("%q: %d %q %v %v", in, a, c, ok, err)
		}
	}
	for _, in := range []string{
		"1002156C00000001234", "1002156X000000012345", "10021 6C000000012345", "1002156C00000001234A",
		"1002156C000000012345" + "1002156C", strings.Repeat("1002156C000000012345", 7),
	} {
		if _, _, _, err := parseBalance(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: %v", in, err)
		}
	}
	for _, c := range []struct {
		amount int64
		cur    string
	}{{1, "15"}, {1e12, "156"}, {-1e12, "156"}} {
		if _, err := fmtBalance(c.amount, c.cur); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("fmtBalance(%d, %q): %v", c.amount, c.cur, err)
		}
	}
}

// FuzzParseBalance: DE54 from the wire never panics, and what it accepts
// formats back to an entry of its own.
func FuzzParseBalance(f *testing.F) {
	f.Add("1002156C000000012345")
	f.Add("0002840D000000000100" + "1001156C000000099999")
	f.Add("")
	f.Add("1002156C00000001234")
	f.Fuzz(func(t *testing.T, s string) {
		a, c, ok, err := parseBalance(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if !ok {
			return
		}
		e, err := fmtBalance(a, c)
		if err != nil {
			t.Fatalf("accepted balance does not format: %v", err)
		}
		if a2, c2, ok2, err := parseBalance(e); err != nil || !ok2 || a2 != a || c2 != c {
			t.Fatalf("balance does not read back")
		}
	})
}

// TestMatchKeyKinds: the answers of the new MTIs are routed to their
// requests and to nothing else.
func TestMatchKeyKinds(t *testing.T) {
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
		for req, resp := range map[string]string{"0100": "0110", "0320": "0330", "0500": "0510"} {
			if key(req) != key(resp) {
				t.Errorf("%s: %s does not match %s", d, resp, req)
			}
			if ResponseMTI(req) != resp {
				t.Errorf("ResponseMTI(%s) = %s", req, ResponseMTI(req))
			}
		}
		if key("0330") == key("0230") || key("0110") == key("0210") || key("0510") == key("0410") {
			t.Errorf("%s: answers of different classes match", d)
		}
	}
}

// TestReversalOfAVoidResendsItsCodes: the reversal of a void is the void
// resent, whatever it voided: for the void of a sale, of a refund, of a
// completion and of a pre-authorization (its cancellation), the 0400
// carries the void's DE3 and DE25 (and in cup its 60.1; in ascii87 DE90
// names the void's MTI, 0100 for a cancellation), is read back as the
// reversal of that void, and its 0410 echoes the same codes. A reversal
// whose codes are not a void's of what it names is not read as one.
func TestReversalOfAVoidResendsItsCodes(t *testing.T) {
	term, hst := sessions(t, 1)
	for _, d := range kindDialects {
		for _, voided := range []Kind{KindPurchase, KindRefund, KindCompletion, KindPreauth} {
			name := d.Name + "/void of a " + string(voided)
			void := Request{
				Kind: KindVoid, STAN: 41, Time: testOrigTime, TerminalID: "T0000001", MerchantID: "M00000000000001",
				Amount: 1000, Currency: "156", EntryMode: "021", Batch: 7, KSN: term.KSN(),
				OrigKind: voided, OrigSTAN: 40, OrigTime: testOrigTime, OrigRRN: "503141000001", OrigAuthCode: "A1B2C3", OrigBatch: 7,
			}
			vm, err := d.EncodeRequest(void)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			rev := Request{
				Kind: KindReversal, STAN: 90, Time: testTime, TerminalID: "T0000001", MerchantID: "M00000000000001",
				Amount: 1000, Currency: "156", EntryMode: "021", Batch: 7, KSN: term.KSN(), Reason: ReasonNoResponse,
				OrigKind: KindVoid, VoidedKind: voided, OrigSTAN: 41, OrigTime: testOrigTime,
			}
			rm, err := d.EncodeRequest(rev)
			if err != nil {
				t.Fatalf("%s: reversal: %v", name, err)
			}
			if mti, _ := rm.GetMTI(); mti != "0400" {
				t.Errorf("%s: reversal MTI %s", name, mti)
			}
			want := voidCodes(t, d, vm, true)
			if got := voidCodes(t, d, rm, false); got != want {
				t.Errorf("%s: reversal carries %+v, the void %+v", name, got, want)
			}

			raw, err := d.Seal(rm, term.MACRequest)
			if err != nil {
				t.Fatal(err)
			}
			dm, err := d.Decode(raw)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			got, err := d.DecodeRequest(dm)
			if err != nil {
				t.Fatalf("%s: decode: %v", name, err)
			}
			wantVoided := voided
			if d == ASCII87 && (voided == KindPurchase || voided == KindCompletion) {
				wantVoided = "" // the two voids look alike
			}
			if got.Kind != KindReversal || got.OrigKind != KindVoid || got.VoidedKind != wantVoided || got.OrigSTAN != 41 {
				t.Errorf("%s: read as a %s of a %q voiding a %q (STAN %d)", name, got.Kind, got.OrigKind, got.VoidedKind, got.OrigSTAN)
			}

			// The answer echoes the void's codes.
			am, err := d.EncodeResponse(got, Response{ResponseCode: "00", Time: testTime})
			if err != nil {
				t.Fatalf("%s: answer: %v", name, err)
			}
			if _, err := d.Seal(am, hst.MACResponse); err != nil {
				t.Fatal(err)
			}
			answer := want
			if d == ASCII87 {
				answer.cond = "" // an ascii87 0410 has no DE25
			}
			if got := voidCodes(t, d, am, false); got != answer {
				t.Errorf("%s: the 0410 carries %+v, the void %+v", name, got, answer)
			}
			resp, err := d.DecodeResponse(am)
			if err != nil || resp.Kind != KindReversal || resp.ResponseCode != "00" {
				t.Errorf("%s: answer read as %+v, %v", name, resp, err)
			}
		}
	}
}

// wireCodes is what tells a void apart on the wire.
type wireCodes struct{ proc, cond, txn, mti string }

// voidCodes gives what tells a void apart in m, a void (void true) or a
// reversal or its answer: DE3, DE25 and, in cup, 60.1; in ascii87 the
// MTI of the void (the void's own, or the one DE90 names).
func voidCodes(t *testing.T, d *Dialect, m *iso8583.Message, void bool) wireCodes {
	t.Helper()
	var c wireCodes
	c.proc, _ = m.GetString(DEProcessingCode)
	c.cond, _ = m.GetString(DECondition)
	switch d {
	case CUP:
		de60, _ := m.GetString(DEReserved60)
		if len(de60) < 2 {
			t.Fatalf("%s: field 60 %q", d, de60)
		}
		c.txn = de60[:2]
	case ASCII87:
		c.mti, _ = m.GetMTI()
		if !void {
			de90, _ := m.GetString(DEOriginalData)
			if len(de90) < 4 {
				t.Fatalf("%s: field 90 %q", d, de90)
			}
			c.mti = de90[:4]
		}
	}
	return c
}

// TestReversalOfAVoidIsToldApart: the reversal of a cancellation, edited
// to carry another void's codes, is not read as the reversal of a
// cancellation; a reversal whose DE3 or DE25 is not the original's is
// not read at all.
func TestReversalOfAVoidIsToldApart(t *testing.T) {
	term, _ := sessions(t, 1)
	rev := Request{
		Kind: KindReversal, STAN: 90, Time: testTime, TerminalID: "T0000001", MerchantID: "M00000000000001",
		Amount: 1000, Currency: "156", EntryMode: "021", Batch: 7, KSN: term.KSN(), Reason: ReasonNoResponse,
		OrigKind: KindVoid, VoidedKind: KindPreauth, OrigSTAN: 41, OrigTime: testOrigTime,
	}
	for _, d := range kindDialects {
		edits := map[string]func(*iso8583.Message){
			"DE25 00":     func(m *iso8583.Message) { _ = m.Field(DECondition, CondNormal) },
			"DE3 000000":  func(m *iso8583.Message) { _ = m.Field(DEProcessingCode, ProcGoods) },
			"DE3 220000":  func(m *iso8583.Message) { _ = m.Field(DEProcessingCode, ProcVoidRefund) },
			"DE3 unknown": func(m *iso8583.Message) { _ = m.Field(DEProcessingCode, "990000") },
		}
		if d == CUP {
			edits["60.1 23"] = func(m *iso8583.Message) {
				s, _ := m.GetString(DEReserved60)
				_ = m.Field(DEReserved60, CUPTxnVoid+s[2:])
			}
		}
		for name, edit := range edits {
			m, err := d.EncodeRequest(rev)
			if err != nil {
				t.Fatal(err)
			}
			edit(m)
			got, err := d.DecodeRequest(m)
			if err == nil && got.VoidedKind == KindPreauth {
				t.Errorf("%s %s: still read as the reversal of a cancellation", d, name)
			}
			if err == nil && got.OrigKind == KindVoid {
				t.Errorf("%s %s: read as the reversal of a void of a %q", d, name, got.VoidedKind)
			}
		}
	}
}

// TestBatchLimit: each dialect's settlement carries its BatchLimit (both
// sides full, the after-upload settlement and the host's answer too) and
// refuses one more debit or credit, or a cent more on either side: the
// limit the terminal keeps its batch within is the one its 0500 has room
// for.
func TestBatchLimit(t *testing.T) {
	a87Count := int(min(9999999999, int64(math.MaxInt))) // 32-bit ints cap it
	want := map[string]Totals{
		"cup":     {DebitCount: 999, DebitAmount: 999999999999, CreditCount: 999, CreditAmount: 999999999999},
		"ascii87": {DebitCount: a87Count, DebitAmount: 9999999999999999, CreditCount: a87Count, CreditAmount: 9999999999999999},
	}
	term, _ := sessions(t, 1)
	ksn := term.KSN()
	for _, d := range testDialects {
		limit := d.BatchLimit()
		if limit != want[d.Name] {
			t.Fatalf("%s: BatchLimit %+v, want %+v", d.Name, limit, want[d.Name])
		}
		settle := func(tot Totals, after bool) Request {
			r := Request{Kind: KindSettlement, STAN: 45, Time: testTime, TerminalID: "T0000001", MerchantID: "M00000000000001",
				Currency: "156", Batch: 3, Mode: wiresec.ModeAES, KSN: ksn, Totals: tot, AfterUpload: after}
			if after {
				r.UploadCount = tot.DebitCount + tot.CreditCount
			}
			return r
		}
		for _, after := range []bool{false, true} {
			if after && limit.DebitCount > 9999 {
				continue // ascii87 sends the totals again, as above
			}
			req := settle(limit, after)
			m, err := d.EncodeRequest(req)
			if err != nil {
				t.Fatalf("%s: settlement at the limit (after upload %v): %v", d.Name, after, err)
			}
			raw, err := d.Seal(m, fixedMAC)
			if err != nil {
				t.Fatal(err)
			}
			back, err := d.Decode(raw)
			if err != nil {
				t.Fatal(err)
			}
			got, err := d.DecodeRequest(back)
			if err != nil {
				t.Fatalf("%s: decoding the settlement at the limit: %v", d.Name, err)
			}
			if !after && got.Totals != limit {
				t.Fatalf("%s: totals %+v came back as %+v", d.Name, limit, got.Totals)
			}
			if _, err := d.EncodeResponse(got, Response{ResponseCode: SettlementBalanced, Time: testTime}); err != nil {
				t.Fatalf("%s: answer at the limit (after upload %v): %v", d.Name, after, err)
			}
		}
		if limit.DebitCount == math.MaxInt {
			continue // no count past it to try
		}
		for _, past := range []Totals{
			{DebitCount: limit.DebitCount + 1},
			{CreditCount: limit.CreditCount + 1},
			{DebitCount: 1, DebitAmount: limit.DebitAmount + 1},
			{CreditCount: 1, CreditAmount: limit.CreditAmount + 1},
		} {
			if past.Within(limit) {
				t.Fatalf("%s: %+v within %+v", d.Name, past, limit)
			}
			if _, err := d.EncodeRequest(settle(past, false)); !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("%s: settlement of %+v past the limit: %v", d.Name, past, err)
			}
		}
	}
}
