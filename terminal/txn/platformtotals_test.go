package txn

import (
	"reflect"
	"testing"

	"posd/terminal/store"
	"posd/terminal/store/storetest"
)

// A batch's wallet and face-pay takings are totalled per currency and
// platform from its records as the acquirer's totals are from its cards:
// approved sales and refunds, voided or reversed ones, those still in
// doubt, card transactions and other batches left out.
func TestPlatformTotals(t *testing.T) {
	db := openDB(t)
	wallet := func(platform string) *store.Wallet {
		return &store.Wallet{Platform: platform, OrderID: "P1", PlatformTxnID: "X1"}
	}
	face := &store.Face{MaskedAccount: "138****0000", PlatformTxnID: "FP1"}
	batch1 := []store.Txn{
		{Kind: "purchase", Amount: 888, Currency: "156", State: store.StateApproved, Wallet: wallet("wechat")},
		{Kind: "purchase", Amount: 2372, Currency: "156", State: store.StateApproved, Wallet: &store.Wallet{Platform: "unionpay", OrderID: "P2", MerchantPresented: true}},
		{Kind: "purchase", Amount: 8800, Currency: "156", State: store.StateApproved, EntryMode: "face", Face: face},
		{Kind: "refund", Amount: 300, Currency: "156", State: store.StateApproved, Wallet: &store.Wallet{Platform: "wechat", OrderID: "P1", RefundID: "R1", PlatformTxnID: "X1RR1"}},
		// Left out: a card sale (the acquirer's), a wallet sale
		// reversed, one voided, a refund still in doubt, a failed one.
		{Kind: "purchase", Amount: 1234, Currency: "156", State: store.StateApproved, MaskedPAN: "476173******0010"},
		{Kind: "purchase", Amount: 500, Currency: "156", State: store.StateReversalPending, Wallet: wallet("alipay")},
		{Kind: "purchase", Amount: 700, Currency: "156", State: store.StateApproved, VoidedBy: "99", Wallet: wallet("alipay")},
		{Kind: "refund", Amount: 100, Currency: "156", State: store.StateAuthSent, Wallet: &store.Wallet{Platform: "wechat", OrderID: "P1", RefundID: "R2"}},
		{Kind: "purchase", Amount: 900, Currency: "156", State: store.StateFailed, Face: face},
		// Another currency.
		{Kind: "purchase", Amount: 1000, Currency: "344", State: store.StateApproved, Wallet: wallet("alipay")},
	}
	for i := range batch1 {
		batch1[i].Batch = 1
	}
	storetest.Seed(t, db, batch1, nil)
	storetest.Seed(t, db, []store.Txn{{Kind: "purchase", Amount: 9999, Currency: "156", State: store.StateApproved, Batch: 2, Wallet: wallet("wechat")}}, nil)
	e, err := New(Opts{Store: db, Host: approveAll(), Keys: newKeys(t), Reader: newReader(), MaxAmount: 100000, Currencies: []string{"156"}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Halt()

	got, err := e.PlatformTotals(1)
	if err != nil {
		t.Fatal(err)
	}
	want := []PlatformTotal{
		{Currency: "156", Platform: "wechat", SaleCount: 1, SaleAmount: 888, RefundCount: 1, RefundAmount: 300},
		{Currency: "156", Platform: "unionpay", SaleCount: 1, SaleAmount: 2372},
		{Currency: "156", Platform: PlatformFace, SaleCount: 1, SaleAmount: 8800},
		{Currency: "344", Platform: "alipay", SaleCount: 1, SaleAmount: 1000},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("batch 1:\n got %+v\nwant %+v", got, want)
	}
	got, err = e.PlatformTotals(2)
	if err != nil {
		t.Fatal(err)
	}
	if want := []PlatformTotal{{Currency: "156", Platform: "wechat", SaleCount: 1, SaleAmount: 9999}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("batch 2: %+v", got)
	}
	if got, err := e.PlatformTotals(3); err != nil || len(got) != 0 {
		t.Fatalf("an empty batch: %+v, %v", got, err)
	}
}
