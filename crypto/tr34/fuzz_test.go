package tr34

import (
	"bytes"
	"crypto/x509"
	"testing"
)

// FuzzOpenKeyToken feeds arbitrary bytes to the device side: never a
// panic, only typed errors without key material, and nothing but the very
// key and header the KDH sent ever comes out.
func FuzzOpenKeyToken(f *testing.F) {
	p := testPKI(f)
	o := p.buildOpts()
	good := build(f, o)
	f.Add(good)
	o2 := o
	o2.Recipient = p.dev2.cert
	f.Add(build(f, o2))
	o3 := o
	o3.Signer, o3.KDHChain = p.rogue.key, []*x509.Certificate{p.rogue.cert}
	f.Add(build(f, o3))
	f.Add(good[:len(good)/2])
	f.Add([]byte{0x30, 0x80})
	f.Add([]byte{})
	v := p.verifyOpts()
	f.Fuzz(func(t *testing.T, der []byte) {
		tok, err := OpenKeyToken(der, v)
		if err != nil {
			if tok != nil {
				t.Fatal("a token with an error")
			}
			if !typed(err) {
				t.Fatalf("untyped error %v", err)
			}
			noKeyIn(t, err.Error())
			return
		}
		defer tok.Wipe()
		if !bytes.Equal(tok.Key, testKey) || tok.Header.KeyUsage != "K1" || !tok.KDH.Equal(p.kdh.cert) {
			t.Fatal("a token the KDH did not make was accepted")
		}
	})
}

// FuzzParseRandomToken: the KDH parses the device's random number token.
func FuzzParseRandomToken(f *testing.F) {
	rt, err := RandomToken(testNonce)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(rt)
	f.Add(rt[:10])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, der []byte) {
		n, err := ParseRandomToken(der)
		if err != nil {
			if !typed(err) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if len(n) < MinNonceLen || len(n) > MaxNonceLen {
			t.Fatalf("random number of %d bytes", len(n))
		}
		again, err := RandomToken(n)
		if err != nil || !bytes.Equal(again, der) {
			t.Fatal("accepted a random number token that is not canonical DER")
		}
	})
}
