package pinblock

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"io"

	"posd/crypto/tdes"
)

// Block sizes of the formats.
const (
	// Size is the length of a format 0, 1 or 3 block.
	Size = 8
	// Size4 is the length of a format 4 block.
	Size4 = 16
)

// PIN length limits of ISO 9564-1.
const (
	MinPINLength = 4
	MaxPINLength = 12
)

// maxPANLength is the longest PAN ISO/IEC 7812 allows.
const maxPANLength = 19

// checkPIN validates a PIN given as ASCII digits.
func checkPIN(pin []byte) error {
	if len(pin) < MinPINLength || len(pin) > MaxPINLength {
		return fmt.Errorf("%w: got %d", ErrPINLength, len(pin))
	}
	for _, c := range pin {
		if c < '0' || c > '9' {
			return ErrPIN
		}
	}
	return nil
}

// checkPAN validates a PAN of 1..19 digits, and at least minLen.
func checkPAN(pan string, minLen int) error {
	if len(pan) < minLen || len(pan) > maxPANLength {
		return fmt.Errorf("%w: length %d", ErrPAN, len(pan))
	}
	for i := 0; i < len(pan); i++ {
		if pan[i] < '0' || pan[i] > '9' {
			return fmt.Errorf("%w: non-digit at position %d", ErrPAN, i)
		}
	}
	return nil
}

// panField03 returns the 8-byte account number field of formats 0 and 3:
// four zero nibbles and the rightmost 12 PAN digits excluding the check
// digit, right-justified with zero padding.
func panField03(pan string) ([Size]byte, error) {
	var f [Size]byte
	if err := checkPAN(pan, 2); err != nil {
		return f, err
	}
	digits := pan[:len(pan)-1] // drop check digit
	if len(digits) > 12 {
		digits = digits[len(digits)-12:]
	}
	// Nibble positions 4..15 hold the 12 digits; right-justify.
	start := 16 - len(digits)
	for i := 0; i < len(digits); i++ {
		setNibble(f[:], start+i, digits[i]-'0')
	}
	return f, nil
}

// panField4 returns the 16-byte PAN field of format 4.
func panField4(pan string) ([Size4]byte, error) {
	var f [Size4]byte
	if err := checkPAN(pan, 1); err != nil {
		return f, err
	}
	m := 0
	if len(pan) > 12 {
		m = len(pan) - 12
	}
	setNibble(f[:], 0, byte(m))
	pos := 1
	if len(pan) < 12 {
		pos += 12 - len(pan)
	}
	for i := 0; i < len(pan); i++ {
		setNibble(f[:], pos+i, pan[i]-'0')
	}
	return f, nil
}

func setNibble(b []byte, i int, v byte) {
	if i%2 == 0 {
		b[i/2] = b[i/2]&0x0F | v<<4
	} else {
		b[i/2] = b[i/2]&0xF0 | v&0x0F
	}
}

func nibble(b []byte, i int) byte {
	if i%2 == 0 {
		return b[i/2] >> 4
	}
	return b[i/2] & 0x0F
}

func reader(rnd io.Reader) io.Reader {
	if rnd == nil {
		return rand.Reader
	}
	return rnd
}

// fillNibbles writes n fill nibbles starting at nibble index pos. fill
// returns the nibble for a random byte and whether to accept it.
func fillNibbles(b []byte, pos, n int, rnd io.Reader, fill func(byte) (byte, bool)) error {
	buf := make([]byte, 16)
	for tries := 0; n > 0; tries++ {
		if tries == 8 {
			return fmt.Errorf("%w: too many rejected bytes", ErrRandom)
		}
		if _, err := io.ReadFull(rnd, buf); err != nil {
			return fmt.Errorf("%w: %v", ErrRandom, err)
		}
		for _, r := range buf {
			if n == 0 {
				break
			}
			if v, ok := fill(r); ok {
				setNibble(b, pos, v)
				pos++
				n--
			}
		}
	}
	clear(buf)
	return nil
}

// pinField8 builds the 8-byte PIN field C N P..P fill..fill for formats
// 0, 1, 2 and 3. Fill is F for formats 0 and 2; random for 1 and 3.
func pinField8(format byte, pin []byte, rnd io.Reader) ([Size]byte, error) {
	var f [Size]byte
	if err := checkPIN(pin); err != nil {
		return f, err
	}
	setNibble(f[:], 0, format)
	setNibble(f[:], 1, byte(len(pin)))
	for i, c := range pin {
		setNibble(f[:], 2+i, c-'0')
	}
	pos := 2 + len(pin)
	n := 16 - pos
	var err error
	switch format {
	case 0, 2:
		for i := pos; i < 16; i++ {
			setNibble(f[:], i, 0xF)
		}
	case 1:
		err = fillNibbles(f[:], pos, n, reader(rnd), func(r byte) (byte, bool) { return r & 0x0F, true })
	case 3:
		// Fill digits A..F drawn without bias: reject bytes >= 252.
		err = fillNibbles(f[:], pos, n, reader(rnd), func(r byte) (byte, bool) { return 0xA + r%6, r < 252 })
	}
	if err != nil {
		clear(f[:])
	}
	return f, err
}

// decodePINField8 reads a PIN field of format 0, 1, 2 or 3 (after the PAN
// field is removed). The returned digits are ASCII.
func decodePINField8(format byte, f []byte) ([]byte, error) {
	if c := nibble(f, 0); c != format {
		return nil, fmt.Errorf("%w: control nibble %X, want %X", ErrFormat, c, format)
	}
	n := int(nibble(f, 1))
	if n < MinPINLength || n > MaxPINLength {
		return nil, fmt.Errorf("%w: block says %d", ErrPINLength, n)
	}
	pin := make([]byte, n)
	for i := 0; i < n; i++ {
		d := nibble(f, 2+i)
		if d > 9 {
			clear(pin)
			return nil, fmt.Errorf("%w: non-digit in PIN position %d", ErrFormat, i)
		}
		pin[i] = '0' + d
	}
	for i := 2 + n; i < 16; i++ {
		d := nibble(f, i)
		ok := true
		switch format {
		case 0, 2:
			ok = d == 0xF
		case 3:
			ok = d >= 0xA
		}
		if !ok {
			clear(pin)
			return nil, fmt.Errorf("%w: bad fill digit at nibble %d", ErrFormat, i)
		}
	}
	return pin, nil
}

// pinString converts and wipes the digit buffer.
func pinString(pin []byte) string {
	s := string(pin)
	clear(pin)
	return s
}

func xor8(a, b [Size]byte) [Size]byte {
	var out [Size]byte
	subtle.XORBytes(out[:], a[:], b[:])
	return out
}

// EncodeFormat0Digits builds a clear ISO 9564-1 format 0 block from a PIN
// given as ASCII digits. The caller keeps ownership of (and wipes) pin.
func EncodeFormat0Digits(pin []byte, pan string) ([]byte, error) {
	pf, err := pinField8(0, pin, nil)
	if err != nil {
		return nil, err
	}
	defer clear(pf[:])
	af, err := panField03(pan)
	if err != nil {
		return nil, err
	}
	b := xor8(pf, af)
	return b[:], nil
}

// EncodeFormat0 builds a clear ISO 9564-1 format 0 (ISO-0, ANSI X9.8) block.
func EncodeFormat0(pin, pan string) ([]byte, error) {
	p := []byte(pin)
	defer clear(p)
	return EncodeFormat0Digits(p, pan)
}

// DecodeFormat0 returns the PIN of a clear format 0 block.
func DecodeFormat0(block []byte, pan string) (string, error) {
	return decode03(0, block, pan)
}

func decode03(format byte, block []byte, pan string) (string, error) {
	if len(block) != Size {
		return "", fmt.Errorf("%w: %d bytes, want %d", ErrBlockLength, len(block), Size)
	}
	af, err := panField03(pan)
	if err != nil {
		return "", err
	}
	var pf [Size]byte
	subtle.XORBytes(pf[:], block, af[:])
	defer clear(pf[:])
	pin, err := decodePINField8(format, pf[:])
	if err != nil {
		return "", err
	}
	return pinString(pin), nil
}

// EncodeFormat1 builds a clear format 1 block: the PIN followed by fill
// nibbles from rnd (nil means crypto/rand). Format 1 is not bound to a PAN.
func EncodeFormat1(pin string, rnd io.Reader) ([]byte, error) {
	p := []byte(pin)
	defer clear(p)
	pf, err := pinField8(1, p, rnd)
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), pf[:]...)
	clear(pf[:])
	return out, nil
}

// DecodeFormat1 returns the PIN of a clear format 1 block.
func DecodeFormat1(block []byte) (string, error) {
	if len(block) != Size {
		return "", fmt.Errorf("%w: %d bytes, want %d", ErrBlockLength, len(block), Size)
	}
	pin, err := decodePINField8(1, block)
	if err != nil {
		return "", err
	}
	return pinString(pin), nil
}

// EncodeFormat3 builds a clear format 3 block: like format 0, but the
// fill digits are random values A..F drawn from rnd (nil means
// crypto/rand).
func EncodeFormat3(pin, pan string, rnd io.Reader) ([]byte, error) {
	p := []byte(pin)
	defer clear(p)
	af, err := panField03(pan)
	if err != nil {
		return nil, err
	}
	pf, err := pinField8(3, p, rnd)
	if err != nil {
		return nil, err
	}
	defer clear(pf[:])
	b := xor8(pf, af)
	return b[:], nil
}

// DecodeFormat3 returns the PIN of a clear format 3 block.
func DecodeFormat3(block []byte, pan string) (string, error) {
	return decode03(3, block, pan)
}

// EncodeFormat2Digits builds an ISO 9564-1 format 2 block from a PIN given
// as ASCII digits: 2 N P..P F..F, 8 bytes, bound to no PAN and never
// enciphered. It is the plaintext PIN block of the EMV VERIFY command for
// offline plaintext PIN verification by the card (EMV Book 3, 6.5.12). The
// block holds the clear PIN: the caller wipes it, and its own pin buffer,
// once the command is sent.
func EncodeFormat2Digits(pin []byte) ([]byte, error) {
	pf, err := pinField8(2, pin, nil)
	if err != nil {
		return nil, err
	}
	out := make([]byte, Size)
	copy(out, pf[:])
	clear(pf[:])
	return out, nil
}

// DecodeFormat2 returns the PIN of a format 2 block (what a card reads
// from a plaintext VERIFY).
func DecodeFormat2(block []byte) (string, error) {
	if len(block) != Size {
		return "", fmt.Errorf("%w: %d bytes, want %d", ErrBlockLength, len(block), Size)
	}
	pin, err := decodePINField8(2, block)
	if err != nil {
		return "", err
	}
	return pinString(pin), nil
}

// newTDES returns TDES for a 16-byte (K1 K2 K1) or 24-byte key.
func newTDES(key []byte) (cipher.Block, error) {
	b, err := tdes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %d bytes for TDES", ErrKeyLength, len(key))
	}
	return b, nil
}

func newAES(key []byte) (cipher.Block, error) {
	switch len(key) {
	case 16, 24, 32:
		return aes.NewCipher(key)
	}
	return nil, fmt.Errorf("%w: %d bytes for AES", ErrKeyLength, len(key))
}

// EncryptFormat0Digits is EncryptFormat0 for a PIN held as ASCII digits.
func EncryptFormat0Digits(key, pin []byte, pan string) ([]byte, error) {
	c, err := newTDES(key)
	if err != nil {
		return nil, err
	}
	b, err := EncodeFormat0Digits(pin, pan)
	if err != nil {
		return nil, err
	}
	c.Encrypt(b, b)
	return b, nil
}

// EncryptFormat0 builds a format 0 block and enciphers it with TDES-ECB
// under a 16- or 24-byte key (for DUKPT: the PIN-variant transaction key).
func EncryptFormat0(key []byte, pin, pan string) ([]byte, error) {
	p := []byte(pin)
	defer clear(p)
	return EncryptFormat0Digits(key, p, pan)
}

// DecryptFormat0 deciphers a TDES-enciphered format 0 block and returns
// the PIN.
func DecryptFormat0(key, encBlock []byte, pan string) (string, error) {
	c, err := newTDES(key)
	if err != nil {
		return "", err
	}
	if len(encBlock) != Size {
		return "", fmt.Errorf("%w: %d bytes, want %d", ErrBlockLength, len(encBlock), Size)
	}
	var b [Size]byte
	c.Decrypt(b[:], encBlock)
	defer clear(b[:])
	return DecodeFormat0(b[:], pan)
}

// EncodeFormat4PINField builds the clear 16-byte format 4 PIN field:
// control 4, length, PIN digits, fill A up to 8 bytes, then 8 random bytes
// from rnd (nil means crypto/rand). pin is ASCII digits; the caller wipes
// it.
func EncodeFormat4PINField(pin []byte, rnd io.Reader) ([]byte, error) {
	if err := checkPIN(pin); err != nil {
		return nil, err
	}
	f := make([]byte, Size4)
	setNibble(f, 0, 4)
	setNibble(f, 1, byte(len(pin)))
	for i, c := range pin {
		setNibble(f, 2+i, c-'0')
	}
	for i := 2 + len(pin); i < 16; i++ {
		setNibble(f, i, 0xA)
	}
	if _, err := io.ReadFull(reader(rnd), f[8:]); err != nil {
		clear(f)
		return nil, fmt.Errorf("%w: %v", ErrRandom, err)
	}
	return f, nil
}

// DecodeFormat4PINField returns the PIN of a clear format 4 PIN field.
func DecodeFormat4PINField(field []byte) (string, error) {
	if len(field) != Size4 {
		return "", fmt.Errorf("%w: %d bytes, want %d", ErrBlockLength, len(field), Size4)
	}
	if c := nibble(field, 0); c != 4 {
		return "", fmt.Errorf("%w: control nibble %X, want 4", ErrFormat, c)
	}
	n := int(nibble(field, 1))
	if n < MinPINLength || n > MaxPINLength {
		return "", fmt.Errorf("%w: block says %d", ErrPINLength, n)
	}
	pin := make([]byte, n)
	defer clear(pin)
	for i := 0; i < n; i++ {
		d := nibble(field, 2+i)
		if d > 9 {
			return "", fmt.Errorf("%w: non-digit in PIN position %d", ErrFormat, i)
		}
		pin[i] = '0' + d
	}
	for i := 2 + n; i < 16; i++ {
		if nibble(field, i) != 0xA {
			return "", fmt.Errorf("%w: bad fill digit at nibble %d", ErrFormat, i)
		}
	}
	return string(pin), nil
}

// PANField4 returns the 16-byte format 4 PAN field of pan (1..19 digits).
func PANField4(pan string) ([]byte, error) {
	f, err := panField4(pan)
	if err != nil {
		return nil, err
	}
	return f[:], nil
}

// EncryptFormat4Digits is EncryptFormat4 for a PIN held as ASCII digits.
func EncryptFormat4Digits(key, pin []byte, pan string, rnd io.Reader) ([]byte, error) {
	c, err := newAES(key)
	if err != nil {
		return nil, err
	}
	pan4, err := panField4(pan)
	if err != nil {
		return nil, err
	}
	field, err := EncodeFormat4PINField(pin, rnd)
	if err != nil {
		return nil, err
	}
	out := make([]byte, Size4)
	c.Encrypt(out, field) // intermediate block A
	clear(field)
	subtle.XORBytes(out, out, pan4[:]) // B = A xor PAN field
	c.Encrypt(out, out)
	return out, nil
}

// EncryptFormat4 builds a format 4 PIN field and enciphers it with its PAN
// field under an AES key (16, 24 or 32 bytes): E(K, E(K, PIN field) XOR
// PAN field). The 8 random bytes come from rnd (nil means crypto/rand).
func EncryptFormat4(key []byte, pin, pan string, rnd io.Reader) ([]byte, error) {
	p := []byte(pin)
	defer clear(p)
	return EncryptFormat4Digits(key, p, pan, rnd)
}

// DecryptFormat4 deciphers a 16-byte format 4 block with its PAN and
// returns the PIN. A wrong key or PAN shows up as ErrFormat (or
// ErrPINLength) in almost all cases.
func DecryptFormat4(key, encBlock []byte, pan string) (string, error) {
	c, err := newAES(key)
	if err != nil {
		return "", err
	}
	if len(encBlock) != Size4 {
		return "", fmt.Errorf("%w: %d bytes, want %d", ErrBlockLength, len(encBlock), Size4)
	}
	pan4, err := panField4(pan)
	if err != nil {
		return "", err
	}
	b := make([]byte, Size4)
	defer clear(b)
	c.Decrypt(b, encBlock)
	subtle.XORBytes(b, b, pan4[:])
	c.Decrypt(b, b)
	return DecodeFormat4PINField(b)
}
