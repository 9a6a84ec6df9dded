// Package ui is the terminal's display model: what the customer and the
// cashier see for each moment of a sale, independent of the device that
// shows it. Renderers (ui/kiosk, the local web page; later an LCD driver)
// turn a Screen into pixels. The daemon feeds the model with State values
// built from the transaction engine's records: ui knows nothing of the
// engine, the board or the keys.
package ui

import "strings"

// Phase is where the sale stands, as the customer sees it.
type Phase string

// Phases of a sale.
const (
	PhaseIdle       Phase = "idle"        // no sale: welcome screen
	PhaseCard       Phase = "card"        // waiting for a card
	PhaseProcessing Phase = "processing"  // card read, waiting for the host
	PhaseApproved   Phase = "approved"    // approved
	PhaseDeclined   Phase = "declined"    // declined by the host
	PhaseFailed     Phase = "failed"      // the sale could not be completed
	PhaseUnknown    Phase = "unconfirmed" // outcome unknown, being reversed
)

// State is the input of the display model.
type State struct {
	Phase        Phase
	Merchant     string
	Amount       string // formatted, e.g. "12.34"
	Currency     string // alphabetic, e.g. "CNY"
	MaskedPAN    string // first 6 / last 4 at most
	ResponseCode string
	AuthCode     string
	// Failure is the failure code of a PhaseFailed sale (terminal/txn's
	// codes: "no_card", "host_unreachable", ...); FailureText words it.
	Failure string
	// Retry: PhaseCard after an unreadable card: ask for it again.
	Retry bool
	// Entry lists how the terminal takes a card now: "tap", "insert",
	// "swipe" (the prompt asks for those only); empty means all three.
	Entry []string
}

// cardPrompt asks for the card the way the terminal can read it.
func cardPrompt(entry []string) (en, zh string) {
	has := map[string]bool{}
	for _, e := range entry {
		has[e] = true
	}
	if len(entry) == 0 {
		has = map[string]bool{"tap": true, "insert": true, "swipe": true}
	}
	var ens, zhs []string
	for _, m := range []struct{ mode, en, zh string }{{"tap", "tap", "挥卡"}, {"insert", "insert", "插卡"}, {"swipe", "swipe", "刷卡"}} {
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

// retryPrompt asks for the card again after an unreadable one.
func retryPrompt(entry []string) (en, zh string) {
	en, zh = cardPrompt(entry)
	return en + " again", "请重新" + strings.TrimPrefix(zh, "请")
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
}

// failureText says why a sale did not complete, by failure code, for the
// customer. The engineer's detail stays in the record.
var failureText = map[string][2]string{
	"no_card":          {"No card presented", "未检测到卡"},
	"cancelled":        {"Cancelled", "交易已取消"},
	"card_read_error":  {"Card could not be read", "读卡失败"},
	"card_expired":     {"Card expired", "卡已过期"},
	"host_unreachable": {"Bank not reachable", "无法连接银行"},
	"keys_unavailable": {"Terminal needs service", "终端需要维护"},
	"shutdown":         {"Terminal shutting down", "终端正在关机"},
	"interrupted":      {"Terminal restarted", "终端已重启"},
	"internal_error":   {"Terminal error", "终端故障"},
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

// Render is the display model: the screen for s.
func Render(s State) Screen {
	amount := strings.TrimSpace(s.Currency + " " + s.Amount)
	var sc Screen
	switch s.Phase {
	case PhaseCard:
		en, zh := cardPrompt(s.Entry)
		if s.Retry {
			en, zh = retryPrompt(s.Entry)
		}
		sc = Screen{Tone: ToneNeutral, Title: en, TitleZH: zh, Lines: []string{amount}}
		if s.Retry {
			sc.Tone = ToneBusy
			sc.Lines = append(sc.Lines, "Card could not be read / 读卡失败")
		}
	case PhaseProcessing:
		sc = Screen{Tone: ToneBusy, Title: "Processing, please wait", TitleZH: "处理中，请稍候",
			Lines: []string{amount, s.MaskedPAN}}
	case PhaseApproved:
		sc = Screen{Tone: ToneOK, Title: "Approved", TitleZH: "交易成功",
			Lines: []string{amount, s.MaskedPAN, "Auth code " + s.AuthCode}}
	case PhaseDeclined:
		why, ok := declineText[s.ResponseCode]
		if !ok {
			why = [2]string{"Declined by the issuer", "发卡行拒绝"}
		}
		sc = Screen{Tone: ToneError, Title: "Declined", TitleZH: "交易失败",
			Lines: []string{amount, why[0] + " / " + why[1], "Code " + s.ResponseCode}}
	case PhaseUnknown:
		sc = Screen{Tone: ToneError, Title: "Not completed", TitleZH: "交易未完成",
			Lines: []string{amount, "No answer from the bank; the payment is being cancelled", "银行无应答，交易正在撤销"}}
	case PhaseFailed:
		en, zh, _ := FailureText(s.Failure)
		sc = Screen{Tone: ToneError, Title: "Not completed", TitleZH: "交易未完成",
			Lines: []string{amount, en + " / " + zh}}
	default:
		s.Phase = PhaseIdle
		sc = Screen{Tone: ToneNeutral, Title: "Welcome", TitleZH: "欢迎光临", Lines: []string{s.Merchant}}
	}
	sc.Phase = s.Phase
	out := sc.Lines[:0]
	for _, l := range sc.Lines {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	sc.Lines = out
	return sc
}
