package barcodesim_test

import (
	"context"
	"testing"

	"posd/drivers/barcode"
	"posd/drivers/barcode/barcodesim"
)

func TestFrame(t *testing.T) {
	for _, c := range []struct {
		o    barcodesim.Opts
		want string
	}{
		{barcodesim.Opts{}, "abc\r"},
		{barcodesim.Opts{Suffix: barcode.SuffixCR}, "abc\r"},
		{barcodesim.Opts{Suffix: barcode.SuffixLF}, "abc\n"},
		{barcodesim.Opts{Prefix: "]Q1", Suffix: barcode.SuffixCRLF}, "]Q1abc\r\n"},
	} {
		if got := string(barcodesim.New(&c.o).Frame("abc")); got != c.want {
			t.Errorf("%+v: %q, want %q", c.o, got, c.want)
		}
	}
}

func TestServePTYEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := barcodesim.New(nil)
	if _, err := s.ServePTY(ctx); err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	if err := s.Scan("abc"); err != nil {
		t.Fatal(err)
	}
	cancel()
	s.Wait()
	if err := s.Scan("abc"); err == nil {
		t.Fatal("Scan after the link ended")
	}
}
