package e2e

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"posd/terminal/emv"
)

// chipView is a sale with the EMV summary posctl shows.
type chipView struct {
	txnView
	EntryMode string `json:"entry_mode"`
	CVM       string `json:"cvm"`
	Chip      *struct {
		Interface  string `json:"interface"`
		AID        string `json:"aid"`
		Label      string `json:"label"`
		TVR        string `json:"tvr"`
		TSI        string `json:"tsi"`
		Cryptogram string `json:"cryptogram_type"`
		CVMResults string `json:"cvm_results"`
		Kernel     int    `json:"kernel"`
	} `json:"chip"`
}

func (e *env) show(id string) chipView {
	e.t.Helper()
	var v chipView
	e.showInto(id, &v)
	return v
}

// showInto reads posctl txn show ID into v.
func (e *env) showInto(id string, v any) {
	e.t.Helper()
	out, code := e.posctl("txn", "show", id)
	if code != 0 || json.Unmarshal([]byte(out), v) != nil {
		e.t.Fatalf("txn show %s: %d %s", id, code, out)
	}
}

// lastPurchase is the journal's last purchase request.
func (e *env) lastPurchase() (journalLine, map[string]any) {
	e.t.Helper()
	_, raw := e.journalLines()
	var last map[string]any
	var line journalLine
	for _, l := range strings.Split(strings.TrimSpace(raw), "\n") {
		var m map[string]any
		var j journalLine
		if json.Unmarshal([]byte(l), &m) == nil && json.Unmarshal([]byte(l), &j) == nil && j.Direction == "in" && j.Kind == "purchase" {
			last, line = m, j
		}
	}
	if last == nil {
		e.t.Fatalf("no purchase in the journal:\n%s", raw)
	}
	return line, last
}

// tvrBit reports whether the TVR (hex) has bit mask in byte n (1-based).
func tvrBit(tvr string, n int, mask byte) bool {
	b, err := hex.DecodeString(tvr)
	return err == nil && len(b) == 5 && b[n-1]&mask != 0
}

// cvmCode is the CVM performed (9F34 byte 1 without the "apply next" bit).
func cvmCode(results string) byte {
	b, err := hex.DecodeString(results)
	if err != nil || len(b) != 3 {
		return 0xFF
	}
	return b[0] & 0x3F
}

// cvmName is the record's cvm for the CVM results' method: what the
// card verified, not "none" when it asked for a signature or checked a
// PIN itself.
func cvmName(results string) string {
	switch cvmCode(results) {
	case 0x01:
		return "offline_plain_pin"
	case 0x02:
		return "online_pin"
	case 0x04:
		return "offline_enciphered_pin"
	case 0x1E:
		return "signature"
	}
	return "none"
}

// TestChipSalesEndToEnd: real posd and acquirer-sim processes, each
// dialect: an inserted and a tapped card approved after the issuer
// verified their ARQC; the display asks for insert, tap or swipe and says
// "remove card"; the record keeps the EMV summary and no card data.
func TestChipSalesEndToEnd(t *testing.T) {
	for _, d := range dialects {
		t.Run(d, func(t *testing.T) { testChipSales(t, d) })
	}
}

func testChipSales(t *testing.T, dialect string) {
	e, acq, cfg := newEnv(t, []string{"-dialect", dialect}, map[string]any{"dialect": dialect})
	posd := start(t, "posd", []string{"-config", cfg}, posdReady)

	out, code := e.posctl("sim", "cards")
	var cards []struct {
		Name  string   `json:"name"`
		Entry []string `json:"entry_modes"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &cards) != nil {
		t.Fatalf("sim cards: %d %s", code, out)
	}
	modes := map[string][]string{}
	for _, c := range cards {
		modes[c.Name] = c.Entry
	}
	if strings.Join(modes["visa-credit"], ",") != "swipe,insert,tap" || strings.Join(modes["visa-contactless-cvm"], ",") != "tap" {
		t.Errorf("entry modes in sim cards: %v", modes)
	}
	assertNoCardData(t, "posctl sim cards", []byte(out))

	// Inserted: the display asks for insert, tap or swipe, then "remove card".
	done := make(chan runResult, 1)
	go func() { v, code := e.sale("12.34", "insert:visa-credit"); done <- runResult{v, code} }()
	var prompts []string
	var r runResult
	for r.v.ID == "" {
		select {
		case r = <-done:
		case <-time.After(5 * time.Millisecond):
			d := e.display()
			if p := d.Title + "|" + strings.Join(d.Lines, "|"); len(prompts) == 0 || prompts[len(prompts)-1] != p {
				prompts = append(prompts, p)
			}
		}
	}
	if r.v.State != "approved" || r.code != 0 {
		t.Fatalf("inserted visa-credit: %+v exit %d", r.v, r.code)
	}
	// The outcome's screen stays: the last sample may have come before it.
	d := e.display()
	prompts = append(prompts, d.Title+"|"+strings.Join(d.Lines, "|"))
	all := strings.Join(prompts, "\n")
	if !strings.Contains(all, "Please insert, tap or swipe your card") || !strings.Contains(all, "Please remove your card") {
		t.Errorf("display during an inserted sale:\n%s", all)
	}
	v := e.show(r.v.ID)
	if v.EntryMode != "051" || v.Chip == nil || v.Chip.Interface != "contact" || v.Chip.AID != "A0000000031010" ||
		v.Chip.Label == "" || v.Chip.Cryptogram != "TC" || len(v.Chip.TVR) != 10 || v.Chip.TSI == "" || v.Chip.CVMResults == "" {
		t.Errorf("record of an inserted sale: %+v %+v", v, v.Chip)
	}
	if want := cvmName(v.Chip.CVMResults); v.CVM != want {
		t.Errorf("inserted sale's cvm %q, its CVM results %s say %s", v.CVM, v.Chip.CVMResults, want)
	}
	// The card chose a signature: the outcome's screen asks for it.
	if signed := strings.Contains(strings.Join(d.Lines, "|"), "Please sign the receipt"); signed != (v.CVM == "signature") {
		t.Errorf("cvm %s, the outcome's screen: %+v", v.CVM, d)
	}
	if _, raw := e.lastPurchase(); raw["arqc_ok"] != true {
		t.Errorf("the issuer did not verify the ARQC: %v", raw)
	}

	// Tapped: qVSDC online, the issuer verifies the ARQC.
	tv, code := e.sale("23.45", "tap:visa-credit")
	if tv.State != "approved" || code != 0 {
		t.Fatalf("tapped visa-credit: %+v exit %d", tv, code)
	}
	v = e.show(tv.ID)
	if v.EntryMode != "071" || v.Chip == nil || v.Chip.Interface != "contactless" || v.Chip.Kernel != 3 || v.Chip.Cryptogram != "ARQC" {
		t.Errorf("record of a tapped sale: %+v %+v", v, v.Chip)
	}
	if _, raw := e.lastPurchase(); raw["arqc_ok"] != true {
		t.Errorf("the issuer did not verify the tapped ARQC: %v", raw)
	}

	// Mastercard tapped (kernel 2, CDA) and UnionPay tapped (kernel 7).
	for _, c := range []struct {
		card   string
		kernel int
	}{{"mastercard-debit", 2}, {"unionpay-ic-debit", 7}} {
		tv, code = e.sale("8.80", "tap:"+c.card)
		if tv.State != "approved" || code != 0 {
			t.Fatalf("tapped %s: %+v exit %d", c.card, tv, code)
		}
		if v = e.show(tv.ID); v.Chip == nil || v.Chip.Kernel != c.kernel {
			t.Errorf("tapped %s: %+v", c.card, v.Chip)
		}
		if _, raw := e.lastPurchase(); raw["arqc_ok"] != true {
			t.Errorf("tapped %s: ARQC not verified: %v", c.card, raw)
		}
	}

	// The blocked application: not accepted, nothing sent.
	before, _ := e.journalLines()
	bv, code := e.sale("5.00", "insert:mastercard-blocked")
	if bv.State != "failed" || bv.Failure != "card_not_accepted" || code != 3 {
		t.Errorf("blocked card: %+v exit %d", bv, code)
	}
	if after, _ := e.journalLines(); len(after) != len(before) {
		t.Error("a sale with a blocked card reached the host")
	}

	if err := posd.stop(t); err != nil {
		t.Fatal(err)
	}
	acq.stop(t)
	_, journal := e.journalLines()
	assertNoChipData(t, "journal", []byte(journal))
	assertNoChipData(t, "posd log", posd.stderr.Bytes())
	assertNoChipData(t, "acquirer-sim log", acq.stderr.Bytes())
	db, err := os.ReadFile(filepath.Join(e.dataDir, "posd.db"))
	if err != nil {
		t.Fatal(err)
	}
	assertNoChipData(t, "posd.db", db)
}

// assertNoChipData: no PAN or track 2 of the deck, in ASCII or as the
// chip's BCD (tag 5A, 57).
func assertNoChipData(t *testing.T, what string, data []byte) {
	t.Helper()
	assertNoCardData(t, what, data)
	for _, s := range secrets() {
		pan, t2, _ := strings.Cut(s, "=")
		for _, x := range []string{pan, pan + "D" + t2} {
			if len(x)%2 == 1 {
				x += "F"
			}
			if b, err := hex.DecodeString(x); err == nil && len(b) >= 8 && strings.Contains(string(data), string(b)) {
				t.Errorf("%s contains card data in BCD (%.6s...)", what, s)
			}
			if len(x) >= 16 && strings.Contains(strings.ToUpper(string(data)), x) {
				t.Errorf("%s contains card data in hex (%.6s...)", what, s)
			}
		}
	}
}

// TestChipOnlinePIN: an inserted UnionPay card whose CVM list asks for
// online PIN: the right PIN approved, the wrong one declined 55; the
// display shows the PIN prompt.
func TestChipOnlinePIN(t *testing.T) {
	e, _, cfg := newEnv(t, nil, nil)
	posd := start(t, "posd", []string{"-config", cfg}, posdReady)
	defer posd.stop(t)

	done := make(chan runResult, 1)
	for _, c := range []struct {
		pin, state, rc string
		code           int
	}{{"123456", "approved", "00", 0}, {"654321", "declined", "55", 3}} {
		go func() { v, code := e.sale("88.00", "insert:unionpay-ic-debit"); done <- runResult{v, code} }()
		waitFor(t, 20*time.Second, func() bool { return e.display().Phase == "pin" })
		if out, code := e.posctl("sim", "keys", c.pin+"E"); code != 0 {
			t.Fatalf("keys: %s", out)
		}
		r := <-done
		if r.v.State != c.state || r.v.ResponseCode != c.rc || r.code != c.code {
			t.Fatalf("PIN %s...: %+v exit %d", c.pin[:1], r.v, r.code)
		}
		v := e.show(r.v.ID)
		if v.CVM != "online_pin" || v.Chip == nil || !tvrBit(v.Chip.TVR, 3, 0x04) || cvmCode(v.Chip.CVMResults) != 0x02 {
			t.Errorf("record of an online PIN chip sale: %+v %+v", v, v.Chip)
		}
		if _, raw := e.lastPurchase(); raw["pin_present"] != true || raw["arqc_ok"] != true || raw["pin_ok"] != (c.rc == "00") {
			t.Errorf("host side of the PIN sale: %v", raw)
		}
	}
	if strings.Contains(posd.stderr.String(), "123456") {
		t.Error("the PIN appears in posd's log")
	}
}

// TestChipCardPulledDuringOnlinePIN: the customer takes the card out of
// the slot while the PIN pad waits for the PIN, online (unionpay-ic-debit)
// or offline, the kernel waiting to VERIFY it (mastercard-debit's
// enciphered offline PIN). The sale ends card_removed at once, without
// waiting for a PIN nobody will type (before, it waited out the PIN
// timeout and said pin_timeout); nothing is sent for a card that has
// left: the host never sees a purchase it would then have to have
// reversed.
func TestChipCardPulledDuringOnlinePIN(t *testing.T) {
	e, _, cfg := newEnv(t, nil, nil)
	posd := start(t, "posd", []string{"-config", cfg}, posdReady)
	defer posd.stop(t)
	for _, card := range []string{"unionpay-ic-debit", "mastercard-debit"} {
		done := make(chan runResult, 1)
		go func() { v, code := e.sale("88.00", "insert:"+card); done <- runResult{v, code} }()
		waitFor(t, 20*time.Second, func() bool { return e.display().Phase == "pin" })
		if out, code := e.posctl("sim", "remove"); code != 0 {
			t.Fatalf("remove: %s", out)
		}
		r := <-done
		if r.v.State != "failed" || r.v.Failure != "card_removed" || r.code != 3 {
			t.Fatalf("%s pulled during the PIN: %+v exit %d", card, r.v, r.code)
		}
	}
	lines, _ := e.journalLines()
	if n := count(lines)["in purchase"]; n != 0 {
		t.Fatalf("the host got %d purchase(s) for a card that had left", n)
	}
}

// TestChipPINFromRiskRules: the risk rules ask for a PIN (a sale over the
// no-CVM limit, any balance inquiry) and the chip's own CVM list chose a
// signature or none: the stricter wins, posd reads an online PIN. Before,
// an inserted card over the limit was approved on a signature and a
// balance inquiry by insert or tap showed the balance with no PIN.
func TestChipPINFromRiskRules(t *testing.T) {
	e, _, cfg := newEnv(t, nil, nil)
	posd := start(t, "posd", []string{"-config", cfg}, posdReady)
	defer posd.stop(t)
	done := make(chan runResult, 1)
	for _, c := range []struct {
		args      []string
		card, pin string
	}{
		{[]string{"sale", "--amount", "1500.00"}, "insert:visa-credit", "1234"},
		{[]string{"balance"}, "insert:visa-credit", "1234"},
		// (A zero amount is kernel 2's only: Visa's is refused a tap.)
		{[]string{"balance"}, "tap:mastercard-debit", "4321"},
	} {
		go func() { v, code := e.run(c.args, c.card); done <- runResult{v, code} }()
		asked := false
		deadline := time.Now().Add(20 * time.Second)
		for !asked && time.Now().Before(deadline) {
			select {
			case r := <-done:
				t.Fatalf("%v %s ended without a PIN: %+v exit %d", c.args, c.card, r.v, r.code)
			case <-time.After(20 * time.Millisecond):
				asked = e.display().Phase == "pin"
			}
		}
		if !asked {
			t.Fatalf("%v %s: no PIN prompt", c.args, c.card)
		}
		if out, code := e.posctl("sim", "keys", c.pin+"E"); code != 0 {
			t.Fatalf("keys: %s", out)
		}
		r := <-done
		if r.v.State != "approved" || r.code != 0 {
			t.Fatalf("%v %s: %+v exit %d", c.args, c.card, r.v, r.code)
		}
		if v := e.show(r.v.ID); v.CVM != "online_pin" {
			t.Errorf("%v %s: cvm %q", c.args, c.card, v.CVM)
		}
	}
}

// TestChipTamperedODA: the card whose ICC certificate was altered fails
// DDA and the terminal's decision follows its action codes: with the
// shipped parameters (TAC-online has "DDA failed") it goes online and the
// issuer approves; with TAC-denial given "DDA failed" it declines offline
// and nothing reaches the host.
func TestChipTamperedODA(t *testing.T) {
	e, _, cfg := newEnv(t, nil, nil)
	posd := start(t, "posd", []string{"-config", cfg}, posdReady)
	v, code := e.sale("12.34", "insert:visa-tampered-oda")
	if v.State != "approved" || code != 0 {
		t.Fatalf("tampered card: %+v exit %d", v, code)
	}
	cv := e.show(v.ID)
	if cv.Chip == nil || !tvrBit(cv.Chip.TVR, 1, 0x08) || cv.Chip.Cryptogram != "TC" {
		t.Errorf("record: DDA failed should be in the TVR: %+v", cv.Chip)
	}
	if _, raw := e.lastPurchase(); raw["arqc_ok"] != true {
		t.Errorf("the tampered card's sale did not go online with an ARQC: %v", raw)
	}
	if err := posd.stop(t); err != nil {
		t.Fatal(err)
	}

	withEMVParams(t, cfg, func(aid map[string]any) {
		if aid["aid"] == "A0000000031010" {
			aid["tac_denial"] = "0810000000"
		}
	})
	posd = start(t, "posd", []string{"-config", cfg}, posdReady)
	defer posd.stop(t)
	before, _ := e.journalLines()
	v, code = e.sale("12.34", "insert:visa-tampered-oda")
	if v.State != "declined" || code != 3 {
		t.Fatalf("tampered card, TAC-denial on DDA failed: %+v exit %d", v, code)
	}
	if cv = e.show(v.ID); cv.Chip == nil || cv.Chip.Cryptogram != "AAC" || !tvrBit(cv.Chip.TVR, 1, 0x08) {
		t.Errorf("record of the offline decline: %+v", cv.Chip)
	}
	if after, _ := e.journalLines(); len(after) != len(before) {
		t.Error("a sale the TACs declined reached the host")
	}
}

// withEMVParams points posd's config at a copy of the simulated board's
// EMV parameters changed by edit (called for each AID).
func withEMVParams(t testing.TB, cfg string, edit func(aid map[string]any)) {
	t.Helper()
	var params map[string]any
	if err := json.Unmarshal(emv.SimParams(), &params); err != nil {
		t.Fatal(err)
	}
	for _, a := range params["aids"].([]any) {
		edit(a.(map[string]any))
	}
	pb, _ := json.Marshal(params)
	pf := filepath.Join(filepath.Dir(cfg), "emv.json")
	if err := os.WriteFile(pf, pb, 0o600); err != nil {
		t.Fatal(err)
	}
	editConfig(t, cfg, func(c map[string]any) { c["emv_params"] = pf })
}

// TestChipCardRemovedAfterARQC: the card is pulled out right after the
// first GENERATE AC; the host approves, the card cannot complete, and the
// sale is reversed.
func TestChipCardRemovedAfterARQC(t *testing.T) {
	e, _, cfg := newEnv(t, nil, nil)
	posd := start(t, "posd", []string{"-config", cfg}, posdReady)
	defer posd.stop(t)
	v, code := e.sale("12.34", "insert:visa-credit:first-ac")
	if code != 3 || (v.State != "reversal_pending" && v.State != "reversed") {
		t.Fatalf("card pulled after the ARQC: %+v exit %d", v, code)
	}
	waitFor(t, 20*time.Second, func() bool {
		lines, _ := e.journalLines()
		return count(lines)["in reversal"] >= 1
	})
	lines, _ := e.journalLines()
	var purchase, reversal journalLine
	for _, l := range lines {
		if l.Direction == "in" && l.Kind == "purchase" {
			purchase = l
		}
		if l.Direction == "in" && l.Kind == "reversal" {
			reversal = l
		}
	}
	if purchase.STAN == "" || reversal.OrigSTAN != purchase.STAN {
		t.Errorf("reversal %+v does not name purchase %+v", reversal, purchase)
	}
	waitFor(t, 20*time.Second, func() bool { return e.show(v.ID).State == "reversed" })
	if d := e.display(); !strings.Contains(strings.Join(append(d.Lines, d.Title), "|"), "removed") {
		t.Errorf("display after the card was pulled: %+v", d)
	}
}

// TestChipOfflineApproval: below the floor limit (random selection off in
// the parameter file) the card approves offline: nothing reaches the host
// during the sale, the record says offline_approved and an advice waits.
func TestChipOfflineApproval(t *testing.T) {
	e, _, cfg := newEnv(t, nil, nil)
	withEMVParams(t, cfg, func(aid map[string]any) { delete(aid, "random_selection") })
	posd := start(t, "posd", []string{"-config", cfg}, posdReady)
	defer posd.stop(t)
	v, code := e.sale("12.34", "insert:visa-offline")
	if v.State != "offline_approved" || code != 0 {
		t.Fatalf("offline card below the floor limit: %+v exit %d", v, code)
	}
	if cv := e.show(v.ID); cv.Chip == nil || cv.Chip.Cryptogram != "TC" || tvrBit(cv.Chip.TVR, 4, 0x80) {
		t.Errorf("record: %+v", cv.Chip)
	}
	if lines, _ := e.journalLines(); count(lines)["in purchase"] != 0 {
		t.Error("an offline approval sent a purchase request")
	}
	// Above the floor limit it goes online.
	v, code = e.sale("600.00", "insert:visa-offline")
	if v.State != "approved" || code != 0 {
		t.Fatalf("offline card above the floor limit: %+v exit %d", v, code)
	}
	if cv := e.show(v.ID); cv.Chip == nil || !tvrBit(cv.Chip.TVR, 4, 0x80) {
		t.Errorf("record above the floor limit: %+v", cv.Chip)
	}
}

// TestOfflineApprovalsCountForVelocity: a card the chip approved offline
// has made a sale on this terminal; the velocity rule counts it like an
// online one (with at most one sale per card, the next one is refused).
func TestOfflineApprovalsCountForVelocity(t *testing.T) {
	e, _, cfg := newEnv(t, nil, nil)
	withEMVParams(t, cfg, func(aid map[string]any) { delete(aid, "random_selection") })
	editConfig(t, cfg, func(c map[string]any) {
		c["risk"] = map[string]any{"velocity": map[string]any{"max_count": 1}}
	})
	posd := start(t, "posd", []string{"-config", cfg}, posdReady)
	defer posd.stop(t)
	v, code := e.sale("12.34", "insert:visa-offline")
	if v.State != "offline_approved" || code != 0 {
		t.Fatalf("offline approval: %+v exit %d", v, code)
	}
	v, _ = e.sale("600.00", "insert:visa-offline")
	var ov offlineView
	e.showInto(v.ID, &ov)
	if ov.State != "failed" || ov.RiskRule != "velocity_count" {
		t.Fatalf("the same card's next sale: %+v (risk rule %q)", ov.chipView, ov.RiskRule)
	}
}

// TestChipApplicationChoice: a chip with two applications lists both on
// the customer display and the customer's key picks one (the sale runs on
// it: the record's AID, the host's cryptogram); a chip whose application
// asks for confirmation is asked about, Cancel refuses the card and Enter
// pays. Before, the terminal took the first application without asking,
// even one that needed the cardholder's confirmation.
func TestChipApplicationChoice(t *testing.T) {
	e, _, cfg := newEnv(t, nil, nil)
	posd := start(t, "posd", []string{"-config", cfg}, posdReady)
	defer posd.stop(t)
	done := make(chan runResult, 1)
	for _, c := range []struct {
		card, keys string
		apps       []string
		state, aid string
		code       int
	}{
		{"unionpay-dual", "2", []string{"1  UnionPay Debit", "2  UnionPay Credit"}, "approved", "A000000333010102", 0},
		{"unionpay-dual", "1", []string{"1  UnionPay Debit", "2  UnionPay Credit"}, "approved", "A000000333010101", 0},
		{"visa-confirm", "X", nil, "failed", "", 3},
		{"visa-confirm", "E", nil, "approved", "A0000000031010", 0},
	} {
		go func() { v, code := e.sale("12.30", "insert:"+c.card); done <- runResult{v, code} }()
		var sc screen
		waitFor(t, 20*time.Second, func() bool { sc = e.display(); return sc.Phase == "select_app" })
		for _, want := range c.apps {
			if !slices.Contains(sc.Lines, want) {
				t.Errorf("%s: the display lists %q, not %q", c.card, sc.Lines, want)
			}
		}
		if c.apps == nil && !strings.Contains(sc.Title, "VISA CREDIT") {
			t.Errorf("%s: the display asks %q", c.card, sc.Title)
		}
		if out, _ := e.posctl("status"); !strings.Contains(out, `"active_phase": "select_app"`) {
			t.Errorf("%s: posctl status while the customer chooses: %s", c.card, out)
		}
		if out, code := e.posctl("sim", "keys", c.keys); code != 0 {
			t.Fatalf("keys: %s", out)
		}
		r := <-done
		if r.v.State != c.state || r.code != c.code {
			t.Fatalf("%s, key %s: %+v exit %d", c.card, c.keys, r.v, r.code)
		}
		v := e.show(r.v.ID)
		if c.aid == "" {
			if v.Failure != "card_not_accepted" {
				t.Errorf("%s refused: %+v", c.card, v)
			}
			continue
		}
		if v.Chip == nil || v.Chip.AID != c.aid {
			t.Errorf("%s, key %s: the sale ran on %+v, want %s", c.card, c.keys, v.Chip, c.aid)
		}
		if _, raw := e.lastPurchase(); raw["arqc_ok"] != true {
			t.Errorf("%s, key %s: host side %v", c.card, c.keys, raw)
		}
	}
}
