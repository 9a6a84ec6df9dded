package tr34

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"time"

	"posd/crypto/tr31"
)

// BuildOpts is what the KDH needs to make a key token.
type BuildOpts struct {
	// Key is the key to transport, e.g. the terminal's KBPK. Not kept.
	Key []byte
	// Header describes the key as a TR-31 key block header: usage (K0,
	// K1, ...), algorithm ('A' AES: 16, 24 or 32 bytes; 'T' TDES: 16 or
	// 24), mode of use, exportability, optional blocks. A zero Version
	// means 'D'; the length field is written as 0000.
	Header tr31.Header
	// Recipient is the device's (KRD's) certificate, RSA of 2048 bits or
	// more. The caller has checked it was issued by the manufacturer CA.
	Recipient *x509.Certificate
	// Signer is the KDH's private key (RSA), used with PKCS #1 v1.5 and
	// SHA-256; an HSM may stand behind it.
	Signer crypto.Signer
	// KDHChain is the KDH's certificate first, then any intermediate CA
	// certificates (not the root the device pins). All go into the token.
	KDHChain []*x509.Certificate
	// Nonce is the device's random number, from its random number token.
	Nonce []byte
	// Time is the signing time written into the token.
	Time time.Time
	// Rand gives the content-encryption key and IV (nil: crypto/rand).
	Rand io.Reader
}

// keyFits checks a key length against a TR-31 algorithm of the subset.
func keyFits(alg byte, n int) error {
	switch {
	case alg == 'A' && (n == 16 || n == 24 || n == 32):
		return nil
	case alg == 'T' && (n == 16 || n == 24):
		return nil
	case alg != 'A' && alg != 'T':
		return fmt.Errorf("algorithm %q (want A or T)", alg)
	}
	return fmt.Errorf("a %d-byte key does not fit algorithm %c", n, alg)
}

// canonicalHeader renders h as TR-31 header text and checks it parses
// back to itself.
func canonicalHeader(h tr31.Header) (string, tr31.Header, error) {
	if h.Version == 0 {
		h.Version = tr31.VersionD
	}
	s := h.String()
	p, err := tr31.ParseHeader(s)
	if err != nil {
		return "", tr31.Header{}, err
	}
	if p.String() != s {
		return "", tr31.Header{}, errors.New("header does not render canonically")
	}
	return s, p, nil
}

// BuildKeyToken makes a TR-34 key token: the key and its header in a key
// block naming the KDH, encrypted with a fresh AES-256 key under the
// recipient's RSA key (RSAES-OAEP), signed by the KDH with the device's
// random number, the header and the signing time as signed attributes, the
// KDH chain included. The result is DER. Errors: ErrOptions, ErrRandom.
func BuildKeyToken(o BuildOpts) ([]byte, error) {
	if len(o.KDHChain) == 0 || o.KDHChain[0] == nil || o.Signer == nil || o.Recipient == nil {
		return nil, fmt.Errorf("%w: a KDH certificate, its private key and the recipient certificate are needed", ErrOptions)
	}
	if len(o.KDHChain) > maxTokenCertificate {
		return nil, fmt.Errorf("%w: %d certificates, at most %d", ErrOptions, len(o.KDHChain), maxTokenCertificate)
	}
	kdh := o.KDHChain[0]
	kdhPub, err := rsaPublic(kdh, "KDH")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	if !kdhPub.Equal(o.Signer.Public()) {
		return nil, fmt.Errorf("%w: the signer's key is not the KDH certificate's", ErrOptions)
	}
	recipPub, err := rsaPublic(o.Recipient, "recipient")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	if err := checkNonce(o.Nonce); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	hs, h, err := canonicalHeader(o.Header)
	if err != nil {
		return nil, fmt.Errorf("%w: key header: %w", ErrOptions, err)
	}
	if err := keyFits(h.Algorithm, len(o.Key)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	if o.Time.IsZero() {
		return nil, fmt.Errorf("%w: no signing time", ErrOptions)
	}
	rnd := o.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	env, err := envelope(o.Key, hs, isnOf(kdh), recipPub, isnOf(o.Recipient), rnd)
	if err != nil {
		return nil, err
	}
	return sign(env, hs, o)
}

// envelope encrypts the key block to the recipient: EnvelopedData DER.
func envelope(key []byte, header string, kdh issuerAndSerial, pub *rsa.PublicKey, rid issuerAndSerial, rnd io.Reader) ([]byte, error) {
	hdrAttr, err := oneValue(oidData, []byte(header))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	plain, err := asn1.Marshal(keyBlock{Version: keyBlockVersion, IDKDH: kdh, ClearKey: key, AttributeHeader: hdrAttr})
	if err != nil {
		return nil, fmt.Errorf("%w: key block: %w", ErrOptions, err)
	}
	defer clear(plain)
	cek := make([]byte, 32)
	defer clear(cek)
	iv := make([]byte, aes.BlockSize)
	if _, err := io.ReadFull(rnd, cek); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRandom, err)
	}
	if _, err := io.ReadFull(rnd, iv); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRandom, err)
	}
	ct, err := cbcEncrypt(cek, iv, plain)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	ek, err := rsa.EncryptOAEP(sha256.New(), rnd, pub, cek, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: key transport: %w", ErrOptions, err)
	}
	kea, err := oaepAlgID()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	ktri, err := asn1.Marshal(keyTransRecipientInfo{Version: ktriVersion, RID: rid, KeyEncryptionAlgorithm: kea, EncryptedKey: ek})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	ivDER, err := asn1.Marshal(iv)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	env, err := asn1.Marshal(envelopedData{
		Version:        envelopedVersion,
		RecipientInfos: []asn1.RawValue{{FullBytes: ktri}},
		EncryptedContentInfo: encryptedContentInfo{
			ContentType:                oidData,
			ContentEncryptionAlgorithm: pkix.AlgorithmIdentifier{Algorithm: oidAES256CBC, Parameters: asn1.RawValue{FullBytes: ivDER}},
			EncryptedContent:           ct,
		},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	return env, nil
}

// sign wraps the EnvelopedData DER in the KDH's SignedData.
func sign(env []byte, header string, o BuildOpts) ([]byte, error) {
	attrs, err := tokenAttrs(env, header, o)
	if err != nil {
		return nil, err
	}
	return signAttrs(env, attrs, o)
}

// tokenAttrs are the signed attributes of a key token.
func tokenAttrs(env []byte, header string, o BuildOpts) ([]attribute, error) {
	digest := sha256.Sum256(env)
	var attrs []attribute
	for _, a := range []struct {
		t asn1.ObjectIdentifier
		v any
	}{
		{oidContentType, oidEnvelopedData},
		{oidSigningTime, o.Time.UTC().Truncate(time.Second)},
		{oidRandomNonce, o.Nonce},
		{oidData, []byte(header)},
		{oidMessageDigest, digest[:]},
	} {
		at, err := oneValue(a.t, a.v)
		if err != nil {
			return nil, fmt.Errorf("%w: signed attribute: %w", ErrOptions, err)
		}
		attrs = append(attrs, at)
	}
	return attrs, nil
}

// signAttrs signs the attributes and assembles the SignedData around env.
func signAttrs(env []byte, attrs []attribute, o BuildOpts) ([]byte, error) {
	contents, err := marshalAttrs(attrs)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	set, err := setOf(contents)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	h := sha256.Sum256(set)
	rnd := o.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	sig, err := o.Signer.Sign(rnd, h[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("%w: signing: %w", ErrOptions, err)
	}
	var certs []byte
	for _, c := range o.KDHChain {
		if c == nil {
			return nil, fmt.Errorf("%w: nil certificate in the KDH chain", ErrOptions)
		}
		certs = append(certs, c.Raw...)
	}
	sd, err := asn1.Marshal(signedData{
		Version:          signedDataVersion,
		DigestAlgorithms: []pkix.AlgorithmIdentifier{sha256AlgID},
		EncapContentInfo: encapContentInfo{EContentType: oidEnvelopedData, EContent: env},
		Certificates:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: certs},
		SignerInfos: []signerInfo{{
			Version:            signerInfoVersion,
			SID:                isnOf(o.KDHChain[0]),
			DigestAlgorithm:    sha256AlgID,
			SignedAttrs:        asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: contents},
			SignatureAlgorithm: rsaEncryptionAlgID,
			Signature:          sig,
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	out, err := asn1.Marshal(contentInfo{
		ContentType: oidSignedData,
		Content:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: sd},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOptions, err)
	}
	return out, nil
}

// cbcEncrypt pads (PKCS #7) and encrypts under AES-CBC.
func cbcEncrypt(key, iv, plain []byte) ([]byte, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	pad := aes.BlockSize - len(plain)%aes.BlockSize
	buf := make([]byte, len(plain)+pad)
	copy(buf, plain)
	for i := len(plain); i < len(buf); i++ {
		buf[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(b, iv).CryptBlocks(buf, buf)
	return buf, nil
}

// cbcDecrypt decrypts AES-CBC and removes the PKCS #7 padding. The caller
// clears the result. The padding check is not constant-time: it is only
// reached for content whose signature by a pinned KDH verified, so it can
// serve no padding oracle.
func cbcDecrypt(key, iv, ct []byte) ([]byte, error) {
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 || len(iv) != aes.BlockSize {
		return nil, errors.New("content length")
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, len(ct))
	cipher.NewCBCDecrypter(b, iv).CryptBlocks(buf, ct)
	pad := int(buf[len(buf)-1])
	bad := pad == 0 || pad > aes.BlockSize
	if !bad {
		for _, c := range buf[len(buf)-pad:] {
			bad = bad || int(c) != pad
		}
	}
	if bad {
		clear(buf)
		return nil, errors.New("padding")
	}
	return buf[:len(buf)-pad], nil
}
