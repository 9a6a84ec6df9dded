package escpos

import (
	"fmt"

	"posd/conn/printer"
)

// Real-time status transmission, DLE EOT n (10 04 n), Epson ESC/POS
// Command Reference, "DLE EOT": each answer is one byte whose bits 0 and
// 7 are fixed off and bits 1 and 4 fixed on (pattern 0xx1xx10), which is
// how the host tells it from the other bytes a printer sends ("Identifi-
// cation of send status" appendix of the command references of Epson,
// Citizen and the compatibles):
//
//	DLE EOT answer       0xx1xx10
//	ASB, first byte      0xx1xx00 (then three bytes 0xx0xxxx)
//	GS r answer          0xx0xxxx
//	XON                  00010001 (0x11)
//	XOFF                 00010011 (0x13)
const (
	statusMask  = 0x93 // bits 0, 1, 4, 7
	statusFixed = 0x12 // bits 1 and 4 on
	asbFixed    = 0x10 // ASB first byte: bit 4 on, bits 0, 1, 7 off
	gsrMask     = 0x90 // GS r answer: bits 4 and 7 off
	xon         = 0x11
	xoff        = 0x13
)

// The n of DLE EOT n.
const (
	QueryPrinter = 1 // printer status
	QueryOffline = 2 // off-line cause
	QueryError   = 3 // error cause
	QueryPaper   = 4 // roll paper sensor
)

// Detail is the printer's state as the four DLE EOT answers report it
// (Epson ESC/POS Command Reference, "DLE EOT"; bit numbers below).
type Detail struct {
	// DLE EOT 1, printer status.
	DrawerHigh bool // bit 2: drawer kick-out connector pin 3 is high
	Offline    bool // bit 3

	// DLE EOT 2, off-line cause.
	CoverOpen    bool // bit 2
	FeedButton   bool // bit 3: paper is being fed by the feed button
	PaperEndStop bool // bit 5: printing stopped because the paper ran out
	ErrorStop    bool // bit 6: an error occurred

	// DLE EOT 3, error cause.
	CutterError     bool // bit 3: autocutter error (jam)
	Unrecoverable   bool // bit 5: unrecoverable error
	AutoRecoverable bool // bit 6: auto-recoverable error (head too hot)

	// DLE EOT 4, roll paper sensor. The reference sets bits 2 and 3
	// together, and 5 and 6 together; some models (Citizen) set one bit
	// per sensor, so either bit counts.
	NearEnd  bool // bits 2, 3: the near-end sensor sees the end coming
	PaperEnd bool // bits 5, 6: the end sensor sees no paper
}

// Status is the contract's view of d: paper out when either the end
// sensor or the paper-end stop says so, a fault for any error bit.
func (d Detail) Status() printer.Status {
	return printer.Status{
		PaperOut:  d.PaperEnd || d.PaperEndStop,
		PaperLow:  d.NearEnd,
		CoverOpen: d.CoverOpen,
		Fault:     d.ErrorStop || d.CutterError || d.Unrecoverable || d.AutoRecoverable,
	}
}

// IsStatusByte reports whether b has the fixed bits of a DLE EOT answer.
func IsStatusByte(b byte) bool { return b&statusMask == statusFixed }

// ParseStatus decodes the answers to DLE EOT 1, 2, 3 and 4, in that
// order. A byte without the fixed bits is not an answer (line noise, a
// wrong baud rate, another command's answer): ErrBadStatus.
func ParseStatus(raw [4]byte) (Detail, error) {
	for i, b := range raw {
		if !IsStatusByte(b) {
			return Detail{}, fmt.Errorf("%w: DLE EOT %d answered %#02x", ErrBadStatus, i+1, b)
		}
	}
	p, o, e, s := raw[0], raw[1], raw[2], raw[3]
	return Detail{
		DrawerHigh:      p&0x04 != 0,
		Offline:         p&0x08 != 0,
		CoverOpen:       o&0x04 != 0,
		FeedButton:      o&0x08 != 0,
		PaperEndStop:    o&0x20 != 0,
		ErrorStop:       o&0x40 != 0,
		CutterError:     e&0x08 != 0,
		Unrecoverable:   e&0x20 != 0,
		AutoRecoverable: e&0x40 != 0,
		NearEnd:         s&0x0C != 0,
		PaperEnd:        s&0x60 != 0,
	}, nil
}

// Bytes is the inverse of ParseStatus: the four answers a printer in
// state d sends (undefined bits off, sensor bits in pairs).
func (d Detail) Bytes() [4]byte {
	raw := [4]byte{statusFixed, statusFixed, statusFixed, statusFixed}
	set := func(i int, on bool, bits byte) {
		if on {
			raw[i] |= bits
		}
	}
	set(0, d.DrawerHigh, 0x04)
	set(0, d.Offline, 0x08)
	set(1, d.CoverOpen, 0x04)
	set(1, d.FeedButton, 0x08)
	set(1, d.PaperEndStop, 0x20)
	set(1, d.ErrorStop, 0x40)
	set(2, d.CutterError, 0x08)
	set(2, d.Unrecoverable, 0x20)
	set(2, d.AutoRecoverable, 0x40)
	set(3, d.NearEnd, 0x0C)
	set(3, d.PaperEnd, 0x60)
	return raw
}
