package e2e

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"posd/board/sim/deck"
	"posd/crypto/pinblock"
)

// TestWholeDeckLeavesNoCardData: every card of the simulated deck through
// every entry mode it offers (swipe, insert, tap), with posd logging at
// debug level, and a cardholder who types the card's PIN whenever the PIN
// pad asks. Afterwards no PAN, track, chip track 2 equivalent or PIN is in
// posd's log, acquirer-sim's log, the journal, posd.db or anything posctl
// printed.
func TestWholeDeckLeavesNoCardData(t *testing.T) {
	t.Parallel() // a long one: see TestMain
	e, acq, cfg := newEnv(t, nil, nil)
	editConfig(t, cfg, func(c map[string]any) {
		c["log_level"], c["log_format"] = "debug", "json"
	})
	posd := start(t, "posd", []string{"-config", cfg}, posdReady)
	defer posd.stop(t)

	var printed bytes.Buffer
	out, code := e.posctl("sim", "cards")
	printed.WriteString(out)
	var cards []struct {
		Name       string   `json:"name"`
		EntryModes []string `json:"entry_modes"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &cards) != nil || len(cards) != len(deck.Cards) {
		t.Fatalf("sim cards: %d %s", code, out)
	}

	// The cardholder: types the PIN of the card in hand when asked, and
	// takes the first application when the chip offers a choice.
	var pin atomic.Value
	pin.Store("")
	stop := make(chan struct{})
	var typist sync.WaitGroup
	typist.Add(1)
	go func() {
		defer typist.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			// A chip with a choice of applications: the first (Enter).
			phase, keys := displayPhase(e.api), "E"
			switch phase {
			case "pin":
				keys = pin.Load().(string) + "E"
			case "select_app":
			default:
				continue
			}
			cmd := exec.Command(filepath.Join(binDir, "posctl"), "--api", "http://"+e.api, "sim", "keys", keys)
			cmd.Env = append(os.Environ(), "POSD_DATA_DIR="+e.dataDir)
			_ = cmd.Run()
			for deadline := time.Now().Add(5 * time.Second); displayPhase(e.api) == phase && time.Now().Before(deadline); {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}()

	covered := map[string]bool{}
	refunds := 0
	for _, c := range cards {
		card, ok := deck.Lookup(c.Name)
		if !ok {
			t.Fatalf("posctl lists %q, the deck does not", c.Name)
		}
		pin.Store(card.PIN)
		for _, mode := range c.EntryModes {
			present := []string{c.Name}
			switch {
			case mode != "swipe":
				present = []string{mode + ":" + c.Name}
			case slices.Contains(c.EntryModes, "insert"):
				// A swiped chip card: the terminal asks for the chip.
				present = append(present, "insert:"+c.Name)
			}
			if c.Name == "damaged-stripe" {
				// Unreadable: the cashier takes another card.
				present = append(present, "visa-classic")
			}
			// 12.30, not 12.34: an amount must not spell a PIN.
			v, code := e.sale("12.30", present...)
			if v.ID == "" || code != 0 && code != 3 {
				t.Errorf("%s by %s: %+v exit %d", c.Name, mode, v, code)
			}
			b, _ := json.Marshal(v)
			printed.Write(b)
			out, _ := e.posctl("txn", "show", v.ID)
			printed.WriteString(out)
			// Both copies of its slip, as the paper and posctl show them.
			for _, cp := range []string{"merchant", "cardholder"} {
				out, code := e.posctl("receipt", v.ID, "--copy", cp)
				printed.WriteString(out)
				if code != 0 && (v.State == "approved" || v.State == "offline_approved") {
					t.Errorf("receipt of %s by %s: exit %d %s", c.Name, mode, code, out)
				}
			}
			covered[c.Name+" "+mode] = true
			t.Logf("%s by %s: %s %s", c.Name, mode, v.State, v.Failure)
			if v.State != "approved" && v.State != "offline_approved" {
				continue
			}
			// The refund path: the same card, money back for the sale.
			r, code := e.run([]string{"refund", "--amount", "2.30", "--orig", v.ID}, present...)
			if r.ID == "" || code != 0 && code != 3 {
				t.Errorf("refund to %s by %s: %+v exit %d", c.Name, mode, r, code)
			}
			b, _ = json.Marshal(r)
			printed.Write(b)
			t.Logf("refund to %s by %s: %s %s", c.Name, mode, r.State, r.Failure)
			if r.State == "approved" {
				refunds++
			}
		}
	}
	// The reversal path, once per entry mode: the host does not answer
	// (magic amount 91), the sale is reversed.
	for _, present := range []string{"visa-classic", "insert:visa-credit", "tap:mastercard-debit"} {
		pin.Store("")
		v, _ := e.sale("12.91", present)
		waitFor(t, 30*time.Second, func() bool {
			out, _ := e.posctl("txn", "show", v.ID)
			json.Unmarshal([]byte(out), &v)
			return v.State == "reversed"
		})
		out, _ := e.posctl("txn", "show", v.ID)
		printed.WriteString(out)
	}
	close(stop)
	typist.Wait()
	for _, c := range deck.Cards {
		for _, mode := range c.Entry {
			if !covered[c.Name+" "+mode] {
				t.Errorf("%s by %s was never tried", c.Name, mode)
			}
		}
	}
	if refunds < 10 {
		t.Errorf("only %d refunds approved", refunds)
	}
	out, _ = e.posctl("txn", "list", "--limit", "1000")
	printed.WriteString(out)
	out, _ = e.posctl("batch")
	printed.WriteString(out)
	out, _ = e.posctl("batch", "close")
	printed.WriteString(out)
	if !strings.Contains(out, `"approved"`) {
		t.Errorf("batch close: %s", out)
	}
	// What the receipt printer put on paper.
	out, _ = e.posctl("sim", "printer")
	printed.WriteString(out)

	if err := posd.stop(t); err != nil {
		t.Fatal(err)
	}
	acq.stop(t)
	_, journal := e.journalLines()
	kept := map[string][]byte{
		"journal": []byte(journal), "posd log": posd.stderr.Bytes(),
		"acquirer-sim log": acq.stderr.Bytes(), "posctl output": printed.Bytes(),
	}
	// Every file posd keeps, not only its database: key slots, markers,
	// anything a later release adds to the data directory.
	err := filepath.WalkDir(e.dataDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		kept[path] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := kept[filepath.Join(e.dataDir, "posd.db")]; !ok {
		t.Fatalf("no posd.db among the data directory's files")
	}
	for what, data := range kept {
		assertNoChipData(t, what, data)
		assertNoPIN(t, what, data)
	}
}

// displayPhase is the customer display's phase, "" when it cannot be read.
func displayPhase(api string) string {
	resp, err := http.Get("http://" + api + "/display.json")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var s screen
	if json.NewDecoder(resp.Body).Decode(&s) != nil {
		return ""
	}
	return s.Phase
}

// assertNoPIN: no deck PIN as a word of its own ("PIN 1234"), nor as the
// format 2 block an offline PIN VERIFY carries, raw or in hex.
func assertNoPIN(t *testing.T, what string, data []byte) {
	t.Helper()
	for _, c := range deck.Cards {
		if c.PIN == "" {
			continue
		}
		word := regexp.MustCompile(`(^|[^0-9A-Za-z])` + c.PIN + `([^0-9A-Za-z]|$)`)
		if loc := word.FindIndex(data); loc != nil {
			t.Errorf("%s contains %s's PIN: ...%q...", what, c.Name, data[max(0, loc[0]-40):min(len(data), loc[1]+40)])
		}
		block, err := pinblock.EncodeFormat2Digits([]byte(c.PIN))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, block) || bytes.Contains(bytes.ToUpper(data), []byte(strings.ToUpper(hex.EncodeToString(block)))) {
			t.Errorf("%s contains %s's PIN block", what, c.Name)
		}
	}
}

// editConfig rewrites posd's config file through edit.
func editConfig(t testing.TB, cfg string, edit func(c map[string]any)) {
	t.Helper()
	var c map[string]any
	b, err := os.ReadFile(cfg)
	if err != nil || json.Unmarshal(b, &c) != nil {
		t.Fatalf("config %s: %v", cfg, err)
	}
	edit(c)
	b, _ = json.Marshal(c)
	if err := os.WriteFile(cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
