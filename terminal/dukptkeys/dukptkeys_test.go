package dukptkeys

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"posd/internal/testhex"
	"posd/terminal/wiresec"
)

var errNoSecret = errors.New("no such secret")

type memSecrets map[string][]byte

func (m memSecrets) PutSecret(name string, data []byte) error {
	m[name] = bytes.Clone(data)
	return nil
}

func (m memSecrets) UseSecret(name string, fn func([]byte) error) error {
	v, ok := m[name]
	if !ok {
		return errNoSecret
	}
	return fn(bytes.Clone(v))
}

func TestSessionsMatchHost(t *testing.T) {
	for _, c := range []struct {
		mode      wiresec.Mode
		bdk, iksn string
	}{
		{wiresec.ModeTDES, "0123456789ABCDEFFEDCBA9876543210", "FFFF9876543210E00000"},
		{wiresec.ModeAES, "FEDCBA9876543210F1F1F1F1F1F1F1F1", "123456789012345600000000"},
	} {
		t.Run(string(c.mode), func(t *testing.T) {
			mem := memSecrets{}
			src := New(mem, c.mode, "dukpt.0", func(err error) bool { return errors.Is(err, errNoSecret) })
			if _, err := src.Next(); !errors.Is(err, ErrNotProvisioned) {
				t.Fatalf("unprovisioned: %v", err)
			}
			if err := src.LoadFromBDK(testhex.Must(c.bdk), testhex.Must(c.iksn)); err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			for i := 0; i < 50; i++ {
				term, err := src.Next()
				if err != nil {
					t.Fatal(err)
				}
				ksn := hex.EncodeToString(term.KSN())
				if seen[ksn] {
					t.Fatalf("KSN %s used twice", ksn)
				}
				seen[ksn] = true
				host, err := wiresec.ForHost(c.mode, testhex.Must(c.bdk), term.KSN())
				if err != nil {
					t.Fatal(err)
				}
				msg := []byte("0200 message bytes")
				m, err := term.MACRequest(msg)
				if err != nil {
					t.Fatal(err)
				}
				if err := host.VerifyRequestMAC(msg, m); err != nil {
					t.Fatalf("KSN %s: host rejects terminal MAC: %v", ksn, err)
				}
				term.Wipe()
				host.Wipe()
			}
			// The state on disk is the originator's, never the BDK or IK.
			for _, v := range mem {
				if bytes.Contains(v, testhex.Must(c.bdk)) {
					t.Fatal("BDK stored")
				}
			}
			// A new Source over the same store resumes after the last KSN.
			again := New(mem, c.mode, "dukpt.0", nil)
			s, err := again.Next()
			if err != nil {
				t.Fatal(err)
			}
			if seen[hex.EncodeToString(s.KSN())] {
				t.Fatal("resumed source reused a KSN")
			}
			if k, err := again.KSN(); err != nil || k != hex.EncodeToString(s.KSN()) && k != upper(hex.EncodeToString(s.KSN())) {
				t.Fatalf("KSN() = %q, %v", k, err)
			}
		})
	}
}

func upper(s string) string { return string(bytes.ToUpper([]byte(s))) }
