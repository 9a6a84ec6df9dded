package escpossim_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"posd/conn/printer"
	"posd/drivers/escpos"
	"posd/drivers/escpos/escpossim"
)

// deadlinePort gives an *os.File the read timeout board/ sets on a
// serial port.
type deadlinePort struct{ f *os.File }

func (p deadlinePort) Write(b []byte) (int, error) { return p.f.Write(b) }
func (p deadlinePort) Read(b []byte) (int, error) {
	p.f.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	n, err := p.f.Read(b)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = nil
	}
	return n, err
}

// The driver prints through a pseudo-terminal, as on the simulated board.
func TestDriverOverPTY(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := escpossim.New(&escpossim.Opts{Chinese: true, XonXoff: true})
	path, err := s.ServePTY(ctx)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer s.Wait()
	defer cancel()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := escpos.New(deadlinePort{f}, &escpos.Opts{Chinese: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Halt()
	doc := printer.Doc{Lines: []printer.Line{{Text: "欢迎光临", Align: printer.Center, Large: true}, {Text: "Total 1.00"}}}
	if err := d.Print(ctx, doc); err != nil {
		t.Fatal(err)
	}
	docs := s.Documents()
	if len(docs) != 1 || docs[0].Lines[0].Text != "欢迎光临" || docs[0].Lines[1].Text != "Total 1.00" {
		t.Fatalf("%+v", docs)
	}
	s.SetCover(true)
	if err := d.Print(ctx, doc); !errors.Is(err, printer.ErrCoverOpen) {
		t.Fatalf("%v, want ErrCoverOpen", err)
	}
}
