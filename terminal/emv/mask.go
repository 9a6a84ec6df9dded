package emv

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// maskPAN keeps the first 6 and last 4 digits of a PAN.
func maskPAN(pan string) string {
	n := len(pan)
	if n <= 10 {
		return strings.Repeat("*", n)
	}
	return pan[:6] + strings.Repeat("*", n-10) + pan[n-4:]
}

// safeAPDU prints a command APDU for errors and logs: in full for the
// commands whose data cannot hold card data (SELECT, READ RECORD, GET
// DATA, GET PROCESSING OPTIONS, GENERATE AC, INTERNAL and EXTERNAL
// AUTHENTICATE, GET CHALLENGE, GET RESPONSE), else the header and the
// data length only (VERIFY carries PIN blocks; script commands may carry
// new PINs).
func safeAPDU(c []byte) string {
	if len(c) < 4 {
		return strings.ToUpper(hex.EncodeToString(c))
	}
	switch {
	case c[0]&0xF0 == 0x00 && (c[1] == 0xA4 || c[1] == 0xB2 || c[1] == 0x88 || c[1] == 0x82 || c[1] == 0x84 || c[1] == 0xC0),
		c[0] == 0x80 && (c[1] == 0xA8 || c[1] == 0xAE || c[1] == 0xCA):
		return strings.ToUpper(hex.EncodeToString(c))
	}
	return fmt.Sprintf("%X+%d bytes", c[:4], len(c)-4)
}
