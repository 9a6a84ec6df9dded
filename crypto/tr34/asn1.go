package tr34

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"slices"
)

// Object identifiers of the subset.
var (
	oidData          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidSignedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidEnvelopedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 3}

	oidContentType   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSigningTime   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	oidRandomNonce   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 25, 3}

	oidSHA256          = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidRSAEncryption   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidSHA256WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidRSAESOAEP       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 7}
	oidMGF1            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidPSpecified      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 9}
	oidAES256CBC       = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	sha256AlgID        = pkix.AlgorithmIdentifier{Algorithm: oidSHA256}
	rsaEncryptionAlgID = pkix.AlgorithmIdentifier{Algorithm: oidRSAEncryption, Parameters: asn1.NullRawValue}
)

// Versions written and the bounds of the subset.
const (
	keyBlockVersion     = 1
	signedDataVersion   = 3 // RFC 5652 5.1: the content is not id-data
	signerInfoVersion   = 1 // the signer is identified by issuer and serial number
	envelopedVersion    = 0
	ktriVersion         = 0
	minRSABits          = 2048
	maxTokenCertificate = 8
)

// Size limits.
const (
	// MaxTokenLen bounds a key token (a few certificates and an RSA
	// block or two); larger input is refused before parsing.
	MaxTokenLen = 64 << 10
	// MaxKeyLen bounds the transported key (AES-256 is 32 bytes).
	MaxKeyLen = 64
)

// contentInfo is CMS ContentInfo; Content is the [0] EXPLICIT content,
// held as a context-specific constructed value whose Bytes are the inner
// DER (the same octets).
type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"tag:0"`
}

// issuerAndSerial is IssuerAndSerialNumber; Issuer keeps the Name exactly
// as encoded (compared with a certificate's RawIssuer).
type issuerAndSerial struct {
	Issuer asn1.RawValue
	Serial *big.Int
}

func isnOf(c *x509.Certificate) issuerAndSerial {
	return issuerAndSerial{Issuer: asn1.RawValue{FullBytes: c.RawIssuer}, Serial: c.SerialNumber}
}

func (s issuerAndSerial) matches(c *x509.Certificate) bool {
	return c != nil && s.Serial != nil && c.SerialNumber != nil &&
		bytes.Equal(s.Issuer.FullBytes, c.RawIssuer) && s.Serial.Cmp(c.SerialNumber) == 0
}

func (s issuerAndSerial) equal(o issuerAndSerial) bool {
	return s.Serial != nil && o.Serial != nil && bytes.Equal(s.Issuer.FullBytes, o.Issuer.FullBytes) && s.Serial.Cmp(o.Serial) == 0
}

type signedData struct {
	Version          int
	DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
	EncapContentInfo encapContentInfo
	Certificates     asn1.RawValue `asn1:"optional,tag:0"` // [0] IMPLICIT SET OF Certificate
	CRLs             asn1.RawValue `asn1:"optional,tag:1"`
	SignerInfos      []signerInfo  `asn1:"set"`
}

type encapContentInfo struct {
	EContentType asn1.ObjectIdentifier
	EContent     []byte `asn1:"optional,explicit,tag:0"`
}

type signerInfo struct {
	Version            int
	SID                issuerAndSerial
	DigestAlgorithm    pkix.AlgorithmIdentifier
	SignedAttrs        asn1.RawValue `asn1:"optional,tag:0"` // [0] IMPLICIT SET OF Attribute
	SignatureAlgorithm pkix.AlgorithmIdentifier
	Signature          []byte
	UnsignedAttrs      asn1.RawValue `asn1:"optional,tag:1"`
}

type attribute struct {
	Type   asn1.ObjectIdentifier
	Values []asn1.RawValue `asn1:"set"`
}

type envelopedData struct {
	Version              int
	OriginatorInfo       asn1.RawValue   `asn1:"optional,tag:0"`
	RecipientInfos       []asn1.RawValue `asn1:"set"`
	EncryptedContentInfo encryptedContentInfo
	UnprotectedAttrs     asn1.RawValue `asn1:"optional,tag:1"`
}

type keyTransRecipientInfo struct {
	Version                int
	RID                    issuerAndSerial
	KeyEncryptionAlgorithm pkix.AlgorithmIdentifier
	EncryptedKey           []byte
}

type encryptedContentInfo struct {
	ContentType                asn1.ObjectIdentifier
	ContentEncryptionAlgorithm pkix.AlgorithmIdentifier
	EncryptedContent           []byte `asn1:"optional,tag:0"` // [0] IMPLICIT OCTET STRING
}

// rsaesOAEPParams is RSAES-OAEP-params (RFC 8017 A.2.1); absent fields
// take the SHA-1 defaults, which this package refuses.
type rsaesOAEPParams struct {
	HashAlgorithm    pkix.AlgorithmIdentifier `asn1:"optional,explicit,tag:0"`
	MaskGenAlgorithm pkix.AlgorithmIdentifier `asn1:"optional,explicit,tag:1"`
	PSourceAlgorithm pkix.AlgorithmIdentifier `asn1:"optional,explicit,tag:2"`
}

// keyBlock is the TR-34 key block, the encrypted content.
type keyBlock struct {
	Version         int
	IDKDH           issuerAndSerial
	ClearKey        []byte
	AttributeHeader attribute
}

// unmarshalStrict parses exactly one DER value into out.
func unmarshalStrict(der []byte, out any, what string) error {
	rest, err := asn1.Unmarshal(der, out)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrFormat, what, err)
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: %s: %d trailing bytes", ErrFormat, what, len(rest))
	}
	return nil
}

// isSHA256 accepts sha256 with absent or NULL parameters (RFC 5754).
func isSHA256(a pkix.AlgorithmIdentifier) bool {
	return a.Algorithm.Equal(oidSHA256) && absentOrNull(a.Parameters)
}

func absentOrNull(p asn1.RawValue) bool {
	return len(p.FullBytes) == 0 || bytes.Equal(p.FullBytes, asn1.NullBytes)
}

// oaepAlgID is the key-encryption algorithm written: RSAES-OAEP with
// SHA-256, MGF1-SHA-256 and the default (empty) label.
func oaepAlgID() (pkix.AlgorithmIdentifier, error) {
	mgfHash, err := asn1.Marshal(sha256AlgID)
	if err != nil {
		return pkix.AlgorithmIdentifier{}, err
	}
	p, err := asn1.Marshal(rsaesOAEPParams{
		HashAlgorithm:    sha256AlgID,
		MaskGenAlgorithm: pkix.AlgorithmIdentifier{Algorithm: oidMGF1, Parameters: asn1.RawValue{FullBytes: mgfHash}},
	})
	if err != nil {
		return pkix.AlgorithmIdentifier{}, err
	}
	return pkix.AlgorithmIdentifier{Algorithm: oidRSAESOAEP, Parameters: asn1.RawValue{FullBytes: p}}, nil
}

// checkOAEP accepts only RSAES-OAEP with SHA-256, MGF1-SHA-256 and an
// empty label.
func checkOAEP(a pkix.AlgorithmIdentifier) error {
	if !a.Algorithm.Equal(oidRSAESOAEP) {
		return fmt.Errorf("%w: key transport %v (want RSAES-OAEP)", ErrUnsupported, a.Algorithm)
	}
	var p rsaesOAEPParams
	if err := unmarshalStrict(a.Parameters.FullBytes, &p, "RSAES-OAEP parameters"); err != nil {
		return err
	}
	if !isSHA256(p.HashAlgorithm) {
		return fmt.Errorf("%w: RSAES-OAEP hash (want SHA-256)", ErrUnsupported)
	}
	if !p.MaskGenAlgorithm.Algorithm.Equal(oidMGF1) {
		return fmt.Errorf("%w: RSAES-OAEP mask generation (want MGF1)", ErrUnsupported)
	}
	var mh pkix.AlgorithmIdentifier
	if err := unmarshalStrict(p.MaskGenAlgorithm.Parameters.FullBytes, &mh, "MGF1 parameters"); err != nil {
		return err
	}
	if !isSHA256(mh) {
		return fmt.Errorf("%w: MGF1 hash (want SHA-256)", ErrUnsupported)
	}
	if ps := p.PSourceAlgorithm; len(ps.Algorithm) != 0 {
		var label []byte
		if !ps.Algorithm.Equal(oidPSpecified) {
			return fmt.Errorf("%w: RSAES-OAEP label source", ErrUnsupported)
		}
		if err := unmarshalStrict(ps.Parameters.FullBytes, &label, "RSAES-OAEP label"); err != nil {
			return err
		}
		if len(label) != 0 {
			return fmt.Errorf("%w: RSAES-OAEP with a label", ErrUnsupported)
		}
	}
	return nil
}

// marshalAttrs encodes attributes as a DER SET OF (sorted) and returns
// its contents, the octets of [0] IMPLICIT signedAttrs.
func marshalAttrs(attrs []attribute) ([]byte, error) {
	enc := make([][]byte, 0, len(attrs))
	for _, a := range attrs {
		b, err := asn1.Marshal(a)
		if err != nil {
			return nil, err
		}
		enc = append(enc, b)
	}
	slices.SortFunc(enc, bytes.Compare)
	return bytes.Join(enc, nil), nil
}

// setOf re-tags the contents of an implicitly tagged SET OF as a universal
// SET: what a signature over signed attributes covers (RFC 5652 5.4).
func setOf(contents []byte) ([]byte, error) {
	return asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: contents})
}

// oneValue is an attribute with exactly one value.
func oneValue(t asn1.ObjectIdentifier, v any) (attribute, error) {
	b, err := asn1.Marshal(v)
	if err != nil {
		return attribute{}, err
	}
	return attribute{Type: t, Values: []asn1.RawValue{{FullBytes: b}}}, nil
}

// rsaPublic returns the certificate's RSA key of at least minRSABits.
func rsaPublic(c *x509.Certificate, what string) (*rsa.PublicKey, error) {
	pub, ok := c.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: the %s key is not RSA", ErrUnsupported, what)
	}
	if pub.N.BitLen() < minRSABits {
		return nil, fmt.Errorf("%w: the %s key has %d bits, want %d or more", ErrUnsupported, what, pub.N.BitLen(), minRSABits)
	}
	return pub, nil
}
