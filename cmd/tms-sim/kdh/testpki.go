package kdh

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"
)

// The published test keys of the simulated acquirer's PKI. They were made
// once with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`
// and are printed here for anyone to read: they PROTECT NOTHING. A real
// manufacturer CA and KDH keep their keys in HSMs. (They are fixed keys
// rather than keys derived from a seed because crypto/rsa ignores the
// caller's random source since Go 1.26; the effect is the same: every
// build of tms-sim and of the tests has the same CAs.)
//
// The certificates are made from these keys by TestPKI with fixed
// names, serial numbers and validity, and PKCS #1 v1.5 signatures are
// deterministic, so they come out byte for byte the same every time: a
// terminal that pins the test KDH CA (its fingerprint is TestKDHCAFingerprint)
// trusts every tms-sim.
const (
	testManufacturerCAKey = `-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDB4VXZOFQOsqCU
iJ3lCFDkVfx5S6OPXGDzngQNWqY3mMa3tXl5sviuPOfF7Y2Q24GTvDOeGzhwRQpX
iyhIzLeKTv3EZdXf9zEu3JO6vDaTQvkVF+Pj5v2PHHFifYZ5WPOr4pKmhnc96BPF
RturN43J6Aesoo3aY1DrM6cthpDY3OFzc32jN4lOzj3GPJ5Gd+eLDR4fmW/EULcD
wDyOKt++bRBCsDK5ky4cDURiF05zzVqNtQMYudqX+hazdxydinG3gXZRO4JMfviY
PCaKF+wmE1QOBbY3OXsY+JG8hXwstlGSx+sqsoKKnm/jY9O81SuHPfGa0NSVRWVI
RN8Uh9obAgMBAAECggEACuKbXsw+T+rwgBZhgwvh+sfnGmpIPxLJMLRU9uj5fxKZ
SZQrQ01sj9/EhYTOV20zi7db0Isnson1yC98bgXsYhwIPGAZT29B+CcTNj898yul
72y9czyzTLckmIqCo8p+N87LPAU9qaCfh4pwZ98BG25nC+a+fx3nW6U1RCWTeVFo
YRe7KUyZW0TkU7r4KzSARQrDYETquCmQfKNjEvaWIw41nfGXN5WOtyLsFCoWTneC
RBql5CnGqVipRBguvDK1spRnGZ8kbX64HeG3xJHDCJ2I/KxG1JLJKAe/0pfSJi2e
anPOwCiv1mB0NS7WCgrduHM/3fyzs+xAc1R1roCtEQKBgQDmfuUxo78j6NxRDPRY
kmkMQg05iti2gveEea1UQP+3Aum9g4fj8JBne7NFnwSpBSzwYZ23QnyB65c35AAh
uS44G0G21VLMCsCcDxD6Ws1gxopFY0brRdVwvN8UU1ABhABaJe245/NwzYmrGKfT
bCtjnqwAseFAZRz6UEvFdi3OCwKBgQDXVUHIJt3Ba35jpzUB0jTzUfjw7aYctO1P
vyIhJ4R8a8Gdh2D/+s6kw8pO+b86bCtoojwZ//AhdRYw9da6BZ7rbE4aRvsKm0am
hX4hRrxche+Rhb98/rTM+REL+v4dmlwasdHwByj2Ul470x11uxWRjHSO95OWgptm
F715SU5+MQKBgQDaVIzJLnAZlbNLWtgBJf43TEG2pdyNVRUb+R3D1yXhtvKtPu/z
a6V9QGEZq30AlRRyRiTcuC+z6PL+UAwH5Z7wKnFevEaHXBACQwsz+drctnO3Mki1
BxschOtSF3CLXvvuaEr7gUrJKQgkd2BRFf8rh9spdVUGaEDAolqDmmPc7QKBgGn9
Ow3Lo6dKw8FFUh/9WbbSiFf+gZ7rp0tzZtcu3lVnrLtfIW2eBAyxmmjZITkeeRdd
k3uwsH+nZC7hMroJfjme66qfeX21BEd+uaCjcp+QBWV5kdFyhYfGqI9fEal8iw1Q
rWcZ/x2PWXbU6VFDrtAfdFfSoMCatObBlK+YV5xhAoGAPYIVvbu1e2c9Pr6a64Hm
5Gbd0t4rQfh4CPisYJhtWkW0DC9J1Wr49GuxvqIaZIbCexE+52zz4f5It30xxofd
MqOnnRAY3+qfjrjP8nF1xa3Ek0cNe0gUglLhLK24QOCfHsWBIsulUo46BwUEojFj
q1tmYk1PeXCdAOyJEQcT/Ts=
-----END PRIVATE KEY-----`

	testKDHCAKey = `-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQC7jl+I03Sxg6uJ
XSj6VEo6go40M8RwT1p/wAm1vN8ltktsuaAHw9LedUzZzsh19LW6Qc7hyUAaY1Sa
vWmJC/kKN6giBvzEjXJza10eqq+r/t/jJVE6J1IvQnTKGyVsQLLfo9v9pbK2WFa2
nWeD6Uw+RDbwc5ojR8DWUKNjAqTbdAZOALpaDp9NbdTsViv674rV9v/cTp6lqRtT
7ZDhEhx6JQLhBWBwwAgixzOSEaMdbpJrleQUFeSS3Y+JGEHBOJvsSXA/wfhp/qtt
1Ev8j0GOmiz0FevotCkrMxCFY37yzd4KazTpy3efdE2Y5Mk+y5Rf+i8jpSX/+m0c
/YOVhSpRAgMBAAECggEABABdADgasXE9gKTwxRGof8HdszY2uhRHU801QWy+vTkI
noPOhG8XszbncjvCKE1I1akMkK6dfbKiBHPtqeA/UPBJ185njorCAIpi2ZukodPC
bQzHxEJzs2rRWQ2yz7HVq+wwB/C4Dlt2H74RJ+eBs+mUQa8Fs9XJ3G8RMIFgiQbR
1gx/2oBNvPFe9NDFHwgrrtX4bdfieQQLTPayE2iN45y51YzTikbm9J6n5rixyCt5
oDGz4Oh/Kf2zQbpmHDUNaBm5eSpo2UPbzkOl2RE6H8hEz/58sW80ZKgTbNwupt6T
8+mM6keLeBgNCAjnR1tvmKlYvWzcsmF3+tIDVSDtnQKBgQD5+mVIkKom4JOn6RZa
ShrPoGsBljLHC4qOQksWZVoXlX0dP9EAmfZ25CGUwgHfQoJqmainrDdGL8GGN/jn
23hUFMlvH/vQz3W8s6tKfFulco7E9Wckw3+IVdg/4DZVdNbRSWRiPV9OHo0eKG+G
WYUn31XYXO+dW1RgMJ86UKmAmwKBgQDAEwYhz878iUjtvQdKrY4cGb5eUlrqJjNK
3HcdaqYrBOn8ItwSFDm5UdU9J8OBoxr9zlCIND31x4rV03ljmaopF0P0cAbSAzUi
7DU3RbVHCwSrXISKcjunad3k8Y+ul0NSdYl5BqO4yN+CU/G083+qxdMjHNXh1oeE
k4h6tvNBgwKBgGnocjzaPZyXDTfYgwXh25YXyv4zGnRGKX+4CoQEkLTpOsbHoM72
a/tXD/ssbwqd7Q8o5tGTHx/3X7BzylrBGyvUWrtf+5ouKx21qV63bUSdUmuT5Q0o
XsHuTN5TKfHuvIyS4ZrVkalRPEyIqSdsigOolYBDb6llZkwSjYNxZT79AoGAJ8tJ
N/QgBD5FN8w0GIrAqJ3EzTHu2Bg2BEqM+zE/YCZSfASU58H8+6IytcrpPJCYZQE7
uhxoweUnpIl92t7ZXE4PrDMRlq1HcwbRN7RfjGqB+ybd5vkn1tWePXK2vAtmzUzA
wKxZe01S0WOm7kCMsMrvpZSx02ppBVSzsAj7eRUCgYBQk3ziU7c3+m5coltrcIT1
pc3a1gEiUyo3+xcI+R1/Yj38/BkoZh8h8jVJS4NL5ykhgvp6fI6LMslW1ZDinV4U
zNzj2dIldndyMhc3NqchYsPU1j0Z2jNJCysZOBnoyaNcOs637B3huBH8yaYFpTG+
rdior/p1ek4bt+BDttDn4Q==
-----END PRIVATE KEY-----`

	testKDHKey = `-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQD2q3IFS3vl3yxT
T98K+Vo6GKp5V6ZiA6ZNP5bboyG2ROnDtqqSDxLw9E8LjJNkd6yyBtchRQKmzZJS
DIJbRAZXHkNFFrTW4yzI2w9/73ceooCdgCJE4cBcfEp8z/uzOD2HIBLr/hHOPkJ9
sNGY7bET94QD2bWg0ewdix00Uu/+a1Lti4rm5XS1hYCkzn2pKProvcG2lXk673Fa
93WsLX1OIYekmsBV4bQyHFiX/kibF1hCaznp2fG8cZyYonjfr6UU59EoRYdvqFzr
Bvw/IzoTiot1zIONgfV6V+JhUi5hXtfeIilwSugO3fvCrBc0C99da0pKw8e2skT8
PUtmJb/BAgMBAAECggEAdnnLRpLGXBbwjcVnnjg853mQa763Gg2hsymvNigo2YhI
9SlHzOZzlQrq6mOnKZK3fjx92KtyRhanyEPc2qQWHYLaEZWB31J24LQiwjKMtsib
WMrB6u65O1KxXjhxLtf86Wl03SeHetV5jzA9w6OqsSnpnQXU0HzzWQ9HxClvvvTx
FwCPafdx/vqDlGBH4cYCw9JeaH6YZlcv9021pWDLPwhoTphzhG+ZbkxOK5Xww0ap
kedOYoNTwwbBrdFEZD9rObAJRS6B+y+zJOqEKwzzTmNkukBKnvTgsORYUjouoWkJ
hr6QogPcbADEEry4saPRo/j+lSJCFplEH2663xeOzwKBgQD75a5PfMpVu8zPO8vM
pnDmpR+furtYcp82e6SZhVS8fgVxtS3PpP5EFdrm0rDMoyifcHKtrljG6PWjWtbF
e4hzbYrSFXdIXOF4s9QCFAFiUlWUYQ/8n/kNAYaIn5L8DgC9w6S2ncfHG8t1MHi6
XpUyIm/4kx3rxAiHjMJueTI0qwKBgQD6r/fCBBwSpZNPZhNhxK/ikvn2Wjusc5bd
ZvkhmubyrS6jTKhk4YvFhZTe8TC9eOk81dGW4Cvr0pLAe2XidasqPnGsojV8nulf
L8OzGHAhVmSqyDLU74Pgc2i/u7uN41EQzBny6LocaI+tMZa6ywqSxJqPEOkgtTA+
DMcJTK/lQwKBgQD4OQRFNf6Y72BK0mzo9RcKYatBFpyo8wKriLnRws6WlES/IT/M
f5VD+JlmnjY04Y8VVpTbS5QWJthwKgK8RhhXTpneneKWf1h8PhDsH1Sh0+qbNe6w
DeA5DcjJ9x27nfzjAtjcT6zfKyeaCrLdTHkPF1pphGeWve19zZqHjIyJ0wKBgQDD
4IsuxhdJWqbn+1JZql3kJAO8QnUuIoNXLAauA2NBa6BtaJCLgtC73cydBsiWw8s7
BbdmtHKdKUQRslnBwT+lGnWn9nbkkSa4gZHgds/mvKKb7yIIz72zu3m1lvLNwzis
b043RzFk0S6ynXSxL8VrOMOr1gLS08CGO2WqFom6EQKBgAhbPmS++REC1GYwdfLy
vkvfFf+ttg6iV7U4cFTg3LQBnVvl0gcproMzzkJipclGlsP7bqn1oWp0OzLXEL0o
nQUGGNOzjIzrzIvyYn2zVzQnK34uvQ0DKwGhqnzNeSf44evhaDsEPx7cnXuuG51v
1uVhlsSYwaMSewP5lXR9P3a2
-----END PRIVATE KEY-----`
)

// SHA-256 fingerprints (hex) of the test CA certificates TestPKI makes:
// configurations that pin the test KDH CA can name it; a test checks the
// certificates never drift.
const (
	TestKDHCAFingerprint          = "584d9598d2ed24d399f37e8e130b5c830bad7d1c82afc659404b14eb9010c219"
	TestManufacturerCAFingerprint = "6d1099d7c02e110f4fb296882598f7a3d1d8b44782e9b866e6e475f753cc9ccf"
)

// Validity of the test certificates.
var (
	testNotBefore = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	testNotAfter  = time.Date(2055, 1, 1, 0, 0, 0, 0, time.UTC)
)

// PKI is the acquirer's side of remote key loading: the manufacturer CA
// that certifies terminals (the KDH trusts it), and the KDH's CA and its
// own certificate and key (terminals pin the KDH CA).
type PKI struct {
	ManufacturerCA    *x509.Certificate
	ManufacturerCAKey *rsa.PrivateKey
	KDHCA             *x509.Certificate
	KDHCAKey          *rsa.PrivateKey
	KDH               *x509.Certificate // signed by KDHCA
	KDHKey            *rsa.PrivateKey
}

func parseTestKey(p string) (*rsa.PrivateKey, error) {
	b, _ := pem.Decode([]byte(p))
	if b == nil {
		return nil, errors.New("kdh: test key is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("kdh: test key: %w", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("kdh: test key is not RSA")
	}
	return rk, nil
}

// NewCA makes a self-signed CA certificate for key.
func NewCA(key *rsa.PrivateKey, name string, serial int64, notBefore, notAfter time.Time) (*x509.Certificate, error) {
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{Organization: []string{"posd test acquirer"}, CommonName: name},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("kdh: CA certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// NewKDHCert certifies a KDH signing key under a KDH CA.
func NewKDHCert(ca *x509.Certificate, caKey *rsa.PrivateKey, key *rsa.PrivateKey, name string, serial int64, notBefore, notAfter time.Time) (*x509.Certificate, error) {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{Organization: []string{"posd test acquirer"}, CommonName: name},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(nil, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("kdh: KDH certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

var testPKI = sync.OnceValues(func() (*PKI, error) {
	var p PKI
	var err error
	if p.ManufacturerCAKey, err = parseTestKey(testManufacturerCAKey); err != nil {
		return nil, err
	}
	if p.KDHCAKey, err = parseTestKey(testKDHCAKey); err != nil {
		return nil, err
	}
	if p.KDHKey, err = parseTestKey(testKDHKey); err != nil {
		return nil, err
	}
	if p.ManufacturerCA, err = NewCA(p.ManufacturerCAKey, "posd TEST manufacturer CA", 1, testNotBefore, testNotAfter); err != nil {
		return nil, err
	}
	if p.KDHCA, err = NewCA(p.KDHCAKey, "posd TEST KDH CA", 2, testNotBefore, testNotAfter); err != nil {
		return nil, err
	}
	if p.KDH, err = NewKDHCert(p.KDHCA, p.KDHCAKey, p.KDHKey, "posd TEST key distribution host", 3, testNotBefore, testNotAfter); err != nil {
		return nil, err
	}
	return &p, nil
})

// TestPKI is the published test PKI (the same on every call and build;
// callers must not modify it). It protects nothing.
func TestPKI() (*PKI, error) { return testPKI() }

// Fingerprint is the SHA-256 of a certificate, hex.
func Fingerprint(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return fmt.Sprintf("%x", s[:])
}
