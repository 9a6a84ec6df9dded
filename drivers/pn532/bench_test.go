package pn532_test

import (
	"context"
	"testing"

	"posd/drivers/pn532"
	"posd/drivers/pn532/pn532sim"
)

// BenchmarkTransmitAPDU measures one APDU exchange through the driver and
// the simulator with the link-time model off and, on I2C, without the
// 5 ms bus-free time, so the figure is CPU only (driver plus simulator
// plus the virtual card). The i2c-bus-free case keeps the bus-free time:
// its figure is the wall time the rule costs per exchange (five
// transactions, so at least 25 ms).
func BenchmarkTransmitAPDU(b *testing.B) {
	cases := []struct {
		name    string
		k       transportKind
		apdu    []byte
		busFree bool
	}{
		{"i2c/select-ppse", kI2C, selectPPSE, false},
		{"spi/select-ppse", kSPISoft, selectPPSE, false},
		{"i2c/250-to-258", kI2C, longAPDU(), false},
		{"spi/250-to-258", kSPISoft, longAPDU(), false},
		{"hsu-pty/select-ppse", kHSU, selectPPSE, false},
		{"i2c-bus-free/select-ppse", kI2C, selectPPSE, true},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var dev *pn532.Dev
			var sim *pn532sim.Sim
			if c.k == kI2C {
				sim = pn532sim.New(&pn532sim.Opts{})
				tr := pn532.NewI2C(sim, 0)
				if !c.busFree {
					tr.BusFree = 0
				}
				var err error
				if dev, err = pn532.New(tr, testOpts()); err != nil {
					b.Fatal(err)
				}
			} else {
				dev, sim = rig(b, c.k, &pn532sim.Opts{}, nil)
			}
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
