package deck

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/moov-io/bertlv"

	"posd/board/sim/icc"
	"posd/crypto/emv"
	"posd/terminal/paycode"
)

var (
	cpmUN   = [4]byte{0x1A, 0x2B, 0x3C, 0x4D}
	cpmDate = time.Date(2026, 1, 15, 10, 30, 0, 0, time.UTC)
)

// cpmCards are the deck's chip cards that can make a payload (all but
// the blocked one).
func cpmCards(t *testing.T) []Card {
	t.Helper()
	var out []Card
	for _, c := range Cards {
		if c.Chip != nil && !c.Chip.Blocked {
			out = append(out, c)
		}
	}
	if len(out) < 3 {
		t.Fatalf("only %d chip cards", len(out))
	}
	return out
}

func tlvMap(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	tlvs, err := bertlv.Decode(b)
	if err != nil {
		t.Fatalf("TLV %X: %v", b, err)
	}
	m := map[string][]byte{}
	var walk func([]bertlv.TLV)
	walk = func(l []bertlv.TLV) {
		for _, x := range l {
			if len(x.TLVs) > 0 {
				walk(x.TLVs)
				continue
			}
			if _, dup := m[x.Tag]; dup {
				t.Fatalf("tag %s twice", x.Tag)
			}
			m[x.Tag] = x.Value
		}
	}
	walk(tlvs)
	return m
}

// The payload of every chip card parses with the terminal's parser to
// the card's AID, label, masked PAN and track 2; its DE55 (CPM.ICC)
// carries what the issuer needs, and the ARQC verifies there with the
// issuer's keys exactly as an online chip ARQC does.
func TestCPMRoundTrip(t *testing.T) {
	for _, c := range cpmCards(t) {
		t.Run(c.Name, func(t *testing.T) {
			const atc = 0x0123
			s, err := CPM(c.Name, atc, cpmUN, cpmDate)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := base64.StdEncoding.Strict().DecodeString(s); err != nil {
				t.Fatalf("not padded standard base64: %v", err)
			}
			if len(s) > paycode.MaxCPM {
				t.Fatalf("payload of %d characters", len(s))
			}
			cpm, err := paycode.ParseCPM(s)
			if err != nil {
				t.Fatal(err)
			}
			sa := schemeApps[c.Scheme]
			if cpm.Version != "CPV01" || len(cpm.Apps) != 1 || len(cpm.Common) != 0 {
				t.Fatalf("payload %v", cpm)
			}
			if a := cpm.Apps[0]; a.AID != strings.ToUpper(hex.EncodeToString(sa.aid)) || a.Label != sa.label {
				t.Fatalf("application %s %q", a.AID, a.Label)
			}
			if want := c.PAN[:6] + strings.Repeat("*", len(c.PAN)-10) + c.PAN[len(c.PAN)-4:]; cpm.MaskedPAN() != want {
				t.Fatalf("masked PAN %s, want %s", cpm.MaskedPAN(), want)
			}
			t2 := strings.ToUpper(hex.EncodeToString(cpm.Track2()))
			if want := strings.Replace(c.Track2, "=", "D", 1); strings.TrimSuffix(t2, "F") != want {
				t.Fatal("track 2 equivalent is not the card's track 2")
			}
			for _, printed := range []string{cpm.String(), fmt.Sprintf("%#v", cpm)} {
				if strings.Contains(printed, c.PAN) {
					t.Fatal("the payload prints its PAN")
				}
			}

			de55 := cpm.ICC()
			v := tlvMap(t, de55)
			for _, tag := range []string{"57", "5A", "5F20", "5F24"} {
				if _, ok := v[tag]; ok {
					t.Fatalf("DE55 carries card data %s", tag)
				}
			}
			want := map[string]string{
				"9F27": "80", "9F36": "0123", "9F37": "1A2B3C4D", "9F02": "000000000000", "9F03": "000000000000",
				"9F1A": "0156", "95": "0000000000", "5F2A": "0156", "9A": "260115", "9C": "00", "5F34": c.PSN,
			}
			for tag, w := range want {
				if got := strings.ToUpper(hex.EncodeToString(v[tag])); got != w {
					t.Fatalf("DE55 %s = %s, want %s", tag, got, w)
				}
			}
			for _, tag := range []string{"9F26", "9F10", "82"} {
				if len(v[tag]) == 0 {
					t.Fatalf("DE55 without %s", tag)
				}
			}
			if cvn, err := icc.CVNFromIAD(v["9F10"]); err != nil || cvn != Issuers[c.Scheme].CVN {
				t.Fatalf("9F10 %X: %v %v", v["9F10"], cvn, err)
			}

			// The issuer's check (cmd/acquirer-sim's verifyAC).
			is := Issuers[c.Scheme]
			data, err := ACInput(c.Scheme, v)
			if err != nil {
				t.Fatal(err)
			}
			mk, err := is.ICCMasterKey(c.PAN, hex.EncodeToString(v["5F34"]))
			if err != nil {
				t.Fatal(err)
			}
			sk, err := is.SessionKey(mk, v["9F36"], v["9F37"])
			if err != nil {
				t.Fatal(err)
			}
			if err := emv.VerifyAC(sk, data, is.Padding, v["9F26"]); err != nil {
				t.Fatalf("ARQC does not verify: %v", err)
			}
			// and not for another transaction.
			v["9F36"] = []byte{0x01, 0x24}
			if sk2, err := is.SessionKey(mk, v["9F36"], v["9F37"]); err == nil {
				if d2, err := ACInput(c.Scheme, v); err == nil && emv.VerifyAC(sk2, d2, is.Padding, v["9F26"]) == nil {
					t.Fatal("ARQC verifies for another ATC")
				}
			}
		})
	}
}

// The same inputs give the same payload; the ATC, the unpredictable
// number and the date change the cryptogram.
func TestCPMDeterministic(t *testing.T) {
	arqc := func(atc uint16, un [4]byte, date time.Time) string {
		t.Helper()
		s, err := CPM("visa-credit", atc, un, date)
		if err != nil {
			t.Fatal(err)
		}
		cpm, err := paycode.ParseCPM(s)
		if err != nil {
			t.Fatal(err)
		}
		return hex.EncodeToString(tlvMap(t, cpm.ICC())["9F26"])
	}
	base := arqc(7, cpmUN, cpmDate)
	if again := arqc(7, cpmUN, cpmDate); again != base {
		t.Fatal("not deterministic")
	}
	for what, other := range map[string]string{
		"ATC":  arqc(8, cpmUN, cpmDate),
		"UN":   arqc(7, [4]byte{1, 2, 3, 4}, cpmDate),
		"date": arqc(7, cpmUN, cpmDate.AddDate(0, 0, 1)),
	} {
		if other == base {
			t.Fatalf("the %s does not change the ARQC", what)
		}
	}
}

// Cards without a usable chip application have no payload, and the
// errors name the card, not its data.
func TestCPMErrors(t *testing.T) {
	for _, name := range []string{"no-such-card", "visa-classic", "damaged-stripe", "mastercard-blocked"} {
		s, err := CPM(name, 1, cpmUN, cpmDate)
		if err == nil || s != "" {
			t.Fatalf("%s: %q, %v", name, s, err)
		}
		if c, ok := Lookup(name); ok {
			if strings.Contains(err.Error(), c.PAN) || (c.Track2 != "" && strings.Contains(err.Error(), c.Track2)) {
				t.Fatalf("%s: error quotes card data", name)
			}
		}
	}
	if _, err := CPM("visa-classic", 1, cpmUN, cpmDate); !errors.Is(err, errNoChip) {
		t.Fatalf("stripe card: %v", err)
	}
}

// The payload's cryptogram and issuer application data are the chip's
// own: a fresh chip (NewICC) asked for an ARQC at its first transaction
// (ATC 1) with the payload's terminal data, on the interface whose AIP
// the payload carries, answers the same 9F26, 9F10 and AIP.
func TestCPMMatchesChip(t *testing.T) {
	for _, c := range cpmCards(t) {
		t.Run(c.Name, func(t *testing.T) {
			s, err := CPM(c.Name, 1, cpmUN, cpmDate)
			if err != nil {
				t.Fatal(err)
			}
			cpm, err := paycode.ParseCPM(s)
			if err != nil {
				t.Fatal(err)
			}
			want := tlvMap(t, cpm.ICC())
			card, err := NewICC(c.Name)
			if err != nil {
				t.Fatal(err)
			}
			iface := icc.Contact
			if c.Chip.Contactless {
				iface = icc.Contactless
			}
			got := chipARQC(t, card.Present(iface), schemeApps[c.Scheme])
			for _, tag := range []string{"9F27", "9F36", "82", "9F10", "9F26"} {
				if !bytes.Equal(got[tag], want[tag]) {
					t.Fatalf("%s: chip %X, payload %X", tag, got[tag], want[tag])
				}
			}
		})
	}
}

// chipARQC runs a card to its ARQC with the payload's terminal data:
// SELECT, GET PROCESSING OPTIONS (the quick kernels answer the ARQC
// there, online requested), else GENERATE AC asking for an ARQC without
// CDA. It returns the card's 82, 9F36, 9F26, 9F27 and 9F10.
func chipARQC(t *testing.T, p *icc.Port, sa schemeApp) map[string][]byte {
	t.Helper()
	term := map[string][]byte{
		"9F02": make([]byte, 6), "9F03": make([]byte, 6), "9F1A": {0x01, 0x56}, "95": make([]byte, 5),
		"5F2A": {0x01, 0x56}, "9A": {0x26, 0x01, 0x15}, "9C": {0x00}, "9F37": cpmUN[:],
		"9F66": {0x20, 0x80, 0x00, 0x00}, // TTQ: qVSDC/qPBOC, online requested
		"9F35": {0x22}, "9F45": {0, 0}, "9F4C": make([]byte, 8), "9F34": {0x3F, 0x00, 0x00},
		"9F21": {0x10, 0x30, 0x00}, "9F4E": []byte("POSD TEST MERCHANT  "),
	}
	dolData := func(dol []byte) []byte {
		entries, err := icc.ParseDOL(dol)
		if err != nil {
			t.Fatal(err)
		}
		var out []byte
		for _, e := range entries {
			v := term[e.Tag]
			if len(v) != e.Len {
				t.Fatalf("no %d-byte %s", e.Len, e.Tag)
			}
			out = append(out, v...)
		}
		return out
	}
	fci := chipTx(t, p, append(append([]byte{0x00, 0xA4, 0x04, 0x00, byte(len(sa.aid))}, sa.aid...), 0x00))
	pdol := tlvMap(t, fci)["9F38"]
	pd := dolData(pdol)
	gpo := append([]byte{0x80, 0xA8, 0x00, 0x00, byte(len(pd) + 2), 0x83, byte(len(pd))}, pd...)
	r := chipTx(t, p, append(gpo, 0x00))
	m := map[string][]byte{}
	if r[0] == 0x80 {
		m["82"] = r[2:4]
	} else {
		m = tlvMap(t, r)
	}
	if _, ok := m["9F26"]; ok {
		return m // quick kernel
	}
	cd := dolData(sa.cdol1)
	r = chipTx(t, p, append(append([]byte{0x80, 0xAE, icc.CIDARQC, 0x00, byte(len(cd))}, cd...), 0x00))
	if r[0] == 0x80 {
		body := r[2:]
		m["9F27"], m["9F36"], m["9F26"], m["9F10"] = body[:1], body[1:3], body[3:11], body[11:]
		return m
	}
	for k, v := range tlvMap(t, r) {
		m[k] = v
	}
	return m
}

// chipTx sends a case 4 command and returns the data of its 9000 answer,
// with the T=0 exchange on the contact interface (no Le; 61xx → GET
// RESPONSE).
func chipTx(t *testing.T, p *icc.Port, apdu []byte) []byte {
	t.Helper()
	if p.Interface() == icc.Contact {
		apdu = apdu[:len(apdu)-1]
	}
	var data []byte
	for range 4 {
		r, err := p.Transmit(apdu)
		if err != nil {
			t.Fatal(err)
		}
		if len(r) < 2 {
			t.Fatalf("answer %X", r)
		}
		data = append(data, r[:len(r)-2]...)
		sw1, sw2 := r[len(r)-2], r[len(r)-1]
		switch {
		case sw1 == 0x90 && sw2 == 0x00:
			return data
		case sw1 == 0x61:
			apdu = []byte{0x00, 0xC0, 0x00, 0x00, sw2}
		default:
			t.Fatalf("%X: SW %02X%02X", apdu, sw1, sw2)
		}
	}
	t.Fatal("T=0 exchange does not end")
	return nil
}
