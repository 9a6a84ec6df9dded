// Package conn holds the neutral contracts shared by the chip drivers and
// the application, in the manner of periph's conn: small interfaces that a
// driver satisfies and that terminal/ consumes, so neither imports the
// other. board/ hands the application the drivers through them.
//
//   - conn/apdu: exchange of ISO 7816-4 APDUs with a card (PN532, TDA8029).
//   - conn/video: a source of camera frames.
//   - conn/printer: a receipt printer (documents of text lines, paper and
//     cover state).
//   - conn/clock: the time source every driver and terminal part takes as a
//     field, so tests control it.
//
// These packages import the standard library only.
package conn
