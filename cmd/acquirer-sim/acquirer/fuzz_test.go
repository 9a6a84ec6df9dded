package acquirer

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/moov-io/iso8583"

	"posd/crypto/dukpt"
	"posd/terminal/host"
	"posd/terminal/wiresec"
)

// FuzzRequest runs arbitrary bytes through the server's request path:
// decode with the spec, key derivation, MAC check, decryption, decision.
// It must never panic, and a response must always pack.
func FuzzRequest(f *testing.F) {
	var jr bytes.Buffer
	s, err := New(&Opts{Journal: &jr, Now: func() time.Time { return time.Unix(1700000000, 0) }})
	if err != nil {
		f.Fatal(err)
	}
	ksn := []byte{0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0, 0, 0, 1}
	txn, err := dukpt.AESDeriveKey(DefaultBDK(wiresec.ModeAES), ksn)
	if err != nil {
		f.Fatal(err)
	}
	term, err := wiresec.ForTerminal(wiresec.ModeAES, ksn, txn)
	if err != nil {
		f.Fatal(err)
	}
	for _, amount := range []string{"000000001000", "000000000091", "000000000051"} {
		m := iso8583.NewMessage(host.Spec)
		m.MTI(host.MTIPurchase)
		_ = m.Field(host.DEAmount, amount)
		_ = m.Field(host.DESTAN, "000001")
		_ = m.Field(host.DETerminalID, "T0000001")
		ct, _ := term.EncryptRequestData([]byte("4761739001010010=25122011143804400000"))
		_ = m.BinaryField(host.DETrack2Enc, ct)
		_ = m.BinaryField(host.DEKSN, ksn)
		raw, err := host.Seal(m, term.MACRequest)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte("0800"))
	f.Add([]byte("0400"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := host.Decode(raw)
		if err != nil {
			return
		}
		in, resp, out := s.process(m)
		for _, e := range []Entry{in, out} {
			if _, err := json.Marshal(e); err != nil {
				t.Fatal(err)
			}
			if len(e.MaskedPAN) >= 12 && bytes.Count([]byte(e.MaskedPAN), []byte("*")) < len(e.MaskedPAN)-10 {
				t.Fatalf("masked PAN shows too much: %q", e.MaskedPAN)
			}
		}
		if resp != nil {
			if _, err := resp.Pack(); err != nil {
				t.Fatalf("response does not pack: %v", err)
			}
		}
	})
}
