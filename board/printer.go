package board

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"posd/drivers/escpos"
)

// Printer is the wiring of an ESC/POS receipt printer: its serial line (a
// UART, or the virtual COM port of a USB-serial adapter) and its paper.
type Printer struct {
	Serial
	// Columns of the normal font: 32 on 58 mm paper (the default), 48 on
	// 80 mm.
	Columns int `json:"columns,omitempty"`
	// Chinese: the printer has a Chinese (GB18030/GBK) font; GB2312: only
	// GB2312's characters (older models).
	Chinese bool `json:"chinese,omitempty"`
	GB2312  bool `json:"gb2312,omitempty"`
}

// Validate checks a printer's wiring.
func (p Printer) Validate() error {
	if p.Port == "" || p.Baud <= 0 {
		return errors.New("board: printer needs a port and a baud rate")
	}
	if p.Columns != 0 && (p.Columns < 16 || p.Columns > 96) {
		return fmt.Errorf("board: printer columns %d: 32 (58 mm) or 48 (80 mm)", p.Columns)
	}
	return nil
}

// AddPrinter opens the receipt printer on its serial line and records it
// as "printer". A printer that does not answer at start (switched off,
// unplugged) is reported with its error but kept: it prints once it is
// switched on, and what does not print meanwhile waits for a reprint.
func (b *Board) AddPrinter(p Printer) {
	st := Status{Name: "printer", Driver: "escpos", Where: p.Port}
	port, err := OpenSerial(p.Serial)
	if err != nil {
		st.Error = err.Error()
		b.Add(st, nil, nil)
		return
	}
	o := escpos.DefaultOpts
	o.Columns, o.Chinese, o.GB2312 = p.Columns, p.Chinese, p.GB2312
	b.AddPrinterOn(port, p.Port, port.Close, &o)
}

// AddPrinterOn starts the ESC/POS driver on rw (closeFn, when not nil,
// closes it at Halt) and records the printer as "printer" at where; the
// simulated board gives it its simulator's link.
func (b *Board) AddPrinterOn(rw io.ReadWriter, where string, closeFn func() error, opts *escpos.Opts) {
	st := Status{Name: "printer", Driver: "escpos", Where: where}
	o := escpos.DefaultOpts
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = b.log.With("device", "printer")
	}
	d, err := escpos.New(rw, &o)
	if err != nil {
		if closeFn != nil {
			closeFn()
		}
		st.Error = err.Error()
		b.Add(st, nil, nil)
		return
	}
	b.Devices.Printer = d
	test := func(ctx context.Context) (string, error) {
		s, err := d.Status(ctx)
		if err != nil {
			return "", err
		}
		if err := s.Err(); err != nil {
			return "", err
		}
		paper := "paper ok"
		if s.PaperLow {
			paper = "paper low: change the roll soon"
		}
		return fmt.Sprintf("%s, %s", d, paper), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	st.Detail, err = test(ctx)
	cancel()
	st.OK = err == nil
	if err != nil {
		st.Error = err.Error()
	}
	b.Add(st, test, func() error {
		err := d.Halt()
		if closeFn != nil {
			err = errors.Join(err, closeFn())
		}
		return err
	})
}
