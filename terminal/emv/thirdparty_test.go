package emv

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// thirdPartyCase is a trace recorded by someone else's terminal with a
// card posd never saw, and what the kernel must make of it.
type thirdPartyCase struct {
	file       string
	outcome    string
	cryptogram string
	aid        string
	tvr        string // every bit follows from the recorded data
	tsi        string
	cvmResults string
	ac         string // the card's cryptogram, which must reach DE 55
}

// The provenance of each trace is its "comment". Both are qVSDC taps the
// card answered with an ARQC: posd goes online without fDDA (TVR byte 1
// bit 8, offline data authentication not performed; TSI empty), as it
// does for every online qVSDC cryptogram, even though the sniffed
// terminal's TTQ (33804000) claims "ODA for online authorizations" (byte
// 1 bit 1; posd's own TTQ never does). The card's
// CTQ asks for no CVM (CVM results 1F0002).
var thirdPartyCases = []thirdPartyCase{
	{file: "visa_applepay_qvsdc_online_sniff.json", outcome: "online_request", cryptogram: "ARQC",
		aid: "A0000000031010", tvr: "8000000000", tsi: "0000", cvmResults: "1F0002", ac: "C21624CB9CD4F92D"},
	{file: "visa_testcard_qvsdc_online_gist.json", outcome: "online_request", cryptogram: "ARQC",
		aid: "A0000000031010", tvr: "8000000000", tsi: "0000", cvmResults: "1F0002", ac: "E8C9F40B3A71064D"},
}

// TestThirdPartyTraces replays exchanges recorded by other terminals
// with real or certified test cards (testdata/thirdparty): the kernel
// must send every recorded command byte for byte, use every recorded
// exchange and reach the outcome the data implies.
func TestThirdPartyTraces(t *testing.T) {
	dir := filepath.Join("testdata", "thirdparty")
	params, err := os.ReadFile(filepath.Join(dir, "params.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadParams(params)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range thirdPartyCases {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			tr, err := ParseTrace(data)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(tr.Comment, "Source:") {
				t.Errorf("the trace does not say where it came from")
			}
			res := Replay(context.Background(), cfg, tr, Opts{})
			if res.Error != "" {
				t.Fatalf("replay: %s", res.Error)
			}
			got := [...]string{res.Outcome, res.CryptogramType, res.AID, res.TVR, res.TSI, res.CVMResults}
			want := [...]string{tc.outcome, tc.cryptogram, tc.aid, tc.tvr, tc.tsi, tc.cvmResults}
			if got != want {
				t.Errorf("outcome, cryptogram, AID, TVR, TSI, CVM results = %q, want %q", got, want)
			}
			if !strings.Contains(res.DE55, "9F2608"+tc.ac) {
				t.Errorf("DE 55 %s lacks the card's cryptogram %s", res.DE55, tc.ac)
			}
		})
	}
}
