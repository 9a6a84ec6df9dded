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
//   - SPI (§6.2.5): mode 0, LSB first, prefixes 0x01 write, 0x02 status,
//     0x03 read; the whole frame in one transaction. Bytes are bit-reversed
//     in software unless the controller can do LSB first.
//   - HSU (§6.2.3): 115200 baud is set by the board; the transport sends
//     0x55 0x55 and zeros before its first frame; New then sends
//     SAMConfiguration, which brings the chip out of LowVbat.
//   - InDataExchange (§7.3.8): the MI bit (0x40) in Tg says more DataOut
//     follows, the chip answers each such frame with a bare status; MI in
//     the response status says more DataIn follows and is fetched with an
//     InDataExchange without DataOut. DataOut per frame is at most 262.
//   - Card removal (§7.2.1): Diagnose test 0x06 (attention request / card
//     presence) rather than a new InListPassiveTarget, since polling again
//     would reset the card's ISO-DEP session mid-transaction.
//
// Construction from board/:
//
//	t := pn532.NewI2C(bus, 0)                // i2c.Bus from i2creg
//	t, err := pn532.NewSPI(port, nil)        // spi.Port from spireg
//	t := pn532.NewHSU(serialPort)            // io.ReadWriter, 115200 8N1
//	dev, err := pn532.New(t, nil)
//
// Logs carry command codes and lengths, never APDUs, UIDs or other card
// data.
package pn532
