package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// walletView is what these tests read of a wallet record.
type walletView struct {
	txnView
	Wallet *struct {
		Platform      string `json:"platform"`
		OrderID       string `json:"order_id"`
		PlatformTxnID string `json:"platform_txn_id"`
		MaskedCode    string `json:"masked_code"`
	} `json:"wallet"`
}

// TestWalletSalesEndToEnd: scan sales at acquirer-sim's wallet platforms
// through the simulated scanner: one approved per platform, a "user
// paying" resolved by queries, one that never resolves cancelled at the
// end of its schedule, an unknown code refused with nothing sent, a
// refund of a wallet sale; no full payment code anywhere.
func TestWalletSalesEndToEnd(t *testing.T) {
	dir := t.TempDir()
	walletAddr := freePort(t)
	walletJournal := filepath.Join(dir, "wallet.jsonl")
	e, acq, cfg := newEnv(t, []string{"-wallet", walletAddr, "-wallet-journal", walletJournal, "-wallet-pay-after", "2"}, nil)
	editConfig(t, cfg, func(c map[string]any) {
		c["wallet"] = map[string]any{"url": "http://" + walletAddr, "query_first": "200ms", "query_total": "3s", "query_rate": 5}
	})
	posd := start(t, "posd", []string{"-config", cfg}, posdReady)
	defer posd.stop(t)

	codes := map[string]string{"wechat": "134567890123456789", "alipay": "281234567890123456", "unionpay": "6212345678901234567"}
	var printed strings.Builder
	var firstID string
	for platform, code := range codes {
		v, exit := e.run([]string{"sale", "--amount", "12.00", "--method", "qr"}, "qr:"+code)
		var w walletView
		e.showInto(v.ID, &w)
		printed.WriteString(e.txnJSON(v.ID))
		if v.State != "approved" || exit != 0 || w.Wallet == nil || w.Wallet.Platform != platform || w.Wallet.PlatformTxnID == "" {
			t.Fatalf("%s: %+v %+v exit %d", platform, v, w.Wallet, exit)
		}
		if firstID == "" {
			firstID = v.ID
		}
	}
	// The customer confirms on the phone: the queries find it paid. (A
	// fresh code: a wallet's codes are one-time, and the camera does not
	// read the code it read last again while it stays in view.)
	if v, _ := e.run([]string{"sale", "--amount", "12.61", "--method", "qr"}, "qr:134567890123456780"); v.State != "approved" {
		t.Fatalf("user paying: %+v", v)
	}
	// Never confirmed: cancelled at the end of the schedule.
	if v, _ := e.run([]string{"sale", "--amount", "12.62", "--method", "qr"}, "qr:281234567890123450"); v.State != "failed" || v.Failure != "wallet_failed" {
		t.Fatalf("never confirmed: %+v", v)
	}
	// The platform charged one fen more than asked: never an approval;
	// the order is cancelled, the platform gives the money back.
	if v, _ := e.run([]string{"sale", "--amount", "12.66", "--method", "qr"}, "qr:134567890123456781"); v.State != "failed" ||
		v.Failure != "wallet_failed" || !strings.Contains(v.Error, "the order is 1266 156; order cancelled (refunded)") {
		t.Fatalf("charged another amount: %+v", v)
	}
	// Not a payment code: nothing reaches a platform.
	before, _ := os.ReadFile(walletJournal)
	if v, _ := e.run([]string{"sale", "--amount", "12.00", "--method", "qr"}, "qr:HELLO-WORLD"); v.State != "failed" || v.Failure != "not_payment_code" {
		t.Fatalf("unknown code: %+v", v)
	}
	if after, _ := os.ReadFile(walletJournal); len(after) != len(before) {
		t.Fatal("an unknown code reached the platform")
	}
	// A refund of a wallet sale goes back through its platform.
	out, code := e.posctl("refund", "--amount", "5.00", "--orig", firstID, "--wait")
	printed.WriteString(out)
	if code != 0 || !strings.Contains(out, `"approved"`) {
		t.Fatalf("wallet refund: exit %d %s", code, out)
	}
	list, _ := e.posctl("txn", "list", "--limit", "100")
	printed.WriteString(list)
	if err := posd.stop(t); err != nil {
		t.Fatal(err)
	}
	acq.stop(t)
	journal, _ := os.ReadFile(walletJournal)
	db, _ := os.ReadFile(filepath.Join(e.dataDir, "posd.db"))
	for what, data := range map[string]string{"posd's log": posd.stderr.String(), "the wallet journal": string(journal),
		"posd.db": string(db), "posctl output": printed.String()} {
		for _, c := range codes {
			if strings.Contains(data, c) {
				t.Errorf("%s holds a full payment code", what)
			}
		}
	}
}

// txnJSON is posctl txn show's output.
func (e *env) txnJSON(id string) string {
	out, _ := e.posctl("txn", "show", id)
	return out
}
