package emv

import (
	"bytes"
	"errors"
	"testing"
)

func TestParseTLV(t *testing.T) {
	// The PPSE FCI of moov-io/bertlv's tests.
	objs, err := parseTLV(h("6F2F840E325041592E5359532E4444463031A51DBF0C1A61184F07A0000000041010500A4D617374657263617264870101"))
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := find(objs, 0x4F); !ok || !bytes.Equal(o.value, h("A0000000041010")) {
		t.Errorf("4F = %X %v", o.value, ok)
	}
	if o, ok := find(objs, 0x87); !ok || !bytes.Equal(o.value, []byte{1}) {
		t.Errorf("87 = %X", o.value)
	}
	for _, bad := range []string{"", "9F", "5A05", "5A8801", "5A88FFFFFFFFFFFFFFFF", "70035A0501", "9F80"} {
		if bad == "" {
			continue
		}
		if _, err := parseTLV(h(bad)); !errors.Is(err, ErrTLV) {
			t.Errorf("%s: %v, want ErrTLV", bad, err)
		}
	}
}

func TestRawObjects(t *testing.T) {
	in := h("9F2701809F360200109F4B8103AABBCC00009F1002AABB")
	if _, err := decodeTLV(in); err != nil {
		t.Fatal(err)
	}
	got, err := rawObjects(in)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"9F270180", "9F36020010", "9F4B8103AABBCC", "9F1002AABB"}
	if len(got) != len(want) {
		t.Fatalf("%X", got)
	}
	for i := range want {
		if !bytes.Equal(got[i], h(want[i])) {
			t.Errorf("object %d = %X, want %s", i, got[i], want[i])
		}
	}
}

func TestDOL(t *testing.T) {
	d, err := parseDOL(h("9F0206 5F2A02 9A03 9F3704 DF810C01 70 03 5A04"))
	if err != nil {
		t.Fatal(err)
	}
	vals := map[tag][]byte{
		0x9F02: h("000000001000"), 0x5F2A: h("0156"), 0x9A: h("250615"), 0x9F37: h("0102030405"),
		0x5A: h("476173"),
	}
	got := buildDOL(d, func(t tag) ([]byte, bool) { v, ok := vals[t]; return v, ok })
	// 9F37 truncated on the right (binary), DF810C unknown -> zeros,
	// 70 constructed -> zeros, 5A cn padded with FF.
	want := h("000000001000 0156 250615 01020304 00 000000 476173FF")
	if !bytes.Equal(got, want) {
		t.Errorf("DOL data %X, want %X", got, want)
	}
	// Numeric: leading zeros and left truncation.
	d2, _ := parseDOL(h("9F0208 9F0204"))
	got = buildDOL(d2, func(t tag) ([]byte, bool) { return h("000000001000"), true })
	if want := h("0000000000001000 00001000"); !bytes.Equal(got, want) {
		t.Errorf("numeric %X, want %X", got, want)
	}
	for _, bad := range []string{"9F", "9F02", "9F0281", "9F8080800101"} {
		if _, err := parseDOL(h(bad)); !errors.Is(err, ErrDOL) {
			t.Errorf("%s: %v, want ErrDOL", bad, err)
		}
	}
}

func TestTVRBits(t *testing.T) {
	var v TVR
	v.set(tvrFloorLimit)
	v.set(tvrCDAFailed)
	v.set(tvrScriptFailedAfter)
	if v.String() != "0400008010" || !v.has(tvrFloorLimit) || v.has(tvrExpired) {
		t.Errorf("TVR %s", v)
	}
	if !v.anyOf(h("0000008000")) || v.anyOf(h("FB00007F00")) {
		t.Errorf("anyOf")
	}
}

func TestSafeAPDU(t *testing.T) {
	if got := safeAPDU(h("0020008008241234FFFFFFFFFF")); got != "00200080+9 bytes" {
		t.Errorf("VERIFY shown as %s", got)
	}
	if got := safeAPDU(h("00A404000E315041592E5359532E444446303100")); got != "00A404000E315041592E5359532E444446303100" {
		t.Errorf("SELECT shown as %s", got)
	}
	if maskPAN("4761739001010119") != "476173******0119" {
		t.Errorf("maskPAN %s", maskPAN("4761739001010119"))
	}
}
