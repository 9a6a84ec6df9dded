// Package wiresec holds the per-transaction wire security of the acquirer
// link, shared by the terminal and the acquirer simulator: DUKPT working
// keys for one KSN, the MACs of request and response, the encryption of
// card data and the PIN block.
//
// Mode "aes" (ANSI X9.24-3, AES-128 working keys derived with
// AESWorkingKey from the transaction key):
//
//	request MAC    AES-CMAC under the MAC generation key, leftmost 8 bytes
//	response MAC   AES-CMAC under the MAC verification key, leftmost 8 bytes
//	request data   AES-128-CBC under the data encryption (encrypt) key
//	response data  AES-128-CBC under the data encryption (decrypt) key
//	PIN            ISO 9564 format 4 (16 bytes) under the PIN encryption key
//
// Mode "tdes" (ANSI X9.24-1:2009 variants of the transaction key):
//
//	request MAC    ISO 9797-1 MAC algorithm 3 (retail MAC), padding method 2,
//	               under the MAC request variant
//	response MAC   the same under the MAC response variant
//	request data   TDES-CBC (K1 K2 K1) under the data request variant
//	response data  TDES-CBC under the data response variant
//	PIN            ISO 9564 format 0 (8 bytes) under the PIN variant
//
// Data encryption: the plaintext (track 2 as ASCII, e.g.
// "4761739001010010=25122011143804400000") is padded with ISO 9797-1 padding
// method 2 (one 0x80 byte, then zero bytes up to a whole number of cipher
// blocks: 16 for aes, 8 for tdes) and encrypted in CBC mode with an all-zero
// IV. The zero IV is safe here because each key is unique to one KSN and
// encrypts one message per direction. The ciphertext travels inside a MACed
// message; the receiver verifies the MAC before it decrypts.
//
// A Session is used by one transaction on one goroutine; it is not safe for
// concurrent use. Call Wipe when the transaction is done.
package wiresec

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"io"

	"posd/crypto/dukpt"
	"posd/crypto/mac"
	"posd/crypto/pinblock"
	"posd/crypto/tdes"
)

// Mode selects the DUKPT flavour of the link.
type Mode string

// The supported modes.
const (
	ModeAES  Mode = "aes"
	ModeTDES Mode = "tdes"
)

// MACLen is the length of every MAC this package produces.
const MACLen = 8

// ParseMode checks a mode name.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case ModeAES, ModeTDES:
		return Mode(s), nil
	}
	return "", fmt.Errorf("%w: %q", ErrMode, s)
}

// KSNLen returns the KSN length of the mode (12 for aes, 10 for tdes), or 0
// for an unknown mode.
func (m Mode) KSNLen() int {
	switch m {
	case ModeAES:
		return dukpt.AESKSNLen
	case ModeTDES:
		return dukpt.TDESKSNLen
	}
	return 0
}

// PINBlockLen returns the length of an encrypted PIN block of the mode (16
// for aes, 8 for tdes), or 0 for an unknown mode.
func (m Mode) PINBlockLen() int {
	switch m {
	case ModeAES:
		return aes.BlockSize
	case ModeTDES:
		return tdes.BlockSize
	}
	return 0
}

// Session holds the working keys of one transaction (one KSN).
type Session struct {
	// Rand supplies the random fill of PIN block format 4; nil means
	// crypto/rand.
	Rand io.Reader

	mode     Mode
	ksn      []byte
	macReq   []byte
	macResp  []byte
	dataReq  []byte
	dataResp []byte
	pin      []byte
	wiped    bool
}

// ForTerminal builds the session of the terminal from the KSN and
// transaction key its DUKPT originator returned.
func ForTerminal(mode Mode, ksn, txnKey []byte) (*Session, error) {
	if err := checkKSN(mode, ksn); err != nil {
		return nil, err
	}
	return newSession(mode, ksn, txnKey)
}

// ForHost builds the session of the acquirer: it derives the transaction
// key of ksn from the base derivation key bdk.
func ForHost(mode Mode, bdk, ksn []byte) (*Session, error) {
	if err := checkKSN(mode, ksn); err != nil {
		return nil, err
	}
	var (
		txnKey []byte
		err    error
	)
	switch mode {
	case ModeAES:
		txnKey, err = dukpt.AESDeriveKey(bdk, ksn)
	case ModeTDES:
		txnKey, err = dukpt.TDESDeriveKey(bdk, ksn)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: transaction key: %w", ErrKey, err)
	}
	defer clear(txnKey)
	return newSession(mode, ksn, txnKey)
}

func checkKSN(mode Mode, ksn []byte) error {
	n := mode.KSNLen()
	if n == 0 {
		return fmt.Errorf("%w: %q", ErrMode, string(mode))
	}
	if len(ksn) != n {
		return fmt.Errorf("%w: %d bytes, mode %s needs %d", ErrKSN, len(ksn), mode, n)
	}
	if err := dukpt.ValidateKSN(ksn); err != nil {
		return fmt.Errorf("%w: %w", ErrKSN, err)
	}
	return nil
}

func newSession(mode Mode, ksn, txnKey []byte) (*Session, error) {
	s := &Session{mode: mode, ksn: bytes.Clone(ksn)}
	var err error
	switch mode {
	case ModeAES:
		w := func(u dukpt.Usage) []byte {
			if err != nil {
				return nil
			}
			var k []byte
			k, err = dukpt.AESWorkingKey(txnKey, ksn, u, dukpt.KeyAES128)
			return k
		}
		s.macReq = w(dukpt.UsageMACGen)
		s.macResp = w(dukpt.UsageMACVerify)
		s.dataReq = w(dukpt.UsageDataEncrypt)
		s.dataResp = w(dukpt.UsageDataDecrypt)
		s.pin = w(dukpt.UsagePIN)
	case ModeTDES:
		v := func(variant dukpt.Variant) []byte {
			if err != nil {
				return nil
			}
			var k []byte
			k, err = dukpt.TDESVariant(txnKey, variant)
			return k
		}
		s.macReq = v(dukpt.VariantMACRequest)
		s.macResp = v(dukpt.VariantMACResponse)
		s.dataReq = v(dukpt.VariantDataRequest)
		s.dataResp = v(dukpt.VariantDataResponse)
		s.pin = v(dukpt.VariantPIN)
	default:
		return nil, fmt.Errorf("%w: %q", ErrMode, string(mode))
	}
	if err != nil {
		s.Wipe()
		return nil, fmt.Errorf("%w: working keys: %w", ErrKey, err)
	}
	return s, nil
}

// Mode returns the session's mode.
func (s *Session) Mode() Mode { return s.mode }

// KSN returns a copy of the session's KSN.
func (s *Session) KSN() []byte { return bytes.Clone(s.ksn) }

// Wipe zeroes every key of the session. Later calls fail with ErrWiped.
func (s *Session) Wipe() {
	for _, k := range [][]byte{s.macReq, s.macResp, s.dataReq, s.dataResp, s.pin} {
		clear(k)
	}
	s.macReq, s.macResp, s.dataReq, s.dataResp, s.pin = nil, nil, nil, nil, nil
	s.wiped = true
}

func (s *Session) live() error {
	if s == nil || s.wiped {
		return ErrWiped
	}
	return nil
}

func (s *Session) mac(key, msg []byte) ([]byte, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	var (
		sum []byte
		err error
	)
	switch s.mode {
	case ModeAES:
		sum, err = mac.AESCMAC(key, msg)
	default:
		sum, err = mac.ISO9797Alg3(key, msg, mac.Padding2)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: MAC: %w", ErrKey, err)
	}
	if len(sum) < MACLen {
		return nil, fmt.Errorf("%w: MAC of %d bytes", ErrKey, len(sum))
	}
	out := bytes.Clone(sum[:MACLen])
	clear(sum)
	return out, nil
}

func (s *Session) verify(key, msg, got []byte, dir string) error {
	want, err := s.mac(key, msg)
	if err != nil {
		return err
	}
	if len(got) != MACLen || !mac.Equal(want, got) {
		return &MACError{Direction: dir}
	}
	return nil
}

// MACRequest returns the 8-byte MAC of a terminal-to-host message.
func (s *Session) MACRequest(msg []byte) ([]byte, error) { return s.mac(s.macReq, msg) }

// VerifyRequestMAC checks the MAC of a terminal-to-host message; a
// mismatch returns *MACError (errors.Is ErrBadMAC).
func (s *Session) VerifyRequestMAC(msg, m []byte) error {
	return s.verify(s.macReq, msg, m, "request")
}

// MACResponse returns the 8-byte MAC of a host-to-terminal message.
func (s *Session) MACResponse(msg []byte) ([]byte, error) { return s.mac(s.macResp, msg) }

// VerifyResponseMAC checks the MAC of a host-to-terminal message; a
// mismatch returns *MACError (errors.Is ErrBadMAC).
func (s *Session) VerifyResponseMAC(msg, m []byte) error {
	return s.verify(s.macResp, msg, m, "response")
}

func (s *Session) block(key []byte) (cipher.Block, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	switch s.mode {
	case ModeAES:
		b, err := aes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKey, err)
		}
		return b, nil
	default:
		if len(key) != tdes.KeyLen2 {
			return nil, fmt.Errorf("%w: TDES key of %d bytes", ErrKey, len(key))
		}
		b, err := tdes.NewCipher(key)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKey, err)
		}
		return b, nil
	}
}

// MaxPlaintext bounds the data EncryptRequestData and EncryptResponseData
// accept.
const MaxPlaintext = 1024

func (s *Session) encrypt(key, plain []byte) ([]byte, error) {
	if len(plain) == 0 || len(plain) > MaxPlaintext {
		return nil, fmt.Errorf("%w: %d bytes", ErrPlaintext, len(plain))
	}
	b, err := s.block(key)
	if err != nil {
		return nil, err
	}
	bs := b.BlockSize()
	n := (len(plain)/bs + 1) * bs
	buf := make([]byte, n)
	copy(buf, plain)
	buf[len(plain)] = 0x80
	cipher.NewCBCEncrypter(b, make([]byte, bs)).CryptBlocks(buf, buf)
	return buf, nil
}

func (s *Session) decrypt(key, ct []byte) ([]byte, error) {
	b, err := s.block(key)
	if err != nil {
		return nil, err
	}
	bs := b.BlockSize()
	if len(ct) == 0 || len(ct)%bs != 0 || len(ct) > MaxPlaintext+bs {
		return nil, fmt.Errorf("%w: %d bytes", ErrCiphertext, len(ct))
	}
	buf := make([]byte, len(ct))
	cipher.NewCBCDecrypter(b, make([]byte, bs)).CryptBlocks(buf, ct)
	i := len(buf) - 1
	for i >= 0 && buf[i] == 0 {
		i--
	}
	if i < 0 || buf[i] != 0x80 || len(buf)-i > bs {
		clear(buf)
		return nil, fmt.Errorf("%w: padding", ErrCiphertext)
	}
	out := bytes.Clone(buf[:i])
	clear(buf)
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrCiphertext)
	}
	return out, nil
}

// EncryptRequestData encrypts terminal-to-host data (the track 2 ASCII).
func (s *Session) EncryptRequestData(plain []byte) ([]byte, error) {
	return s.encrypt(s.dataReq, plain)
}

// DecryptRequestData decrypts what EncryptRequestData produced.
func (s *Session) DecryptRequestData(ct []byte) ([]byte, error) {
	return s.decrypt(s.dataReq, ct)
}

// EncryptResponseData encrypts host-to-terminal data.
func (s *Session) EncryptResponseData(plain []byte) ([]byte, error) {
	return s.encrypt(s.dataResp, plain)
}

// DecryptResponseData decrypts what EncryptResponseData produced.
func (s *Session) DecryptResponseData(ct []byte) ([]byte, error) {
	return s.decrypt(s.dataResp, ct)
}

// EncryptPIN builds the encrypted PIN block of the mode (format 4 for aes,
// format 0 for tdes) for pin and pan. A PIN in a Go string cannot be
// wiped: a PIN read from a keypad goes through EncryptPINDigits instead.
func (s *Session) EncryptPIN(pin, pan string) ([]byte, error) {
	p := []byte(pin)
	defer clear(p)
	return s.EncryptPINDigits(p, pan)
}

// EncryptPINDigits is EncryptPIN for a PIN held as ASCII digits, straight
// from the keypad: no string copy of the PIN is made, pin is not modified,
// and the caller wipes it.
func (s *Session) EncryptPINDigits(pin []byte, pan string) ([]byte, error) {
	if err := s.live(); err != nil {
		return nil, err
	}
	var (
		blk []byte
		err error
	)
	switch s.mode {
	case ModeAES:
		blk, err = pinblock.EncryptFormat4Digits(s.pin, pin, pan, s.Rand)
	default:
		blk, err = pinblock.EncryptFormat0Digits(s.pin, pin, pan)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPIN, err)
	}
	return blk, nil
}

// DecryptPIN opens an encrypted PIN block of the mode and returns the PIN.
func (s *Session) DecryptPIN(block []byte, pan string) (string, error) {
	if err := s.live(); err != nil {
		return "", err
	}
	if len(block) != s.mode.PINBlockLen() {
		return "", fmt.Errorf("%w: block of %d bytes", ErrPIN, len(block))
	}
	var (
		pin string
		err error
	)
	switch s.mode {
	case ModeAES:
		pin, err = pinblock.DecryptFormat4(s.pin, block, pan)
	default:
		pin, err = pinblock.DecryptFormat0(s.pin, block, pan)
	}
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrPIN, err)
	}
	return pin, nil
}
