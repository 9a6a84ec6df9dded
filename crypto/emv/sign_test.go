package emv

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"math/big"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"posd/internal/testhex"
)

// The signing side has no published vectors (no one publishes private
// keys of a CA). It is proven three ways: key generation and the private
// key operation against crypto/rsa (Validate, and PKCS #1 v1.5 signatures
// compared byte for byte with the raw operation over the same encoded
// block); every format against a record built in the test straight from
// the tables of book 2, recovered with a plain big.Int exponentiation;
// and every format by round trip through the verifying side, whose own
// correctness the published vectors of vectors_test.go prove.

// seeded returns a deterministic random source.
func seeded(seed byte) *rand.ChaCha8 { return rand.NewChaCha8([32]byte{seed}) }

// testPKI is one chain: a 1152-bit CA (exponent 3), a 1024-bit issuer
// (65537, with a remainder under the CA), a 768-bit issuer (fits without
// remainder) and a 768-bit ICC key (3, with a remainder under the
// 1024-bit issuer).
type testPKI struct {
	ca          *TestCA
	issuer      *PrivateKey
	smallIssuer *PrivateKey
	icc         *PrivateKey
}

var (
	pkiOnce sync.Once
	pki     testPKI
	pkiErr  error
)

func getPKI(t testing.TB) testPKI {
	t.Helper()
	pkiOnce.Do(func() {
		pki.ca, pkiErr = NewTestCA(seeded(1), [5]byte{0xA0, 0, 0, 0, 0x99}, 0xE1, 1152, 3)
		if pkiErr != nil {
			return
		}
		if pki.issuer, pkiErr = GenerateKey(seeded(2), 1024, 65537); pkiErr != nil {
			return
		}
		if pki.smallIssuer, pkiErr = GenerateKey(seeded(3), 768, 3); pkiErr != nil {
			return
		}
		pki.icc, pkiErr = GenerateKey(seeded(4), 768, 3)
	})
	if pkiErr != nil {
		t.Fatal(pkiErr)
	}
	return pki
}

func toRSA(k *PrivateKey) *rsa.PrivateKey {
	e := new(big.Int).SetBytes(k.Exponent)
	return &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{N: new(big.Int).SetBytes(k.Modulus), E: int(e.Int64())},
		D:         new(big.Int).SetBytes(k.D),
		Primes:    []*big.Int{new(big.Int).SetBytes(k.P), new(big.Int).SetBytes(k.Q)},
	}
}

func TestGenerateKeyAgainstCryptoRSA(t *testing.T) {
	for _, c := range []struct{ bits, e int }{{512, 3}, {768, 65537}, {1000, 3}, {1024, 65537}, {1408, 3}} {
		k, err := GenerateKey(seeded(byte(c.bits)), c.bits, c.e)
		if err != nil {
			t.Fatal(err)
		}
		if len(k.Modulus) != c.bits/8 || new(big.Int).SetBytes(k.Modulus).BitLen() != c.bits {
			t.Errorf("%d bits: modulus of %d bytes", c.bits, len(k.Modulus))
		}
		if err := k.PublicKey.Check(); err != nil {
			t.Errorf("%d bits: %v", c.bits, err)
		}
		if err := toRSA(k).Validate(); err != nil {
			t.Errorf("%d bits, e=%d: crypto/rsa rejects the key: %v", c.bits, c.e, err)
		}
		again, err := GenerateKey(seeded(byte(c.bits)), c.bits, c.e)
		if err != nil || !bytes.Equal(again.Modulus, k.Modulus) || !bytes.Equal(again.D, k.D) {
			t.Errorf("%d bits: not deterministic", c.bits)
		}
	}
	for _, c := range []struct{ bits, e int }{{1020, 3}, {504, 3}, {1992, 3}, {1024, 5}, {1024, 17}} {
		if _, err := GenerateKey(seeded(9), c.bits, c.e); !errors.Is(err, ErrSign) {
			t.Errorf("GenerateKey(%d, %d): %v", c.bits, c.e, err)
		}
	}
}

// The raw private-key operation equals crypto/rsa's PKCS #1 v1.5
// signature of the same digest, which is that operation over the encoded
// block 00 01 FF..FF 00 DigestInfo hash (RFC 8017 section 9.2).
func TestRawSignAgainstCryptoRSA(t *testing.T) {
	p := getPKI(t)
	digest := sha256.Sum256([]byte("posd"))
	prefix := testhex.Must("3031300d060960864801650304020105000420")
	for _, k := range []*PrivateKey{p.issuer, p.ca.Key} {
		want, err := rsa.SignPKCS1v15(nil, toRSA(k), crypto.SHA256, digest[:])
		if err != nil {
			t.Logf("crypto/rsa declines a %d-bit key with e=%X (%v); skipped", 8*len(k.Modulus), k.Exponent, err)
			continue
		}
		em := make([]byte, len(k.Modulus))
		em[1] = 0x01
		tail := append(append([]byte{}, prefix...), digest[:]...)
		for i := 2; i < len(em)-len(tail)-1; i++ {
			em[i] = 0xFF
		}
		copy(em[len(em)-len(tail):], tail)
		for _, crt := range []bool{true, false} {
			kk := *k
			if !crt {
				kk.P, kk.Q = nil, nil
			}
			got, err := kk.sign(em)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%d-bit key (CRT %v): raw signature differs from crypto/rsa", 8*len(k.Modulus), crt)
			}
		}
	}
}

// textbook recovers sig with a plain big.Int exponentiation.
func textbook(t *testing.T, k PublicKey, sig []byte) []byte {
	t.Helper()
	n := new(big.Int).SetBytes(k.Modulus)
	m := new(big.Int).Exp(new(big.Int).SetBytes(sig), new(big.Int).SetBytes(k.Exponent), n)
	out := make([]byte, len(k.Modulus))
	m.FillBytes(out)
	return out
}

// record builds recovered data as book 2 lays it out: header 6A, the
// fields, pad BB to the length, the SHA-1 of fields-and-pad (without the
// header) followed by extra, and trailer BC.
func record(size int, fields []byte, extra ...[]byte) []byte {
	body := append([]byte{}, fields...)
	for len(body) < size-22 {
		body = append(body, 0xBB)
	}
	h := sha1.New()
	h.Write(body)
	for _, e := range extra {
		h.Write(e)
	}
	out := append([]byte{0x6A}, body...)
	out = h.Sum(out)
	return append(out, 0xBC)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestSignIssuerCertFormat(t *testing.T) {
	p := getPKI(t)
	for _, issuer := range []*PrivateKey{p.issuer, p.smallIssuer} {
		id, err := IssuerIDFromPAN("5413330089020011", 6)
		if err != nil {
			t.Fatal(err)
		}
		ipk := &IssuerPublicKey{PublicKey: issuer.PublicKey, IssuerID: id, Expiry: MonthYear{0x12, 0x30}, SerialNumber: [3]byte{0, 0, 7}}
		cert, rem, err := p.ca.SignIssuerCert(ipk)
		if err != nil {
			t.Fatal(err)
		}
		nca := len(p.ca.Key.Modulus)
		room := nca - 36
		var field, wantRem []byte
		if len(issuer.Modulus) > room {
			field, wantRem = issuer.Modulus[:room], issuer.Modulus[room:]
		} else {
			field = issuer.Modulus
		}
		if !bytes.Equal(rem, wantRem) {
			t.Errorf("remainder %X, want %X", rem, wantRem)
		}
		want := record(nca, cat([]byte{0x02}, testhex.Must("541333FF"), []byte{0x12, 0x30, 0, 0, 7, 1, 1,
			byte(len(issuer.Modulus)), byte(len(issuer.Exponent))}, field), wantRem, issuer.Exponent)
		if got := textbook(t, p.ca.Key.PublicKey, cert); !bytes.Equal(got, want) {
			t.Errorf("recovered\n%X\nwant\n%X", got, want)
		}
		back, err := RecoverIssuerPublicKey(p.ca.CAPK().PublicKey, cert, rem, issuer.Exponent)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(back.Modulus, issuer.Modulus) || back.IssuerID != id || back.SerialNumber != ipk.SerialNumber || !back.MatchesPAN("5413330089020011") {
			t.Errorf("round trip %+v", back)
		}
	}
}

func TestSignICCChainRoundTrip(t *testing.T) {
	p := getPKI(t)
	static := testhex.Must("5A085413330089020011" + "5F2403251231" + "5F340101" + "7C00")
	pan, err := PANField("5413330089020011")
	if err != nil {
		t.Fatal(err)
	}
	icc := &ICCPublicKey{PublicKey: p.icc.PublicKey, PAN: pan, Expiry: MonthYear{0x12, 0x28}, SerialNumber: [3]byte{1, 2, 3}}
	cert, rem, err := SignICCCert(p.issuer, icc, static)
	if err != nil {
		t.Fatal(err)
	}
	ni := len(p.issuer.Modulus)
	room := ni - 42
	if !bytes.Equal(rem, p.icc.Modulus[room:]) {
		t.Fatalf("remainder %X", rem)
	}
	want := record(ni, cat([]byte{0x04}, pan[:], []byte{0x12, 0x28, 1, 2, 3, 1, 1, 96, 1}, p.icc.Modulus[:room]), rem, p.icc.Exponent, static)
	if got := textbook(t, p.issuer.PublicKey, cert); !bytes.Equal(got, want) {
		t.Errorf("recovered\n%X\nwant\n%X", got, want)
	}
	back, err := RecoverICCPublicKey(p.issuer.PublicKey, cert, rem, p.icc.Exponent, static)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Modulus, p.icc.Modulus) || !back.MatchesPAN("5413330089020011") || back.Expiry != icc.Expiry {
		t.Errorf("round trip %+v", back)
	}
	// The static data is in the hash: one byte changed fails.
	other := bytes.Clone(static)
	other[len(other)-1] ^= 1
	if _, err := RecoverICCPublicKey(p.issuer.PublicKey, cert, rem, p.icc.Exponent, other); !errors.Is(err, ErrHash) {
		t.Errorf("other static data: %v", err)
	}
	// So are the remainder and the exponent.
	if _, err := RecoverICCPublicKey(p.issuer.PublicKey, cert, flipLast(rem), p.icc.Exponent, static); !errors.Is(err, ErrHash) {
		t.Errorf("other remainder: %v", err)
	}
	// A certificate under another key does not open.
	if _, err := RecoverICCPublicKey(p.smallIssuer.PublicKey, cert, rem, p.icc.Exponent, static); err == nil {
		t.Error("opened under another issuer key")
	}

	// SSAD.
	ssad, err := SignSSAD(p.issuer, [2]byte{0xDA, 0xC1}, static)
	if err != nil {
		t.Fatal(err)
	}
	want = record(ni, cat([]byte{0x03, 0x01, 0xDA, 0xC1}), static)
	if got := textbook(t, p.issuer.PublicKey, ssad); !bytes.Equal(got, want) {
		t.Errorf("SSAD recovered\n%X\nwant\n%X", got, want)
	}
	s, err := VerifySSAD(p.issuer.PublicKey, ssad, static)
	if err != nil || s.DAC != [2]byte{0xDA, 0xC1} {
		t.Errorf("SSAD round trip %+v %v", s, err)
	}
	if _, err := VerifySSAD(p.issuer.PublicKey, ssad, other); !errors.Is(err, ErrHash) {
		t.Errorf("SSAD over other data: %v", err)
	}

	// DDA.
	ddol := testhex.Must("7FBC4049" + "000000001000" + "0978")
	sdad, err := SignSDAD(p.icc, testhex.Must("03ABCDEF"), ddol)
	if err != nil {
		t.Fatal(err)
	}
	nic := len(p.icc.Modulus)
	want = record(nic, cat([]byte{0x05, 0x01, 0x04}, testhex.Must("03ABCDEF")), ddol)
	if got := textbook(t, p.icc.PublicKey, sdad); !bytes.Equal(got, want) {
		t.Errorf("SDAD recovered\n%X\nwant\n%X", got, want)
	}
	d, err := VerifySDAD(back.PublicKey, sdad, ddol)
	if err != nil || testhex.Upper(d.ICCDynamicNumber) != "ABCDEF" {
		t.Errorf("SDAD round trip %+v %v", d, err)
	}
	if _, err := VerifyCDA(back.PublicKey, sdad, ddol[:4]); !errors.Is(err, ErrHash) {
		t.Errorf("DDA signature as CDA with another terminal data: %v", err)
	}

	// CDA.
	txn := CDATransactionDataHash(testhex.Must("000000001000"), testhex.Must("0000000010000000000000000978"), nil, testhex.Must("9F2701809F360200019F2608CAFEBABEDEADBEEF"))
	cda := &DynamicData{ICCDynamicNumber: testhex.Must("1122334455667788"), CID: 0x80, AC: testhex.Must("CAFEBABEDEADBEEF"), TxnDataHash: txn}
	un := testhex.Must("8B55633B")
	sig, err := SignCDA(p.icc, cda, un)
	if err != nil {
		t.Fatal(err)
	}
	want = record(nic, cat([]byte{0x05, 0x01, 38, 8}, cda.ICCDynamicNumber, []byte{0x80}, cda.AC, txn), un)
	if got := textbook(t, p.icc.PublicKey, sig); !bytes.Equal(got, want) {
		t.Errorf("CDA recovered\n%X\nwant\n%X", got, want)
	}
	got, err := VerifyCDA(back.PublicKey, sig, un)
	if err != nil {
		t.Fatal(err)
	}
	if got.CID != 0x80 || !bytes.Equal(got.AC, cda.AC) || !bytes.Equal(got.TxnDataHash, txn) || !bytes.Equal(got.ICCDynamicNumber, cda.ICCDynamicNumber) {
		t.Errorf("CDA round trip %+v", got)
	}
	// A DDA signature carries no CDA fields.
	if _, err := VerifyCDA(back.PublicKey, sdad, ddol[:4]); err == nil {
		t.Error("DDA signature accepted as CDA")
	}
	short, err := SignSDAD(p.icc, testhex.Must("0211"), un)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyCDA(back.PublicKey, short, un); !errors.Is(err, ErrDynamicData) {
		t.Errorf("CDA without room for its fields: %v", err)
	}
}

// The transaction data hash is SHA-1 over the parts in order.
func TestCDATransactionDataHash(t *testing.T) {
	a, b, c, d := []byte("pdol"), []byte("cdol1"), []byte("cdol2"), []byte("tlvs")
	want := sha1.Sum([]byte("pdolcdol1cdol2tlvs"))
	if got := CDATransactionDataHash(a, b, c, d); !bytes.Equal(got, want[:]) {
		t.Errorf("%X", got)
	}
}

func TestSignErrors(t *testing.T) {
	p := getPKI(t)
	big := &IssuerPublicKey{PublicKey: p.ca.Key.PublicKey}
	if _, _, err := SignICCCert(p.smallIssuer, &ICCPublicKey{PublicKey: p.issuer.PublicKey}, nil); !errors.Is(err, ErrSign) {
		t.Errorf("ICC key longer than the issuer's: %v", err)
	}
	if _, _, err := SignIssuerCert(p.issuer, big); !errors.Is(err, ErrSign) {
		t.Errorf("issuer key longer than the CA's: %v", err)
	}
	if _, err := SignSDAD(p.icc, make([]byte, len(p.icc.Modulus)-24), nil); !errors.Is(err, ErrSign) {
		t.Errorf("dynamic data too long: %v", err)
	}
	if _, err := SignSDAD(p.icc, make([]byte, len(p.icc.Modulus)-25), nil); err != nil {
		t.Errorf("dynamic data that just fits: %v", err)
	}
	if _, err := SignCDA(p.icc, &DynamicData{ICCDynamicNumber: []byte{1}}, []byte{1, 2, 3, 4}); !errors.Is(err, ErrSign) {
		t.Errorf("CDA with a 1-byte dynamic number: %v", err)
	}
	mismatched := *p.icc
	mismatched.D = p.smallIssuer.D
	mismatched.P, mismatched.Q = nil, nil
	if _, err := SignSSAD(&mismatched, [2]byte{}, nil); !errors.Is(err, ErrSign) {
		t.Errorf("private exponent of another key: %v", err)
	}
	if _, err := SignSSAD(nil, [2]byte{}, nil); !errors.Is(err, ErrSign) {
		t.Errorf("nil key: %v", err)
	}
	if _, _, err := SignIssuerCert(p.ca.Key, nil); !errors.Is(err, ErrSign) {
		t.Errorf("nil issuer key: %v", err)
	}
	if _, err := IssuerIDFromPAN("54", 3); !errors.Is(err, ErrPAN) {
		t.Errorf("short PAN: %v", err)
	}
	if _, err := IssuerIDFromPAN("5413330089020011", 9); !errors.Is(err, ErrPAN) {
		t.Errorf("9-digit issuer identifier: %v", err)
	}
	if _, err := PANField("54133300890200111234"); !errors.Is(err, ErrPAN) {
		t.Errorf("20-digit PAN: %v", err)
	}
}

func TestTestCAPK(t *testing.T) {
	p := getPKI(t)
	ca := *p.ca
	ca.Expiry = time.Date(2031, 12, 31, 0, 0, 0, 0, time.UTC)
	k := ca.CAPK()
	s := NewCAPKStore()
	if err := s.Add(k); err != nil {
		t.Fatal(err)
	}
	file, err := EncodeCAPKFile(s.All())
	if err != nil {
		t.Fatal(err)
	}
	s2 := NewCAPKStore()
	if err := s2.LoadJSON(file); err != nil {
		t.Fatal(err)
	}
	got, err := s2.Lookup(ca.RID[:], ca.Index)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Modulus, ca.Key.Modulus) || !got.Expiry.Equal(ca.Expiry) || got.HashAlgorithm != HashSHA1 {
		t.Errorf("CAPK after the file: %+v", got)
	}
	if got.Expired(time.Date(2031, 12, 31, 23, 0, 0, 0, time.UTC)) || !got.Expired(time.Date(2032, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Error("CAPK expiry")
	}
}
