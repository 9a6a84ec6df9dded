package pin

import (
	"posd/crypto/pinblock"
	"posd/terminal/wiresec"
)

// Builder turns the digits of an accepted PIN (ASCII '0'..'9', Opts.Min
// to Opts.Max of them) into what leaves the PIN pad, typically a PIN
// block. The slice is the Entry's buffer, wiped as soon as the Builder
// returns: a Builder must not keep it, nor put digits in its error.
type Builder func(digits []byte) ([]byte, error)

// OnlinePIN builds the encrypted PIN block of online PIN verification
// under sess's DUKPT PIN key: ISO 9564 format 0 (8 bytes) under TDES
// DUKPT, format 4 (16 bytes) under AES DUKPT, bound to pan. The request
// carries it with sess's KSN.
func OnlinePIN(sess *wiresec.Session, pan string) Builder {
	return func(digits []byte) ([]byte, error) {
		return sess.EncryptPINDigits(digits, pan)
	}
}

// OfflinePlaintextPIN builds the plaintext PIN block of the EMV VERIFY
// command for offline plaintext PIN verification by the card (ISO 9564
// format 2, EMV Book 3 6.5.12). The block holds the clear PIN: the kernel
// wipes it once the command is sent.
func OfflinePlaintextPIN() Builder { return pinblock.EncodeFormat2Digits }
