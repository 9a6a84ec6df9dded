package pn532_test

import (
	"context"
	"testing"

	"posd/drivers/pn532"
	"posd/drivers/pn532/pn532sim"
)

// BenchmarkTransmitAPDU measures one APDU exchange through the driver and
// the simulator with the link-time model off, so the figure is CPU only
// (driver plus simulator plus the virtual card).
func BenchmarkTransmitAPDU(b *testing.B) {
	cases := []struct {
		name string
		k    transportKind
		apdu []byte
	}{
		{"i2c/select-ppse", kI2C, selectPPSE},
		{"spi/select-ppse", kSPISoft, selectPPSE},
		{"i2c/250-to-258", kI2C, longAPDU()},
		{"spi/250-to-258", kSPISoft, longAPDU()},
		{"hsu-pty/select-ppse", kHSU, selectPPSE},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			dev, sim := rig(b, c.k, &pn532sim.Opts{}, nil)
			sim.Present(&benchCard{resp: longAnswer(c.apdu)}, idA)
			ctx := context.Background()
			if _, err := dev.ListTarget(ctx, pn532.TypeA); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := dev.Transmit(ctx, c.apdu); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

type benchCard struct{ resp []byte }

func (c *benchCard) Transmit([]byte) ([]byte, error) { return c.resp, nil }
