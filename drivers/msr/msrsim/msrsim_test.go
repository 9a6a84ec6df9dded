package msrsim

import (
	"testing"

	"posd/drivers/msr"
)

const (
	t1 = "B4761739001010010^TEST/CARD A^2912101000000000000000000000000"
	t2 = "4761739001010010=29121010000000000000"
	t3 = "011234567890=99"
)

// The bytes of each format, written from the readers' manuals (see the
// package documentation), against what the simulator sends.
func TestFrames(t *testing.T) {
	cases := []struct {
		name string
		opts Opts
		tr   Tracks
		want string
	}{
		{"line", Opts{}, Tracks{T1: t1, T2: t2}, "%" + t1 + "?;" + t2 + "?\r"},
		{"line, bad track 1", Opts{}, Tracks{T1: t1, T2: t2, Bad: [3]bool{true}}, "%E?;" + t2 + "?\r"},
		{"idtech", Opts{Format: msr.FormatIDTech}, Tracks{T1: t1, T2: t2, T3: t3},
			"%" + t1 + "?\r;" + t2 + "?\r;" + t3 + "?\r"},
		{"idtech, bad track 1 left out", Opts{Format: msr.FormatIDTech}, Tracks{T1: t1, T2: t2, Bad: [3]bool{true}},
			";" + t2 + "?\r"},
		{"magtek", Opts{Format: msr.FormatMagTek}, Tracks{T1: t1, T2: t2, T3: t3},
			"\x02%" + t1 + "?;" + t2 + "?+" + t3 + "?\r\x03"},
		{"magtek ESC, bad track 1", Opts{Format: msr.FormatMagTek, ESC: true}, Tracks{T1: t1, T2: t2, Bad: [3]bool{true}},
			"\x02\x1b%E?;" + t2 + "?\r\x03"},
		{"magtek, bad track 2 and 3 sent, track 1 absent", Opts{Format: msr.FormatMagTek}, Tracks{T2: t2, Bad: [3]bool{false, true, true}},
			"\x02;E?+E?\r\x03"},
		// LRC of ";4761739001010010=29121010000000000000?": XOR of the
		// 4-bit codes (ASCII - 0x30) of every character, as a character.
		{"line with LRC", Opts{LRC: true}, Tracks{T2: t2}, ";" + t2 + "?" + string(rune(lrc4(";"+t2+"?"))) + "\r"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := New(nil, &c.opts)
			if got := string(s.Frame(c.tr)); got != c.want {
				t.Fatalf("got %q\nwant %q", got, c.want)
			}
		})
	}
}

func lrc4(f string) byte {
	var x byte
	for i := 0; i < len(f); i++ {
		x ^= (f[i] - 0x30) & 0x0F
	}
	return x + 0x30
}
