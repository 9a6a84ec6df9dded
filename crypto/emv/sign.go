package emv

import (
	"bytes"
	"crypto/sha1"
	"fmt"
	"io"
	"math/big"
	"time"
)

// PrivateKey is an RSA private key of the signing side: the test CA, the
// simulated issuers and the simulated cards. It computes with math/big,
// which is not constant time: never a production key.
type PrivateKey struct {
	PublicKey
	// D is the private exponent, big-endian.
	D []byte
	// P and Q are the prime factors; when both are set, signing uses the
	// Chinese remainder theorem.
	P, Q []byte
}

// GenerateKey makes an RSA key of bits bits (a multiple of 8, 512 to
// 1984) with public exponent 3 or 65537, drawing every random byte from
// random, so that a deterministic reader (a seeded math/rand/v2 ChaCha8,
// for instance) gives the same key on every run; the simulator uses that
// to keep its test CA stable. The modulus has exactly bits bits.
func GenerateKey(random io.Reader, bits, exponent int) (*PrivateKey, error) {
	if bits%8 != 0 || bits < 8*MinModulusLen || bits > 8*MaxModulusLen {
		return nil, fmt.Errorf("%w: key size %d bits, want a multiple of 8 from %d to %d", ErrSign, bits, 8*MinModulusLen, 8*MaxModulusLen)
	}
	var eb []byte
	switch exponent {
	case 3:
		eb = []byte{3}
	case 65537:
		eb = []byte{1, 0, 1}
	default:
		return nil, fmt.Errorf("%w: exponent %d, want 3 or 65537", ErrSign, exponent)
	}
	e := big.NewInt(int64(exponent))
	one := big.NewInt(1)
	for {
		p, err := genPrime(random, (bits+1)/2, e)
		if err != nil {
			return nil, err
		}
		q, err := genPrime(random, bits/2, e)
		if err != nil {
			return nil, err
		}
		if p.Cmp(q) == 0 {
			continue
		}
		if p.Cmp(q) < 0 {
			p, q = q, p
		}
		n := new(big.Int).Mul(p, q)
		if n.BitLen() != bits {
			continue
		}
		p1 := new(big.Int).Sub(p, one)
		q1 := new(big.Int).Sub(q, one)
		g := new(big.Int).GCD(nil, nil, p1, q1)
		lambda := new(big.Int).Div(new(big.Int).Mul(p1, q1), g)
		d := new(big.Int).ModInverse(e, lambda)
		if d == nil {
			continue
		}
		mod := make([]byte, bits/8)
		n.FillBytes(mod)
		return &PrivateKey{
			PublicKey: PublicKey{Modulus: mod, Exponent: eb},
			D:         d.Bytes(),
			P:         p.Bytes(),
			Q:         q.Bytes(),
		}, nil
	}
}

// genPrime returns a prime of exactly bits bits, its two top bits set,
// with p-1 prime to e (e is prime), read from random.
func genPrime(random io.Reader, bits int, e *big.Int) (*big.Int, error) {
	buf := make([]byte, (bits+7)/8)
	excess := uint(8*len(buf) - bits)
	one := big.NewInt(1)
	r := new(big.Int)
	for {
		if _, err := io.ReadFull(random, buf); err != nil {
			return nil, fmt.Errorf("%w: reading random bytes: %v", ErrSign, err)
		}
		buf[0] &= 0xFF >> excess
		// The top two bits make p*q exactly as long as the two primes.
		if excess <= 6 {
			buf[0] |= 0xC0 >> excess
		} else {
			buf[0] |= 1
			buf[1] |= 0x80
		}
		buf[len(buf)-1] |= 1
		p := new(big.Int).SetBytes(buf)
		for delta := 0; delta < 1<<16; delta += 2 {
			if p.BitLen() != bits {
				break
			}
			if r.Mod(new(big.Int).Sub(p, one), e).Sign() != 0 && p.ProbablyPrime(20) {
				return p, nil
			}
			p.Add(p, big.NewInt(2))
		}
	}
}

// sign is the raw private-key operation m^d mod n, checked by recovering
// it with the public key (a key whose parts do not match is ErrSign).
func (k *PrivateKey) sign(m []byte) ([]byte, error) {
	if k == nil {
		return nil, fmt.Errorf("%w: no key", ErrSign)
	}
	if err := k.PublicKey.Check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSign, err)
	}
	if len(m) != len(k.Modulus) || len(k.D) == 0 {
		return nil, fmt.Errorf("%w: %d bytes for a %d-byte modulus", ErrSign, len(m), len(k.Modulus))
	}
	n := new(big.Int).SetBytes(k.Modulus)
	x := new(big.Int).SetBytes(m)
	if x.Cmp(n) >= 0 {
		return nil, fmt.Errorf("%w: message not below the modulus", ErrSign)
	}
	d := new(big.Int).SetBytes(k.D)
	var s *big.Int
	if len(k.P) > 0 && len(k.Q) > 0 {
		s = crt(x, d, new(big.Int).SetBytes(k.P), new(big.Int).SetBytes(k.Q))
	}
	if s == nil {
		s = new(big.Int).Exp(x, d, n)
	}
	out := make([]byte, len(k.Modulus))
	if s.Sign() < 0 || s.Cmp(n) >= 0 {
		return nil, fmt.Errorf("%w: private key does not match its modulus", ErrSign)
	}
	s.FillBytes(out)
	back, err := k.PublicKey.Recover(out)
	if err != nil || !bytes.Equal(back, m) {
		return nil, fmt.Errorf("%w: private key does not match its public key", ErrSign)
	}
	return out, nil
}

// crt computes x^d mod pq from its residues; nil when p or q is unusable.
func crt(x, d, p, q *big.Int) *big.Int {
	one := big.NewInt(1)
	if p.Cmp(one) <= 0 || q.Cmp(one) <= 0 {
		return nil
	}
	qinv := new(big.Int).ModInverse(q, p)
	if qinv == nil {
		return nil
	}
	dp := new(big.Int).Mod(d, new(big.Int).Sub(p, one))
	dq := new(big.Int).Mod(d, new(big.Int).Sub(q, one))
	m1 := new(big.Int).Exp(new(big.Int).Mod(x, p), dp, p)
	m2 := new(big.Int).Exp(new(big.Int).Mod(x, q), dq, q)
	h := m1.Sub(m1, m2)
	h.Mul(h, qinv)
	h.Mod(h, p)
	return h.Mul(h, q).Add(h, m2)
}

// seal fills in the hash of rec's signed fields and extra, then signs.
func (k *PrivateKey) seal(rec []byte, extra ...[]byte) ([]byte, error) {
	n := len(rec)
	h := sha1.New()
	h.Write(rec[1 : n-1-hashLen])
	for _, e := range extra {
		h.Write(e)
	}
	copy(rec[n-1-hashLen:n-1], h.Sum(nil))
	return k.sign(rec)
}

// newRecord returns a record as long as the signer's modulus with header,
// format and trailer set and pad bytes between.
func newRecord(signer *PrivateKey, format byte) ([]byte, error) {
	if signer == nil {
		return nil, fmt.Errorf("%w: no signing key", ErrSign)
	}
	if err := signer.PublicKey.Check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSign, err)
	}
	rec := bytes.Repeat([]byte{padByte}, len(signer.Modulus))
	rec[0] = recoveredHeader
	rec[1] = format
	rec[len(rec)-1] = recoveredTrailer
	return rec, nil
}

// certKey writes a certified key into the key field of rec and returns
// the remainder.
func certKey(field []byte, key PublicKey) []byte {
	if len(key.Modulus) <= len(field) {
		copy(field, key.Modulus)
		return nil
	}
	copy(field, key.Modulus)
	return append([]byte(nil), key.Modulus[len(field):]...)
}

func orDefault(b byte) byte {
	if b == 0 {
		return 0x01
	}
	return b
}

// SignIssuerCert makes the issuer public key certificate (format 02) of
// ipk under the CA key: ipk's modulus, exponent, IssuerID, Expiry and
// SerialNumber (HashAlgorithm and PKAlgorithm 0 mean 01). It returns the
// certificate (tag 90) and the remainder (tag 92; nil when the key fits
// in the certificate).
func SignIssuerCert(ca *PrivateKey, ipk *IssuerPublicKey) (cert, remainder []byte, err error) {
	rec, err := newRecord(ca, FormatIssuerCert)
	if err != nil {
		return nil, nil, err
	}
	if ipk == nil {
		return nil, nil, fmt.Errorf("%w: no issuer key", ErrSign)
	}
	if err := ipk.PublicKey.Check(); err != nil {
		return nil, nil, fmt.Errorf("%w: issuer key: %w", ErrSign, err)
	}
	n := len(rec)
	if len(ipk.Modulus) > n {
		return nil, nil, fmt.Errorf("%w: %d-byte issuer key under a %d-byte CA key", ErrSign, len(ipk.Modulus), n)
	}
	copy(rec[2:6], ipk.IssuerID[:])
	copy(rec[6:8], ipk.Expiry[:])
	copy(rec[8:11], ipk.SerialNumber[:])
	rec[11] = orDefault(ipk.HashAlgorithm)
	rec[12] = orDefault(ipk.PKAlgorithm)
	rec[13] = byte(len(ipk.Modulus))
	rec[14] = byte(len(ipk.Exponent))
	remainder = certKey(rec[15:n-1-hashLen], ipk.PublicKey)
	cert, err = ca.seal(rec, remainder, ipk.Exponent)
	if err != nil {
		return nil, nil, err
	}
	return cert, remainder, nil
}

// SignICCCert makes the ICC public key certificate (format 04) of icc
// under the issuer key, over staticData, the static data to be
// authenticated. It returns the certificate (tag 9F46) and the remainder
// (tag 9F48; nil when the key fits).
func SignICCCert(issuer *PrivateKey, icc *ICCPublicKey, staticData []byte) (cert, remainder []byte, err error) {
	rec, err := newRecord(issuer, FormatICCCert)
	if err != nil {
		return nil, nil, err
	}
	if icc == nil {
		return nil, nil, fmt.Errorf("%w: no ICC key", ErrSign)
	}
	if err := icc.PublicKey.Check(); err != nil {
		return nil, nil, fmt.Errorf("%w: ICC key: %w", ErrSign, err)
	}
	n := len(rec)
	if len(icc.Modulus) > n {
		return nil, nil, fmt.Errorf("%w: %d-byte ICC key under a %d-byte issuer key", ErrSign, len(icc.Modulus), n)
	}
	copy(rec[2:12], icc.PAN[:])
	copy(rec[12:14], icc.Expiry[:])
	copy(rec[14:17], icc.SerialNumber[:])
	rec[17] = orDefault(icc.HashAlgorithm)
	rec[18] = orDefault(icc.PKAlgorithm)
	rec[19] = byte(len(icc.Modulus))
	rec[20] = byte(len(icc.Exponent))
	remainder = certKey(rec[21:n-1-hashLen], icc.PublicKey)
	cert, err = issuer.seal(rec, remainder, icc.Exponent, staticData)
	if err != nil {
		return nil, nil, err
	}
	return cert, remainder, nil
}

// SignSSAD makes Signed Static Application Data (format 03, tag 93) with
// the data authentication code dac over staticData.
func SignSSAD(issuer *PrivateKey, dac [2]byte, staticData []byte) ([]byte, error) {
	rec, err := newRecord(issuer, FormatSSAD)
	if err != nil {
		return nil, err
	}
	rec[2] = HashSHA1
	copy(rec[3:5], dac[:])
	return issuer.seal(rec, staticData)
}

// SignSDAD makes Signed Dynamic Application Data (format 05, tag 9F4B)
// carrying iccDynamicData (normally the ICC dynamic number's length, then
// the number) over terminalData (the DDOL data values). The ICC dynamic
// data must fit: at most the ICC modulus length minus 25 bytes.
func SignSDAD(icc *PrivateKey, iccDynamicData, terminalData []byte) ([]byte, error) {
	rec, err := newRecord(icc, FormatSDAD)
	if err != nil {
		return nil, err
	}
	if len(iccDynamicData) > len(rec)-25 {
		return nil, fmt.Errorf("%w: %d bytes of ICC dynamic data in a %d-byte signature", ErrSign, len(iccDynamicData), len(rec))
	}
	rec[2] = HashSHA1
	rec[3] = byte(len(iccDynamicData))
	copy(rec[4:], iccDynamicData)
	return icc.seal(rec, terminalData)
}

// SignCDA makes the Signed Dynamic Application Data of a GENERATE AC
// response under CDA: the ICC dynamic data is built from
// d.ICCDynamicNumber (2 to 8 bytes), d.CID, d.AC (8 bytes) and
// d.TxnDataHash (20 bytes; see CDATransactionDataHash), and signed with
// the 4-byte unpredictable number un. d.ICCDynamicData is ignored.
func SignCDA(icc *PrivateKey, d *DynamicData, un []byte) ([]byte, error) {
	if d == nil {
		return nil, fmt.Errorf("%w: no dynamic data", ErrSign)
	}
	if l := len(d.ICCDynamicNumber); l < 2 || l > 8 {
		return nil, fmt.Errorf("%w: ICC dynamic number is %d bytes, want 2 to 8", ErrSign, l)
	}
	if len(d.AC) != ACLen || len(d.TxnDataHash) != hashLen || len(un) != 4 {
		return nil, fmt.Errorf("%w: AC, transaction data hash or unpredictable number of the wrong length", ErrSign)
	}
	dd := make([]byte, 0, 1+len(d.ICCDynamicNumber)+1+ACLen+hashLen)
	dd = append(dd, byte(len(d.ICCDynamicNumber)))
	dd = append(dd, d.ICCDynamicNumber...)
	dd = append(dd, d.CID)
	dd = append(dd, d.AC...)
	dd = append(dd, d.TxnDataHash...)
	return SignSDAD(icc, dd, un)
}

// TestCA is a certification authority for tests and the simulator: a key
// pair under a RID and index, with the CAPK the terminal loads.
type TestCA struct {
	RID    [5]byte
	Index  byte
	Key    *PrivateKey
	Expiry time.Time
}

// NewTestCA generates a test CA key (see GenerateKey for random, bits and
// exponent).
func NewTestCA(random io.Reader, rid [5]byte, index byte, bits, exponent int) (*TestCA, error) {
	k, err := GenerateKey(random, bits, exponent)
	if err != nil {
		return nil, err
	}
	return &TestCA{RID: rid, Index: index, Key: k}, nil
}

// CAPK returns the CA public key with its checksum, as a terminal loads it.
func (ca *TestCA) CAPK() CAPK {
	k := CAPK{
		RID:           ca.RID,
		Index:         ca.Index,
		PublicKey:     PublicKey{Modulus: bytes.Clone(ca.Key.Modulus), Exponent: bytes.Clone(ca.Key.Exponent)},
		HashAlgorithm: HashSHA1,
		Expiry:        ca.Expiry,
	}
	k.Checksum = k.ComputeChecksum()
	return k
}

// SignIssuerCert certifies an issuer key under the CA (see the function
// SignIssuerCert).
func (ca *TestCA) SignIssuerCert(ipk *IssuerPublicKey) (cert, remainder []byte, err error) {
	return SignIssuerCert(ca.Key, ipk)
}

// IssuerIDFromPAN returns the issuer identifier of a certificate: the
// leftmost digits (3 to 8) of pan, BCD, right padded with F.
func IssuerIDFromPAN(pan string, digits int) ([4]byte, error) {
	var id [4]byte
	if digits < 3 || digits > 8 {
		return id, fmt.Errorf("%w: issuer identifier of %d digits, want 3 to 8", ErrPAN, digits)
	}
	if err := checkPAN(pan); err != nil || len(pan) < digits {
		return id, fmt.Errorf("%w: PAN shorter than the issuer identifier or not digits", ErrPAN)
	}
	packCN(id[:], pan[:digits])
	return id, nil
}

// PANField returns the PAN of an ICC certificate: BCD, right padded with
// F to 10 bytes.
func PANField(pan string) ([10]byte, error) {
	var f [10]byte
	if err := checkPAN(pan); err != nil {
		return f, err
	}
	packCN(f[:], pan)
	return f, nil
}

// packCN writes digits as compressed numeric, F padded, into dst.
func packCN(dst []byte, digits string) {
	for i := range dst {
		dst[i] = 0xFF
	}
	for i := 0; i < len(digits); i++ {
		v := digits[i] - '0'
		if i%2 == 0 {
			dst[i/2] = v<<4 | 0x0F
		} else {
			dst[i/2] = dst[i/2]&0xF0 | v
		}
	}
}
