package txn

import (
	"errors"
	"strings"
	"testing"

	"posd/terminal/host"
	"posd/terminal/store"
)

// A refusal tells the cashier what can be done instead, and never to
// refund a refund: a wallet refund stands, a card refund of a closed
// batch is taken back (if at all) by a new sale; a face payment is
// refunded on the face-pay platform's side.
func TestOriginalRefusalsNameTheRemedy(t *testing.T) {
	db := openDB(t)
	if err := db.Do(func(tx *store.Tx) error { _, err := tx.CloseBatch(); return err }); err != nil {
		t.Fatal(err)
	}
	open := db.OpenBatch()
	if open < 2 {
		t.Fatalf("open batch %d after a close", open)
	}
	approved := func(id, kind string, batch uint32) store.Txn {
		return store.Txn{ID: id, Kind: kind, State: store.StateApproved, Amount: 1000, Currency: "156", Batch: batch}
	}
	walletSale, walletRefund := approved("13", "purchase", open), approved("14", "refund", open)
	walletSale.Wallet, walletRefund.Wallet = &store.Wallet{Platform: "wechat"}, &store.Wallet{Platform: "wechat"}
	faceSale := approved("11", "purchase", open)
	faceSale.Face = &store.Face{}
	for _, c := range []struct {
		what     string
		kind     host.Kind
		orig     store.Txn
		has, not []string
	}{
		{"void of a wallet sale", host.KindVoid, walletSale, []string{"refund it"}, nil},
		{"void of a wallet refund", host.KindVoid, walletRefund, []string{"wallet refund", "cannot be voided"}, []string{"refund it"}},
		{"void of a closed batch's sale", host.KindVoid, approved("1109", "purchase", 1), []string{"closed", "refund it instead"}, nil},
		{"void of a closed batch's refund", host.KindVoid, approved("1110", "refund", 1), []string{"closed", "cannot be voided", "new sale"}, []string{"refund it"}},
		{"void of a face sale", host.KindVoid, faceSale, []string{"paid by face", "refund", "face-pay platform's side"}, []string{"the face-pay platform refunds it"}},
		{"refund of a face sale", host.KindRefund, faceSale, []string{"paid by face", "refund", "face-pay platform's side"}, []string{"the face-pay platform refunds it"}},
	} {
		var err error
		if verr := db.View(func(tx *store.Tx) error { err = usableOriginal(tx, c.kind, c.orig); return nil }); verr != nil {
			t.Fatal(verr)
		}
		if !errors.Is(err, ErrOriginal) {
			t.Errorf("%s: %v, want ErrOriginal", c.what, err)
			continue
		}
		for _, s := range c.has {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: %q does not say %q", c.what, err, s)
			}
		}
		for _, s := range c.not {
			if strings.Contains(err.Error(), s) {
				t.Errorf("%s: %q says %q", c.what, err, s)
			}
		}
	}
}
