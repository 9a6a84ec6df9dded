package sim

import (
	"context"
	"errors"
	"fmt"

	"posd/board"
	"posd/drivers/barcode"
	"posd/drivers/barcode/barcodesim"
)

// SelfTestSymbol is what the scanner's self-test shows the simulated
// scanner. It never reaches a sale: the self-test intercepts it.
const SelfTestSymbol = "POSD-SELFTEST"

// openScanner serves the barcode scanner simulator on a pseudo-terminal,
// which the real driver opens as its serial port. The simulator plays a
// scanner set to send the AIM identifier of a QR Code ("]Q1") and a CR LF
// suffix; the driver reads any suffix and strips the identifier.
func (b *Board) openScanner(ctx context.Context, o Opts) {
	sim := barcodesim.New(&barcodesim.Opts{Prefix: "]Q1", Suffix: barcode.SuffixCRLF, Logger: o.Logger})
	// The simulator lives until the board halts it, after the driver.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	path, err := sim.ServePTY(sctx)
	if err != nil {
		cancel()
		b.Add(boardStatus("scanner", "barcode", "pty", err), nil, nil)
		return
	}
	b.scannerSim = sim
	// Added first so it is halted last, after the driver.
	b.Add(board.Status{Name: "scanner-sim", Driver: "barcodesim", Where: path, OK: true,
		Detail: "2D barcode scanner simulator (]Q1 prefix, CR LF suffix)"}, nil,
		func() error { cancel(); sim.Wait(); return nil })
	bo := barcode.DefaultOpts
	bo.Logger = o.Logger
	b.AddScannerWith(board.Serial{Port: path, Baud: 9600}, &bo, b.scannerSelfTest)
}

// scannerSelfTest shows the scanner SelfTestSymbol and reads it back. It
// runs only when a self-test is asked for, holding showing, so no
// customer's code is under the scanner meanwhile; the symbol goes to the
// self-test alone (Intercept), and a failed test flushes the driver so a
// late test symbol cannot reach a sale either.
func (b *Board) scannerSelfTest(ctx context.Context, d *barcode.Dev) (string, error) {
	b.showing.Lock()
	defer b.showing.Unlock()
	sc, err := d.Intercept(ctx, func() error { return b.scannerSim.Scan(SelfTestSymbol) })
	if err != nil {
		d.Flush()
		return "", fmt.Errorf("test symbol not read back: %w", err)
	}
	if sc.Text != SelfTestSymbol {
		d.Flush()
		return "", fmt.Errorf("test symbol read back wrong (%s)", sc)
	}
	return fmt.Sprintf("%s, test symbol read back (%s)", d, sc), nil
}

// ShowCode holds a code under the simulated scanner, as a customer shows
// the payment code of their wallet app: the scanner sends it to the
// driver, which delivers it to the next Read of Devices.Scanner.
func (b *Board) ShowCode(text string) error {
	b.showing.Lock()
	defer b.showing.Unlock()
	if b.scannerSim == nil {
		return errors.New("sim: barcode scanner unavailable")
	}
	return b.scannerSim.Scan(text)
}
