package emv

import (
	"bytes"
	"errors"
	"testing"
)

func TestPublicKeyCheckAndRecover(t *testing.T) {
	k := fuzzCAKey(t).PublicKey
	if err := k.Check(); err != nil {
		t.Fatal(err)
	}
	even := PublicKey{Modulus: bytes.Clone(k.Modulus), Exponent: []byte{3}}
	even.Modulus[len(even.Modulus)-1] &^= 1
	lead0 := PublicKey{Modulus: append([]byte{0}, k.Modulus[1:]...), Exponent: []byte{3}}
	for name, bad := range map[string]PublicKey{
		"short":       {Modulus: k.Modulus[:63], Exponent: []byte{3}},
		"long":        {Modulus: bytes.Repeat([]byte{0xFF}, 249), Exponent: []byte{3}},
		"even":        even,
		"leading 0":   lead0,
		"exponent 5":  {Modulus: k.Modulus, Exponent: []byte{5}},
		"exponent 00": {Modulus: k.Modulus, Exponent: []byte{0, 3}},
		"no exponent": {Modulus: k.Modulus},
	} {
		if err := bad.Check(); !errors.Is(err, ErrPublicKey) {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := bad.Recover(make([]byte, len(bad.Modulus))); !errors.Is(err, ErrPublicKey) {
			t.Errorf("%s: Recover: %v", name, err)
		}
	}
	if _, err := k.Recover(make([]byte, 63)); !errors.Is(err, ErrSignatureLength) {
		t.Errorf("short signature: %v", err)
	}
	if _, err := k.Recover(k.Modulus); !errors.Is(err, ErrRecovery) {
		t.Errorf("signature equal to the modulus: %v", err)
	}
}

// Records signed as they should not be, to reach each check of the
// recovery functions.
func TestRecoveryChecks(t *testing.T) {
	ca := fuzzCAKey(t)
	issuer, err := GenerateKey(seeded(78), 512, 3)
	if err != nil {
		t.Fatal(err)
	}
	good, _, err := SignIssuerCert(ca, &IssuerPublicKey{PublicKey: issuer.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := ca.PublicKey.Recover(good)
	if err != nil {
		t.Fatal(err)
	}
	// The issuer key is as long as the CA's: 28 bytes of remainder.
	rem := issuer.Modulus[64-36:]
	if _, err := RecoverIssuerPublicKey(ca.PublicKey, good, rem, []byte{3}); err != nil {
		t.Fatal(err)
	}
	// resign changes rec, refreshes its hash and signs it.
	resign := func(change func(r []byte)) []byte {
		r := bytes.Clone(rec)
		change(r)
		s, err := ca.seal(r, rem, []byte{3})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, c := range []struct {
		name   string
		change func(r []byte)
		want   error
	}{
		{"header", func(r []byte) { r[0] = 0x6B }, ErrRecovery},
		{"trailer", func(r []byte) { r[63] = 0xBD }, ErrRecovery},
		{"format", func(r []byte) { r[1] = FormatICCCert }, ErrFormat},
		{"hash algorithm", func(r []byte) { r[11] = 2 }, ErrAlgorithm},
		{"key algorithm", func(r []byte) { r[12] = 2 }, ErrAlgorithm},
		{"key longer than the CA's", func(r []byte) { r[13] = 65 }, ErrPublicKey},
		{"exponent length", func(r []byte) { r[14] = 3 }, ErrExponent},
		{"key shorter", func(r []byte) { r[13] = 60 }, ErrRemainder},
	} {
		_, err := RecoverIssuerPublicKey(ca.PublicKey, resign(c.change), rem, []byte{3})
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// A hash that does not match.
	r := bytes.Clone(rec)
	r[5] ^= 1
	s, err := ca.sign(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RecoverIssuerPublicKey(ca.PublicKey, s, rem, []byte{3}); !errors.Is(err, ErrHash) {
		t.Errorf("stale hash: %v", err)
	}
	// The other formats refuse an issuer certificate.
	if _, err := VerifySSAD(ca.PublicKey, good, nil); !errors.Is(err, ErrFormat) {
		t.Errorf("SSAD: %v", err)
	}
	if _, err := RecoverICCPublicKey(ca.PublicKey, good, nil, nil, nil); !errors.Is(err, ErrFormat) {
		t.Errorf("ICC: %v", err)
	}
	if _, err := VerifySDAD(ca.PublicKey, good, nil); !errors.Is(err, ErrFormat) {
		t.Errorf("SDAD: %v", err)
	}
	if _, err := VerifyCDA(ca.PublicKey, good, []byte{1, 2, 3}); !errors.Is(err, ErrFieldLength) {
		t.Errorf("CDA with a 3-byte UN: %v", err)
	}
	// An SDAD whose dynamic data length overruns its room.
	sd, err := SignSDAD(ca, []byte{2, 0, 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, _ = ca.PublicKey.Recover(sd)
	r[3] = 40
	if sd, err = ca.seal(r); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifySDAD(ca.PublicKey, sd, nil); !errors.Is(err, ErrDynamicData) {
		t.Errorf("overlong dynamic data: %v", err)
	}
}

func TestMatchesPAN(t *testing.T) {
	for _, c := range []struct {
		id   [4]byte
		pan  string
		want bool
	}{
		{[4]byte{0x47, 0x61, 0x73, 0xFF}, "4761739001010119", true},
		{[4]byte{0x47, 0x61, 0x73, 0xFF}, "476173", true},
		{[4]byte{0x47, 0x61, 0x73, 0xFF}, "4761", false},
		{[4]byte{0x47, 0x61, 0x73, 0x90}, "4761739001010119", true},
		{[4]byte{0x47, 0xFF, 0xFF, 0xFF}, "4761739001010119", false}, // 2 digits
		{[4]byte{0x47, 0x6F, 0x73, 0xFF}, "4761739001010119", false}, // digit after F
		{[4]byte{0x47, 0x61, 0x7A, 0xFF}, "4761739001010119", false}, // not a digit
	} {
		k := IssuerPublicKey{IssuerID: c.id}
		if got := k.MatchesPAN(c.pan); got != c.want {
			t.Errorf("%X vs %s: %v", c.id, c.pan, got)
		}
	}
	f, _ := PANField("476173900101011")
	k := ICCPublicKey{PAN: f}
	if d, ok := k.PANDigits(); !ok || d != "476173900101011" || !k.MatchesPAN(d) || k.MatchesPAN(d+"9") {
		t.Errorf("PAN field %X: %q %v", f, d, ok)
	}
	id, _ := IssuerIDFromPAN("476173900101011", 5)
	if id != [4]byte{0x47, 0x61, 0x7F, 0xFF} {
		t.Errorf("issuer identifier %X", id)
	}
}
