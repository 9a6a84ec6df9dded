package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"posd/terminal/engauth"
	"posd/terminal/facepay"
	"posd/terminal/store"
	"posd/terminal/store/storetest"
)

// asideStatus is what posctl status says about what to settle by hand.
type asideStatus struct {
	Console          string `json:"console"`
	PendingReversals int    `json:"pending_reversals"`
	SettleByHand     *struct {
		Count int `json:"count"`
		First []struct {
			ID  string `json:"id"`
			Why string `json:"why"`
		} `json:"first"`
	} `json:"settle_by_hand"`
}

func (e *env) asideStatus() asideStatus {
	e.t.Helper()
	out, _ := e.posctl("status")
	var st asideStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		e.t.Fatalf("status: %s", out)
	}
	return st
}

// TestSettleByHandOnTheConsole: a face payment its platform no longer
// reverses and an offline approval whose advice the host refused are
// listed to settle by hand; an admin records the face payment as
// refunded on the service console; it leaves settle_by_hand (and is no
// pending reversal), stays off after a restart, posctl txn show shows
// who settled it and how, and the audit log has it.
func TestSettleByHandOnTheConsole(t *testing.T) {
	e, cfg, keyFile, _ := consoleEnv(t)
	posd := start(t, "posd", []string{"-config", cfg}, posdReady)
	if err := posd.stop(t); err != nil {
		t.Fatalf("posd stopped with %v", err)
	}
	recs := []store.Txn{
		{Kind: "purchase", Amount: 3000, Currency: "156", State: store.StateReversalPending,
			Face: &store.Face{OrderID: "F1", Status: facepay.CodeReverseExpired}},
		{Kind: "purchase", Amount: 200, Currency: "156", State: store.StateOfflineApproved, STAN: 8, AdviceCode: "Q1"},
	}
	storetest.SeedDir(t, e.dataDir, recs)
	face, offline := recs[0].ID, recs[1].ID

	posd = start(t, "posd", []string{"-config", cfg}, posdReady)
	defer func() { posd.stop(t) }()
	st := e.asideStatus()
	if st.SettleByHand == nil || st.SettleByHand.Count != 2 || st.PendingReversals != 0 {
		t.Fatalf("before: %+v", st)
	}

	c := openTerm(t, st.Console)
	defer func() { c.close() }()
	c.send("\r")
	c.expect("posd> ")
	admin := func(ch string) string { return engineerToken(t, keyFile, ch, string(engauth.RoleAdmin), "adam") }
	if out := c.login(admin); !strings.Contains(out, "logged in as adam (admin)") {
		t.Fatalf("login: %q", out)
	}
	if out := c.cmd("aside list"); !strings.Contains(out, face) || !strings.Contains(out, "face_not_reversed") || !strings.Contains(out, "advice_refused") {
		t.Fatalf("aside list: %q", out)
	}
	c.send("aside settle " + face + " refunded FP-CASE 12\r")
	if out := c.expect("confirm: "); !strings.Contains(out, "face_not_reversed") || !strings.Contains(out, "CNY 30.00") {
		t.Fatalf("before the confirmation: %q", out)
	}
	c.send(face + "\r")
	if out := c.expect("> "); !strings.Contains(out, "settled by hand: refunded, reference FP-CASE 12") {
		t.Fatalf("settle: %q", out)
	}

	check := func(when string) {
		t.Helper()
		st := e.asideStatus()
		if st.SettleByHand == nil || st.SettleByHand.Count != 1 || st.SettleByHand.First[0].ID != offline || st.PendingReversals != 0 {
			t.Fatalf("%s: %+v", when, st)
		}
		out, _ := e.posctl("txn", "show", face)
		var v struct {
			State string `json:"state"`
			Hand  *struct {
				By, Why, Outcome, Reference string
			} `json:"settled_by_hand"`
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil || v.Hand == nil || v.Hand.By != "adam (admin)" || v.Hand.Why != "face_not_reversed" ||
			v.Hand.Outcome != "refunded" || v.Hand.Reference != "FP-CASE 12" || v.State != "reversal_pending" {
			t.Fatalf("%s: txn show %s: %s", when, face, out)
		}
	}
	check("at once")
	c.cmd("logout")
	c.close()
	if err := posd.stop(t); err != nil {
		t.Fatalf("posd stopped with %v", err)
	}
	posd = start(t, "posd", []string{"-config", cfg}, posdReady)
	check("after a restart")
	out, _ := e.posctl("audit", "--limit", "50")
	if !strings.Contains(out, "settle_by_hand") || !strings.Contains(out, face+" refunded reference FP-CASE 12: recorded") {
		t.Fatalf("audit: %s", out)
	}
}
