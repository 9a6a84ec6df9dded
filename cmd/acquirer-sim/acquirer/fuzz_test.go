package acquirer

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"posd/crypto/dukpt"
	"posd/terminal/host"
	"posd/terminal/wiresec"
)

// fuzzRequest runs arbitrary bytes through the server's request path in
// one dialect: decode with the spec, key derivation, MAC check, decryption,
// decision, deduplication. It must never panic, a response must always
// pack, and no journal line may show more of a PAN than the masked form.
func fuzzRequest(f *testing.F, dialect string) {
	var jr bytes.Buffer
	s, err := New(&Opts{Dialect: dialect, Journal: &jr, Now: func() time.Time { return time.Unix(1700000000, 0) }})
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
	ct, _ := term.EncryptRequestData([]byte("4761739001010010=25122011143804400000"))
	base := host.Request{
		STAN: 1, TerminalID: "T0000001", MerchantID: "M00000000000001", Currency: "156",
		Mode: wiresec.ModeAES, KSN: ksn, Track2Enc: ct, OrigSTAN: 1, Reason: host.ReasonNoResponse,
	}
	for _, kind := range []host.Kind{host.KindPurchase, host.KindReversal, host.KindSignOn, host.KindEcho} {
		for _, amount := range []int64{1000, 91, 51} {
			req := base
			req.Kind, req.Amount = kind, amount
			m, err := s.d.EncodeRequest(req)
			if err != nil {
				f.Fatal(err)
			}
			raw, err := s.d.Seal(m, term.MACRequest)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(raw)
		}
	}
	f.Add([]byte("0800"))
	f.Add([]byte{0x04, 0x00})
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := s.d.Decode(raw)
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

func FuzzRequestASCII87(f *testing.F) { fuzzRequest(f, "ascii87") }
func FuzzRequestCUP(f *testing.F)     { fuzzRequest(f, "cup") }
