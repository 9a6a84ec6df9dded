package receipt

import (
	"testing"

	"posd/conn/printer"
)

// BenchmarkSlip lays out a chip sale's merchant copy (the work done on
// the printing goroutine before the bytes go out): it must stay far below
// the printer's own time (a 58 mm thermal printer prints a slip in about
// a second).
func BenchmarkSlip(b *testing.B) {
	r := sale()
	orig := sale()
	b.ReportAllocs()
	for b.Loop() {
		d, err := Slip(hdr, r, Opts{Copy: Merchant, Original: &orig}, 32)
		if err != nil || len(d.Lines) < 20 {
			b.Fatal(err, len(d.Lines))
		}
		_ = printer.Preview(d, 32)
	}
}
