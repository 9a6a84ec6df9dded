package emv

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateTraces = flag.Bool("update", false, "rewrite the traces of testdata from the test cards")

// recordRun runs a transaction on card through a Recorder and completes
// it with resp when it goes online.
func recordRun(t *testing.T, cfg Config, card *testCard, iface Interface, txn Txn, ui UI, resp *HostResponse) (*Trace, *Session) {
	t.Helper()
	rec := NewRecorder(card, iface)
	txn.Date = testDate
	k := testKernel(t, cfg, nil)
	s, err := k.Start(context.Background(), rec, iface, txn, ui)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if resp != nil && s.Outcome() == OutcomeOnlineRequest {
		if _, err := s.Complete(context.Background(), *resp); err != nil {
			t.Fatalf("Complete: %v", err)
		}
	}
	return rec.Trace(), s
}

// simConfig is the simulated board's configuration (what posctl replays
// with by default); the trace carries the test CA key.
func simConfig(t testing.TB) Config {
	cfg, err := LoadParams(SimParams())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

type traceCase struct {
	file  string
	iface Interface
	make  func(t *testing.T) (*testCard, Txn, UI, *HostResponse)
	want  string // outcome after replay
}

var traceCases = []traceCase{
	{file: "contact_visa_online_scripts.json", iface: Contact, want: "approved",
		make: func(t *testing.T) (*testCard, Txn, UI, *HostResponse) {
			c, _ := newContactCard(t, cardOpts{oda: "cda"})
			r := withScripts(approved, [][]byte{script("71", "00000001", "04DA9F58050111223344")}, [][]byte{script("72", "00000002", "841E000000")})
			return c, purchase(88800), &testUI{pins: [][]byte{rightPIN}}, &r
		}},
	{file: "contact_visa_offline_t0.json", iface: Contact, want: "approved_offline",
		make: func(t *testing.T) (*testCard, Txn, UI, *HostResponse) {
			c, _ := newContactCard(t, cardOpts{oda: "dda"})
			c.t0 = true
			return c, purchase(1234), &testUI{pins: [][]byte{wrongPIN, rightPIN}}, nil
		}},
	{file: "contactless_qvsdc_online_pin.json", iface: Contactless, want: "approved",
		make: func(t *testing.T) (*testCard, Txn, UI, *HostResponse) {
			c, _ := newQuickCard(t, quickOpts{ctq: h("8000")})
			return c, tap(150000), &testUI{}, &approved
		}},
	{file: "contactless_qvsdc_offline.json", iface: Contactless, want: "approved_offline",
		make: func(t *testing.T) (*testCard, Txn, UI, *HostResponse) {
			c, _ := newQuickCard(t, quickOpts{cad: true})
			return c, tap(2500), &testUI{}, nil
		}},
}

// TestTraces replays the traces of testdata (made from the test cards
// with -update) with the simulated board's parameters: byte for byte,
// to the recorded outcome.
func TestTraces(t *testing.T) {
	for _, tc := range traceCases {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			if *updateTraces {
				card, txn, ui, resp := tc.make(t)
				tr, s := recordRun(t, simConfigWithTestCA(t), card, tc.iface, txn, ui, resp)
				if s.Outcome().String() != tc.want {
					t.Fatalf("recorded outcome %v, want %s", s.Outcome(), tc.want)
				}
				b, err := tr.Marshal()
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := ParseTrace(data)
			if err != nil {
				t.Fatal(err)
			}
			res := Replay(context.Background(), simConfig(t), tr, Opts{})
			if res.Error != "" || res.Outcome != tc.want || res.DE55 == "" || res.AID == "" {
				t.Fatalf("replay %+v", res)
			}
		})
	}
}

func simConfigWithTestCA(t testing.TB) Config {
	cfg := simConfig(t)
	addTestCA(t, &cfg)
	return cfg
}

// TestRecordReplay records a run and replays it: the same outcome, TVR,
// TSI, CVM results and DE55.
func TestRecordReplay(t *testing.T) {
	for _, tc := range traceCases {
		t.Run(tc.file, func(t *testing.T) {
			card, txn, ui, resp := tc.make(t)
			tr, s := recordRun(t, testConfig(t), card, tc.iface, txn, ui, resp)
			b, err := tr.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			tr2, err := ParseTrace(b)
			if err != nil {
				t.Fatal(err)
			}
			cfg, _ := LoadParams([]byte(testParams)) // the CA key comes from the trace
			res := Replay(context.Background(), cfg, tr2, Opts{})
			sum := s.Summary()
			if res.Error != "" || res.Outcome != sum.Outcome || res.TVR != sum.TVR || res.TSI != sum.TSI ||
				res.CVMResults != sum.CVMResults || res.CryptogramType != sum.Cryptogram || res.AID != sum.AID ||
				res.DE55 != upper(s.OnlineData()) {
				t.Errorf("replay %+v\nrun %+v DE55 %X", res, sum, s.OnlineData())
			}
		})
	}
}

func TestReplayDivergence(t *testing.T) {
	card, txn, ui, resp := traceCases[0].make(t)
	tr, _ := recordRun(t, testConfig(t), card, Contact, txn, ui, resp)
	cfg, _ := LoadParams([]byte(testParams))

	// Another amount: the GENERATE AC differs.
	tr.Terminal["9F02"] = "000000088801"
	res := Replay(context.Background(), cfg, tr, Opts{})
	var idx int
	if !strings.Contains(res.Error, "diverged") || !strings.Contains(res.Error, "exchange ") {
		t.Fatalf("replay with another amount: %+v", res)
	}
	for i, e := range tr.Exchanges {
		if strings.HasPrefix(e.C, "80A8") {
			idx = i
			break
		}
	}
	if !strings.Contains(res.Error, "exchange "+itoa(idx)+":") {
		t.Errorf("the divergence is at the GPO (%d): %s", idx, res.Error)
	}
	if strings.Contains(res.Error, "241234") || strings.Contains(res.Error, testPAN) {
		t.Errorf("the error carries card data: %s", res.Error)
	}
	tr.Terminal["9F02"] = "000000088800"

	// Fewer exchanges: the trace runs out.
	short := *tr
	short.Exchanges = tr.Exchanges[:5]
	if res := Replay(context.Background(), cfg, &short, Opts{}); !strings.Contains(res.Error, "no more exchanges") {
		t.Errorf("short trace: %+v", res)
	}
	// More exchanges: some are left.
	long := *tr
	long.Exchanges = append(append([]Exchange{}, tr.Exchanges...), Exchange{C: "00B2010C00", R: "9000"})
	if res := Replay(context.Background(), cfg, &long, Opts{}); !strings.Contains(res.Error, "left") {
		t.Errorf("long trace: %+v", res)
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestParseTraceErrors(t *testing.T) {
	good := `{"interface": "contact", "terminal": {"9F02": "000000001000"}, "ca_keys": [], "exchanges": [{"c": "00A40400", "r": "9000"}]}`
	if _, err := ParseTrace([]byte(good)); err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]string{
		"interface":     strings.Replace(good, `"contact"`, `"nfc"`, 1),
		"tag":           strings.Replace(good, `"9F02"`, `"9F"`, 1),
		"value":         strings.Replace(good, `"000000001000"`, `"0000"`, 1),
		"hex":           strings.Replace(good, `"000000001000"`, `"zz"`, 1),
		"command":       strings.Replace(good, `"00A40400"`, `"00A4"`, 1),
		"response":      strings.Replace(good, `"9000"`, `"90"`, 1),
		"unknown":       strings.Replace(good, `"exchanges"`, `"x": 1, "exchanges"`, 1),
		"ca key":        strings.Replace(good, `"ca_keys": []`, `"ca_keys": [{"rid": "A000000003", "index": "01", "modulus": "00", "exponent": "03"}]`, 1),
		"trailing":      good + "{}",
		"not an object": `[]`,
	} {
		if _, err := ParseTrace([]byte(bad)); !errors.Is(err, ErrTrace) {
			t.Errorf("%s: %v, want ErrTrace", name, err)
		}
	}
}
