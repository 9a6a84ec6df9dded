// Package msr drives a magnetic stripe reader that decodes the stripe
// itself and sends the tracks as ASCII: a serial reader module on a UART,
// or a USB keyboard-wedge reader whose keystrokes drivers/kbdwedge turns
// back into the same byte stream.
//
// # Tracks
//
// Track formats follow ISO/IEC 7813 (track 1: format B, alphanumeric, start
// sentinel '%', separator '^'; track 2: numeric, start sentinel ';',
// separator '=') and ISO 4909 for track 3 (numeric, start sentinel ';' or,
// on MagTek readers and many modules, '+'). All tracks end with '?' and may
// be followed by the longitudinal redundancy check character. Readers
// differ in the sentinels they send and in whether they forward the LRC,
// so both are options.
//
// The LRC is checked as ISO/IEC 7811-2 (track 1, 6-bit characters, code =
// ASCII - 0x20) and ISO/IEC 7811-2/-3 (tracks 2 and 3, 4-bit characters, code
// = ASCII - 0x30): the exclusive-or of every character code from the start
// sentinel to the end sentinel inclusive. A reader that forwards the LRC
// sends it as the character with that code.
//
// Each track is judged on its own. A reader that could not decode a track
// sends its error marker between the sentinels instead of the data ('E',
// "%E?", on MagTek readers: MagTek RS-232 and USB keyboard-emulation swipe
// reader manuals); the track is then left out, as is a malformed track, and
// the reason is kept in Swipe.Errs. A swipe with a usable track 2 or
// track 1 is delivered; a swipe with neither is an error matching
// ErrUnreadable, after which the reader keeps reading: the caller asks the
// customer to swipe again.
//
// # Output formats
//
// How a reader delimits a swipe is its Format (Opts.Format):
//
//   - FormatLine: all tracks on one line, then CR or LF (serial modules).
//   - FormatIDTech: every track on its own line, "<SS><data><ES><CR>",
//     the CR being both the track separator and the terminator (ID TECH
//     MiniMag user's manuals, "Default Settings" and "Output Format
//     Selection"); the swipe ends when the line has been quiet for
//     Opts.SwipeGap, or at once when a line starts a track that cannot
//     follow the ones already read.
//   - FormatMagTek: "[STX][ESC] tracks [CR][ETX]" (MagTek MT-211232
//     RS-232 swipe reader manual, "Reader to host message format"; the
//     "Mag-Tek format" of the ID TECH MiniMag RS-232 manual), STX, ESC and
//     ETX optional: ETX ends the swipe, or CR without STX.
//   - FormatAuto (default): STX…ETX framing when present, otherwise lines
//     gathered as in FormatIDTech, so one setting reads all of the above.
//
// Characters between tracks that start no track (a card sensor status, an
// unexpected LRC, noise) are skipped. A CAN character (0x18) in the stream
// means characters were lost (the keyboard-wedge decoder sends it when the
// kernel dropped input events): that swipe is reported as ErrOverrun.
//
// The driver never opens the port: board/ does (tarm/serial, or the input
// device for a keyboard wedge) and passes an io.Reader. Configure the port
// with a read timeout (a read that times out returns nothing or io.EOF) so
// Halt returns promptly and the swipe gap is noticed. Track content never
// reaches a log or an error string; Swipe's String and LogValue print the
// masked PAN only.
package msr
