package kek_test

import (
	"testing"

	"posd/board"
	"posd/board/kek"
)

// TestEveryProfileNamesAKEKSource: a board profile without a valid KEK
// source could not start; the sim board keeps the 0600 file, the rpi4
// its TPM with the file as the allowed fallback.
func TestEveryProfileNamesAKEKSource(t *testing.T) {
	for name, p := range board.Profiles {
		if err := p.KEK.Validate(); err != nil {
			t.Errorf("profile %s: %v", name, err)
		}
	}
	if s := board.Profiles["sim"].KEK; s.Source != kek.SourceFile {
		t.Errorf("sim KEK source %+v, want the file", s)
	}
	want := kek.Spec{Source: kek.SourceTPM, Device: "/dev/tpmrm0", FallbackFile: true}
	if s := board.Profiles["rpi4"].KEK; s != want {
		t.Errorf("rpi4 KEK source %+v, want %+v", s, want)
	}
}
