package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// simPaper is what the sim board's printer has on its paper.
type simPaper struct {
	Documents []string `json:"documents"`
	Status    struct {
		PaperOut  bool `json:"paper_out"`
		CoverOpen bool `json:"cover_open"`
	} `json:"status"`
}

func (e *env) paper() simPaper {
	e.t.Helper()
	out, code := e.posctl("sim", "printer")
	var p simPaper
	if err := json.Unmarshal([]byte(out), &p); code != 0 || err != nil {
		e.t.Fatalf("sim printer: %d %v %s", code, err, out)
	}
	return p
}

// waitPaper waits until the sim printer holds n documents.
func (e *env) waitPaper(n int) []string {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		p := e.paper()
		if len(p.Documents) >= n {
			return p.Documents
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("the printer has %d documents, want %d: %q", len(p.Documents), n, p.Documents)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestReceipts runs the receipt printer through real posd and
// acquirer-sim: a swiped sale prints the merchant and cardholder copies
// byte for byte through the ESC/POS driver and the simulated printer; a
// chip sale verified by signature puts the signature line on the
// merchant copy; with the roll out a sale is still approved, its slip
// waits in status for a reprint, and the reprint after loading paper
// says DUPLICATE; the batch close prints its report; nothing printed or
// shown carries card data.
func TestReceipts(t *testing.T) {
	e, _, cfg := newEnv(t, nil, nil)
	editConfig(t, cfg, func(c map[string]any) { c["receipt"] = map[string]any{"merchant_name": "POSD TEST SHOP"} })
	start(t, "posd", []string{"-config", cfg}, posdReady)

	v, _ := e.sale("12.34", "visa-classic")
	if v.State != "approved" {
		t.Fatalf("sale: %+v", v)
	}
	docs := e.waitPaper(2)
	m, c := docs[0], docs[1]
	for _, want := range []string{"POSD TEST SHOP"[:1], "MERCHANT COPY", "476173******0010", "SWIPE", v.AuthCode, "MERCHANT0000001", "POS00001"} {
		if !strings.Contains(m, want) {
			t.Errorf("merchant copy lacks %q:\n%s", want, m)
		}
	}
	if !strings.Contains(m, "1 2 . 3 4") || !strings.Contains(c, "CARDHOLDER COPY") {
		t.Errorf("copies:\n%s\n%s", m, c)
	}
	// The slip the API lays out is the one the printer printed.
	out, code := e.posctl("receipt", v.ID, "--copy", "merchant")
	if code != 0 || strings.TrimRight(out, "\n") != strings.TrimRight(m, "\n") {
		t.Errorf("posctl receipt %s --copy merchant (exit %d):\n%s\nprinted:\n%s", v.ID, code, out, m)
	}

	// visa-credit's CVM list asks for a signature: the merchant copy has
	// the line, the cardholder's not.
	v2, _ := e.sale("20.00", "insert:visa-credit")
	if v2.State != "approved" {
		t.Fatalf("chip sale: %+v", v2)
	}
	docs = e.waitPaper(4)
	signed := e.show(v2.ID).CVM == "signature"
	if strings.Contains(docs[2], "CARDHOLDER SIGNATURE") != signed || !strings.Contains(docs[2], "A0000000031010") || strings.Contains(docs[3], "____") {
		t.Errorf("chip sale (signature %v):\n%s\n%s", signed, docs[2], docs[3])
	}

	// The roll runs out: the sale is approved all the same; its slip
	// waits for a reprint. (Once the printer has reported the last slip
	// printed: the paper is seen at the end of each document, and a roll
	// out before that leaves that slip to reprint too.)
	waitFor(t, 20*time.Second, func() bool {
		var st struct {
			Printer struct {
				Printed  int64 `json:"documents_printed"`
				Printing bool  `json:"printing"`
			} `json:"printer"`
		}
		out, _ := e.posctl("status")
		return json.Unmarshal([]byte(out), &st) == nil && st.Printer.Printed >= 4 && !st.Printer.Printing
	})
	if out, code := e.posctl("sim", "printer", "--paper", "out"); code != 0 {
		t.Fatalf("sim printer --paper out: %s", out)
	}
	v3, _ := e.sale("8.00", "mastercard-credit")
	if v3.State != "approved" {
		t.Fatalf("sale with no paper: %+v", v3)
	}
	var st struct {
		Printer struct {
			Unprinted []string `json:"unprinted"`
			Error     string   `json:"error"`
		} `json:"printer"`
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, _ := e.posctl("status")
		json.Unmarshal([]byte(out), &st)
		if len(st.Printer.Unprinted) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(st.Printer.Unprinted) != 1 || st.Printer.Unprinted[0] != v3.ID || !strings.Contains(st.Printer.Error, "paper") {
		t.Fatalf("status printer after the roll ran out: %+v", st.Printer)
	}
	if out, code := e.posctl("receipt", "print", v3.ID); code == 0 || !strings.Contains(out, "out of paper") {
		t.Errorf("reprint with no paper: exit %d %s", code, out)
	}
	e.posctl("sim", "printer", "--paper", "full")
	if out, code := e.posctl("receipt", "print", v3.ID, "--copy", "both"); code != 0 {
		t.Fatalf("reprint: %d %s", code, out)
	}
	docs = e.waitPaper(6)
	for _, d := range docs[4:6] {
		if strings.Count(d, "DUPLICATE") != 2 || !strings.Contains(d, "8 . 0 0") {
			t.Errorf("reprinted slip:\n%s", d)
		}
	}
	// "Reprint the last one": the newest slip, the 8.00 sale's.
	if out, code := e.posctl("receipt", "print", "last"); code != 0 {
		t.Fatalf("reprint last: %d %s", code, out)
	}
	docs = e.waitPaper(7)
	if !strings.Contains(docs[6], "DUPLICATE") || !strings.Contains(docs[6], "8 . 0 0") || !strings.Contains(docs[6], "CARDHOLDER COPY") {
		t.Errorf("reprint of the last slip:\n%s", docs[6])
	}
	out, _ = e.posctl("status")
	st.Printer.Unprinted, st.Printer.Error = nil, ""
	json.Unmarshal([]byte(out), &st)
	if len(st.Printer.Unprinted) != 0 || st.Printer.Error != "" {
		t.Errorf("still unprinted after the reprint: %+v", st.Printer)
	}

	if out, code := e.posctl("batch", "close"); code != 0 {
		t.Fatalf("batch close: %s", out)
	}
	docs = e.waitPaper(8)
	if !strings.Contains(docs[7], "SETTLEMENT") || !strings.Contains(docs[7], "40.34") {
		t.Errorf("settlement report:\n%s", docs[7])
	}
	for i, d := range docs {
		assertNoCardData(t, "printed document "+string(rune('0'+i)), []byte(d))
	}
}
