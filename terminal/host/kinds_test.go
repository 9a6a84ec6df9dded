package host

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"posd/internal/testhex"
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
		orig(base(KindCompletion, 57), KindPreauth, "503141000004", "P00001"),
		settle, after,
		upload(KindPurchase, 60, "503141000001", "A1B2C3"),
		upload(KindAdvice, 61, "", ""),
		upload(KindRefund, 62, "503141000002", "R1"),
		upload(KindCompletion, 63, "503141000004", "P00001"),
		reversal(KindRefund, 80), reversal(KindPreauth, 81), reversal(KindCompletion, 82), reversal(KindVoid, 83),
	}
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
			w.OrigRef, _ = a87OrigData(a87Kinds[w.OrigKind].mti, req.OrigSTAN, req.OrigTime)
		}
	case CUP:
		if hasOrig && w.Kind != KindReversal {
			w.OrigRef = "000006" + "000041" + "0313"
			if w.Kind == KindRefund {
				w.OrigRef += cupKinds[w.OrigKind].txn
			}
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
