// Package escpos drives a serial thermal receipt printer speaking ESC/POS:
// the 58 mm and 80 mm panel printers of POS terminals, with the command
// set of Epson's TM-T20 and TM-T88 (Epson ESC/POS Command Reference) and
// the Chinese models (Xprinter, Sprt, Hprt, Zijiang) that add the FS
// Chinese-mode commands. It implements posd/conn/printer.Printer.
//
// # What it sends
//
// A document is, in this order (hex):
//
//	1B 40            ESC @     initialise: modes reset, buffer cleared
//	1C 26            FS &      Chinese mode, before the first line with a GB code
//	per line of the document:
//	1B 61 n          ESC a n   alignment: 0 left, 1 centre, 2 right
//	1B 45 n          ESC E n   emphasis (bold): 0 off, 1 on
//	1D 21 n          GS ! n    size: 00 normal, 11 double width and height
//	text 0A          ...  LF   each line as wrapped, then print and feed
//	1C 2E            FS .      leave Chinese mode, if entered
//	1D 56 42 00      GS V 66 0 feed to the cutter, partial cut (function B)
//	1D 72 01         GS r 1    transmit paper sensor status
//
// ESC a, ESC E and GS ! stay in effect until changed, so a wrapped line's
// continuation lines carry them; ESC a and GS V are taken only at the
// start of a line, where the driver sends them. GS r 1 is not a real-time
// command: the printer answers it once it has processed, that is
// printed, everything before it, which tells the driver the document is
// out; Print then asks the status once more.
//
// # Text
//
// Lines are wrapped at Opts.Columns (Font A: 12 dots, 32 columns on the
// 384 dots of 58 mm paper, 48 on the 576 of 80 mm), at the last space
// that fits, else between two characters; a large line (GS ! 11) holds
// half as many. Nothing but printable ASCII and two-byte GB codes is
// sent as text, and neither contains a byte below 0x20: control
// characters in the text (tabs become spaces) are dropped, so a
// merchant's name from the configuration or a wallet's data cannot carry
// an ESC/POS command. With Opts.Chinese the characters GB18030 codes in
// two bytes (GBK; GB2312 only with Opts.GB2312) are sent in Chinese
// mode, two columns each (a full-width glyph); everything else prints as
// '?'. In Chinese mode single bytes below 0x80 still print as ASCII, so
// the mode is entered once per document, at the start of a line (Sprt
// models print the pending line when they take FS &).
//
// # Status
//
// DLE EOT n (10 04 n), real-time status transmission, is answered at once,
// even by a printer that is off-line or whose buffer is full: n = 1
// printer (bit 3 off-line), 2 off-line cause (bit 2 cover open, 5 stopped
// at paper end, 6 error), 3 error cause (bit 3 autocutter, 5
// unrecoverable, 6 auto-recoverable: head too hot), 4 roll paper sensor
// (bits 2-3 near end, 5-6 paper end). Each answer has bits 1 and 4 on and
// 0 and 7 off; a byte without them is noise and is not taken as an
// answer. The reader tells the printer's bytes apart by those fixed bits
// ("Identification of send status" in the ESC/POS references): DLE EOT
// 0xx1xx10, GS r 0xx0xxxx, XON 11, XOFF 13, and the four bytes of an
// automatic status back (ASB, enabled on some printers by a memory
// switch; 0xx1xx00 then three bytes) are skipped.
//
// # Flow control
//
// Serial printers have small receive buffers. With XON/XOFF handshaking
// the printer sends XOFF (13) when its buffer is full, or when it goes
// off-line (paper out, cover open, an error), and XON (11) when it can
// take data again (Epson TM-T20II, TM-T82, TM-T88 manuals, "XON/XOFF").
// The driver writes a document one printed line at a time (a few dozen
// bytes) and, after XOFF, writes nothing more until XON; meanwhile it
// asks the status every Opts.PollInterval, real-time commands being
// accepted while the buffer is full, and gives up with the printer's
// error when it stopped. Bytes already handed to the operating system
// still leave: the printer's XOFF margin must cover the port's transmit
// queue plus a line. With DTR/DSR handshaking board/ configures the port
// and the driver sees no XON/XOFF; a printer without handshaking at all
// relies on its buffer being larger than a receipt.
//
// # Ports
//
// The driver never opens or closes the port: board/ does, with a read
// timeout (a read that times out returns nothing or io.EOF), which
// bounds how long Halt waits for the reader goroutine.
package escpos
