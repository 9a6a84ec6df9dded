package dukpt

import (
	"errors"
	"testing"
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
	ik, iksn := unhex(b, annexIK), unhex(b, annexIKSN)
	benchOriginator(b, func() (Originator, error) { return NewTDESOriginator(ik, iksn) })
}

func BenchmarkAESOriginatorNext(b *testing.B) {
	for _, c := range []struct{ name, ik string }{{"AES-128", supIK128}, {"AES-256", supIK256}} {
		b.Run(c.name, func(b *testing.B) {
			ik, iksn := unhex(b, c.ik), unhex(b, supIKSN)
			benchOriginator(b, func() (Originator, error) { return NewAESOriginator(ik, iksn) })
		})
	}
}

// Receiver benchmarks derive from the BDK (initial key included); "worst"
// uses a counter with the most one-bits allowed.
func BenchmarkTDESReceiverDerive(b *testing.B) {
	bdk := unhex(b, annexBDK)
	for _, c := range []struct{ name, ksn string }{
		{"typical", "FFFF9876543210E00015"},
		{"worst", "FFFF9876543210FFF800"},
	} {
		b.Run(c.name, func(b *testing.B) {
			ksn := unhex(b, c.ksn)
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
			bdk, ksn := unhex(b, c.bdk), unhex(b, c.ksn)
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
