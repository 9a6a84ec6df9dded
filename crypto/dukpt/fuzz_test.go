package dukpt

import (
	"bytes"
	"errors"
	"math/bits"
	"posd/internal/testhex"
	"testing"
)

func FuzzParseKSN(f *testing.F) {
	for _, s := range []string{annexIKSN, "FFFF9876543210EFFC01", supIKSN, "12-34-56-78-90-12-34-56-00-00-00-01",
		"", " ", "zz", "FFFF9876543210E0000G", "1234567890123456FFFF0000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ksn, err := ParseKSN(s)
		if err != nil {
			if ksn != nil {
				t.Fatal("ParseKSN returned bytes with an error")
			}
			return
		}
		if len(ksn) != TDESKSNLen && len(ksn) != AESKSNLen {
			t.Fatalf("ParseKSN gave %d bytes", len(ksn))
		}
		if err := ValidateKSN(ksn); err != nil {
			t.Fatalf("ParseKSN accepted an invalid KSN: %v", err)
		}
		again, err := ParseKSN(testhex.Upper(ksn))
		if err != nil || !bytes.Equal(again, ksn) {
			t.Fatalf("re-parse of %s: %v", testhex.Upper(ksn), err)
		}
	})
}

// FuzzKSNBytes feeds arbitrary bytes to ValidateKSN and NextKSN (and the
// receiver derivations) and checks their contracts.
func FuzzKSNBytes(f *testing.F) {
	for _, s := range []string{annexIKSN, "FFFF9876543210FFF800", "FFFF9876543210EFFC01", supIKSN,
		"1234567890123456FFFF0000", "12345678901234560001FFFF", "00", ""} {
		f.Add(testhex.Bytes(f, s))
	}
	tik, aik := testhex.Bytes(f, annexIK), testhex.Bytes(f, supIK128)
	f.Fuzz(func(t *testing.T, ksn []byte) {
		orig := bytes.Clone(ksn)
		verr := ValidateKSN(ksn)
		next, nerr := NextKSN(ksn)
		if !bytes.Equal(ksn, orig) {
			t.Fatal("input modified")
		}
		if len(ksn) != TDESKSNLen && len(ksn) != AESKSNLen {
			if !errors.Is(verr, ErrKSNLength) || !errors.Is(nerr, ErrKSNLength) {
				t.Fatalf("length %d accepted: %v %v", len(ksn), verr, nerr)
			}
			return
		}
		if nerr == nil {
			if err := ValidateKSN(next); err != nil {
				t.Fatalf("NextKSN gave invalid %s: %v", testhex.Upper(next), err)
			}
			a, _ := KSNCounter(ksn)
			b, _ := KSNCounter(next)
			if b <= a {
				t.Fatalf("NextKSN did not advance: %X -> %X", a, b)
			}
			max := 10
			if len(ksn) == AESKSNLen {
				max = 16
			}
			for m := a + 1; m < b && m-a < 1<<12; m++ {
				if bits.OnesCount32(m) <= max {
					t.Fatalf("NextKSN skipped valid counter %X", m)
				}
			}
			fixed := len(ksn) == AESKSNLen && bytes.Equal(next[:AESIKIDLen], ksn[:AESIKIDLen]) ||
				len(ksn) == TDESKSNLen && bytes.Equal(next[:7], ksn[:7]) && next[7]&0xE0 == ksn[7]&0xE0
			if !fixed {
				t.Fatal("NextKSN changed the part outside the counter")
			}
		} else if !errors.Is(nerr, ErrExhausted) {
			t.Fatalf("NextKSN: %v", nerr)
		}
		// The derivations must not panic and must agree with ValidateKSN.
		var err error
		if len(ksn) == TDESKSNLen {
			_, err = TDESDeriveKeyFromIK(tik, ksn)
		} else {
			_, err = AESDeriveKeyFromIK(aik, ksn)
		}
		c, _ := KSNCounter(ksn)
		if (verr == nil && c != 0) != (err == nil) {
			t.Fatalf("validate %v but derive %v", verr, err)
		}
	})
}

func FuzzUnmarshalOriginator(f *testing.F) {
	to, _ := NewTDESOriginator(testhex.Bytes(f, annexIK), testhex.Bytes(f, annexIKSN))
	ao, _ := NewAESOriginator(testhex.Bytes(f, supIK256), testhex.Bytes(f, supIKSN))
	for range 3 {
		st, _ := to.MarshalBinary()
		f.Add(st)
		st, _ = ao.MarshalBinary()
		f.Add(st)
		to.Next()
		ao.Next()
	}
	f.Add([]byte("DKPT"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, st []byte) {
		o, err := UnmarshalOriginator(st)
		if err != nil {
			if !errors.Is(err, ErrState) {
				t.Fatalf("error not ErrState: %v", err)
			}
			return
		}
		again, err := o.MarshalBinary()
		if err != nil || !bytes.Equal(again, st) {
			t.Fatalf("accepted state does not round-trip: %v", err)
		}
		if _, _, err := o.Next(); err != nil && !errors.Is(err, ErrExhausted) {
			t.Fatalf("Next on accepted state: %v", err)
		}
		o.Wipe()
	})
}
