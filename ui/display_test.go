package ui

import (
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	base := State{Merchant: "Test Shop", Amount: "12.34", Currency: "CNY", MaskedPAN: "476173******0010"}
	cases := []struct {
		phase Phase
		rc    string
		tone  Tone
		want  []string
	}{
		{PhaseIdle, "", ToneNeutral, []string{"Welcome", "Test Shop"}},
		{PhaseCard, "", ToneNeutral, []string{"swipe", "CNY 12.34"}},
		{PhaseProcessing, "", ToneBusy, []string{"Processing", "476173******0010"}},
		{PhaseApproved, "00", ToneOK, []string{"Approved", "Auth code / 授权码 A1B2C3"}},
		{PhaseDeclined, "51", ToneError, []string{"Declined", "Insufficient funds", "余额不足", "Response code 51 / 应答码 51"}},
		{PhaseDeclined, "Z9", ToneError, []string{"Declined by the bank"}},
		{PhaseUnknown, "", ToneError, []string{"Not completed", "cancelled"}},
		{PhaseFailed, "", ToneError, []string{"Not completed", "Bank not reachable", "无法连接银行"}},
	}
	for _, c := range cases {
		s := base
		s.Phase, s.ResponseCode, s.AuthCode, s.Failure = c.phase, c.rc, "A1B2C3", "host_unreachable"
		sc := Render(s)
		all := sc.Title + "\n" + sc.TitleZH + "\n" + strings.Join(sc.Lines, "\n")
		for _, w := range c.want {
			if !strings.Contains(all, w) {
				t.Errorf("%s/%s: %q missing from\n%s", c.phase, c.rc, w, all)
			}
		}
		if sc.Tone != c.tone || sc.Phase != c.phase || sc.TitleZH == "" {
			t.Errorf("%s: tone %s phase %s zh %q", c.phase, sc.Tone, sc.Phase, sc.TitleZH)
		}
		for _, l := range sc.Lines {
			if strings.TrimSpace(l) == "" {
				t.Errorf("%s: empty line", c.phase)
			}
		}
	}
	if sc := Render(State{Phase: "bogus"}); sc.Phase != PhaseIdle {
		t.Errorf("unknown phase renders %s", sc.Phase)
	}
}

func TestRetryAndUnknownFailure(t *testing.T) {
	sc := Render(State{Phase: PhaseCard, Retry: true, Entry: []string{"swipe"}, Amount: "1.00", Currency: "CNY"})
	if sc.Title != "Please swipe your card again" || sc.TitleZH != "请重新刷卡" || sc.Tone != ToneBusy {
		t.Fatalf("retry prompt: %+v", sc)
	}
	sc = Render(State{Phase: PhaseFailed, Failure: "something_new"})
	if !strings.Contains(strings.Join(sc.Lines, "|"), "Transaction failed") {
		t.Fatalf("unknown failure: %+v", sc)
	}
}

func TestCardPrompt(t *testing.T) {
	for _, c := range []struct {
		entry  []string
		en, zh string
	}{
		{[]string{"swipe"}, "Please swipe your card", "请刷卡"},
		{[]string{"swipe", "tap"}, "Please tap or swipe your card", "请挥卡、刷卡"},
		{nil, "Please insert, tap or swipe your card", "请插卡、挥卡、刷卡"},
		{[]string{"qr"}, "Please show your payment code", "请出示付款码"},
		{[]string{"face"}, "Please present your card", "请出示银行卡"},
	} {
		en, zh := cardPrompt(c.entry)
		if en != c.en || zh != c.zh {
			t.Errorf("cardPrompt(%v) = %q %q", c.entry, en, zh)
		}
	}
}

// A sale being reversed says why: the bank did not answer, the card was
// pulled out too early, the card refused after the bank approved.
func TestReversalReasons(t *testing.T) {
	for reason, want := range map[string]string{
		"":             "No answer from the bank",
		"no response":  "No answer from the bank",
		"card removed": "Card removed too early",
		"other":        "The card refused the payment",
	} {
		sc := Render(State{Phase: PhaseUnknown, Reversal: reason, Amount: "1.00", Currency: "CNY"})
		if all := strings.Join(sc.Lines, "|"); !strings.Contains(all, want) || !strings.Contains(all, "cancelled") {
			t.Errorf("reversal %q: %+v", reason, sc)
		}
	}
}

// A sale paid with an inserted card ends with a reminder to take it, on
// every outcome; other sales do not.
func TestRemoveCardReminder(t *testing.T) {
	for _, p := range []Phase{PhaseApproved, PhaseDeclined, PhaseUnknown, PhaseFailed} {
		sc := Render(State{Phase: p, Amount: "1.00", Currency: "CNY", RemoveCard: true})
		if !strings.Contains(strings.Join(sc.Lines, "|"), "Please remove your card / 请取卡") {
			t.Errorf("%s with the card inserted: %+v", p, sc)
		}
		if sc := Render(State{Phase: p, Amount: "1.00", Currency: "CNY"}); strings.Contains(strings.Join(sc.Lines, "|"), "remove") {
			t.Errorf("%s without an inserted card: %+v", p, sc)
		}
	}
	if sc := Render(State{Phase: PhaseCard, RemoveCard: true}); strings.Contains(strings.Join(sc.Lines, "|"), "remove") {
		t.Errorf("a reminder before the outcome: %+v", sc)
	}
}

// The liveness check's prompts: the challenge as the title, a hint below
// it (a second check in the same sale says "once more").
func TestFaceCheckHints(t *testing.T) {
	for hint, want := range map[string]string{"": "", "one face only please": "Only the payer", "try again": "once more, please"} {
		sc := Render(State{Phase: PhaseFaceCheck, Challenge: "left", Message: hint, Amount: "8.00", Currency: "CNY"})
		all := strings.Join(sc.Lines, "|")
		if sc.Title != "Please turn your head to your left" || !strings.Contains(all, want) || (want == "" && len(sc.Lines) != 1) {
			t.Errorf("hint %q: %+v", hint, sc)
		}
	}
}

// An approval the card verified by signature asks for it on the receipt;
// others do not.
func TestSignatureLine(t *testing.T) {
	sc := Render(State{Phase: PhaseApproved, Amount: "1.00", Currency: "CNY", Signature: true})
	if !strings.Contains(strings.Join(sc.Lines, "|"), "Please sign the receipt / 请在签购单上签名") {
		t.Errorf("approved by signature: %+v", sc)
	}
	for _, s := range []State{{Phase: PhaseApproved}, {Phase: PhaseDeclined, Signature: true}} {
		if sc := Render(s); strings.Contains(strings.Join(sc.Lines, "|"), "sign") {
			t.Errorf("%+v asks for a signature: %+v", s, sc)
		}
	}
}

// What the cashier started is on the screen: a refund, a void or a
// pre-authorization is not shown as a charge ("Approved CNY 80.00"), a
// balance inquiry shows the balance and no amount, and only a sale offers
// to pay by face.
func TestTransactionKindOnScreen(t *testing.T) {
	all := func(sc Screen) string { return sc.Title + "|" + sc.TitleZH + "|" + strings.Join(sc.Lines, "|") }
	base := State{Amount: "80.00", Currency: "CNY", MaskedPAN: "476173******0011", AuthCode: "A1B2C3", FaceChoice: true}
	for kind, want := range map[string][2]string{
		"":           {"Approved", "交易成功"},
		"purchase":   {"Approved", "交易成功"},
		"refund":     {"Refund approved", "退货成功"},
		"void":       {"Void approved", "撤销成功"},
		"preauth":    {"Pre-authorization approved", "预授权成功"},
		"completion": {"Completion approved", "预授权完成成功"},
	} {
		s := base
		s.Phase, s.Kind = PhaseApproved, kind
		if sc := Render(s); sc.Title != want[0] || sc.TitleZH != want[1] || !strings.Contains(all(sc), "CNY 80.00") {
			t.Errorf("%q approved: %s", kind, all(sc))
		}
		s.Phase = PhaseCard
		sc := Render(s)
		if face := len(sc.Choices) > 0; face != (kind == "" || kind == "purchase") {
			t.Errorf("%q waiting for a card offers face pay: %v", kind, face)
		}
		if kind == "refund" && !strings.Contains(all(sc), "Refund / 退货") {
			t.Errorf("refund waiting for a card: %s", all(sc))
		}
	}
	// The void of a pre-authorization is its cancellation.
	s := base
	s.Phase, s.Kind, s.OrigKind = PhaseApproved, "void", "preauth"
	if sc := Render(s); sc.Title != "Pre-authorization released" || sc.TitleZH != "预授权撤销成功" ||
		!strings.Contains(all(sc), "Pre-authorization void / 预授权撤销") || !strings.Contains(all(sc), "|CNY 80.00|") {
		t.Errorf("preauth void approved: %s", all(sc))
	}
	s.OrigKind = "purchase"
	if sc := Render(s); sc.Title != "Void approved" {
		t.Errorf("sale void approved: %s", all(sc))
	}
	s = base
	s.Kind, s.Amount, s.Phase = "balance", "0.00", PhaseCard
	if sc := Render(s); strings.Contains(all(sc), "0.00") || !strings.Contains(all(sc), "Balance inquiry / 余额查询") {
		t.Errorf("balance inquiry waiting for a card: %s", all(sc))
	}
	s.Phase, s.Balance = PhaseApproved, "CNY 36441.84"
	if sc := Render(s); sc.Title != "Balance" || sc.TitleZH != "余额" || !strings.Contains(all(sc), "CNY 36441.84") || strings.Contains(all(sc), "0.00") {
		t.Errorf("balance inquiry answered: %s", all(sc))
	}
	// A payment with no auth code (wallet, face) shows no empty "Auth code".
	s = base
	s.Phase, s.AuthCode = PhaseApproved, ""
	if sc := Render(s); strings.Contains(all(sc), "Auth code") {
		t.Errorf("approved without an auth code: %s", all(sc))
	}
}

// A contactless card that left the field too early is asked for again.
func TestTapAgainPrompt(t *testing.T) {
	sc := Render(State{Phase: PhaseCard, Hint: "tap_again", Amount: "17.00", Currency: "CNY"})
	all := sc.Title + "|" + sc.TitleZH + "|" + strings.Join(sc.Lines, "|")
	if sc.Title != "Please insert, tap or swipe your card again" || sc.TitleZH != "请重新插卡、挥卡、刷卡" || !strings.Contains(all, "too soon") || sc.Tone != ToneBusy {
		t.Fatalf("tap again: %s", all)
	}
}

// A face payment declined for its payment password says so, not "PIN".
func TestFacePasswordDecline(t *testing.T) {
	sc := Render(State{Phase: PhaseDeclined, ResponseCode: "55", FacePay: true, Amount: "20.00", Currency: "CNY"})
	all := strings.Join(sc.Lines, "|")
	if !strings.Contains(all, "Incorrect payment password") || !strings.Contains(all, "支付密码错误") || strings.Contains(all, "PIN") {
		t.Fatalf("face pay declined 55: %s", all)
	}
	card := strings.Join(Render(State{Phase: PhaseDeclined, ResponseCode: "55", Amount: "20.00", Currency: "CNY"}).Lines, "|")
	if !strings.Contains(card, "Incorrect PIN") {
		t.Fatalf("card declined 55: %s", card)
	}
}

// Two cards in the contactless field: present one card only.
func TestOneCardPrompt(t *testing.T) {
	sc := Render(State{Phase: PhaseCard, Hint: "one_card", Amount: "17.00", Currency: "CNY"})
	all := sc.Title + "|" + sc.TitleZH + "|" + strings.Join(sc.Lines, "|")
	if sc.Title != "Present one card only" || sc.TitleZH != "请只出示一张卡" || strings.Contains(all, "could not be read") {
		t.Fatalf("one card: %s", all)
	}
}

// A phone that asks its holder to confirm on it: look at the phone, then
// tap again (never "could not be read").
func TestSeePhonePrompt(t *testing.T) {
	sc := Render(State{Phase: PhaseCard, Hint: "see_phone", Amount: "17.00", Currency: "CNY"})
	all := sc.Title + "|" + sc.TitleZH + "|" + strings.Join(sc.Lines, "|")
	if sc.Title != "See your phone" || sc.TitleZH != "请查看手机" || !strings.Contains(all, "tap it again") || strings.Contains(all, "could not be read") {
		t.Fatalf("see phone: %s", all)
	}
}

// Once the host acknowledged the reversal, the screen says the payment
// was cancelled, not that it is being cancelled.
func TestReversedSaysCancelled(t *testing.T) {
	sc := Render(State{Phase: PhaseUnknown, Reversal: "no response", Reversed: true, Amount: "4.91", Currency: "CNY"})
	all := strings.Join(sc.Lines, "|")
	if !strings.Contains(all, "payment was cancelled") || !strings.Contains(all, "交易已撤销") || strings.Contains(all, "being cancelled") {
		t.Fatalf("reversed: %+v", sc)
	}
}

// Closing the batch is the cashier's business: the customer display shows
// neither its progress nor its outcome (the batch's totals are no
// customer's payment), it stays on the welcome screen.
func TestSettlementNotOnCustomerDisplay(t *testing.T) {
	for _, p := range []Phase{PhaseProcessing, PhaseApproved, PhaseDeclined, PhaseFailed} {
		sc := Render(State{Phase: p, Kind: "settlement", Merchant: "Test Shop", Amount: "1234.00", Currency: "CNY",
			ResponseCode: "95", Failure: "settlement_failed"})
		all := sc.Title + "|" + strings.Join(sc.Lines, "|")
		if sc.Phase != PhaseIdle || strings.Contains(all, "1234.00") || !strings.Contains(all, "Test Shop") {
			t.Errorf("settlement %s on the customer display: %s", p, all)
		}
	}
}

// A chip card that declined by itself (Z1 offline, Z3 when the bank could
// not be reached) is not reported as the bank's or the issuer's refusal.
func TestCardDeclinedOffline(t *testing.T) {
	for _, rc := range []string{"Z1", "Z3"} {
		en, zh, known := DeclineText(rc)
		sc := Render(State{Phase: PhaseDeclined, ResponseCode: rc, Amount: "3.00", Currency: "CNY"})
		all := strings.Join(sc.Lines, "|")
		if !known || !strings.Contains(en, "card") || !strings.Contains(zh, "卡") ||
			strings.Contains(all, "issuer") || strings.Contains(all, "发卡行拒绝") || !strings.Contains(all, en+" / "+zh) {
			t.Errorf("%s: %q %q known %v; screen %s", rc, en, zh, known, all)
		}
	}
}

// A card pulled out after the first GENERATE AC (a reversal) and one
// pulled out or moved away before (a failure) are worded alike.
func TestCardRemovedWordedOnce(t *testing.T) {
	if rev, fail := reversalText["card removed"], failureText["card_removed"]; rev != fail || rev[0] == "" || rev[1] == "" {
		t.Fatalf("reversal %q, failure %q", rev, fail)
	}
}

// A decline 77 (the bank closed the batch: a close whose answer was
// lost) tells the cashier to settle again, not a generic refusal; the
// terminal's own hint after such a close says the same.
func TestBatchClosedDeclineSaysSettleAgain(t *testing.T) {
	en, zh, known := DeclineText("77")
	if !known || !strings.Contains(en, "settle the batch again") || !strings.Contains(zh, "请重新结算") {
		t.Errorf("77: %q %q known %v", en, zh, known)
	}
	sc := Render(State{Phase: PhaseDeclined, ResponseCode: "77", Amount: "3.00", Currency: "CNY"})
	if all := strings.Join(sc.Lines, "|"); !strings.Contains(all, en+" / "+zh) || strings.Contains(all, "Declined by the bank") {
		t.Errorf("77 on the display: %s", all)
	}
	if en, zh, known := BatchText("settle_again"); !known || !strings.Contains(en, "settle the batch again") || !strings.Contains(zh, "请重新结算") {
		t.Errorf("settle_again: %q %q known %v", en, zh, known)
	}
}
