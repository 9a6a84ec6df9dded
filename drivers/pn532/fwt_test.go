package pn532_test

import (
	"context"
	"testing"
	"time"

	"posd/conn/apdu"
	"posd/drivers/pn532"
	"posd/drivers/pn532/pn532sim"
	"posd/internal/testhex"
)

// A card may take up to the largest frame waiting time of ISO 14443-4,
// FWI 14: 256*16/fc * 2^14 = 4.95 s, and ask for that much again with
// S(WTX), which the chip answers by itself. A phone computing GENERATE
// AC, or a card with FWI 14 in its ATS, answers that late; the host must
// not abort the chip's InDataExchange before. The driver's default
// options are those of the board.
func TestSlowCardWithinFWTMax(t *testing.T) {
	for _, delay := range []time.Duration{2500 * time.Millisecond, 4900 * time.Millisecond} {
		t.Run(delay.String(), func(t *testing.T) {
			r := newStepRig(pn532sim.Opts{LinkTime: true, CardDelay: delay})
			dev, err := pn532.New(pn532.NewI2C(r.sim, 0), r.opts())
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			r.sim.Present(&ppseCard{fci: testhex.Bytes(t, ppseFCI)}, idA)
			if _, err := dev.ListTarget(ctx, pn532.TypeA); err != nil {
				t.Fatal(err)
			}
			resp, err := dev.Transmit(ctx, selectPPSE)
			if err != nil || apdu.SW(resp) != 0x9000 {
				t.Fatalf("card answering after %v: %X %v", delay, resp, err)
			}
			if a := r.sim.Stats().Aborts; a != 0 {
				t.Fatalf("%d commands aborted", a)
			}
		})
	}
}
