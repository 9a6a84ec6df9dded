package deck

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"posd/crypto/emv"
)

// The simulated certification authorities: one per scheme, under the
// scheme's RID (the AIDs of the deck's cards start with it, and a kernel
// finds the CA key by RID and index) with index E1, which no published
// live or test CA key of these RIDs uses (the published test keys are
// Visa 92/94/95/99 and Mastercard EF/F1/F3/F4/F5/F8/FA; live keys use
// low indexes). The keys are generated from fixed seeds, so every
// process makes the same CA, issuer and card keys; generation happens
// once per process, on first use.
const CAIndex = 0xE1

// caRIDs are the RIDs of the schemes.
var caRIDs = map[string][5]byte{
	"visa":       {0xA0, 0x00, 0x00, 0x00, 0x03},
	"mastercard": {0xA0, 0x00, 0x00, 0x00, 0x04},
	"unionpay":   {0xA0, 0x00, 0x00, 0x03, 0x33},
}

// Key sizes: the CA key certifies the issuer key, which certifies the
// card keys; each is shorter than the one above, as EMV requires.
const (
	caBits     = 1152
	issuerBits = 1024
	iccBits    = 768
)

// seeded returns a deterministic random stream for a label.
func seeded(label string) *rand.ChaCha8 {
	return rand.NewChaCha8(sha256.Sum256([]byte("posd simulated EMV keys: " + label)))
}

// schemeKeys are a scheme's CA, its issuer key and certificate.
type schemeKeys struct {
	ca         *emv.TestCA
	issuer     *emv.PrivateKey
	issuerCert []byte
	issuerRem  []byte
}

var (
	schemeOnce sync.Map // scheme → *onceKeys
	iccOnce    sync.Map // card name → *onceICC
)

type onceKeys struct {
	once sync.Once
	k    *schemeKeys
	err  error
}

type onceICC struct {
	once sync.Once
	k    *emv.PrivateKey
	err  error
}

// issuerIDDigits is the length of the issuer identifier in the issuer
// certificates: the BIN.
const issuerIDDigits = 6

// keysFor returns (making them the first time) the CA and issuer keys of
// a scheme. The issuer certificate names the BIN of bin (a PAN of the
// scheme's cards: every chip card of one scheme in the deck shares its
// first six digits).
func keysFor(scheme, bin string) (*schemeKeys, error) {
	rid, ok := caRIDs[scheme]
	if !ok {
		return nil, fmt.Errorf("deck: no simulated CA for scheme %q", scheme)
	}
	v, _ := schemeOnce.LoadOrStore(scheme, &onceKeys{})
	o := v.(*onceKeys)
	o.once.Do(func() {
		rnd := seeded("CA " + scheme)
		ca, err := emv.NewTestCA(rnd, rid, CAIndex, caBits, 3)
		if err != nil {
			o.err = fmt.Errorf("deck: %s test CA: %w", scheme, err)
			return
		}
		ca.Expiry = time.Date(2049, 12, 31, 0, 0, 0, 0, time.UTC)
		issuer, err := emv.GenerateKey(seeded("issuer "+scheme), issuerBits, 3)
		if err != nil {
			o.err = fmt.Errorf("deck: %s issuer key: %w", scheme, err)
			return
		}
		id, err := emv.IssuerIDFromPAN(bin, issuerIDDigits)
		if err != nil {
			o.err = fmt.Errorf("deck: %s issuer identifier: %w", scheme, err)
			return
		}
		cert, rem, err := ca.SignIssuerCert(&emv.IssuerPublicKey{PublicKey: issuer.PublicKey, IssuerID: id,
			Expiry: emv.MonthYear{0x12, 0x49}, SerialNumber: [3]byte{0x00, 0x00, 0x01}})
		if err != nil {
			o.err = fmt.Errorf("deck: %s issuer certificate: %w", scheme, err)
			return
		}
		o.k = &schemeKeys{ca: ca, issuer: issuer, issuerCert: cert, issuerRem: rem}
	})
	return o.k, o.err
}

// iccKey returns (making it the first time) the ICC key pair of a card.
func iccKey(name string) (*emv.PrivateKey, error) {
	v, _ := iccOnce.LoadOrStore(name, &onceICC{})
	o := v.(*onceICC)
	o.once.Do(func() {
		o.k, o.err = emv.GenerateKey(seeded("ICC "+name), iccBits, 3)
		if o.err != nil {
			o.err = fmt.Errorf("deck: ICC key of %s: %w", name, o.err)
		}
	})
	return o.k, o.err
}

// errNoChip: the card has no chip.
var errNoChip = errors.New("deck: the card has no chip")

// CAPKs returns the public keys of the simulated CAs, one per scheme
// (RID A000000003, A000000004, A000000333, index E1), with their
// checksums, ordered by RID: the sim board's CA key parameter file. The
// keys are made on first use (about a second); nil when they cannot be,
// which the fixed seeds rule out.
func CAPKs() []emv.CAPK {
	var out []emv.CAPK
	for _, scheme := range []string{"visa", "mastercard", "unionpay"} {
		bin := ""
		for _, c := range Cards {
			if c.Chip != nil && c.Scheme == scheme {
				bin = c.PAN
				break
			}
		}
		if bin == "" {
			continue
		}
		k, err := keysFor(scheme, bin)
		if err != nil {
			return nil
		}
		out = append(out, k.ca.CAPK())
	}
	return out
}

// EncodeCAPKs is CAPKs as a CA public key parameter file (see
// emv.ParseCAPKFile).
func EncodeCAPKs() ([]byte, error) {
	keys := CAPKs()
	if keys == nil {
		return nil, fmt.Errorf("deck: the simulated CA keys cannot be made")
	}
	return emv.EncodeCAPKFile(keys)
}
