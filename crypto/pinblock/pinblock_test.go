package pinblock

import (
	"bytes"
	"crypto/aes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"posd/internal/testhex"
	"strings"
	"testing"
)

// constReader yields the same byte forever.
type constReader byte

func (c constReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

// Format 0 vectors: ANSI X9.24-1:2009 annex A.4 (PIN 1234, PAN
// 4012345678909) and the psec project's tests (PAN 5555555551234567).
var format0Vectors = []struct {
	pin, pan, block string
}{
	{"1234", "4012345678909", "041274EDCBA9876F"},
	{"1234", "5555555551234567", "041261AAAAEDCBA9"},
	{"123456789", "5555555551234567", "091261032D8DCBA9"},
	{"1234567890", "5555555551234567", "0A1261032D82CBA9"},
	{"123456789012", "5555555551234567", "0C1261032D8226A9"},
}

func TestFormat0Vectors(t *testing.T) {
	for _, v := range format0Vectors {
		got, err := EncodeFormat0(v.pin, v.pan)
		if err != nil {
			t.Fatalf("EncodeFormat0(len %d): %v", len(v.pin), err)
		}
		if !bytes.Equal(got, testhex.Bytes(t, v.block)) {
			t.Errorf("EncodeFormat0(%s, %s) = %X, want %s", v.pin, v.pan, got, v.block)
		}
		pin, err := DecodeFormat0(testhex.Bytes(t, v.block), v.pan)
		if err != nil {
			t.Fatalf("DecodeFormat0(%s): %v", v.block, err)
		}
		if pin != v.pin {
			t.Errorf("DecodeFormat0(%s) = %s, want %s", v.block, pin, v.pin)
		}
	}
}

// ANSI X9.24-1:2009 annex A.4: PIN 1234, PAN 4012345678909 enciphered
// under the DUKPT PIN keys of the first KSNs.
func TestEncryptFormat0X924(t *testing.T) {
	tests := []struct{ key, enc string }{
		{"042666B49184CF5C68DE9628D0397B36", "1B9C1845EB993A7A"}, // KSN ...E00001
		{"C46551CEF9FD244FAA9AD834130D3B38", "10A01C8D02C69107"}, // KSN ...E00002
		{"0DF3D9422ACA561A47676D07AD6BAD05", "18DC07B94797B466"}, // KSN ...E00003
	}
	for _, tc := range tests {
		got, err := EncryptFormat0(testhex.Bytes(t, tc.key), "1234", "4012345678909")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, testhex.Bytes(t, tc.enc)) {
			t.Errorf("EncryptFormat0 = %X, want %s", got, tc.enc)
		}
		pin, err := DecryptFormat0(testhex.Bytes(t, tc.key), testhex.Bytes(t, tc.enc), "4012345678909")
		if err != nil {
			t.Fatal(err)
		}
		if pin != "1234" {
			t.Errorf("DecryptFormat0 = %s", pin)
		}
		// A 24-byte key K1 K2 K1 is the same key.
		k := testhex.Bytes(t, tc.key)
		k24 := append(append([]byte{}, k...), k[:8]...)
		got24, err := EncryptFormat0(k24, "1234", "4012345678909")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got24, got) {
			t.Errorf("24-byte key gives %X, 16-byte %X", got24, got)
		}
	}
}

// psec's error vectors for format 0 decoding.
func TestDecodeFormat0Errors(t *testing.T) {
	pan := "5555555551234567"
	tests := []struct {
		block string
		pan   string
		want  error
	}{
		{"241261AAAAEDCBA9", pan, ErrFormat},    // control field 2
		{"041261AAAAEDCB", pan, ErrBlockLength}, // 7 bytes
		{"0F1261AAAAEDCBA9", pan, ErrPINLength}, // length 15
		{"021261AAAAEDCBA9", pan, ErrPINLength}, // length 2
		{"041261AAAAEDCBAA", pan, ErrFormat},    // filler FF..FC
		{"051261AAAAEDCBA9", pan, ErrFormat},    // PIN 1234F
		{"051261AAAAEDCBA9", "5555555551234A", ErrPAN},
		{"041261AAAAEDCBA9", "", ErrPAN},
		{"041261AAAAEDCBA9", "12345678901234567890", ErrPAN},
	}
	for _, tc := range tests {
		_, err := DecodeFormat0(testhex.Bytes(t, tc.block), tc.pan)
		if !errors.Is(err, tc.want) {
			t.Errorf("DecodeFormat0(%s, %s) error %v, want %v", tc.block, tc.pan, err, tc.want)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	pan := "4012345678909"
	tests := []struct {
		pin  string
		pan  string
		want error
	}{
		{"123", pan, ErrPINLength},
		{"1234567890123", pan, ErrPINLength},
		{"123A", pan, ErrPIN},
		{"12 4", pan, ErrPIN},
		{"1234", "", ErrPAN},
		{"1234", "1", ErrPAN},
		{"1234", "4012345678909X", ErrPAN},
		{"1234", "40123456789090123456", ErrPAN},
	}
	for _, tc := range tests {
		if _, err := EncodeFormat0(tc.pin, tc.pan); !errors.Is(err, tc.want) {
			t.Errorf("EncodeFormat0(%q, %q) error %v, want %v", tc.pin, tc.pan, err, tc.want)
		}
		if _, err := EncodeFormat3(tc.pin, tc.pan, nil); !errors.Is(err, tc.want) {
			t.Errorf("EncodeFormat3(%q, %q) error %v, want %v", tc.pin, tc.pan, err, tc.want)
		}
	}
	if _, err := EncryptFormat0(make([]byte, 8), "1234", pan); !errors.Is(err, ErrKeyLength) {
		t.Errorf("8-byte TDES key: %v", err)
	}
	if _, err := EncryptFormat4(make([]byte, 20), "1234", pan, nil); !errors.Is(err, ErrKeyLength) {
		t.Errorf("20-byte AES key: %v", err)
	}
	if _, err := EncryptFormat4(make([]byte, 16), "12", pan, nil); !errors.Is(err, ErrPINLength) {
		t.Errorf("short PIN: %v", err)
	}
	if _, err := EncryptFormat4(make([]byte, 16), "1234", "", nil); !errors.Is(err, ErrPAN) {
		t.Errorf("empty PAN: %v", err)
	}
	if _, err := EncodeFormat1("1234", io.LimitReader(rand.Reader, 3)); !errors.Is(err, ErrRandom) {
		t.Errorf("short random: %v", err)
	}
	if _, err := EncodeFormat3("1234", pan, constReader(0xFF)); !errors.Is(err, ErrRandom) {
		t.Errorf("all-rejected random: %v", err)
	}
	if _, err := EncryptFormat4(make([]byte, 16), "1234", pan, io.LimitReader(rand.Reader, 7)); !errors.Is(err, ErrRandom) {
		t.Errorf("format 4 short random: %v", err)
	}
}

// openemv/pinblock format 1 example: PIN 12345 with transaction field
// EDCBA9876.
func TestFormat1(t *testing.T) {
	pin, err := DecodeFormat1(testhex.Bytes(t, "1512345EDCBA9876"))
	if err != nil {
		t.Fatal(err)
	}
	if pin != "12345" {
		t.Errorf("DecodeFormat1 = %s", pin)
	}
	// Fill nibbles come from the low nibble of each random byte.
	b, err := EncodeFormat1("12345", bytes.NewReader(bytes.Repeat([]byte{0x3C}, 16)))
	if err != nil {
		t.Fatal(err)
	}
	if want := testhex.Bytes(t, "1512345CCCCCCCCC"); !bytes.Equal(b, want) {
		t.Errorf("EncodeFormat1 = %X, want %X", b, want)
	}
	for _, bad := range []string{"0512345EDCBA9876", "1312345EDCBA9876", "15123A5EDCBA9876"} {
		if _, err := DecodeFormat1(testhex.Bytes(t, bad)); err == nil {
			t.Errorf("DecodeFormat1(%s) accepted", bad)
		}
	}
}

// psec's format 3 vectors (fill F, the same bits as format 0 but control 3)
// and prefixes of its encoder output.
func TestFormat3(t *testing.T) {
	pan := "5555555551234567"
	for _, v := range []struct{ pin, block string }{
		{"1234", "341261AAAAEDCBA9"},
		{"123456789", "391261032D8DCBA9"},
		{"1234567890", "3A1261032D82CBA9"},
		{"123456789012", "3C1261032D8226A9"},
	} {
		pin, err := DecodeFormat3(testhex.Bytes(t, v.block), pan)
		if err != nil {
			t.Fatalf("DecodeFormat3(%s): %v", v.block, err)
		}
		if pin != v.pin {
			t.Errorf("DecodeFormat3(%s) = %s, want %s", v.block, pin, v.pin)
		}
		enc, err := EncodeFormat3(v.pin, pan, nil)
		if err != nil {
			t.Fatal(err)
		}
		// The first 2+len(pin) nibbles are fixed; psec lists them.
		n := 2 + len(v.pin)
		if got := strings.ToUpper(hex.EncodeToString(enc))[:n]; got != v.block[:n] {
			t.Errorf("EncodeFormat3 prefix %s, want %s", got, v.block[:n])
		}
	}
	for _, tc := range []struct {
		block string
		want  error
	}{
		{"241261AAAAEDCBA9", ErrFormat},
		{"3F1261AAAAEDCBA9", ErrPINLength},
		{"321261AAAAEDCBA9", ErrPINLength},
		{"341261AAAAEDCBA2", ErrFormat}, // fill 4 is not A..F
		{"351261AAAAEDCBA9", ErrFormat}, // PIN 1234F
	} {
		if _, err := DecodeFormat3(testhex.Bytes(t, tc.block), pan); !errors.Is(err, tc.want) {
			t.Errorf("DecodeFormat3(%s): %v, want %v", tc.block, err, tc.want)
		}
	}
	// Fill maps byte%6 to A..F; with 0x05 every fill digit is F, which makes
	// the block equal to the format 0 block apart from the control nibble.
	b, err := EncodeFormat3("1234", "4012345678909", constReader(0x05))
	if err != nil {
		t.Fatal(err)
	}
	if want := testhex.Bytes(t, "341274EDCBA9876F"); !bytes.Equal(b, want) {
		t.Errorf("EncodeFormat3 fixed fill = %X, want %X", b, want)
	}
}

// Format 3 fill digits must always be A..F, whatever the random source.
func TestFormat3FillRange(t *testing.T) {
	pan := "4012345678909"
	af, _ := panField03(pan)
	for i := 0; i < 200; i++ {
		b, err := EncodeFormat3("1234", pan, nil)
		if err != nil {
			t.Fatal(err)
		}
		for j := range b {
			b[j] ^= af[j]
		}
		for n := 6; n < 16; n++ {
			if d := nibble(b, n); d < 0xA {
				t.Fatalf("fill nibble %d = %X", n, d)
			}
		}
	}
}

// X9.24-3:2017 supplement PAN field of 4111111111111111 and the
// openemv/pinblock examples of padded and short PANs; psec's 18-digit PAN.
func TestPANField4(t *testing.T) {
	for _, tc := range []struct{ pan, field string }{
		{"4111111111111111", "44111111111111111000000000000000"},
		{"411111111111111", "34111111111111110000000000000000"},
		{"123456789", "00001234567890000000000000000000"},
		{"112233445566778899", "61122334455667788990000000000000"},
		{"432198765432109870", "64321987654321098700000000000000"},
		{"1234567890123456789", "71234567890123456789000000000000"},
		{"123456789012", "01234567890120000000000000000000"},
		{"1", "00000000000010000000000000000000"},
	} {
		got, err := PANField4(tc.pan)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, testhex.Bytes(t, tc.field)) {
			t.Errorf("PANField4(%s) = %X, want %s", tc.pan, got, tc.field)
		}
	}
}

func TestFormat4PINField(t *testing.T) {
	// X9.24-3:2017 supplement and psec: PIN 1234.
	f, err := EncodeFormat4PINField([]byte("1234"), bytes.NewReader(testhex.Bytes(t, "548ED7FD65495950")))
	if err != nil {
		t.Fatal(err)
	}
	if want := testhex.Bytes(t, "441234AAAAAAAAAA548ED7FD65495950"); !bytes.Equal(f, want) {
		t.Errorf("PIN field = %X, want %X", f, want)
	}
	// openemv: odd number of digits.
	f, err = EncodeFormat4PINField([]byte("12345"), constReader(0))
	if err != nil {
		t.Fatal(err)
	}
	if want := testhex.Bytes(t, "4512345AAAAAAAAA"); !bytes.Equal(f[:8], want) {
		t.Errorf("PIN field = %X, want prefix %X", f, want)
	}
	pin, err := DecodeFormat4PINField(testhex.Bytes(t, "441234AAAAAAAAAA548ED7FD65495950"))
	if err != nil || pin != "1234" {
		t.Errorf("DecodeFormat4PINField = %q, %v", pin, err)
	}
	// psec's error vectors.
	for _, tc := range []struct {
		field string
		want  error
	}{
		{"441234AAAAAAAAAA548ED7FD6549595000", ErrBlockLength},
		{"341261AAAAEDCB", ErrBlockLength},
		{"541234AAAAAAAAAA548ED7FD65495950", ErrFormat},
		{"43123AAAAAAAAAAA548ED7FD65495950", ErrPINLength},
		{"441234ABCDEFABCD548ED7FD65495950", ErrFormat},
		{"4412D4AAAAAAAAAA548ED7FD65495950", ErrFormat},
	} {
		if _, err := DecodeFormat4PINField(testhex.Bytes(t, tc.field)); !errors.Is(err, tc.want) {
			t.Errorf("DecodeFormat4PINField(%s): %v, want %v", tc.field, err, tc.want)
		}
	}
}

func TestFormat4Vectors(t *testing.T) {
	// psec deterministic vector: random bytes all FF.
	got, err := EncryptFormat4(testhex.Bytes(t, "00112233445566778899AABBCCDDEEFF"), "1234", "1234567890123456789", constReader(0xFF))
	if err != nil {
		t.Fatal(err)
	}
	if want := testhex.Bytes(t, "28B41FDDD29B743E93124BD8E32D921E"); !bytes.Equal(got, want) {
		t.Errorf("EncryptFormat4 = %X, want %X", got, want)
	}
	for _, tc := range []struct {
		key, block, pan, pin string
	}{
		// ep2 eft/pos 2000 Security Specification 8.0.0, 8.4 (via psec).
		{"C1D0F8FB4958670DBA40AB1F3752EF0D", "CC17F65586BFD0953010226C4FC5B3CA", "432198765432109870", "1234"},
		// psec: PAN shorter than 12 digits.
		{"00112233445566778899AABBCCDDEEFF", "39B69B1B91FE05D48F7EF0D68EB2CBD6", "1", "123456"},
		{"00112233445566778899AABBCCDDEEFF", "28B41FDDD29B743E93124BD8E32D921E", "1234567890123456789", "1234"},
	} {
		pin, err := DecryptFormat4(testhex.Bytes(t, tc.key), testhex.Bytes(t, tc.block), tc.pan)
		if err != nil {
			t.Fatalf("DecryptFormat4(%s): %v", tc.block, err)
		}
		if pin != tc.pin {
			t.Errorf("DecryptFormat4(%s) = %s, want %s", tc.block, pin, tc.pin)
		}
	}
	// psec error vectors: wrong control, non-numeric PIN, bad fill, PIN
	// length 3 (AES-192 key).
	for _, tc := range []struct {
		key, block, pan string
		want            error
	}{
		{"C1D0F8FB4958670DBA40AB1F3752EF0D", "CC17F65586BFD0953010226C4FC5B3CA00", "432198765432109870", ErrBlockLength},
		{"C1D0F8FB4958670DBA40AB1F3752EF0D", "CC17F65586BFD0953010226C4FC5B3CA", "43219876543210987099", ErrPAN},
		{"E60B15B90ABDF14CEE337C97440F0D6E", "7D5AF4C33667A2098626027FB7A9A1B7", "4266229809609384667", ErrFormat},
		{"C7BBEBA16C5AD97D5866450718C03750", "2F9C910447F17293EC95DEDE1E3CA201", "8220499325458689523", ErrFormat},
		{"820F6C7C12355BDFF1AB6CE12E8EED89", "CCF310A8300B46C925A86B1098089301", "939589847393485609", ErrFormat},
		{"4FE3F0311936FBCE44F17159F1659CF09B2BF8913BB514A1", "51334B00A6CBA3EC7B1C6F871F060AFC", "2129100799029059903", ErrPINLength},
	} {
		if _, err := DecryptFormat4(testhex.Bytes(t, tc.key), testhex.Bytes(t, tc.block), tc.pan); !errors.Is(err, tc.want) {
			t.Errorf("DecryptFormat4(%s): %v, want %v", tc.block, err, tc.want)
		}
	}
}

// The two-encryption process spelled out with the AES primitive.
func TestFormat4Process(t *testing.T) {
	key := testhex.Bytes(t, "00112233445566778899AABBCCDDEEFF")
	rnd := testhex.Bytes(t, "548ED7FD65495950")
	got, err := EncryptFormat4(key, "1234", "4111111111111111", bytes.NewReader(rnd))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := aes.NewCipher(key)
	a := testhex.Bytes(t, "441234AAAAAAAAAA548ED7FD65495950")
	c.Encrypt(a, a)
	pf := testhex.Bytes(t, "44111111111111111000000000000000")
	for i := range a {
		a[i] ^= pf[i]
	}
	c.Encrypt(a, a)
	if !bytes.Equal(got, a) {
		t.Errorf("EncryptFormat4 = %X, want %X", got, a)
	}
}

// Round trips over every PIN length, several PAN lengths and key sizes;
// decrypting with another PAN must not give the PIN back silently.
func TestRoundTrips(t *testing.T) {
	pans := []string{"4012345678909", "5555555551234567", "1234567890123456789", "12", "123456789012"}
	pin := "123456789012"
	for n := MinPINLength; n <= MaxPINLength; n++ {
		p := pin[:n]
		for _, pan := range pans {
			b0, err := EncodeFormat0(p, pan)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := DecodeFormat0(b0, pan); err != nil || got != p {
				t.Errorf("format 0 %d/%s: %q %v", n, pan, got, err)
			}
			b3, err := EncodeFormat3(p, pan, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := DecodeFormat3(b3, pan); err != nil || got != p {
				t.Errorf("format 3 %d/%s: %q %v", n, pan, got, err)
			}
			b1, err := EncodeFormat1(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := DecodeFormat1(b1); err != nil || got != p {
				t.Errorf("format 1 %d: %q %v", n, got, err)
			}
			for _, kl := range []int{16, 24} {
				key := make([]byte, kl)
				rand.Read(key)
				e, err := EncryptFormat0(key, p, pan)
				if err != nil {
					t.Fatal(err)
				}
				if got, err := DecryptFormat0(key, e, pan); err != nil || got != p {
					t.Errorf("TDES format 0 %d/%s: %q %v", n, pan, got, err)
				}
			}
			for _, kl := range []int{16, 24, 32} {
				key := make([]byte, kl)
				rand.Read(key)
				e, err := EncryptFormat4(key, p, pan, nil)
				if err != nil {
					t.Fatal(err)
				}
				if got, err := DecryptFormat4(key, e, pan); err != nil || got != p {
					t.Errorf("AES format 4 %d/%s: %q %v", n, pan, got, err)
				}
				// A different PAN garbles the PIN field: it must not decode
				// to the same PIN.
				if got, err := DecryptFormat4(key, e, "9"+pan[1:]); err == nil && got == p {
					t.Errorf("format 4 decrypted with a wrong PAN")
				}
			}
		}
	}
}

// Format 4 uses fresh randomness: the same PIN/PAN/key enciphers
// differently each time.
func TestFormat4Randomised(t *testing.T) {
	key := make([]byte, 16)
	a, _ := EncryptFormat4(key, "1234", "4111111111111111", nil)
	b, _ := EncryptFormat4(key, "1234", "4111111111111111", nil)
	if bytes.Equal(a, b) {
		t.Error("two format 4 blocks are equal")
	}
}

// Digits variants must not modify the caller's buffer (the caller wipes
// it) and must agree with the string API.
func TestDigitsVariants(t *testing.T) {
	key := testhex.Bytes(t, "042666B49184CF5C68DE9628D0397B36")
	pin := []byte("1234")
	got, err := EncryptFormat0Digits(key, pin, "4012345678909")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, testhex.Bytes(t, "1B9C1845EB993A7A")) {
		t.Errorf("EncryptFormat0Digits = %X", got)
	}
	if string(pin) != "1234" {
		t.Errorf("caller buffer changed to %q", pin)
	}
	k4 := testhex.Bytes(t, "00112233445566778899AABBCCDDEEFF")
	got, err = EncryptFormat4Digits(k4, pin, "1234567890123456789", constReader(0xFF))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, testhex.Bytes(t, "28B41FDDD29B743E93124BD8E32D921E")) {
		t.Errorf("EncryptFormat4Digits = %X", got)
	}
}

// Errors never carry the PIN or the PAN.
func TestErrorsDoNotLeak(t *testing.T) {
	pan := "4012345678909"
	bad := testhex.Bytes(t, "041274EDCBA9876E") // fill corrupted
	_, err := DecodeFormat0(bad, pan)
	if err == nil {
		t.Fatal("corrupted block accepted")
	}
	for _, secret := range []string{"1234", pan, "041274", "12345678"} {
		if strings.Contains(strings.ToUpper(err.Error()), secret) {
			t.Errorf("error %q contains %q", err, secret)
		}
	}
}

func BenchmarkEncryptFormat0(b *testing.B) {
	key := make([]byte, 16)
	for b.Loop() {
		if _, err := EncryptFormat0(key, "1234", "4012345678909"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncryptFormat4(b *testing.B) {
	key := make([]byte, 16)
	rnd := constReader(0x5A)
	for b.Loop() {
		if _, err := EncryptFormat4(key, "1234", "4111111111111111", rnd); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecryptFormat4(b *testing.B) {
	key := make([]byte, 16)
	blk, _ := EncryptFormat4(key, "1234", "4111111111111111", nil)
	for b.Loop() {
		if _, err := DecryptFormat4(key, blk, "4111111111111111"); err != nil {
			b.Fatal(err)
		}
	}
}

// Format 2 is the EMV plaintext offline PIN block (Book 3, 6.5.12):
// control 2, length, digits, F fill; the caller's digits are not touched.
func TestFormat2(t *testing.T) {
	for _, v := range []struct{ pin, block string }{
		{"1234", "241234FFFFFFFFFF"},
		{"12345", "2512345FFFFFFFFF"},
		{"0000", "240000FFFFFFFFFF"},
		{"123456789012", "2C123456789012FF"},
	} {
		pin := []byte(v.pin)
		got, err := EncodeFormat2Digits(pin)
		if err != nil {
			t.Fatalf("len %d: %v", len(v.pin), err)
		}
		if !bytes.Equal(got, testhex.Bytes(t, v.block)) {
			t.Errorf("EncodeFormat2Digits(%s) = %X, want %s", v.pin, got, v.block)
		}
		if string(pin) != v.pin {
			t.Errorf("caller buffer changed to %q", pin)
		}
		back, err := DecodeFormat2(got)
		if err != nil || back != v.pin {
			t.Errorf("DecodeFormat2(%X) = %q, %v", got, back, err)
		}
	}
	for _, c := range []struct {
		pin  string
		want error
	}{{"123", ErrPINLength}, {"1234567890123", ErrPINLength}, {"12a4", ErrPIN}, {"", ErrPINLength}} {
		if _, err := EncodeFormat2Digits([]byte(c.pin)); !errors.Is(err, c.want) {
			t.Errorf("EncodeFormat2Digits(len %d): %v, want %v", len(c.pin), err, c.want)
		}
	}
	for _, c := range []struct {
		block string
		want  error
	}{
		{"041234FFFFFFFFFF", ErrFormat},        // format 0 control
		{"241234FFFFFFFFFE", ErrFormat},        // fill not F
		{"24123AFFFFFFFFFF", ErrFormat},        // non-digit in the PIN
		{"231234FFFFFFFFFF", ErrPINLength},     // 3 digits
		{"2D1234FFFFFFFFFF", ErrPINLength},     // 13 digits
		{"241234FFFFFFFF", ErrBlockLength},     // 7 bytes
		{"241234FFFFFFFFFFFF", ErrBlockLength}, // 9 bytes
	} {
		if _, err := DecodeFormat2(testhex.Bytes(t, c.block)); !errors.Is(err, c.want) {
			t.Errorf("DecodeFormat2(%s): %v, want %v", c.block, err, c.want)
		}
	}
}
