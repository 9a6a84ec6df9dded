package icc_test

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/moov-io/bertlv"

	"posd/board/sim/deck"
	"posd/board/sim/icc"
	"posd/crypto/emv"
)

// term is a minimal scripted terminal: enough of a kernel to drive the
// cards through selection, GPO, records, ODA, GENERATE AC and issuer
// authentication, checking each answer.
type term struct {
	t    *testing.T
	port *icc.Port
	// values the terminal sends, by tag
	v map[string][]byte
	// what the card said, by tag
	card map[string][]byte
	// trace of the exchanges, for failure messages (the test card data
	// is public test data)
	log []string
}

func newTerm(t *testing.T, p *icc.Port, amount string) *term {
	t.Helper()
	v := map[string][]byte{
		"9F02": h(amount), "9F03": h("000000000000"), "9F1A": h("0156"), "95": h("0000000000"),
		"5F2A": h("0156"), "9A": h("260115"), "9C": h("00"), "9F37": h("1A2B3C4D"), "9F35": h("22"),
		"9F45": h("0000"), "9F4C": make([]byte, 8), "9F34": h("1F0302"), "9F21": h("120000"),
		"9F4E": []byte("POSD TEST MERCHANT  "), "9F66": h("36004000"), "8A": []byte("00"),
		"91": make([]byte, 10),
	}
	return &term{t: t, port: p, v: v, card: map[string][]byte{}}
}

func h(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// raw sends one APDU and returns data and status word.
func (tm *term) raw(apdu []byte) ([]byte, uint16) {
	tm.t.Helper()
	r, err := tm.port.Transmit(apdu)
	if err != nil {
		tm.t.Fatalf("transmit %X: %v\n%s", apdu, err, strings.Join(tm.log, "\n"))
	}
	if len(r) < 2 {
		tm.t.Fatalf("response %X to %X shorter than a status word", r, apdu)
	}
	tm.log = append(tm.log, hex.EncodeToString(apdu)+" -> "+hex.EncodeToString(r))
	return r[:len(r)-2], uint16(r[len(r)-2])<<8 | uint16(r[len(r)-1])
}

// tx is the transport layer of EMV book 1 annex A on T=0: 61xx → GET
// RESPONSE; 6Cxx → the command again with Le = xx; a warning without data
// after a case 4 command → GET RESPONSE with Le = 00 and the warning kept.
// Contactless it sends the APDU as is.
func (tm *term) tx(apdu []byte) ([]byte, uint16) {
	tm.t.Helper()
	if tm.port.Interface() == icc.Contactless {
		return tm.raw(apdu)
	}
	cmd := apdu
	case4 := len(apdu) > 5 && len(apdu) == 6+int(apdu[4])
	if case4 {
		cmd = apdu[:len(apdu)-1] // T=0 sends no Le in case 4
	}
	d, sw := tm.raw(cmd)
	var warning uint16
	for i := 0; i < 8; i++ {
		switch {
		case sw>>8 == 0x6C:
			if case4 {
				d, sw = tm.raw([]byte{0x00, 0xC0, 0x00, 0x00, byte(sw)})
			} else {
				c := append([]byte(nil), cmd[:4]...)
				d, sw = tm.raw(append(c, byte(sw)))
			}
		case sw>>8 == 0x61:
			var more []byte
			more, sw = tm.raw([]byte{0x00, 0xC0, 0x00, 0x00, byte(sw)})
			d = append(d, more...)
		case case4 && len(d) == 0 && (sw>>8 == 0x62 || sw>>8 == 0x63) && warning == 0:
			warning = sw
			d, sw = tm.raw([]byte{0x00, 0xC0, 0x00, 0x00, 0x00})
		default:
			if warning != 0 && sw == 0x9000 {
				sw = warning
			}
			return d, sw
		}
	}
	tm.t.Fatalf("T=0 exchange does not end: %X", apdu)
	return nil, 0
}

func (tm *term) must(apdu []byte, want uint16) []byte {
	tm.t.Helper()
	d, sw := tm.tx(apdu)
	if sw != want {
		tm.t.Fatalf("%X: SW %04X, want %04X\n%s", apdu, sw, want, strings.Join(tm.log, "\n"))
	}
	return d
}

func apdu(cla, ins, p1, p2 byte, data []byte, le bool) []byte {
	out := []byte{cla, ins, p1, p2}
	if len(data) > 0 {
		out = append(out, byte(len(data)))
		out = append(out, data...)
	}
	if le {
		out = append(out, 0x00)
	}
	return out
}

// flatten puts every primitive data object of a BER-TLV string in m.
func flatten(t *testing.T, b []byte, m map[string][]byte) []bertlv.TLV {
	t.Helper()
	tlvs, err := bertlv.Decode(b)
	if err != nil {
		t.Fatalf("TLV %X: %v", b, err)
	}
	var walk func([]bertlv.TLV)
	walk = func(l []bertlv.TLV) {
		for _, x := range l {
			if len(x.TLVs) > 0 {
				walk(x.TLVs)
			} else {
				m[x.Tag] = x.Value
			}
		}
	}
	walk(tlvs)
	return tlvs
}

// dolData builds the values a DOL asks for from the terminal's values.
func (tm *term) dolData(dol []byte) []byte {
	tm.t.Helper()
	entries, err := icc.ParseDOL(dol)
	if err != nil {
		tm.t.Fatal(err)
	}
	var out []byte
	for _, e := range entries {
		v := tm.v[e.Tag]
		if len(v) != e.Len {
			tm.t.Fatalf("terminal has no %d-byte %s", e.Len, e.Tag)
		}
		out = append(out, v...)
	}
	return out
}

// selectApp selects the card's application through the PSE (contact) or
// PPSE (contactless) and returns its AID and the SELECT status.
func (tm *term) selectApp() ([]byte, uint16) {
	tm.t.Helper()
	dir := map[string][]byte{}
	if tm.port.Interface() == icc.Contactless {
		fci := tm.must(apdu(0x00, 0xA4, 0x04, 0x00, []byte("2PAY.SYS.DDF01"), true), 0x9000)
		flatten(tm.t, fci, dir)
	} else {
		fci := tm.must(apdu(0x00, 0xA4, 0x04, 0x00, []byte("1PAY.SYS.DDF01"), true), 0x9000)
		m := map[string][]byte{}
		flatten(tm.t, fci, m)
		sfi := m["88"][0]
		rec := tm.must(apdu(0x00, 0xB2, 0x01, sfi<<3|4, nil, true), 0x9000)
		flatten(tm.t, rec, dir)
		tm.must(apdu(0x00, 0xB2, 0x02, sfi<<3|4, nil, true), 0x6A83)
	}
	aid := dir["4F"]
	if len(aid) == 0 {
		tm.t.Fatal("no application in the directory")
	}
	fci, sw := tm.tx(apdu(0x00, 0xA4, 0x04, 0x00, aid, true))
	if sw == 0x9000 || sw == 0x6283 {
		flatten(tm.t, fci, tm.card)
		if !bytes.Equal(tm.card["84"], aid) {
			tm.t.Fatalf("FCI names %X, selected %X", tm.card["84"], aid)
		}
	}
	return aid, sw
}

// gpo sends GET PROCESSING OPTIONS with the PDOL data.
func (tm *term) gpo() ([]byte, uint16) {
	tm.t.Helper()
	pd := tm.dolData(tm.card["9F38"])
	tm.v["pdol"] = pd
	d, sw := tm.tx(apdu(0x80, 0xA8, 0x00, 0x00, append([]byte{0x83, byte(len(pd))}, pd...), true))
	if sw != 0x9000 {
		return nil, sw
	}
	if d[0] == 0x80 {
		tm.card["82"], tm.card["94"] = d[2:4], d[4:]
	} else {
		flatten(tm.t, d, tm.card)
	}
	return d, sw
}

// readRecords reads what the AFL lists and returns the static data to
// be authenticated.
func (tm *term) readRecords() []byte {
	tm.t.Helper()
	afl := tm.card["94"]
	var static []byte
	for i := 0; i+4 <= len(afl); i += 4 {
		sfi := afl[i] >> 3
		for r := afl[i+1]; r <= afl[i+2]; r++ {
			rec := tm.must(apdu(0x00, 0xB2, r, sfi<<3|4, nil, true), 0x9000)
			if rec[0] != 0x70 {
				tm.t.Fatalf("record %d/%d not a template 70", sfi, r)
			}
			tlvs := flatten(tm.t, rec, tm.card)
			if int(r-afl[i+1]) < int(afl[i+3]) {
				inner, _ := bertlv.Encode(tlvs[0].TLVs)
				static = append(static, inner...)
			}
		}
	}
	return append(static, tm.card["82"]...)
}

// oda recovers the issuer and ICC keys with the deck's CA.
func (tm *term) oda(static []byte) (*emv.ICCPublicKey, error) {
	tm.t.Helper()
	store := emv.NewCAPKStore()
	for _, k := range deck.CAPKs() {
		if err := store.Add(k); err != nil {
			tm.t.Fatal(err)
		}
	}
	capk, err := store.Lookup(tm.card["84"][:5], tm.card["8F"][0])
	if err != nil {
		tm.t.Fatal(err)
	}
	ipk, err := emv.RecoverIssuerPublicKey(capk.PublicKey, tm.card["90"], tm.card["92"], tm.card["9F32"])
	if err != nil {
		tm.t.Fatalf("issuer certificate: %v", err)
	}
	pan := strings.TrimRight(hex.EncodeToString(tm.card["5A"]), "f")
	if !ipk.MatchesPAN(pan) {
		tm.t.Fatal("issuer certificate for another BIN")
	}
	k, err := emv.RecoverICCPublicKey(ipk.PublicKey, tm.card["9F46"], tm.card["9F48"], tm.card["9F47"], static)
	if err != nil {
		return nil, err
	}
	if !k.MatchesPAN(pan) {
		tm.t.Fatal("ICC certificate for another PAN")
	}
	return k, nil
}

// generateAC sends GENERATE AC with p1 and the DOL's data and returns
// CID, AC (nil under CDA), IAD and the response tags.
func (tm *term) generateAC(p1 byte, dol []byte) (map[string][]byte, []byte, uint16) {
	tm.t.Helper()
	data := tm.dolData(dol)
	d, sw := tm.tx(apdu(0x80, 0xAE, p1, 0x00, data, true))
	if sw != 0x9000 {
		return nil, nil, sw
	}
	m := map[string][]byte{}
	if d[0] == 0x80 {
		body := d[2:]
		m["9F27"], m["9F36"], m["9F26"], m["9F10"] = body[:1], body[1:3], body[3:11], body[11:]
	} else {
		flatten(tm.t, d, m)
	}
	return m, d, sw
}

// issuerCheck verifies the AC of resp as the simulated issuer would, from
// deck.Issuers and the card's PAN, PSN and ATC, with tags the terminal's
// values overlaid by over (CDOL2's).
func (tm *term) issuerCheck(scheme string, resp map[string][]byte, ac []byte, over map[string][]byte) {
	tm.t.Helper()
	is := deck.Issuers[scheme]
	pan := strings.TrimRight(hex.EncodeToString(tm.card["5A"]), "f")
	psn := hex.EncodeToString(tm.card["5F34"])
	tags := map[string][]byte{}
	for k, v := range tm.v {
		tags[k] = v
	}
	for k, v := range over {
		tags[k] = v
	}
	tags["82"], tags["9F36"], tags["9F10"] = tm.card["82"], resp["9F36"], resp["9F10"]
	data, err := deck.ACInput(scheme, tags)
	if err != nil {
		tm.t.Fatal(err)
	}
	mk, err := is.ICCMasterKey(pan, psn)
	if err != nil {
		tm.t.Fatal(err)
	}
	sk, err := is.SessionKey(mk, resp["9F36"], tags["9F37"])
	if err != nil {
		tm.t.Fatal(err)
	}
	if err := emv.VerifyAC(sk, data, is.Padding, ac); err != nil {
		tm.t.Fatalf("%s: the issuer cannot verify the AC: %v", scheme, err)
	}
	// The same data written out by hand, as the README documents it, so
	// that ACInput itself is checked.
	var want []byte
	for _, tag := range []string{"9F02", "9F03", "9F1A", "95", "5F2A", "9A", "9C", "9F37", "82", "9F36"} {
		want = append(want, tags[tag]...)
	}
	iad := resp["9F10"]
	switch scheme {
	case "visa", "unionpay":
		want = append(want, iad[3:7]...)
	case "mastercard":
		want = append(want, iad[2:8]...)
	}
	if !bytes.Equal(data, want) {
		tm.t.Fatalf("%s: ACInput %X, documented %X", scheme, data, want)
	}
	if cvn, err := icc.CVNFromIAD(resp["9F10"]); err != nil || cvn != is.CVN {
		tm.t.Fatalf("IAD %X: CVN %v, %v", resp["9F10"], cvn, err)
	}
}
