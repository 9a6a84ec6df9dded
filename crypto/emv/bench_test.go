package emv

import (
	"strconv"
	"testing"

	"posd/internal/testhex"
)

// The kernel's budget is 2 ms of CPU for a whole contactless transaction.
// Its cryptography is at most: the issuer and ICC certificates, one SDAD
// (CDA or fDDA); the card simulator and the issuer add a session key and
// an AC or two. The certificates are those of the published Visa chain
// (CA 1984 bits, issuer and ICC 1408 bits, exponent 3) and a 1984-bit
// chain with exponent 65537, the slowest EMV allows.

func BenchmarkGenerateAC(b *testing.B) {
	mk := testhex.Must("0123456789ABCDEFFEDCBA9876543210")
	data := testhex.Must("000000004000000000000000012480000480000124191105015" + "2BF45851800001C06011203A0B800")
	b.Run("session-key+AC", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sk, err := DeriveSessionKey(SKDCommon, mk, []byte{0, 0x1C}, nil)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := GenerateAC(sk, data, Padding2); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AC", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := GenerateAC(mk, data, Padding2); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ARPC1", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ARPCMethod1(mk, data[:8], data[8:10]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRecovery(b *testing.B) {
	ca := lookup(b, loadTestCAPKs(b), "A000000003", 0x94)
	e3 := []byte{3}
	ipk, err := RecoverIssuerPublicKey(ca.PublicKey, testhex.Must(visaIssuerCert), nil, e3)
	if err != nil {
		b.Fatal(err)
	}
	rem := testhex.Must(visaICCRemainder)
	icc, err := recoverICC(ipk.PublicKey, testhex.Must(visaICCCert), rem, e3, nil, false)
	if err != nil {
		b.Fatal(err)
	}
	cert, iccCert, sdad := testhex.Must(visaIssuerCert), testhex.Must(visaICCCert), testhex.Must(visaSDAD)
	ddol := testhex.Must("7FBC4049")
	b.Run("issuer-cert/1984/e3", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := RecoverIssuerPublicKey(ca.PublicKey, cert, nil, e3); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("icc-cert/1408/e3", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := recoverICC(ipk.PublicKey, iccCert, rem, e3, nil, false); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sdad/1408/e3", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := VerifySDAD(icc.PublicKey, sdad, ddol); err != nil {
				b.Fatal(err)
			}
		}
	})

	// A 1984-bit chain with exponent 65537 everywhere.
	caKey, err := GenerateKey(seeded(90), 1984, 65537)
	if err != nil {
		b.Fatal(err)
	}
	issKey, err := GenerateKey(seeded(91), 1984, 65537)
	if err != nil {
		b.Fatal(err)
	}
	iccKey, err := GenerateKey(seeded(92), 1984, 65537)
	if err != nil {
		b.Fatal(err)
	}
	static := testhex.Must("5A0847617390010101195F24032512317C00")
	c1, r1, err := SignIssuerCert(caKey, &IssuerPublicKey{PublicKey: issKey.PublicKey})
	if err != nil {
		b.Fatal(err)
	}
	c2, r2, err := SignICCCert(issKey, &ICCPublicKey{PublicKey: iccKey.PublicKey}, static)
	if err != nil {
		b.Fatal(err)
	}
	un := testhex.Must("8B55633B")
	dd := &DynamicData{ICCDynamicNumber: make([]byte, 8), AC: make([]byte, 8), TxnDataHash: make([]byte, 20)}
	c3, err := SignCDA(iccKey, dd, un)
	if err != nil {
		b.Fatal(err)
	}
	e := []byte{1, 0, 1}
	b.Run("chain+CDA/1984/e65537", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ik, err := RecoverIssuerPublicKey(caKey.PublicKey, c1, r1, e)
			if err != nil {
				b.Fatal(err)
			}
			ck, err := RecoverICCPublicKey(ik.PublicKey, c2, r2, e, static)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := VerifyCDA(ck.PublicKey, c3, un); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("chain+DDA/published-visa/e3", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ik, err := RecoverIssuerPublicKey(ca.PublicKey, cert, nil, e3)
			if err != nil {
				b.Fatal(err)
			}
			ck, err := recoverICC(ik.PublicKey, iccCert, rem, e3, nil, false)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := VerifySDAD(ck.PublicKey, sdad, ddol); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// The card simulator's side: one CDA signature with a 1024-bit ICC key
// (CRT), and a 1984-bit one.
func BenchmarkSignCDA(b *testing.B) {
	for _, bits := range []int{1024, 1984} {
		k, err := GenerateKey(seeded(byte(bits)), bits, 3)
		if err != nil {
			b.Fatal(err)
		}
		dd := &DynamicData{ICCDynamicNumber: make([]byte, 8), AC: make([]byte, 8), TxnDataHash: make([]byte, 20)}
		un := []byte{1, 2, 3, 4}
		b.Run(strconv.Itoa(bits), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := SignCDA(k, dd, un); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
