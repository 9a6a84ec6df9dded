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
//	1D 72 01         GS r 1    transmit paper sensor status (if answered)
//
// ESC a, ESC E and GS ! stay in effect until changed, so a wrapped line's
// continuation lines carry them; ESC a and GS V are taken only at the
// start of a line, where the driver sends them. GS r 1 is not a real-time
// command: the printer answers it once it has processed, that is
// printed, everything before it, which tells the driver the document is
// out; Print then asks the status once more.
//
// # Printers without GS r
//
// Many low-cost printers answer DLE EOT but ignore GS r. Before its
// first document (and again after the printer stopped answering, as it
// may come back another one) the driver sends GS r 1 alone to the ready,
// idle printer: one that has it answers at once; one that does not
// answer within Opts.StatusTimeout gets documents without GS r, and the
// driver confirms each by the status instead: it waits the document's
// printing time (Opts.LineTime a line of normal height, four more for
// the feed to the cutter: 75 ms, 50 mm/s, by default, so about 3 s for
// a 40-line slip), asking DLE EOT every Opts.PollInterval meanwhile, and
// takes the status after it. On line, paper present, cover closed, no
// error and no stop at a paper end show that the printer did not stop
// on the way; a roll that ran out keeps its sensor tripped until one is
// loaded, so such a slip is never reported printed. The status cannot
// show that every byte arrived and printed (a byte lost on the line, a
// buffer overrun without flow control), and a printer slower than
// LineTime says that runs out of paper after the wait is reported
// printed: LineTime must be the printer's slowest.
//
// # A document that fails
//
// A printer that stops (paper end, cover open, an error) keeps what it
// has received and not printed, and prints it once put right: the rest
// of a slip would come out on the new roll before the reprint. When a
// document fails after its first byte was sent, the driver sends
//
//	10 14 08 01 03 14 01 06 02 08   DLE DC4 fn=8, clear buffers
//
// a real-time command executed on arrival, even off-line, by Epson's
// TM-T88III and later, TM-T90, TM-L90 and Citizen's CT-S models: it
// discards the receive and print buffers and answers 37 25 00. ESC @
// cannot do this: it is processed in its turn, after the data it should
// discard, and clears only the line being formed; DLE ENQ 2 clears the
// buffers only to recover from an autocutter-type error, not a paper
// end. A printer that does not answer the clear (it lacks it) prints
// the rest once back on line: the error then wraps ErrNotCleared too,
// and the GS r that rest carries, answered late, is not taken as the
// next document's.
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
// 0xx1xx10, GS r 0xx0xxxx, XON 11, XOFF 13, the clear answer 37 25 00,
// and the four bytes of an automatic status back (ASB, enabled on some
// printers by a memory switch; 0xx1xx00 then three bytes) are skipped.
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
