package acquirer_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moov-io/bertlv"

	"posd/board/sim/deck"
	"posd/cmd/acquirer-sim/acquirer"
	"posd/crypto/emv"
	"posd/crypto/mac"
	"posd/internal/testhex"
	"posd/terminal/host"
	"posd/terminal/wiresec"
)

// The chip cards of these tests: the deck's swipe cards of each scheme
// with a PAN sequence number and a PIN (the unionpay PAN has 19 digits, so
// its master key takes option B), and the script card.
var chipCards = []deck.Card{
	{Name: "visa-chip", Scheme: "visa", PAN: "4761739001010010", PSN: "01", PIN: "1234"},
	{Name: "mastercard-chip", Scheme: "mastercard", PAN: "5413330089010012", PSN: "00", PIN: "2580"},
	{Name: "unionpay-chip", Scheme: "unionpay", PAN: "6212345678901234569", PSN: "01", PIN: "888888"},
	{Name: acquirer.DefaultScriptCard, Scheme: "mastercard", PAN: "5413330089020011", PSN: "01", PIN: "1111"},
	{Name: "visa-no-pin", Scheme: "visa", PAN: "4761739001010119", PSN: "00"},
}

func chipCard(t *testing.T, name string) deck.Card {
	t.Helper()
	for _, c := range chipCards {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no test card %s", name)
	return deck.Card{}
}

func findChip(pan string) (deck.Card, bool) {
	for _, c := range chipCards {
		if c.PAN == pan {
			return c, true
		}
	}
	return deck.Card{}, false
}

// The issuer application data of each scheme's card and the card
// verification results its cryptogram covers (written out here from the
// schemes' layouts, not taken from the simulator).
var iads = map[string]struct{ iad, cvr string }{
	"visa":       {"06010A03A00000", "03A00000"},                                     // len 06, DKI 01, CVN 0A, CVR
	"mastercard": {"0110A04000000000" + "1234" + "0000000000000000", "A04000000000"}, // DKI 01, CVN 10, CVR (6), DAC, counters (18 bytes in all)
	"unionpay":   {"070101" + "03A00000" + "010A010000000000", "03A00000"},           // len 07, DKI 01, CVN 01, CVR
}

// cvrAt is where a byte of the CVR sits in each scheme's 9F10.
var cvrAt = map[string]int{"visa": 4, "mastercard": 3, "unionpay": 4}

// arqcCase is one online authorisation of a chip card.
type arqcCase struct {
	card     deck.Card
	iss      deck.Issuer
	amount   int64  // DE4 and 9F02
	currency string // DE49 and 5F2A
	atc, un  []byte
	// tweak changes a DE55 value after the cryptogram was computed.
	tweak func(v map[string][]byte)
}

// build returns DE55 and the ARQC, the cryptogram computed here with
// crypto/emv from the issuer's keys.
func (c arqcCase) build(t *testing.T) (icc, arqc, sk, mk []byte) {
	t.Helper()
	if c.currency == "" {
		c.currency = "156"
	}
	l := iads[c.card.Scheme]
	v := map[string][]byte{
		"9F02": testhex.Must(fmt.Sprintf("%012d", c.amount)),
		"9F03": testhex.Must("000000000000"),
		"9F1A": testhex.Must("0" + c.currency),
		"95":   testhex.Must("0000008000"),
		"5F2A": testhex.Must("0" + c.currency),
		"9A":   testhex.Must("250314"),
		"9C":   testhex.Must("00"),
		"9F37": c.un,
		"82":   testhex.Must("3800"),
		"9F36": c.atc,
	}
	data := bytes.Join([][]byte{v["9F02"], v["9F03"], v["9F1A"], v["95"], v["5F2A"], v["9A"], v["9C"], v["9F37"],
		v["82"], v["9F36"], testhex.Must(l.cvr)}, nil)
	var err error
	mk, err = emv.DeriveICCMasterKey(c.iss.IMKAC, c.card.PAN, c.card.PSN, c.iss.MKOption)
	if err != nil {
		t.Fatal(err)
	}
	var un []byte
	if c.iss.SKD == emv.SKDMastercard {
		un = c.un
	}
	if sk, err = emv.DeriveSessionKey(c.iss.SKD, mk, c.atc, un); err != nil {
		t.Fatal(err)
	}
	if arqc, err = emv.GenerateAC(sk, data, c.iss.Padding); err != nil {
		t.Fatal(err)
	}
	v["9F26"], v["9F27"], v["9F10"] = arqc, []byte{0x80}, testhex.Must(l.iad)
	v["5F34"] = testhex.Must(c.card.PSN)
	if c.tweak != nil {
		c.tweak(v)
	}
	var tlvs []bertlv.TLV
	for _, tag := range []string{"9F26", "9F27", "9F10", "9F37", "9F36", "95", "9A", "9C", "9F02", "5F2A", "82", "9F1A", "9F03", "5F34"} {
		if b, ok := v[tag]; ok {
			tlvs = append(tlvs, bertlv.NewTag(tag, b))
		}
	}
	if icc, err = bertlv.Encode(tlvs); err != nil {
		t.Fatal(err)
	}
	return icc, arqc, sk, mk
}

// chipPurchase is a 0200 of a chip card: its track 2 equivalent data
// (tag 57 as hex digits) in Track2, DE55, and an online PIN when pin is
// not empty.
func chipPurchase(t *testing.T, s *wiresec.Session, stan uint32, c arqcCase, icc []byte, pin string) host.Purchase {
	t.Helper()
	cur := c.currency
	if cur == "" {
		cur = "156"
	}
	p := host.Purchase{
		STAN: stan, Amount: c.amount, Currency: cur, EntryMode: "051", ICC: icc,
		Track2: []byte(c.card.PAN + "D30122011000000000F"), Time: time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC),
	}
	if pin != "" {
		var err error
		if p.PINBlock, err = s.EncryptPIN(pin, c.card.PAN); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// journalIn returns the "in" journal line of stan.
func journalIn(t *testing.T, r *rig, stan uint32) acquirer.Entry {
	t.Helper()
	want := fmt.Sprintf("%06d", stan)
	for _, e := range r.journal.entries(t) {
		if e.Direction == "in" && e.STAN == want {
			return e
		}
	}
	t.Fatalf("no journal line for STAN %s", want)
	return acquirer.Entry{}
}

// wantARPC is the issuer authentication data the card expects for rc,
// computed here: method 1 is ARPC || ARC, method 2 ARPC || CSU.
func wantARPC(t *testing.T, iss deck.Issuer, mk, sk, arqc []byte, rc string) []byte {
	t.Helper()
	key := sk
	if iss.SKD != emv.SKDCommon {
		key = mk // Visa CVN 10 and M/Chip CVN 16 answer under the ICC master key
	}
	if iss.ARPCMethod == 2 {
		csu := testhex.Must("00000000")
		if rc == "00" {
			csu = testhex.Must("00800000")
		}
		a, err := emv.ARPCMethod2(key, arqc, csu, nil)
		if err != nil {
			t.Fatal(err)
		}
		return append(a, csu...)
	}
	a, err := emv.ARPCMethod1(key, arqc, []byte(rc))
	if err != nil {
		t.Fatal(err)
	}
	return append(a, rc...)
}

// TestIssuerARQC: for each scheme's issuer, a good ARQC is answered with
// the ARPC of the response code sent (the magic amounts still decide it),
// a bad one with Q1 and no issuer data; in both dialects, and with ARPC
// methods 1 and 2.
func TestIssuerARQC(t *testing.T) {
	method2 := map[string]deck.Issuer{}
	for k, v := range deck.Issuers {
		v.ARPCMethod = 2
		method2[k] = v
	}
	for _, d := range host.DialectNames() {
		for _, arpcMethod := range []int{1, 2} {
			issuers := deck.Issuers
			if arpcMethod == 2 {
				issuers = method2
			}
			for _, name := range []string{"visa-chip", "mastercard-chip", "unionpay-chip"} {
				t.Run(fmt.Sprintf("%s/method%d/%s", d, arpcMethod, name), func(t *testing.T) {
					card := chipCard(t, name)
					iss := issuers[card.Scheme]
					r := startServer(t, d, wiresec.ModeAES, nil, withCards(findChip), func(o *acquirer.Opts) { o.Issuers = issuers })
					c := newClient(t, d, r.addr, nil)
					tm := newTerminal(t, wiresec.ModeAES)
					ctx := context.Background()
					stan := uint32(0)
					atc := 0x10
					run := func(amount int64, tweak func(map[string][]byte)) (res host.Result, arqc, sk, mk []byte, err error) {
						stan++
						atc++
						ac := arqcCase{card: card, iss: iss, amount: amount, atc: []byte{0, byte(atc)},
							un: []byte{0xA1, 0xB2, byte(atc), 0x04}, tweak: tweak}
						var icc []byte
						icc, arqc, sk, mk = ac.build(t)
						res, err = c.Purchase(ctx, chipPurchase(t, nil, stan, ac, icc, ""), tm.session(t))
						return res, arqc, sk, mk, err
					}

					// Good ARQC, approved, then declined by the amount.
					for _, tc := range []struct {
						amount int64
						rc     string
					}{{1234, "00"}, {1051, "51"}, {2005, "05"}, {396, "96"}} {
						res, arqc, sk, mk, err := run(tc.amount, nil)
						if err != nil {
							t.Fatalf("amount %d: %v", tc.amount, err)
						}
						if res.ResponseCode != tc.rc {
							t.Fatalf("amount %d: %q, want %q", tc.amount, res.ResponseCode, tc.rc)
						}
						if want := wantARPC(t, iss, mk, sk, arqc, tc.rc); !bytes.Equal(res.Issuer.AuthData, want) {
							t.Fatalf("amount %d: 91 is %X, want %X", tc.amount, res.Issuer.AuthData, want)
						}
						if len(res.Issuer.Scripts) != 0 {
							t.Fatalf("script for a card that gets none")
						}
						if e := journalIn(t, r, stan); e.ARQCOK == nil || !*e.ARQCOK || e.Scheme != card.Scheme || e.PINPresent {
							t.Fatalf("journal %+v", e)
						}
					}
					// Magic 91 after a good ARQC: no answer (once per dialect
					// and scheme: it costs the response timeout).
					if arpcMethod == 1 {
						if _, _, _, _, err := run(4091, nil); !errors.Is(err, host.ErrNoResponse) {
							t.Fatalf("amount 4091: %v", err)
						}
					}

					// Bad cryptograms, and cryptograms that do not vouch for this
					// transaction.
					for what, tweak := range map[string]func(map[string][]byte){
						"ARQC bit flipped":    func(v map[string][]byte) { v["9F26"][7] ^= 1 },
						"ATC changed":         func(v map[string][]byte) { v["9F36"][1]++ },
						"UN changed":          func(v map[string][]byte) { v["9F37"][0]++ },
						"TVR changed":         func(v map[string][]byte) { v["95"][4] ^= 0x40 },
						"CVR changed":         func(v map[string][]byte) { v["9F10"][cvrAt[card.Scheme]] ^= 1 },
						"PSN changed":         func(v map[string][]byte) { v["5F34"][0] ^= 0x02 },
						"amount not DE4":      func(v map[string][]byte) { v["9F02"][5]++ },
						"currency not DE49":   func(v map[string][]byte) { v["5F2A"] = testhex.Must("0840") },
						"AAC, not ARQC":       func(v map[string][]byte) { v["9F27"] = []byte{0x00} },
						"no ARQC":             func(v map[string][]byte) { delete(v, "9F26") },
						"other CVN":           func(v map[string][]byte) { v["9F10"] = testhex.Must("0601120300000000") },
						"9F10 too short":      func(v map[string][]byte) { v["9F10"] = v["9F10"][:3] },
						"unpredictable short": func(v map[string][]byte) { v["9F37"] = v["9F37"][:3] },
					} {
						res, _, _, _, err := run(1234, tweak)
						if err != nil {
							t.Fatalf("%s: %v", what, err)
						}
						if res.ResponseCode != acquirer.RCCardAuthFailed || res.ICC != nil || res.AuthCode != "" {
							t.Fatalf("%s: answered %+v", what, res)
						}
						if e := journalIn(t, r, stan); e.ARQCOK == nil || *e.ARQCOK || e.Note == "" {
							t.Fatalf("%s: journal %+v", what, e)
						}
					}
					r.stop()
					checkNoCardData(t, r, []deck.Card{card})
				})
			}
		}
	}
}

// public are the journal fields whose digits are not secret.
var public = map[string]bool{"ksn": true, "time": true, "masked_pan": true, "stan": true, "orig_stan": true,
	"rrn": true, "auth_code": true, "orig_rrn": true, "orig_auth_code": true, "orig_ref": true}

// checkNoCardData: the journal holds no full PAN or track, and none of its
// other values holds a PIN tried.
func checkNoCardData(t *testing.T, r *rig, cards []deck.Card, pins ...string) {
	t.Helper()
	text := r.journal.String()
	for _, c := range cards {
		if strings.Contains(text, c.PAN) || strings.Contains(text, "D3012") {
			t.Fatal("journal holds a PAN or track")
		}
		if c.PIN != "" {
			pins = append(pins, c.PIN)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		for k, v := range m {
			str, ok := v.(string)
			if !ok || public[k] {
				continue
			}
			for _, pin := range pins {
				if strings.Contains(str, pin) {
					t.Fatalf("journal field %s holds a PIN", k)
				}
			}
		}
	}
}

// TestIssuerKnownAnswers runs the published Visa CVN 10 and M/Chip CVN
// 16 examples (the IMK and values of pyemv's cryptogram version tests)
// through the simulator: it must accept their ARQCs, and for Visa answer
// with their ARPC for ARC "00".
func TestIssuerKnownAnswers(t *testing.T) {
	imk := testhex.Must("0123456789ABCDEFFEDCBA9876543210")
	issuers := map[string]deck.Issuer{
		"visa":       {Scheme: "visa", IMKAC: imk, MKOption: emv.OptionA, SKD: emv.SKDNone, Padding: emv.Padding1, ARPCMethod: 1},
		"mastercard": {Scheme: "mastercard", IMKAC: imk, MKOption: emv.OptionA, SKD: emv.SKDMastercard, Padding: emv.Padding2, ARPCMethod: 1},
	}
	for _, tc := range []struct {
		scheme, icc, arpc string
		amount            int64
	}{
		{"visa", "9F2608 29CCA15AE665FA2E 9F1007 06010A03A06010 9F3704 52BF4585 9F3602 001C 9505 8000048000 9A03 191105" +
			"9C01 01 9F0206 000000004000 5F2A02 0124 8202 1800 9F1A02 0124 9F0306 000000000000 5F3401 00",
			"28993816AFAE4AEB3030", 4000},
		{"mastercard", "9F2608 24CCF3DEE3158C70 9F1012 0110A00003220000000000000000000000FF 9F3704 ABCDEF12 9F3602 001C" +
			"9505 8000000000 9A03 209906 9C01 00 9F0206 000000009999 5F2A02 0124 8202 1800 9F1A02 0124 9F0306 000000000000",
			"", 9999},
	} {
		t.Run(tc.scheme, func(t *testing.T) {
			pan := "1234567890123456"
			cards := withCards(func(p string) (deck.Card, bool) {
				return deck.Card{Name: "pyemv", Scheme: tc.scheme, PAN: pan, PSN: "00"}, p == pan
			})
			r := startServer(t, "ascii87", wiresec.ModeTDES, nil, cards, func(o *acquirer.Opts) { o.Issuers = issuers })
			c := newClient(t, "ascii87", r.addr, nil)
			tm := newTerminal(t, wiresec.ModeTDES)
			p := host.Purchase{STAN: 1, Amount: tc.amount, Currency: "124", EntryMode: "051",
				ICC: testhex.Must(strings.ReplaceAll(tc.icc, " ", "")), Track2: []byte(pan + "D2512201")}
			res, err := c.Purchase(context.Background(), p, tm.session(t))
			if err != nil {
				t.Fatal(err)
			}
			if res.ResponseCode != "00" || (tc.arpc != "" && hex.EncodeToString(res.Issuer.AuthData) != strings.ToLower(tc.arpc)) {
				t.Fatalf("answered %s with 91 %X", res.ResponseCode, res.Issuer.AuthData)
			}
		})
	}
}

// TestIssuerScript: the script card gets template 72 with PUT DATA 9F14
// and a MAC computed here under SK-SMI; the MAC covers the header, ATC,
// ARQC and data exactly as documented.
func TestIssuerScript(t *testing.T) {
	for _, d := range host.DialectNames() {
		t.Run(d, func(t *testing.T) {
			card := chipCard(t, acquirer.DefaultScriptCard)
			iss := deck.Issuers[card.Scheme]
			r := startServer(t, d, wiresec.ModeAES, nil, withCards(findChip))
			c := newClient(t, d, r.addr, nil)
			tm := newTerminal(t, wiresec.ModeAES)
			ac := arqcCase{card: card, iss: iss, amount: 2500, atc: []byte{0x00, 0x2A}, un: testhex.Must("0BADCAFE")}
			icc, arqc, sk, mk := ac.build(t)
			s := tm.session(t)
			res, err := c.Purchase(context.Background(), chipPurchase(t, s, 1, ac, icc, card.PIN), s)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Approved() || !bytes.Equal(res.Issuer.AuthData, wantARPC(t, iss, mk, sk, arqc, "00")) {
				t.Fatalf("answered %+v", res)
			}

			mkSMI, err := emv.DeriveICCMasterKey(iss.IMKSMI, card.PAN, card.PSN, iss.MKOption)
			if err != nil {
				t.Fatal(err)
			}
			skSMI, err := emv.CommonSessionKey(mkSMI, arqc)
			if err != nil {
				t.Fatal(err)
			}
			m, err := mac.ISO9797Alg3(skSMI, bytes.Join([][]byte{testhex.Must("84DA9F1409"), ac.atc, arqc, {0x05}}, nil), mac.Padding2)
			if err != nil {
				t.Fatal(err)
			}
			want := "7217" + "9F180400000001" + "860E" + "84DA9F140905" + strings.ToUpper(hex.EncodeToString(m))
			if got := strings.ToUpper(hex.EncodeToString(res.ICC)); !strings.HasSuffix(got, want) || !strings.HasPrefix(got, "910A") {
				t.Fatalf("DE55 %s, want 910A... then %s", got, want)
			}
			if len(res.Issuer.Scripts) != 1 || !res.Issuer.Scripts[0].After {
				t.Fatalf("scripts %+v", res.Issuer.Scripts)
			}

			// A wrong ARQC gets neither ARPC nor script.
			ac.atc = []byte{0x00, 0x2B}
			ac.tweak = func(v map[string][]byte) { v["9F26"][0] ^= 0x80 }
			icc, _, _, _ = ac.build(t)
			s = tm.session(t)
			res, err = c.Purchase(context.Background(), chipPurchase(t, s, 2, ac, icc, card.PIN), s)
			if err != nil || res.ResponseCode != acquirer.RCCardAuthFailed || res.ICC != nil {
				t.Fatalf("bad ARQC: %+v %v", res, err)
			}
			r.stop()
			var out []acquirer.Entry
			for _, e := range r.journal.entries(t) {
				if e.Direction == "out" && e.Kind == string(host.KindPurchase) {
					out = append(out, e)
				}
			}
			// An answer is journaled once written, so the next request's
			// answer can be journaled first: order them by STAN.
			slices.SortFunc(out, func(a, b acquirer.Entry) int { return strings.Compare(a.STAN, b.STAN) })
			if len(out) != 2 || !out[0].IssuerScript || !out[0].IssuerData || out[1].IssuerScript || out[1].IssuerData {
				t.Fatalf("journal out lines %+v", out)
			}
			checkNoCardData(t, r, []deck.Card{card})
		})
	}
}

// TestOnlinePIN: the PIN block is opened with the request's own DUKPT PIN
// key (format 0 under TDES, format 4 under AES) and compared with the
// card's PIN; three wrong PINs in a row block it at the issuer.
func TestOnlinePIN(t *testing.T) {
	for _, d := range host.DialectNames() {
		for _, mode := range []wiresec.Mode{wiresec.ModeAES, wiresec.ModeTDES} {
			t.Run(fmt.Sprintf("%s/%s", d, mode), func(t *testing.T) {
				r := startServer(t, d, mode, nil, withCards(findChip))
				c := newClient(t, d, r.addr, nil)
				tm := newTerminal(t, mode)
				ctx := context.Background()
				stan := uint32(0)
				swipe := func(card deck.Card, pin string, amount int64) (host.Result, error) {
					stan++
					s := tm.session(t)
					p := host.Purchase{STAN: stan, Amount: amount, Currency: "156", EntryMode: "021",
						Track2: []byte(card.PAN + "=30121010000000000000")}
					if pin != "" {
						var err error
						if p.PINBlock, err = s.EncryptPIN(pin, card.PAN); err != nil {
							t.Fatal(err)
						}
					}
					return c.Purchase(ctx, p, s)
				}
				visa := chipCard(t, "visa-chip")
				up := chipCard(t, "unionpay-chip")
				for i, tc := range []struct {
					card   deck.Card
					pin    string
					amount int64
					rc     string
					pinOK  bool
				}{
					{visa, "1234", 1000, "00", true},
					{visa, "4321", 1000, "55", false},
					{visa, "1234", 1051, "51", true}, // right PIN: the amount decides; the count resets
					{up, "888888", 1000, "00", true}, // 6 digits, 19-digit PAN
					{up, "888889", 1000, "55", false},
					{up, "000000", 1000, "55", false},
					{up, "123456", 1000, "75", false}, // the third wrong PIN in a row
					{up, "888888", 1000, "75", false}, // blocked: even the right one
					{visa, "9999", 1000, "55", false}, // visa's count started again
					{visa, "1234", 1000, "00", true},
					{chipCard(t, "visa-no-pin"), "1234", 1000, "55", false},
					{deck.Card{PAN: "4000000000000002"}, "1234", 1000, "14", false}, // not a card of the issuer
				} {
					res, err := swipe(tc.card, tc.pin, tc.amount)
					if err != nil {
						t.Fatalf("case %d: %v", i, err)
					}
					if res.ResponseCode != tc.rc {
						t.Fatalf("case %d: %q, want %q", i, res.ResponseCode, tc.rc)
					}
					e := journalIn(t, r, stan)
					if !e.PINPresent || e.PINOK == nil || *e.PINOK != tc.pinOK || e.ARQCOK != nil {
						t.Fatalf("case %d: journal %+v", i, e)
					}
				}
				// Without a PIN block the swipe is not the issuer's business.
				if res, err := swipe(deck.Card{PAN: "4000000000000002"}, "", 1000); err != nil || !res.Approved() {
					t.Fatalf("no PIN: %+v %v", res, err)
				}
				if e := journalIn(t, r, stan); e.PINPresent || e.PINOK != nil {
					t.Fatalf("no PIN: journal %+v", e)
				}
				r.stop()
				checkNoCardData(t, r, []deck.Card{visa, up}, "4321", "888889", "9999")
			})
		}
	}
}

// TestChipAndPIN: an ARQC and an online PIN together; a wrong PIN after a
// good ARQC is declined 55 with the ARPC of ARC "55", and a card not on
// file is 14.
func TestChipAndPIN(t *testing.T) {
	r := startServer(t, "cup", wiresec.ModeTDES, nil, withCards(findChip))
	c := newClient(t, "cup", r.addr, nil)
	tm := newTerminal(t, wiresec.ModeTDES)
	card := chipCard(t, "mastercard-chip")
	iss := deck.Issuers[card.Scheme]
	for i, tc := range []struct {
		pin, rc string
	}{{card.PIN, "00"}, {"7531", "55"}} {
		ac := arqcCase{card: card, iss: iss, amount: 1500, atc: []byte{0x01, byte(i)}, un: testhex.Must("11223344")}
		icc, arqc, sk, mk := ac.build(t)
		s := tm.session(t)
		res, err := c.Purchase(context.Background(), chipPurchase(t, s, uint32(i+1), ac, icc, tc.pin), s)
		if err != nil {
			t.Fatal(err)
		}
		if res.ResponseCode != tc.rc || !bytes.Equal(res.Issuer.AuthData, wantARPC(t, iss, mk, sk, arqc, tc.rc)) {
			t.Fatalf("PIN %d: %+v", i, res)
		}
		e := journalIn(t, r, uint32(i+1))
		if e.ARQCOK == nil || !*e.ARQCOK || e.PINOK == nil || *e.PINOK != (tc.rc == "00") {
			t.Fatalf("journal %+v", e)
		}
	}
	// A chip card the issuer does not know.
	stranger := deck.Card{Scheme: "visa", PAN: "4000000000000002", PSN: "00"}
	ac := arqcCase{card: stranger, iss: deck.Issuers["visa"], amount: 100, atc: []byte{0, 1}, un: testhex.Must("11223344")}
	icc, _, _, _ := ac.build(t)
	res, err := c.Purchase(context.Background(), chipPurchase(t, nil, 3, ac, icc, ""), tm.session(t))
	if err != nil || res.ResponseCode != acquirer.RCInvalidCard || res.ICC != nil {
		t.Fatalf("unknown card: %+v %v", res, err)
	}
	if e := journalIn(t, r, 3); e.ARQCOK == nil || *e.ARQCOK {
		t.Fatalf("unknown card: journal %+v", e)
	}
	r.stop()
	checkNoCardData(t, r, []deck.Card{card, stranger}, "7531")
}
