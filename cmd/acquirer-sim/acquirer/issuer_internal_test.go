package acquirer

import (
	"bytes"
	"strings"
	"testing"

	"posd/board/sim/deck"
	"posd/board/sim/icc"
	"posd/crypto/emv"
	"posd/internal/testhex"
)

// TestARPCAndScriptMACKnownAnswers checks the ARPC key choice of M/Chip CVN
// 16 (the ICC master key, not the session key) and the secure messaging
// MAC (SK-SMI from MK-SMI with R = ARQC; MAC over header, ATC, ARQC and
// data) against the published values of pyemv's M/Chip CVN 16 test: PAN
// 1234567890123456, PSN 00, ATC 001C, UN ABCDEF12, ARQC 24CCF3DEE3158C70.
func TestARPCAndScriptMACKnownAnswers(t *testing.T) {
	iss := deck.Issuer{
		Scheme: "mastercard", IMKAC: testhex.Must("0123456789ABCDEFFEDCBA9876543210"), MKOption: emv.OptionA,
		SKD: emv.SKDMastercard, Padding: emv.Padding2, ARPCMethod: 1,
		IMKSMI: testhex.Must("FEDCBA98765432100123456789ABCDEF"),
	}
	c := &chip{iss: iss, card: deck.Card{Name: "pyemv"}, pan: "1234567890123456", psn: "00",
		arqc: testhex.Must("24CCF3DEE3158C70"), atc: testhex.Must("001C")}
	var err error
	if c.mk, err = emv.DeriveICCMasterKey(iss.IMKAC, c.pan, c.psn, iss.MKOption); err != nil {
		t.Fatal(err)
	}
	if c.sk, err = emv.DeriveSessionKey(iss.SKD, c.mk, c.atc, testhex.Must("ABCDEF12")); err != nil {
		t.Fatal(err)
	}
	s := &Server{scriptCard: DefaultScriptCard}
	de55, script, err := s.issuerData(c, "\x00\x10") // the example's ARC 0010
	if err != nil || script {
		t.Fatalf("%v %v", err, script)
	}
	if want := testhex.Must("910A 73F6BBF389A6586C 0010"); !bytes.Equal(de55, want) {
		t.Fatalf("issuer data % X, want % X", de55, want)
	}
	mkSMI, err := emv.DeriveICCMasterKey(iss.IMKSMI, c.pan, c.psn, iss.MKOption)
	if err != nil {
		t.Fatal(err)
	}
	m, err := icc.ScriptMAC(mkSMI, c.atc, c.arqc, 0x84, 0x24, 0x00, 0x00, nil) // PIN unblock
	if err != nil {
		t.Fatal(err)
	}
	if want := testhex.Must("ED0AB162BAB1DE61"); !bytes.Equal(m, want) {
		t.Fatalf("script MAC % X, want % X", m, want)
	}

	// The script card gets the documented PUT DATA.
	c.card.Name = DefaultScriptCard
	de55, script, err = s.issuerData(c, "00")
	if err != nil || !script {
		t.Fatalf("%v %v", err, script)
	}
	m, err = icc.ScriptMAC(mkSMI, c.atc, c.arqc, 0x84, 0xDA, 0x9F, 0x14, []byte{0x05})
	if err != nil {
		t.Fatal(err)
	}
	want := "7217 9F1804 00000001 860E 84DA9F1409 05"
	if !bytes.HasSuffix(de55, append(testhex.Must(strings.ReplaceAll(want, " ", "")), m...)) {
		t.Fatalf("script card's DE55 % X", de55)
	}

	// An issuer of an unknown ARPC method answers nothing.
	c.iss.ARPCMethod = 3
	if _, _, err := s.issuerData(c, "00"); err == nil {
		t.Fatal("ARPC method 3 accepted")
	}
}
