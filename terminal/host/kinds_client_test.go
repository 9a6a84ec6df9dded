package host

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moov-io/iso8583"

	"posd/internal/testhex"
	"posd/terminal/wiresec"
)

// kindHost answers the requests of kinds.go as a host would: it checks
// the MAC, decrypts the track of card-present requests, records what it
// read and answers "00" (a balance inquiry with 1234.56 in "156"), except
// by STAN: 101 with another amount, 102 under a wrong key, 103 as if the
// request were a sale, 104 with a malformed DE54, 105 with a ledger
// balance only, 106 with another ref, 107 "95" (out of balance), 108 with
// a negative balance, 109 "05" (declined), 110 without DE54. (103: as a
// sale where the MTI is a sale's; an ascii87 balance inquiry as a
// pre-authorization, a completion as an advice.)
type kindHost struct {
	t    *testing.T
	d    *Dialect
	mu   sync.Mutex
	seen []Request
	raw  [][]byte
}

func (h *kindHost) reply(m *iso8583.Message) []byte {
	t, d := h.t, h.d
	raw, _ := m.Pack()
	req, err := d.DecodeRequest(m)
	if err != nil {
		t.Errorf("host cannot read the %s: %v", req.MTI, err)
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
		t.Errorf("%s: request MAC does not verify: %v", req.Kind, err)
		return nil
	}
	if cardPresent(req.Kind) {
		if pt, err := hst.DecryptRequestData(req.Track2Enc); err != nil || string(pt) != testTrack2 {
			t.Errorf("%s: track at the host: %v", req.Kind, err)
		}
	}
	h.mu.Lock()
	h.seen = append(h.seen, req)
	h.raw = append(h.raw, raw)
	h.mu.Unlock()
	answerReq, key := req, hst
	resp := Response{ResponseCode: "00", Time: testTime}
	if req.Kind != KindSettlement && req.Kind != KindBatchUpload && req.Kind != KindReversal {
		resp.RRN, resp.AuthCode = "503141000009", "H00001"
	}
	if req.Kind == KindBalance {
		resp.Balance, resp.BalanceCurrency, resp.HasBalance = 123456, "156", true
	}
	var edit func(*iso8583.Message)
	switch req.STAN {
	case 101:
		answerReq.Amount++
	case 102:
		_, key = sessions(t, 9)
	case 103:
		// Another kind of the same MTI class (so the link routes it).
		answerReq = purchaseRequest(req.STAN, req.KSN)
		answerReq.MTI, answerReq.Amount, answerReq.Batch = req.MTI, req.Amount, req.Batch
		switch {
		case d == ASCII87 && req.Kind == KindBalance:
			answerReq.Kind = KindPreauth
		case d == ASCII87 && req.Kind == KindCompletion:
			answerReq.Kind, answerReq.Ref, answerReq.ResponseCode = KindAdvice, "R1", OfflineApproved
		}
	case 104:
		edit = func(m *iso8583.Message) { _ = m.Field(DEBalance, "1002156C00000012345X") }
	case 105:
		edit = func(m *iso8583.Message) { _ = m.Field(DEBalance, "1001156C000000099999") }
	case 106:
		answerReq.Ref = "OTHER1"
	case 107:
		resp.ResponseCode = SettlementOutOfBalance
	case 108:
		resp.Balance = -500
	case 109:
		resp.ResponseCode, resp.RRN, resp.AuthCode = "05", "", ""
	case 110:
		resp.HasBalance = false
	}
	out, err := d.EncodeResponse(answerReq, resp)
	if err != nil {
		t.Errorf("%s: answer: %v", req.Kind, err)
		return nil
	}
	if edit != nil {
		edit(out)
	}
	sealed, err := d.Seal(out, key.MACResponse)
	if err != nil {
		t.Errorf("seal: %v", err)
		return nil
	}
	return sealed
}

func (h *kindHost) requests() []Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Request(nil), h.seen...)
}

// kindClient is a client of the test terminal against a kindHost.
func kindClient(t *testing.T, d *Dialect) (*Client, *kindHost) {
	h := &kindHost{t: t, d: d}
	c, err := New(&Opts{
		Addr: fakeHost(t, d, h.reply), Dialect: d.Name, TerminalID: "T0000001", MerchantID: "M00000000000001",
		ResponseTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, h
}

func testCard(kind Kind, stan uint32) Purchase {
	return Purchase{
		Kind: kind, STAN: stan, Amount: 1000, Currency: "156", EntryMode: "051", Track2: []byte(testTrack2),
		ICC: testhex.Must("9F2608A1A2A3A4A5A6A7A8"), Batch: 3, Time: testTime,
	}
}

func testOrig(kind Kind) Original {
	return Original{Kind: kind, STAN: 41, Time: testOrigTime, RRN: "503141000001", AuthCode: "A1B2C3", Batch: 2}
}

func testReference(kind Kind, stan uint32, orig Kind) Reference {
	return Reference{
		Kind: kind, STAN: stan, Time: testTime, Amount: 1000, Currency: "156", EntryMode: "051", Batch: 3,
		Orig: testOrig(orig),
	}
}

func testUpload(stan uint32, orig Kind) UploadItem {
	return UploadItem{
		STAN: stan, Time: testTime, Batch: 3, Amount: 1000, Currency: "156", EntryMode: "051",
		Orig: testOrig(orig), Ref: "R" + fmtSTAN(stan),
	}
}

func testSettlement(stan uint32, after bool) Settlement {
	return Settlement{
		STAN: stan, Time: testTime, Batch: 3, Currency: "156", AfterUpload: after,
		Totals: Totals{DebitCount: 12, DebitAmount: 123456, CreditCount: 2, CreditAmount: 2500},
	}
}

// TestClientKinds sends every kind of kinds.go through the client to a
// host, in both dialects, and checks the answers the client gives back
// and what the host read.
func TestClientKinds(t *testing.T) {
	for _, d := range testDialects {
		t.Run(d.Name, func(t *testing.T) {
			c, h := kindClient(t, d)
			ctx := context.Background()
			n := 0
			sess := func() *wiresec.Session {
				n++
				term, _ := sessions(t, n)
				return term
			}
			ok := func(res Result, err error) Result {
				t.Helper()
				if err != nil || !res.Approved() {
					t.Fatalf("not approved: %+v %v", res, err)
				}
				return res
			}

			// Card present.
			res := ok(c.Purchase(ctx, testCard(KindRefund, 1), sess()))
			if res.RRN != "503141000009" || res.AuthCode != "H00001" || res.HasBalance {
				t.Fatalf("refund result %+v", res)
			}
			p := testCard(KindRefund, 2)
			p.Orig = testOrig("")
			ok(c.Purchase(ctx, p, sess()))
			p = testCard(KindRefund, 3)
			p.Orig = testOrig(KindCompletion)
			ok(c.Purchase(ctx, p, sess()))
			ok(c.Purchase(ctx, testCard(KindPreauth, 4), sess()))
			bal := testCard(KindBalance, 5)
			bal.Amount = 0
			res = ok(c.Purchase(ctx, bal, sess()))
			if !res.HasBalance || res.Balance != 123456 || res.BalanceCurrency != "156" {
				t.Fatalf("balance result %+v", res)
			}
			bal.STAN = 108
			if res = ok(c.Purchase(ctx, bal, sess())); !res.HasBalance || res.Balance != -500 {
				t.Fatalf("negative balance %+v", res)
			}
			for _, stan := range []uint32{105, 110} {
				bal.STAN = stan
				if res = ok(c.Purchase(ctx, bal, sess())); res.HasBalance || res.Balance != 0 {
					t.Fatalf("STAN %d: %+v", stan, res)
				}
			}
			bal.STAN = 104
			if _, err := c.Purchase(ctx, bal, sess()); !errors.Is(err, ErrBadResponse) {
				t.Fatalf("malformed DE54: %v", err)
			}
			if res, err := c.Purchase(ctx, testCard(KindRefund, 109), sess()); err != nil || res.ResponseCode != "05" {
				t.Fatalf("declined refund: %+v %v", res, err)
			}

			// Follow-ups.
			for i, orig := range []Kind{"", KindPurchase, KindRefund, KindCompletion} {
				ok(c.FollowUp(ctx, testReference(KindVoid, uint32(10+i), orig), sess()))
			}
			ok(c.FollowUp(ctx, testReference(KindCompletion, 14, KindPreauth), sess()))
			ok(c.FollowUp(ctx, testReference(KindCompletion, 15, ""), sess()))
			ok(c.FollowUp(ctx, testReference(KindVoid, 16, KindPreauth), sess()))

			// The batch close.
			if res, err := c.Settle(ctx, testSettlement(20, false), sess()); err != nil || res.ResponseCode != SettlementBalanced {
				t.Fatalf("settlement: %+v %v", res, err)
			}
			if res, err := c.Settle(ctx, testSettlement(107, false), sess()); err != nil || res.ResponseCode != SettlementOutOfBalance {
				t.Fatalf("settlement out of balance: %+v %v", res, err)
			}
			for i, orig := range []Kind{"", KindAdvice, KindRefund, KindCompletion} {
				ok(c.Upload(ctx, testUpload(uint32(21+i), orig), sess()))
			}
			if res, err := c.Settle(ctx, testSettlement(25, true), sess()); err != nil || res.ResponseCode != SettlementBalanced {
				t.Fatalf("settlement after upload: %+v %v", res, err)
			}

			// Reversals of every kind that is reversed.
			for i, orig := range []Kind{KindRefund, KindPreauth, KindCompletion, KindVoid} {
				r := Reversal{STAN: uint32(30 + i), OrigKind: orig, OrigSTAN: 41, OrigTime: testOrigTime, OrigEntryMode: "051", Amount: 1000, Currency: "156", Batch: 3, Reason: ReasonNoResponse}
				if d == CUP {
					r.OrigSTAN = uint32(30 + i) // cup resends the original's STAN
				}
				if _, err := c.Reverse(ctx, r, sess()); err != nil {
					t.Fatalf("reversal of a %s: %v", orig, err)
				}
			}

			// Answers that do not match: amount, MAC, kind, ref.
			for name, call := range map[string]func() (Result, error){
				"refund, other amount":     func() (Result, error) { return c.Purchase(ctx, testCard(KindRefund, 101), sess()) },
				"preauth, other amount":    func() (Result, error) { return c.Purchase(ctx, testCard(KindPreauth, 101), sess()) },
				"void, other amount":       func() (Result, error) { return c.FollowUp(ctx, testReference(KindVoid, 101, ""), sess()) },
				"completion, other amount": func() (Result, error) { return c.FollowUp(ctx, testReference(KindCompletion, 101, ""), sess()) },
				"upload, other amount":     func() (Result, error) { return c.Upload(ctx, testUpload(101, ""), sess()) },
				"void answered as a sale":  func() (Result, error) { return c.FollowUp(ctx, testReference(KindVoid, 103, ""), sess()) },
				"completion as a sale":     func() (Result, error) { return c.FollowUp(ctx, testReference(KindCompletion, 103, ""), sess()) },
				"balance as a sale":        func() (Result, error) { return c.Purchase(ctx, bal103(), sess()) },
				"upload, other ref":        func() (Result, error) { return c.Upload(ctx, testUpload(106, ""), sess()) },
			} {
				if _, err := call(); !errors.Is(err, ErrBadResponse) {
					t.Errorf("%s: %v", name, err)
				}
			}
			for name, call := range map[string]func() (Result, error){
				"refund":     func() (Result, error) { return c.Purchase(ctx, testCard(KindRefund, 102), sess()) },
				"balance":    func() (Result, error) { return c.Purchase(ctx, bal102(), sess()) },
				"void":       func() (Result, error) { return c.FollowUp(ctx, testReference(KindVoid, 102, ""), sess()) },
				"completion": func() (Result, error) { return c.FollowUp(ctx, testReference(KindCompletion, 102, ""), sess()) },
				"settlement": func() (Result, error) { return c.Settle(ctx, testSettlement(102, false), sess()) },
				"upload":     func() (Result, error) { return c.Upload(ctx, testUpload(102, ""), sess()) },
			} {
				if _, err := call(); !errors.Is(err, ErrBadMAC) {
					t.Errorf("%s under a wrong key: %v", name, err)
				}
			}

			checkSeen(t, d, h.requests())
		})
	}
}

func bal102() Purchase { p := testCard(KindBalance, 102); p.Amount = 0; return p }
func bal103() Purchase { p := testCard(KindBalance, 103); p.Amount = 0; return p }

// checkSeen checks what the host read of the requests TestClientKinds
// sent, by STAN.
func checkSeen(t *testing.T, d *Dialect, seen []Request) {
	t.Helper()
	by := map[uint32]Request{}
	for _, r := range seen {
		if _, dup := by[r.STAN]; !dup {
			by[r.STAN] = r
		}
	}
	mode := wiresec.ModeAES
	for stan, want := range map[uint32]struct {
		kind, orig Kind
		mti        string
	}{
		1: {KindRefund, "", "0200"}, 2: {KindRefund, KindPurchase, "0200"}, 3: {KindRefund, KindCompletion, "0200"},
		4: {KindPreauth, "", "0100"}, 5: {KindBalance, "", "0100"},
		10: {KindVoid, KindPurchase, "0200"}, 11: {KindVoid, KindPurchase, "0200"}, 12: {KindVoid, KindRefund, "0200"},
		13: {KindVoid, KindCompletion, "0200"}, 14: {KindCompletion, KindPreauth, "0220"}, 15: {KindCompletion, KindPreauth, "0220"},
		16: {KindVoid, KindPreauth, "0100"},
		20: {KindSettlement, "", "0500"}, 21: {KindBatchUpload, KindPurchase, "0320"}, 22: {KindBatchUpload, KindAdvice, "0320"},
		23: {KindBatchUpload, KindRefund, "0320"}, 24: {KindBatchUpload, KindCompletion, "0320"}, 25: {KindSettlement, "", "0500"},
		30: {KindReversal, KindRefund, "0400"}, 31: {KindReversal, KindPreauth, "0400"}, 32: {KindReversal, KindCompletion, "0400"},
		33: {KindReversal, KindVoid, "0400"},
	} {
		r, found := by[stan]
		if !found {
			t.Errorf("STAN %d never reached the host", stan)
			continue
		}
		wantMTI := want.mti
		if d == CUP {
			wantMTI = map[Kind]string{KindRefund: "0220", KindBalance: "0200", KindCompletion: "0200"}[want.kind]
			if wantMTI == "" {
				wantMTI = want.mti
			}
			if stan == 25 {
				wantMTI = "0320" // cup ends the upload instead
			}
		}
		if r.Kind != want.kind || r.OrigKind != want.orig || r.MTI != wantMTI || r.Mode != mode || len(r.KSN) != mode.KSNLen() ||
			r.TerminalID != "T0000001" || r.MerchantID != "M00000000000001" {
			t.Errorf("STAN %d read as %s %s of a %q (mode %s), want %s %s of a %q", stan, r.MTI, r.Kind, r.OrigKind, r.Mode, wantMTI, want.kind, want.orig)
			continue
		}
		if card := cardPresent(r.Kind); card != (len(r.Track2Enc) > 0) || (!card && (len(r.PINBlock) > 0 || len(r.ICC) > 0)) {
			t.Errorf("STAN %d (%s): card data %v, want %v", stan, r.Kind, !card, card)
		}
		switch r.Kind {
		case KindRefund, KindPreauth, KindVoid, KindCompletion, KindBatchUpload:
			if r.Amount != 1000 || r.Currency != "156" || r.EntryMode != "051" {
				t.Errorf("STAN %d: amount, currency or entry mode %+v", stan, r)
			}
		case KindBalance:
			if r.Amount != 0 || r.Currency != "156" {
				t.Errorf("STAN %d: balance inquiry %+v", stan, r)
			}
		}
		if want.orig != "" && r.Kind != KindReversal {
			if r.OrigSTAN != 41 || r.OrigRRN != "503141000001" || r.OrigAuthCode != "A1B2C3" || r.OrigRef == "" {
				t.Errorf("STAN %d: original %d %q %q %q", stan, r.OrigSTAN, r.OrigRRN, r.OrigAuthCode, r.OrigRef)
			}
			if d == CUP && (r.OrigBatch != 2 || !strings.HasSuffix(r.OrigRef[:16], "0313")) {
				t.Errorf("STAN %d: cup original batch %d, date in %q", stan, r.OrigBatch, r.OrigRef)
			}
			if d == ASCII87 && !strings.HasPrefix(r.OrigRef[4:], "000041"+"0313093000") {
				t.Errorf("STAN %d: ascii87 DE90 %q", stan, r.OrigRef)
			}
		}
		if d == CUP && r.Kind != KindSettlement && r.Batch != 3 {
			t.Errorf("STAN %d: cup batch %d", stan, r.Batch)
		}
		if r.Kind == KindBatchUpload && r.Ref != "R"+fmtSTAN(stan) {
			t.Errorf("STAN %d: ref %q", stan, r.Ref)
		}
	}
	totals := Totals{DebitCount: 12, DebitAmount: 123456, CreditCount: 2, CreditAmount: 2500}
	if s := by[20]; s.Totals != totals || s.AfterUpload || s.Batch != 3 || s.Currency != "156" {
		t.Errorf("settlement read as %+v", s)
	}
	after := by[25]
	switch d {
	case ASCII87:
		if after.Totals != totals || !after.AfterUpload || after.Batch != 3 {
			t.Errorf("settlement after upload read as %+v", after)
		}
	case CUP:
		if after.UploadCount != 14 || !after.AfterUpload || after.Batch != 3 {
			t.Errorf("end of upload read as %+v", after)
		}
	}
}

// TestClientKindsInvalid: input that cannot be sent is ErrInvalidRequest
// and nothing reaches the host.
func TestClientKindsInvalid(t *testing.T) {
	for _, d := range testDialects {
		t.Run(d.Name, func(t *testing.T) {
			c, h := kindClient(t, d)
			ctx := context.Background()
			term, _ := sessions(t, 1)
			purchases := map[string]func(*Purchase){
				"unknown kind":            func(p *Purchase) { p.Kind = "chargeback" },
				"void as a purchase":      func(p *Purchase) { p.Kind = KindVoid },
				"settlement as purchase":  func(p *Purchase) { p.Kind = KindSettlement },
				"original on a preauth":   func(p *Purchase) { p.Kind, p.Orig = KindPreauth, testOrig("") },
				"original on a sale":      func(p *Purchase) { p.Kind, p.Orig = "", testOrig("") },
				"refund of a refund":      func(p *Purchase) { p.Kind, p.Orig = KindRefund, testOrig(KindRefund) },
				"refund, RRN too long":    func(p *Purchase) { p.Kind, p.Orig = KindRefund, Original{STAN: 1, RRN: "5031410000011"} },
				"refund, auth with space": func(p *Purchase) { p.Kind, p.Orig = KindRefund, Original{STAN: 1, AuthCode: "A1 B2"} },
				"refund, orig STAN":       func(p *Purchase) { p.Kind, p.Orig = KindRefund, Original{STAN: 1000000} },
				"refund, amount too long": func(p *Purchase) { p.Kind, p.Amount = KindRefund, 1e12 },
				"refund, no track":        func(p *Purchase) { p.Kind, p.Track2 = KindRefund, nil },
				"balance with an amount":  func(p *Purchase) { p.Kind = KindBalance },
				"preauth, negative":       func(p *Purchase) { p.Kind, p.Amount = KindPreauth, -1 },
			}
			for name, f := range purchases {
				p := testCard(KindPurchase, 1)
				f(&p)
				if _, err := c.Purchase(ctx, p, term); !errors.Is(err, ErrInvalidRequest) {
					t.Errorf("%s: %v", name, err)
				}
			}
			refs := map[string]func(*Reference){
				"refund as follow-up":      func(r *Reference) { r.Kind = KindRefund },
				"unknown kind":             func(r *Reference) { r.Kind = "" },
				"void of a void":           func(r *Reference) { r.Orig.Kind = KindVoid },
				"void of a balance":        func(r *Reference) { r.Orig.Kind = KindBalance },
				"completion of a sale":     func(r *Reference) { r.Kind, r.Orig.Kind = KindCompletion, KindPurchase },
				"completion without auth":  func(r *Reference) { r.Kind, r.Orig.Kind, r.Orig.AuthCode = KindCompletion, KindPreauth, "" },
				"void, amount too long":    func(r *Reference) { r.Amount = 1e12 },
				"void, negative amount":    func(r *Reference) { r.Amount = -5 },
				"void, currency":           func(r *Reference) { r.Currency = "CNY" },
				"void, orig RRN too long":  func(r *Reference) { r.Orig.RRN = strings.Repeat("1", 13) },
				"void, orig auth too long": func(r *Reference) { r.Orig.AuthCode = "1234567" },
				"void, orig STAN":          func(r *Reference) { r.Orig.STAN = 1000000 },
				"void, STAN":               func(r *Reference) { r.STAN = 1000000 },
			}
			if d == CUP {
				refs["void, orig batch"] = func(r *Reference) { r.Orig.Batch = 1000000 }
			}
			for name, f := range refs {
				r := testReference(KindVoid, 1, "")
				f(&r)
				if _, err := c.FollowUp(ctx, r, term); !errors.Is(err, ErrInvalidRequest) {
					t.Errorf("%s: %v", name, err)
				}
			}
			uploads := map[string]func(*UploadItem){
				"no ref":            func(u *UploadItem) { u.Ref = "" },
				"long ref":          func(u *UploadItem) { u.Ref = "1234567890123" },
				"ref with a dot":    func(u *UploadItem) { u.Ref = "R.1" },
				"upload of a void":  func(u *UploadItem) { u.Orig.Kind = KindVoid },
				"upload of preauth": func(u *UploadItem) { u.Orig.Kind = KindPreauth },
				"amount too long":   func(u *UploadItem) { u.Amount = 1e12 },
				"batch":             func(u *UploadItem) { u.Batch = 1000000 },
			}
			for name, f := range uploads {
				u := testUpload(1, "")
				f(&u)
				if _, err := c.Upload(ctx, u, term); !errors.Is(err, ErrInvalidRequest) {
					t.Errorf("upload %s: %v", name, err)
				}
			}
			settlements := map[string]func(*Settlement){
				"negative debit count":   func(s *Settlement) { s.Totals.DebitCount = -1 },
				"negative credit amount": func(s *Settlement) { s.Totals.CreditAmount = -1 },
				"currency":               func(s *Settlement) { s.Currency = "" },
				"batch":                  func(s *Settlement) { s.Batch = 1000000 },
				"amount too long":        func(s *Settlement) { s.Totals.DebitAmount = 1e16 },
			}
			if d == CUP { // DE48: counts of 3 digits, amounts of 12
				settlements["count of 4 digits"] = func(s *Settlement) { s.Totals.DebitCount = 1000 }
				settlements["amount of 13 digits"] = func(s *Settlement) { s.Totals.CreditAmount = 1e12 }
				settlements["upload count of 5 digits"] = func(s *Settlement) { s.AfterUpload, s.Totals.DebitCount = true, 10000 }
			}
			for name, f := range settlements {
				s := testSettlement(1, false)
				f(&s)
				if _, err := c.Settle(ctx, s, term); !errors.Is(err, ErrInvalidRequest) {
					t.Errorf("settlement %s: %v", name, err)
				}
			}
			if _, err := c.Reverse(ctx, Reversal{STAN: 1, OrigKind: KindBalance, Amount: 1, Currency: "156"}, term); !errors.Is(err, ErrInvalidRequest) {
				t.Errorf("reversal of a balance inquiry: %v", err)
			}
			for name, r := range map[string]Reversal{
				"voided kind of a sale's reversal":      {STAN: 1, OrigKind: KindPurchase, VoidedKind: KindRefund, Amount: 1, Currency: "156"},
				"reversal of the void of a balance":     {STAN: 1, OrigKind: KindVoid, VoidedKind: KindBalance, Amount: 1, Currency: "156"},
				"reversal of the void of a void":        {STAN: 1, OrigKind: KindVoid, VoidedKind: KindVoid, Amount: 1, Currency: "156"},
				"voided kind of a refund's reversal":    {STAN: 1, OrigKind: KindRefund, VoidedKind: KindPurchase, Amount: 1, Currency: "156"},
				"voided kind of a reversal of nothing":  {STAN: 1, VoidedKind: KindPreauth, Amount: 1, Currency: "156"},
				"reversal of the void of a settlement":  {STAN: 1, OrigKind: KindVoid, VoidedKind: KindSettlement, Amount: 1, Currency: "156"},
				"reversal of the void of a batch close": {STAN: 1, OrigKind: KindVoid, VoidedKind: KindBatchUpload, Amount: 1, Currency: "156"},
			} {
				if _, err := c.Reverse(ctx, r, term); !errors.Is(err, ErrInvalidRequest) {
					t.Errorf("%s: %v", name, err)
				}
			}
			for name, err := range map[string]error{
				"follow-up": func() error { _, err := c.FollowUp(ctx, testReference(KindVoid, 1, ""), nil); return err }(),
				"settle":    func() error { _, err := c.Settle(ctx, testSettlement(1, false), nil); return err }(),
				"upload":    func() error { _, err := c.Upload(ctx, testUpload(1, ""), nil); return err }(),
				"refund":    func() error { _, err := c.Purchase(ctx, testCard(KindRefund, 1), nil); return err }(),
			} {
				if !errors.Is(err, ErrInvalidRequest) {
					t.Errorf("%s without a session: %v", name, err)
				}
			}
			if seen := h.requests(); len(seen) != 0 {
				t.Errorf("bad input reached the host: %d requests", len(seen))
			}
		})
	}
}

// TestKindResponseSTAN: an answer to a request of kinds.go that echoes
// another STAN, terminal id or amount is a bad response (the client's
// receive path, below the link's routing).
func TestKindResponseSTAN(t *testing.T) {
	term, hst := sessions(t, 1)
	for _, d := range testDialects {
		for _, req := range kindRequests(term.KSN()) {
			m, _ := d.EncodeRequest(req)
			dreq, err := d.DecodeRequest(m)
			if err != nil {
				t.Fatal(err)
			}
			mti, _ := m.GetMTI()
			stan, _ := m.GetString(DESTAN)
			want := expect{mti: ResponseMTI(mti), stan: stan, tid: "T0000001", kind: req.Kind, ref: req.Ref}
			if hasAmount(req.Kind) {
				want.amount, want.hasAmount = req.Amount, true
			}
			answer := func(f func(*Request)) []byte {
				r := dreq
				f(&r)
				rm, err := d.EncodeResponse(r, Response{ResponseCode: "00", Time: testTime})
				if err != nil {
					t.Fatal(err)
				}
				raw, _ := d.Seal(rm, hst.MACResponse)
				return raw
			}
			if _, err := d.parseResponse(answer(func(*Request) {}), want, term); err != nil {
				t.Errorf("%s %s: %v", d, req.Kind, err)
			}
			cases := map[string]func(*Request){
				"STAN": func(r *Request) { r.STAN++ },
				"tid":  func(r *Request) { r.TerminalID = "T0000002" },
			}
			if hasAmount(req.Kind) {
				cases["amount"] = func(r *Request) { r.Amount++ }
			}
			for name, f := range cases {
				if _, err := d.parseResponse(answer(f), want, term); !errors.Is(err, ErrBadResponse) {
					t.Errorf("%s %s, other %s: %v", d, req.Kind, name, err)
				}
			}
		}
	}
}

// TestKindDecodeRejects: requests of kinds.go that carry what their kind
// does not (card data in a follow-up, a settlement or an upload), or lack
// what it needs, do not decode.
func TestKindDecodeRejects(t *testing.T) {
	term, _ := sessions(t, 1)
	for _, d := range testDialects {
		for _, req := range kindRequests(term.KSN()) {
			good, err := d.EncodeRequest(req)
			if err != nil {
				t.Fatal(err)
			}
			cases := map[string]func(*iso8583.Message){}
			if !cardPresent(req.Kind) && req.Kind != KindReversal {
				cases["track"] = func(m *iso8583.Message) { _ = m.BinaryField(DETrack2Enc, []byte{1, 2, 3, 4, 5, 6, 7, 8}) }
				cases["PIN block"] = func(m *iso8583.Message) { _ = m.BinaryField(DEPINBlock, make([]byte, 16)) }
				cases["ICC"] = func(m *iso8583.Message) { _ = m.BinaryField(DEICC, testhex.Must("9F2608A1A2A3A4A5A6A7A8")) }
			}
			switch req.Kind {
			case KindVoid, KindCompletion, KindBatchUpload:
				if d == ASCII87 {
					cases["no DE90"] = func(m *iso8583.Message) { m.UnsetField(DEOriginalData) }
					cases["DE90 not digits"] = func(m *iso8583.Message) { _ = m.Field(DEOriginalData, strings.Repeat("x", 42)) }
				} else {
					cases["no DE61"] = func(m *iso8583.Message) { m.UnsetField(DEOriginalInfo) }
				}
				cases["RRN not alnum"] = func(m *iso8583.Message) { _ = m.Field(DERRN, "5031-4100000") }
			case KindBalance:
				cases["amount"] = func(m *iso8583.Message) { _ = m.Field(DEAmount, "000000000100") }
			case KindSettlement:
				if d == ASCII87 {
					cases["totals not digits"] = func(m *iso8583.Message) { _ = m.Field(DEDebitsCount, "00000000x1") }
					cases["no batch"] = func(m *iso8583.Message) { m.UnsetField(DEBatchNumber) }
				} else if !req.AfterUpload {
					cases["short DE48"] = func(m *iso8583.Message) { _ = m.Field(DEAdditional48, "0000") }
				}
			}
			if req.Kind == KindBatchUpload {
				cases["no ref"] = func(m *iso8583.Message) { m.UnsetField(DEUploadRef) }
				cases["ref with a dot"] = func(m *iso8583.Message) { _ = m.Field(DEUploadRef, "R.1") }
			}
			if req.Kind == KindCompletion {
				cases["no auth code"] = func(m *iso8583.Message) { m.UnsetField(DEAuthCode) }
			}
			for name, f := range cases {
				raw, _ := good.Pack()
				m, _ := d.Decode(raw)
				f(m)
				raw, err := m.Pack()
				if err != nil {
					t.Fatalf("%s %s %s: %v", d, req.Kind, name, err)
				}
				if m, err = d.Decode(raw); err != nil {
					t.Fatalf("%s %s %s: %v", d, req.Kind, name, err)
				}
				if _, err := d.DecodeRequest(m); !errors.Is(err, ErrMalformed) {
					t.Errorf("%s %s (STAN %d) with %s: %v", d, req.Kind, req.STAN, name, err)
				}
			}
		}
	}
}
