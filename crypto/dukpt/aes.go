package dukpt

import (
	"crypto/aes"
	"encoding/binary"
	"fmt"
)

// KeyType is the type of a key derived by AES DUKPT. Its values are the
// algorithm indicators of X9.24-3:2017 (6.3.2, table 2), the codes that go
// into the derivation data; note that the zero value is KeyTDES2.
type KeyType int

// Key types of X9.24-3:2017.
const (
	KeyTDES2  KeyType = 0 // double-length TDES (2TDEA), 16 bytes
	KeyTDES3  KeyType = 1 // triple-length TDES (3TDEA), 24 bytes
	KeyAES128 KeyType = 2 // AES-128, 16 bytes
	KeyAES192 KeyType = 3 // AES-192, 24 bytes
	KeyAES256 KeyType = 4 // AES-256, 32 bytes
)

// String names the key type.
func (kt KeyType) String() string {
	switch kt {
	case KeyTDES2:
		return "2TDEA"
	case KeyTDES3:
		return "3TDEA"
	case KeyAES128:
		return "AES-128"
	case KeyAES192:
		return "AES-192"
	case KeyAES256:
		return "AES-256"
	}
	return fmt.Sprintf("KeyType(%d)", int(kt))
}

// Len returns the key length in bytes, or 0 for an unknown type.
func (kt KeyType) Len() int {
	switch kt {
	case KeyTDES2, KeyAES128:
		return 16
	case KeyTDES3, KeyAES192:
		return 24
	case KeyAES256:
		return 32
	}
	return 0
}

// strength is the security strength in bits used to decide whether a key
// may be derived from another (SP 800-57 figures: 2TDEA 80, 3TDEA 112).
func (kt KeyType) strength() int {
	switch kt {
	case KeyTDES2:
		return 80
	case KeyTDES3:
		return 112
	case KeyAES128:
		return 128
	case KeyAES192:
		return 192
	case KeyAES256:
		return 256
	}
	return 0
}

// aesKeyType returns the AES key type of a derivation key of n bytes.
func aesKeyType(n int) (KeyType, error) {
	switch n {
	case 16:
		return KeyAES128, nil
	case 24:
		return KeyAES192, nil
	case 32:
		return KeyAES256, nil
	}
	return 0, fmt.Errorf("%w: AES derivation key must be 16, 24 or 32 bytes, got %d", ErrKeyLength, n)
}

// Usage is an X9.24-3:2017 key usage indicator (6.3.2, table 2); its values
// are the standard's 16-bit codes.
type Usage int

// Key usages of X9.24-3:2017.
const (
	UsageKEK             Usage = 0x0002 // key encryption key
	UsagePIN             Usage = 0x1000 // PIN encryption
	UsageMACGen          Usage = 0x2000 // message authentication, generation
	UsageMACVerify       Usage = 0x2001 // message authentication, verification
	UsageMACBoth         Usage = 0x2002 // message authentication, both ways
	UsageDataEncrypt     Usage = 0x3000 // data encryption, encrypt
	UsageDataDecrypt     Usage = 0x3001 // data encryption, decrypt
	UsageDataBoth        Usage = 0x3002 // data encryption, both ways
	UsageKeyDerivation   Usage = 0x8000 // key derivation (intermediate derivation keys)
	UsageKeyDerivationIK Usage = 0x8001 // key derivation, initial key
)

// String names the usage.
func (u Usage) String() string {
	switch u {
	case UsageKEK:
		return "key encryption key"
	case UsagePIN:
		return "PIN encryption"
	case UsageMACGen:
		return "MAC generation"
	case UsageMACVerify:
		return "MAC verification"
	case UsageMACBoth:
		return "MAC both ways"
	case UsageDataEncrypt:
		return "data encryption, encrypt"
	case UsageDataDecrypt:
		return "data encryption, decrypt"
	case UsageDataBoth:
		return "data encryption, both ways"
	case UsageKeyDerivation:
		return "key derivation"
	case UsageKeyDerivationIK:
		return "key derivation, initial key"
	}
	return fmt.Sprintf("Usage(%#04x)", int(u))
}

func (u Usage) known() bool {
	switch u {
	case UsageKEK, UsagePIN, UsageMACGen, UsageMACVerify, UsageMACBoth,
		UsageDataEncrypt, UsageDataDecrypt, UsageDataBoth,
		UsageKeyDerivation, UsageKeyDerivationIK:
		return true
	}
	return false
}

// derivationData builds the 16-byte derivation data of X9.24-3:2017 6.3.2
// for block counter 1. ksnData is the IK ID (8 bytes) for the initial key,
// else the right half of the IK ID followed by the counter.
func derivationData(u Usage, kt KeyType, ksnData []byte) [16]byte {
	var d [16]byte
	d[0] = 0x01 // version
	d[1] = 0x01 // key block counter
	binary.BigEndian.PutUint16(d[2:], uint16(u))
	binary.BigEndian.PutUint16(d[4:], uint16(kt))
	binary.BigEndian.PutUint16(d[6:], uint16(kt.Len()*8))
	copy(d[8:], ksnData)
	return d
}

// aesDerive encrypts the derivation data with the AES derivation key,
// incrementing the block counter per 16 bytes of output, and truncates to
// the length of kt (X9.24-3:2017 6.3.1). The caller has checked lengths.
func aesDerive(key []byte, kt KeyType, data [16]byte) []byte {
	c, err := aes.NewCipher(key)
	if err != nil {
		panic("dukpt: internal AES key length")
	}
	n := kt.Len()
	var buf [32]byte
	for off := 0; off < n; off += aes.BlockSize {
		c.Encrypt(buf[off:off+aes.BlockSize], data[:])
		data[1]++
	}
	out := make([]byte, n)
	copy(out, buf[:n])
	wipe(buf[:])
	return out
}

// intermediateData is the KSN part of the derivation data for a counter.
func intermediateData(ksn []byte, counter uint32) [8]byte {
	var d [8]byte
	copy(d[:4], ksn[4:AESIKIDLen])
	binary.BigEndian.PutUint32(d[4:], counter)
	return d
}

// aesChildKey derives the intermediate derivation key of counter from its
// parent derivation key (whose counter lacks counter's lowest one-bit).
func aesChildKey(parent, ksn []byte, counter uint32) []byte {
	kt, _ := aesKeyType(len(parent))
	d := intermediateData(ksn, counter)
	return aesDerive(parent, kt, derivationData(UsageKeyDerivation, kt, d[:]))
}

func checkAESKSN(ksn []byte) error {
	if len(ksn) != AESKSNLen && len(ksn) != AESIKIDLen {
		return fmt.Errorf("%w: AES KSN must be %d bytes (or an %d-byte IK ID), got %d", ErrKSNLength, AESKSNLen, AESIKIDLen, len(ksn))
	}
	return nil
}

// AESDeriveIK derives the initial key of a device from an AES BDK (16, 24
// or 32 bytes) and its KSN (12 bytes; the 8-byte IK ID alone is accepted
// too), X9.24-3:2017 6.3.3. The IK has the BDK's type and length.
func AESDeriveIK(bdk, ksn []byte) ([]byte, error) {
	kt, err := aesKeyType(len(bdk))
	if err != nil {
		return nil, err
	}
	return AESDeriveIKType(bdk, ksn, kt)
}

// AESDeriveIKType is AESDeriveIK for an initial key of type kt, which must
// be an AES type no stronger than the BDK.
func AESDeriveIKType(bdk, ksn []byte, kt KeyType) ([]byte, error) {
	bt, err := aesKeyType(len(bdk))
	if err != nil {
		return nil, err
	}
	if err := checkAESKSN(ksn); err != nil {
		return nil, err
	}
	if kt != KeyAES128 && kt != KeyAES192 && kt != KeyAES256 {
		return nil, fmt.Errorf("%w: initial key must be AES, not %v", ErrKeyType, kt)
	}
	if kt.strength() > bt.strength() {
		return nil, fmt.Errorf("%w: %v initial key from %v BDK", ErrKeyType, kt, bt)
	}
	return aesDerive(bdk, kt, derivationData(UsageKeyDerivationIK, kt, ksn[:AESIKIDLen])), nil
}

// AESDeriveKey derives, on the receiving side, the transaction derivation
// key of the KSN from the BDK. Working keys come from it via AESWorkingKey.
func AESDeriveKey(bdk, ksn []byte) ([]byte, error) {
	if len(ksn) != AESKSNLen {
		return nil, fmt.Errorf("%w: AES KSN must be %d bytes, got %d", ErrKSNLength, AESKSNLen, len(ksn))
	}
	ik, err := AESDeriveIK(bdk, ksn)
	if err != nil {
		return nil, err
	}
	defer wipe(ik)
	return AESDeriveKeyFromIK(ik, ksn)
}

// AESDeriveKeyFromIK derives the transaction derivation key of the KSN from
// the initial key (X9.24-3:2017 6.4): one derivation per one-bit of the
// counter, from the most significant down.
func AESDeriveKeyFromIK(ik, ksn []byte) ([]byte, error) {
	if _, err := aesKeyType(len(ik)); err != nil {
		return nil, err
	}
	if len(ksn) != AESKSNLen {
		return nil, fmt.Errorf("%w: AES KSN must be %d bytes, got %d", ErrKSNLength, AESKSNLen, len(ksn))
	}
	if err := ValidateKSN(ksn); err != nil {
		return nil, err
	}
	tc := aesCounter(ksn)
	if tc == 0 {
		return nil, fmt.Errorf("%w: % X", ErrKSNCounterZero, ksn)
	}
	return aesTxnKey(ik, ksn, tc), nil
}

// aesTxnKey walks the counter's one-bits without validating the counter.
func aesTxnKey(ik, ksn []byte, tc uint32) []byte {
	key := make([]byte, len(ik))
	copy(key, ik)
	var working uint32
	for mask := uint32(1) << 31; mask != 0; mask >>= 1 {
		if tc&mask == 0 {
			continue
		}
		working |= mask
		next := aesChildKey(key, ksn, working)
		wipe(key)
		key = next
	}
	return key
}

// AESWorkingKey derives the working key of usage u and type kt for the
// transaction of ksn from that transaction's derivation key txnKey
// (X9.24-3:2017 6.3.3). The working key may not be stronger than txnKey.
func AESWorkingKey(txnKey, ksn []byte, u Usage, kt KeyType) ([]byte, error) {
	dt, err := aesKeyType(len(txnKey))
	if err != nil {
		return nil, err
	}
	if len(ksn) != AESKSNLen {
		return nil, fmt.Errorf("%w: AES KSN must be %d bytes, got %d", ErrKSNLength, AESKSNLen, len(ksn))
	}
	if err := ValidateKSN(ksn); err != nil {
		return nil, err
	}
	if aesCounter(ksn) == 0 {
		return nil, fmt.Errorf("%w: % X", ErrKSNCounterZero, ksn)
	}
	return workingKey(txnKey, dt, ksn, aesCounter(ksn), u, kt)
}

func workingKey(txnKey []byte, dt KeyType, ksn []byte, tc uint32, u Usage, kt KeyType) ([]byte, error) {
	if !u.known() {
		return nil, fmt.Errorf("%w: %v", ErrUsage, u)
	}
	if kt.Len() == 0 {
		return nil, fmt.Errorf("%w: %v", ErrKeyType, kt)
	}
	if kt.strength() > dt.strength() {
		return nil, fmt.Errorf("%w: %v working key from %v derivation key", ErrKeyType, kt, dt)
	}
	if u == UsageKeyDerivationIK {
		return aesDerive(txnKey, kt, derivationData(u, kt, ksn[:AESIKIDLen])), nil
	}
	d := intermediateData(ksn, tc)
	return aesDerive(txnKey, kt, derivationData(u, kt, d[:])), nil
}

// AESDeriveUpdateKey derives the DUKPT update key of X9.24-3:2017 6.5: the
// key encryption key of type kt under the derivation key of counter
// FFFFFFFF (a counter no transaction uses), from the initial key ik and any
// KSN (or IK ID) of the device. It protects the loading of a new initial
// key into the device.
func AESDeriveUpdateKey(ik, ksn []byte, kt KeyType) ([]byte, error) {
	dt, err := aesKeyType(len(ik))
	if err != nil {
		return nil, err
	}
	if err := checkAESKSN(ksn); err != nil {
		return nil, err
	}
	var reg [AESKSNLen]byte
	copy(reg[:], ksn[:AESIKIDLen])
	aesSetCounter(reg[:], 0xFFFFFFFF)
	dk := aesTxnKey(ik, reg[:], 0xFFFFFFFF)
	defer wipe(dk)
	return workingKey(dk, dt, reg[:], 0xFFFFFFFF, UsageKEK, kt)
}
