package dukpt

import (
	"crypto/cipher"
	"errors"
	"testing"

	"posd/crypto/pinblock"
	"posd/crypto/tdes"
	"posd/internal/testhex"
)

func benchOriginator(b *testing.B, mk func() (Originator, error)) {
	o, err := mk()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := o.Next(); err != nil {
			if !errors.Is(err, ErrExhausted) {
				b.Fatal(err)
			}
			b.StopTimer()
			o, _ = mk()
			b.StartTimer()
		}
	}
}

func BenchmarkTDESOriginatorNext(b *testing.B) {
	ik, iksn := testhex.Bytes(b, annexIK), testhex.Bytes(b, annexIKSN)
	benchOriginator(b, func() (Originator, error) { return NewTDESOriginator(ik, iksn) })
}

func BenchmarkAESOriginatorNext(b *testing.B) {
	for _, c := range []struct{ name, ik string }{{"AES-128", supIK128}, {"AES-256", supIK256}} {
		b.Run(c.name, func(b *testing.B) {
			ik, iksn := testhex.Bytes(b, c.ik), testhex.Bytes(b, supIKSN)
			benchOriginator(b, func() (Originator, error) { return NewAESOriginator(ik, iksn) })
		})
	}
}

// Receiver benchmarks derive from the BDK (initial key included); "worst"
// uses a counter with the most one-bits allowed.
func BenchmarkTDESReceiverDerive(b *testing.B) {
	bdk := testhex.Bytes(b, annexBDK)
	for _, c := range []struct{ name, ksn string }{
		{"typical", "FFFF9876543210E00015"},
		{"worst", "FFFF9876543210FFF800"},
	} {
		b.Run(c.name, func(b *testing.B) {
			ksn := testhex.Bytes(b, c.ksn)
			b.ReportAllocs()
			for b.Loop() {
				k, err := TDESDeriveKey(bdk, ksn)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := TDESVariant(k, VariantPIN); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAESReceiverDerive(b *testing.B) {
	for _, c := range []struct{ name, bdk, ksn string }{
		{"AES-128/typical", supBDK128, "123456789012345600000015"},
		{"AES-128/worst", supBDK128, "1234567890123456FFFF0000"},
		{"AES-256/worst", supBDK256, "1234567890123456FFFF0000"},
	} {
		b.Run(c.name, func(b *testing.B) {
			bdk, ksn := testhex.Bytes(b, c.bdk), testhex.Bytes(b, c.ksn)
			b.ReportAllocs()
			for b.Loop() {
				k, err := AESDeriveKey(bdk, ksn)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := AESWorkingKey(k, ksn, UsagePIN, KeyAES128); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The per-message TDES operations of a host or a field tool, on the
// X9.24-1:2009 A.4 BDK, initial key and KSNs, so the figures can be put
// next to those of other DUKPT implementations run with the same inputs.
// Transaction key: that of KSN FFFF9876543210E00001. Data: a track 2 of 37
// ASCII characters (five 8-byte blocks once padded).
const benchTrack2 = "4761739001010010=25122011143804400000"

func BenchmarkTDESDeriveIK(b *testing.B) {
	bdk, ksn := testhex.Bytes(b, annexBDK), testhex.Bytes(b, "FFFF9876543210E00015")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := TDESDeriveIK(bdk, ksn); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTDESDeriveKeyFromIK(b *testing.B) {
	ik := testhex.Bytes(b, annexIK)
	for _, c := range []struct{ name, ksn string }{
		{"typical", "FFFF9876543210E00015"},
		{"worst", "FFFF9876543210FFF800"},
	} {
		b.Run(c.name, func(b *testing.B) {
			ksn := testhex.Bytes(b, c.ksn)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := TDESDeriveKeyFromIK(ik, ksn); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTDESDataRequest: from a transaction key to the ciphertext of a
// track 2, as the terminal's wire security does it: the data request
// variant with its one-way step, one TDES cipher under the result, padding
// and CBC with a zero IV.
func BenchmarkTDESDataRequest(b *testing.B) {
	txn := testhex.Bytes(b, tdesInitial[0].key)
	plain := make([]byte, 40)
	copy(plain, benchTrack2)
	plain[len(benchTrack2)] = 0x80
	out := make([]byte, len(plain))
	iv := make([]byte, 8)
	b.ReportAllocs()
	for b.Loop() {
		k, err := TDESVariant(txn, VariantDataRequest)
		if err != nil {
			b.Fatal(err)
		}
		c, err := tdes.NewCipher(k)
		if err != nil {
			b.Fatal(err)
		}
		clear(iv)
		cipher.NewCBCEncrypter(c, iv).CryptBlocks(out, plain)
	}
}

// BenchmarkTDESPINBlock: from a transaction key to an encrypted ISO 9564
// format 0 PIN block under the PIN variant.
func BenchmarkTDESPINBlock(b *testing.B) {
	txn := testhex.Bytes(b, tdesInitial[0].key)
	b.ReportAllocs()
	for b.Loop() {
		k, err := TDESVariant(txn, VariantPIN)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := pinblock.EncryptFormat0(k, "1234", "4012345678909"); err != nil {
			b.Fatal(err)
		}
	}
}
