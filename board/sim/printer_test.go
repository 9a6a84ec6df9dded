package sim

import (
	"context"
	"errors"
	"strings"
	"testing"

	"posd/conn/printer"
)

// The sim board's printer is the real ESC/POS driver over a
// pseudo-terminal to the simulator: what the board's Devices.Printer
// prints comes out on the simulated paper, Chinese included, and the
// paper and cover controls reach the driver as the contract's errors.
func TestSimPrinter(t *testing.T) {
	ctx := context.Background()
	b, err := Open(ctx, Opts{DataDir: t.TempDir(), NoCamera: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Halt()
	p := b.Devices.Printer
	if p == nil || p.Columns() != printerColumns {
		t.Fatalf("printer %v", p)
	}
	doc := printer.Doc{Lines: []printer.Line{{Text: "消费 SALE", Large: true}, {Text: "CNY 12.34", Align: printer.Right}}}
	if err := p.Print(ctx, doc); err != nil {
		t.Fatal(err)
	}
	paper, err := b.PrinterPaper()
	if err != nil {
		t.Fatal(err)
	}
	if len(paper.Documents) != 1 || paper.Documents[0] != printer.Preview(doc, printerColumns) {
		t.Fatalf("paper %q, want %q", paper.Documents, printer.Preview(doc, printerColumns))
	}
	for _, c := range []struct {
		paper, cover string
		want         error
	}{
		{"out", "", printer.ErrPaperOut},
		{"full", "open", printer.ErrCoverOpen},
		{"", "closed", nil},
	} {
		if err := b.SetPrinter(c.paper, c.cover); err != nil {
			t.Fatal(err)
		}
		if err := p.Print(ctx, doc); !errors.Is(err, c.want) {
			t.Errorf("paper %q cover %q: print %v, want %v", c.paper, c.cover, err, c.want)
		}
	}
	if err := b.SetPrinter("low", ""); err != nil {
		t.Fatal(err)
	}
	if st, err := p.Status(ctx); err != nil || !st.PaperLow || !st.Ready() {
		t.Errorf("near the end of the roll: %+v %v", st, err)
	}
	if err := b.SetPrinter("gone", ""); err == nil || !strings.Contains(err.Error(), "out, low or full") {
		t.Errorf("bad paper state: %v", err)
	}
}
