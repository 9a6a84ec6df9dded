// Package msr drives a serial magnetic stripe reader module: the kind that
// decodes the stripe itself and sends the tracks as ASCII over a UART.
//
// Track formats follow ISO/IEC 7813 (track 1: format B, alphanumeric, start
// sentinel '%', separator '^'; track 2: numeric, start sentinel ';',
// separator '=') and ISO 4909 for track 3 (numeric, start sentinel ';' or,
// on many modules, '+'). All tracks end with '?' and may be followed by the
// longitudinal redundancy check character. Reader modules differ in the
// sentinels they send, in whether they forward the LRC, and in the line
// terminator after the last track, so all three are options.
//
// The LRC is checked as ISO/IEC 7811-2 (track 1, 6-bit characters, code =
// ASCII - 0x20) and ISO/IEC 7811-2/-3 (tracks 2 and 3, 4-bit characters, code
// = ASCII - 0x30): the exclusive-or of every character code from the start
// sentinel to the end sentinel inclusive. A module that forwards the LRC sends
// it as the character with that code.
//
// The driver never opens the port: board/ does (tarm/serial) and passes an
// io.ReadWriter. Configure the port with a read timeout so Halt returns
// promptly. Track content never reaches a log or an error string; Swipe's
// String and LogValue print the masked PAN only.
package msr
