package sim

import (
	"context"
	"errors"
	"fmt"

	"posd/board"
	"posd/conn/printer"
	"posd/drivers/escpos"
	"posd/drivers/escpos/escpossim"
)

// Paper of the simulated printer: a roll of printerRoll lines, the
// near-end sensor trips printerNearEnd lines before its end.
const (
	printerRoll    = 10000
	printerNearEnd = 200
	printerColumns = 32
)

// openPrinter puts a 58 mm ESC/POS printer with a Chinese font on a
// pseudo-terminal, as a UART printer would be, and the real driver on
// its other side.
func (b *Board) openPrinter(ctx context.Context, o Opts) {
	ps := escpossim.New(&escpossim.Opts{Columns: printerColumns, Chinese: true, PaperLines: printerRoll,
		NearEndLines: printerNearEnd, XonXoff: true, Logger: o.Logger})
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	path, err := ps.ServePTY(sctx)
	if err != nil {
		cancel()
		b.Add(boardStatus("printer", "escpos", "pty", err), nil, nil)
		return
	}
	b.printerSim = ps
	// Added first so it is halted last, after the driver.
	b.Add(board.Status{Name: "printer-sim", Driver: "escpossim", Where: path, OK: true,
		Detail: fmt.Sprintf("ESC/POS thermal printer simulator (58 mm, %d columns, GB18030 font)", printerColumns)}, nil,
		func() error { cancel(); ps.Wait(); return nil })
	b.AddPrinter(board.Printer{Serial: board.Serial{Port: path, Baud: 115200}, Columns: printerColumns, Chinese: true})
}

// ErrNoPrinter: the simulated board has no printer.
var ErrNoPrinter = errors.New("sim: no printer")

// Paper is what the simulated printer has printed, each document (one
// cut) as printer.Preview renders it, and its state.
type Paper struct {
	Documents []string       `json:"documents"`
	Status    printer.Status `json:"status"`
	LinesLeft int            `json:"lines_left"`
}

// PrinterPaper reads the simulated printer's paper.
func (b *Board) PrinterPaper() (Paper, error) {
	ps := b.printerSim
	if ps == nil {
		return Paper{}, ErrNoPrinter
	}
	var p Paper
	for _, d := range ps.Documents() {
		var doc printer.Doc
		for _, l := range d.Lines {
			doc.Lines = append(doc.Lines, printer.Line{Text: l.Text, Align: l.Align, Bold: l.Bold, Large: l.Large()})
		}
		p.Documents = append(p.Documents, printer.Preview(doc, printerColumns))
	}
	d, err := escpos.ParseStatus(ps.StatusBytes())
	if err != nil {
		return Paper{}, err
	}
	p.Status, p.LinesLeft = d.Status(), ps.PaperLeft()
	return p, nil
}

// SetPrinter changes the simulated printer's paper ("out": an empty
// roll, "low": one past its near-end mark, "full": a new roll; "" leaves
// it) and cover ("open", "closed"; "" leaves it).
func (b *Board) SetPrinter(paper, cover string) error {
	ps := b.printerSim
	if ps == nil {
		return ErrNoPrinter
	}
	switch paper {
	case "":
	case "out":
		ps.LoadPaper(-1)
	case "low":
		ps.LoadPaper(printerNearEnd / 2)
	case "full":
		ps.LoadPaper(printerRoll)
	default:
		return fmt.Errorf("sim: printer paper %q: out, low or full", paper)
	}
	switch cover {
	case "":
	case "open":
		ps.SetCover(true)
	case "closed":
		ps.SetCover(false)
	default:
		return fmt.Errorf("sim: printer cover %q: open or closed", cover)
	}
	return nil
}
