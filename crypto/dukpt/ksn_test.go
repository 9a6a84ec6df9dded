package dukpt

import (
	"bytes"
	"errors"
	"math/bits"
	"posd/internal/testhex"
	"testing"
)

func TestValidateKSN(t *testing.T) {
	cases := []struct {
		ksn  string
		want error
	}{
		{annexIKSN, nil},
		{"FFFF9876543210E00001", nil},
		{"FFFF9876543210FFF800", nil},               // ten one-bits: the last TDES counter
		{"FFFF9876543210EFFC01", ErrKSNTooManyOnes}, // eleven
		{"FFFF9876543210FFFFFF", ErrKSNTooManyOnes},
		{"00000000000000E0FFFF", ErrKSNTooManyOnes}, // the top bits of byte 7 belong to the IKSN
		{"000000000000000003FF", nil},
		{supIKSN, nil},
		{"1234567890123456FFFF0000", nil},               // sixteen
		{"12345678901234560001FFFF", ErrKSNTooManyOnes}, // seventeen
		{"1234567890123456FFFFFFFF", ErrKSNTooManyOnes},
		{"", ErrKSNLength},
		{"1234567890123456", ErrKSNLength},
		{"FFFF9876543210E0000000", ErrKSNLength},
	}
	for _, c := range cases {
		if err := ValidateKSN(testhex.Bytes(t, c.ksn)); !errors.Is(err, c.want) {
			t.Errorf("ValidateKSN(%s) = %v, want %v", c.ksn, err, c.want)
		}
	}
}

// NextKSN steps from openemv/dukpt's tool tests and the annex.
func TestNextKSN(t *testing.T) {
	steps := []struct{ from, to string }{
		{annexIKSN, "FFFF9876543210E00001"},
		{"FFFF9876543210E00001", "FFFF9876543210E00002"},
		{"FFFF9876543210FFF400", "FFFF9876543210FFF800"},
		{"FFFF9876543210EFFC00", "FFFF9876543210F00000"},
		{"FFFF9876543210E003FF", "FFFF9876543210E00400"},
		// Invalid input: the smallest valid counter above it.
		{"FFFF9876543210EFFC01", "FFFF9876543210F00000"},
		{"FFFF9876543210E00000", "FFFF9876543210E00001"},
	}
	for _, s := range steps {
		in := testhex.Bytes(t, s.from)
		orig := bytes.Clone(in)
		got, err := NextKSN(in)
		if err != nil || testhex.Upper(got) != s.to {
			t.Errorf("NextKSN(%s) = %s, %v; want %s", s.from, testhex.Upper(got), err, s.to)
		}
		if !bytes.Equal(in, orig) {
			t.Errorf("NextKSN modified its input")
		}
	}
	for _, s := range []string{"FFFF9876543210FFF800", "FFFF9876543210FFFFFF", "1234567890123456FFFF0000", "1234567890123456FFFFFFFF"} {
		if _, err := NextKSN(testhex.Bytes(t, s)); !errors.Is(err, ErrExhausted) {
			t.Errorf("NextKSN(%s) err = %v, want ErrExhausted", s, err)
		}
	}
	if _, err := NextKSN(make([]byte, 11)); !errors.Is(err, ErrKSNLength) {
		t.Errorf("11 bytes: %v", err)
	}
}

// counterSpec.next against brute force over a small space and at the top
// of both real spaces.
func TestCounterNextBruteForce(t *testing.T) {
	for _, s := range []counterSpec{{bits: 12, maxOnes: 4}, {bits: 10, maxOnes: 10}, {bits: 9, maxOnes: 1}} {
		limit := uint64(1) << s.bits
		for c := uint64(0); c < limit; c++ {
			want, wantOK := uint64(0), false
			for m := c + 1; m < limit; m++ {
				if bits.OnesCount64(m) <= s.maxOnes {
					want, wantOK = m, true
					break
				}
			}
			got, ok := s.next(c)
			if got != want || ok != wantOK {
				t.Fatalf("%+v next(%X) = %X,%v; want %X,%v", s, c, got, ok, want, wantOK)
			}
		}
	}
	if got, ok := aesSpec.next(0xFFFE8000); !ok || got != 0xFFFF0000 {
		t.Fatalf("AES next(FFFE8000) = %X", got)
	}
	if got, ok := tdesSpec.next(0x0FFC00); !ok || got != 0x100000 {
		t.Fatalf("TDES next(0FFC00) = %X", got)
	}
}

func TestParseKSN(t *testing.T) {
	good := map[string]string{
		"FFFF9876543210E00001":                "FFFF9876543210E00001",
		"ffff9876543210e00001":                "FFFF9876543210E00001",
		" FFFF 9876 5432 10E0 0001\n":         "FFFF9876543210E00001",
		"12-34-56-78-90-12-34-56-00-00-00-01": "123456789012345600000001",
		"12:34:56:78:90:12:34:56:00:00:00:01": "123456789012345600000001",
	}
	for in, want := range good {
		got, err := ParseKSN(in)
		if err != nil || testhex.Upper(got) != want {
			t.Errorf("ParseKSN(%q) = %s, %v; want %s", in, testhex.Upper(got), err, want)
		}
	}
	bad := map[string]error{
		"":                          ErrKSNLength,
		"FFFF9876543210E0001":       ErrKSNLength,
		"FFFF9876543210E000010":     ErrKSNLength,
		"1234567890123456":          ErrKSNLength,
		"FFFF9876543210E0000G":      ErrKSNFormat,
		"FFFF9876543210EFFC01":      ErrKSNTooManyOnes,
		"12345678901234560001FFFF":  ErrKSNTooManyOnes,
		"FFFF9876543210E0000\u00e9": ErrKSNLength,
	}
	for in, want := range bad {
		if _, err := ParseKSN(in); !errors.Is(err, want) {
			t.Errorf("ParseKSN(%q) err = %v, want %v", in, err, want)
		}
	}
}

func TestKSNCounter(t *testing.T) {
	if c, err := KSNCounter(testhex.Bytes(t, "FFFF9876543210EFF801")); err != nil || c != 0x0FF801 {
		t.Errorf("TDES counter %X, %v", c, err)
	}
	if c, err := KSNCounter(testhex.Bytes(t, "1234567890123456FFFE2000")); err != nil || c != 0xFFFE2000 {
		t.Errorf("AES counter %X, %v", c, err)
	}
	if _, err := KSNCounter([]byte{1}); !errors.Is(err, ErrKSNLength) {
		t.Errorf("short: %v", err)
	}
}

func TestSplitKSN(t *testing.T) {
	for _, c := range []struct {
		ksn, base string
		counter   uint32
	}{
		// X9.24-1's TDES test KSNs: the counter is the low 21 bits.
		{"FFFF9876543210EFF801", "FFFF9876543210E00000", 0x0FF801},
		{"FFFF9876543210E00008", "FFFF9876543210E00000", 8},
		// AES: the last 4 bytes.
		{"1234567890123456FFFE2000", "123456789012345600000000", 0xFFFE2000},
	} {
		ksn := testhex.Bytes(t, c.ksn)
		base, n, err := SplitKSN(ksn)
		if err != nil || !bytes.Equal(base, testhex.Bytes(t, c.base)) || n != c.counter {
			t.Errorf("%s: base %X counter %X %v, want %s %X", c.ksn, base, n, err, c.base, c.counter)
		}
		if !bytes.Equal(ksn, testhex.Bytes(t, c.ksn)) {
			t.Errorf("%s: the KSN was changed", c.ksn)
		}
	}
	if _, _, err := SplitKSN(make([]byte, 11)); !errors.Is(err, ErrKSNLength) {
		t.Errorf("11 bytes: %v", err)
	}
}
