package api

import (
	"strings"
	"testing"
	"time"

	"posd/terminal/pin"
	"posd/terminal/risk"
	"posd/terminal/store"
	"posd/terminal/txn"
	"posd/ui"
)

// Every failure code of the engine, and every risk rule, has the
// customer's words in ui.
func TestEveryFailureHasDisplayText(t *testing.T) {
	for _, f := range txn.Failures {
		if _, _, known := ui.FailureText(string(f)); !known {
			t.Errorf("no display text for failure %q", f)
		}
	}
	for _, c := range risk.Codes {
		if _, _, known := ui.RiskText(string(c)); !known {
			t.Errorf("no display text for risk rule %q", c)
		}
	}
}

func TestDisplayFollowsEvents(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	rec := store.Txn{ID: "1", Amount: 1234, Currency: "156", State: store.StateCreated}
	for _, c := range []struct {
		phase txn.Phase
		state store.State
		fail  string
		at    time.Time
		want  ui.Phase
		retry bool
	}{
		{txn.PhaseIdle, "", "", now, ui.PhaseIdle, false},
		{txn.PhaseWaitCard, store.StateCreated, "", now, ui.PhaseCard, false},
		{txn.PhaseRetryCard, store.StateCreated, "", now, ui.PhaseCard, true},
		{txn.PhaseProcessing, store.StateAuthSent, "", now, ui.PhaseProcessing, false},
		{txn.PhaseDone, store.StateApproved, "", now, ui.PhaseApproved, false},
		{txn.PhaseDone, store.StateDeclined, "", now, ui.PhaseDeclined, false},
		{txn.PhaseDone, store.StateReversalPending, "", now, ui.PhaseUnknown, false},
		{txn.PhaseDone, store.StateFailed, "host_unreachable", now, ui.PhaseFailed, false},
		{txn.PhaseDone, store.StateApproved, "", now.Add(-time.Hour), ui.PhaseIdle, false},
	} {
		r := rec
		r.State, r.Failure = c.state, c.fail
		s := displayState(txn.Event{Phase: c.phase, Txn: r, Time: c.at}, "M", []risk.EntryMode{risk.EntrySwipe}, now)
		if s.Phase != c.want || s.Retry != c.retry || (c.want == ui.PhaseFailed && s.Failure != c.fail) {
			t.Errorf("%s/%s: %+v", c.phase, c.state, s)
		}
		if c.want != ui.PhaseIdle && (s.Amount != "12.34" || s.Currency != "CNY") {
			t.Errorf("%s: amount %q %q", c.phase, s.Amount, s.Currency)
		}
	}
}

// The display is told what kind of transaction runs, and a balance
// inquiry's answer.
func TestDisplayKnowsTheKindAndTheBalance(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	bal := int64(3644184)
	rec := store.Txn{ID: "9", Kind: "balance", Amount: 0, Currency: "156", State: store.StateApproved,
		Balance: &bal, BalanceCurrency: "156", MaskedPAN: "621234*********0012"}
	s := displayState(txn.Event{Phase: txn.PhaseDone, Txn: rec, Time: now}, "M", nil, now)
	if s.Kind != "balance" || s.Balance != "CNY 36441.84" {
		t.Fatalf("balance inquiry on the display: kind %q balance %q", s.Kind, s.Balance)
	}
	sc := ui.Render(s)
	if sc.Title != "Balance" || !strings.Contains(strings.Join(sc.Lines, "|"), "CNY 36441.84") {
		t.Fatalf("balance screen: %+v", sc)
	}
	rec = store.Txn{ID: "8", Kind: "refund", Amount: 200, Currency: "156", State: store.StateApproved}
	if s := displayState(txn.Event{Phase: txn.PhaseDone, Txn: rec, Time: now}, "M", nil, now); s.Kind != "refund" {
		t.Fatalf("refund on the display: kind %q", s.Kind)
	}
}

// A torn tap asks for the card again, not as an unreadable one.
func TestDisplayTapAgain(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	rec := store.Txn{ID: "1", Kind: "purchase", Amount: 1700, Currency: "156", State: store.StateCreated}
	s := displayState(txn.Event{Phase: txn.PhaseRetryCard, Prompt: "tap_again", Txn: rec, Time: now}, "M", nil, now)
	if s.Phase != ui.PhaseCard || s.Hint != "tap_again" || s.Retry {
		t.Fatalf("torn tap on the display: %+v", s)
	}
	s = displayState(txn.Event{Phase: txn.PhaseRetryCard, Prompt: "one_card", Txn: rec, Time: now}, "M", nil, now)
	if s.Phase != ui.PhaseCard || s.Hint != "one_card" || s.Retry {
		t.Fatalf("two cards on the display: %+v", s)
	}
	// A phone asking its holder to confirm on it: see phone, not unreadable.
	s = displayState(txn.Event{Phase: txn.PhaseRetryCard, Prompt: "see_phone", Txn: rec, Time: now}, "M", nil, now)
	if s.Phase != ui.PhaseCard || s.Hint != "see_phone" || s.Retry {
		t.Fatalf("see phone on the display: %+v", s)
	}
}

// The idle customer display welcomes the customer with the merchant's
// name (receipt.merchant_name, else the wallet's), not its acquirer id.
func TestDisplayWelcomesWithTheMerchantName(t *testing.T) {
	a, h := newTestAPI(t)
	a.d.Settings.Receipt.MerchantName = "POSD TEST SHOP"
	code, _, body := do(h, call{method: "GET", path: "/display.json"})
	if code != 200 || !strings.Contains(body, "POSD TEST SHOP") || strings.Contains(body, a.d.Config.Terminal.MerchantID) {
		t.Fatalf("welcome: %d %s", code, body)
	}
}

// A face payment's outcome is shown as face pay's (a declined "55" is
// the payment password).
func TestDisplayFacePay(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	rec := store.Txn{ID: "1", Kind: "purchase", Amount: 2000, Currency: "156", State: store.StateDeclined, ResponseCode: "55",
		Face: &store.Face{Status: "declined"}}
	if s := displayState(txn.Event{Phase: txn.PhaseDone, Txn: rec, Time: now}, "M", nil, now); !s.FacePay {
		t.Fatalf("face sale on the display: %+v", s)
	}
}

// A touch on "Pay by face" names the sale whose screen showed it: a
// touch on the screen of the sale before (still shown as the next
// started) switches nothing; the button of the sale in progress carries
// its id.
func TestChooseNamesItsSale(t *testing.T) {
	a, _ := newTestAPI(t)
	if err := a.choose("face"); err == nil {
		t.Fatal("a choice naming no sale was taken")
	}
	tx, err := a.d.Engine.StartSale(1000, "156")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.choose("face:999"); err == nil || !strings.Contains(err.Error(), "not of the sale in progress") {
		t.Fatalf("a choice from another sale's screen: %v", err)
	}
	now := time.Now()
	s := displayState(a.d.Engine.Last(), "M", nil, now)
	s.FaceChoice = true
	if sc := ui.Render(s); len(sc.Choices) != 1 || sc.Choices[0].ID != "face:"+tx.ID {
		t.Fatalf("choices on the sale's screen: %+v", sc.Choices)
	}
}

// Only a transaction that read the inserted card asks to remove it: a
// void or a completion carries its original's entry mode, with no card in
// the reader.
func TestDisplayAsksToRemoveOnlyACardItRead(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for kind, want := range map[string]bool{"purchase": true, "refund": true, "preauth": true, "balance": true, "void": false, "completion": false} {
		rec := store.Txn{ID: "10", Kind: kind, Amount: 100, Currency: "156", State: store.StateApproved, EntryMode: "051"}
		if s := displayState(txn.Event{Phase: txn.PhaseDone, Txn: rec, Time: now}, "M", nil, now); s.RemoveCard != want {
			t.Errorf("%s with entry mode 051: remove card %v, want %v", kind, s.RemoveCard, want)
		}
	}
}

// A key the PIN pad refused is said on the PIN and the password screens,
// next to the stars.
func TestDisplaySaysWhyAPINKeyWasRefused(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	rec := store.Txn{ID: "3", Kind: "purchase", Amount: 100, Currency: "156", State: store.StateCreated}
	for _, c := range []struct {
		prompt  string
		refused pin.State
		want    string
	}{
		{"", pin.StateTooShort, "Too few digits"},
		{"", pin.StateFull, "No more digits"},
		{"password", pin.StateTooShort, "Too few digits"},
		{"", "", ""},
	} {
		ev := txn.Event{Phase: txn.PhasePIN, Prompt: c.prompt, Txn: rec, Time: now, PINDigits: 2, PINRefused: c.refused}
		sc := ui.Render(displayState(ev, "M", nil, now))
		lines := strings.Join(sc.Lines, "|")
		if !strings.Contains(lines, "**") || c.want != "" && !strings.Contains(lines, c.want) ||
			c.want == "" && (strings.Contains(lines, "Too few") || strings.Contains(lines, "No more")) {
			t.Errorf("%q %q: %s", c.prompt, c.refused, lines)
		}
	}
}
