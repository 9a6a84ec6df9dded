package emv

import (
	"bytes"

	"testing"

	cemv "posd/crypto/emv"
)

const quickPDOL = "9F66049F02069F03069F1A0295055F2A029A039C019F3704"

// quickOpts vary a qVSDC (kernel 3) or qPBOC (kernel 7) card.
type quickOpts struct {
	aid      string
	label    string
	ctq      []byte // 9F6C, nil for none
	cad      bool   // 9F69, fDDA version 01
	noCID    bool   // leave 9F27 out (the CVR tells)
	iadFmt2  bool   // Visa IAD format 2 (1F, CVN, DKI, 5-byte CVR, 32 bytes)
	tamper   bool   // the fDDA signature is wrong
	noSDAD   bool
	cid      byte // forced cryptogram, 0xFF: by the TTQ
	expiry   string
	pdol     string
	gpoSW    uint16
	priority []byte
	kernelID []byte
	noCrypto bool
	noTrack2 bool // leave 57 out of the GPO response
}

// newQuickCard personalises a kernel 3/7 card on the PPSE.
func newQuickCard(t testing.TB, o quickOpts) (*testCard, *testApp) {
	t.Helper()
	p := getPKI(t)
	if o.aid == "" {
		o.aid = "A0000000031010"
	}
	if o.label == "" {
		o.label = "VISA"
	}
	if o.expiry == "" {
		o.expiry = "291231"
	}
	if o.pdol == "" {
		o.pdol = quickPDOL
	}
	aip := h("2000")
	rec1 := [][]byte{tlv("5A", bcdPAN(testPAN)), tlv("5F24", h(o.expiry)), tlv("9F07", h("FF00"))}
	static := append(bytes.Join(rec1, nil), aip...)
	id, _ := cemv.IssuerIDFromPAN(testPAN, 6)
	icert, irem, err := p.ca.SignIssuerCert(&cemv.IssuerPublicKey{PublicKey: p.issuer.PublicKey, IssuerID: id,
		Expiry: cemv.MonthYear{0x12, 0x30}, SerialNumber: [3]byte{0, 0, 1}})
	if err != nil {
		t.Fatal(err)
	}
	pan, _ := cemv.PANField(testPAN)
	ccert, crem, err := cemv.SignICCCert(p.issuer, &cemv.ICCPublicKey{PublicKey: p.icc.PublicKey, PAN: pan,
		Expiry: cemv.MonthYear{0x12, 0x29}, SerialNumber: [3]byte{0, 0, 2}}, static)
	if err != nil {
		t.Fatal(err)
	}
	rec2 := [][]byte{tlv("8F", []byte{0xF1}), tlv("90", icert), tlv("92", irem), tlv("9F32", h("03")), tlv("9F4A", h("82"))}
	rec3 := [][]byte{tlv("9F46", ccert), tlv("9F47", h("03")), tlv("9F48", crem)}
	a := &testApp{aid: h(o.aid), label: o.label, pdol: h(o.pdol), priority: o.priority, kernelID: o.kernelID, gpoSW: o.gpoSW,
		aip: [2]byte{aip[0], aip[1]}, afl: h("08010101 10010200"), atc: 0x0020,
		records: map[[2]byte][]byte{{1, 1}: tpl("70", rec1...), {2, 1}: tpl("70", rec2...), {2, 2}: tpl("70", rec3...)}}
	a.quick = func(c *testCard, pd []byte) []byte {
		ttq := dolField(t, a.pdol, pd, 0x9F66)
		cid := byte(0x40)
		if ttq != nil && ttq[1]&0x80 != 0 {
			cid = 0x80
		}
		if o.cid != 0xFF && o.cid != 0 {
			cid = o.cid &^ 0x01
		}
		if o.cid == 0x01 {
			cid = 0x00
		}
		a.atc++
		atc := []byte{byte(a.atc >> 8), byte(a.atc)}
		ac, _ := cemv.GenerateAC(testACKey, append(bytes.Clone(pd), atc...), cemv.Padding2)
		cvr := map[byte]byte{0x00: 0x80, 0x40: 0x90, 0x80: 0xA0}[cid]
		iad := []byte{0x06, 0x01, 0x12, 0x03, cvr, 0x00, 0x00}
		if o.iadFmt2 {
			// The CVR has no length byte: its first byte holds the
			// cryptogram type; the second, other bits.
			iad = append([]byte{0x1F, 0x22, 0x01, cvr, 0x00, 0x00, 0x00, 0x00}, make([]byte, 24)...)
		}
		objs := [][]byte{tlv("82", a.aip[:]), tlv("94", a.afl), tlv("5F34", h("01")),
			tlv("9F10", iad), tlv("9F36", atc)}
		if !o.noTrack2 {
			objs = append(objs, tlv("57", h(testTrack2)))
		}
		if !o.noCrypto {
			objs = append(objs, tlv("9F26", ac))
		}
		if !o.noCID {
			objs = append(objs, tlv("9F27", []byte{cid}))
		}
		if o.ctq != nil {
			objs = append(objs, tlv("9F6C", o.ctq))
		}
		var cad []byte
		if o.cad {
			cad = h("01" + "1234" + "0000000000")
			objs = append(objs, tlv("9F69", cad))
		}
		if cid == 0x40 && !o.noSDAD {
			tdd := bytes.Clone(c.un)
			if o.cad {
				tdd = append(tdd, dolField(t, a.pdol, pd, 0x9F02)...)
				tdd = append(tdd, dolField(t, a.pdol, pd, 0x5F2A)...)
				tdd = append(tdd, cad...)
			}
			if o.tamper {
				tdd = append(tdd, 0)
			}
			sdad, err := cemv.SignSDAD(p.icc, h("04A1B2C3D4"), tdd)
			if err != nil {
				t.Fatal(err)
			}
			objs = append(objs, tlv("9F4B", sdad))
		}
		return tpl("77", objs...)
	}
	return &testCard{t: t, apps: []*testApp{a}, ppse: true}, a
}

// newM2Card personalises a kernel 2 (M/Chip, CDA) card on the PPSE.
func newM2Card(t testing.TB, cdcvm bool) (*testCard, *testApp) {
	aip := h("1980")
	if cdcvm {
		aip = h("1B80")
	}
	c, a := newContactCard(t, cardOpts{aid: "A0000000041010", label: "MASTERCARD", oda: "cda", aip: aip, tagList: true,
		pan: "5413330089020011", appVersion: h("0002"), cvmList: h("00000000 00000000 4203 1E03 1F03")})
	c.pse, c.ppse = false, true
	a.pdol = nil
	return c, a
}
