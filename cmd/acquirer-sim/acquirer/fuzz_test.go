package acquirer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"posd/board/sim/deck"
	"posd/crypto/dukpt"
	"posd/crypto/emv"
	"posd/internal/testhex"
	"posd/terminal/host"
	"posd/terminal/wiresec"
)

// fuzzRequest runs arbitrary bytes through the server's request path in
// one dialect: decode with the spec, key derivation, MAC check, decryption,
// decision, deduplication. It must never panic, a response must always
// pack, and no journal line may show more of a PAN than the masked form.
func fuzzRequest(f *testing.F, dialect string) {
	var jr bytes.Buffer
	s, err := New(&Opts{Dialect: dialect, Journal: &jr, Now: func() time.Time { return time.Unix(1700000000, 0) }})
	if err != nil {
		f.Fatal(err)
	}
	ksn := []byte{0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0, 0, 0, 1}
	txn, err := dukpt.AESDeriveKey(DefaultBDK(wiresec.ModeAES), ksn)
	if err != nil {
		f.Fatal(err)
	}
	term, err := wiresec.ForTerminal(wiresec.ModeAES, ksn, txn)
	if err != nil {
		f.Fatal(err)
	}
	ct, _ := term.EncryptRequestData([]byte("4761739001010010=25122011143804400000"))
	base := host.Request{
		STAN: 1, TerminalID: "T0000001", MerchantID: "M00000000000001", Currency: "156",
		Mode: wiresec.ModeAES, KSN: ksn, Track2Enc: ct, OrigSTAN: 1, Reason: host.ReasonNoResponse,
	}
	for _, kind := range []host.Kind{host.KindPurchase, host.KindReversal, host.KindSignOn, host.KindEcho} {
		for _, amount := range []int64{1000, 91, 51} {
			req := base
			req.Kind, req.Amount = kind, amount
			m, err := s.d.EncodeRequest(req)
			if err != nil {
				f.Fatal(err)
			}
			raw, err := s.d.Seal(m, term.MACRequest)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(raw)
		}
	}
	// The kinds beyond the sale, each as the dialect sends it.
	for _, req := range []host.Request{
		{Kind: host.KindRefund, Amount: 500, Track2Enc: ct, OrigKind: host.KindPurchase, OrigSTAN: 1, OrigRRN: "503315000001", OrigAuthCode: "A1B2C3", Batch: 1},
		{Kind: host.KindPreauth, Amount: 900, Track2Enc: ct, Batch: 1},
		{Kind: host.KindBalance, Track2Enc: ct, Batch: 1},
		{Kind: host.KindVoid, Amount: 1000, OrigKind: host.KindPurchase, OrigSTAN: 1, OrigRRN: "503315000001", OrigAuthCode: "A1B2C3", Batch: 1},
		{Kind: host.KindCompletion, Amount: 800, OrigKind: host.KindPreauth, OrigSTAN: 2, OrigRRN: "503315000002", OrigAuthCode: "D4E5F6", Batch: 1},
		{Kind: host.KindSettlement, Batch: 1, Totals: host.Totals{DebitCount: 1, DebitAmount: 1000}},
		{Kind: host.KindBatchUpload, Amount: 1000, OrigKind: host.KindPurchase, OrigSTAN: 1, OrigRRN: "503315000001", Ref: "U1", Batch: 1},
		// The reversal of a void resends the void's codes, by what it voided.
		{Kind: host.KindReversal, Amount: 1000, OrigKind: host.KindVoid, VoidedKind: host.KindPurchase, OrigSTAN: 4, Reason: host.ReasonNoResponse, Batch: 1},
		{Kind: host.KindReversal, Amount: 1000, OrigKind: host.KindVoid, VoidedKind: host.KindRefund, OrigSTAN: 4, Reason: host.ReasonNoResponse, Batch: 1},
		{Kind: host.KindReversal, Amount: 1000, OrigKind: host.KindVoid, VoidedKind: host.KindCompletion, OrigSTAN: 4, Reason: host.ReasonNoResponse, Batch: 1},
		{Kind: host.KindReversal, Amount: 1000, OrigKind: host.KindVoid, VoidedKind: host.KindPreauth, OrigSTAN: 4, Reason: host.ReasonCardRemoved, Batch: 1},
	} {
		req.STAN, req.TerminalID, req.MerchantID, req.Currency, req.Mode, req.KSN =
			3, base.TerminalID, base.MerchantID, base.Currency, base.Mode, base.KSN
		m, err := s.d.EncodeRequest(req)
		if err != nil {
			f.Fatalf("%s: %v", req.Kind, err)
		}
		raw, err := s.d.Seal(m, term.MACRequest)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	// Chip purchases of the deck's visa-classic (PSN 00): a good ARQC with
	// and without an online PIN, and a bad one.
	iss := deck.Issuers["visa"]
	mk, _ := emv.DeriveICCMasterKey(iss.IMKAC, "4761739001010010", "00", iss.MKOption)
	data := testhex.Must("000000001000 000000000000 0156 0000008000 0156 250314 00 01020304 3800 0001 03A00000")
	arqc, err := emv.GenerateAC(mk, data, iss.Padding)
	if err != nil {
		f.Fatal(err)
	}
	icc := append(append(testhex.Must("9F2608"), arqc...), testhex.Must(
		"9F2701 80 9F1007 06010A03A00000 9F3704 01020304 9F3602 0001 9505 0000008000 9A03 250314 9C01 00"+
			"9F0206 000000001000 5F2A02 0156 8202 3800 9F1A02 0156 9F0306 000000000000 5F3401 00")...)
	pb, _ := term.EncryptPIN("9999", "4761739001010010") // not the card's PIN
	bad := bytes.Clone(icc)
	bad[3] ^= 1 // the ARQC's first byte
	for _, chip := range []struct {
		icc, pin []byte
		rc       string
	}{{icc, nil, RCApproved}, {icc, pb, RCIncorrectPIN}, {bad, nil, RCCardAuthFailed}} {
		req := base
		req.Kind, req.Amount, req.ICC, req.PINBlock = host.KindPurchase, 1000, chip.icc, chip.pin
		m, err := s.d.EncodeRequest(req)
		if err != nil {
			f.Fatal(err)
		}
		raw, err := s.d.Seal(m, term.MACRequest)
		if err != nil {
			f.Fatal(err)
		}
		// The seed reaches the issuer's decision it is meant for (9999 is
		// not visa-classic's PIN).
		dm, err := s.d.Decode(raw)
		if err != nil {
			f.Fatal(err)
		}
		if _, resp, out := s.process(dm); resp == nil || out.ResponseCode != chip.rc || out.IssuerData != (chip.rc != RCCardAuthFailed) {
			f.Fatalf("chip seed answered %+v", out)
		}
		f.Add(raw)
	}
	// Advices of the same sale approved offline: its cryptogram as a TC
	// (9F27 40), a TC that does not verify, and a swipe without DE55.
	tc := bytes.Clone(icc)
	if tc[13] != 0x01 || tc[14] != 0x80 {
		f.Fatal("9F27 not where expected in the seed")
	}
	tc[14] = 0x40
	badTC := bytes.Clone(tc)
	badTC[3] ^= 1
	for i, adv := range []struct {
		icc []byte
		rc  string
	}{{tc, RCApproved}, {badTC, RCCardAuthFailed}, {nil, RCApproved}} {
		req := base
		req.Kind, req.Amount, req.ICC = host.KindAdvice, 1000, adv.icc
		req.Ref, req.ResponseCode = fmt.Sprintf("F%d", i), host.OfflineApproved
		m, err := s.d.EncodeRequest(req)
		if err != nil {
			f.Fatal(err)
		}
		raw, err := s.d.Seal(m, term.MACRequest)
		if err != nil {
			f.Fatal(err)
		}
		dm, err := s.d.Decode(raw)
		if err != nil {
			f.Fatal(err)
		}
		if in, resp, out := s.process(dm); resp == nil || out.ResponseCode != adv.rc || (adv.icc != nil) != (in.TCOK != nil) {
			f.Fatalf("advice seed answered %+v", out)
		}
		f.Add(raw)
	}
	f.Add([]byte("0800"))
	f.Add([]byte{0x04, 0x00})
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := s.d.Decode(raw)
		if err != nil {
			return
		}
		in, resp, out := s.process(m)
		for _, e := range []Entry{in, out} {
			if _, err := json.Marshal(e); err != nil {
				t.Fatal(err)
			}
			if len(e.MaskedPAN) >= 12 && bytes.Count([]byte(e.MaskedPAN), []byte("*")) < len(e.MaskedPAN)-10 {
				t.Fatalf("masked PAN shows too much: %q", e.MaskedPAN)
			}
		}
		if resp != nil {
			if _, err := resp.Pack(); err != nil {
				t.Fatalf("response does not pack: %v", err)
			}
			// An advice is accepted only with its MAC verified, and with a
			// verified TC when it carries DE55.
			if in.Kind == string(host.KindAdvice) && out.ResponseCode == RCApproved &&
				(in.MACOK == nil || !*in.MACOK || (in.TCOK != nil && !*in.TCOK)) {
				t.Fatal("advice accepted unverified")
			}
			// Nothing is approved, voided, completed or settled unverified.
			if out.ResponseCode == RCApproved && in.MACOK != nil && !*in.MACOK {
				t.Fatalf("%s approved with a bad MAC", in.Kind)
			}
			// Issuer data goes only with a verified ARQC.
			if icc, _ := resp.GetBytes(host.DEICC); len(icc) > 0 && (in.ARQCOK == nil || !*in.ARQCOK) {
				t.Fatal("issuer data without a verified ARQC")
			}
		}
	})
}

func FuzzRequestASCII87(f *testing.F) { fuzzRequest(f, "ascii87") }
func FuzzRequestCUP(f *testing.F)     { fuzzRequest(f, "cup") }
