// Package pn532 drives the NXP PN532 NFC controller as an ISO 14443 Type A
// and Type B reader (initiator) for contactless payment cards.
//
// The reference is the NXP PN532 User Manual UM0701-02 (Rev. 02, firmware
// V1.6). Where the manual leaves a detail open the package follows it as
// below:
//
//   - Frames (§6.2.1): normal and extended information frames, ACK, NACK
//     and the syntax error frame. The host uses the extended format only
//     when TFI plus data exceed 255 bytes, like the chip. Any number of
//     preamble zeros is accepted before the start code (§6.2.1.6).
//   - Dialog (§6.2.2): every command is acknowledged; a missing ACK makes
//     the host resend the command (Opts.Retries); a damaged response is
//     answered with NACK, after which the chip sends it again; a cancelled
//     context or a response timeout makes the host send ACK, which aborts
//     the running command.
//   - I2C (§6.2.4): address 0x24; each read transaction starts with the
//     status byte (bit 0 ready) and the frame follows in the same read,
//     so the transport reads the longest frame the command can produce.
//     Between two transactions the bus stays free 5 ms (libnfc's
//     PN532_BUS_FREE_TIME); a failed write or status read is tried three
//     times (libnfc's PN532_SEND_RETRIES).
//   - SPI (§6.2.5): mode 0, LSB first, prefixes 0x01 write, 0x02 status,
//     0x03 read; the whole frame in one transaction. Bytes are bit-reversed
//     in software unless the controller can do LSB first. The chip answers
//     a read from the start code 00 FF (libnfc pn532_spi.c).
//   - HSU (§6.2.3): 115200 baud is set by the board; the transport sends
//     0x55 0x55 and zeros before its first frame.
//   - Sleep and wake-up: the chip is in LowVbat after power-up or reset
//     and may be in power-down later. Before the first command, after a
//     reset and before every resend of an unacknowledged command the
//     driver wakes it: H_REQ pulse when wired (Opts.Req), the HSU
//     preamble, or NSS low for 2 ms on SPI (SPIOpts.CS, or a long status
//     read when the controller owns CS). On I2C without H_REQ the chip
//     wakes on its address and stretches SCL.
//   - Init (after New unless SkipInit): RSTPDN pulse when wired
//     (Opts.Reset), wake-up, SAMConfiguration normal mode (leaves
//     LowVbat), SetParameters with automatic RATS and ATR_RES (libnfc's
//     pn53x_init) and RFConfiguration MaxRetries.
//   - Bus errors: a failed write or ACK read resends the command; a failed
//     response read is answered with NACK; when that is not enough and
//     RSTPDN is wired the chip is reset and initialised again
//     (ErrReset if a card session was lost).
//   - InDataExchange (§7.3.8): the MI bit (0x40) in Tg says more DataOut
//     follows, the chip answers each such frame with a bare status; MI in
//     the response status says more DataIn follows and is fetched with an
//     InDataExchange without DataOut. DataOut per frame is at most 262.
//     The chip answers S(WTX) itself, so the host waits for a response
//     up to Opts.ExchangeTimeout, which covers ISO 14443-4's largest
//     frame waiting time (FWTMax, FWI 14, 4.95 s). A frame with MI and
//     no DataIn is malformed. A card without ISO 14443-4 gets no APDU
//     (ErrNotISODEP); status 0x29, 0x2A and 0x2B end the session
//     (apdu.ErrCardRemoved).
//   - Type A targets: SAK bit 0x20 marks ISO 14443-4; the ATS follows
//     only when the chip got one, so a SAK 0x28 card listed without ATS
//     is accepted (libnfc's pn53x_decode_target_data does the same).
//   - Release (§7.3.11): InRelease Tg 0, every target, never one Tg: a
//     collision or the poll of the other modulation leaves more than one
//     card activated, and an activated card answers no poll (ISO 14443-3
//     ACTIVE, ISO 14443-4 PROTOCOL state). ListTarget releases what an
//     earlier poll (or, after Init without reset, a previous host) left
//     activated before it polls, as libnfc deselects after every listing.
//     A deselected card rests in HALT: whether the chip's type A poll
//     (REQA or WUPA) wakes it the manual does not say; libnfc notes that
//     a deselected type B card answers the next poll.
//   - Card removal: an ISO 14443-4 R(NAK) through InCommunicateThru, as
//     libnfc does on a PN532 because Diagnose 0x06 fails with JCOP cards;
//     Diagnose 0x06 (§7.2.1) only for non-ISO-DEP cards. Neither resets
//     the card's session, unlike a new InListPassiveTarget. A type B
//     card's R(NAK) carries the CID its ATTRIB_RES echoes, none for CID 0
//     (ISO 14443-4 §7.1.1.2: a card ignores blocks with another CID).
//
// Construction from board/:
//
//	t := pn532.NewI2C(bus, 0)                // i2c.Bus from i2creg
//	t, err := pn532.NewSPI(port, nil)        // spi.Port from spireg
//	t := pn532.NewHSU(serialPort)            // io.ReadWriter, 115200 8N1
//	o := pn532.DefaultOpts
//	o.Reset, o.Req = rstpdn, hreq            // optional gpio.PinOut from gpioreg
//	dev, err := pn532.New(t, &o)
//
// Dev satisfies apdu.Transceiver, apdu.Presence and periph's
// conn.Resource.
//
// Logs carry command codes and lengths, never APDUs, UIDs or other card
// data.
package pn532
