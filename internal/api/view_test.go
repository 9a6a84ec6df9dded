package api

import (
	"encoding/json"
	"strings"
	"testing"

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
