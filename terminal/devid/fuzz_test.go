package devid

import (
	"encoding/pem"
	"errors"
	"testing"
)

// FuzzParseChainPEM: the factory's answer is outside bytes.
func FuzzParseChainPEM(f *testing.F) {
	c := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0x03, 0x02, 0x01, 0x01}})
	f.Add(append(append([]byte{}, c...), c...))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := ParseChainPEM(b)
		if err != nil {
			if !errors.Is(err, ErrFactory) || out != nil {
				t.Fatalf("%v %v", out, err)
			}
			return
		}
		if len(out) == 0 || len(out) > 4 {
			t.Fatalf("%d certificates", len(out))
		}
	})
}
