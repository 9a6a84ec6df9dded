package api

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"posd/terminal/store"
)

// What a sale's refunds add up to is shown in its currency, and not at
// all on a record nothing was refunded of.
func TestViewShowsRefunded(t *testing.T) {
	v := view(store.Txn{ID: "1", Kind: "purchase", State: store.StateApproved, Amount: 1000, Currency: "156", Refunded: 600})
	if v.Refunded != "6.00" {
		t.Fatalf("refunded %q, want 6.00", v.Refunded)
	}
	raw, _ := json.Marshal(view(store.Txn{ID: "2", Kind: "purchase", State: store.StateApproved, Amount: 1000, Currency: "156"}))
	if strings.Contains(string(raw), "refunded") {
		t.Fatalf("a record with no refunds shows one: %s", raw)
	}
}

// A transaction settled by hand shows who settled it, when, why it had
// been set aside, the outcome and the reference; others show nothing.
func TestViewShowsSettledByHand(t *testing.T) {
	at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	raw, _ := json.Marshal(view(store.Txn{ID: "3", Kind: "purchase", State: store.StateOfflineApproved, Amount: 200, Currency: "156",
		AdviceCode: "Q1", Hand: &store.Hand{At: at, By: "adam (admin)", Why: "advice_refused", Outcome: "settled", Ref: "ACQ 7781"}}))
	want := `"settled_by_hand":{"at":"2026-11-29T10:00:00Z","by":"adam (admin)","why":"advice_refused","outcome":"settled","reference":"ACQ 7781"}`
	if !strings.Contains(string(raw), want) {
		t.Fatalf("view: %s\nwant %s", raw, want)
	}
	raw, _ = json.Marshal(view(store.Txn{ID: "4", Kind: "purchase", State: store.StateApproved, Amount: 1000, Currency: "156"}))
	if strings.Contains(string(raw), "settled_by_hand") {
		t.Fatalf("a record not settled by hand shows it: %s", raw)
	}
}
