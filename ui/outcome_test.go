package ui

import (
	"strings"
	"testing"
	"unicode"

	"posd/terminal/host"
	"posd/terminal/risk"
	"posd/terminal/txn"
)

// hasHan reports whether s holds a Chinese character.
func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

// outcomeStates are the screens that end a transaction unsuccessfully:
// every failure code of the engine, every risk rule, every response code
// the display words (and one it does not), every reversal reason.
func outcomeStates() map[string]State {
	base := State{Amount: "12.34", Currency: "CNY", MaskedPAN: "476173******0010"}
	out := map[string]State{}
	for _, f := range txn.Failures {
		if f == txn.FailRisk {
			continue
		}
		s := base
		s.Phase, s.Failure = PhaseFailed, string(f)
		out["failure "+string(f)] = s
	}
	for _, c := range risk.Codes {
		s := base
		s.Phase, s.Failure, s.RiskRule = PhaseFailed, string(txn.FailRisk), string(c)
		out["risk "+string(c)] = s
	}
	for rc := range declineText {
		s := base
		s.Phase, s.ResponseCode = PhaseDeclined, rc
		out["decline "+rc] = s
	}
	s := base
	s.Phase, s.ResponseCode = PhaseDeclined, "Z9"
	out["decline unknown"] = s
	for _, r := range []host.ReversalReason{host.ReasonNoResponse, host.ReasonMACFailure, host.ReasonBadResponse,
		host.ReasonCardRemoved, host.ReasonTerminalCancel, host.ReasonCustomerCancel, host.ReasonOther} {
		s := base
		s.Phase, s.Reversal = PhaseUnknown, string(r)
		out["reversal "+string(r)] = s
		s.Reversed = true
		out["reversed "+string(r)] = s
	}
	return out
}

// Whatever went wrong, the customer reads it in both languages and is
// told what to do next (try again, insert the card, try another card,
// see the phone, ask the cashier...), never only a code or English.
func TestEveryOutcomeSaysWhatToDo(t *testing.T) {
	for name, s := range outcomeStates() {
		sc := Render(s)
		all := sc.Title + "|" + sc.TitleZH + "|" + strings.Join(sc.Lines, "|")
		if len(sc.Lines) == 0 || sc.Lines[0] != "CNY 12.34" {
			t.Errorf("%s: no amount first: %s", name, all)
			continue
		}
		action := false
		for _, l := range sc.Lines[1:] {
			if !hasHan(l) {
				t.Errorf("%s: line %q has no Chinese", name, l)
			}
			en, zh, ok := strings.Cut(l, " / ")
			if !ok || !hasHan(zh) || hasHan(en) {
				t.Errorf("%s: line %q is not \"English / 中文\"", name, l)
			}
			if strings.HasPrefix(en, "Please ") || strings.HasPrefix(en, "The cashier ") {
				action = true
			}
		}
		if !action {
			t.Errorf("%s: the customer is not told what to do: %s", name, all)
		}
	}
}

// An approval's lines are in both languages too: the authorization code
// is labelled for the Chinese reader as well.
func TestApprovalLinesBilingual(t *testing.T) {
	sc := Render(State{Phase: PhaseApproved, Amount: "12.34", Currency: "CNY", MaskedPAN: "476173******0010", AuthCode: "A1B2C3"})
	for _, l := range sc.Lines {
		if l == "CNY 12.34" || l == "476173******0010" {
			continue
		}
		if !hasHan(l) {
			t.Errorf("line %q has no Chinese", l)
		}
	}
	if !strings.Contains(strings.Join(sc.Lines, "|"), "A1B2C3") {
		t.Errorf("no auth code: %q", sc.Lines)
	}
}

// The display never shows more of a card number than its first six and
// last four digits, whatever the state it is given holds.
func TestFullPANNeverShown(t *testing.T) {
	const pan = "6212345678901234567"
	for _, p := range []Phase{PhaseProcessing, PhaseApproved, PhasePassword} {
		sc := Render(State{Phase: p, Amount: "1.00", Currency: "CNY", MaskedPAN: pan, Message: pan})
		all := sc.Title + "|" + sc.TitleZH + "|" + strings.Join(sc.Lines, "|")
		if strings.Contains(all, "7890") || !strings.Contains(all, "621234") || !strings.Contains(all, "4567") {
			t.Errorf("%s: %s", p, all)
		}
	}
	if got := MaskPAN("476173******0010"); got != "476173******0010" {
		t.Errorf("masked PAN changed: %q", got)
	}
	if got := MaskPAN("4761739001010010"); got != "476173******0010" {
		t.Errorf("full PAN masked as %q", got)
	}
	if got := MaskPAN("6230 **** 0012"); got != "6230 **** 0012" {
		t.Errorf("masked account changed: %q", got)
	}
}

// Text from outside the terminal (a chip's application labels, the
// merchant's name from the acquirer's parameters, the account a face-pay
// platform names) reaches the screen without control or direction
// characters (a right-to-left override would turn "Press Enter" around)
// and no longer than its field.
func TestOutsideTextCleaned(t *testing.T) {
	const bad = "VISA\u202eTIDERC\x1b[2J\u200f\x00"
	long := strings.Repeat("SHOP", 50)
	for _, s := range []State{
		{Phase: PhaseSelectApp, Apps: []string{bad}},
		{Phase: PhaseSelectApp, Apps: []string{bad, long}},
		{Phase: PhaseIdle, Merchant: bad},
		{Phase: PhaseIdle, Merchant: long},
		{Phase: PhasePassword, Message: "138\u202e****5678\x07"},
		{Phase: PhaseApproved, Kind: "balance", Balance: "CNY 1.00\u202e", MaskedPAN: "476173\u202e******0010"},
	} {
		sc := Render(s)
		for _, l := range append([]string{sc.Title, sc.TitleZH}, sc.Lines...) {
			for _, r := range l {
				if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
					t.Errorf("%s: %q holds %U", s.Phase, l, r)
				}
			}
			if strings.Contains(l, strings.Repeat("SHOP", 11)) {
				t.Errorf("%s: %d characters of outside text: %q", s.Phase, len(l), l)
			}
		}
	}
}

// FuzzRenderOutsideText: whatever a card, the acquirer or a platform
// sends, Render does not panic and puts no control or format character
// on the screen.
func FuzzRenderOutsideText(f *testing.F) {
	f.Add("VISA CREDIT", "Test Shop", "6230 **** 0012", "A1B2C3", "51")
	f.Add("\u202eX\x1b", "\x00", "4761739001010010", "\n", "\u200f")
	f.Fuzz(func(t *testing.T, label, merchant, account, auth, rc string) {
		for _, p := range []Phase{PhaseIdle, PhaseSelectApp, PhasePassword, PhaseApproved, PhaseDeclined} {
			sc := Render(State{Phase: p, Apps: []string{label, label}, Merchant: merchant, Message: account,
				MaskedPAN: account, AuthCode: auth, ResponseCode: rc, Amount: "1.00", Currency: "CNY"})
			for _, l := range append([]string{sc.Title, sc.TitleZH}, sc.Lines...) {
				for _, r := range l {
					if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
						t.Fatalf("%s: %q holds %U", p, l, r)
					}
				}
			}
		}
	})
}

// A face-pay platform may name no account: the password prompt then asks
// for "your" payment password, not for that of a blank.
func TestPasswordPromptWithoutAccount(t *testing.T) {
	sc := Render(State{Phase: PhasePassword, Amount: "8.00", Currency: "CNY"})
	if strings.HasSuffix(sc.Title, " of ") || strings.HasSuffix(strings.TrimSpace(sc.Title), "of") || strings.Contains(sc.TitleZH, "  ") {
		t.Errorf("prompt without an account: %q %q", sc.Title, sc.TitleZH)
	}
	sc = Render(State{Phase: PhasePassword, Amount: "8.00", Currency: "CNY", Message: "6230 **** 0012"})
	if !strings.Contains(sc.Title, "6230 **** 0012") || !strings.Contains(sc.TitleZH, "6230 **** 0012") {
		t.Errorf("prompt with an account: %q %q", sc.Title, sc.TitleZH)
	}
}

// A refund whose answer did not come is being reversed: the customer is
// told the refund (not "the payment", which reads as money coming back)
// is cancelled.
func TestReversedRefundSaysRefund(t *testing.T) {
	for _, reversed := range []bool{false, true} {
		sc := Render(State{Phase: PhaseUnknown, Kind: "refund", Reversed: reversed, Amount: "2.00", Currency: "CNY"})
		all := strings.Join(sc.Lines, "|")
		if strings.Contains(all, "payment") || !strings.Contains(all, "The refund") || !strings.Contains(all, "退货") {
			t.Errorf("refund reversed %v: %s", reversed, all)
		}
	}
	sc := Render(State{Phase: PhaseUnknown, Kind: "purchase", Amount: "2.00", Currency: "CNY"})
	if !strings.Contains(strings.Join(sc.Lines, "|"), "The payment is being cancelled") {
		t.Errorf("sale reversed: %q", sc.Lines)
	}
}

// A refund, a void or a completion goes to the card of its original
// payment: when it fails, the customer is not sent to another card or
// another way to pay.
func TestMoneyBackNotToAnotherCard(t *testing.T) {
	for _, kind := range []string{"refund", "void", "completion"} {
		for name, s := range outcomeStates() {
			s.Kind = kind
			all := strings.Join(Render(s).Lines, "|")
			if strings.Contains(all, "another card") || strings.Contains(all, "pay another way") || strings.Contains(all, "card or payment code") {
				t.Errorf("%s %s: %s", kind, name, all)
			}
		}
	}
	if all := strings.Join(Render(State{Phase: PhaseDeclined, ResponseCode: "05", Kind: "purchase"}).Lines, "|"); !strings.Contains(all, "another card") {
		t.Errorf("sale declined: %s", all)
	}
}

// A sale that ended because the card was pulled out does not then ask
// the customer to remove it.
func TestNoRemoveReminderAfterCardRemoved(t *testing.T) {
	for _, s := range []State{
		{Phase: PhaseFailed, Failure: "card_removed", RemoveCard: true},
		{Phase: PhaseUnknown, Reversal: "card removed", RemoveCard: true},
	} {
		s.Amount, s.Currency = "1.00", "CNY"
		if all := strings.Join(Render(s).Lines, "|"); strings.Contains(all, "Please remove your card") {
			t.Errorf("%s: %s", s.Phase, all)
		}
	}
	if all := strings.Join(Render(State{Phase: PhaseFailed, Failure: "no_response", RemoveCard: true}).Lines, "|"); !strings.Contains(all, "Please remove your card") {
		t.Errorf("no reminder: %s", all)
	}
}

// A PIN entry that timed out may have had digits typed: the screen says
// the entry timed out, not that no PIN was entered.
func TestPINTimeoutSaysTimedOut(t *testing.T) {
	sc := Render(State{Phase: PhaseFailed, Failure: "pin_timeout", PINDigits: 1, Amount: "1.00", Currency: "CNY"})
	all := strings.Join(sc.Lines, "|")
	if strings.Contains(all, "No PIN") || strings.Contains(all, "未输入") || !strings.Contains(all, "timed out") || !strings.Contains(all, "超时") {
		t.Errorf("PIN timeout: %s", all)
	}
}

// A card pulled out too early: the customer cannot pay again alone, and a
// refund says the money did not go back; neither screen asks to "pay
// again".
func TestCardRemovedWordedPerKind(t *testing.T) {
	for _, s := range []State{
		{Phase: PhaseFailed, Failure: "card_removed"},
		{Phase: PhaseFailed, Failure: "card_removed", Kind: "purchase"},
		{Phase: PhaseFailed, Failure: "card_removed", Kind: "refund"},
		{Phase: PhaseFailed, Failure: "card_removed", Kind: "preauth"},
		{Phase: PhaseUnknown, Reversal: "card removed"},
		{Phase: PhaseUnknown, Reversal: "card removed", Kind: "refund"},
	} {
		s.Amount, s.Currency, s.RemoveCard = "1.00", "CNY", true
		all := strings.Join(Render(s).Lines, "|")
		if strings.Contains(all, "pay again") || strings.Contains(all, "重新支付") || !strings.Contains(all, "The cashier will start again") {
			t.Errorf("%s %q: %s", s.Phase, s.Kind, all)
		}
		if s.Kind == "refund" && s.Phase == PhaseFailed && !strings.Contains(all, "Card removed: the refund was not made / 卡片已取出，退货未完成") {
			t.Errorf("refund, card removed: %s", all)
		}
	}
}
