package e2e

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// kindView is what these tests read of a record.
type kindView struct {
	txnView
	Kind        string `json:"kind"`
	Batch       uint32 `json:"batch"`
	Invoice     uint32 `json:"invoice"`
	OrigID      string `json:"orig_id"`
	VoidedBy    string `json:"voided_by"`
	CompletedBy string `json:"completed_by"`
	Refunded    string `json:"refunded"`
	Balance     string `json:"balance"`
	Totals      []struct {
		Currency     string `json:"currency"`
		DebitCount   int    `json:"debit_count"`
		DebitAmount  string `json:"debit_amount"`
		CreditCount  int    `json:"credit_count"`
		CreditAmount string `json:"credit_amount"`
		ResponseCode string `json:"response_code"`
	} `json:"totals"`
}

func (e *env) kindShow(id string) kindView {
	e.t.Helper()
	var v kindView
	e.showInto(id, &v)
	return v
}

// TestEveryKindAtTheHost: a merchant's day on posd and acquirer-sim, in
// both dialects: sale, refund of it, pre-authorization and its
// completion, a sale voided, a balance inquiry with its PIN, then the
// batch closed in balance, the host's totals equal to the terminal's.
func TestEveryKindAtTheHost(t *testing.T) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) { testEveryKind(t, d) })
	}
}

func testEveryKind(t *testing.T, dialect string) {
	e, _, cfg := newEnv(t, []string{"-dialect", dialect}, map[string]any{"dialect": dialect})
	posd := start(t, "posd", []string{"-config", cfg}, posdReady)
	defer posd.stop(t)

	approved := func(what string, v txnView, code int) {
		t.Helper()
		if v.State != "approved" || code != 0 {
			t.Fatalf("%s: %+v exit %d", what, v, code)
		}
	}
	sale, code := e.sale("12.00", "visa-classic")
	approved("sale", sale, code)
	refund, code := e.run([]string{"refund", "--amount", "5.00", "--orig", sale.ID}, "visa-classic")
	approved("refund", refund, code)
	if v := e.kindShow(sale.ID); v.Refunded != "5.00" {
		t.Fatalf("refunded sale shows refunded %q, want 5.00", v.Refunded)
	}
	// No more than the rest refunded, and the refunded sale not voided:
	// refused before a card is asked for.
	for args, want := range map[string]string{
		"refund --amount 7.01 --orig " + sale.ID: "7.00 of 12.00 left to refund",
		"void " + sale.ID:                        "was refunded 5.00",
	} {
		if out, code := e.posctl(strings.Fields(args)...); code != 1 || !strings.Contains(out, want) {
			t.Fatalf("posctl %s: exit %d %s, want %q", args, code, out, want)
		}
	}
	pre, code := e.run([]string{"preauth", "--amount", "30.00"}, "mastercard-credit")
	approved("preauth", pre, code)
	out, code := e.posctl("complete", pre.ID, "--amount", "28.00", "--wait")
	var comp txnView
	json.Unmarshal([]byte(out), &comp)
	approved("completion "+out, comp, code)
	other, code := e.sale("9.00", "unionpay-debit")
	approved("second sale", other, code)
	out, code = e.posctl("void", other.ID, "--wait")
	var void txnView
	json.Unmarshal([]byte(out), &void)
	approved("void "+out, void, code)
	// A hold released: the void of a pre-authorization (its cancellation)
	// moves no money; the pre-authorization is completed no more, and a
	// completed one is cancelled only once its completion is voided.
	hold, code := e.run([]string{"preauth", "--amount", "20.00"}, "unionpay-debit")
	approved("second preauth", hold, code)
	out, code = e.posctl("void", hold.ID, "--wait")
	var cancel txnView
	json.Unmarshal([]byte(out), &cancel)
	approved("cancellation "+out, cancel, code)
	for args, want := range map[string]string{
		"complete " + hold.ID + " --amount 10.00": "voided by " + cancel.ID,
		"void " + hold.ID:                         "voided by " + cancel.ID,
		"void " + cancel.ID:                       "a cancellation cannot be voided",
		"void " + pre.ID:                          "void its completion first",
	} {
		if out, code := e.posctl(strings.Fields(args)...); code != 1 || !strings.Contains(out, want) {
			t.Fatalf("posctl %s: exit %d %s, want %q", args, code, out, want)
		}
	}

	// The balance inquiry asks for the PIN.
	done := make(chan runResult, 1)
	go func() { v, code := e.run([]string{"balance"}, "visa-classic"); done <- runResult{v, code} }()
	waitFor(t, 20*time.Second, func() bool { return e.display().Phase == "pin" })
	if out, code := e.posctl("sim", "keys", "1234E"); code != 0 {
		t.Fatalf("keys: %s", out)
	}
	r := <-done
	approved("balance", r.v, r.code)
	if b := e.kindShow(r.v.ID); b.Balance == "" || b.Kind != "balance" {
		t.Fatalf("balance inquiry record: %+v", b)
	}

	// The records and their links.
	if v := e.kindShow(other.ID); v.VoidedBy != void.ID {
		t.Errorf("voided sale: %+v", v)
	}
	if v := e.kindShow(pre.ID); v.CompletedBy != comp.ID {
		t.Errorf("completed preauth: %+v", v)
	}
	if v := e.kindShow(hold.ID); v.VoidedBy != cancel.ID || v.CompletedBy != "" {
		t.Errorf("cancelled preauth: %+v", v)
	}
	invoices := map[uint32]bool{}
	for _, id := range []string{sale.ID, refund.ID, pre.ID, comp.ID, other.ID, void.ID, r.v.ID, hold.ID, cancel.ID} {
		v := e.kindShow(id)
		if v.Batch != 1 || v.Invoice == 0 || invoices[v.Invoice] {
			t.Errorf("record %s: batch %d invoice %d", id, v.Batch, v.Invoice)
		}
		invoices[v.Invoice] = true
	}

	// What the host did with each.
	var voided, completed, released bool
	for _, m := range e.rawJournal() {
		if m["direction"] != "in" {
			continue
		}
		switch m["kind"] {
		case "void":
			voided = voided || (m["response_code"] == "00" && m["orig_state"] == "voided" && m["orig_kind"] != "preauth")
			released = released || (m["response_code"] == "00" && m["orig_state"] == "voided" && m["orig_kind"] == "preauth")
		case "completion":
			completed = completed || (m["response_code"] == "00" && m["orig_state"] == "completed")
		}
	}
	if !voided || !completed || !released {
		t.Errorf("the host's journal: void applied %v, completion applied %v, pre-authorization released %v", voided, completed, released)
	}

	// The open batch's totals, then its close.
	out, _ = e.posctl("batch")
	var open struct {
		Open   uint32 `json:"open"`
		Totals []struct {
			DebitCount   int    `json:"debit_count"`
			DebitAmount  string `json:"debit_amount"`
			CreditCount  int    `json:"credit_count"`
			CreditAmount string `json:"credit_amount"`
		} `json:"totals"`
	}
	if err := json.Unmarshal([]byte(out), &open); err != nil || open.Open != 1 || len(open.Totals) != 1 ||
		open.Totals[0].DebitCount != 2 || open.Totals[0].DebitAmount != "40.00" || open.Totals[0].CreditCount != 1 || open.Totals[0].CreditAmount != "5.00" {
		t.Fatalf("open batch %s", out)
	}
	out, code = e.posctl("batch", "close")
	var st kindView
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 0 || st.State != "approved" || st.Kind != "settlement" ||
		len(st.Totals) != 1 || st.Totals[0].ResponseCode != "00" {
		t.Fatalf("batch close: %s (exit %d)", out, code)
	}
	settled := false
	for _, m := range e.rawJournal() {
		if m["kind"] == "settlement" && m["direction"] == "in" && m["response_code"] == "00" {
			settled = m["settled"] == true
			tot, _ := m["totals"].(map[string]any)
			if tot == nil || tot["host"] == nil || !reflect.DeepEqual(tot["host"], tot["terminal"]) {
				t.Errorf("settlement totals at the host: %v", m["totals"])
			}
		}
	}
	if !settled {
		t.Error("the host did not close the batch")
	}
	out, _ = e.posctl("status")
	if !strings.Contains(out, `"open_batch": 2`) {
		t.Errorf("status after the close: %s", out)
	}
	// A completion of the closed batch is refunded, not voided.
	out, code = e.posctl("void", comp.ID)
	if code != 1 || !strings.Contains(out, "closed") {
		t.Errorf("void of a closed batch's sale: exit %d %s", code, out)
	}
	assertNoCardData(t, "posd's log", posd.stderr.Bytes())
	_, journal := e.journalLines()
	assertNoCardData(t, "the host's journal", []byte(journal))
}

// rawJournal is the host's journal, every line as a map.
func (e *env) rawJournal() []map[string]any {
	e.t.Helper()
	_, raw := e.journalLines()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(raw), "\n") {
		m := map[string]any{}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			e.t.Fatalf("journal line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}
