package emv

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"

	"posd/crypto/tdes"
)

// MKOption selects the ICC master key derivation of EMV book 2 annex A1.4.
type MKOption int

const (
	// OptionAuto applies the rule of book 2 A1.4: option A for PANs of up
	// to 16 digits, option B for longer ones.
	OptionAuto MKOption = iota
	// OptionA (A1.4.1): Y = the rightmost 16 digits of PAN || PSN, left
	// padded with zeros; MK = DES3(IMK)[Y] || DES3(IMK)[Y XOR FF..FF].
	OptionA
	// OptionB (A1.4.2), for PANs of more than 16 digits: Y = 16 decimal
	// digits taken from SHA-1(PAN || PSN) (digits first, then the letters
	// A-F decimalised as 0-5); then as option A. For a PAN of 16 digits or
	// fewer option B is option A, as the book specifies it only for longer
	// PANs.
	OptionB
)

// String names the option.
func (o MKOption) String() string {
	switch o {
	case OptionAuto:
		return "auto"
	case OptionA:
		return "option A"
	case OptionB:
		return "option B"
	}
	return fmt.Sprintf("MKOption(%d)", int(o))
}

// DeriveICCMasterKey derives the 16-byte ICC master key (MK_AC, MK_SMI or
// MK_SMC, according to the issuer master key given) from the 16-byte
// issuer master key imk, the PAN (tag 5A as decimal digits, without the F
// padding) and the PAN sequence number psn (tag 5F34 as two digits; ""
// means "00", the value when the card has none). The result has odd parity
// in every byte, as the keys of book 2 annex A1.4 do.
func DeriveICCMasterKey(imk []byte, pan, psn string, opt MKOption) ([]byte, error) {
	if len(imk) != tdes.KeyLen2 {
		return nil, fmt.Errorf("%w: issuer master key is %d bytes, want 16", ErrKeyLength, len(imk))
	}
	if err := checkPAN(pan); err != nil {
		return nil, err
	}
	if psn == "" {
		psn = "00"
	}
	if len(psn) != 2 || !allDigits(psn) {
		return nil, fmt.Errorf("%w: PAN sequence number must be two digits", ErrPAN)
	}
	switch opt {
	case OptionAuto, OptionA, OptionB:
	default:
		return nil, fmt.Errorf("%w: %v", ErrMethod, opt)
	}
	var y [8]byte
	if (opt == OptionAuto || opt == OptionB) && len(pan) > 16 {
		y = optionBDigits(pan, psn)
	} else {
		y = optionADigits(pan, psn)
	}
	return deriveFromY(imk, y[:])
}

// checkPAN accepts 1 to 19 decimal digits.
func checkPAN(pan string) error {
	if len(pan) == 0 || len(pan) > 19 || !allDigits(pan) {
		return fmt.Errorf("%w: PAN must be 1 to 19 digits, got %d characters", ErrPAN, len(pan))
	}
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// optionADigits packs the rightmost 16 digits of pan||psn, zero padded on
// the left, as 8 BCD bytes.
func optionADigits(pan, psn string) [8]byte {
	var digits [16]byte
	for i := range digits {
		digits[i] = '0'
	}
	s := pan + psn
	if len(s) > 16 {
		s = s[len(s)-16:]
	}
	copy(digits[16-len(s):], s)
	return packDigits(digits)
}

// optionBDigits decimalises SHA-1 of the BCD of pan||psn (left padded with
// one zero digit to a whole number of bytes): its decimal digits in order,
// then, if fewer than 16, its hex letters mapped A..F to 0..5 in order.
func optionBDigits(pan, psn string) [8]byte {
	s := pan + psn
	if len(s)%2 == 1 {
		s = "0" + s
	}
	bcd, _ := hex.DecodeString(s) // digits only: cannot fail
	sum := sha1.Sum(bcd)
	nibbles := make([]byte, 0, 2*len(sum))
	for _, b := range sum {
		nibbles = append(nibbles, b>>4, b&0x0F)
	}
	var digits [16]byte
	n := 0
	for _, v := range nibbles {
		if n < 16 && v <= 9 {
			digits[n] = '0' + v
			n++
		}
	}
	for _, v := range nibbles {
		if n < 16 && v > 9 {
			digits[n] = '0' + v - 10
			n++
		}
	}
	return packDigits(digits)
}

func packDigits(d [16]byte) [8]byte {
	var out [8]byte
	for i := range out {
		out[i] = (d[2*i]-'0')<<4 | (d[2*i+1] - '0')
	}
	return out
}

// deriveFromY returns DES3(k)[y] || DES3(k)[y XOR FF..FF] with odd parity.
func deriveFromY(k, y []byte) ([]byte, error) {
	c, err := tdes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyLength, err)
	}
	out := make([]byte, 16)
	c.Encrypt(out[:8], y)
	var inv [8]byte
	for i := range inv {
		inv[i] = ^y[i]
	}
	c.Encrypt(out[8:], inv[:])
	oddParity(out)
	return out, nil
}

// oddParity sets the low bit of each byte so that it has an odd number of
// one bits, the DES key parity convention.
func oddParity(k []byte) {
	for i, b := range k {
		b &^= 1
		p := b ^ b>>4
		p ^= p >> 2
		p ^= p >> 1
		k[i] = b | (^p & 1)
	}
}

// SKDMethod selects how the AC session key is obtained from the ICC
// master key.
type SKDMethod int

const (
	// SKDCommon is the EMV common session key derivation (book 2 A1.3.1)
	// with R = ATC || 00 00 00 00 00 00: Visa CVN 18 and 22, M/Chip CVN 20
	// and 21.
	SKDCommon SKDMethod = iota + 1
	// SKDMastercard is the M/Chip session key derivation: the same
	// function with R = ATC || 00 00 || unpredictable number (M/Chip CVN
	// 16 and 17, Interac CVN 133).
	SKDMastercard
	// SKDNone uses the ICC master key itself as the session key (Visa CVN
	// 10; the ARPC key of M/Chip CVN 16 and 17).
	SKDNone
)

// String names the method as posctl spells it.
func (m SKDMethod) String() string {
	switch m {
	case SKDCommon:
		return "common"
	case SKDMastercard:
		return "mastercard"
	case SKDNone:
		return "none"
	}
	return fmt.Sprintf("SKDMethod(%d)", int(m))
}

// DeriveSessionKey returns the 16-byte AC session key for the 2-byte
// application transaction counter atc (tag 9F36). un, the 4-byte
// unpredictable number (tag 9F37), is used by SKDMastercard only and must
// be empty for SKDCommon. SKDNone ignores atc and un and returns a copy of
// iccMK.
func DeriveSessionKey(m SKDMethod, iccMK, atc, un []byte) ([]byte, error) {
	if len(iccMK) != tdes.KeyLen2 {
		return nil, fmt.Errorf("%w: ICC master key is %d bytes, want 16", ErrKeyLength, len(iccMK))
	}
	var r [8]byte
	switch m {
	case SKDNone:
		return append([]byte(nil), iccMK...), nil
	case SKDCommon:
		if len(un) != 0 {
			return nil, fmt.Errorf("%w: the common session key takes no unpredictable number", ErrFieldLength)
		}
	case SKDMastercard:
		if len(un) != 4 {
			return nil, fmt.Errorf("%w: unpredictable number is %d bytes, want 4", ErrFieldLength, len(un))
		}
		copy(r[4:], un)
	default:
		return nil, fmt.Errorf("%w: %v", ErrMethod, m)
	}
	if len(atc) != 2 {
		return nil, fmt.Errorf("%w: ATC is %d bytes, want 2", ErrFieldLength, len(atc))
	}
	copy(r[:2], atc)
	return CommonSessionKey(iccMK, r[:])
}

// CommonSessionKey is the EMV common session key derivation of book 2
// A1.3.1 with any 8-byte diversification value r: SK = DES3(MK)[R with
// byte 2 = F0] || DES3(MK)[R with byte 2 = 0F], with odd parity. AC
// session keys use R = ATC || zeros (or ATC || 00 00 || UN); secure
// messaging session keys use R = the ARQC.
func CommonSessionKey(iccMK, r []byte) ([]byte, error) {
	if len(iccMK) != tdes.KeyLen2 {
		return nil, fmt.Errorf("%w: ICC master key is %d bytes, want 16", ErrKeyLength, len(iccMK))
	}
	if len(r) != 8 {
		return nil, fmt.Errorf("%w: R is %d bytes, want 8", ErrFieldLength, len(r))
	}
	c, err := tdes.NewCipher(iccMK)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyLength, err)
	}
	out := make([]byte, 16)
	copy(out[:8], r)
	copy(out[8:], r)
	out[2] = 0xF0
	out[10] = 0x0F
	c.Encrypt(out[:8], out[:8])
	c.Encrypt(out[8:], out[8:])
	oddParity(out)
	return out, nil
}
