package receipt

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"posd/conn/printer"
	"posd/terminal/store"
	"posd/terminal/txn"
)

var hdr = Header{MerchantName: "POSD DEMO SHOP", MerchantID: "MERCHANT0000001", TerminalID: "POS00001", Location: time.FixedZone("CST", 8*3600)}

func sale() store.Txn {
	return store.Txn{
		ID: "7", Kind: "purchase", State: store.StateApproved, Amount: 1234, Currency: "156",
		STAN: 42, MaskedPAN: "622588******1234", EntryMode: "051", ResponseCode: "00", AuthCode: "A1B2C3",
		RRN: "123456789012", CVM: "signature", Batch: 3, Invoice: 17,
		SentAt: time.Date(2026, 11, 29, 1, 2, 3, 0, time.UTC),
		Chip:   &store.Chip{Interface: "contact", AID: "A000000333010101", Label: "UnionPay Debit", TVR: "0000008000", TSI: "E800", Cryptogram: "TC"},
	}
}

// pv renders a slip on 32-column paper, failing t on an error.
func pv(t *testing.T) func(printer.Doc, error) string {
	return func(d printer.Doc, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return printer.Preview(d, 32)
	}
}

// The merchant copy of a chip sale verified by signature carries what a
// UnionPay slip does, the signature line, and nothing secret; the
// cardholder copy has no signature line.
func TestSlipOfAChipSale(t *testing.T) {
	r := sale()
	m := pv(t)(Slip(hdr, r, Opts{Copy: Merchant}, 32))
	for _, want := range []string{
		"POSD DEMO SHOP"[:1], "商户存根 MERCHANT COPY", "MERCHANT0000001", "POS00001",
		"622588******1234", "插卡 CHIP", "银联 UNIONPAY", "消费 SALE"[:1], "000003", "000017", "A1B2C3",
		"123456789012", "2026/11/29 09:02:03", "CNY 12.34"[:1], "A000000333010101", "UnionPay Debit",
		"0000008000", "E800", "持卡人签名 CARDHOLDER SIGNATURE", "交易成功 APPROVED",
	} {
		if !strings.Contains(m, want) {
			t.Errorf("merchant copy lacks %q:\n%s", want, m)
		}
	}
	if !strings.Contains(m, "C N Y   1 2 . 3 4") {
		t.Errorf("the amount is not printed large:\n%s", m)
	}
	if strings.Contains(m, "TC") && regexp.MustCompile(`\bTC\b`).MatchString(m) {
		t.Errorf("the cryptogram type is not the customer's:\n%s", m)
	}
	c := pv(t)(Slip(hdr, r, Opts{Copy: Cardholder}, 32))
	if !strings.Contains(c, "持卡人存根 CARDHOLDER COPY") || strings.Contains(c, "____") || !strings.Contains(c, "SIGNED ON MERCHANT COPY") {
		t.Errorf("cardholder copy:\n%s", c)
	}
	for _, s := range []string{m, c} {
		if regexp.MustCompile(`\d{13,19}`).MatchString(strings.ReplaceAll(s, " ", "")) && strings.Contains(s, "6225881") {
			t.Errorf("a full card number on the slip:\n%s", s)
		}
		for _, l := range strings.Split(s, "\n") {
			if printer.Width(l) > 32 {
				t.Errorf("line %q is %d columns on 32-column paper", l, printer.Width(l))
			}
		}
	}
}

// The CVM decides the verification lines.
func TestSlipVerification(t *testing.T) {
	for _, c := range []struct {
		cvm, want, not string
	}{
		{"online_pin", "PIN VERIFIED", "____"},
		{"offline_enciphered_pin", "PIN VERIFIED", "____"},
		{"none", "NO PIN OR SIGNATURE REQUIRED", "____"},
		{"cdcvm", "VERIFIED ON DEVICE", "____"},
		{"payment_password", "FACE + PAYMENT PASSWORD VERIFIED", "____"},
		{"signature", "____", "PIN VERIFIED"},
	} {
		r := sale()
		r.CVM = c.cvm
		s := pv(t)(Slip(hdr, r, Opts{Copy: Merchant}, 32))
		if !strings.Contains(s, c.want) || strings.Contains(s, c.not) {
			t.Errorf("cvm %s: want %q and no %q:\n%s", c.cvm, c.want, c.not, s)
		}
	}
}

// A refund and the void of a sale print the amount as a credit with the
// original's voucher; a reprint says DUPLICATE; a decline and a failure
// say why, without a verification line.
func TestSlipKindsAndOutcomes(t *testing.T) {
	orig := sale()
	r := sale()
	r.ID, r.Kind, r.Amount, r.Invoice, r.OrigID, r.CVM = "9", "refund", 500, 18, "7", "online_pin"
	s := pv(t)(Slip(hdr, r, Opts{Copy: Cardholder, Original: &orig, Reprint: true}, 32))
	for _, want := range []string{"退货 REFUND"[:1], "C N Y   - 5 . 0 0", "原凭证号 ORIG VOUCHER", "000017", "重打印 DUPLICATE"} {
		if !strings.Contains(s, want) {
			t.Errorf("refund slip lacks %q:\n%s", want, s)
		}
	}
	if n := strings.Count(s, "DUPLICATE"); n != 2 {
		t.Errorf("a reprint says DUPLICATE %d times, want at its top and its end:\n%s", n, s)
	}

	d := sale()
	d.State, d.ResponseCode, d.AuthCode, d.CVM = store.StateDeclined, "51", "", ""
	s = pv(t)(Slip(hdr, d, Opts{Copy: Cardholder}, 32))
	if !strings.Contains(s, "交易失败 DECLINED 51") || !strings.Contains(s, "Insufficient funds") || strings.Contains(s, "VERIFIED") {
		t.Errorf("declined slip:\n%s", s)
	}

	f := sale()
	f.State, f.Failure, f.RiskRule, f.CVM = store.StateFailed, "risk_refused", "max_amount_tap", ""
	s = pv(t)(Slip(hdr, f, Opts{}, 32))
	if !strings.Contains(s, "NOT COMPLETED") || !strings.Contains(s, "Amount over the contactless") {
		t.Errorf("failed slip:\n%s", s)
	}

	rv := sale()
	rv.State = store.StateReversed
	s = pv(t)(Slip(hdr, rv, Opts{}, 32))
	if !strings.Contains(s, "REVERSED: NOT CHARGED") || strings.Contains(s, "APPROVED") {
		t.Errorf("reversed slip:\n%s", s)
	}

	running := sale()
	running.State = store.StateAuthSent
	if _, err := Slip(hdr, running, Opts{}, 32); !errors.Is(err, ErrNotPrintable) {
		t.Errorf("slip of a sale in flight: %v", err)
	}
}

// The void of a pre-authorization is its cancellation: it says so and,
// as no money moves, its amount is not a credit; the void of a sale is.
func TestSlipOfAPreauthVoid(t *testing.T) {
	pre := sale()
	pre.Kind, pre.Amount, pre.CVM = "preauth", 80000, "online_pin"
	v := sale()
	v.ID, v.Kind, v.Amount, v.Invoice, v.OrigID, v.CVM, v.Chip = "9", "void", 80000, 18, "7", "", nil
	s := pv(t)(Slip(hdr, v, Opts{Copy: Merchant, Original: &pre}, 32))
	amount := regexp.MustCompile(`C N Y +-? ?8 0 0 \. 0 0`).FindString(s)
	if amount == "" || strings.Contains(amount, "-") || strings.Contains(s, "撤销 VOID\n") {
		t.Errorf("preauth void slip (amount %q):\n%s", amount, s)
	}
	if txnText(v, &pre) != "预授权撤销 PRE-AUTH VOID" || !strings.Contains(strings.ReplaceAll(s, " ", ""), "PRE-AUTHVOID") {
		t.Errorf("preauth void slip does not say what it is:\n%s", s)
	}
	// The void of a sale gives the money back.
	sold := sale()
	s = pv(t)(Slip(hdr, v, Opts{Copy: Merchant, Original: &sold}, 32))
	if amount := regexp.MustCompile(`C N Y +-? ?8 0 0 \. 0 0`).FindString(s); !strings.Contains(amount, "-") ||
		strings.Contains(strings.ReplaceAll(s, " ", ""), "PRE-AUTHVOID") {
		t.Errorf("sale void slip (amount %q):\n%s", amount, s)
	}
}

// A wallet payment prints the platform and its order, never the code;
// a face payment the masked account, never a picture.
func TestSlipWalletAndFace(t *testing.T) {
	w := store.Txn{ID: "3", Kind: "purchase", State: store.StateApproved, Amount: 800, Currency: "156",
		MaskedPAN: "134567******8901", EntryMode: "qr", Invoice: 5, Batch: 1,
		Wallet: &store.Wallet{Platform: "wechat", OrderID: "POS00001-000003", PlatformTxnID: "WX2026112900000001", MaskedCode: "134567******8901"}}
	s := pv(t)(Slip(hdr, w, Opts{}, 32))
	for _, want := range []string{"WECHAT", "POS00001-000003", "WX2026112900000001", "扫码 QR"} {
		if !strings.Contains(s, want) {
			t.Errorf("wallet slip lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "SCHEME") {
		t.Errorf("a wallet code is no card scheme:\n%s", s)
	}
	f := store.Txn{ID: "4", Kind: "purchase", State: store.StateApproved, Amount: 8800, Currency: "156",
		EntryMode: "face", CVM: "payment_password", Invoice: 6, Batch: 1,
		Face: &store.Face{MaskedAccount: "138****0000", PlatformTxnID: "FP000042", Decision: "live"}}
	s = pv(t)(Slip(hdr, f, Opts{}, 32))
	for _, want := range []string{"138****0000", "刷脸 FACE", "FP000042", "FACE + PAYMENT PASSWORD VERIFIED"} {
		if !strings.Contains(s, want) {
			t.Errorf("face slip lacks %q:\n%s", want, s)
		}
	}
}

// Text from outside (the merchant's name, a card's label) cannot carry a
// printer command onto the slip.
func TestSlipStripsControls(t *testing.T) {
	r := sale()
	r.Chip.Label = "VISA\x1b@\x1dV\x00"
	h := hdr
	h.MerchantName = "SHOP\x1b\x69\n"
	d, err := Slip(h, r, Opts{Copy: Merchant}, 48)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range d.Lines {
		for _, c := range l.Text {
			if c < 0x20 || c == 0x7f {
				t.Fatalf("control %#x in line %q", c, l.Text)
			}
		}
	}
}

func TestSettlementReport(t *testing.T) {
	r := store.Txn{ID: "30", Kind: "settlement", State: store.StateApproved, Batch: 3, ResponseCode: "00",
		SentAt: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC),
		Totals: []store.Totals{{Currency: "156", DebitCount: 3, DebitAmount: 4500, CreditCount: 1, CreditAmount: 500, ResponseCode: "00",
			Lines: []store.TotalLine{{Scheme: "unionpay", Kind: "purchase", Count: 3, Amount: 4500}, {Scheme: "visa", Kind: "refund", Count: 1, Amount: 500}}}}}
	s := pv(t)(Settlement(hdr, r, ReportOpts{}, 32))
	for _, want := range []string{"结算单 SETTLEMENT", "000003", "CNY", "UNIONPAY 消费 SALE", "3  45.00", "1   5.00", "平 YES", "2026/11/29 20:00:00"} {
		if !strings.Contains(s, want) {
			t.Errorf("settlement report lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "BY HAND") {
		t.Errorf("nothing to settle by hand, yet:\n%s", s)
	}
	if strings.Contains(s, "DUPLICATE") {
		t.Errorf("the report says DUPLICATE:\n%s", s)
	}
	if s := pv(t)(Settlement(hdr, r, ReportOpts{Reprint: true}, 32)); strings.Count(s, "*** 重打印 DUPLICATE ***") != 2 {
		t.Errorf("a reprinted report says DUPLICATE %d times, want at its top and its end:\n%s", strings.Count(s, "DUPLICATE"), s)
	}
	if _, err := Settlement(hdr, sale(), ReportOpts{}, 32); !errors.Is(err, ErrNotPrintable) {
		t.Errorf("settlement report of a sale: %v", err)
	}
	if _, err := Slip(hdr, r, Opts{}, 32); !errors.Is(err, ErrNotPrintable) {
		t.Errorf("slip of a settlement: %v", err)
	}
}

// A refund reversed gives no money back: its slip does not say "not
// charged" (true of any refund, and read as all being well) but that
// nothing was refunded.
func TestSlipOfAReversedRefund(t *testing.T) {
	rv := sale()
	rv.Kind, rv.State = "refund", store.StateReversalPending
	s := pv(t)(Slip(Header{MerchantName: "Shop", MerchantID: "M1", TerminalID: "T1", Location: time.UTC}, rv, Opts{}, 32))
	if strings.Contains(s, "NOT CHARGED") || !strings.Contains(s, "REVERSED: NO REFUND") {
		t.Errorf("reversed refund slip:\n%s", s)
	}
}

// A slip never carries a full card number, whatever the record holds: at
// most the first six and last four digits are printed.
func TestSlipNeverPrintsFullPAN(t *testing.T) {
	r := sale()
	r.MaskedPAN = "6225881234561234"
	s := pv(t)(Slip(hdr, r, Opts{}, 32))
	if strings.Contains(s, "6225881234561234") || !strings.Contains(s, "622588******1234") {
		t.Errorf("slip of a record with a full PAN:\n%s", s)
	}
	f := store.Txn{ID: "4", Kind: "purchase", State: store.StateApproved, Amount: 8800, Currency: "156",
		EntryMode: "face", CVM: "payment_password", Invoice: 6, Batch: 1,
		Face: &store.Face{MaskedAccount: "6230520012345670012", PlatformTxnID: "FP000042"}}
	if s := pv(t)(Slip(hdr, f, Opts{}, 32)); strings.Contains(s, "6230520012345670012") || !strings.Contains(s, "623052*********0012") {
		t.Errorf("slip of a face payment with a full account:\n%s", s)
	}
}

// The settlement report lists what is still to settle by hand: each with
// its id, why and amount, at most byHandShown, the rest counted, every
// line within the paper's width.
func TestSettlementReportListsWhatToSettleByHand(t *testing.T) {
	r := store.Txn{ID: "30", Kind: "settlement", State: store.StateApproved, Batch: 3, ResponseCode: "00",
		SentAt: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	list := []txn.SetAside{
		{ID: "5", Why: txn.AsideAdviceRefused, Amount: 200, Currency: "156"},
		{ID: "7", Why: txn.AsideFaceNotReversed, Amount: 300000, Currency: "156"},
		{ID: "9", Why: txn.AsideAdviceLost, Amount: 1234, Currency: "344"},
	}
	for i := range byHandShown {
		list = append(list, txn.SetAside{ID: strconv.Itoa(100 + i), Why: txn.AsideAdviceLost, Amount: 1, Currency: "156"})
	}
	d, err := Settlement(hdr, r, ReportOpts{ByHand: list}, 32)
	if err != nil {
		t.Fatal(err)
	}
	s := pv(t)(d, nil)
	for _, want := range []string{"TO SETTLE BY HAND: 13", "#5 通知被拒 ADVICE REFUSED", "CNY 2.00", "#7 刷脸未冲正 FACE NOT REVERSED",
		"CNY 3000.00", "#9 通知丢失 ADVICE LOST", "HKD 12.34", "AND 3 MORE", "请联系收单行 CALL ACQUIRER"} {
		if !strings.Contains(s, want) {
			t.Errorf("settlement report lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "#107 ") || !strings.Contains(s, "#106 ") {
		t.Errorf("the report lists more or fewer than %d:\n%s", byHandShown, s)
	}
	for _, l := range d.Lines {
		if w := printer.Width(l.Text); w > 32 {
			t.Errorf("line %q is %d columns wide", l.Text, w)
		}
	}
	if _, err := Settlement(hdr, r, ReportOpts{ByHand: []txn.SetAside{{ID: "1", Why: txn.AsideAdviceLost, Amount: 1, Currency: "999"}}}, 32); err == nil {
		t.Error("an unknown currency printed")
	}
}

// The settlement report is titled as one, not as a sales slip, and its
// totals fit the paper: a scheme and a kind too wide for one line with
// their count and amount are broken between words, never past the
// paper's edge (58 mm paper has 32 columns, 80 mm 48).
func TestSettlementReportFitsThePaper(t *testing.T) {
	r := store.Txn{ID: "30", Kind: "settlement", State: store.StateApproved, Batch: 3, ResponseCode: "00",
		SentAt: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC),
		Totals: []store.Totals{{Currency: "156", DebitCount: 1234, DebitAmount: 123456789, CreditCount: 1, CreditAmount: 500, ResponseCode: "00",
			Lines: []store.TotalLine{
				{Scheme: "mastercard", Kind: "completion", Count: 12, Amount: 1234567},
				{Scheme: "unionpay", Kind: "preauth", Count: 1, Amount: 100},
				{Scheme: "americanexpress", Kind: "refund", Count: 3, Amount: 99999999},
				{Scheme: "visa", Kind: "purchase", Count: 2, Amount: 4500},
			}}}}
	for _, cols := range []int{32, 48} {
		d, err := Settlement(hdr, r, ReportOpts{}, cols)
		if err != nil {
			t.Fatal(err)
		}
		s := printer.Preview(d, cols)
		if strings.Contains(s, "SLIP") || strings.Contains(s, "签购单") {
			t.Errorf("%d columns: the report calls itself a slip:\n%s", cols, s)
		}
		for _, want := range []string{"结算单 SETTLEMENT", "  12    12345.67", "1234  1234567.89", "VISA 消费 SALE"} {
			if !strings.Contains(s, want) {
				t.Errorf("%d columns: report lacks %q:\n%s", cols, want, s)
			}
		}
		if !strings.Contains(strings.ReplaceAll(s, "\n", " "), "MASTERCARD 预授权完成 AUTH COMPLETE") {
			t.Errorf("%d columns: the completion line lost words:\n%s", cols, s)
		}
		for _, l := range d.Lines {
			if w := printer.Width(l.Text); w > cols {
				t.Errorf("%d columns: line %q is %d wide", cols, l.Text, w)
			}
		}
	}
	// The slip keeps its title.
	if s := pv(t)(Slip(hdr, sale(), Opts{}, 32)); !strings.Contains(s, "签购单 POS SALES SLIP") {
		t.Errorf("slip title:\n%s", s)
	}
}

// pair never prints past the paper's edge, whatever the widths of its
// label and value, and keeps every character.
func TestPairFits(t *testing.T) {
	for _, tc := range []struct{ label, value string }{
		{"MASTERCARD 预授权完成 AUTH COMPLETE", "12  12345.67"},
		{"ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJ", "1"},
		{"预授权完成预授权完成预授权完成预授权完成", "1  2.00"},
		{"A", "12345678901234567890123456789012345"},
		{"", ""},
	} {
		b := newBuilder(16, time.UTC)
		b.pair(tc.label, tc.value)
		var all strings.Builder
		for _, l := range b.lines {
			if w := printer.Width(l.Text); w > 16 {
				t.Errorf("pair(%q, %q): line %q is %d wide", tc.label, tc.value, l.Text, w)
			}
			all.WriteString(l.Text)
		}
		strip := func(s string) string { return strings.ReplaceAll(s, " ", "") }
		if strip(all.String()) != strip(tc.label+tc.value) {
			t.Errorf("pair(%q, %q) printed %q", tc.label, tc.value, all.String())
		}
	}
}

// A batch the host found out of balance ("95") and that closed after the
// batch upload is reported out of balance, settled after the upload, and
// never as balanced; a close that failed after the "95" does not say it
// settled.
func TestSettlementReportOutOfBalance(t *testing.T) {
	r := store.Txn{ID: "31", Kind: "settlement", State: store.StateApproved, Batch: 3, ResponseCode: "95", Uploaded: 1,
		SentAt: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC),
		Totals: []store.Totals{{Currency: "156", DebitCount: 1, DebitAmount: 230, ResponseCode: "95",
			Lines: []store.TotalLine{{Scheme: "unionpay", Kind: "purchase", Count: 1, Amount: 230}}}}}
	for _, cols := range []int{32, 48} {
		d, err := Settlement(hdr, r, ReportOpts{}, cols)
		if err != nil {
			t.Fatal(err)
		}
		s := printer.Preview(d, cols)
		for _, want := range []string{"不平 NO", "OUT OF BALANCE (95)", "SETTLED AFTER BATCH UPLOAD", "批上送后结算", "批上送 UPLOADED"} {
			if !strings.Contains(s, want) {
				t.Errorf("%d columns: report lacks %q:\n%s", cols, want, s)
			}
		}
		if strings.Contains(s, "平 YES") {
			t.Errorf("%d columns: an out-of-balance batch printed as balanced:\n%s", cols, s)
		}
		for _, l := range d.Lines {
			if w := printer.Width(l.Text); w > cols {
				t.Errorf("%d columns: line %q is %d wide", cols, l.Text, w)
			}
		}
	}
	r.State, r.Failure = store.StateFailed, "settlement_failed"
	if s := pv(t)(Settlement(hdr, r, ReportOpts{}, 32)); !strings.Contains(s, "OUT OF BALANCE") || strings.Contains(s, "SETTLED AFTER") {
		t.Errorf("a failed close after a 95:\n%s", s)
	}
}

// A balance inquiry's slip is titled as one, not as a sales slip, and
// the available balance is on the cardholder's copy only: the merchant
// keeps no record of what is on the customer's account.
func TestSlipOfABalanceInquiry(t *testing.T) {
	r := sale()
	bal := int64(3644184)
	r.Kind, r.Amount, r.Balance, r.BalanceCurrency, r.CVM = "balance", 0, &bal, "156", "online_pin"
	for _, c := range []Copy{Merchant, Cardholder} {
		s := pv(t)(Slip(hdr, r, Opts{Copy: c}, 32))
		if !strings.Contains(s, "余额查询 BALANCE INQUIRY") || strings.Contains(s, "SALES SLIP") || strings.Contains(s, "签购单") {
			t.Errorf("%s copy: title:\n%s", c, s)
		}
		shown := strings.Contains(strings.ReplaceAll(s, " ", ""), "36441.84")
		if c == Merchant && (shown || strings.Contains(s, "可用余额")) {
			t.Errorf("the merchant copy shows the balance:\n%s", s)
		}
		if c == Cardholder && !shown {
			t.Errorf("the cardholder copy lacks the balance:\n%s", s)
		}
	}
}

// Every slip of a transaction that had a STAN prints it (流水号 TRACE
// NO.), as UnionPay slips do. A void reads no card: keyed from its
// original, its slip gives the original's entry marked as the
// original's, not as if the card had been swiped again.
func TestSlipTraceAndEntryOfAVoid(t *testing.T) {
	s := pv(t)(Slip(hdr, sale(), Opts{}, 32))
	if !strings.Contains(s, "流水号 TRACE NO.") || !strings.Contains(s, "000042") {
		t.Errorf("sale slip lacks its trace number:\n%s", s)
	}
	orig := sale()
	orig.EntryMode = "901"
	v := sale()
	v.ID, v.Kind, v.OrigID, v.STAN, v.EntryMode, v.Invoice = "8", "void", "7", 43, "901", 18
	s = pv(t)(Slip(hdr, v, Opts{Original: &orig}, 32))
	if !strings.Contains(s, "000043") || !strings.Contains(s, "原刷卡 ORIG SWIPE") {
		t.Errorf("void slip: trace number or the original's entry missing:\n%s", s)
	}
	if strings.Contains(strings.ReplaceAll(s, "原刷卡 ORIG SWIPE", ""), "SWIPE") {
		t.Errorf("void slip says the card was swiped:\n%s", s)
	}
	// A voided offline approval says voided, not approved offline.
	off := sale()
	off.State, off.ResponseCode, off.AuthCode, off.RRN, off.VoidedBy = store.StateOfflineApproved, "Y1", "", "", "8"
	if s = pv(t)(Slip(hdr, off, Opts{}, 32)); !strings.Contains(s, "已撤销 VOIDED") || strings.Contains(s, "APPROVED OFFLINE") {
		t.Errorf("voided offline approval:\n%s", s)
	}
}

// A face payment its platform no longer reverses is not printed as
// reversed: its outcome is not known until settled by hand; once it is,
// the slip says how, with the reference. An offline approval settled by
// hand says so too.
func TestSlipOfATransactionSettledByHand(t *testing.T) {
	f := store.Txn{ID: "7", Kind: "purchase", State: store.StateReversalPending, Amount: 8800, Currency: "156",
		EntryMode: "face", Invoice: 6, Batch: 1,
		Face: &store.Face{MaskedAccount: "138****0000", PlatformTxnID: "FP000042", Status: "reverse_expired"}}
	s := pv(t)(Slip(hdr, f, Opts{}, 32))
	if !strings.Contains(s, "OUTCOME NOT KNOWN") || !strings.Contains(s, "TO SETTLE BY HAND") || strings.Contains(s, "NOT CHARGED") {
		t.Errorf("face payment in doubt:\n%s", s)
	}
	f.Hand = &store.Hand{At: time.Date(2026, 11, 29, 10, 30, 0, 0, time.UTC), By: "adam", Why: "face_not_reversed", Outcome: "stands", Ref: "FP case 12"}
	s = pv(t)(Slip(hdr, f, Opts{}, 32))
	for _, want := range []string{"SETTLED BY HAND", "PAYMENT STANDS", "FP case 12"} {
		if !strings.Contains(s, want) {
			t.Errorf("settled by hand: no %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "TO SETTLE BY HAND") {
		t.Errorf("settled, still to settle:\n%s", s)
	}
	o := sale()
	o.State, o.AdviceCode = store.StateOfflineApproved, "05"
	o.Hand = &store.Hand{At: time.Date(2026, 11, 29, 10, 30, 0, 0, time.UTC), By: "adam", Why: "advice_refused", Outcome: "settled", Ref: "ACQ-7781"}
	s = pv(t)(Slip(hdr, o, Opts{}, 32))
	for _, want := range []string{"APPROVED OFFLINE", "SETTLED BY HAND", "已结算 SETTLED", "ACQ-7781"} {
		if !strings.Contains(s, want) {
			t.Errorf("offline approval settled by hand: no %q:\n%s", want, s)
		}
	}
}

// countColumn is where, in printer columns, the count of a settlement
// line "LABEL  COUNT  AMOUNT" ends (the amount is flush right), or -1
// when the line is not one.
func countColumn(line string) int {
	f := strings.Fields(line)
	if len(f) < 3 {
		return -1
	}
	if _, err := strconv.Atoi(f[len(f)-2]); err != nil {
		return -1
	}
	i := strings.LastIndex(line, f[len(f)-1])
	head := strings.TrimRight(line[:i], " ")
	return printer.Width(head)
}

// The counts of a currency's lines stand in one column, whatever the
// widths of the labels (Chinese takes two columns) and of the amounts.
func TestSettlementReportColumnsAlign(t *testing.T) {
	r := store.Txn{ID: "30", Kind: "settlement", State: store.StateApproved, Batch: 1, ResponseCode: "00",
		SentAt: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC),
		Totals: []store.Totals{{Currency: "156", DebitCount: 5, DebitAmount: 23214, CreditCount: 12, CreditAmount: 300, ResponseCode: "00",
			Lines: []store.TotalLine{
				{Scheme: "visa", Kind: "purchase", Count: 3, Amount: 17154},
				{Scheme: "mastercard", Kind: "purchase", Count: 2, Amount: 6060},
				{Scheme: "unionpay", Kind: "refund", Count: 12, Amount: 300},
			}}}}
	for _, cols := range []int{32, 48} {
		d, err := Settlement(hdr, r, ReportOpts{}, cols)
		if err != nil {
			t.Fatal(err)
		}
		s := printer.Preview(d, cols)
		at := -1
		n := 0
		for _, l := range strings.Split(s, "\n") {
			c := countColumn(l)
			if c < 0 {
				continue
			}
			n++
			if at < 0 {
				at = c
			} else if c != at {
				t.Errorf("%d columns: count of %q ends at column %d, others at %d:\n%s", cols, l, c, at, s)
			}
		}
		if n != 5 {
			t.Errorf("%d columns: %d lines with a count and an amount, want 5:\n%s", cols, n, s)
		}
	}
}

// A wallet refund's slip gives, under 平台交易号 PLATFORM TXN, the
// platform's transaction id the record holds (the one the merchant finds
// on the platform's statement), and the refund's own request id under a
// label of its own.
func TestSlipOfAWalletRefund(t *testing.T) {
	r := store.Txn{ID: "14", Kind: "refund", OrigID: "12", State: store.StateApproved, Amount: 300, Currency: "156",
		EntryMode: "qr", Batch: 1, Invoice: 9, SentAt: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC),
		Wallet: &store.Wallet{Platform: "unionpay", OrderID: "P12", PlatformTxnID: "UN000000000002RR2724783106", RefundID: "R2724783106", MaskedCode: "6212****6789"}}
	for _, cols := range []int{32, 48} {
		d, err := Slip(hdr, r, Opts{Copy: Merchant}, cols)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(printer.Preview(d, cols), "\n")
		after := func(label string) string {
			for i, l := range lines {
				if strings.Contains(l, label) {
					if v := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), label)); v != "" {
						return v
					}
					if i+1 < len(lines) {
						return strings.TrimSpace(lines[i+1])
					}
				}
			}
			return ""
		}
		if got := after("平台交易号 PLATFORM TXN"); got != "UN000000000002RR2724783106" {
			t.Errorf("%d columns: PLATFORM TXN %q, want the record's platform_txn_id:\n%s", cols, got, strings.Join(lines, "\n"))
		}
		if got := after("退款单号 REFUND NO."); got != "R2724783106" {
			t.Errorf("%d columns: REFUND NO. %q, want the refund's id:\n%s", cols, got, strings.Join(lines, "\n"))
		}
	}
	// A sale has no refund number.
	r.Kind, r.OrigID, r.Wallet.RefundID = "purchase", "", ""
	if s := pv(t)(Slip(hdr, r, Opts{}, 32)); strings.Contains(s, "REFUND NO.") || !strings.Contains(s, "UN000000000002RR2724783106") {
		t.Errorf("wallet sale:\n%s", s)
	}
}

// The wallet and face-pay takings of the batch are on the report, after
// the acquirer's totals and apart from them: per currency and platform
// the sales and refunds, their net, said to be settled by the platforms
// and not in the acquirer's balance; every line within the paper, the
// counts in one column. A batch without any prints no such section.
func TestSettlementReportPlatformTotals(t *testing.T) {
	r := store.Txn{ID: "30", Kind: "settlement", State: store.StateApproved, Batch: 1, ResponseCode: "00",
		SentAt: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC),
		Totals: []store.Totals{{Currency: "156", DebitCount: 5, DebitAmount: 23214, ResponseCode: "00",
			Lines: []store.TotalLine{{Scheme: "visa", Kind: "purchase", Count: 3, Amount: 17154}, {Scheme: "mastercard", Kind: "purchase", Count: 2, Amount: 6060}}}}}
	platforms := []txn.PlatformTotal{
		{Currency: "156", Platform: "wechat", SaleCount: 1, SaleAmount: 888, RefundCount: 1, RefundAmount: 300},
		{Currency: "156", Platform: "unionpay", SaleCount: 1, SaleAmount: 2372},
		{Currency: "156", Platform: txn.PlatformFace, SaleCount: 1, SaleAmount: 8800},
		{Currency: "344", Platform: "alipay", SaleCount: 2, SaleAmount: 1000},
	}
	for _, cols := range []int{32, 48} {
		d, err := Settlement(hdr, r, ReportOpts{Platforms: platforms, ByHand: []txn.SetAside{{ID: "9", Why: txn.AsideAdviceLost, Amount: 100, Currency: "156"}}}, cols)
		if err != nil {
			t.Fatal(err)
		}
		s := printer.Preview(d, cols)
		flat := strings.Join(strings.Fields(s), " ")
		for _, want := range []string{"平台结算 SETTLED BY PLATFORMS", "不计入收单行对账", "NOT IN THE ACQUIRER'S BALANCE",
			"微信支付 WECHAT PAY 消费 SALE 1 8.88 退货 REFUND 1 3.00", "银联二维码 UNIONPAY QR 消费 SALE 1 23.72", "刷脸支付 FACE PAY 消费 SALE 1 88.00",
			"平台净额 NET 117.60", "币种 CURRENCY HKD 支付宝 ALIPAY 消费 SALE 2 10.00 平台净额 NET 10.00",
			"借记 DEBITS 5 232.14"} {
			if !strings.Contains(flat, want) {
				t.Errorf("%d columns: report lacks %q:\n%s", cols, want, s)
			}
		}
		// After the acquirer's totals and their balance, before the list
		// to settle by hand.
		if i, j, k := strings.Index(s, "对账 BALANCED"), strings.Index(s, "SETTLED BY PLATFORMS"), strings.Index(s, "TO SETTLE BY HAND"); i < 0 || j < i || k < j {
			t.Errorf("%d columns: the platforms' section is not after the acquirer's totals:\n%s", cols, s)
		}
		for _, l := range d.Lines {
			if w := printer.Width(l.Text); w > cols {
				t.Errorf("%d columns: line %q is %d wide", cols, l.Text, w)
			}
		}
		// The CNY platform lines' counts stand in one column.
		part := s[strings.Index(s, "SETTLED BY PLATFORMS"):strings.Index(s, "HKD")]
		at := -1
		for _, l := range strings.Split(part, "\n") {
			if c := countColumn(l); c >= 0 {
				if at >= 0 && c != at {
					t.Errorf("%d columns: %q's count ends at %d, others at %d:\n%s", cols, l, c, at, part)
				}
				at = c
			}
		}
	}
	if s := pv(t)(Settlement(hdr, r, ReportOpts{}, 32)); strings.Contains(s, "PLATFORM") {
		t.Errorf("a batch without wallet or face payments:\n%s", s)
	}
	if _, err := Settlement(hdr, r, ReportOpts{Platforms: []txn.PlatformTotal{{Currency: "999", Platform: "wechat", SaleCount: 1, SaleAmount: 1}}}, 32); err == nil {
		t.Error("an unknown currency printed")
	}
}
