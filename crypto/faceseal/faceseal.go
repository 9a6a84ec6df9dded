// Package faceseal seals a face crop for the face-pay platform: ECIES
// over X25519 with HKDF-SHA256 and AES-256-GCM, standard library only.
//
// The terminal holds the platform's X25519 public key, pinned in its
// parameters. Every Seal draws a fresh ephemeral key pair, so each crop
// (each transaction) is encrypted under a key of its own that only the
// platform can derive again.
//
// # Envelope
//
//	offset  length  field
//	0       1       version, 0x01
//	1       32      ephemeral X25519 public key (RFC 7748 u-coordinate)
//	33      12      GCM nonce
//	45      n+16    AES-256-GCM ciphertext of the n plaintext bytes, then the tag
//
// The key is HKDF-SHA256 (RFC 5869) with
//
//	IKM  = X25519(ephemeral private, recipient public) (the shared secret)
//	salt = ephemeral public (32 bytes) || recipient public (32 bytes)
//	info = "posd face v1"
//	L    = 32 bytes (an AES-256 key)
//
// and GCM's additional data is the caller's aad: the face-pay client
// binds the crop to the terminal id, order id, amount and currency
// (terminal/facepay.AAD), so a crop cannot be replayed for another order.
// The version byte is not in the aad but any other value is refused, and
// the ephemeral key is bound through the key derivation.
//
// # Keys as text
//
// The pinned public key sits in the terminal's parameters as PEM, type
// "PUBLIC KEY" (PKIX SubjectPublicKeyInfo, OID 1.3.101.110, as
// x509.MarshalPKIXPublicKey writes it; MarshalPublicKey), or as the 64
// hexadecimal digits of the raw 32-byte key (ParsePublicKey accepts
// both). The platform's private key is PEM "PRIVATE KEY" (PKCS #8;
// MarshalPrivateKey, ParsePrivateKey).
//
// # Wiping
//
// The shared secret, the derived key and the ephemeral private key's
// bytes are zeroed as soon as the cipher is set up. (The AES key schedule
// inside crypto/aes and the *ecdh.PrivateKey values are not reachable to
// wipe; they are dropped right away.)
package faceseal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
)

// The envelope's constants.
const (
	Version      = 0x01
	KeyLen       = 32 // an X25519 public key
	NonceLen     = 12
	TagLen       = 16
	HeaderLen    = 1 + KeyLen + NonceLen
	Overhead     = HeaderLen + TagLen // envelope length minus plaintext length
	Info         = "posd face v1"
	MaxPlaintext = 1 << 20 // a 160x160 JPEG is a few kilobytes
)

// kdf is the HKDF-SHA256 step of the envelope (RFC 5869 extract then
// expand), n bytes of output.
func kdf(ikm, salt []byte, info string, n int) ([]byte, error) {
	return hkdf.Key(sha256.New, ikm, salt, info, n)
}

// aead derives the envelope key from the shared secret and returns the
// AES-256-GCM of it. The secret and the key are wiped.
func aead(shared, ephPub, recipPub []byte) (cipher.AEAD, error) {
	defer clear(shared)
	salt := make([]byte, 0, 2*KeyLen)
	salt = append(append(salt, ephPub...), recipPub...)
	key, err := kdf(shared, salt, Info, 32)
	if err != nil {
		return nil, fmt.Errorf("%w: key derivation: %w", ErrKey, err)
	}
	defer clear(key)
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	return g, nil
}

// checkPublic refuses what cannot be the platform's key: no X25519 key,
// an encoding of its u-coordinate that is not canonical (the high bit
// set, or u at least p = 2^255-19: the shared secret would be the same
// as with the canonical key, but the envelope key's salt holds the key's
// bytes, which are not the platform's, so nothing sealed to it would
// open), or a point of small order (every shared secret with it is all
// zero).
func checkPublic(pub *ecdh.PublicKey) error {
	if pub == nil || pub.Curve() != ecdh.X25519() {
		return fmt.Errorf("%w: not an X25519 public key", ErrKey)
	}
	if !canonical(pub.Bytes()) {
		return fmt.Errorf("%w: X25519 public key not canonically encoded", ErrKey)
	}
	// Every X25519 scalar is a multiple of the cofactor 8, so the shared
	// secret of any private key with a point of small order is all
	// zero, which crypto/ecdh refuses. (The probe's key is public: the
	// secret with any other point is of no use to anyone.)
	probe, err := ecdh.X25519().NewPrivateKey(lowOrderProbe[:])
	if err != nil {
		return fmt.Errorf("%w: %w", ErrKey, err)
	}
	if _, err := probe.ECDH(pub); err != nil {
		return fmt.Errorf("%w: X25519 public key of small order", ErrKey)
	}
	return nil
}

// lowOrderProbe is checkPublic's fixed private key.
var lowOrderProbe = [KeyLen]byte{0: 0x42, 31: 0x42}

// canonical reports whether u, a little-endian u-coordinate, is below
// p = 2^255-19 with its high bit clear.
func canonical(u []byte) bool {
	if len(u) != KeyLen || u[31]&0x80 != 0 {
		return false
	}
	// u >= p only when u is 2^255-19 .. 2^255-1: bytes 1..30 all 0xff,
	// byte 31 0x7f, byte 0 at least 0xed.
	if u[31] != 0x7f || u[0] < 0xed {
		return true
	}
	for _, c := range u[1:31] {
		if c != 0xff {
			return true
		}
	}
	return false
}

// Seal encrypts plaintext to the holder of pub's private key, binding
// aad. rnd supplies the 32 bytes of the ephemeral private key, then the
// 12 bytes of the nonce (nil: crypto/rand). The result is a new envelope
// (see the package doc); plaintext is not modified and the caller wipes
// it.
func Seal(pub *ecdh.PublicKey, plaintext, aad []byte, rnd io.Reader) ([]byte, error) {
	if err := checkPublic(pub); err != nil {
		return nil, err
	}
	if len(plaintext) == 0 || len(plaintext) > MaxPlaintext {
		return nil, fmt.Errorf("%w: %d bytes", ErrPlaintext, len(plaintext))
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	var seed [KeyLen]byte
	defer clear(seed[:])
	if _, err := io.ReadFull(rnd, seed[:]); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRand, err)
	}
	// Any 32 bytes are an X25519 private key (clamped by the curve).
	eph, err := ecdh.X25519().NewPrivateKey(seed[:])
	if err != nil {
		return nil, fmt.Errorf("%w: ephemeral key: %w", ErrKey, err)
	}
	out := make([]byte, HeaderLen, HeaderLen+len(plaintext)+TagLen)
	out[0] = Version
	ephPub := eph.PublicKey().Bytes()
	copy(out[1:], ephPub)
	nonce := out[1+KeyLen : HeaderLen]
	if _, err := io.ReadFull(rnd, nonce); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRand, err)
	}
	shared, err := eph.ECDH(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	g, err := aead(shared, ephPub, pub.Bytes())
	if err != nil {
		return nil, err
	}
	return g.Seal(out, nonce, plaintext, aad), nil
}

// Open decrypts an envelope sealed to priv's public key with the same
// aad. It returns ErrEnvelope for bytes that are not an envelope, ErrOpen
// when the envelope does not authenticate, ErrKey for a bad key.
func Open(priv *ecdh.PrivateKey, envelope, aad []byte) ([]byte, error) {
	if priv == nil || priv.Curve() != ecdh.X25519() {
		return nil, fmt.Errorf("%w: not an X25519 private key", ErrKey)
	}
	if len(envelope) < Overhead {
		return nil, fmt.Errorf("%w: %d bytes, at least %d", ErrEnvelope, len(envelope), Overhead)
	}
	if envelope[0] != Version {
		return nil, fmt.Errorf("%w: version 0x%02x", ErrEnvelope, envelope[0])
	}
	if len(envelope)-Overhead > MaxPlaintext {
		return nil, fmt.Errorf("%w: %d bytes", ErrEnvelope, len(envelope))
	}
	ephPub := envelope[1 : 1+KeyLen]
	eph, err := ecdh.X25519().NewPublicKey(ephPub)
	if err != nil {
		return nil, fmt.Errorf("%w: ephemeral key", ErrOpen)
	}
	shared, err := priv.ECDH(eph)
	if err != nil {
		// A low-order point: no shared secret. Altered, as far as the
		// caller is concerned.
		return nil, fmt.Errorf("%w: ephemeral key", ErrOpen)
	}
	g, err := aead(shared, ephPub, priv.PublicKey().Bytes())
	if err != nil {
		return nil, err
	}
	pt, err := g.Open(nil, envelope[1+KeyLen:HeaderLen], envelope[HeaderLen:], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// ParsePublicKey reads the pinned platform key as it sits in the
// terminal's parameters: a PEM block of type "PUBLIC KEY" (PKIX, an
// X25519 key), or 64 hexadecimal digits (the raw key); surrounding white
// space is ignored. A key of small order or not canonically encoded is
// refused (ErrKey) here, when the parameters load, rather than at the
// first face payment.
func ParsePublicKey(text []byte) (*ecdh.PublicKey, error) {
	t := bytes.TrimSpace(text)
	if len(t) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrKey)
	}
	if bytes.HasPrefix(t, []byte("-----BEGIN")) {
		b, rest := pem.Decode(t)
		if b == nil {
			return nil, fmt.Errorf("%w: PEM does not decode", ErrKey)
		}
		if b.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("%w: PEM type %q, want PUBLIC KEY", ErrKey, b.Type)
		}
		if len(bytes.TrimSpace(rest)) != 0 {
			return nil, fmt.Errorf("%w: data after the PEM block", ErrKey)
		}
		k, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKey, err)
		}
		pub, ok := k.(*ecdh.PublicKey)
		if !ok || pub.Curve() != ecdh.X25519() {
			return nil, fmt.Errorf("%w: %T is not an X25519 key", ErrKey, k)
		}
		if err := checkPublic(pub); err != nil {
			return nil, err
		}
		return pub, nil
	}
	if len(t) != 2*KeyLen {
		return nil, fmt.Errorf("%w: neither PEM nor %d hexadecimal digits", ErrKey, 2*KeyLen)
	}
	raw := make([]byte, KeyLen)
	if _, err := hex.Decode(raw, t); err != nil {
		return nil, fmt.Errorf("%w: not hexadecimal", ErrKey)
	}
	pub, err := ecdh.X25519().NewPublicKey(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	if err := checkPublic(pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// MarshalPublicKey writes pub as PEM "PUBLIC KEY" (PKIX), the form the
// terminal's parameters pin.
func MarshalPublicKey(pub *ecdh.PublicKey) ([]byte, error) {
	if err := checkPublic(pub); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePrivateKey reads the platform's private key: PEM "PRIVATE KEY"
// (PKCS #8) holding an X25519 key.
func ParsePrivateKey(text []byte) (*ecdh.PrivateKey, error) {
	b, rest := pem.Decode(bytes.TrimSpace(text))
	if b == nil || b.Type != "PRIVATE KEY" || len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: want one PEM block of type PRIVATE KEY", ErrKey)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	clear(b.Bytes)
	if err != nil {
		// x509's error texts name the structure, never key bytes.
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	priv, ok := k.(*ecdh.PrivateKey)
	if !ok || priv.Curve() != ecdh.X25519() {
		return nil, fmt.Errorf("%w: %T is not an X25519 key", ErrKey, k)
	}
	return priv, nil
}

// MarshalPrivateKey writes priv as PEM "PRIVATE KEY" (PKCS #8).
func MarshalPrivateKey(priv *ecdh.PrivateKey) ([]byte, error) {
	if priv == nil || priv.Curve() != ecdh.X25519() {
		return nil, fmt.Errorf("%w: not an X25519 private key", ErrKey)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	defer clear(der)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// GenerateKey returns a new platform key pair (crypto/rand).
func GenerateKey() (*ecdh.PrivateKey, error) {
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRand, err)
	}
	return k, nil
}
