package testhex

import (
	"bytes"
	"testing"
)

func TestBytes(t *testing.T) {
	if got := Bytes(t, "00 0A\nFF\tee"); !bytes.Equal(got, []byte{0, 0x0A, 0xFF, 0xEE}) {
		t.Fatalf("%X", got)
	}
	if Upper([]byte{0xab, 1}) != "AB01" {
		t.Fatal("Upper")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Must accepted bad hex")
		}
	}()
	Must("0G")
}
