package icc_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"

	"posd/board/sim/deck"
	"posd/board/sim/icc"
	"posd/crypto/emv"
)

func newCard(t *testing.T, name string) *icc.Card {
	t.Helper()
	c, err := deck.NewICC(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func chipCards() []deck.Card {
	var out []deck.Card
	for _, c := range deck.Cards {
		if c.Chip != nil {
			out = append(out, c)
		}
	}
	return out
}

// contactEMV runs a contact (or kernel 2) transaction to the end: ODA
// (DDA or CDA), an ARQC verified as the issuer would, issuer
// authentication with the ARPC, and a TC.
func contactEMV(t *testing.T, c deck.Card, tm *term) {
	t.Helper()
	if _, sw := tm.gpo(); sw != 0x9000 {
		t.Fatalf("GPO: %04X", sw)
	}
	static := tm.readRecords()
	for _, tag := range []string{"5A", "5F24", "5F34", "8C", "8D", "8E", "9F07", "9F0D", "9F0E", "9F0F", "9F42", "57", "90", "9F46", "9F47"} {
		if _, ok := tm.card[tag]; !ok {
			t.Fatalf("no %s in the records", tag)
		}
	}
	if got := strings.ToUpper(strings.TrimRight(hex.EncodeToString(tm.card["57"]), "f")); !strings.HasPrefix(got, c.PAN+"D") {
		t.Fatal("track 2 equivalent does not carry the PAN")
	}
	key, err := tm.oda(static)
	if c.Chip.TamperODA {
		if err == nil {
			t.Fatal("a tampered ICC certificate was recovered")
		}
		return
	}
	if err != nil {
		t.Fatalf("ICC certificate: %v", err)
	}
	aip := tm.card["82"][0]
	cda := aip&icc.AIPCDA != 0
	if !cda && aip&icc.AIPDDA != 0 {
		un := tm.v["9F37"]
		d := tm.must(apdu(0x00, 0x88, 0x00, 0x00, un, true), 0x9000)
		m := map[string][]byte{}
		if flatten(t, d, m); m["80"] == nil {
			t.Fatalf("INTERNAL AUTHENTICATE answer %X", d[:2])
		}
		if _, err := emv.VerifySDAD(key.PublicKey, m["80"], un); err != nil {
			t.Fatalf("DDA: %v", err)
		}
		// A DDOL of 9F37 04: another length is refused.
		tm.must(apdu(0x00, 0x88, 0x00, 0x00, append(un, 0), true), 0x6700)
	}
	p1 := byte(icc.CIDARQC)
	if cda {
		p1 |= 0x10
	}
	resp, raw, sw := tm.generateAC(p1, tm.card["8C"])
	if sw != 0x9000 || resp["9F27"][0]&0xC0 != icc.CIDARQC {
		t.Fatalf("first GENERATE AC: %04X %X", sw, resp["9F27"])
	}
	ac := resp["9F26"]
	if cda {
		if ac != nil {
			t.Fatal("AC in the clear under CDA")
		}
		dd, err := emv.VerifyCDA(key.PublicKey, resp["9F4B"], tm.v["9F37"])
		if err != nil {
			t.Fatalf("CDA: %v", err)
		}
		// The hash over PDOL, CDOL1 values and the response's objects
		// other than the SDAD, in order.
		var others []byte
		for _, tag := range []string{"9F27", "9F36", "9F10"} {
			i := bytes.Index(raw, append(h(tag), byte(len(resp[tag]))))
			if i < 0 {
				t.Fatalf("no %s in the response", tag)
			}
			others = append(others, raw[i:i+len(tag)/2+1+len(resp[tag])]...)
		}
		want := emv.CDATransactionDataHash(tm.v["pdol"], tm.dolData(tm.card["8C"]), nil, others)
		if !bytes.Equal(dd.TxnDataHash, want) || dd.CID != resp["9F27"][0] {
			t.Fatal("CDA transaction data hash or CID differs")
		}
		ac = dd.AC
	}
	tm.issuerCheck(c.Scheme, resp, ac, nil)

	// The issuer's answer.
	is := deck.Issuers[c.Scheme]
	pan, psn := c.PAN, c.PSN
	mk, _ := is.ICCMasterKey(pan, psn)
	arpc, err := is.ARPC(mk, resp["9F36"], tm.v["9F37"], ac, []byte("00"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if aip&icc.AIPIssuerAuth != 0 {
		bad := append([]byte(nil), arpc...)
		bad[0] ^= 1
		// One try only: first a good one, then a second is refused.
		tm.must(apdu(0x00, 0x82, 0x00, 0x00, arpc, false), 0x9000)
		tm.must(apdu(0x00, 0x82, 0x00, 0x00, bad, false), 0x6985)
	} else {
		tm.v["91"] = arpc
	}
	cdol2 := tm.card["8D"]
	resp2, _, sw := tm.generateAC(icc.CIDTC, cdol2)
	if sw != 0x9000 || resp2["9F27"][0]&0xC0 != icc.CIDTC {
		t.Fatalf("second GENERATE AC: %04X %X", sw, resp2["9F27"])
	}
	entries, _ := icc.ParseDOL(cdol2)
	over := map[string][]byte{}
	for _, e := range entries {
		over[e.Tag] = tm.v[e.Tag]
	}
	tm.issuerCheck(c.Scheme, resp2, resp2["9F26"], over)
	cvn, _ := icc.CVNFromIAD(resp2["9F10"])
	cvr, _ := cvn.CVR(resp2["9F10"])
	if cvn != icc.MChipCVN16 && cvr[1]&0x08 != 0 {
		t.Fatal("CVR says issuer authentication failed")
	}
	tm.must(apdu(0x80, 0xAE, 0x40, 0x00, tm.dolData(cdol2), true), 0x6985)
}

// quick runs a qVSDC/qPBOC GPO and checks the cryptogram and fDDA.
func quick(t *testing.T, c deck.Card, tm *term, wantCID byte) map[string][]byte {
	t.Helper()
	if _, sw := tm.gpo(); sw != 0x9000 {
		t.Fatalf("GPO: %04X", sw)
	}
	resp := map[string][]byte{}
	for k, v := range tm.card {
		resp[k] = v
	}
	if resp["9F27"][0]&0xC0 != wantCID {
		t.Fatalf("CID %X, want %02X", resp["9F27"], wantCID)
	}
	static := tm.readRecords()
	key, err := tm.oda(static)
	if c.Chip.TamperODA {
		if err == nil {
			t.Fatal("a tampered ICC certificate was recovered")
		}
		return resp
	}
	if err != nil {
		t.Fatalf("ICC certificate: %v", err)
	}
	if sdad := resp["9F4B"]; sdad != nil {
		cad := resp["9F69"]
		if len(cad) != 7 || cad[0] != 0x01 || !bytes.Equal(cad[5:], resp["9F6C"]) {
			t.Fatalf("card authentication related data %X", cad)
		}
		if _, err := emv.VerifySDAD(key.PublicKey, sdad, icc.FDDATerminalData(tm.v["9F37"], tm.v["9F02"], tm.v["5F2A"], cad)); err != nil {
			t.Fatalf("fDDA: %v", err)
		}
	} else if wantCID == icc.CIDTC {
		t.Fatal("offline approval without fDDA")
	}
	tm.issuerCheck(c.Scheme, resp, resp["9F26"], nil)
	// No GENERATE AC on the quick path.
	tm.must(apdu(0x80, 0xAE, 0x80, 0x00, make([]byte, 20), true), 0x6985)
	return resp
}

// Every chip card of the deck through a scripted terminal on each of its
// interfaces: cryptograms an issuer verifies from deck.Issuers alone,
// certificates recovered with the simulated CA's key, the tampered card
// failing, the blocked one refused.
func TestDeckCardsThroughATerminal(t *testing.T) {
	cards := chipCards()
	if len(cards) < 9 {
		t.Fatalf("%d chip cards", len(cards))
	}
	for _, c := range cards {
		for _, iface := range []icc.Interface{icc.Contact, icc.Contactless} {
			if (iface == icc.Contact && !c.Chip.Contact) || (iface == icc.Contactless && !c.Chip.Contactless) {
				continue
			}
			t.Run(c.Name+"/"+iface.String(), func(t *testing.T) {
				card := newCard(t, c.Name)
				tm := newTerm(t, card.Present(iface), "000000001000")
				_, sw := tm.selectApp()
				if c.Chip.Blocked {
					if sw != 0x6283 {
						t.Fatalf("blocked application selected with %04X", sw)
					}
					if _, sw := tm.gpo(); sw != 0x6985 {
						t.Fatalf("GPO of a blocked application: %04X", sw)
					}
					return
				}
				if sw != 0x9000 {
					t.Fatalf("SELECT: %04X", sw)
				}
				if iface == icc.Contactless && len(tm.card["9F38"]) > 0 && bytes.Contains(tm.card["9F38"], h("9F66")) {
					// Only the CVM card approves 10.00 offline.
					want := byte(icc.CIDARQC)
					if c.Chip.Risk.ContactlessOfflineLimit > 0 {
						want = icc.CIDTC
					}
					quick(t, c, tm, want)
					return
				}
				contactEMV(t, c, tm)
			})
		}
	}
}

// The offline card gives a TC when asked below its limit, an ARQC above
// it and after its consecutive offline limit.
func TestCardRiskManagement(t *testing.T) {
	card := newCard(t, "visa-offline")
	run := func(amount string) byte {
		tm := newTerm(t, card.Present(icc.Contact), amount)
		tm.selectApp()
		tm.gpo()
		tm.readRecords()
		resp, _, sw := tm.generateAC(icc.CIDTC, tm.card["8C"])
		if sw != 0x9000 {
			t.Fatalf("GENERATE AC: %04X", sw)
		}
		tm.issuerCheck("visa", resp, resp["9F26"], nil)
		return resp["9F27"][0] & 0xC0
	}
	if got := run("000000050001"); got != icc.CIDARQC {
		t.Fatalf("above the card's offline limit: CID %02X", got)
	}
	// That ARQC was never completed: the next TC request goes online too.
	if got := run("000000001000"); got != icc.CIDARQC {
		t.Fatalf("after an uncompleted online transaction: CID %02X", got)
	}
	card = newCard(t, "visa-offline")
	for i := 0; i < 5; i++ {
		if got := run("000000050000"); got != icc.CIDTC {
			t.Fatalf("offline approval %d: CID %02X", i+1, got)
		}
	}
	if got := run("000000001000"); got != icc.CIDARQC {
		t.Fatalf("sixth offline in a row: CID %02X", got)
	}
	// An AAC asked is an AAC.
	tm := newTerm(t, card.Present(icc.Contact), "000000001000")
	tm.selectApp()
	tm.gpo()
	tm.readRecords()
	resp, _, sw := tm.generateAC(icc.CIDAAC, tm.card["8C"])
	if sw != 0x9000 || resp["9F27"][0]&0xC0 != icc.CIDAAC {
		t.Fatalf("AAC asked, not given: %04X\n%s", sw, strings.Join(tm.log, "\n"))
	}
}

// The contactless CVM card: offline with fDDA below the reader's CVM
// limit, online PIN and an ARQC above it; the ATC persists across taps.
func TestContactlessCVMLimit(t *testing.T) {
	c, _ := deck.Lookup("visa-contactless-cvm")
	card := newCard(t, c.Name)
	tm := newTerm(t, card.Present(icc.Contactless), "000000002000")
	tm.selectApp()
	resp := quick(t, c, tm, icc.CIDTC)
	if resp["9F6C"][0]&0x80 != 0 {
		t.Fatal("online PIN asked below the CVM limit")
	}
	tm = newTerm(t, card.Present(icc.Contactless), "000000030000")
	tm.v["9F66"] = h("36404000") // CVM required
	tm.selectApp()
	resp = quick(t, c, tm, icc.CIDARQC)
	if resp["9F6C"][0]&0x80 == 0 {
		t.Fatal("no online PIN asked above the CVM limit")
	}
	if card.ATC(0) != 2 || !bytes.Equal(resp["9F36"], []byte{0, 2}) {
		t.Fatalf("ATC %d after two taps", card.ATC(0))
	}
	// A reader that needs an online cryptogram gets one.
	tm = newTerm(t, card.Present(icc.Contactless), "000000001000")
	tm.v["9F66"] = h("36804000")
	tm.selectApp()
	quick(t, c, tm, icc.CIDARQC)
}

// Offline PIN: plaintext and enciphered VERIFY, the try counter going
// down with 63Cx, blocked at zero (6983), reset by a right PIN and by a
// PIN UNBLOCK script.
func TestOfflinePIN(t *testing.T) {
	c, _ := deck.Lookup("mastercard-debit")
	card := newCard(t, c.Name)
	tm := newTerm(t, card.Present(icc.Contact), "000000001000")
	tm.selectApp()
	tm.must(apdu(0x00, 0x20, 0x00, 0x80, pinBlock(c.PIN), false), 0x6985) // before GPO
	tm.gpo()
	static := tm.readRecords()
	key, err := tm.oda(static)
	if err != nil {
		t.Fatal(err)
	}
	if d := tm.must([]byte{0x80, 0xCA, 0x9F, 0x17, 0x00}, 0x9000); !bytes.Equal(d, h("9F170103")) {
		t.Fatalf("PIN try counter %X", d)
	}
	tm.must(apdu(0x00, 0x20, 0x00, 0x80, pinBlock("0000"), false), 0x63C2)
	tm.must(apdu(0x00, 0x20, 0x00, 0x80, pinBlock(c.PIN), false), 0x9000)
	if card.PINTries() != 3 {
		t.Fatal("a right PIN does not reset the counter")
	}
	// Enciphered: GET CHALLENGE, then the block under the ICC key.
	ch := tm.must([]byte{0x00, 0x84, 0x00, 0x00, 0x00}, 0x9000)
	if len(ch) != 8 {
		t.Fatalf("challenge of %d bytes", len(ch))
	}
	tm.must(apdu(0x00, 0x20, 0x00, 0x88, encipher(t, key.PublicKey, pinBlock(c.PIN), ch), false), 0x9000)
	// The challenge is used once.
	tm.must(apdu(0x00, 0x20, 0x00, 0x88, encipher(t, key.PublicKey, pinBlock(c.PIN), ch), false), 0x6985)
	ch = tm.must([]byte{0x00, 0x84, 0x00, 0x00, 0x00}, 0x9000)
	tm.must(apdu(0x00, 0x20, 0x00, 0x88, encipher(t, key.PublicKey, pinBlock("9999"), ch), false), 0x63C2)
	tm.must(apdu(0x00, 0x20, 0x00, 0x80, pinBlock("1111"), false), 0x63C1)
	tm.must(apdu(0x00, 0x20, 0x00, 0x80, pinBlock("2222"), false), 0x63C0)
	tm.must(apdu(0x00, 0x20, 0x00, 0x80, pinBlock(c.PIN), false), 0x6983)
	tm.must(apdu(0x00, 0x20, 0x00, 0x80, h("2412FFFFFFFFFFFF"), false), 0x6983)
	// The counter persists into the next presentation.
	tm = newTerm(t, card.Present(icc.Contact), "000000001000")
	tm.selectApp()
	tm.gpo()
	if d := tm.must([]byte{0x80, 0xCA, 0x9F, 0x17, 0x00}, 0x9000); !bytes.Equal(d, h("9F170100")) {
		t.Fatalf("PIN try counter %X after blocking", d)
	}
	tm.must(apdu(0x00, 0x20, 0x00, 0x80, pinBlock(c.PIN), false), 0x6983)
	tm.readRecords()
	// An online transaction, then the issuer's PIN UNBLOCK script.
	resp, raw, _ := tm.generateAC(icc.CIDARQC|0x10, tm.card["8C"])
	dd, err := emv.VerifyCDA(key.PublicKey, resp["9F4B"], tm.v["9F37"])
	if err != nil {
		t.Fatal(err, raw)
	}
	cvr, _ := icc.MChipCVN16.CVR(resp["9F10"])
	if cvr[3]&0x08 == 0 {
		t.Fatal("CVR does not say the PIN try limit is exceeded")
	}
	is := deck.Issuers["mastercard"]
	bad, _ := is.ScriptCommand(c.PAN, c.PSN, resp["9F36"], dd.AC, 0x84, 0x24, 0x00, 0x00, nil)
	bad[len(bad)-1] ^= 1
	tm.must(bad, 0x6988)
	unblock, _ := is.ScriptCommand(c.PAN, c.PSN, resp["9F36"], dd.AC, 0x84, 0x24, 0x00, 0x00, nil)
	tm.must(unblock, 0x9000)
	if card.PINTries() != 3 {
		t.Fatal("PIN UNBLOCK did not reset the counter")
	}
	// Malformed blocks are refused without counting.
	tm = newTerm(t, card.Present(icc.Contact), "000000001000")
	tm.selectApp()
	tm.gpo()
	tm.must(apdu(0x00, 0x20, 0x00, 0x80, h("2312FFFFFFFFFFFF"), false), 0x6A80)
	tm.must(apdu(0x00, 0x20, 0x00, 0x80, h("24123AFFFFFFFFFF"), false), 0x6A80)
	tm.must(apdu(0x00, 0x20, 0x00, 0x80, h("2412"), false), 0x6A80)
	if card.PINTries() != 3 {
		t.Fatal("malformed PIN blocks counted as tries")
	}
}

func pinBlock(pin string) []byte {
	s := "2" + string(rune('0'+len(pin))) + pin
	if len(pin) > 9 {
		s = "2" + strings.ToUpper(hex.EncodeToString([]byte{byte(len(pin))}))[1:] + pin
	}
	s += strings.Repeat("F", 16-len(s))
	return h(s)
}

// encipher is the terminal's side of an offline enciphered PIN (book 2
// section 7.2): 7F || PIN block || ICC challenge || random padding,
// raised to the public exponent.
func encipher(t *testing.T, k emv.PublicKey, block, challenge []byte) []byte {
	t.Helper()
	m := make([]byte, len(k.Modulus))
	m[0] = 0x7F
	copy(m[1:], block)
	copy(m[9:], challenge)
	for i := 17; i < len(m); i++ {
		m[i] = 0x55
	}
	n := new(big.Int).SetBytes(k.Modulus)
	c := new(big.Int).Exp(new(big.Int).SetBytes(m), new(big.Int).SetBytes(k.Exponent), n)
	out := make([]byte, len(k.Modulus))
	c.FillBytes(out)
	return out
}

// Issuer scripts: APPLICATION BLOCK with a good MAC blocks the
// application for the next presentations; a bad MAC is refused; without
// an ARQC a script is refused; UNBLOCK restores it.
func TestIssuerScripts(t *testing.T) {
	c, _ := deck.Lookup("visa-credit")
	card := newCard(t, c.Name)
	is := deck.Issuers["visa"]
	online := func() (*term, map[string][]byte) {
		tm := newTerm(t, card.Present(icc.Contact), "000000001000")
		if _, sw := tm.selectApp(); sw != 0x9000 {
			t.Fatalf("SELECT %04X", sw)
		}
		tm.gpo()
		tm.readRecords()
		resp, _, _ := tm.generateAC(icc.CIDARQC, tm.card["8C"])
		return tm, resp
	}
	tm := newTerm(t, card.Present(icc.Contact), "000000001000")
	tm.selectApp()
	tm.gpo()
	noARQC, _ := is.ScriptCommand(c.PAN, c.PSN, []byte{0, 1}, make([]byte, 8), 0x84, 0x1E, 0, 0, nil)
	tm.must(noARQC, 0x6985)

	tm, resp := online()
	block, _ := is.ScriptCommand(c.PAN, c.PSN, resp["9F36"], resp["9F26"], 0x84, 0x1E, 0, 0, nil)
	wrongATC, _ := is.ScriptCommand(c.PAN, c.PSN, []byte{0x7F, 0x7F}, resp["9F26"], 0x84, 0x1E, 0, 0, nil)
	tm.must(wrongATC, 0x6988)
	tm.must(block, 0x9000)
	// The issuer said "unable to go online" style decline: the card gives
	// the AAC the terminal asks.
	tm.v["8A"] = []byte("05")
	resp2, _, _ := tm.generateAC(icc.CIDAAC, tm.card["8D"])
	if resp2["9F27"][0]&0xC0 != icc.CIDAAC {
		t.Fatal("second AC not an AAC")
	}
	cvr, _ := icc.VisaCVN10.CVR(resp2["9F10"])
	if cvr[3]>>4 != 2 || cvr[3]&0x08 == 0 {
		t.Fatalf("CVR %X does not count two scripts, one failed", cvr)
	}
	if !card.Blocked(0) {
		t.Fatal("APPLICATION BLOCK did not block")
	}
	tm = newTerm(t, card.Present(icc.Contact), "000000001000")
	if _, sw := tm.selectApp(); sw != 0x6283 {
		t.Fatalf("blocked application selected with %04X", sw)
	}
	// PUT DATA of the offline limit, then unblocking needs an online
	// transaction, which a blocked application cannot do: a new card.
	card = newCard(t, c.Name)
	tm, resp = online()
	put, _ := is.ScriptCommand(c.PAN, c.PSN, resp["9F36"], resp["9F26"], 0x04, 0xDA, 0xDF, 0x01, h("000000010000"))
	tm.must(put, 0x9000)
	badTag, _ := is.ScriptCommand(c.PAN, c.PSN, resp["9F36"], resp["9F26"], 0x04, 0xDA, 0x9F, 0x99, h("00"))
	tm.must(badTag, 0x6A88)
	// Issuer authentication failing: the card declines at the second AC.
	tm.must(apdu(0x00, 0x82, 0x00, 0x00, make([]byte, 10), false), 0x6300)
	resp2, _, _ = tm.generateAC(icc.CIDTC, tm.card["8D"])
	if resp2["9F27"][0]&0xC0 != icc.CIDAAC {
		t.Fatal("TC after a failed issuer authentication")
	}
	// The next transaction: last issuer authentication failed, the card
	// goes online even below its new offline limit.
	tm = newTerm(t, card.Present(icc.Contact), "000000000100")
	tm.selectApp()
	tm.gpo()
	tm.readRecords()
	resp, _, _ = tm.generateAC(icc.CIDTC, tm.card["8C"])
	if resp["9F27"][0]&0xC0 != icc.CIDARQC {
		t.Fatal("offline after a failed issuer authentication")
	}
}

// T=0 on the contact interface: 61xx and GET RESPONSE (also in pieces),
// 6Cxx for a wrong Le on a case 2 command and on GET RESPONSE, the
// warning of a blocked application before its FCI.
func TestT0(t *testing.T) {
	card := newCard(t, "visa-credit")
	tm := newTerm(t, card.Present(icc.Contact), "000000001000")
	_, sw := tm.raw([]byte{0x00, 0xA4, 0x04, 0x00, 0x0E, '1', 'P', 'A', 'Y', '.', 'S', 'Y', 'S', '.', 'D', 'D', 'F', '0', '1'})
	if sw>>8 != 0x61 {
		t.Fatalf("SELECT PSE: %04X, want 61xx", sw)
	}
	n := int(sw & 0xFF)
	d, sw := tm.raw([]byte{0x00, 0xC0, 0x00, 0x00, byte(n + 1)})
	if sw != 0x6C00|uint16(n) || len(d) != 0 {
		t.Fatalf("GET RESPONSE with a long Le: %04X", sw)
	}
	d1, sw := tm.raw([]byte{0x00, 0xC0, 0x00, 0x00, 0x05})
	if sw != 0x6100|uint16(n-5) || len(d1) != 5 {
		t.Fatalf("GET RESPONSE of 5: %04X", sw)
	}
	d2, sw := tm.raw([]byte{0x00, 0xC0, 0x00, 0x00, byte(n - 5)})
	if sw != 0x9000 || d2[len(d2)-2] != 'e' && false {
		t.Fatalf("rest: %04X", sw)
	}
	fci := append(d1, d2...)
	if fci[0] != 0x6F || int(fci[1]) != len(fci)-2 {
		t.Fatalf("FCI %X", fci)
	}
	if _, sw := tm.raw([]byte{0x00, 0xC0, 0x00, 0x00, 0x00}); sw != 0x6985 {
		t.Fatalf("GET RESPONSE with nothing: %04X", sw)
	}
	// Case 2: READ RECORD with Le 00 → 6Cxx, again with the length.
	_, sw = tm.raw([]byte{0x00, 0xB2, 0x01, 0x0C, 0x00})
	if sw>>8 != 0x6C {
		t.Fatalf("READ RECORD Le 00: %04X", sw)
	}
	rec, sw := tm.raw([]byte{0x00, 0xB2, 0x01, 0x0C, byte(sw)})
	if sw != 0x9000 || rec[0] != 0x70 {
		t.Fatalf("READ RECORD with Le: %04X", sw)
	}
	// A command between drops what GET RESPONSE would have given.
	tm.raw([]byte{0x00, 0xA4, 0x04, 0x00, 0x0E, '1', 'P', 'A', 'Y', '.', 'S', 'Y', 'S', '.', 'D', 'D', 'F', '0', '1'})
	tm.raw([]byte{0x80, 0xCA, 0x9F, 0x36, 0x00})
	if _, sw := tm.raw([]byte{0x00, 0xC0, 0x00, 0x00, 0x00}); sw != 0x6985 {
		t.Fatalf("GET RESPONSE after another command: %04X", sw)
	}

	// Blocked: 6283 first, then the FCI through GET RESPONSE.
	blocked := newCard(t, "mastercard-blocked")
	tm = newTerm(t, blocked.Present(icc.Contact), "000000001000")
	_, sw = tm.raw([]byte{0x00, 0xA4, 0x04, 0x00, 0x07, 0xA0, 0, 0, 0, 0x04, 0x10, 0x10})
	if sw != 0x6283 {
		t.Fatalf("blocked SELECT: %04X", sw)
	}
	_, sw = tm.raw([]byte{0x00, 0xC0, 0x00, 0x00, 0x00})
	if sw>>8 != 0x6C {
		t.Fatalf("GET RESPONSE Le 00: %04X", sw)
	}
	fci, sw = tm.raw([]byte{0x00, 0xC0, 0x00, 0x00, byte(sw)})
	if sw != 0x9000 || fci[0] != 0x6F {
		t.Fatalf("FCI after the warning: %04X", sw)
	}

	// Contactless answers whole responses, whatever the Le.
	tm = newTerm(t, card.Present(icc.Contactless), "000000001000")
	d, sw = tm.raw([]byte{0x00, 0xA4, 0x04, 0x00, 0x0E, '2', 'P', 'A', 'Y', '.', 'S', 'Y', 'S', '.', 'D', 'D', 'F', '0', '1', 0x00})
	if sw != 0x9000 || d[0] != 0x6F {
		t.Fatalf("SELECT PPSE: %04X", sw)
	}
	// No PSE contactless, no PPSE on the contacts.
	tm.must(apdu(0x00, 0xA4, 0x04, 0x00, []byte("1PAY.SYS.DDF01"), true), 0x6A82)
}

// Removal takes effect between two APDUs: after the ARQC the card is
// mute, on both interfaces; Remove does the same at once.
func TestRemoval(t *testing.T) {
	for _, iface := range []icc.Interface{icc.Contact, icc.Contactless} {
		card := newCard(t, "mastercard-debit")
		port := card.Present(iface)
		removed := make(chan struct{})
		port.RemoveWhen(icc.AfterGenerateAC(1), func() { close(removed) })
		tm := newTerm(t, port, "000000001000")
		tm.selectApp()
		tm.gpo()
		tm.readRecords()
		resp, _, sw := tm.generateAC(icc.CIDARQC|0x10, tm.card["8C"])
		if sw != 0x9000 || resp["9F27"][0] != icc.CIDARQC {
			t.Fatalf("%v: GENERATE AC %04X", iface, sw)
		}
		<-removed
		if _, err := port.Transmit([]byte{0x80, 0xCA, 0x9F, 0x36, 0x00}); !errors.Is(err, icc.ErrRemoved) {
			t.Fatalf("%v: after removal: %v", iface, err)
		}
		if !port.Removed() {
			t.Fatal("port not marked removed")
		}
		// The ARQC's transaction stays "not completed" for the next one.
		port = card.Present(iface)
		port.Remove()
		if _, err := port.Transmit([]byte{0x00, 0xA4, 0x04, 0x00, 0x07, 0xA0, 0, 0, 0, 0x04, 0x10, 0x10}); !errors.Is(err, icc.ErrRemoved) {
			t.Fatalf("removed before the first command: %v", err)
		}
	}
	// The quick kernels' cryptogram comes with GPO.
	card := newCard(t, "visa-credit")
	port := card.Present(icc.Contactless)
	port.RemoveWhen(icc.AfterCommand(0xA8, 1), nil)
	tm := newTerm(t, port, "000000001000")
	tm.selectApp()
	tm.gpo()
	if _, err := port.Transmit([]byte{0x00, 0xB2, 0x01, 0x14, 0x00}); !errors.Is(err, icc.ErrRemoved) {
		t.Fatalf("after the quick GPO: %v", err)
	}
}

// Malformed and unknown commands get the status words a card gives.
func TestMalformedCommands(t *testing.T) {
	card := newCard(t, "visa-credit")
	port := card.Present(icc.Contactless)
	for _, tc := range []struct {
		apdu string
		sw   uint16
	}{
		{"00", 0x6700},
		{"00A404", 0x6700},
		{"00A4040005A000", 0x6700},   // Lc 5, 2 bytes
		{"00A40400000102", 0x6700},   // extended length
		{"B0A4040000", 0x6E00},       // unknown class
		{"00FE000000", 0x6D00},       // unknown instruction
		{"80FE000000", 0x6D00},       // unknown proprietary instruction
		{"00A4010002A00000", 0x6A86}, // select by file id
		{"00A4040007A000000099999900", 0x6A82},
		{"00B2000C00", 0x6A86},       // record 0
		{"00B2010800", 0x6A86},       // P2 not a record number reference
		{"80A8000002830000", 0x6985}, // GPO without a selected application
		{"80AE8000020000", 0x6985},   // GENERATE AC before GPO
		{"0082000008000000000000000000", 0x6985},
		{"8084000000", 0x6D00},
		{"0084000100", 0x6A86},
		{"841E000004AABBCCDD", 0x6985}, // script without an ARQC
		{"80CA9F3600", 0x6985},         // GET DATA with nothing selected
		{"00C0000000", 0x6D00},         // GET RESPONSE is T=0 only
	} {
		r, err := port.Transmit(h(tc.apdu))
		if err != nil {
			t.Fatal(err)
		}
		if got := uint16(r[len(r)-2])<<8 | uint16(r[len(r)-1]); got != tc.sw || len(r) != 2 {
			t.Errorf("%s: %X, want %04X", tc.apdu, r, tc.sw)
		}
	}
	// With the application selected: GPO data of the wrong shape.
	tm := newTerm(t, port, "000000001000")
	tm.selectApp()
	tm.must(h("80A800000284000"+"0"), 0x6A80)
	tm.must(h("80A8000003830100"), 0x6700)
	tm.must(h("80A80000028300"), 0x6700) // the PDOL asks for 33 bytes
	tm.must(h("80CA9F9900"), 0x6A88)
	// The next occurrence of a partial AID: there is none.
	tm.must(h("00A4040005A00000000300"), 0x9000)
	tm.must(h("00A4040205A00000000300"), 0x6A82)
}

// A card of a scheme whose issuer application data the issuer does not
// know is refused, and ACInput names missing tags without card data.
func TestACInputErrors(t *testing.T) {
	if _, err := icc.ACInput(icc.VisaCVN10, map[string][]byte{"9F02": h("000000001000")}); !errors.Is(err, icc.ErrTags) {
		t.Fatalf("missing tags: %v", err)
	}
	if _, err := icc.ACInput(icc.CVN(0x77), nil); !errors.Is(err, icc.ErrCVN) {
		t.Fatalf("unknown CVN: %v", err)
	}
	if _, err := icc.CVNFromIAD(h("0102")); !errors.Is(err, icc.ErrCVN) {
		t.Fatalf("unknown IAD: %v", err)
	}
	if _, err := deck.ACInput("amex", nil); err == nil {
		t.Fatal("unknown scheme accepted")
	}
}

// Fuzz target: a card never panics on a command, always answers at
// least a status word, on either interface, selected or not.
func FuzzTransmit(f *testing.F) {
	card, err := deck.NewICC("mastercard-debit")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"00A404000E315041592E5359532E444446303100", "00A4040007A000000004101000",
		"80A8000002830000", "00B2011400", "80AE900020", "0020008008241234FFFFFFFFFF", "00C0000000",
		"841E000004AABBCCDD", "0088000004", "80CA9F1700", "00840000"} {
		f.Add(h(s), false, true)
	}
	f.Fuzz(func(t *testing.T, cmd []byte, contactless, sel bool) {
		iface := icc.Contact
		if contactless {
			iface = icc.Contactless
		}
		port := card.Present(iface)
		if sel {
			port.Transmit(h("00A4040007A000000004101000"))
			port.Transmit(h("80A8000002830000"))
		}
		r, err := port.Transmit(cmd)
		if err != nil || len(r) < 2 {
			t.Fatalf("%X: %X %v", cmd, r, err)
		}
	})
}

// The profile errors carry no card data.
func TestErrorsCarryNoCardData(t *testing.T) {
	for _, c := range chipCards() {
		_, err := deck.NewICC(c.Name + "-nope")
		if err == nil {
			t.Fatal("unknown card made")
		}
		for _, secret := range []string{c.PAN, c.Track2, c.PIN} {
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("%s: card data in %q", c.Name, err)
			}
		}
	}
	if _, err := deck.NewICC("visa-classic"); err == nil || strings.Contains(err.Error(), "4761739001010010") {
		t.Fatalf("stripe card: %v", err)
	}
	p := &icc.Profile{PIN: "12x4", Apps: []*icc.App{{AID: h("A0000000031010")}}}
	if _, err := icc.New(p, bytes.NewReader(nil)); !errors.Is(err, icc.ErrProfile) || strings.Contains(err.Error(), "12x4") {
		t.Fatalf("bad PIN: %v", err)
	}
}
