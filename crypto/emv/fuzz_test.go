package emv

import (
	"bytes"
	"errors"
	"sync"
	"testing"

	"posd/internal/testhex"
)

// Fuzz targets for every parser of outside bytes: the recovered data of
// the four signed formats (the RSA step is skipped so that the fuzzer
// reaches the parsing), the whole recovery path under a real key, and the
// CA public key file. Each checks that nothing panics and that what is
// accepted is consistent.

// fuzzCA is a small CA (512 bits, exponent 3) for the whole-path target.
var (
	fuzzOnce sync.Once
	fuzzKey  *PrivateKey
)

func fuzzCAKey(t testing.TB) *PrivateKey {
	fuzzOnce.Do(func() {
		k, err := GenerateKey(seeded(77), 512, 3)
		if err != nil {
			panic(err)
		}
		fuzzKey = k
	})
	return fuzzKey
}

// published recovered records for seeds.
func recoveredSeeds(t testing.TB, k PublicKey, sigs ...string) [][]byte {
	var out [][]byte
	for _, s := range sigs {
		rec, err := k.Recover(testhex.Must(s))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rec)
	}
	return out
}

func FuzzParseIssuerCert(f *testing.F) {
	ca := lookup(f, loadTestCAPKs(f), "A000000003", 0x94)
	for _, rec := range recoveredSeeds(f, ca.PublicKey, visaIssuerCert) {
		f.Add(rec, []byte{}, []byte{3})
		f.Add(rec, []byte{1}, []byte{1, 0, 1})
	}
	f.Add(bytes.Repeat([]byte{0x6A}, 64), []byte{}, []byte{3})
	f.Fuzz(func(t *testing.T, rec, remainder, exponent []byte) {
		if checkEnvelope(rec, FormatIssuerCert) != nil {
			return
		}
		k, err := parseIssuerCert(rec, remainder, exponent)
		if err != nil {
			return
		}
		if len(k.Modulus) != int(rec[13]) || len(k.Modulus) > len(rec) || k.PublicKey.Check() != nil {
			t.Fatalf("accepted a %d-byte key, certificate says %d", len(k.Modulus), rec[13])
		}
		if k.HashAlgorithm != HashSHA1 || k.PKAlgorithm != PKAlgRSA {
			t.Fatal("accepted another algorithm")
		}
	})
}

func FuzzParseICCCert(f *testing.F) {
	ca := lookup(f, loadTestCAPKs(f), "A000000003", 0x94)
	ipk, err := RecoverIssuerPublicKey(ca.PublicKey, testhex.Must(visaIssuerCert), nil, []byte{3})
	if err != nil {
		f.Fatal(err)
	}
	for _, rec := range recoveredSeeds(f, ipk.PublicKey, visaICCCert) {
		f.Add(rec, testhex.Must(visaICCRemainder), []byte{3}, []byte{}, false)
		f.Add(rec, testhex.Must(visaICCRemainder), []byte{3}, []byte{0x7C, 0}, true)
	}
	f.Fuzz(func(t *testing.T, rec, remainder, exponent, static []byte, verifyHash bool) {
		if checkEnvelope(rec, FormatICCCert) != nil {
			return
		}
		k, err := parseICCCert(rec, remainder, exponent, static, verifyHash)
		if err != nil {
			return
		}
		if len(k.Modulus) != int(rec[19]) || k.PublicKey.Check() != nil {
			t.Fatalf("accepted a %d-byte key, certificate says %d", len(k.Modulus), rec[19])
		}
		_, _ = k.PANDigits()
		_ = k.MatchesPAN("4761739001010119")
		_, _ = k.Expiry.ExpiredOn([]byte{0x25, 0x01, 0x01})
	})
}

func FuzzParseSSAD(f *testing.F) {
	ca := lookup(f, loadTestCAPKs(f), "A000000003", 0x94)
	ipk, err := RecoverIssuerPublicKey(ca.PublicKey, testhex.Must(visaIssuerCert), nil, []byte{3})
	if err != nil {
		f.Fatal(err)
	}
	for _, rec := range recoveredSeeds(f, ipk.PublicKey, visaSSAD) {
		f.Add(rec, []byte{}, true)
		f.Add(rec, []byte{}, false)
	}
	f.Fuzz(func(t *testing.T, rec, static []byte, verifyHash bool) {
		if checkEnvelope(rec, FormatSSAD) != nil {
			return
		}
		s, err := parseSSAD(rec, static, verifyHash)
		if err != nil {
			return
		}
		if verifyHash && s.HashAlgorithm != HashSHA1 {
			t.Fatal("accepted another hash algorithm")
		}
	})
}

func FuzzParseSDAD(f *testing.F) {
	for _, c := range []struct{ key, sig, term string }{
		{visaICCModulus, visaSDAD, "7FBC4049"},
		{mcICCModulus, mcSDAD, "8B55633B"},
	} {
		k := PublicKey{Modulus: testhex.Must(c.key), Exponent: []byte{3}}
		for _, rec := range recoveredSeeds(f, k, c.sig) {
			f.Add(rec, testhex.Must(c.term))
		}
	}
	f.Fuzz(func(t *testing.T, rec, terminal []byte) {
		if checkEnvelope(rec, FormatSDAD) != nil {
			return
		}
		d, err := parseSDAD(rec)
		if err != nil {
			return
		}
		if len(d.ICCDynamicData) != int(rec[3]) || len(d.ICCDynamicData) > len(rec)-25 {
			t.Fatalf("dynamic data of %d bytes, length byte %d", len(d.ICCDynamicData), rec[3])
		}
		if n := d.ICCDynamicNumber; n != nil && (len(n) < 2 || len(n) > 8) {
			t.Fatalf("dynamic number of %d bytes", len(n))
		}
		_ = checkHash(rec, d.HashAlgorithm, terminal)
		if d.parseCDA() == nil && (len(d.AC) != ACLen || len(d.TxnDataHash) != 20) {
			t.Fatal("CDA fields of the wrong length")
		}
	})
}

// The whole recovery path under a real key: any bytes as a certificate
// and signatures of chosen records (the fuzzer's record is signed first,
// when it is below the modulus, so that recovery reaches the parser).
func FuzzRecoverUnderKey(f *testing.F) {
	k := fuzzCAKey(f)
	issuer, err := GenerateKey(seeded(78), 512, 3)
	if err != nil {
		f.Fatal(err)
	}
	cert, rem, err := SignIssuerCert(k, &IssuerPublicKey{PublicKey: issuer.PublicKey, IssuerID: [4]byte{0x47, 0x61, 0x73, 0xFF}, Expiry: MonthYear{0x12, 0x30}})
	if err != nil {
		f.Fatal(err)
	}
	rec, _ := k.PublicKey.Recover(cert)
	f.Add(cert, rem, []byte{3}, false)
	f.Add(rec, rem, []byte{3}, true)
	f.Add([]byte{}, []byte{}, []byte{}, false)
	f.Fuzz(func(t *testing.T, data, remainder, exponent []byte, signFirst bool) {
		if signFirst {
			if len(data) != len(k.Modulus) {
				return
			}
			s, err := k.sign(data)
			if err != nil {
				return
			}
			data = s
		}
		for _, format := range []byte{FormatIssuerCert, FormatSSAD, FormatICCCert, FormatSDAD} {
			var err error
			switch format {
			case FormatIssuerCert:
				_, err = RecoverIssuerPublicKey(k.PublicKey, data, remainder, exponent)
			case FormatSSAD:
				_, err = VerifySSAD(k.PublicKey, data, remainder)
			case FormatICCCert:
				_, err = RecoverICCPublicKey(k.PublicKey, data, remainder, exponent, nil)
			case FormatSDAD:
				_, err = VerifySDAD(k.PublicKey, data, remainder)
				if err == nil {
					_, err = VerifyCDA(k.PublicKey, data, exponent)
				}
			}
			if err != nil && !isOurs(err) {
				t.Fatalf("format %02X: untyped error %v", format, err)
			}
		}
	})
}

// isOurs reports whether err wraps one of the package's sentinels.
func isOurs(err error) bool {
	for _, e := range []error{ErrKeyLength, ErrPAN, ErrMethod, ErrFieldLength, ErrCryptogram, ErrPublicKey,
		ErrSignatureLength, ErrRecovery, ErrFormat, ErrAlgorithm, ErrHash, ErrRemainder, ErrExponent,
		ErrDynamicData, ErrDate, ErrCAPK, ErrCAPKNotFound, ErrCAPKFile, ErrSign} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Keys accepted from a file survive a write and a read unchanged.
func FuzzParseCAPKFile(f *testing.F) {
	f.Add([]byte(`{"capks":[]}`))
	f.Add([]byte(`{"capks":[{"rid":"A000000003","index":"99","modulus":"AB","exponent":"03","checksum":"4ABFFD6B1C51212D05552E431C5B17007D2F5E6D","expiry":"2030-01-31"}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := ParseCAPKFile(data)
		if err != nil {
			if !errors.Is(err, ErrCAPKFile) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		out, err := EncodeCAPKFile(keys)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseCAPKFile(out)
		if err != nil || len(again) != len(keys) {
			t.Fatalf("re-read: %v", err)
		}
		for i := range keys {
			a, b := keys[i], again[i]
			if a.RID != b.RID || a.Index != b.Index || !bytes.Equal(a.Modulus, b.Modulus) ||
				!bytes.Equal(a.Exponent, b.Exponent) || !bytes.Equal(a.Checksum, b.Checksum) ||
				a.HashAlgorithm != b.HashAlgorithm || !a.Expiry.Equal(b.Expiry) {
				t.Fatalf("key %d changed", i)
			}
		}
		s := NewCAPKStore()
		_ = s.LoadJSON(data)
	})
}
