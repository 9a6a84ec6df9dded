// Package alpar drives the NXP TDA8029 contact smart-card reader over its
// UART, speaking the ALPAR protocol described in NXP application note
// AN10207 "Smart Card reader application with TDA8029 Mask 06 and Mask 07"
// (Rev. 1.1, April 2014): the frame format and LRC of the ALPAR section, the
// command set (card_command 00h, check_pres_card 09h, send_num_mask 0Ah,
// set_card_baud_rate 0Bh, power_off 4Dh, power_up_iso 69h,
// get_card_parameters A6h), the unsolicited card insertion/extraction
// message A0h, and the status (error) code table returned in NACK frames.
//
// A frame is
//
//	[60h ack | E0h nack] [LEN_H] [LEN_L] [CMD] [payload, LEN bytes <= 506] [LRC]
//
// where LRC is the XOR of every byte before it. A NACK carries one payload
// byte, the status code; see NackError and errors.go.
//
// The host side of the serial line runs at 38400 baud 8N1 by default; the
// board opens and configures the port and hands the driver an io.ReadWriter.
// The driver never closes it. Halt stops activity (the command in flight
// fails with ErrHalted, the reader goroutine ends) and leaves the Dev
// usable: the next command starts the reader again. To interrupt a blocked
// read, Halt uses the bus's SetReadDeadline method when it has one (os.File
// on a tty, net.Conn); a bus whose Read returns periodically (a serial port
// opened with a read timeout, see Opts.PollEOF) works too.
//
// Dev satisfies the neutral contracts apdu.Transceiver and apdu.Presence
// (status C0h, card absent, matches apdu.ErrCardRemoved) and periph's
// conn.Resource. Time (command timeouts, polling) comes from Opts.Clock.
//
// What the card announced in its answer to reset (protocols, FiDi, guard
// time, T=1 sizes) is decoded by ParseATR, by the rules of ISO/IEC 7816-3.
// The answer of get_card_parameters is returned as is (CardParams): its
// layout, documented in AN10207, was not available to this project.
//
// Card data is never logged: APDUs, responses and ATRs appear in logs only as
// lengths.
package alpar
