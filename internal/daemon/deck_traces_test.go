package daemon

import (
	"bytes"
	"context"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"posd/board/sim/deck"
	"posd/board/sim/icc"
	"posd/terminal/emv"
)

var updateDeckTraces = flag.Bool("update", false, "record testdata/deck-traces again from the deck's cards")

// portCard lets the kernel talk to a deck chip directly (no reader):
// what the trace records is the card's side of the exchange, the same
// through any reader.
type portCard struct{ p *icc.Port }

func (c portCard) Transmit(_ context.Context, capdu []byte) ([]byte, error) {
	return c.p.Transmit(capdu)
}

// deckTrace is one recorded run of a deck card.
type deckTrace struct {
	file    string
	card    string
	iface   emv.Interface
	amount  int64
	host    string   // the issuer's answer to an online request
	want    string   // outcome, recorded and replayed
	tvrBits [][2]int // TVR bits the replay must set
}

// The shipped traces: contact online with issuer authentication, contact
// offline approval, a failed ODA that the action codes send online, and
// the three contactless kernels.
var deckTraces = []deckTrace{
	{file: "visa-credit-insert-online.json", card: "visa-credit", iface: emv.Contact, amount: 1234, host: "00", want: "approved"},
	{file: "visa-offline-insert-offline.json", card: "visa-offline", iface: emv.Contact, amount: 1234, want: "approved_offline"},
	{file: "visa-tampered-oda-insert.json", card: "visa-tampered-oda", iface: emv.Contact, amount: 1234, host: "00", want: "approved",
		tvrBits: [][2]int{tvrDDAFailed}},
	{file: "visa-credit-tap-qvsdc.json", card: "visa-credit", iface: emv.Contactless, amount: 2345, host: "00", want: "approved"},
	{file: "mastercard-debit-tap-mchip.json", card: "mastercard-debit", iface: emv.Contactless, amount: 2500, host: "00", want: "approved"},
	{file: "unionpay-ic-debit-tap-qpboc.json", card: "unionpay-ic-debit", iface: emv.Contactless, amount: 8800, host: "05", want: "declined"},
}

// recordDeckTrace runs the kernel (simulated board parameters and the
// deck's CA keys, a fixed date and unpredictable number) on a fresh chip
// of the card through a Recorder, the issuer answering from the deck's
// keys, and returns the trace.
func recordDeckTrace(t *testing.T, c deckTrace) []byte {
	t.Helper()
	card, _ := deck.Lookup(c.card)
	chip, err := deck.NewICC(c.card)
	if err != nil {
		t.Fatal(err)
	}
	iface := icc.Contact
	if c.iface == emv.Contactless {
		iface = icc.Contactless
	}
	rec := emv.NewRecorder(portCard{chip.Present(iface)}, c.iface)
	ctx := context.Background()
	txn := emv.Txn{Amount: c.amount, Currency: "156", HostReachable: true,
		Date: time.Date(2026, 11, 27, 10, 30, 0, 0, time.UTC)}
	s, err := simKernel(t, 0x62).Start(ctx, rec, c.iface, txn, &deckUI{pin: card.PIN})
	if s == nil {
		t.Fatalf("Start: %v", err)
	}
	defer s.Wipe()
	if s.Outcome() == emv.OutcomeOnlineRequest {
		cd := s.Card()
		resp, err := issuerAnswer(card, cd.PAN, cd.PANSequence, s.OnlineData(), c.host)
		cd.Wipe()
		if err != nil {
			t.Fatalf("issuer: %v", err)
		}
		if _, err := s.Complete(ctx, resp); err != nil {
			t.Fatalf("Complete: %v", err)
		}
	}
	if got := s.Summary().Outcome; got != c.want {
		t.Fatalf("recorded outcome %s, want %s", got, c.want)
	}
	b, err := rec.Trace().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDeckTraces: the traces shipped in testdata/deck-traces are the deck's
// cards as they are today (recording again gives the same bytes: the
// deck's keys, the chips' randomness and the kernel's are all seeded), and
// each replays to its recorded outcome as "posctl emv replay" runs it,
// with the simulated board's parameters and nothing else.
func TestDeckTraces(t *testing.T) {
	cfg, err := emv.LoadParams(emv.SimParams())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range deckTraces {
		t.Run(c.file, func(t *testing.T) {
			path := filepath.Join("testdata", "deck-traces", c.file)
			rec := recordDeckTrace(t, c)
			if *updateDeckTraces {
				if err := os.WriteFile(path, rec, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(data, rec) {
				t.Errorf("%s is not what the deck records today (go test ./internal/daemon -run TestDeckTraces -update)", path)
			}
			tr, err := emv.ParseTrace(data)
			if err != nil {
				t.Fatal(err)
			}
			res := emv.Replay(context.Background(), cfg, tr, emv.Opts{})
			if res.Error != "" || res.Outcome != c.want || res.AID == "" || res.TVR == "" {
				t.Fatalf("replay: %+v", res)
			}
			tvr := mustHex(t, res.TVR)
			for _, bit := range c.tvrBits {
				if len(tvr) != 5 || tvr[bit[0]]&byte(bit[1]) == 0 {
					t.Errorf("replayed TVR %s: byte %d bit %02X not set", res.TVR, bit[0]+1, bit[1])
				}
			}
			if c.host != "" && res.DE55 == "" {
				t.Errorf("online replay without DE55: %+v", res)
			}
			t.Logf("%s: %s TVR %s TSI %s CVM %s %s", c.file, res.Outcome, res.TVR, res.TSI, res.CVMResults, res.CryptogramType)
		})
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
