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

// TestPrinterFaultAgainAfterARefill: a printer that runs out of paper
// again after a refill is listed as failed again, without another self
// test: status shows what the latest contact with the printer found.
func TestPrinterFaultAgainAfterARefill(t *testing.T) {
	r := newConsoleRig(t)
	d := r.open()
	defer closeDaemon(t, d)
	if d.Sim == nil || d.Board.Devices.Printer == nil {
		t.Fatal("no simulated printer")
	}
	printerFault := func(f string) bool { return strings.HasPrefix(f, "printer") }
	if err := d.Sim.SetPrinter("out", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := (consoleTerminal{d}).SelfTest(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := d.Sim.SetPrinter("full", ""); err != nil {
		t.Fatal(err)
	}
	if faults := d.Status().DeviceFaults; slices.ContainsFunc(faults, printerFault) {
		t.Fatalf("device faults once the paper is refilled: %q", faults)
	}
	if err := d.Sim.SetPrinter("out", ""); err != nil {
		t.Fatal(err)
	}
	if faults := d.Status().DeviceFaults; !slices.Contains(faults, "printer: out of paper") {
		t.Fatalf("device faults with the paper out again: %q", faults)
	}
	// Another fault than the self test's is told as the printer tells it.
	if err := d.Sim.SetPrinter("full", "open"); err != nil {
		t.Fatal(err)
	}
	if faults := d.Status().DeviceFaults; !slices.ContainsFunc(faults, printerFault) || slices.Contains(faults, "printer: out of paper") {
		t.Fatalf("device faults with the cover open: %q", faults)
	}
	if err := d.Sim.SetPrinter("full", "closed"); err != nil {
		t.Fatal(err)
	}
	if faults := d.Status().DeviceFaults; slices.ContainsFunc(faults, printerFault) {
		t.Fatalf("device faults once the cover is closed: %q", faults)
	}
}

// TestPrinterSeenKeepsTheLatestContact: the printer's record is what its
// latest contact found; a fault it answered to a question asked before a
// newer contact (a document printed meanwhile, a self test) is dropped.
func TestPrinterSeenKeepsTheLatestContact(t *testing.T) {
	var p printerSeen
	if heard, _ := p.sinceTest(); heard {
		t.Fatal("heard from the printer before any contact")
	}
	p.selfTested()
	mark := p.mark()
	p.faultedSince(mark, "printer: out of paper")
	if heard, fault := p.sinceTest(); !heard || fault != "printer: out of paper" {
		t.Fatalf("after a fault answered: heard %v, fault %q", heard, fault)
	}
	p.readyAgain()
	if heard, fault := p.sinceTest(); !heard || fault != "" {
		t.Fatalf("after a ready answer: heard %v, fault %q", heard, fault)
	}
	mark = p.mark()
	p.readyAgain() // a document printed while the question was out
	p.faultedSince(mark, "printer: cover open")
	if _, fault := p.sinceTest(); fault != "" {
		t.Fatalf("an answer older than a document printed since counts: fault %q", fault)
	}
	mark = p.mark()
	p.selfTested()
	p.faultedSince(mark, "printer: cover open")
	if heard, _ := p.sinceTest(); heard {
		t.Fatal("an answer older than the self test since counts")
	}
}
