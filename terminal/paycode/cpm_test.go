package paycode

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/moov-io/bertlv"

	"posd/terminal/host"
)

// The two examples of the EMVCo consumer-presented mode specification's
// annex (v1.0, July 2017), as reproduced by public EMV QR libraries'
// tests (mvallim/emv-qrcode, dongri/emvco-qrcode).
const (
	// 85 CPV01, 61 {4F A0000000555555, 57 1234567890123458D191220112345F}
	specCPM1 = "hQVDUFYwMWEaTwegAAAAVVVVVw8SNFZ4kBI0WNGRIgESNF8="
	// 85 CPV01, 61 {4F ..555555, 50 Product1}, 61 {4F ..666666, 50
	// Product2}, 62 {5A 1234567890123458, 5F20 CARDHOLDER/EMV, 5F2D
	// ruesdeen, 64 {9F10, 9F26, 9F36, 9F37}}
	specCPM2 = "hQVDUFYwMWETTwegAAAAVVVVUAhQcm9kdWN0MWETTwegAAAAZmZmUAhQcm9kdWN0MmJJWggSNFZ4kBI0WF8gDkNBUkRIT0xERVIvRU1WXy0IcnVlc2RlZW5kIZ8QBwYBCgMAAACfJghYT9OF+iNLzJ82AgABnzcEbVjvEw=="
	specPAN  = "1234567890123458"
)

func hx(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// ownCPM is a payload of our own (not from the specification) with the
// data objects a UnionPay-style CPM carries, the cryptogram data inside
// a 63 transparent template.
func ownCPM(t testing.TB) string {
	b, err := bertlv.Encode([]bertlv.TLV{
		bertlv.NewTag("85", []byte("CPV01")),
		bertlv.NewComposite("61",
			bertlv.NewTag("4F", hx("A000000333010102")),
			bertlv.NewTag("50", []byte("UnionPay Debit")),
			bertlv.NewTag("57", hx("6250947000000014D30122010000000000000F")),
			bertlv.NewTag("5F24", hx("301231")),
			bertlv.NewTag("5F34", hx("01")),
			bertlv.NewComposite("63",
				bertlv.NewTag("9F26", hx("1122334455667788")),
				bertlv.NewTag("9F27", hx("80")),
				bertlv.NewTag("9F10", hx("07010103A00000010A0100000000003FA3F3E6")),
				bertlv.NewTag("9F36", hx("0012")),
				bertlv.NewTag("82", hx("7C00")),
				bertlv.NewTag("9F37", hx("CAFEBABE")),
				bertlv.NewTag("9F02", hx("000000001234")),
				bertlv.NewTag("9F03", hx("000000000000")),
				bertlv.NewTag("5F2A", hx("0156")),
				bertlv.NewTag("9F1A", hx("0156")),
			),
		),
	})
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func TestParseCPMSpecExample1(t *testing.T) {
	c, err := ParseCPM(specCPM1)
	if err != nil {
		t.Fatal(err)
	}
	if c.Version != "CPV01" || len(c.Apps) != 1 || c.Apps[0].AID != "A0000000555555" {
		t.Fatalf("decoded %v", c)
	}
	if got := hex.EncodeToString(c.Track2()); !strings.EqualFold(got, "1234567890123458D191220112345F") {
		t.Fatalf("Track2 = %s", got)
	}
	if c.MaskedPAN() != "123456******3458" {
		t.Fatalf("MaskedPAN = %s", c.MaskedPAN())
	}
	if c.ICC() != nil {
		t.Fatalf("ICC of a payload without cryptogram data: %X", c.ICC())
	}
	code := Classify(specCPM1)
	if code.Kind != KindEMVCPM || code.Masked != "123456******3458" || code.CPM == nil {
		t.Fatalf("Classify = %#v", code)
	}
}

func TestParseCPMSpecExample2(t *testing.T) {
	c, err := ParseCPM(specCPM2)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Apps) != 2 || c.Apps[0].Label != "Product1" || c.Apps[1].AID != "A0000000666666" {
		t.Fatalf("apps %v", c.Apps)
	}
	if c.MaskedPAN() != "123456******3458" || c.Track2() != nil {
		t.Fatalf("PAN %s, track 2 %X", c.MaskedPAN(), c.Track2())
	}
	icc := c.ICC()
	want := "9F2608584FD385FA234BCC" + "9F100706010A03000000" + "9F37046D58EF13" + "9F36020001"
	if got := fmt.Sprintf("%X", icc); got != want {
		t.Fatalf("ICC = %s, want %s", got, want)
	}
}

func TestParseCPMOwnVector(t *testing.T) {
	c, err := ParseCPM(ownCPM(t))
	if err != nil {
		t.Fatal(err)
	}
	if c.MaskedPAN() != "625094******0014" {
		t.Fatalf("MaskedPAN %s", c.MaskedPAN())
	}
	tr := c.Track2()
	if !bytes.Equal(tr, hx("6250947000000014D30122010000000000000F")) {
		t.Fatalf("Track2 %X", tr)
	}
	tr[0] = 0 // the caller's copy: wiping it leaves the CPM intact
	if c.Track2()[0] != 0x62 {
		t.Fatal("Track2 returned the CPM's own slice")
	}
	icc := c.ICC()
	// DE55 must pass the host's strict reading and carry no card data.
	tlvs, err := host.ParseICC(icc)
	if err != nil {
		t.Fatalf("host refuses ICC: %v", err)
	}
	var tags []string
	for _, x := range tlvs {
		if _, bad := host.ClearCardTags[x.Tag]; bad || sensitive[x.Tag] {
			t.Fatalf("ICC carries %s", x.Tag)
		}
		tags = append(tags, x.Tag)
	}
	if got := strings.Join(tags, " "); got != "9F26 9F27 9F10 9F37 9F36 9F02 9F03 5F2A 9F1A 82 5F34" {
		t.Fatalf("ICC tags %s", got)
	}
	c.Wipe()
	if c.Track2() != nil || len(c.Apps) != 0 {
		t.Fatal("Wipe left data")
	}
}

// TestCPMMasked: no printed, %#v or JSON form and no error of a CPM
// holds the clear PAN, track or name.
func TestCPMMasked(t *testing.T) {
	for _, s := range []string{specCPM1, specCPM2, ownCPM(t)} {
		c, err := ParseCPM(s)
		if err != nil {
			t.Fatal(err)
		}
		code := Classify(s)
		j1, _ := json.Marshal(c)
		j2, _ := json.Marshal(code)
		for _, out := range []string{c.String(), fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%v", *c), fmt.Sprintf("%+v", code), fmt.Sprintf("%#v", code), string(j1), string(j2)} {
			for _, secret := range []string{specPAN, "6250947000000014", "CARDHOLDER", "434152", "D1912", "D3012", "301231", "1234567890123458", "6250947000000014"} {
				if strings.Contains(strings.ToUpper(out), strings.ToUpper(secret)) {
					t.Fatalf("%q in %s", secret, out)
				}
			}
		}
	}
}

func TestParseCPMRefuses(t *testing.T) {
	enc := func(tlvs ...bertlv.TLV) string {
		b, err := bertlv.Encode(tlvs)
		if err != nil {
			t.Fatal(err)
		}
		return base64.StdEncoding.EncodeToString(b)
	}
	pfi := bertlv.NewTag("85", []byte("CPV01"))
	aid := bertlv.NewTag("4F", hx("A0000000555555"))
	t2 := bertlv.NewTag("57", hx("1234567890123458D191220112345F"))
	tests := map[string]string{
		"empty":             "",
		"not base64":        "not base64 at all!",
		"too long":          strings.Repeat("A", MaxCPM+4),
		"not TLV":           base64.StdEncoding.EncodeToString([]byte{0x85, 0x20, 1}),
		"no PFI":            enc(bertlv.NewComposite("61", aid, t2)),
		"wrong version":     enc(bertlv.NewTag("85", []byte("CPV02")), bertlv.NewComposite("61", aid, t2)),
		"no app template":   enc(pfi),
		"no AID":            enc(pfi, bertlv.NewComposite("61", t2)),
		"no PAN":            enc(pfi, bertlv.NewComposite("61", aid)),
		"short AID":         enc(pfi, bertlv.NewComposite("61", bertlv.NewTag("4F", hx("A000")), t2)),
		"bad track 2":       enc(pfi, bertlv.NewComposite("61", aid, bertlv.NewTag("57", hx("1234567890123458191220112345")))),
		"bad PAN":           enc(pfi, bertlv.NewComposite("61", aid, bertlv.NewTag("5A", hx("12345A7890123458")))),
		"cryptogram 7":      enc(pfi, bertlv.NewComposite("61", aid, t2, bertlv.NewTag("9F26", hx("11223344556677")))),
		"tag twice":         enc(pfi, bertlv.NewComposite("61", aid, t2, t2)),
		"PFI twice":         enc(pfi, pfi, bertlv.NewComposite("61", aid, t2)),
		"unknown top level": enc(pfi, bertlv.NewComposite("61", aid, t2), bertlv.NewTag("9F26", hx("1122334455667788"))),
		"61 after 62":       enc(pfi, bertlv.NewComposite("62", t2), bertlv.NewComposite("61", aid)),
		"nested 61":         enc(pfi, bertlv.NewComposite("61", aid, t2, bertlv.NewComposite("61", aid))),
		"huge length":       base64.StdEncoding.EncodeToString(hx("8505435056303161880FFFFFFFFFFFFFFF")),
		"label binary":      enc(pfi, bertlv.NewComposite("61", aid, t2, bertlv.NewTag("50", []byte{0, 1, 2}))),
	}
	for name, s := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := ParseCPM(s)
			if err == nil || !errors.Is(err, ErrCPM) || c != nil {
				t.Fatalf("ParseCPM = %v, %v", c, err)
			}
			if strings.Contains(err.Error(), "1234567890") {
				t.Fatalf("error quotes card data: %v", err)
			}
		})
	}
}

// TestParseCPMEncodings: URL-safe and unpadded base64 are read too.
func TestParseCPMEncodings(t *testing.T) {
	raw, _ := base64.StdEncoding.DecodeString(specCPM2)
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if _, err := ParseCPM(enc.EncodeToString(raw)); err != nil {
			t.Fatal(err)
		}
	}
}
