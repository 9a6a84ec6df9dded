package apdu

import "testing"

func TestSWAndData(t *testing.T) {
	r := []byte{0x6F, 0x00, 0x90, 0x00}
	if SW(r) != 0x9000 || len(Data(r)) != 2 {
		t.Fatalf("SW %04X data %X", SW(r), Data(r))
	}
	if SW([]byte{0x90}) != 0 || Data([]byte{0x90}) != nil {
		t.Fatal("short response not refused")
	}
}
