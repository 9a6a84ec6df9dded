package tr34

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"testing"
	"time"

	"posd/crypto/tr31"
)

func TestRoundTrip(t *testing.T) {
	p := testPKI(t)
	for _, c := range []struct {
		name  string
		key   []byte
		hdr   tr31.Header
		chain []*x509.Certificate
		roots *x509.CertPool
	}{
		{"AES-256 KBPK, KDH under the root", testKey, kbpkHdr, []*x509.Certificate{p.kdh.cert}, pool(p.kdhRoot.cert)},
		{"AES-128 key with optional blocks", testKey[:16], tr31.Header{Version: 'D', KeyUsage: "K0", Algorithm: 'A', ModeOfUse: 'B', Exportability: 'N',
			Blocks: []tr31.OptBlock{{ID: "KV", Data: "0102"}}}, []*x509.Certificate{p.kdh.cert}, pool(p.kdhRoot.cert)},
		{"TDES key, KDH under an intermediate", testKey[:16], tr31.Header{Version: 'B', KeyUsage: "K1", Algorithm: 'T', ModeOfUse: 'D', Exportability: 'N'},
			[]*x509.Certificate{p.kdh2.cert, p.kdhInter.cert}, pool(p.kdhInterRoot.cert)},
		{"two pinned roots", testKey, kbpkHdr, []*x509.Certificate{p.kdh.cert}, pool(p.kdhInterRoot.cert, p.kdhRoot.cert)},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := p.buildOpts()
			o.Key, o.Header, o.KDHChain = c.key, c.hdr, c.chain
			o.Signer = p.kdh.key
			if c.chain[0] == p.kdh2.cert {
				o.Signer = p.kdh2.key
			}
			der := build(t, o)
			v := p.verifyOpts()
			v.Roots = c.roots
			tok, err := OpenKeyToken(der, v)
			if err != nil {
				t.Fatal(err)
			}
			defer tok.Wipe()
			if !bytes.Equal(tok.Key, c.key) {
				t.Fatal("key differs")
			}
			want, _ := tr31.ParseHeader(c.hdr.String())
			if tok.Header.String() != want.String() || tok.Header.KeyUsage != c.hdr.KeyUsage || tok.Header.Algorithm != c.hdr.Algorithm {
				t.Fatalf("header %q, want %q", tok.Header.String(), want.String())
			}
			if !tok.KDH.Equal(c.chain[0]) {
				t.Fatalf("KDH %s", tok.KDH.Subject)
			}
			if !tok.SigningTime.Equal(now) {
				t.Fatalf("signing time %v", tok.SigningTime)
			}
			tok.Wipe()
			if tok.Key != nil {
				t.Fatal("Wipe kept the key")
			}
		})
	}
}

// TestTokenIsFresh: two tokens of the same key differ (fresh CEK and IV).
func TestTokenIsFresh(t *testing.T) {
	p := testPKI(t)
	a, b := build(t, p.buildOpts()), build(t, p.buildOpts())
	if bytes.Equal(a, b) {
		t.Fatal("two tokens are equal")
	}
	if bytes.Contains(a, testKey[:8]) {
		t.Fatal("the key is in the token in clear")
	}
}

// mutate parses a token, lets fn change its SignedData and re-encodes it
// without signing again.
func mutate(t *testing.T, der []byte, fn func(sd *signedData)) []byte {
	t.Helper()
	der = bytes.Clone(der) // parsed values alias it
	var ci contentInfo
	if err := unmarshalStrict(der, &ci, "ci"); err != nil {
		t.Fatal(err)
	}
	var sd signedData
	if err := unmarshalStrict(ci.Content.Bytes, &sd, "sd"); err != nil {
		t.Fatal(err)
	}
	fn(&sd)
	b, err := asn1.Marshal(sd)
	if err != nil {
		t.Fatal(err)
	}
	ci.Content = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: b}
	out, err := asn1.Marshal(ci)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// signedBy signs env with the signed attributes fn leaves (the KDH's own
// key: a well-signed token with chosen content).
func signedBy(t *testing.T, o BuildOpts, env []byte, header string, fn func([]attribute) []attribute) []byte {
	t.Helper()
	attrs, err := tokenAttrs(env, header, o)
	if err != nil {
		t.Fatal(err)
	}
	if fn != nil {
		attrs = fn(attrs)
	}
	der, err := signAttrs(env, attrs, o)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func withoutAttr(oid asn1.ObjectIdentifier) func([]attribute) []attribute {
	return func(as []attribute) []attribute {
		var out []attribute
		for _, a := range as {
			if !a.Type.Equal(oid) {
				out = append(out, a)
			}
		}
		return out
	}
}

func TestRefused(t *testing.T) {
	p := testPKI(t)
	o := p.buildOpts()
	good := build(t, o)
	hs, _, _ := canonicalHeader(kbpkHdr)
	env := func(t *testing.T, kdh issuerAndSerial, to party, rid *x509.Certificate, header string) []byte {
		t.Helper()
		e, err := envelope(testKey, header, kdh, &to.key.PublicKey, isnOf(rid), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}

	cases := []struct {
		name  string
		token func(t *testing.T) []byte
		v     func(v *VerifyOpts)
		want  error
	}{
		// The signature.
		{"signature altered", func(t *testing.T) []byte {
			return mutate(t, good, func(sd *signedData) { sd.SignerInfos[0].Signature[10] ^= 1 })
		}, nil, ErrSignature},
		{"ciphertext altered", func(t *testing.T) []byte {
			return mutate(t, good, func(sd *signedData) {
				e := sd.EncapContentInfo.EContent
				e[len(e)-5] ^= 0x80
			})
		}, nil, ErrSignature},
		{"recipient altered", func(t *testing.T) []byte {
			return mutate(t, good, func(sd *signedData) {
				var ed envelopedData
				if err := unmarshalStrict(sd.EncapContentInfo.EContent, &ed, "ed"); err != nil {
					t.Fatal(err)
				}
				var k keyTransRecipientInfo
				if err := unmarshalStrict(ed.RecipientInfos[0].FullBytes, &k, "ktri"); err != nil {
					t.Fatal(err)
				}
				k.RID = isnOf(p.dev2.cert)
				kb, _ := asn1.Marshal(k)
				ed.RecipientInfos[0] = asn1.RawValue{FullBytes: kb}
				sd.EncapContentInfo.EContent, _ = asn1.Marshal(ed)
			})
		}, nil, ErrSignature},
		{"signed nonce altered", func(t *testing.T) []byte {
			return mutate(t, good, func(sd *signedData) {
				b := sd.SignerInfos[0].SignedAttrs.Bytes
				i := bytes.Index(b, testNonce)
				b[i] ^= 1
				sd.SignerInfos[0].SignedAttrs.FullBytes = nil
			})
		}, nil, ErrSignature},
		{"signed header altered", func(t *testing.T) []byte {
			return mutate(t, good, func(sd *signedData) {
				b := sd.SignerInfos[0].SignedAttrs.Bytes
				i := bytes.Index(b, []byte("K1AB"))
				b[i+1] = '0' // K1 -> K0
				sd.SignerInfos[0].SignedAttrs.FullBytes = nil
			})
		}, nil, ErrSignature},

		// The nonce.
		{"another nonce issued", func(*testing.T) []byte { return good }, func(v *VerifyOpts) {
			v.Nonce = bytes.Repeat([]byte{7}, 16)
		}, ErrNonce},
		{"no nonce in the token", func(t *testing.T) []byte {
			return signedBy(t, o, env(t, isnOf(p.kdh.cert), p.dev, p.dev.cert, hs), hs, withoutAttr(oidRandomNonce))
		}, nil, ErrNonce},

		// The recipient.
		{"token for another device", func(t *testing.T) []byte {
			o2 := o
			o2.Recipient = p.dev2.cert
			return build(t, o2)
		}, nil, ErrRecipient},

		// The signer and its chain.
		{"signed by an unknown host", func(t *testing.T) []byte {
			o2 := o
			o2.Signer, o2.KDHChain = p.rogue.key, []*x509.Certificate{p.rogue.cert}
			return build(t, o2)
		}, nil, ErrSigner},
		{"unknown host presents the real KDH certificate too", func(t *testing.T) []byte {
			o2 := o
			o2.Signer, o2.KDHChain = p.rogue.key, []*x509.Certificate{p.rogue.cert, p.kdh.cert}
			return build(t, o2)
		}, nil, ErrSigner},
		{"signer's certificate left out", func(t *testing.T) []byte {
			return mutate(t, good, func(sd *signedData) { sd.Certificates = asn1.RawValue{} })
		}, nil, ErrSigner},
		{"signer's certificate swapped for an unknown host's", func(t *testing.T) []byte {
			return mutate(t, good, func(sd *signedData) {
				sd.Certificates.Bytes, sd.Certificates.FullBytes = p.rogue.cert.Raw, nil
				sd.SignerInfos[0].SID = isnOf(p.rogue.cert)
			})
		}, nil, ErrSigner},
		{"signer's certificate altered", func(t *testing.T) []byte {
			return mutate(t, good, func(sd *signedData) {
				c := bytes.Clone(p.kdh.cert.Raw)
				c[len(c)-20] ^= 1 // in the CA's signature
				sd.Certificates.Bytes, sd.Certificates.FullBytes = c, nil
			})
		}, nil, ErrSigner},
		{"signer identified as another certificate", func(t *testing.T) []byte {
			return mutate(t, good, func(sd *signedData) { sd.SignerInfos[0].SID = isnOf(p.kdh2.cert) })
		}, nil, ErrSigner},
		{"intermediate missing", func(t *testing.T) []byte {
			o2 := o
			o2.Signer, o2.KDHChain = p.kdh2.key, []*x509.Certificate{p.kdh2.cert}
			return build(t, o2)
		}, func(v *VerifyOpts) { v.Roots = pool(p.kdhInterRoot.cert) }, ErrSigner},
		{"KDH certificate expired", func(*testing.T) []byte { return good }, func(v *VerifyOpts) {
			v.Now = now.Add(20 * 365 * 24 * time.Hour)
		}, ErrSigner},
		{"device CA pinned instead of the KDH CA", func(*testing.T) []byte { return good }, func(v *VerifyOpts) {
			v.Roots = pool(p.mfr.cert)
		}, ErrSigner},

		// Well signed, bad inside (only the pinned KDH could make these).
		{"content encrypted to another key", func(t *testing.T) []byte {
			return signedBy(t, o, env(t, isnOf(p.kdh.cert), p.dev2, p.dev.cert, hs), hs, nil)
		}, nil, ErrDecrypt},
		{"ciphertext altered, then signed", func(t *testing.T) []byte {
			e := env(t, isnOf(p.kdh.cert), p.dev, p.dev.cert, hs)
			var ed envelopedData
			if err := unmarshalStrict(e, &ed, "ed"); err != nil {
				t.Fatal(err)
			}
			ed.EncryptedContentInfo.EncryptedContent[len(ed.EncryptedContentInfo.EncryptedContent)-1] ^= 0x55
			e, _ = asn1.Marshal(ed)
			return signedBy(t, o, e, hs, nil)
		}, nil, ErrDecrypt},
		{"key block names another KDH", func(t *testing.T) []byte {
			return signedBy(t, o, env(t, isnOf(p.kdh2.cert), p.dev, p.dev.cert, hs), hs, nil)
		}, nil, ErrKeyBlock},
		{"key block header differs from the signed one", func(t *testing.T) []byte {
			other, _, _ := canonicalHeader(tr31.Header{Version: 'D', KeyUsage: "K0", Algorithm: 'A', ModeOfUse: 'B', Exportability: 'E'})
			return signedBy(t, o, env(t, isnOf(p.kdh.cert), p.dev, p.dev.cert, other), hs, nil)
		}, nil, ErrKeyBlock},
		{"no key block header signed", func(t *testing.T) []byte {
			return signedBy(t, o, env(t, isnOf(p.kdh.cert), p.dev, p.dev.cert, hs), hs, withoutAttr(oidData))
		}, nil, ErrFormat},

		// Structure.
		{"empty", func(*testing.T) []byte { return nil }, nil, ErrFormat},
		{"trailing bytes", func(*testing.T) []byte { return append(bytes.Clone(good), 0) }, nil, ErrFormat},
		{"truncated", func(*testing.T) []byte { return good[:len(good)-1] }, nil, ErrFormat},
		{"too large", func(*testing.T) []byte { return make([]byte, MaxTokenLen+1) }, nil, ErrFormat},
		{"two signers", func(t *testing.T) []byte {
			return mutate(t, good, func(sd *signedData) { sd.SignerInfos = append(sd.SignerInfos, sd.SignerInfos[0]) })
		}, nil, ErrFormat},
		{"SHA-1 digest", func(t *testing.T) []byte {
			return mutate(t, good, func(sd *signedData) {
				sd.SignerInfos[0].DigestAlgorithm.Algorithm = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
			})
		}, nil, ErrUnsupported},

		// Options.
		{"private key of another device", func(*testing.T) []byte { return good }, func(v *VerifyOpts) { v.Decrypter = p.dev2.key }, ErrOptions},
		{"no pinned roots", func(*testing.T) []byte { return good }, func(v *VerifyOpts) { v.Roots = nil }, ErrOptions},
		{"no time", func(*testing.T) []byte { return good }, func(v *VerifyOpts) { v.Now = time.Time{} }, ErrOptions},
		{"short nonce", func(*testing.T) []byte { return good }, func(v *VerifyOpts) { v.Nonce = testNonce[:4] }, ErrOptions},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := p.verifyOpts()
			if c.v != nil {
				c.v(&v)
			}
			tok, err := OpenKeyToken(c.token(t), v)
			if err == nil {
				tok.Wipe()
				t.Fatal("accepted")
			}
			if tok != nil {
				t.Fatal("a token with an error")
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			noKeyIn(t, err.Error())
		})
	}
}

// TestEveryByte flips each byte of a token: it either fails with a typed
// error or (a byte the signature does not cover, such as the choice
// between two names of the same signature algorithm) still yields the
// very key and header.
func TestEveryByte(t *testing.T) {
	p := testPKI(t)
	good := build(t, p.buildOpts())
	v := p.verifyOpts()
	step := 1
	if testing.Short() {
		step = 7
	}
	for i := 0; i < len(good); i += step {
		tok := bytes.Clone(good)
		tok[i] ^= 0x01
		got, err := OpenKeyToken(tok, v)
		if err != nil {
			if !typed(err) {
				t.Fatalf("byte %d: untyped error %v", i, err)
			}
			continue
		}
		if !bytes.Equal(got.Key, testKey) || got.Header.KeyUsage != "K1" {
			t.Fatalf("byte %d: altered token yields another key or header", i)
		}
		got.Wipe()
	}
}

func TestBuildRefuses(t *testing.T) {
	p := testPKI(t)
	for _, c := range []struct {
		name string
		fn   func(o *BuildOpts)
	}{
		{"signer does not match the KDH certificate", func(o *BuildOpts) { o.Signer = p.rogue.key }},
		{"no recipient", func(o *BuildOpts) { o.Recipient = nil }},
		{"no chain", func(o *BuildOpts) { o.KDHChain = nil }},
		{"short nonce", func(o *BuildOpts) { o.Nonce = []byte{1, 2, 3} }},
		{"key too short for AES", func(o *BuildOpts) { o.Key = testKey[:10] }},
		{"TDES key of 32 bytes", func(o *BuildOpts) { o.Header.Algorithm = 'T' }},
		{"RSA algorithm", func(o *BuildOpts) { o.Header.Algorithm = 'R' }},
		{"bad usage", func(o *BuildOpts) { o.Header.KeyUsage = "k1" }},
		{"no time", func(o *BuildOpts) { o.Time = time.Time{} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := p.buildOpts()
			c.fn(&o)
			if _, err := BuildKeyToken(o); !errors.Is(err, ErrOptions) {
				t.Fatalf("error %v, want ErrOptions", err)
			}
		})
	}
	o := p.buildOpts()
	o.Rand = bytes.NewReader(make([]byte, 10))
	if _, err := BuildKeyToken(o); !errors.Is(err, ErrRandom) {
		t.Fatalf("short random source: %v", err)
	}
}

func TestRandomToken(t *testing.T) {
	n, err := NewNonce(nil)
	if err != nil || len(n) != NonceLen {
		t.Fatal(n, err)
	}
	rt, err := RandomToken(n)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseRandomToken(rt)
	if err != nil || !bytes.Equal(got, n) {
		t.Fatalf("%x %v", got, err)
	}
	// The DER is the TR-34 RT_KRD: SEQUENCE { OID 1.2.840.113549.1.9.25.3, SET { OCTET STRING } }.
	want := append(mustHex("3020060a2a864886f70d0109190331120410"), n...)
	if !bytes.Equal(rt, want) {
		t.Fatalf("RT_KRD %x\nwant   %x", rt, want)
	}
	for _, bad := range [][]byte{nil, rt[:len(rt)-1], append(bytes.Clone(rt), 0), mustHex("300d06092a864886f70d0109033100")} {
		if _, err := ParseRandomToken(bad); !errors.Is(err, ErrFormat) {
			t.Fatalf("%x: %v", bad, err)
		}
	}
	if _, err := RandomToken(make([]byte, 4)); !errors.Is(err, ErrOptions) {
		t.Fatal(err)
	}
	if _, err := NewNonce(bytes.NewReader(nil)); !errors.Is(err, ErrRandom) {
		t.Fatal(err)
	}
}
