package host

import (
	"bufio"
	"net"
	"testing"
	"time"

	"github.com/moov-io/iso8583"

	"posd/crypto/dukpt"
	"posd/internal/testhex"
	"posd/terminal/wiresec"
)

var (
	testBDK  = testhex.Must("FEDCBA9876543210F1F1F1F1F1F1F1F1")
	testIKSN = testhex.Must("123456789012345600000000")
)

const (
	testPAN    = "4761739001010010"
	testTrack2 = "4761739001010010=25122011143804400000"
)

// testDialects are the dialects every dialect-independent test runs with.
var testDialects = []*Dialect{ASCII87, CUP}

var testTime = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

// sessions returns the terminal session and the matching host session of
// the n-th AES DUKPT key of the test BDK.
func sessions(t testing.TB, n int) (term, hst *wiresec.Session) {
	t.Helper()
	ik, err := dukpt.AESDeriveIK(testBDK, testIKSN)
	if err != nil {
		t.Fatal(err)
	}
	o, err := dukpt.NewAESOriginator(ik, testIKSN)
	if err != nil {
		t.Fatal(err)
	}
	var ksn, key []byte
	for range n {
		if ksn, key, err = o.Next(); err != nil {
			t.Fatal(err)
		}
	}
	if term, err = wiresec.ForTerminal(wiresec.ModeAES, ksn, key); err != nil {
		t.Fatal(err)
	}
	if hst, err = wiresec.ForHost(wiresec.ModeAES, testBDK, ksn); err != nil {
		t.Fatal(err)
	}
	return term, hst
}

// purchaseRequest is a neutral 0200 of the test terminal.
func purchaseRequest(stan uint32, ksn []byte) Request {
	return Request{
		Kind: KindPurchase, STAN: stan, Time: testTime, TerminalID: "T0000001", MerchantID: "M00000000000001",
		Amount: 1000, Currency: "156", EntryMode: "021", Batch: 7, KSN: ksn,
		Track2Enc: testhex.Must("00112233445566778899AABBCCDDEEFF"),
	}
}

// adviceRequest is a neutral 0220 of the test terminal: a chip sale of
// 10.00 approved offline, with the data of its TC.
func adviceRequest(stan uint32, ksn []byte) Request {
	r := purchaseRequest(stan, ksn)
	r.Kind, r.EntryMode, r.Ref, r.ResponseCode = KindAdvice, "051", "R0000042", OfflineApproved
	r.ICC = testhex.Must("9F2608B1B2B3B4B5B6B7B8" + "9F270140")
	return r
}

// sealedResponse builds the answer to a purchase of 10.00 with STAN stan
// from terminal tid, MACed by hst.
func sealedResponse(t testing.TB, d *Dialect, hst *wiresec.Session, stan uint32, tid, rc string) []byte {
	t.Helper()
	req := purchaseRequest(stan, hst.KSN())
	req.MTI, req.TerminalID = MTIPurchase, tid
	m, err := d.EncodeResponse(req, Response{ResponseCode: rc, AuthCode: "A1B2C3", RRN: "503141000001", Time: testTime})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := d.Seal(m, hst.MACResponse)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// fakeHost answers every request with whatever reply returns (nil: no
// answer) over the dialect's framing with the dialect's default TPDU.
func fakeHost(t *testing.T, d *Dialect, reply func(m *iso8583.Message) []byte) string {
	t.Helper()
	return hostScript(t, d, func(nc net.Conn, r *bufio.Reader, fr *Framer) {
		for {
			m, err := fr.ReadMessage(r)
			if err != nil {
				return
			}
			if out := reply(m); out != nil {
				_ = fr.WriteFrame(nc, out)
			}
		}
	})
}
