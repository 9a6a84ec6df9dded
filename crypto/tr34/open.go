package tr34

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"io"
	"time"

	"posd/crypto/tr31"
)

// VerifyOpts is what the device needs to open a key token.
type VerifyOpts struct {
	// Roots are the pinned KDH CA certificates; the token's signer must
	// chain to one of them.
	Roots *x509.CertPool
	// Recipient is this device's certificate; the token must be
	// enveloped for it.
	Recipient *x509.Certificate
	// Decrypter is this device's private key (on real boards inside a
	// secure element); RSAES-OAEP with SHA-256 is asked of it.
	Decrypter crypto.Decrypter
	// Nonce is the random number this device issued for this exchange.
	Nonce []byte
	// Now is the time the KDH certificates must be valid at.
	Now time.Time
	// Rand is handed to the Decrypter (nil: crypto/rand).
	Rand io.Reader
}

// KeyToken is an opened key token. Key is the clear key: the caller wipes
// it (Wipe) as soon as it is stored.
type KeyToken struct {
	Key         []byte
	Header      tr31.Header       // the key's attributes (usage, algorithm, mode of use, ...)
	KDH         *x509.Certificate // the verified signer
	SigningTime time.Time         // zero when the token has none
}

// Wipe zeroes the clear key.
func (t *KeyToken) Wipe() {
	if t != nil {
		clear(t.Key)
		t.Key = nil
	}
}

// signedAttrs are the signed attributes this package reads.
type signedAttrs struct {
	contentType asn1.ObjectIdentifier
	digest      []byte
	nonce       []byte
	header      []byte
	signingTime time.Time
	hasTime     bool
}

func parseSignedAttrs(contents []byte) (signedAttrs, error) {
	var out signedAttrs
	set, err := setOf(contents)
	if err != nil {
		return out, fmt.Errorf("%w: signed attributes: %v", ErrFormat, err)
	}
	var attrs []attribute
	rest, err := asn1.UnmarshalWithParams(set, &attrs, "set")
	if err != nil || len(rest) != 0 {
		return out, fmt.Errorf("%w: signed attributes", ErrFormat)
	}
	seen := map[string]bool{}
	for _, a := range attrs {
		key := a.Type.String()
		if seen[key] {
			return out, fmt.Errorf("%w: signed attribute %v repeated", ErrFormat, a.Type)
		}
		seen[key] = true
		var dst any
		switch {
		case a.Type.Equal(oidContentType):
			dst = &out.contentType
		case a.Type.Equal(oidMessageDigest):
			dst = &out.digest
		case a.Type.Equal(oidData):
			dst = &out.header
		case a.Type.Equal(oidSigningTime):
			dst, out.hasTime = &out.signingTime, true
		case a.Type.Equal(oidRandomNonce):
			n, err := nonceValue(a)
			if err != nil {
				return out, err
			}
			out.nonce = n
			continue
		default:
			continue // other signed attributes are covered by the signature and ignored
		}
		if len(a.Values) != 1 {
			return out, fmt.Errorf("%w: signed attribute %v has %d values", ErrFormat, a.Type, len(a.Values))
		}
		if err := unmarshalStrict(a.Values[0].FullBytes, dst, "signed attribute "+key); err != nil {
			return out, err
		}
	}
	switch {
	case out.contentType == nil:
		return out, fmt.Errorf("%w: no content-type attribute", ErrFormat)
	case out.digest == nil:
		return out, fmt.Errorf("%w: no message-digest attribute", ErrFormat)
	}
	return out, nil
}

// checkOpts validates the verification options.
func checkOpts(v VerifyOpts) error {
	if v.Roots == nil || v.Recipient == nil || v.Decrypter == nil {
		return fmt.Errorf("%w: pinned KDH roots, the device certificate and its private key are needed", ErrOptions)
	}
	if v.Now.IsZero() {
		return fmt.Errorf("%w: no verification time", ErrOptions)
	}
	if err := checkNonce(v.Nonce); err != nil {
		return fmt.Errorf("%w: %w", ErrOptions, err)
	}
	pub, err := rsaPublic(v.Recipient, "device")
	if err != nil {
		return fmt.Errorf("%w: %w", ErrOptions, err)
	}
	if !pub.Equal(v.Decrypter.Public()) {
		return fmt.Errorf("%w: the private key is not the device certificate's", ErrOptions)
	}
	return nil
}

// verified is a token whose signer and signature checked out.
type verified struct {
	signer *x509.Certificate
	sid    issuerAndSerial
	attrs  signedAttrs
	env    []byte
}

// verifySigned parses the SignedData, verifies the signer's chain to the
// pinned roots and the signature.
func verifySigned(der []byte, roots *x509.CertPool, now time.Time) (*verified, error) {
	if len(der) > MaxTokenLen {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrFormat, len(der), MaxTokenLen)
	}
	var ci contentInfo
	if err := unmarshalStrict(der, &ci, "ContentInfo"); err != nil {
		return nil, err
	}
	if !ci.ContentType.Equal(oidSignedData) || !ci.Content.IsCompound {
		return nil, fmt.Errorf("%w: content type %v (want signed data)", ErrFormat, ci.ContentType)
	}
	var sd signedData
	if err := unmarshalStrict(ci.Content.Bytes, &sd, "SignedData"); err != nil {
		return nil, err
	}
	if sd.Version != signedDataVersion && sd.Version != 1 { // 1: written by some TR-34 tools
		return nil, fmt.Errorf("%w: SignedData version %d", ErrUnsupported, sd.Version)
	}
	if len(sd.DigestAlgorithms) != 1 || !isSHA256(sd.DigestAlgorithms[0]) {
		return nil, fmt.Errorf("%w: digest algorithms (want SHA-256 only)", ErrUnsupported)
	}
	if !sd.EncapContentInfo.EContentType.Equal(oidEnvelopedData) || sd.EncapContentInfo.EContent == nil {
		return nil, fmt.Errorf("%w: the signed content is not enveloped data", ErrFormat)
	}
	if len(sd.SignerInfos) != 1 {
		return nil, fmt.Errorf("%w: %d signers (want one)", ErrFormat, len(sd.SignerInfos))
	}
	si := sd.SignerInfos[0]
	if si.Version != signerInfoVersion {
		return nil, fmt.Errorf("%w: SignerInfo version %d", ErrUnsupported, si.Version)
	}
	if !isSHA256(si.DigestAlgorithm) {
		return nil, fmt.Errorf("%w: signer digest (want SHA-256)", ErrUnsupported)
	}
	sa := si.SignatureAlgorithm
	if !(sa.Algorithm.Equal(oidRSAEncryption) || sa.Algorithm.Equal(oidSHA256WithRSA)) || !absentOrNull(sa.Parameters) {
		return nil, fmt.Errorf("%w: signature algorithm %v (want RSASSA-PKCS1-v1_5)", ErrUnsupported, sa.Algorithm)
	}
	if len(si.SignedAttrs.FullBytes) == 0 || !si.SignedAttrs.IsCompound {
		return nil, fmt.Errorf("%w: no signed attributes", ErrFormat)
	}
	attrs, err := parseSignedAttrs(si.SignedAttrs.Bytes)
	if err != nil {
		return nil, err
	}
	if !attrs.contentType.Equal(oidEnvelopedData) {
		return nil, fmt.Errorf("%w: content-type attribute %v does not name the content", ErrFormat, attrs.contentType)
	}

	// The signer: its certificate is in the token and chains to a pinned
	// KDH CA.
	var certs []*x509.Certificate
	if len(sd.Certificates.FullBytes) != 0 {
		if !sd.Certificates.IsCompound {
			return nil, fmt.Errorf("%w: certificates", ErrFormat)
		}
		certs, err = x509.ParseCertificates(sd.Certificates.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: certificates: %v", ErrFormat, err)
		}
	}
	if len(certs) > maxTokenCertificate {
		return nil, fmt.Errorf("%w: %d certificates, at most %d", ErrFormat, len(certs), maxTokenCertificate)
	}
	var signer *x509.Certificate
	inter := x509.NewCertPool()
	for _, c := range certs {
		if signer == nil && si.SID.matches(c) {
			signer = c
			continue
		}
		inter.AddCert(c)
	}
	if signer == nil {
		return nil, fmt.Errorf("%w: the signer's certificate is not in the token", ErrSigner)
	}
	if _, err := signer.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSigner, err)
	}
	if signer.KeyUsage != 0 && signer.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return nil, fmt.Errorf("%w: the KDH certificate may not sign", ErrSigner)
	}
	pub, err := rsaPublic(signer, "KDH")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSigner, err)
	}

	// The signature: the digest of the content, then the signature over
	// the signed attributes.
	d := sha256.Sum256(sd.EncapContentInfo.EContent)
	if subtle.ConstantTimeCompare(d[:], attrs.digest) != 1 {
		return nil, fmt.Errorf("%w: message digest", ErrSignature)
	}
	set, err := setOf(si.SignedAttrs.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	h := sha256.Sum256(set)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], si.Signature); err != nil {
		return nil, fmt.Errorf("%w: signature", ErrSignature)
	}
	return &verified{signer: signer, sid: si.SID, attrs: attrs, env: sd.EncapContentInfo.EContent}, nil
}

// OpenKeyToken verifies a key token and decrypts its key, in the order the
// package comment gives. The caller wipes the returned key (KeyToken.Wipe).
// Errors: ErrOptions, ErrFormat, ErrUnsupported, ErrSigner, ErrSignature,
// ErrNonce, ErrRecipient, ErrDecrypt, ErrKeyBlock; never with key bytes.
func OpenKeyToken(der []byte, v VerifyOpts) (*KeyToken, error) {
	if err := checkOpts(v); err != nil {
		return nil, err
	}
	ver, err := verifySigned(der, v.Roots, v.Now)
	if err != nil {
		return nil, err
	}
	if ver.attrs.nonce == nil {
		return nil, fmt.Errorf("%w: the token carries no random number", ErrNonce)
	}
	if subtle.ConstantTimeCompare(ver.attrs.nonce, v.Nonce) != 1 {
		return nil, fmt.Errorf("%w: not the random number this device issued", ErrNonce)
	}
	if ver.attrs.header == nil {
		return nil, fmt.Errorf("%w: no key block header attribute", ErrFormat)
	}
	hs := string(ver.attrs.header)
	hdr, err := tr31.ParseHeader(hs)
	if err != nil || hdr.String() != hs {
		return nil, fmt.Errorf("%w: signed key block header is not a TR-31 header", ErrKeyBlock)
	}
	rnd := v.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	plain, err := openEnvelope(ver.env, v.Recipient, v.Decrypter, rnd)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	// kb's raw values alias plain; ClearKey is a copy.
	var kb keyBlock
	if rest, err := asn1.Unmarshal(plain, &kb); err != nil || len(rest) != 0 {
		clear(kb.ClearKey)
		return nil, fmt.Errorf("%w: not a key block", ErrKeyBlock)
	}
	defer clear(kb.ClearKey)
	if len(kb.ClearKey) > MaxKeyLen {
		return nil, fmt.Errorf("%w: key of %d bytes", ErrKeyBlock, len(kb.ClearKey))
	}
	if kb.Version != keyBlockVersion {
		return nil, fmt.Errorf("%w: key block version %d", ErrKeyBlock, kb.Version)
	}
	if !kb.IDKDH.equal(ver.sid) {
		return nil, fmt.Errorf("%w: the key block names another KDH than the signer", ErrKeyBlock)
	}
	a := kb.AttributeHeader
	var inner []byte
	if !a.Type.Equal(oidData) || len(a.Values) != 1 || unmarshalStrict(a.Values[0].FullBytes, &inner, "key block header") != nil ||
		string(inner) != hs {
		return nil, fmt.Errorf("%w: the key block header differs from the signed one", ErrKeyBlock)
	}
	if err := keyFits(hdr.Algorithm, len(kb.ClearKey)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyBlock, err)
	}
	t := &KeyToken{Key: append([]byte(nil), kb.ClearKey...), Header: hdr, KDH: ver.signer}
	if ver.attrs.hasTime {
		t.SigningTime = ver.attrs.signingTime
	}
	return t, nil
}

// openEnvelope checks the recipient and decrypts the content, the DER of
// the key block. The caller clears it.
func openEnvelope(env []byte, recipient *x509.Certificate, dec crypto.Decrypter, rnd io.Reader) ([]byte, error) {
	var ed envelopedData
	if err := unmarshalStrict(env, &ed, "EnvelopedData"); err != nil {
		return nil, err
	}
	if ed.Version != envelopedVersion || len(ed.OriginatorInfo.FullBytes) != 0 || len(ed.UnprotectedAttrs.FullBytes) != 0 {
		return nil, fmt.Errorf("%w: EnvelopedData version %d or originator info or unprotected attributes", ErrUnsupported, ed.Version)
	}
	if len(ed.RecipientInfos) != 1 {
		return nil, fmt.Errorf("%w: %d recipients (want one)", ErrUnsupported, len(ed.RecipientInfos))
	}
	ri := ed.RecipientInfos[0]
	if ri.Class != asn1.ClassUniversal || ri.Tag != asn1.TagSequence {
		return nil, fmt.Errorf("%w: recipient info is not key transport", ErrUnsupported)
	}
	var ktri keyTransRecipientInfo
	if err := unmarshalStrict(ri.FullBytes, &ktri, "KeyTransRecipientInfo"); err != nil {
		return nil, err
	}
	if ktri.Version != ktriVersion {
		return nil, fmt.Errorf("%w: KeyTransRecipientInfo version %d", ErrUnsupported, ktri.Version)
	}
	if !ktri.RID.matches(recipient) {
		return nil, fmt.Errorf("%w: enveloped for another certificate", ErrRecipient)
	}
	if err := checkOAEP(ktri.KeyEncryptionAlgorithm); err != nil {
		return nil, err
	}
	eci := ed.EncryptedContentInfo
	if !eci.ContentType.Equal(oidData) {
		return nil, fmt.Errorf("%w: encrypted content type %v", ErrFormat, eci.ContentType)
	}
	if !eci.ContentEncryptionAlgorithm.Algorithm.Equal(oidAES256CBC) {
		return nil, fmt.Errorf("%w: content encryption %v (want AES-256-CBC)", ErrUnsupported, eci.ContentEncryptionAlgorithm.Algorithm)
	}
	var iv []byte
	if err := unmarshalStrict(eci.ContentEncryptionAlgorithm.Parameters.FullBytes, &iv, "AES-CBC IV"); err != nil {
		return nil, err
	}
	cek, err := dec.Decrypt(rnd, ktri.EncryptedKey, &rsa.OAEPOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA256})
	if err != nil {
		return nil, fmt.Errorf("%w: content-encryption key", ErrDecrypt)
	}
	defer clear(cek)
	if len(cek) != 32 {
		return nil, fmt.Errorf("%w: content-encryption key of %d bytes", ErrDecrypt, len(cek))
	}
	plain, err := cbcDecrypt(cek, iv, eci.EncryptedContent)
	if err != nil {
		return nil, fmt.Errorf("%w: content (%v)", ErrDecrypt, err)
	}
	return plain, nil
}
