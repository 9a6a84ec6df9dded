package facepay

import (
	"encoding/hex"
	"testing"

	"posd/internal/testhex"
)

func TestKSNWindowSpend(t *testing.T) {
	w := ksnWindow{top: 100, seen: 1}
	for i, s := range []struct {
		c    uint32
		want ksnVerdict
	}{
		{100, ksnReplayed},
		{99, ksnFresh}, {99, ksnReplayed},
		{37, ksnFresh}, // 63 below the top: the oldest the window holds
		{37, ksnReplayed},
		{36, ksnTooOld}, // 64 below: too old, never spent or not
		{0, ksnTooOld},
		{101, ksnFresh}, {37, ksnTooOld}, {38, ksnFresh}, {38, ksnReplayed}, {39, ksnFresh}, {99, ksnReplayed}, {100, ksnReplayed},
		{165, ksnFresh}, // a jump of the whole window forgets every counter below
		{101, ksnTooOld}, {102, ksnFresh}, {164, ksnFresh}, {165, ksnReplayed},
		{1<<32 - 1, ksnFresh}, {1<<32 - 1, ksnReplayed}, {1<<32 - 64, ksnFresh}, {1<<32 - 65, ksnTooOld},
	} {
		if got := w.spend(s.c); got != s.want {
			t.Fatalf("step %d: counter %d: verdict %d, want %d (top %d, seen %064b)", i, s.c, got, s.want, w.top, w.seen)
		}
	}
}

func TestKSNDevice(t *testing.T) {
	for _, s := range []struct {
		ksn, device string
		counter     uint32
	}{
		{"FFFF9876543210E00001", "FFFF9876543210E00000", 1},
		{"FFFF9876543210E5ABCD", "FFFF9876543210E00000", 0x05ABCD},
		{"FFFF9876543210FFFFFF", "FFFF9876543210E00000", 0x1FFFFF},
		{"123456789012345600000001", "123456789012345600000000", 1},
		{"1234567890123456FFABCDEF", "123456789012345600000000", 0xFFABCDEF},
	} {
		ksn := testhex.Bytes(t, s.ksn)
		dev, c, err := ksnDevice(ksn)
		if err != nil || hex.EncodeToString([]byte(dev)) != hex.EncodeToString(testhex.Bytes(t, s.device)) || c != s.counter {
			t.Fatalf("%s: device %X counter %X %v", s.ksn, dev, c, err)
		}
	}
	if _, _, err := ksnDevice(make([]byte, 11)); err == nil {
		t.Fatal("an 11-byte KSN has a device")
	}
}
