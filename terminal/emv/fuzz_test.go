package emv

import (
	"bytes"
	"testing"
)

// FuzzTLV: BER-TLV decoding never panics, and what it accepts splits
// into raw objects that re-parse to the same objects.
func FuzzTLV(f *testing.F) {
	for _, s := range []string{"6F2F840E325041592E5359532E4444463031A51DBF0C1A61184F07A0000000041010500A4D617374657263617264870101",
		"770E8202190094080801010010010300", "5A88FFFFFFFFFFFFFFFF", "00009F360200FF", "7081FF"} {
		f.Add(h(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		objs, err := parseTLV(b)
		if err != nil {
			return
		}
		raw, err := rawObjects(b)
		if err != nil {
			return // bertlv accepts long lengths of more than 3 bytes that the kernel refuses
		}
		again, err := parseTLV(bytes.Join(raw, nil))
		if err != nil || len(again) != len(objs) {
			t.Fatalf("raw objects do not re-parse: %v", err)
		}
	})
}

// FuzzDOL: DOL parsing never panics and building gives the lengths asked.
func FuzzDOL(f *testing.F) {
	for _, s := range []string{"9F02069F03069F1A0295055F2A029A039C019F37049F35019F34039F4C08", "8A029F02069F03069F1A0295055F2A029A039C019F3704", "9F66049F02069F03069F1A0295055F2A029A039C019F3704", "9F", "9F8181"} {
		f.Add(h(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := parseDOL(b)
		if err != nil {
			return
		}
		n := 0
		for _, e := range d {
			n += e.length
		}
		out := buildDOL(d, func(t tag) ([]byte, bool) { return b, true })
		if len(out) != n {
			t.Fatalf("DOL data of %d bytes, want %d", len(out), n)
		}
	})
}
