// Package receipt lays out the paper a payment terminal prints: the
// transaction slip (签购单) in a merchant and a cardholder copy, and the
// settlement report of a closed batch. Each line is bilingual where the
// customer reads it (Chinese, then English), as the terminal's market
// prints them.
//
// What a slip carries (UnionPay's slip and the card schemes' receipt
// rules, EMV Book 4's receipt data): the merchant's name and number, the
// terminal id, the card number masked (first 6, last 4) with how it was
// read, the transaction type, batch and voucher (invoice) numbers, the
// authorization code, the host's reference number and the trace number
// (STAN, 流水号), date and time, the
// amount (a balance inquiry's available balance on the cardholder copy
// only, under its own title), for a chip card its AID, application label, TVR and TSI (never
// a cryptogram: it is not the customer's to keep), the original voucher
// of a void, completion or refund, and the cardholder verification: "PIN
// verified", or on the merchant copy a signature line when the card asked
// for a signature. A reprint says so on every copy. A slip never carries a
// full card number, a track, a PIN, a key, a payment code or a face.
package receipt

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"posd/conn/printer"
	"posd/terminal/facepay"
	"posd/terminal/money"
	"posd/terminal/store"
	"posd/terminal/txn"
	"posd/terminal/wallet"
	"posd/ui"
)

// Copy is which copy of a slip.
type Copy string

// Copies of a slip.
const (
	Merchant   Copy = "merchant"   // kept by the merchant; the signature line
	Cardholder Copy = "cardholder" // handed to the customer
)

// ParseCopy reads a copy's name ("merchant", "cardholder"; "customer" is
// the cardholder's).
func ParseCopy(s string) (Copy, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "merchant":
		return Merchant, nil
	case "cardholder", "customer":
		return Cardholder, nil
	}
	return "", fmt.Errorf("receipt: unknown copy %q (merchant or cardholder)", s)
}

// Header is who prints: the merchant and the terminal.
type Header struct {
	MerchantName string // as the customer knows the shop
	MerchantID   string // the acquirer's merchant number (DE42)
	TerminalID   string // DE41
	// Location prints dates and times (nil: time.Local, the device's
	// zone).
	Location *time.Location
}

// Opts says how a slip is printed.
type Opts struct {
	Copy Copy
	// Reprint: the slip was printed before; every copy says
	// "DUPLICATE".
	Reprint bool
	// Original is the record a void, completion or refund refers to
	// (nil: unknown, its voucher number is not printed).
	Original *store.Txn
}

// duplicate marks a document printed again, at its top and its end.
const duplicate = "*** 重打印 DUPLICATE ***"

// ErrNotPrintable: the record has no slip (still running, a settlement:
// see Settlement).
var ErrNotPrintable = fmt.Errorf("receipt: no slip for this record")

// Slip lays out the slip of r for a printer of cols columns. Records
// still running (created, auth_sent) have none.
func Slip(h Header, r store.Txn, o Opts, cols int) (printer.Doc, error) {
	if r.Kind == "settlement" {
		return printer.Doc{}, fmt.Errorf("%w: a settlement prints its report", ErrNotPrintable)
	}
	if r.State == store.StateCreated || r.State == store.StateAuthSent {
		return printer.Doc{}, fmt.Errorf("%w: transaction %s is still %s", ErrNotPrintable, r.ID, r.State)
	}
	if o.Copy == "" {
		o.Copy = Cardholder
	}
	b := newBuilder(cols, h.Location)
	b.header(h, slipTitle(r), false)
	switch o.Copy {
	case Merchant:
		b.center("商户存根 MERCHANT COPY", true)
	default:
		b.center("持卡人存根 CARDHOLDER COPY", true)
	}
	if o.Reprint {
		b.center(duplicate, true)
	}
	b.rule()

	b.label("卡号 CARD NO.")
	card := ui.MaskPAN(r.MaskedPAN)
	switch {
	case r.Wallet != nil && r.Wallet.MerchantPresented:
		card = ""
	case r.Face != nil:
		card = ui.MaskPAN(r.Face.MaskedAccount)
	}
	if how := entryText(r); card != "" || how != "" {
		b.pair(card, how)
	}
	if r.Wallet != nil {
		b.pair("支付平台 WALLET", strings.ToUpper(r.Wallet.Platform))
	}
	if r.Face != nil {
		b.pair("支付方式 PAID BY", "刷脸 FACE")
	}
	if s := scheme(r); s != "" {
		b.pair("卡组织 SCHEME", s)
	}
	b.label("交易类型 TRANS TYPE")
	b.line(printer.Line{Text: txnText(r, o.Original), Bold: true, Large: true})
	b.pair("批次号 BATCH", fmt.Sprintf("%06d", r.Batch))
	b.pair("凭证号 VOUCHER", fmt.Sprintf("%06d", r.Invoice))
	if r.STAN != 0 {
		b.pair("流水号 TRACE NO.", fmt.Sprintf("%06d", r.STAN))
	}
	if r.AuthCode != "" {
		b.pair("授权码 AUTH CODE", r.AuthCode)
	}
	if r.RRN != "" {
		b.pair("参考号 REF NO.", r.RRN)
	}
	if r.Wallet != nil && r.Wallet.OrderID != "" {
		b.label("订单号 ORDER NO.")
		b.right(r.Wallet.OrderID)
	}
	if id := platformTxn(r); id != "" {
		b.label("平台交易号 PLATFORM TXN")
		b.right(id)
	}
	if r.Wallet != nil && r.Wallet.RefundID != "" {
		// The refund's own request id: what the terminal asked the
		// platform under, for the merchant to quote.
		b.label("退款单号 REFUND NO.")
		b.right(r.Wallet.RefundID)
	}
	if o.Original != nil && o.Original.Invoice != 0 {
		b.pair("原凭证号 ORIG VOUCHER", fmt.Sprintf("%06d", o.Original.Invoice))
	}
	b.pair("日期时间 DATE/TIME", b.when(r))
	b.rule()
	cur, err := money.Lookup(r.Currency)
	if err != nil && r.Kind != "balance" {
		return printer.Doc{}, fmt.Errorf("receipt: transaction %s: %w", r.ID, err)
	}
	if r.Kind == "balance" {
		// The balance is the cardholder's to read, not the merchant's
		// to keep.
		if r.Balance != nil && o.Copy != Merchant {
			bc, err := money.Lookup(r.BalanceCurrency)
			if err != nil {
				return printer.Doc{}, fmt.Errorf("receipt: transaction %s: %w", r.ID, err)
			}
			b.label("可用余额 BALANCE")
			b.line(printer.Line{Text: bc.Alpha + " " + bc.Format(*r.Balance), Align: printer.Right, Bold: true, Large: true})
		}
	} else {
		b.label("金额 AMOUNT")
		amt := cur.Format(r.Amount)
		if credit(r, o.Original) {
			amt = "-" + amt
		}
		b.line(printer.Line{Text: cur.Alpha + " " + amt, Align: printer.Right, Bold: true, Large: true})
	}
	b.rule()
	b.outcome(r)
	if c := r.Chip; c != nil {
		b.pair("AID", c.AID)
		if c.Label != "" {
			b.pair("APP", ascii(c.Label))
		}
		b.pair("TVR", c.TVR)
		if c.TSI != "" {
			b.pair("TSI", c.TSI)
		}
	}
	if approved(r) {
		b.rule()
		b.cvm(r, o.Copy)
	}
	if o.Reprint {
		b.center(duplicate, false)
	}
	return b.doc(), nil
}

// byHandShown bounds the transactions to settle by hand a settlement
// report lists (the rest are counted).
const byHandShown = 10

// ReportOpts says how a settlement report is printed and what it lists
// beside its record.
type ReportOpts struct {
	// Reprint: the report is printed again on request; it says
	// "DUPLICATE" at its top and its end, as a slip does.
	Reprint bool
	// ByHand are the transactions still to settle by hand when it is
	// printed (txn.Engine.Aside: money in doubt the totals leave out).
	ByHand []txn.SetAside
	// Platforms are the batch's wallet and face-pay takings
	// (txn.Engine.PlatformTotals), which their platforms settle: the
	// report gives them apart from the acquirer's totals.
	Platforms []txn.PlatformTotal
}

// Settlement lays out the report of a settlement record: its batch, the
// totals per currency, scheme and kind, the host's answer, then apart
// the wallet and face-pay takings per platform (o.Platforms), and the
// transactions still to settle by hand (o.ByHand).
func Settlement(h Header, r store.Txn, o ReportOpts, cols int) (printer.Doc, error) {
	if r.Kind != "settlement" {
		return printer.Doc{}, fmt.Errorf("%w: transaction %s is a %s, not a settlement", ErrNotPrintable, r.ID, r.Kind)
	}
	b := newBuilder(cols, h.Location)
	b.header(h, "结算单 SETTLEMENT", true)
	if o.Reprint {
		b.center(duplicate, true)
	}
	b.rule()
	b.pair("批次号 BATCH", fmt.Sprintf("%06d", r.Batch))
	b.pair("日期时间 DATE/TIME", b.when(r))
	for _, t := range r.Totals {
		cur, err := money.Lookup(t.Currency)
		if err != nil {
			return printer.Doc{}, fmt.Errorf("receipt: settlement %s: %w", r.ID, err)
		}
		b.rule()
		b.line(printer.Line{Text: "币种 CURRENCY " + cur.Alpha, Bold: true})
		f := figures{cur: cur}
		for _, l := range t.Lines {
			f.fit(l.Count, l.Amount)
		}
		f.fit(t.DebitCount, t.DebitAmount)
		f.fit(t.CreditCount, t.CreditAmount)
		for _, l := range t.Lines {
			b.pair(strings.ToUpper(l.Scheme)+" "+kindText(l.Kind), f.cell(l.Count, l.Amount))
		}
		b.pair("借记 DEBITS", f.cell(t.DebitCount, t.DebitAmount))
		b.pair("贷记 CREDITS", f.cell(t.CreditCount, t.CreditAmount))
		if t.ResponseCode != "" {
			b.balance(t.ResponseCode, r.State == store.StateApproved)
		}
	}
	if r.Uploaded > 0 {
		b.pair("批上送 UPLOADED", strconv.Itoa(r.Uploaded))
	}
	if err := b.platforms(o.Platforms); err != nil {
		return printer.Doc{}, fmt.Errorf("receipt: settlement %s: %w", r.ID, err)
	}
	if err := b.byHand(o.ByHand); err != nil {
		return printer.Doc{}, fmt.Errorf("receipt: settlement %s: %w", r.ID, err)
	}
	b.rule()
	b.outcome(r)
	if o.Reprint {
		b.center(duplicate, false)
	}
	return b.doc(), nil
}

// figures lays out the "count  amount" of a report's lines in one
// currency as two columns: each right-aligned to the widest of the lines
// fitted, so that, the value flush right, the counts stand one under
// the other whatever the labels' widths.
type figures struct {
	cur   money.Currency
	count int // the widest count's digits
	amt   int // the widest amount's columns
}

// fit makes room for a line of n transactions of amount a.
func (f *figures) fit(n int, a int64) {
	f.count = max(f.count, len(strconv.Itoa(n)))
	f.amt = max(f.amt, printer.Width(f.cur.Format(a)))
}

// cell is the value of a line of n transactions of amount a.
func (f *figures) cell(n int, a int64) string {
	return fmt.Sprintf("%*d  %*s", f.count, n, f.amt, f.cur.Format(a))
}

// platforms prints the wallet and face-pay takings of the batch (none:
// nothing), per currency in the order they come: each platform's sales
// and refunds, and the net of them all. Their platforms settle them:
// the report says they are not in the acquirer's totals or balance.
func (b *builder) platforms(list []txn.PlatformTotal) error {
	if len(list) == 0 {
		return nil
	}
	b.rule()
	b.line(printer.Line{Text: "平台结算 SETTLED BY PLATFORMS", Bold: true})
	b.bilingual("不计入收单行对账", "NOT IN THE ACQUIRER'S BALANCE")
	var currencies []string
	for _, p := range list {
		if !slices.Contains(currencies, p.Currency) {
			currencies = append(currencies, p.Currency)
		}
	}
	for _, c := range currencies {
		cur, err := money.Lookup(c)
		if err != nil {
			return err
		}
		f := figures{cur: cur}
		var net int64
		for _, p := range list {
			if p.Currency == c {
				f.fit(p.SaleCount, p.SaleAmount)
				f.fit(p.RefundCount, p.RefundAmount)
				net += p.SaleAmount - p.RefundAmount
			}
		}
		b.line(printer.Line{Text: "币种 CURRENCY " + cur.Alpha, Bold: true})
		for _, p := range list {
			if p.Currency != c {
				continue
			}
			for _, l := range wrap(platformText(p.Platform), b.cols) {
				b.label(l)
			}
			if p.SaleCount > 0 {
				b.pair("  "+kindText("purchase"), f.cell(p.SaleCount, p.SaleAmount))
			}
			if p.RefundCount > 0 {
				b.pair("  "+kindText("refund"), f.cell(p.RefundCount, p.RefundAmount))
			}
		}
		b.pair("平台净额 NET", cur.Format(net))
	}
	return nil
}

// bilingual prints zh and en on one line when they fit, else each on
// lines of its own.
func (b *builder) bilingual(zh, en string) {
	if printer.Width(zh)+1+printer.Width(en) <= b.cols {
		b.label(zh + " " + en)
		return
	}
	for _, s := range []string{zh, en} {
		for _, l := range wrap(s, b.cols) {
			b.label(l)
		}
	}
}

// platformText names a platform of txn.PlatformTotal.
func platformText(p string) string {
	switch p {
	case string(wallet.WeChat):
		return "微信支付 WECHAT PAY"
	case string(wallet.Alipay):
		return "支付宝 ALIPAY"
	case string(wallet.UnionPay):
		return "银联二维码 UNIONPAY QR"
	case txn.PlatformFace:
		return "刷脸支付 FACE PAY"
	}
	return strings.ToUpper(ascii(p))
}

// byHand lists the transactions to settle by hand (none: nothing).
func (b *builder) byHand(list []txn.SetAside) error {
	if len(list) == 0 {
		return nil
	}
	b.rule()
	b.line(printer.Line{Text: fmt.Sprintf("待人工处理 TO SETTLE BY HAND: %d", len(list)), Bold: true})
	for _, a := range list[:min(len(list), byHandShown)] {
		cur, err := money.Lookup(a.Currency)
		if err != nil {
			return err
		}
		b.pair("#"+a.ID+" "+asideText(a.Why), cur.Alpha+" "+cur.Format(a.Amount))
	}
	if n := len(list) - byHandShown; n > 0 {
		b.label(fmt.Sprintf("另 %d 笔 AND %d MORE", n, n))
	}
	b.label("请联系收单行 CALL ACQUIRER")
	return nil
}

// asideText words why a transaction was set aside.
func asideText(why string) string {
	switch why {
	case txn.AsideAdviceRefused:
		return "通知被拒 ADVICE REFUSED"
	case txn.AsideAdviceLost:
		return "通知丢失 ADVICE LOST"
	case txn.AsideFaceNotReversed:
		return "刷脸未冲正 FACE NOT REVERSED"
	}
	return strings.ToUpper(why)
}

// balance prints the host's answer to one currency's totals: balanced
// ("00") or not ("95", out of balance: the host's totals differ; neither
// dialect's answer carries them, so they are not printed), and, for a
// batch that closed (settled), that it closed only after the batch
// upload. Any other code is printed as it is.
func (b *builder) balance(code string, settled bool) {
	switch code {
	case "00":
		b.pair("对账 BALANCED", "平 YES")
	case "95":
		b.pair("对账 BALANCED", "不平 NO")
		b.label("账不平 OUT OF BALANCE (95)")
		if settled {
			b.label("批上送后结算")
			b.label("SETTLED AFTER BATCH UPLOAD")
		}
	default:
		b.pair("对账 BALANCED", code)
	}
}

// builder collects the lines of one document.
type builder struct {
	cols  int
	loc   *time.Location
	lines []printer.Line
}

func newBuilder(cols int, loc *time.Location) *builder {
	if cols < 16 {
		cols = 16
	}
	if loc == nil {
		loc = time.Local
	}
	return &builder{cols: cols, loc: loc}
}

func (b *builder) doc() printer.Doc { return printer.Doc{Lines: b.lines} }

func (b *builder) line(l printer.Line) {
	l.Text = clean(l.Text)
	b.lines = append(b.lines, l)
}

func (b *builder) center(s string, bold bool) {
	b.line(printer.Line{Text: s, Align: printer.Center, Bold: bold})
}

func (b *builder) label(s string) { b.line(printer.Line{Text: s}) }

func (b *builder) right(s string) { b.line(printer.Line{Text: s, Align: printer.Right}) }

func (b *builder) rule() { b.line(printer.Line{Text: strings.Repeat("-", b.cols)}) }

// pair prints a label and its value on one line when they fit, the value
// flush right; otherwise the label on a line of its own and the value
// right-aligned below. A label wider than the paper is broken between
// words, its last words on the value's line when some fit there. No line
// is wider than the paper (a word wider than the paper is cut).
func (b *builder) pair(label, value string) {
	label, value = clean(label), clean(value)
	gap := b.cols - printer.Width(label) - printer.Width(value)
	if gap >= 1 {
		b.line(printer.Line{Text: label + strings.Repeat(" ", gap) + value})
		return
	}
	if printer.Width(label) <= b.cols {
		if label != "" {
			b.label(label)
		}
		b.values(value)
		return
	}
	words := strings.Fields(label)
	k := 0 // the last words that fit with the value
	for k < len(words) && printer.Width(strings.Join(words[len(words)-k-1:], " "))+1+printer.Width(value) <= b.cols {
		k++
	}
	if head := strings.Join(words[:len(words)-k], " "); head != "" {
		for _, l := range wrap(head, b.cols) {
			b.label(l)
		}
	}
	if k > 0 {
		tail := strings.Join(words[len(words)-k:], " ")
		b.line(printer.Line{Text: tail + strings.Repeat(" ", b.cols-printer.Width(tail)-printer.Width(value)) + value})
		return
	}
	b.values(value)
}

// values prints a pair's value flush right on lines of its own: as it
// is when it fits (its spaces kept: they align columns), else broken
// between words.
func (b *builder) values(value string) {
	if printer.Width(value) <= b.cols {
		b.right(value)
		return
	}
	for _, v := range wrap(value, b.cols) {
		b.right(v)
	}
}

// wrap breaks s between words into lines at most cols wide, cutting a
// word wider than that; at least one line.
func wrap(s string, cols int) []string {
	var lines []string
	cur := ""
	for _, w := range strings.Fields(s) {
		for printer.Width(w) > cols {
			head, rest := cut(w, cols)
			if cur != "" {
				lines, cur = append(lines, cur), ""
			}
			lines, w = append(lines, head), rest
		}
		switch {
		case cur == "":
			cur = w
		case printer.Width(cur)+1+printer.Width(w) <= cols:
			cur += " " + w
		default:
			lines, cur = append(lines, cur), w
		}
	}
	return append(lines, cur)
}

// cut splits s after its first cols columns.
func cut(s string, cols int) (head, rest string) {
	n := 0
	for i, r := range s {
		if n+printer.RuneWidth(r) > cols {
			return s[:i], s[i:]
		}
		n += printer.RuneWidth(r)
	}
	return s, ""
}

// header heads a document: the merchant's name, the document's title,
// the merchant and terminal numbers.
func (b *builder) header(h Header, title string, bold bool) {
	if h.MerchantName != "" {
		b.line(printer.Line{Text: h.MerchantName, Align: printer.Center, Bold: true, Large: true})
	}
	b.center(title, bold)
	b.rule()
	b.pair("商户编号 MERCHANT NO.", h.MerchantID)
	b.pair("终端编号 TERMINAL NO.", h.TerminalID)
}

func (b *builder) when(r store.Txn) string {
	t := r.SentAt
	if t.IsZero() {
		t = r.Created
	}
	return t.In(b.loc).Format("2006/01/02 15:04:05")
}

// outcome prints what became of the transaction.
func (b *builder) outcome(r store.Txn) {
	switch {
	case approved(r) && r.VoidedBy != "":
		b.line(printer.Line{Text: "已撤销 VOIDED", Bold: true})
	case r.State == store.StateOfflineApproved:
		b.line(printer.Line{Text: "脱机批准 APPROVED OFFLINE", Bold: true})
	case approved(r):
		b.line(printer.Line{Text: "交易成功 APPROVED", Bold: true})
	case r.State == store.StateDeclined:
		b.line(printer.Line{Text: "交易失败 DECLINED " + r.ResponseCode, Bold: true})
		en, zh, _ := ui.DeclineText(r.ResponseCode)
		b.label(zh)
		b.label(en)
	case r.State == store.StateReversalPending && r.Face != nil && r.Face.Status == facepay.CodeReverseExpired:
		// The platform no longer reverses it: the customer may have
		// paid; the merchant settles it with the platform.
		b.line(printer.Line{Text: "结果未明 OUTCOME NOT KNOWN", Bold: true})
		if r.Hand == nil {
			b.label("待人工处理 TO SETTLE BY HAND")
		}
	case (r.State == store.StateReversalPending || r.State == store.StateReversed) && r.Kind == "refund":
		// The reversal of a refund takes its credit back.
		b.line(printer.Line{Text: "交易已冲正 REVERSED: NO REFUND", Bold: true})
	case r.State == store.StateReversalPending, r.State == store.StateReversed:
		b.line(printer.Line{Text: "交易已冲正 REVERSED: NOT CHARGED", Bold: true})
	default:
		b.line(printer.Line{Text: "交易未完成 NOT COMPLETED", Bold: true})
		en, zh, _ := ui.FailureText(r.Failure)
		if r.RiskRule != "" {
			en, zh, _ = ui.RiskText(r.RiskRule)
		}
		b.label(zh)
		b.label(en)
	}
	if h := r.Hand; h != nil {
		// Set aside, then settled by hand with the acquirer or the
		// platform (the service console's aside settle).
		b.pair("人工处理 SETTLED BY HAND", handOutcome(h.Outcome))
		b.pair("参考 REF", ascii(h.Ref))
		b.pair("日期 DATE", h.At.In(b.loc).Format("2006/01/02 15:04"))
	}
}

// handOutcome words a settle-by-hand outcome.
func handOutcome(o string) string {
	switch o {
	case txn.HandSettled:
		return "已结算 SETTLED"
	case txn.HandRefunded:
		return "已退款 REFUNDED"
	case txn.HandStands:
		return "交易有效 PAYMENT STANDS"
	}
	return ascii(o)
}

// cvm prints how the cardholder was verified, and on the merchant copy
// the signature line a signature CVM needs.
func (b *builder) cvm(r store.Txn, c Copy) {
	switch r.CVM {
	case "online_pin", "offline_pin", "offline_plain_pin", "offline_enciphered_pin":
		b.label("密码已验证 PIN VERIFIED")
		b.label("免签名")
		b.label("NO SIGNATURE REQUIRED")
	case "payment_password":
		b.label("刷脸+支付密码已验证")
		b.label("FACE + PAYMENT PASSWORD VERIFIED")
	case "cdcvm":
		b.label("设备验证 VERIFIED ON DEVICE")
		b.label("免签名")
		b.label("NO SIGNATURE REQUIRED")
	case "signature":
		if c == Merchant {
			b.label("持卡人签名 CARDHOLDER SIGNATURE")
			b.label("")
			b.label("")
			b.label(strings.Repeat("_", b.cols))
			b.label("本人确认以上交易，同意将其记入本卡账户")
			b.label("I ACKNOWLEDGE SATISFACTORY RECEIPT OF RELATIVE GOODS/SERVICES")
		} else {
			b.label("持卡人已签名")
			b.label("SIGNED ON MERCHANT COPY")
		}
	default:
		b.label("免密免签")
		b.label("NO PIN OR SIGNATURE REQUIRED")
	}
}

func approved(r store.Txn) bool {
	return r.State == store.StateApproved || r.State == store.StateOfflineApproved
}

// credit reports whether r gives money back: a refund, or a void of a
// sale or a completion. The void of a pre-authorization (its
// cancellation) moves no money, nor does the void of a refund (the
// refund's credit is taken back).
func credit(r store.Txn, orig *store.Txn) bool {
	switch r.Kind {
	case "refund":
		return true
	case "void":
		return orig == nil || (orig.Kind != "refund" && orig.Kind != "preauth")
	}
	return false
}

// slipTitle heads r's slip: a sales slip, but a balance inquiry's says
// what it is (it sells nothing).
func slipTitle(r store.Txn) string {
	if r.Kind == "balance" {
		return "余额查询 BALANCE INQUIRY"
	}
	return "签购单 POS SALES SLIP"
}

// txnText names r's type on its slip: kindText, but the void of a
// pre-authorization is its cancellation.
func txnText(r store.Txn, orig *store.Txn) string {
	if r.Kind == "void" && orig != nil && orig.Kind == "preauth" {
		return "预授权撤销 PRE-AUTH VOID"
	}
	return kindText(r.Kind)
}

func kindText(k string) string {
	switch k {
	case "", "purchase":
		return "消费 SALE"
	case "refund":
		return "退货 REFUND"
	case "void":
		return "撤销 VOID"
	case "preauth":
		return "预授权 PRE-AUTH"
	case "completion":
		return "预授权完成 AUTH COMPLETE"
	case "balance":
		return "余额查询 BALANCE"
	}
	return strings.ToUpper(k)
}

// entryText says how the card was read (the letter UnionPay's slips put
// after the card number, spelled out). A void or a completion reads no
// card: it is keyed from its original, whose entry it carries (and
// sends, as DE22), marked as the original's (原 ORIG).
func entryText(r store.Txn) string {
	how := cardEntry(r.EntryMode)
	if how == "" || txn.ReadsCard(r.Kind) {
		return how
	}
	zh, en, _ := strings.Cut(how, " ")
	return "原" + zh + " ORIG " + en
}

// cardEntry spells out a POS entry mode (DE22).
func cardEntry(mode string) string {
	switch mode {
	case "901", "021", "902":
		return "刷卡 SWIPE"
	case "051", "052":
		return "插卡 CHIP"
	case "071", "072", "911":
		return "挥卡 TAP"
	case "801":
		return "降级刷卡 FALLBACK"
	case "031", "qr":
		return "扫码 QR"
	case "face":
		return "刷脸 FACE"
	}
	return ""
}

func scheme(r store.Txn) string {
	if r.Wallet != nil || r.Face != nil || r.MaskedPAN == "" {
		return ""
	}
	switch s := txn.SchemeOf(r); s {
	case "unionpay":
		return "银联 UNIONPAY"
	case "other":
		return ""
	default:
		return strings.ToUpper(s)
	}
}

// platformTxn is the platform's transaction id of a wallet or face
// payment or a wallet refund, as the record holds it.
func platformTxn(r store.Txn) string {
	switch {
	case r.Wallet != nil:
		return r.Wallet.PlatformTxnID
	case r.Face != nil:
		return r.Face.PlatformTxnID
	}
	return ""
}

// clean drops control characters: nothing on a slip can carry a printer
// command, whatever a merchant name or a card's label holds.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return -1
		}
		return r
	}, s)
}

// ascii keeps the printable ASCII of a card's application label (EMV: its
// 'ans' characters); anything else is '?'.
func ascii(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}
