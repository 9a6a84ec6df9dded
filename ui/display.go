// Package ui is the terminal's display model: what the customer and the
// cashier see for each moment of a sale, independent of the device that
// shows it. Renderers (ui/kiosk, the local web page; later an LCD driver)
// turn a Screen into pixels. The daemon feeds the model with State values
// built from the transaction engine's records: ui knows nothing of the
// engine, the board or the keys.
package ui

import (
	"strconv"
	"strings"
	"unicode"
)

// Phase is where the sale stands, as the customer sees it.
type Phase string

// Phases of a sale.
const (
	PhaseIdle        Phase = "idle"         // no sale: welcome screen
	PhaseCard        Phase = "card"         // waiting for a card
	PhasePIN         Phase = "pin"          // the customer enters the PIN
	PhaseSelectApp   Phase = "select_app"   // the customer chooses the chip's application on the keypad (Apps), or confirms the only one
	PhaseMessage     Phase = "message"      // the chip asks the customer something (Message)
	PhaseProcessing  Phase = "processing"   // card read, waiting for the host
	PhaseShowCode    Phase = "show_code"    // the customer scans the merchant code (Code)
	PhaseFaceConsent Phase = "face_consent" // face pay: consent on the keypad (Enter), amount shown; the camera is off
	PhaseFaceCheck   Phase = "face_check"   // face pay: look at the camera and do the challenge (Challenge)
	PhasePassword    Phase = "password"     // face pay: the payment password of the account found (Message: masked account)
	PhaseApproved    Phase = "approved"     // approved
	PhaseDeclined    Phase = "declined"     // declined by the host
	PhaseFailed      Phase = "failed"       // the sale could not be completed
	PhaseUnknown     Phase = "unconfirmed"  // outcome unknown, being reversed
)

// State is the input of the display model.
type State struct {
	Phase Phase
	// Kind is the transaction type (terminal/host kinds: "purchase" or
	// empty, "refund", "void", "preauth", "completion", "balance"): the
	// screen says what the customer is doing, and only a sale offers face
	// pay. A "settlement" (the cashier closing the batch) is no customer's:
	// the screen stays on the welcome.
	Kind string
	// TxnID is the transaction on screen: a choice the customer touches
	// names it, so a touch on a screen of the sale before is no choice
	// for the next.
	TxnID string
	// FacePay: the transaction is paid by face (its "55" is a wrong
	// payment password, not a card's PIN).
	FacePay bool
	// OrigKind is the kind of the record a void refers to, when known: the
	// void of a "preauth" is its cancellation (the hold released, no
	// money moves) and says so.
	OrigKind string
	// Balance is a balance inquiry's answer, formatted ("CNY 1234.56").
	Balance      string
	Merchant     string
	Amount       string // formatted, e.g. "12.34"
	Currency     string // alphabetic, e.g. "CNY"
	MaskedPAN    string // first 6 / last 4 at most
	ResponseCode string
	AuthCode     string
	// Failure is the failure code of a PhaseFailed sale (terminal/txn's
	// codes: "no_card", "host_unreachable", ...); FailureText words it.
	Failure string
	// Reversal is why a PhaseUnknown sale is being reversed (terminal/host's
	// reversal reasons: "no response", "card removed", "other", ...);
	// Reversed: the host has acknowledged the reversal.
	Reversal string
	Reversed bool
	// Retry: PhaseCard after an unreadable card: ask for it again.
	Retry bool
	// PINDigits is how many digits were entered (PhasePIN): one '*' each.
	PINDigits int
	// PINLastTry: the card allows one more offline PIN try.
	PINLastTry bool
	// PINRefused is why the PIN pad refused the last key (PhasePIN,
	// PhasePassword): "too_short" (Enter with too few digits) or "full"
	// (no more digits); "" when it took it.
	PINRefused string
	// Message is the chip's prompt (PhaseMessage): "remove card", "see
	// phone", "incorrect PIN", "PIN OK", ...
	Message string
	// Hint says why the card is asked for again (PhaseCard): "chip" (a
	// chip card was swiped), "other_interface" (a contactless card asked
	// for another interface), "tap_again" (a contactless card left the
	// field too early), "see_phone" (a phone asks its holder to confirm
	// on it, then to tap again), "one_card" (more than one card in the
	// contactless field).
	Hint string
	// RiskRule is the code of the risk rule that refused a sale
	// (Failure "risk_refused"); RiskText words it.
	RiskRule string
	// Entry lists how the terminal takes a card now: "tap", "insert",
	// "swipe" (the prompt asks for those only); empty means all three.
	Entry []string
	// RemoveCard: the sale's card was inserted; the outcome's screen
	// reminds the customer to take it.
	RemoveCard bool
	// Code is the merchant-presented payload (PhaseShowCode) the screen
	// shows as a QR code; Platform is the wallet it is for.
	Code, Platform string
	// FaceChoice: the terminal takes face pay; a card sale waiting for a
	// card offers "pay by face" on the display.
	FaceChoice bool
	// Signature: the approved sale's cardholder verification is a
	// signature (the card's CVM list chose it): the customer signs the
	// receipt.
	Signature bool
	// Apps are the chip applications to choose among (PhaseSelectApp),
	// by their labels; one: the customer confirms it or refuses.
	Apps []string
	// Challenge is the liveness challenge (PhaseFaceCheck): "blink",
	// "left", "right", "closer"; Message then holds a hint ("one face
	// only please").
	Challenge string
}

// challengeText is what the customer is asked to do during the liveness
// check, by challenge. "left" and "right" are the customer's own.
var challengeText = map[string][2]string{
	"blink":  {"Please blink", "请眨眨眼"},
	"left":   {"Please turn your head to your left", "请向左转头"},
	"right":  {"Please turn your head to your right", "请向右转头"},
	"closer": {"Please come closer to the camera", "请靠近摄像头"},
}

// faceHints words the liveness check's hints.
var faceHints = map[string][2]string{
	"one face only please": {"Only the payer in front of the camera, please", "请确保镜头前只有付款人"},
	"move closer":          {"Please move closer", "请靠近一些"},
	"hold still":           {"Please hold still", "请保持不动"},
	"no face":              {"Please look at the camera", "请正对摄像头"},
	"try again":            {"Not recognised yet: once more, please", "未识别成功，请再试一次"},
}

// cardPrompt asks for the card the way the terminal can read it.
func cardPrompt(entry []string) (en, zh string) {
	if len(entry) == 1 && entry[0] == "qr" {
		return "Please show your payment code", "请出示付款码"
	}
	has := map[string]bool{}
	for _, e := range entry {
		has[e] = true
	}
	if len(entry) == 0 {
		has = map[string]bool{"tap": true, "insert": true, "swipe": true}
	}
	var ens, zhs []string
	for _, m := range []struct{ mode, en, zh string }{{"insert", "insert", "插卡"}, {"tap", "tap", "挥卡"}, {"swipe", "swipe", "刷卡"}} {
		if has[m.mode] {
			ens, zhs = append(ens, m.en), append(zhs, m.zh)
		}
	}
	switch len(ens) {
	case 0:
		return "Please present your card", "请出示银行卡"
	case 1:
		en = ens[0]
	default:
		en = strings.Join(ens[:len(ens)-1], ", ") + " or " + ens[len(ens)-1]
	}
	return "Please " + en + " your card", "请" + strings.Join(zhs, "、")
}

// reversalText words why a sale is being reversed, by reversal reason.
var reversalText = map[string][2]string{
	"":                          {"No answer from the bank", "银行无应答"},
	"card removed":              {"Card removed too early", "卡片过早取出或移开"},
	"other":                     {"The card refused the payment", "卡片拒绝交易"},
	"response MAC failed":       {"The bank's answer could not be verified", "银行应答校验失败"},
	"bad response":              {"The bank's answer could not be read", "银行应答无法识别"},
	"cancelled at the terminal": {"Cancelled at the terminal", "收银员已取消"},
	"cancelled by the customer": {"Cancelled by the customer", "客户已取消"},
}

// chipMessages words the EMV kernel's prompts (terminal/emv Message names).
var chipMessages = map[string][2]string{
	"remove card":        {"Please remove your card", "请取卡"},
	"see phone":          {"Please see your phone", "请查看手机"},
	"insert or swipe":    {"Please insert or swipe your card", "请插卡或刷卡"},
	"PIN OK":             {"PIN OK", "密码正确"},
	"incorrect PIN":      {"Incorrect PIN, try again", "密码错误，请重试"},
	"last PIN try":       {"Last PIN try", "最后一次输入机会"},
	"PIN blocked":        {"PIN blocked", "密码已锁定"},
	"processing":         {"Processing, do not remove the card", "处理中，请勿取卡"},
	"approved":           {"Approved", "交易成功"},
	"declined":           {"Declined", "交易失败"},
	"not accepted":       {"Card not accepted", "不支持此卡"},
	"try again":          {"Please try again", "请重试"},
	"present card again": {"Please present your card again", "请重新出示卡片"},
	"signature required": {"Signature required", "请签名"},
}

// walletNames names the wallet platforms on the screen.
var walletNames = map[string][2]string{
	"unionpay": {"UnionPay QuickPass", "云闪付"},
	"wechat":   {"WeChat Pay", "微信支付"},
	"alipay":   {"Alipay", "支付宝"},
}

// messageText is a chip prompt in English and Chinese.
func messageText(m string) (en, zh string) {
	if t, ok := chipMessages[m]; ok {
		return t[0], t[1]
	}
	return "Please wait", "请稍候"
}

// pinStars is one '*' per digit entered, and a placeholder before the
// first.
func pinStars(n int) string {
	if n <= 0 {
		return "_"
	}
	return strings.Repeat("*", min(n, 12))
}

// retryPrompt asks for the card again after an unreadable one.
func retryPrompt(entry []string) (en, zh string) {
	en, zh = cardPrompt(entry)
	return en + " again", "请重新" + strings.TrimPrefix(zh, "请")
}

// MaskPAN shows at most the first six and the last four digits of a card
// number or account: any other digit becomes '*'. The engine hands the
// display (and the slip) masked numbers; this keeps a full one off the
// screen and the paper should one ever come.
func MaskPAN(s string) string {
	n := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			n++
		}
	}
	if n <= 10 {
		return s
	}
	i := 0
	return strings.Map(func(r rune) rune {
		if r < '0' || r > '9' {
			return r
		}
		i++
		if i > 6 && i <= n-4 {
			return '*'
		}
		return r
	}, s)
}

// outside cleans a text that comes from outside the terminal (a card, the
// acquirer's parameters, a payment platform, the host) for the screen:
// control and format characters (line breaks, escapes, direction
// overrides) are dropped, spaces trimmed, and at most max characters
// kept, the size of its field.
func outside(s string, max int) string {
	s = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.In(r, unicode.Zl, unicode.Zp) {
			return -1
		}
		return r
	}, s))
	if r := []rune(s); len(r) > max {
		s = strings.TrimSpace(string(r[:max]))
	}
	return s
}

// Tone tells a renderer how to colour or sound a screen.
type Tone string

// Tones.
const (
	ToneNeutral Tone = "neutral"
	ToneBusy    Tone = "busy"
	ToneOK      Tone = "ok"
	ToneError   Tone = "error"
)

// Screen is what to show: a title, up to four lines, in English and
// Chinese (the terminal's market shows both).
type Screen struct {
	Phase   Phase    `json:"phase"`
	Tone    Tone     `json:"tone"`
	Title   string   `json:"title"`
	TitleZH string   `json:"title_zh"`
	Lines   []string `json:"lines"`
	// Code is a payload to draw as a QR code under the lines (a
	// merchant-presented code), empty for none.
	Code string `json:"code,omitempty"`
	// Choices are what the customer may choose on a touch screen instead
	// ("face": pay by face), empty for none.
	Choices []Choice `json:"choices,omitempty"`
}

// Choice is a button on the customer display.
type Choice struct {
	ID    string `json:"id"`
	Label string `json:"label"`
}

// declineText says why the host declined, by ISO 8583 response code.
var declineText = map[string][2]string{
	"05": {"Do not honour", "不予承兑"},
	"14": {"Invalid card number", "无效卡号"},
	"51": {"Insufficient funds", "余额不足"},
	"54": {"Expired card", "卡已过期"},
	"55": {"Incorrect PIN", "密码错误"},
	"61": {"Amount limit exceeded", "超出金额限制"},
	"91": {"Issuer unavailable", "发卡行不可用"},
	"96": {"System malfunction", "系统故障"},
	"A0": {"Security check failed", "安全校验失败"},
	"Q1": {"Card authentication failed", "卡片认证失败"},
	"75": {"PIN tries exceeded", "密码错误次数超限"},
	// The bank has closed the terminal's batch (a close whose answer was
	// lost): it takes nothing more in it until the cashier closes it
	// again, which opens the next one.
	"77": {"Batch already settled: settle the batch again", "批次已结算，请重新结算"},
	// The terminal's own codes for a chip card's offline decline (EMV
	// 8A): the card refused, not the bank.
	"Z1": {"Declined by the card", "卡片拒绝交易"},
	"Z3": {"Declined by the card: bank not reachable", "无法连接银行，卡片拒绝交易"},
}

// failureText says why a sale did not complete, by failure code, for the
// customer. The engineer's detail stays in the record.
var failureText = map[string][2]string{
	"no_card":            {"No card presented", "未检测到卡"},
	"cancelled":          {"Cancelled", "交易已取消"},
	"card_read_error":    {"Card could not be read", "读卡失败"},
	"card_expired":       {"Card expired", "卡已过期"},
	"host_unreachable":   {"Bank not reachable", "无法连接银行"},
	"keys_unavailable":   {"Terminal needs service", "终端需要维护"},
	"shutdown":           {"Terminal shutting down", "终端正在关机"},
	"interrupted":        {"Terminal restarted", "终端已重启"},
	"internal_error":     {"Terminal error", "终端故障"},
	"risk_refused":       {"Refused by the terminal's risk rules", "交易被风控拒绝"},
	"pin_cancelled":      {"PIN entry cancelled", "密码输入已取消"},
	"pin_timeout":        {"PIN entry timed out", "密码输入超时"},
	"pin_unavailable":    {"PIN pad not available", "密码键盘不可用"},
	"card_removed":       {"Card removed too early", "卡片过早取出或移开"},
	"card_not_accepted":  {"Card not accepted", "不支持此卡"},
	"original_unusable":  {"Original transaction changed, not sent", "原交易已变更，未发送"},
	"wrong_card":         {"Not the card of the original payment", "非原交易卡"},
	"no_response":        {"No answer from the bank", "银行无应答"},
	"settlement_failed":  {"Settlement not accepted", "结算未被接受"},
	"not_payment_code":   {"Not a payment code", "不是付款码"},
	"wallet_unreachable": {"Wallet service not reachable", "无法连接钱包服务"},
	"wallet_failed":      {"Payment not completed", "支付未完成"},
	"face_unavailable":   {"Face pay not available", "刷脸支付不可用"},
	"face_no_consent":    {"Face pay not started: no consent given", "未同意刷脸支付"},
	"face_spoof":         {"Face not accepted", "人脸校验未通过"},
	"face_retry":         {"Face not recognised", "未能识别人脸"},
	"face_no_match":      {"No face pay account found", "未找到刷脸支付账户"},
	"face_platform":      {"Face pay service not reachable", "刷脸支付服务不可用"},
	"wallet_unknown":     {"Refund outcome not known yet: do not refund again", "退款结果未知，请勿重复退款"},
	"settle_again":       {"Last settlement got no answer: the cashier settles the batch again", "上次结算无应答，请收银员重新结算"},
}

// actionText tells the customer what to do after a transaction that did
// not go through, by action; failureAction, riskAction, declineAction
// and reversalAction choose it by code (an unknown code: the cashier
// helps, or for a decline another card).
var actionText = map[string][2]string{
	"again":        {"Please try again", "请重试"},
	"restart":      {"Please ask the cashier to start again", "请收银员重新发起交易"},
	"read_again":   {"Please try again or use another card", "请重试或换卡"},
	"other_card":   {"Please use another card or pay another way", "请换卡或使用其他支付方式"},
	"other_way":    {"Please pay another way", "请使用其他支付方式"},
	"card_or_code": {"Please pay by card or payment code", "请使用银行卡或付款码支付"},
	"insert":       {"Please pay again and insert your card", "请重新支付并插卡"},
	"insert_tap":   {"Please pay again and insert or tap your card", "请重新支付并插卡或挥卡"},
	"keep_card":    {"The cashier will start again; keep the card in place until asked", "收银员将重新发起交易，提示取卡前请勿移开卡片"},
	"same_card":    {"Please use the card you paid with", "请使用原支付卡"},
	"pin":          {"Please pay again with the right PIN", "请重新支付并输入正确密码"},
	"password":     {"Please pay again with the right payment password", "请重新支付并输入正确的支付密码"},
	"bank":         {"Please contact your bank or use another card", "请联系发卡行或换卡"},
	"bank_only":    {"Please contact your bank", "请联系发卡行"},
	"phone":        {"Please see your phone", "请查看手机"},
	"show_code":    {"Please show the payment code of your wallet app", "请出示钱包应用的付款码"},
	"face_again":   {"Please try again: only the payer, facing the camera", "请重试，确保仅付款人正对镜头"},
	"later":        {"Please try again later or pay another way", "请稍后重试或使用其他支付方式"},
	"cashier":      {"The cashier will help you", "请联系收银员"},
}

// failureAction is what to do after a failure, by failure code.
var failureAction = map[string]string{
	"no_card":            "restart",
	"cancelled":          "cashier",
	"card_read_error":    "read_again",
	"card_expired":       "other_card",
	"host_unreachable":   "later",
	"keys_unavailable":   "other_way",
	"shutdown":           "cashier",
	"interrupted":        "restart",
	"internal_error":     "cashier",
	"pin_cancelled":      "restart",
	"pin_timeout":        "restart",
	"pin_unavailable":    "other_way",
	"card_removed":       "keep_card",
	"card_not_accepted":  "other_card",
	"original_unusable":  "cashier",
	"wrong_card":         "same_card",
	"no_response":        "later",
	"settlement_failed":  "cashier",
	"not_payment_code":   "show_code",
	"wallet_unreachable": "later",
	"wallet_failed":      "phone",
	"face_unavailable":   "card_or_code",
	"face_no_consent":    "card_or_code",
	"face_spoof":         "card_or_code",
	"face_retry":         "face_again",
	"face_no_match":      "card_or_code",
	"face_platform":      "card_or_code",
	"wallet_unknown":     "cashier",
	"settle_again":       "cashier",
}

// riskAction is what to do after a risk rule's refusal, by rule code.
var riskAction = map[string]string{
	"invalid_txn":         "cashier",
	"risk_unavailable":    "cashier",
	"currency":            "cashier",
	"hotlist_missing":     "other_way",
	"hotlist":             "other_way",
	"max_amount_swipe":    "insert_tap",
	"max_amount_insert":   "other_way",
	"max_amount_tap":      "insert",
	"max_amount_qr":       "other_way",
	"max_amount_face":     "card_or_code",
	"offline_disabled":    "later",
	"offline_type":        "later",
	"offline_entry_mode":  "later",
	"offline_magstripe":   "insert",
	"offline_floor_limit": "later",
	"offline_cvm":         "later",
	"velocity_count":      "other_card",
	"velocity_amount":     "other_card",
	"refund_unreferenced": "cashier",
	"refund_total":        "cashier",
	"offline_count":       "later",
	"offline_amount":      "later",
	"offline_age":         "later",
	"offline_clock":       "later",
}

// declineAction is what to do after a decline, by response code.
var declineAction = map[string]string{
	"05": "other_card",
	"14": "other_card",
	"51": "other_card",
	"54": "other_card",
	"55": "pin",
	"61": "other_card",
	"91": "later",
	"96": "later",
	"A0": "cashier",
	"Q1": "other_card",
	"75": "bank",
	"77": "cashier",
	"Z1": "other_card",
	"Z3": "later",
}

// reversalAction is what to do after a sale being reversed, by reversal
// reason.
var reversalAction = map[string]string{
	"":                          "restart",
	"no response":               "restart",
	"response MAC failed":       "restart",
	"bad response":              "restart",
	"card removed":              "keep_card",
	"other":                     "other_card",
	"cancelled at the terminal": "cashier",
	"cancelled by the customer": "cashier",
}

// actionLine is the line telling the customer what to do: the action of
// code in table, else fallback's. Money going back (a refund, a void) or
// a completion is bound to the card of its original payment: the cashier
// helps rather than the customer trying another card or way to pay.
func actionLine(table map[string]string, code, fallback, kind string) string {
	a, ok := table[code]
	if !ok {
		a = fallback
	}
	switch kind {
	case "refund", "void", kindPreauthVoid, "completion":
		switch a {
		case "other_card", "other_way", "card_or_code", "later":
			a = "cashier"
		case "bank":
			a = "bank_only"
		case "read_again":
			a = "again"
		}
	}
	t := actionText[a]
	return t[0] + " / " + t[1]
}

// riskText says which risk rule refused a sale (terminal/risk's codes).
var riskText = map[string][2]string{
	"invalid_txn":         {"Invalid transaction", "无效交易"},
	"risk_unavailable":    {"Risk check unavailable", "风控检查不可用"},
	"currency":            {"Currency not accepted", "不支持的币种"},
	"hotlist_missing":     {"Card list not loaded", "黑名单未加载"},
	"hotlist":             {"Card blocked", "此卡已被列入黑名单"},
	"max_amount_swipe":    {"Amount over the limit for swiped cards", "超出刷卡限额"},
	"max_amount_insert":   {"Amount over the limit for chip cards", "超出插卡限额"},
	"max_amount_tap":      {"Amount over the contactless limit", "超出挥卡限额"},
	"max_amount_qr":       {"Amount over the payment code limit", "超出扫码限额"},
	"max_amount_face":     {"Amount over the face pay limit", "超出刷脸支付限额"},
	"offline_disabled":    {"Offline sales not allowed", "不允许脱机交易"},
	"offline_type":        {"Not allowed offline", "此交易不能脱机"},
	"offline_entry_mode":  {"Not allowed offline for this payment", "此支付方式不能脱机"},
	"offline_magstripe":   {"Swiped cards not accepted offline", "脱机不接受刷卡"},
	"offline_floor_limit": {"Amount over the offline limit", "超出脱机限额"},
	"offline_cvm":         {"PIN cannot be checked offline", "脱机无法验证密码"},
	"velocity_count":      {"Too many transactions for this card", "此卡交易次数超限"},
	"velocity_amount":     {"Card's daily amount reached", "此卡交易金额超限"},
	"refund_unreferenced": {"Refund needs the original sale", "退货需要原交易"},
	"refund_total":        {"Terminal's refund limit reached", "终端退货金额超限"},
	"offline_count":       {"Too many offline sales waiting", "脱机交易笔数超限"},
	"offline_amount":      {"Offline total reached", "脱机交易金额超限"},
	"offline_age":         {"Offline sales waiting too long", "脱机交易未及时上送"},
	"offline_clock":       {"Terminal clock wrong: not allowed offline", "终端时间有误，不能脱机"},
}

// RiskText is the customer's words for a risk rule code; an unknown code
// gets a generic text.
func RiskText(code string) (en, zh string, known bool) {
	t, ok := riskText[code]
	if !ok {
		return "Refused by the terminal's risk rules", "交易被风控拒绝", false
	}
	return t[0], t[1], true
}

// DeclineText is the customer's words (English, Chinese) for a host's
// response code; an unknown code gets a generic text.
func DeclineText(code string) (en, zh string, known bool) {
	t, ok := declineText[code]
	if !ok {
		return "Declined by the bank", "银行拒绝交易", false
	}
	return t[0], t[1], true
}

// batchText words the open batch's hints (terminal/txn's BatchLoad
// hints): the cashier settles the batch.
var batchText = map[string][2]string{
	"batch_full":        {"Batch full: settle the batch", "批次已满，请先结算"},
	"batch_nearly_full": {"Batch nearly full: settle soon", "批次将满，请尽快结算"},
	"settle_again":      {"Last settlement got no answer: settle the batch again", "上次结算无应答，请重新结算"},
}

// BatchText is the words (English, Chinese) for a batch hint
// ("batch_full", "batch_nearly_full", "settle_again"); known is false for
// another.
func BatchText(hint string) (en, zh string, known bool) {
	t, ok := batchText[hint]
	return t[0], t[1], ok
}

// StorageFullText is the cashier's words (English, Chinese) when no
// transaction starts because the terminal's data partition is full.
func StorageFullText() (en, zh string) {
	return "Terminal storage full: call service", "终端存储已满，请联系维修"
}

// FailureText is the customer's words (English, Chinese) for a failure
// code; an unknown code gets a generic text.
func FailureText(code string) (en, zh string, known bool) {
	t, ok := failureText[code]
	if !ok {
		return "Transaction failed", "交易失败", false
	}
	return t[0], t[1], true
}

// kindText names the transaction types other than a sale, and
// kindApproved titles their approval.
var (
	kindText = map[string][2]string{
		"refund":        {"Refund", "退货"},
		"void":          {"Void", "撤销"},
		kindPreauthVoid: {"Pre-authorization void", "预授权撤销"},
		"preauth":       {"Pre-authorization", "预授权"},
		"completion":    {"Pre-authorization completion", "预授权完成"},
		"balance":       {"Balance inquiry", "余额查询"},
	}
	kindApproved = map[string][2]string{
		"refund":        {"Refund approved", "退货成功"},
		"void":          {"Void approved", "撤销成功"},
		kindPreauthVoid: {"Pre-authorization released", "预授权撤销成功"},
		"preauth":       {"Pre-authorization approved", "预授权成功"},
		"completion":    {"Completion approved", "预授权完成成功"},
	}
)

// kindPreauthVoid is how the display model names the void of a
// pre-authorization among the kinds.
const kindPreauthVoid = "preauth_void"

// Render is the display model: the screen for s.
func Render(s State) Screen {
	if s.Kind == "void" && s.OrigKind == "preauth" {
		s.Kind = kindPreauthVoid
	}
	if s.Kind == "settlement" {
		// The batch's totals and the host's answer are the cashier's.
		s.Phase = PhaseIdle
	}
	amount := strings.TrimSpace(s.Currency + " " + s.Amount)
	kind, other := kindText[s.Kind]
	if s.Kind == "balance" {
		// No amount: the customer asks what is on the card.
		amount, other = kind[0]+" / "+kind[1], false
	}
	if s.Kind != "" && s.Kind != "purchase" {
		// Face pay pays a sale; it neither refunds nor holds.
		s.FaceChoice = false
	}
	// Sizes: EMV's merchant name (9F4E, 40) and application label (16);
	// an account or a balance fits in 32, an auth code (DE38) in 6, a
	// response code (DE39) in 2 (4 for a platform's).
	s.Merchant, s.Balance = outside(s.Merchant, 40), outside(s.Balance, 32)
	s.AuthCode, s.ResponseCode = outside(s.AuthCode, 12), outside(s.ResponseCode, 4)
	if len(s.Apps) > 0 {
		apps := make([]string, len(s.Apps))
		for i, a := range s.Apps {
			apps[i] = outside(a, 16)
		}
		s.Apps = apps
	}
	s.MaskedPAN = MaskPAN(outside(s.MaskedPAN, 32))
	if s.Phase == PhasePassword {
		s.Message = MaskPAN(outside(s.Message, 32))
	}
	var sc Screen
	switch s.Phase {
	case PhaseCard:
		en, zh := cardPrompt(s.Entry)
		if s.Retry {
			en, zh = retryPrompt(s.Entry)
		}
		sc = Screen{Tone: ToneNeutral, Title: en, TitleZH: zh, Lines: []string{amount}}
		if s.FaceChoice && !s.Retry && (len(s.Entry) != 1 || s.Entry[0] != "qr") {
			id := "face"
			if s.TxnID != "" {
				id += ":" + s.TxnID
			}
			sc.Choices = []Choice{{ID: id, Label: "Pay by face / 刷脸支付"}}
		}
		switch {
		case s.Retry:
			sc.Tone = ToneBusy
			sc.Lines = append(sc.Lines, "Card could not be read / 读卡失败")
		case s.Hint == "chip":
			sc.Tone = ToneBusy
			sc.Lines = append(sc.Lines, "This card has a chip: please insert it / 此卡为芯片卡，请插卡")
		case s.Hint == "tap_again":
			sc.Tone = ToneBusy
			sc.Title, sc.TitleZH = retryPrompt(s.Entry)
			sc.Lines = append(sc.Lines, "Card moved away too soon: hold it until it beeps / 卡片过早移开，请保持至提示音")
		case s.Hint == "one_card":
			sc.Tone = ToneBusy
			sc.Title, sc.TitleZH = "Present one card only", "请只出示一张卡"
			sc.Lines = append(sc.Lines, "More than one card was near the reader: take one card out of the wallet / 读卡器附近有多张卡，请只出示一张")
		case s.Hint == "see_phone":
			sc.Tone = ToneBusy
			sc.Title, sc.TitleZH = "See your phone", "请查看手机"
			sc.Lines = append(sc.Lines, "Confirm on your phone, then tap it again / 请在手机上确认后再次挥卡")
		case s.Hint == "other_interface":
			sc.Tone = ToneBusy
			sc.Lines = append(sc.Lines, "Please use another way to pay with this card / 请换用其他方式读卡")
		}
	case PhasePIN:
		sc = Screen{Tone: ToneNeutral, Title: "Please enter your PIN", TitleZH: "请输入密码",
			Lines: []string{amount, pinStars(s.PINDigits), "Press Enter when done / 输入完毕请按确认键"}}
		if s.PINLastTry {
			sc.Lines = append(sc.Lines, "Last PIN try / 最后一次输入机会")
		}
		sc.Lines = append(sc.Lines, pinRefusedText(s.PINRefused)...)
	case PhaseSelectApp:
		if len(s.Apps) == 1 {
			sc = Screen{Tone: ToneNeutral, Title: "Pay with " + s.Apps[0] + "? Press Enter", TitleZH: "是否使用 " + s.Apps[0] + " 支付？请按确认键",
				Lines: []string{amount, "Cancel if not / 否则请按取消键"}}
			break
		}
		sc = Screen{Tone: ToneNeutral, Title: "Choose how to pay with this card", TitleZH: "请选择卡片支付应用", Lines: []string{amount}}
		for i, a := range s.Apps {
			sc.Lines = append(sc.Lines, strconv.Itoa(i+1)+"  "+a)
		}
		sc.Lines = append(sc.Lines, "Press its number / 请按对应数字键")
	case PhaseMessage:
		en, zh := messageText(s.Message)
		sc = Screen{Tone: ToneBusy, Title: en, TitleZH: zh, Lines: []string{amount}}
	case PhaseFaceConsent:
		sc = Screen{Tone: ToneNeutral, Title: "Pay " + amount + " by face? Press Enter to agree", TitleZH: "是否同意刷脸支付 " + amount + "？请按确认键",
			Lines: []string{amount, "The camera turns on only after you agree / 同意后才会开启摄像头", "Cancel to pay another way / 按取消键选择其他支付方式"}}
	case PhaseFaceCheck:
		t, ok := challengeText[s.Challenge]
		if !ok {
			t = [2]string{"Please look at the camera", "请正对摄像头"}
		}
		sc = Screen{Tone: ToneBusy, Title: t[0], TitleZH: t[1], Lines: []string{amount}}
		if h, ok := faceHints[s.Message]; ok {
			sc.Lines = append(sc.Lines, h[0]+" / "+h[1])
		}
	case PhasePassword:
		sc = Screen{Tone: ToneNeutral, Title: "Enter the payment password of " + s.Message, TitleZH: "请输入 " + s.Message + " 的支付密码",
			Lines: []string{amount, pinStars(s.PINDigits), "6 digits, then Enter / 输入6位密码后按确认键"}}
		if s.Message == "" {
			// The platform named no account.
			sc.Title, sc.TitleZH = "Enter your payment password", "请输入支付密码"
		}
		sc.Lines = append(sc.Lines, pinRefusedText(s.PINRefused)...)
	case PhaseShowCode:
		en, zh := "your wallet app", "手机钱包"
		if w, ok := walletNames[s.Platform]; ok {
			en, zh = w[0], w[1]
		}
		sc = Screen{Tone: ToneNeutral, Title: "Scan to pay with " + en, TitleZH: "请使用" + zh + "扫码支付",
			Lines: []string{amount}, Code: s.Code}
	case PhaseProcessing:
		sc = Screen{Tone: ToneBusy, Title: "Processing, please wait", TitleZH: "处理中，请稍候",
			Lines: []string{amount, s.MaskedPAN}}
	case PhaseApproved:
		sc = Screen{Tone: ToneOK, Title: "Approved", TitleZH: "交易成功", Lines: []string{amount, s.MaskedPAN}}
		if t, ok := kindApproved[s.Kind]; ok {
			sc.Title, sc.TitleZH = t[0], t[1]
		}
		if s.Kind == "balance" {
			sc.Title, sc.TitleZH, sc.Lines = "Balance", "余额", []string{s.Balance, s.MaskedPAN}
		}
		if s.AuthCode != "" {
			sc.Lines = append(sc.Lines, "Auth code / 授权码 "+s.AuthCode)
		}
		if s.Signature {
			sc.Lines = append(sc.Lines, "Please sign the receipt / 请在签购单上签名")
		}
	case PhaseDeclined:
		en, zh, _ := DeclineText(s.ResponseCode)
		action := actionLine(declineAction, s.ResponseCode, "other_card", s.Kind)
		if s.FacePay && s.ResponseCode == "55" {
			// Face pay's second factor is the account's payment password.
			en, zh = "Incorrect payment password", "支付密码错误"
			t := actionText["password"]
			action = t[0] + " / " + t[1]
		}
		sc = Screen{Tone: ToneError, Title: "Declined", TitleZH: "交易失败",
			Lines: []string{amount, en + " / " + zh, action}}
		if s.ResponseCode != "" {
			// For the cashier's call to the bank.
			sc.Lines = append(sc.Lines, "Response code "+s.ResponseCode+" / 应答码 "+s.ResponseCode)
		}
	case PhaseUnknown:
		why, ok := reversalText[s.Reversal]
		if !ok {
			why = reversalText[""]
		}
		// What is being cancelled: a refund's reversal takes the money
		// back from the customer, not a payment.
		what := [2]string{"The transaction", "交易"}
		switch s.Kind {
		case "", "purchase":
			what[0] = "The payment"
		case "refund":
			what = [2]string{"The refund", "退货"}
		}
		state := what[0] + " is being cancelled / " + what[1] + "正在撤销"
		if s.Reversed {
			state = what[0] + " was cancelled / " + what[1] + "已撤销"
		}
		sc = Screen{Tone: ToneError, Title: "Not completed", TitleZH: "交易未完成",
			Lines: []string{amount, why[0] + " / " + why[1], state, actionLine(reversalAction, s.Reversal, "restart", s.Kind)}}
	case PhaseFailed:
		en, zh, _ := FailureText(s.Failure)
		if s.Failure == "card_removed" && s.Kind == "refund" {
			// Nothing was sent: the customer's money did not go back.
			en, zh = "Card removed: the refund was not made", "卡片已取出，退货未完成"
		}
		action := actionLine(failureAction, s.Failure, "cashier", s.Kind)
		if s.Failure == "risk_refused" {
			en, zh, _ = RiskText(s.RiskRule)
			action = actionLine(riskAction, s.RiskRule, "cashier", s.Kind)
		}
		sc = Screen{Tone: ToneError, Title: "Not completed", TitleZH: "交易未完成",
			Lines: []string{amount, en + " / " + zh, action}}
	default:
		s.Phase = PhaseIdle
		sc = Screen{Tone: ToneNeutral, Title: "Welcome", TitleZH: "欢迎光临", Lines: []string{s.Merchant}}
	}
	sc.Phase = s.Phase
	if other && s.Phase != PhaseIdle && len(sc.Lines) > 0 && sc.Lines[0] == amount {
		// The amount of a refund, void or pre-authorization says what it
		// is: not a charge.
		sc.Lines = append([]string{amount, kind[0] + " / " + kind[1]}, sc.Lines[1:]...)
	}
	switch s.Phase {
	case PhaseApproved, PhaseDeclined, PhaseUnknown, PhaseFailed:
		if s.RemoveCard && s.Failure != "card_removed" && !(s.Phase == PhaseUnknown && s.Reversal == "card removed") {
			// (A card pulled out too early is no longer there.)
			rc := chipMessages["remove card"]
			sc.Lines = append(sc.Lines, rc[0]+" / "+rc[1])
		}
	}
	out := sc.Lines[:0]
	for _, l := range sc.Lines {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	sc.Lines = out
	return sc
}

// pinRefusedText is the line saying why the PIN pad refused the last key
// (none when it took it).
func pinRefusedText(why string) []string {
	switch why {
	case "too_short":
		return []string{"Too few digits: enter more, then Enter / 位数不足，请继续输入后按确认键"}
	case "full":
		return []string{"No more digits: press Enter, or Clear to start again / 位数已满，请按确认键或清除键重输"}
	}
	return nil
}
