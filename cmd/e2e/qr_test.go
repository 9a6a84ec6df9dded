package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"posd/board/sim/deck"

	qrcode "github.com/skip2/go-qrcode"
)

// statusCodeReaders is posctl status's code_readers.
func (e *env) codeReaders() []string {
	out, _ := e.posctl("status")
	var st struct {
		CodeReaders []string `json:"code_readers"`
	}
	json.Unmarshal([]byte(out), &st)
	return st.CodeReaders
}

// waitShown waits until the customer display shows a merchant code.
func (e *env) waitShown() screenCode {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var s screenCode
		if resp, err := http.Get("http://" + e.api + "/display.json"); err == nil {
			json.NewDecoder(resp.Body).Decode(&s)
			resp.Body.Close()
		}
		if s.Phase == "show_code" && s.Code != "" {
			return s
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("the display never showed a merchant code: %+v", s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type screenCode struct {
	Phase string `json:"phase"`
	Title string `json:"title"`
	Code  string `json:"code"`
}

// startSale runs posctl sale ARGS --wait in the background.
func (e *env) startSale(args ...string) <-chan [2]any {
	ch := make(chan [2]any, 1)
	go func() {
		out, code := e.posctl(append(args, "--wait", "--timeout", "60s")...)
		ch <- [2]any{out, code}
	}()
	return ch
}

// TestQRCodesEndToEnd: customer-presented codes read by the camera (and
// the scanner), an EMV consumer-presented code through the acquirer and
// the issuer, merchant-presented codes paid from the simulated phone,
// posctl qr decode; and no code, PAN or track anywhere it must not be.
func TestQRCodesEndToEnd(t *testing.T) {
	t.Parallel() // a long one: see TestMain
	dir := t.TempDir()
	walletAddr := freePort(t)
	walletJournal := filepath.Join(dir, "wallet.jsonl")
	e, acq, cfg := newEnv(t, []string{"-wallet", walletAddr, "-wallet-journal", walletJournal}, nil)
	t.Cleanup(func() {
		if t.Failed() {
			journal, _ := os.ReadFile(walletJournal)
			t.Logf("wallet platform's journal:\n%s", journal)
		}
	})
	editConfig(t, cfg, func(c map[string]any) {
		// The merchant-presented sales wait for this test to see the
		// code and run the phone within query_total: 4 s was too short
		// on a loaded machine (the phone paid after the terminal had
		// given up and queued the order's cancel). The terminal's query
		// rate is the platform's (one a second): faster, the platform
		// answers too_frequent and the backoff can leave the last
		// queries of the window unanswered.
		c["wallet"] = map[string]any{"url": "http://" + walletAddr, "query_first": "200ms", "query_total": "10s", "query_rate": 1,
			"mpm": map[string]any{"name": "POSD DEMO", "accounts": map[string]string{"unionpay": "UP0001", "wechat": "WX0001", "alipay": "AL0001"}}}
	})
	posd := start(t, "posd", []string{"-config", cfg}, posdReady)
	defer posd.stop(t)
	readers := e.codeReaders()
	t.Logf("code readers: %v", readers)
	var printed strings.Builder

	// A wallet code to the default reader (the camera in a build with
	// OpenCV), and under the scanner.
	// (A code pays once: each customer shows their own.)
	const wechat, wechat2 = "134567890123456789", "134567890123456788"
	for how, code := range map[string]string{"qr:": wechat, "scan:": wechat2} {
		v, exit := e.run([]string{"sale", "--amount", "3.00", "--method", "qr"}, how+code)
		printed.WriteString(e.txnJSON(v.ID))
		if v.State != "approved" || exit != 0 {
			t.Fatalf("%s wechat code: %+v exit %d", how, v, exit)
		}
	}

	// An EMV consumer-presented code: online through the acquirer, the
	// issuer verifies the phone's cryptogram.
	v, exit := e.run([]string{"sale", "--amount", "8.88", "--method", "qr"}, "cpm:unionpay-ic-debit")
	printed.WriteString(e.txnJSON(v.ID))
	var entry struct {
		EntryMode string `json:"entry_mode"`
	}
	e.showInto(v.ID, &entry)
	if v.State != "approved" || exit != 0 || entry.EntryMode != "031" {
		t.Fatalf("EMV CPM sale: %+v exit %d", v, exit)
	}
	line, raw := e.lastPurchase()
	if raw["arqc_ok"] != true || line.ResponseCode != "00" {
		t.Fatalf("acquirer's view of the CPM sale: %+v %v", line, raw)
	}

	// Merchant-presented: the display shows the code, the phone scans it
	// and pays at its platform.
	for _, platform := range []string{"unionpay", "wechat", "alipay"} {
		done := e.startSale("sale", "--amount", "23.72", "--method", "mpm", "--platform", platform)
		shown := e.waitShown()
		if !strings.HasPrefix(shown.Code, "000201010212") {
			t.Fatalf("shown code: %+v", shown)
		}
		began := time.Now()
		out, code := e.posctl("sim", "phone", "--platform", platform)
		t.Logf("%s phone paid in %v", platform, time.Since(began).Round(time.Millisecond))
		printed.WriteString(out)
		if code != 0 || !strings.Contains(out, `"success"`) {
			t.Fatalf("%s phone: exit %d %s", platform, code, out)
		}
		r := <-done
		var mv walletView
		json.Unmarshal([]byte(r[0].(string)), &mv)
		if mv.State != "approved" || r[1].(int) != 0 {
			t.Fatalf("%s MPM sale: %s", platform, r[0])
		}
		e.showInto(mv.ID, &mv)
		if mv.Wallet == nil || mv.Wallet.Platform != platform || mv.Wallet.PlatformTxnID == "" {
			t.Fatalf("%s MPM record: %+v", platform, mv.Wallet)
		}
	}
	// Nobody scans: the order is closed at the end of the schedule (a
	// phone paying a closed order is refused: the wallet simulator's
	// tests).
	done := e.startSale("sale", "--amount", "5.00", "--method", "mpm")
	e.waitShown()
	r := <-done
	if !strings.Contains(r[0].(string), `"failed"`) {
		t.Fatalf("unpaid MPM: %s", r[0])
	}
	// The wrong wallet for the code shown: refused by the platform.
	done = e.startSale("sale", "--amount", "5.01", "--method", "mpm", "--platform", "wechat")
	e.waitShown()
	if out, code := e.posctl("sim", "phone", "--platform", "alipay"); code == 0 {
		t.Fatalf("alipay paid a WeChat-only code: %s", out)
	}
	e.posctl("txn", "cancel", e.activeSale())
	if r := <-done; !strings.Contains(r[0].(string), `"cancelled"`) {
		t.Fatalf("cancelled MPM: %s", r[0])
	}

	// posctl qr decode reads pictures of codes.
	cpm, err := deck.CPM("visa-credit", 7, [4]byte{1, 2, 3, 4}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	card, _ := deck.Lookup("visa-credit")
	for _, c := range []struct{ text, kind string }{{wechat, "wechat"}, {cpm, "emv-cpm"}, {"HELLO", "unknown"}} {
		file := filepath.Join(dir, c.kind+".png")
		if err := qrcode.WriteFile(c.text, qrcode.Medium, 300, file); err != nil {
			t.Fatal(err)
		}
		out, code := e.posctl("qr", "decode", "--image", file)
		printed.WriteString(out)
		if !hasQRDecoder(readers) {
			if code == 0 || !strings.Contains(out, "without OpenCV") {
				t.Fatalf("qr decode without OpenCV: %d %s", code, out)
			}
			continue
		}
		var got struct {
			Kind   string          `json:"kind"`
			Masked string          `json:"masked"`
			CPM    json.RawMessage `json:"emv_cpm"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &got) != nil || got.Kind != c.kind {
			t.Fatalf("qr decode %s: %d %s", c.kind, code, out)
		}
		if c.kind == "emv-cpm" && (len(got.CPM) == 0 || !strings.Contains(string(got.CPM), "9F26")) {
			t.Fatalf("qr decode of a CPM shows no data objects: %s", out)
		}
	}

	list, _ := e.posctl("txn", "list", "--limit", "100")
	printed.WriteString(list)
	if err := posd.stop(t); err != nil {
		t.Fatal(err)
	}
	acq.stop(t)
	journal, _ := os.ReadFile(walletJournal)
	_, hostJournal := e.journalLines()
	db, _ := os.ReadFile(filepath.Join(e.dataDir, "posd.db"))
	secrets := []string{wechat, wechat2, card.PAN, cpm}
	if uc, ok := deck.Lookup("unionpay-ic-debit"); ok {
		secrets = append(secrets, uc.PAN)
	}
	for what, data := range map[string]string{"posd's log": posd.stderr.String(), "the wallet journal": string(journal),
		"the acquirer journal": hostJournal, "posd.db": string(db), "posctl output": printed.String()} {
		for _, s := range secrets {
			if s != "" && strings.Contains(data, s) {
				t.Errorf("%s holds a full payment code or PAN (%d chars)", what, len(s))
			}
		}
	}
}

// activeSale is the id of the sale in progress ("" when none).
func (e *env) activeSale() string {
	out, _ := e.posctl("status")
	var st struct {
		Active string `json:"active_sale"`
	}
	json.Unmarshal([]byte(out), &st)
	return st.Active
}

func hasQRDecoder(readers []string) bool {
	for _, r := range readers {
		if r == "camera" {
			return true
		}
	}
	return false
}
