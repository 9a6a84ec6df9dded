package daemon

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// TestPrinterFaultClearsWhenReady: the printer's fault in status names it
// once ("printer: out of paper", not "printer: printer: ..."), and is gone
// once the paper is refilled, without another self test.
func TestPrinterFaultClearsWhenReady(t *testing.T) {
	r := newConsoleRig(t)
	d := r.open()
	defer closeDaemon(t, d)
	if d.Sim == nil || d.Board.Devices.Printer == nil {
		t.Fatal("no simulated printer")
	}
	if err := d.Sim.SetPrinter("out", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := (consoleTerminal{d}).SelfTest(context.Background()); err != nil {
		t.Fatal(err)
	}
	faults := d.Status().DeviceFaults
	if !slices.Contains(faults, "printer: out of paper") {
		t.Fatalf("device faults with the paper out: %q", faults)
	}
	if err := d.Sim.SetPrinter("full", ""); err != nil {
		t.Fatal(err)
	}
	for _, f := range d.Status().DeviceFaults {
		if strings.HasPrefix(f, "printer") {
			t.Fatalf("device faults once the paper is refilled: %q", d.Status().DeviceFaults)
		}
	}
	// A new fault is seen by the next self test.
	if err := d.Sim.SetPrinter("", "open"); err != nil {
		t.Fatal(err)
	}
	if _, err := (consoleTerminal{d}).SelfTest(context.Background()); err != nil {
		t.Fatal(err)
	}
	if faults := d.Status().DeviceFaults; !slices.ContainsFunc(faults, func(f string) bool { return strings.HasPrefix(f, "printer: ") }) {
		t.Fatalf("device faults with the cover open: %q", faults)
	}
}
