// Package barcode drives a serial 2D barcode / QR code scanner: a
// hand-held or presentation imager (Honeywell, Zebra/Symbol, Newland,
// Datalogic and the like) in serial mode, on a UART or as a USB CDC-ACM
// virtual COM port. The terminal reads the customer's wallet payment code
// with it.
//
// # What the scanner sends
//
// A serial scanner sends every symbol it decodes as one message: an
// optional prefix, the data, then a suffix that ends the message. The
// suffix is a carriage return on most scanners and configurable (CR LF,
// LF); Honeywell's interface "plug and play" settings program a CR LF
// suffix (Honeywell Xenon 1900/1910 user guide, "Data Editing: Prefix/
// Suffix Overview"). Opts.Suffix says which one to expect; SuffixAuto (the
// default) ends a message at CR or LF and treats CR LF as one suffix, so
// one setting reads all three.
//
// A scanner may put the AIM symbology identifier in front of the data:
// three characters, ']' then a code character naming the symbology (a
// letter: 'Q' QR Code, 'd' Data Matrix, 'z' Aztec, 'L' PDF417, 'C' Code
// 128, 'E' EAN/UPC...) then a modifier character that depends on the
// symbology (a digit, or a capital letter: Aztec goes up to 'C'). Sources:
// Datalogic QuickScan and Magellan product reference guides, "Global AIM
// ID" and the label-ID tables (QR Code "]Q0" to "]Q6", Data Matrix "]d0"
// to "]d6"); Honeywell 3800/Xenon symbology charts (AIM ID column, e.g.
// "]E0" for UPC-A); the format itself is ISO/IEC 15424. With
// Opts.StripAIM the driver removes a leading identifier and reports it in
// Scan.Symbology ("]Q1"); data that merely starts with ']' but has no
// valid identifier after it is kept whole.
//
// # What the driver accepts
//
// A symbol's text must be printable: ASCII 0x20-0x7E or valid UTF-8
// without control characters. Anything else (line noise, a wrong baud
// rate, a binary symbol, the GS separators of GS1 symbols) is discarded
// and reported as ErrGarbled, without its content. A message longer than
// Opts.MaxLen bytes (default 512, the prefix included) is discarded up to
// its suffix and reported as ErrTooLong. Empty messages (a stray suffix)
// are ignored.
//
// # Payment codes are bearer tokens
//
// A wallet payment code pays: whoever has it can spend it until it
// expires. The driver never logs a symbol's text, puts it in an error or
// prints it (Scan's String and LogValue give the symbology and the length
// only), and it wipes its buffers. A code shown before the sale started
// must not pay for it: Flush discards whatever was scanned and not yet
// read. Intercept lets a self-test read its own test symbol without any
// Read caller (a sale) ever seeing it.
//
// # Ports
//
// The driver never opens or closes the port: board/ does, with a read
// timeout (a read that times out returns nothing or io.EOF), so Halt
// returns promptly. The driver only reads; it sends the scanner nothing.
package barcode
