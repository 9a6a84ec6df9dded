// Package tr31 wraps and unwraps symmetric keys in TR-31 / ANSI X9.143
// key blocks, versions A, B, C (TDES) and D (AES).
//
// A key block is printable ASCII: a 16-character header, optional blocks, the
// hex-encoded encrypted payload (key length in bits, key, random padding) and
// the hex-encoded MAC. Versions A and C bind with TDES key variants (KBPK XOR
// 0x45 encrypts in CBC with the first 8 header bytes as IV, KBPK XOR 0x4D
// authenticates with a CBC-MAC over header and ciphertext). Versions B and D
// derive the encryption and authentication keys from the KBPK with CMAC in
// counter mode, authenticate header and clear payload with CMAC and encrypt
// the payload in CBC with that MAC as IV.
//
// The package does no I/O; randomness comes in through an io.Reader.
package tr31

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// WrapOptions tunes Wrap.
type WrapOptions struct {
	// MaskedKeyLen, when larger than the key, pads the key to this many
	// bytes before the cipher-block padding so that the block does not
	// reveal the key length (key length obfuscation; X9.143 pads to the
	// longest key of the algorithm, e.g. 24 for TDES, 32 for AES). Zero
	// means no obfuscation. Smaller than the key is an error.
	MaskedKeyLen int
}

// Wrap protects key under kbpk in a key block described by h, without key
// length obfuscation. rnd supplies the payload padding (crypto/rand.Reader
// in production).
func Wrap(kbpk []byte, h Header, key []byte, rnd io.Reader) (string, error) {
	return WrapOpts(kbpk, h, key, rnd, WrapOptions{})
}

// checkKBPK verifies the KBPK length for the version.
func checkKBPK(version byte, kbpk []byte) error {
	switch version {
	case VersionA, VersionB, VersionC:
		if len(kbpk) == 16 || len(kbpk) == 24 {
			return nil
		}
	case VersionD:
		if len(kbpk) == 16 || len(kbpk) == 24 || len(kbpk) == 32 {
			return nil
		}
	default:
		return fmt.Errorf("%w: %q", ErrUnsupportedVersion, version)
	}
	return fmt.Errorf("%w: %d bytes for version %c", ErrKBPK, len(kbpk), version)
}

// checkKeyLen verifies a clear key's length against the header algorithm.
func checkKeyLen(alg byte, n int) error {
	ok := n > 0
	switch alg {
	case 'T':
		ok = n == 16 || n == 24
	case 'D':
		ok = n == 8
	case 'A':
		ok = n == 16 || n == 24 || n == 32
	}
	if !ok {
		return fmt.Errorf("%w: %d bytes for algorithm %c", ErrKeyLength, n, alg)
	}
	return nil
}

// WrapOpts is Wrap with options.
func WrapOpts(kbpk []byte, h Header, key []byte, rnd io.Reader, o WrapOptions) (string, error) {
	h = h.normalised()
	if err := h.validateFixed(); err != nil {
		return "", err
	}
	if err := checkKBPK(h.Version, kbpk); err != nil {
		return "", err
	}
	if err := checkKeyLen(h.Algorithm, len(key)); err != nil {
		return "", err
	}
	if o.MaskedKeyLen < 0 || (o.MaskedKeyLen > 0 && o.MaskedKeyLen < len(key)) {
		return "", fmt.Errorf("%w: masked length %d below key length %d", ErrKeyLength, o.MaskedKeyLen, len(key))
	}
	if rnd == nil {
		return "", fmt.Errorf("%w: no random source", ErrRandom)
	}

	// Optional blocks: check IDs and data, fill empty KC/KP.
	blocks := make([]OptBlock, len(h.Blocks))
	seen := make(map[string]bool, len(h.Blocks))
	for i, b := range h.Blocks {
		if len(b.ID) != 2 || !isAlnum(b.ID[0]) || !isAlnum(b.ID[1]) {
			return "", fmt.Errorf("%w: block ID %q", ErrOptBlock, b.ID)
		}
		if b.ID == "PB" {
			return "", fmt.Errorf("%w: the padding block is added by Wrap", ErrOptBlock)
		}
		if seen[b.ID] {
			return "", fmt.Errorf("%w: duplicate %s", ErrOptBlock, b.ID)
		}
		seen[b.ID] = true
		if b.Data == "" && (b.ID == "KC" || b.ID == "KP") {
			var err error
			if b.ID == "KC" {
				b.Data, err = kcvBlock(h.Algorithm, key)
			} else {
				kalg := byte('T')
				if h.Version == VersionD {
					kalg = 'A'
				}
				b.Data, err = kcvBlock(kalg, kbpk)
			}
			if err != nil {
				return "", err
			}
		}
		if err := validateBlockData(b.ID, b.Data); err != nil {
			return "", err
		}
		blocks[i] = b
	}
	h.Blocks = blocks

	bs, macLen, _ := versionParams(h.Version)
	masked := max(len(key), o.MaskedKeyLen)
	payloadLen := (2 + masked + bs - 1) / bs * bs
	hdr, err := h.render(0)
	if err != nil {
		return "", err
	}
	total := len(hdr) + 2*payloadLen + 2*macLen
	if total > MaxLength || 8*len(key) > 0xFFFF {
		return "", fmt.Errorf("%w: key block of %d characters", ErrLength, total)
	}
	hdr, _ = h.render(total)

	payload := make([]byte, payloadLen)
	defer clear(payload)
	binary.BigEndian.PutUint16(payload, uint16(8*len(key)))
	copy(payload[2:], key)
	if _, err := io.ReadFull(rnd, payload[2+len(key):]); err != nil {
		return "", fmt.Errorf("%w: %w", ErrRandom, err)
	}

	var ct, mac []byte
	switch h.Version {
	case VersionA, VersionC:
		ct, mac, err = sealVariant(kbpk, hdr, payload)
	case VersionB:
		ct, mac, err = sealDerived(kbpk, hdr, payload, false)
	case VersionD:
		ct, mac, err = sealDerived(kbpk, hdr, payload, true)
	}
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	sb.Grow(total)
	sb.WriteString(hdr)
	sb.WriteString(strings.ToUpper(hex.EncodeToString(ct)))
	sb.WriteString(strings.ToUpper(hex.EncodeToString(mac[:macLen])))
	return sb.String(), nil
}

func kcvBlock(alg byte, key []byte) (string, error) {
	id, kcv, err := KeyCheckValue(alg, key)
	if err != nil {
		return "", err
	}
	return id + strings.ToUpper(hex.EncodeToString(kcv)), nil
}

// newKBPKCipher returns the block cipher for a derived or variant key.
func newCipher(key []byte, aesKey bool) (cipher.Block, error) {
	if aesKey {
		b, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("%w: AES key of %d bytes", ErrKBPK, len(key))
		}
		return b, nil
	}
	return newTDES(key)
}

func sealVariant(kbpk []byte, hdr string, payload []byte) (ct, mac []byte, err error) {
	kbek, kbak := variantKeys(kbpk)
	defer clear(kbek)
	defer clear(kbak)
	eb, err := newTDES(kbek)
	if err != nil {
		return nil, nil, err
	}
	mb, err := newTDES(kbak)
	if err != nil {
		return nil, nil, err
	}
	ct = make([]byte, len(payload))
	cipher.NewCBCEncrypter(eb, []byte(hdr[:8])).CryptBlocks(ct, payload)
	msg := make([]byte, 0, len(hdr)+len(ct))
	msg = append(append(msg, hdr...), ct...)
	return ct, cbcMAC(mb, msg), nil
}

func sealDerived(kbpk []byte, hdr string, payload []byte, aesKBPK bool) (ct, mac []byte, err error) {
	kbek, kbak, err := deriveKeys(kbpk, aesKBPK)
	if err != nil {
		return nil, nil, err
	}
	defer clear(kbek)
	defer clear(kbak)
	eb, err := newCipher(kbek, aesKBPK)
	if err != nil {
		return nil, nil, err
	}
	mb, err := newCipher(kbak, aesKBPK)
	if err != nil {
		return nil, nil, err
	}
	msg := make([]byte, 0, len(hdr)+len(payload))
	msg = append(append(msg, hdr...), payload...)
	mac = cmac(mb, msg)
	clear(msg)
	ct = make([]byte, len(payload))
	cipher.NewCBCEncrypter(eb, mac).CryptBlocks(ct, payload)
	return ct, mac, nil
}

// Unwrap verifies a key block under kbpk and returns its header and the
// clear key. The caller owns the returned key and should clear it after
// use. A block that was altered in any character, or a wrong KBPK, fails
// with an error matching ErrMAC (or a format error if the alteration breaks
// the syntax first).
func Unwrap(kbpk []byte, block string) (Header, []byte, error) {
	h, hdrLen, err := parseHeader(block)
	if err != nil {
		return Header{}, nil, err
	}
	for i := hdrLen; i < len(block); i++ {
		if !isPrintable(block[i]) {
			return Header{}, nil, fmt.Errorf("%w: non-printable character", ErrFormat)
		}
	}
	n := 0
	for _, c := range []byte(block[1:5]) {
		n = n*10 + int(c-'0')
	}
	if n != len(block) {
		return Header{}, nil, fmt.Errorf("%w: length field %d, block has %d characters", ErrLength, n, len(block))
	}
	bs, macLen, _ := versionParams(h.Version)
	if err := checkKBPK(h.Version, kbpk); err != nil {
		return Header{}, nil, err
	}
	body := block[hdrLen:]
	ctHex := len(body) - 2*macLen
	if ctHex < 2*bs || ctHex%(2*bs) != 0 {
		return Header{}, nil, fmt.Errorf("%w: encrypted payload of %d characters", ErrLength, max(ctHex, 0))
	}
	if !allHexUpper(body) {
		return Header{}, nil, fmt.Errorf("%w: payload and MAC must be upper-case hex", ErrFormat)
	}
	ct, _ := hex.DecodeString(body[:ctHex])
	mac, _ := hex.DecodeString(body[ctHex:])
	hdr := block[:hdrLen]

	var payload []byte
	switch h.Version {
	case VersionA, VersionC:
		payload, err = openVariant(kbpk, hdr, ct, mac)
	case VersionB:
		payload, err = openDerived(kbpk, hdr, ct, mac, false)
	case VersionD:
		payload, err = openDerived(kbpk, hdr, ct, mac, true)
	}
	if err != nil {
		return Header{}, nil, err
	}
	defer clear(payload)

	bits := int(binary.BigEndian.Uint16(payload))
	if bits%8 != 0 || bits == 0 || bits/8 > len(payload)-2 {
		return Header{}, nil, fmt.Errorf("%w: key length field of %d bits in a %d-byte payload", ErrKeyLength, bits, len(payload))
	}
	key := make([]byte, bits/8)
	copy(key, payload[2:])
	if err := checkKeyLen(h.Algorithm, len(key)); err != nil {
		clear(key)
		return Header{}, nil, err
	}
	if kc, ok := h.Block("KC"); ok {
		if err := verifyKC(h.Algorithm, key, kc); err != nil {
			clear(key)
			return Header{}, nil, err
		}
	}
	return h, key, nil
}

// verifyKC checks a KC block against the unwrapped key when the check value
// method fits the key's algorithm.
func verifyKC(alg byte, key []byte, kc string) error {
	id, kcv, err := KeyCheckValue(alg, key)
	if err != nil || id != kc[:2] {
		return fmt.Errorf("%w: KC does not fit algorithm %c", ErrKCV, alg)
	}
	want, _ := hex.DecodeString(kc[2:])
	if len(want) == 0 || len(want) > len(kcv) || subtle.ConstantTimeCompare(want, kcv[:len(want)]) != 1 {
		return fmt.Errorf("%w: KC", ErrKCV)
	}
	return nil
}

func openVariant(kbpk []byte, hdr string, ct, mac []byte) ([]byte, error) {
	kbek, kbak := variantKeys(kbpk)
	defer clear(kbek)
	defer clear(kbak)
	eb, err := newTDES(kbek)
	if err != nil {
		return nil, err
	}
	mb, err := newTDES(kbak)
	if err != nil {
		return nil, err
	}
	msg := make([]byte, 0, len(hdr)+len(ct))
	msg = append(append(msg, hdr...), ct...)
	want := cbcMAC(mb, msg)
	if subtle.ConstantTimeCompare(want[:len(mac)], mac) != 1 {
		return nil, ErrMAC
	}
	payload := make([]byte, len(ct))
	cipher.NewCBCDecrypter(eb, []byte(hdr[:8])).CryptBlocks(payload, ct)
	return payload, nil
}

func openDerived(kbpk []byte, hdr string, ct, mac []byte, aesKBPK bool) ([]byte, error) {
	kbek, kbak, err := deriveKeys(kbpk, aesKBPK)
	if err != nil {
		return nil, err
	}
	defer clear(kbek)
	defer clear(kbak)
	eb, err := newCipher(kbek, aesKBPK)
	if err != nil {
		return nil, err
	}
	mb, err := newCipher(kbak, aesKBPK)
	if err != nil {
		return nil, err
	}
	msg := make([]byte, len(hdr)+len(ct))
	copy(msg, hdr)
	payload := msg[len(hdr):]
	cipher.NewCBCDecrypter(eb, mac).CryptBlocks(payload, ct)
	want := cmac(mb, msg)
	if subtle.ConstantTimeCompare(want[:len(mac)], mac) != 1 {
		clear(msg)
		return nil, ErrMAC
	}
	out := make([]byte, len(payload))
	copy(out, payload)
	clear(msg)
	return out, nil
}
