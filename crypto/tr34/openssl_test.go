package tr34

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The CMS encoding is checked against an independent implementation,
// OpenSSL 3: testdata/openssl holds a device certificate and key made by
// `openssl req`, a TR-34 key block (keyblock.der) and the EnvelopedData
// OpenSSL made of it (enveloped.der):
//
//	openssl cms -encrypt -binary -aes256 -in keyblock.der -recip device-cert.pem \
//	    -keyopt rsa_padding_mode:oaep -keyopt rsa_oaep_md:sha256 -outform DER -out enveloped.der
//
// The key block holds testKey under the header of kbpkHdr.

func readPEM(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", path)
	}
	return blk.Bytes
}

func opensslDevice(t *testing.T) (*x509.Certificate, *rsa.PrivateKey) {
	t.Helper()
	c, err := x509.ParseCertificate(readPEM(t, "testdata/openssl/device-cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := x509.ParsePKCS8PrivateKey(readPEM(t, "testdata/openssl/device-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return c, k.(*rsa.PrivateKey)
}

// TestOpenSSLEnvelopedVector opens OpenSSL's EnvelopedData with the
// device side's decryption.
func TestOpenSSLEnvelopedVector(t *testing.T) {
	cert, key := opensslDevice(t)
	der, err := os.ReadFile("testdata/openssl/enveloped.der")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/openssl/keyblock.der")
	if err != nil {
		t.Fatal(err)
	}
	var ci contentInfo
	if err := unmarshalStrict(der, &ci, "ContentInfo"); err != nil {
		t.Fatal(err)
	}
	if !ci.ContentType.Equal(oidEnvelopedData) {
		t.Fatalf("content type %v", ci.ContentType)
	}
	plain, err := openEnvelope(ci.Content.Bytes, cert, key, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(plain, want) {
		t.Fatal("decrypted content differs from the key block OpenSSL encrypted")
	}
	var kb keyBlock
	if err := unmarshalStrict(plain, &kb, "key block"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(kb.ClearKey, testKey) || !kb.IDKDH.matches(cert) {
		t.Fatal("key block content")
	}
	// Another device's certificate is refused before any decryption.
	p := testPKI(t)
	if _, err := openEnvelope(ci.Content.Bytes, p.dev.cert, p.dev.key, rand.Reader); !errors.Is(err, ErrRecipient) {
		t.Fatalf("other recipient: %v", err)
	}
}

// TestOpenSSLReadsOurToken has OpenSSL verify a key token against the
// KDH root and decrypt its EnvelopedData with the device key.
func TestOpenSSLReadsOurToken(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("no openssl")
	}
	p := testPKI(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	pemOf := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }
	run := func(args ...string) {
		t.Helper()
		out, err := exec.Command(openssl, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(p.dev.key)
	if err != nil {
		t.Fatal(err)
	}
	tok := write("token.der", build(t, p.buildOpts()))
	root := write("root.pem", pemOf("CERTIFICATE", p.kdhRoot.cert.Raw))
	devCert := write("dev.pem", pemOf("CERTIFICATE", p.dev.cert.Raw))
	devKey := write("devkey.pem", pemOf("PRIVATE KEY", keyDER))
	env := filepath.Join(dir, "env.der")
	run("cms", "-verify", "-inform", "DER", "-in", tok, "-CAfile", root, "-purpose", "any", "-binary", "-out", env)

	envDER, err := os.ReadFile(env)
	if err != nil {
		t.Fatal(err)
	}
	ci, err := asn1.Marshal(contentInfo{ContentType: oidEnvelopedData,
		Content: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: envDER}})
	if err != nil {
		t.Fatal(err)
	}
	kbPath := filepath.Join(dir, "kb.der")
	run("cms", "-decrypt", "-inform", "DER", "-in", write("env-ci.der", ci), "-recip", devCert, "-inkey", devKey, "-binary", "-out", kbPath)
	plain, err := os.ReadFile(kbPath)
	if err != nil {
		t.Fatal(err)
	}
	var kb keyBlock
	if err := unmarshalStrict(plain, &kb, "key block"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(kb.ClearKey, testKey) || !kb.IDKDH.matches(p.kdh.cert) || kb.Version != 1 {
		t.Fatal("OpenSSL decrypted another key block")
	}

	// The other way: OpenSSL signs the EnvelopedData as the KDH; the
	// device side verifies OpenSSL's signed attributes and signature.
	kdhKeyDER, err := x509.MarshalPKCS8PrivateKey(p.kdh.key)
	if err != nil {
		t.Fatal(err)
	}
	signed := filepath.Join(dir, "signed.der")
	run("cms", "-sign", "-binary", "-nodetach", "-in", env, "-econtent_type", "1.2.840.113549.1.7.3", "-md", "sha256",
		"-signer", write("kdh.pem", pemOf("CERTIFICATE", p.kdh.cert.Raw)), "-inkey", write("kdhkey.pem", pemOf("PRIVATE KEY", kdhKeyDER)),
		"-outform", "DER", "-out", signed)
	sd, err := os.ReadFile(signed)
	if err != nil {
		t.Fatal(err)
	}
	ver, err := verifySigned(sd, pool(p.kdhRoot.cert), now)
	if err != nil {
		t.Fatalf("OpenSSL's signature: %v", err)
	}
	if !bytes.Equal(ver.env, envDER) || !ver.signer.Equal(p.kdh.cert) {
		t.Fatal("OpenSSL signed something else")
	}
	sd[len(sd)-3] ^= 1 // in the signature
	if _, err := verifySigned(sd, pool(p.kdhRoot.cert), now); !errors.Is(err, ErrSignature) {
		t.Fatalf("altered OpenSSL signature: %v", err)
	}

	// A token signed by an unknown host does not verify under OpenSSL either.
	o := p.buildOpts()
	o.Signer, o.KDHChain = p.rogue.key, []*x509.Certificate{p.rogue.cert}
	rogue := write("rogue.der", build(t, o))
	if out, err := exec.Command(openssl, "cms", "-verify", "-inform", "DER", "-in", rogue, "-CAfile", root, "-purpose", "any",
		"-binary", "-out", filepath.Join(dir, "x")).CombinedOutput(); err == nil {
		t.Fatalf("openssl verified a rogue token: %s", out)
	}
}
