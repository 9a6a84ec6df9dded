package acquirer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"posd/board/sim/deck"
	"posd/cmd/acquirer-sim/acquirer"
	"posd/internal/testhex"
	"posd/terminal/host"
	"posd/terminal/wiresec"
)

// tcICC is the DE55 of an offline approval of card: the cryptogram
// computed like an ARQC (arqcCase, with deck.Issuers' keys) and 9F27
// saying TC; tweak changes DE55 afterwards.
func tcICC(t *testing.T, card deck.Card, amount int64, atc byte, tweak func(map[string][]byte)) []byte {
	t.Helper()
	ac := arqcCase{
		card: card, iss: deck.Issuers[card.Scheme], amount: amount, atc: []byte{0x00, atc},
		un: []byte{0x5A, 0xC3, atc, 0x11},
		tweak: func(v map[string][]byte) {
			v["9F27"] = []byte{0x40}
			if tweak != nil {
				tweak(v)
			}
		},
	}
	icc, _, _, _ := ac.build(t)
	return icc
}

// chipAdvice is the advice of an offline chip sale of card.
func chipAdvice(stan uint32, ref string, card deck.Card, amount int64, icc []byte) host.Advice {
	return host.Advice{
		STAN: stan, Ref: ref, Time: time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC), Amount: amount,
		Currency: "156", EntryMode: "051", Track2: []byte(card.PAN + "D30122011000000000F"), ICC: icc, Batch: 1,
	}
}

// adviceLines returns the journal lines of the advices with ref, in
// direction dir, in order.
func adviceLines(t *testing.T, r *rig, dir, ref string) []acquirer.Entry {
	t.Helper()
	var out []acquirer.Entry
	for _, e := range r.journal.entries(t) {
		if e.Kind == string(host.KindAdvice) && e.Direction == dir && e.Ref == ref {
			out = append(out, e)
		}
	}
	return out
}

// lastAdvice returns the last "in" line of ref.
func lastAdvice(t *testing.T, r *rig, ref string) acquirer.Entry {
	t.Helper()
	l := adviceLines(t, r, "in", ref)
	if len(l) == 0 {
		t.Fatalf("no journal line for advice %s", ref)
	}
	return l[len(l)-1]
}

// TestAdvice: advices of the deck's chip cards with a good TC are
// accepted once and their repeats answered "00" as duplicates; a TC that
// does not verify or is not a TC is "Q1" (journaled, not kept); a bad MAC
// is "A0". In both dialects.
func TestAdvice(t *testing.T) {
	for _, d := range host.DialectNames() {
		t.Run(d, func(t *testing.T) {
			r := startServer(t, d, wiresec.ModeAES, nil, withCards(findChip))
			c := newClient(t, d, r.addr, nil)
			tm := newTerminal(t, wiresec.ModeAES)
			ctx := context.Background()
			send := func(a host.Advice) (host.Result, error) { return c.Advice(ctx, a, tm.session(t)) }
			visa := chipCard(t, "visa-chip")

			// Accepted, then the same advice again: "00", a duplicate.
			first := chipAdvice(1, "A0001", visa, 1234, tcICC(t, visa, 1234, 0x21, nil))
			for i := range 2 {
				res, err := send(first)
				if err != nil || res.ResponseCode != host.AdviceAccepted {
					t.Fatalf("attempt %d: %+v %v", i+1, res, err)
				}
			}
			// An "in" line is written before the answer is sent, its "out"
			// line after: those are checked once the server has stopped.
			ins := adviceLines(t, r, "in", "A0001")
			if len(ins) != 2 {
				t.Fatalf("%d in lines", len(ins))
			}
			e := ins[0]
			if e.MTI != "0220" || e.STAN != "000001" || e.TerminalID != "T0000001" || e.MaskedPAN != maskedPAN ||
				e.Amount != 1234 || e.Currency != "156" || e.TCOK == nil || !*e.TCOK || e.Duplicate || e.Busy ||
				e.ResponseCode != "00" || e.MACOK == nil || !*e.MACOK || e.Scheme != "visa" || e.Dialect != d {
				t.Fatalf("first advice journaled %+v", e)
			}
			if e := ins[1]; !e.Duplicate || e.ResponseCode != "00" || e.TCOK == nil || !*e.TCOK {
				t.Fatalf("repeat journaled %+v", e)
			}
			if n, amount := r.srv.AdviceTotal("156"); n != 1 || amount != 1234 {
				t.Fatalf("total %d advices, %d; want 1, 1234", n, amount)
			}

			// The other schemes' issuers (Mastercard's session key, the
			// common one and option B for the 19-digit PAN); a magic amount
			// means nothing to an advice.
			for i, name := range []string{"mastercard-chip", "unionpay-chip", "visa-chip"} {
				card := chipCard(t, name)
				amount := int64(500 + i)
				if i == 2 {
					amount = 4091
				}
				ref := fmt.Sprintf("B%d", i)
				if res, err := send(chipAdvice(uint32(10+i), ref, card, amount, tcICC(t, card, amount, byte(0x30+i), nil))); err != nil || res.ResponseCode != "00" {
					t.Fatalf("%s: %+v %v", name, res, err)
				}
				if e := lastAdvice(t, r, ref); e.TCOK == nil || !*e.TCOK || e.Duplicate || e.Scheme != card.Scheme {
					t.Fatalf("%s: journaled %+v", name, e)
				}
			}

			// Cryptograms that are no good TC: Q1, journaled, not kept.
			stan := uint32(20)
			for what, tweak := range map[string]func(map[string][]byte){
				"TC bit flipped":   func(v map[string][]byte) { v["9F26"][0] ^= 0x01 },
				"ATC changed":      func(v map[string][]byte) { v["9F36"][1]++ },
				"an ARQC":          func(v map[string][]byte) { v["9F27"] = []byte{0x80} },
				"an AAC":           func(v map[string][]byte) { v["9F27"] = []byte{0x00} },
				"no 9F27":          func(v map[string][]byte) { delete(v, "9F27") },
				"no cryptogram":    func(v map[string][]byte) { delete(v, "9F26") },
				"amount not DE4":   func(v map[string][]byte) { v["9F02"][5]++ },
				"other CVN":        func(v map[string][]byte) { v["9F10"] = testhex.Must("0601120300000000") },
				"currency differs": func(v map[string][]byte) { v["5F2A"] = testhex.Must("0840") },
			} {
				stan++
				ref := fmt.Sprintf("Q%d", stan)
				a := chipAdvice(stan, ref, visa, 700, tcICC(t, visa, 700, byte(stan), tweak))
				for i := range 2 { // a resend is no duplicate: the first was not kept
					res, err := send(a)
					if err != nil || res.ResponseCode != acquirer.RCCardAuthFailed || res.ICC != nil {
						t.Fatalf("%s, attempt %d: %+v %v", what, i+1, res, err)
					}
				}
				for _, e := range adviceLines(t, r, "in", ref) {
					if e.TCOK == nil || *e.TCOK || e.Duplicate || e.ResponseCode != "Q1" || e.Note == "" {
						t.Fatalf("%s: journaled %+v", what, e)
					}
				}
			}
			if n, _ := r.srv.AdviceTotal("156"); n != 4 {
				t.Fatalf("%d advices kept, want 4", n)
			}

			// Without DE55 (a swipe approved offline) the issuer has no
			// say; a chip card not on file is 14.
			if res, err := send(host.Advice{STAN: 40, Ref: "S1", Amount: 100, Currency: "156", EntryMode: "021", Track2: []byte(testTrack2)}); err != nil || res.ResponseCode != "00" {
				t.Fatalf("swipe advice: %+v %v", res, err)
			}
			if e := lastAdvice(t, r, "S1"); e.TCOK != nil || e.ResponseCode != "00" || e.MaskedPAN != maskedPAN {
				t.Fatalf("swipe advice journaled %+v", e)
			}
			stranger := deck.Card{Scheme: "visa", PAN: "4000000000000002", PSN: "00"}
			if res, err := send(chipAdvice(41, "S2", stranger, 100, tcICC(t, stranger, 100, 1, nil))); err != nil || res.ResponseCode != acquirer.RCInvalidCard {
				t.Fatalf("card not on file: %+v %v", res, err)
			}

			// A bad MAC: A0 (the terminal cannot verify the answer), not
			// kept; the same advice then sent right is no duplicate.
			good := tm.session(t)
			wrong := make([]byte, 16)
			wrong[0] = 1
			bad, err := wiresec.ForTerminal(wiresec.ModeAES, good.KSN(), wrong)
			if err != nil {
				t.Fatal(err)
			}
			defer bad.Wipe()
			m := chipAdvice(50, "M1", visa, 800, tcICC(t, visa, 800, 0x50, nil))
			if _, err := c.Advice(ctx, m, bad); !errors.Is(err, host.ErrBadMAC) {
				t.Fatalf("bad MAC: %v", err)
			}
			if e := lastAdvice(t, r, "M1"); e.MACOK == nil || *e.MACOK || e.ResponseCode != acquirer.RCMACFailure || e.Duplicate || e.TCOK != nil {
				t.Fatalf("bad MAC journaled %+v", e)
			}
			if res, err := send(m); err != nil || res.ResponseCode != "00" {
				t.Fatalf("after a bad MAC: %+v %v", res, err)
			}
			if e := lastAdvice(t, r, "M1"); e.Duplicate || e.ResponseCode != "00" {
				t.Fatalf("after a bad MAC journaled %+v", e)
			}

			r.stop()
			outs := adviceLines(t, r, "out", "A0001")
			if len(outs) != 2 {
				t.Fatalf("%d out lines", len(outs))
			}
			dups := 0
			for _, o := range outs {
				if o.MTI != "0230" || o.ResponseCode != "00" || o.MACOK == nil || !*o.MACOK || o.IssuerData || o.TCOK != nil {
					t.Fatalf("answer journaled %+v", o)
				}
				if o.Duplicate {
					dups++
				}
			}
			if dups != 1 {
				t.Fatalf("%d answers journaled duplicate, want 1", dups)
			}
			checkNoCardData(t, r, []deck.Card{visa, chipCard(t, "mastercard-chip"), chipCard(t, "unionpay-chip"), stranger})
		})
	}
}

// TestAdviceRestart: a new simulator on the journal of the one before
// still knows the advices accepted (and only those): their repeats are
// duplicates, an advice refused before is accepted now.
func TestAdviceRestart(t *testing.T) {
	for _, d := range host.DialectNames() {
		t.Run(d, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "journal.jsonl")
			visa := chipCard(t, "visa-chip")
			good := chipAdvice(1, "R1", visa, 1500, tcICC(t, visa, 1500, 1, nil))
			badTC := chipAdvice(2, "R2", visa, 2500, tcICC(t, visa, 2500, 2, func(v map[string][]byte) { v["9F26"][3] ^= 0x10 }))
			fixed := badTC
			fixed.ICC = tcICC(t, visa, 2500, 2, nil)

			run := func(steps func(send func(host.Advice) string, r *rig)) {
				hist, err := os.Open(path)
				if errors.Is(err, os.ErrNotExist) {
					hist = nil
				} else if err != nil {
					t.Fatal(err)
				}
				jf, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
				if err != nil {
					t.Fatal(err)
				}
				r := startServer(t, d, wiresec.ModeAES, nil, withCards(findChip), func(o *acquirer.Opts) {
					o.Journal = io.MultiWriter(o.Journal, jf)
					if hist != nil {
						o.History = hist
					}
				})
				if hist != nil {
					_ = hist.Close()
				}
				c := newClient(t, d, r.addr, nil)
				tm := newTerminal(t, wiresec.ModeAES)
				steps(func(a host.Advice) string {
					res, err := c.Advice(context.Background(), a, tm.session(t))
					if err != nil {
						t.Fatalf("advice %s: %v", a.Ref, err)
					}
					return res.ResponseCode
				}, r)
				r.stop()
				if err := jf.Close(); err != nil {
					t.Fatal(err)
				}
				checkNoCardData(t, r, []deck.Card{visa})
			}

			run(func(send func(host.Advice) string, r *rig) {
				if rc := send(good); rc != "00" {
					t.Fatalf("first run, good TC: %s", rc)
				}
				if rc := send(badTC); rc != "Q1" {
					t.Fatalf("first run, bad TC: %s", rc)
				}
			})
			// A crash left half a line.
			f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteString(`{"time":"2025-03-14T15:09:26Z","direction":"in","kind":"adv`); err != nil {
				t.Fatal(err)
			}
			_ = f.Close()

			run(func(send func(host.Advice) string, r *rig) {
				if n, amount := r.srv.AdviceTotal("156"); n != 1 || amount != 1500 {
					t.Fatalf("after the restart: %d advices, %d; want 1, 1500", n, amount)
				}
				if rc := send(good); rc != "00" {
					t.Fatalf("second run, repeat: %s", rc)
				}
				if e := lastAdvice(t, r, "R1"); !e.Duplicate {
					t.Fatalf("repeat after the restart journaled %+v", e)
				}
				if rc := send(fixed); rc != "00" {
					t.Fatalf("second run, the refused one: %s", rc)
				}
				if e := lastAdvice(t, r, "R2"); e.Duplicate {
					t.Fatalf("advice refused before journaled %+v", e)
				}
				if n, amount := r.srv.AdviceTotal("156"); n != 2 || amount != 4000 {
					t.Fatalf("%d advices, %d; want 2, 4000", n, amount)
				}
			})
			// A third run knows both.
			run(func(send func(host.Advice) string, r *rig) {
				if n, _ := r.srv.AdviceTotal("156"); n != 2 {
					t.Fatalf("third run: %d advices", n)
				}
				if rc := send(fixed); rc != "00" || !lastAdvice(t, r, "R2").Duplicate {
					t.Fatalf("third run, repeat: %s", rc)
				}
			})
		})
	}
}

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestAdviceRateLimit: over -advice-rate the simulator answers 91 busy
// (journaled busy, nothing kept); once time has passed the advice is
// accepted.
func TestAdviceRateLimit(t *testing.T) {
	for _, d := range host.DialectNames() {
		t.Run(d, func(t *testing.T) {
			clk := &fakeClock{t: time.Date(2025, 3, 14, 16, 0, 0, 0, time.UTC)}
			r := startServer(t, d, wiresec.ModeAES, nil, withCards(findChip), func(o *acquirer.Opts) {
				o.Now, o.AdviceRate = clk.Now, 2
			})
			c := newClient(t, d, r.addr, nil)
			tm := newTerminal(t, wiresec.ModeAES)
			visa := chipCard(t, "visa-chip")
			advices := map[string]host.Advice{}
			for i, ref := range []string{"L1", "L2", "L3"} {
				advices[ref] = chipAdvice(uint32(i+1), ref, visa, int64(100*(i+1)), tcICC(t, visa, int64(100*(i+1)), byte(i+1), nil))
			}
			send := func(ref, want string) {
				t.Helper()
				res, err := c.Advice(context.Background(), advices[ref], tm.session(t))
				if err != nil || res.ResponseCode != want {
					t.Fatalf("%s: %+v %v, want %s", ref, res, err, want)
				}
			}
			// A burst of 2, then busy, repeats included.
			send("L1", "00")
			send("L2", "00")
			send("L3", host.AdviceBusy)
			send("L1", host.AdviceBusy)
			e := lastAdvice(t, r, "L3")
			if !e.Busy || e.ResponseCode != "91" || e.Duplicate || e.TCOK != nil || e.MACOK == nil || !*e.MACOK || e.MaskedPAN != maskedPAN {
				t.Fatalf("busy journaled %+v", e)
			}
			if n, _ := r.srv.AdviceTotal("156"); n != 2 {
				t.Fatalf("%d advices kept, want 2", n)
			}
			// Half a second gives one token at 2 a second.
			clk.Advance(500 * time.Millisecond)
			send("L3", "00")
			send("L1", host.AdviceBusy)
			if e := lastAdvice(t, r, "L3"); e.Busy || e.Duplicate || e.TCOK == nil || !*e.TCOK {
				t.Fatalf("L3 accepted journaled %+v", e)
			}
			// A long pause refills the burst, no more.
			clk.Advance(time.Minute)
			send("L1", "00")
			send("L2", "00")
			send("L3", host.AdviceBusy)
			if e := lastAdvice(t, r, "L1"); !e.Duplicate || e.Busy {
				t.Fatalf("L1 repeat journaled %+v", e)
			}
			if n, amount := r.srv.AdviceTotal("156"); n != 3 || amount != 600 {
				t.Fatalf("%d advices, %d; want 3, 600", n, amount)
			}
			r.stop()
			busy := 0
			for _, o := range adviceLines(t, r, "out", "L3") {
				if o.Busy != (o.ResponseCode == "91") {
					t.Fatalf("answer journaled %+v", o)
				}
				if o.Busy {
					busy++
				}
			}
			if busy != 2 {
				t.Fatalf("%d busy answers to L3 journaled, want 2", busy)
			}
			checkNoCardData(t, r, []deck.Card{visa})
		})
	}
}
