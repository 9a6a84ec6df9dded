package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"posd/board/entry"
	"posd/board/sim/deck"
	"posd/conn/apdu"
	"posd/terminal/emv"
	"posd/terminal/risk"
)

// BenchmarkKernelDeckTrace replays the contactless deck traces: the
// kernel's whole transaction against a card with no latency and no CPU of
// its own (target: at most 2 ms per transaction on the development
// machine). Replay's own set-up (the parameters' copy, the trace's CA
// keys) is counted too.
func BenchmarkKernelDeckTrace(b *testing.B) {
	cfg, err := emv.LoadParams(emv.SimParams())
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range deckTraces {
		if c.iface != emv.Contactless {
			continue
		}
		b.Run(strings.TrimSuffix(c.file, ".json"), func(b *testing.B) {
			data, err := os.ReadFile(filepath.Join("testdata", "deck-traces", c.file))
			if err != nil {
				b.Fatal(err)
			}
			tr, err := emv.ParseTrace(data)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if res := emv.Replay(context.Background(), cfg, tr, emv.Opts{}); res.Error != "" || res.Outcome != c.want {
					b.Fatalf("replay: %+v", res)
				}
			}
		})
	}
}

// timedCard adds up the time spent inside the reader's Transmit: the
// link and the card, everything that is not the kernel.
type timedCard struct {
	card apdu.Transceiver
	mu   sync.Mutex
	in   time.Duration
}

func (t *timedCard) Transmit(ctx context.Context, c []byte) ([]byte, error) {
	start := time.Now()
	r, err := t.card.Transmit(ctx, c)
	t.mu.Lock()
	t.in += time.Since(start)
	t.mu.Unlock()
	return r, err
}

// Targets of the card-in-field phase (the acceptance).
const (
	fieldTarget       = 500 * time.Millisecond
	kernelShareTarget = 0.05
)

// BenchmarkCardInField taps every contactless deck card on the simulated
// board (PN532 with its modelled 106 kbit/s link and frame timing) and
// times its card-in-field phase: from entering the field to the kernel
// letting it go (the first cryptogram read, or the end of the
// application). field-ms is that wall time; kernel-% the share of it
// outside the reader's Transmit, that is the kernel's own work. Targets:
// at most 500 ms and 5 %; a card over either fails the benchmark.
func BenchmarkCardInField(b *testing.B) {
	board, reader := openSimBoard(b)
	for _, card := range deck.Cards {
		if card.Chip == nil || !card.Chip.Contactless {
			continue
		}
		b.Run(card.Name, func(b *testing.B) {
			k := simKernel(b, 0x62)
			var field, kernel time.Duration
			for b.Loop() {
				f, k := tapOnce(b, board, reader, k, card)
				field += f
				kernel += k
			}
			n := time.Duration(b.N)
			share := float64(kernel) / float64(field)
			b.ReportMetric(float64(field/n)/float64(time.Millisecond), "field-ms")
			b.ReportMetric(100*share, "kernel-%")
			if field/n > fieldTarget || share > kernelShareTarget {
				b.Errorf("%s: card in field %v, kernel %.1f %% (targets %v, %.0f %%)", card.Name, field/n, 100*share, fieldTarget, 100*kernelShareTarget)
			}
		})
	}
}

// tapOnce runs one tap and returns the card-in-field time and the part of
// it the kernel spent outside the reader.
func tapOnce(b *testing.B, board interface {
	Tap(string) error
	RemoveCard()
}, reader cardReader, k *emv.Kernel, card deck.Card) (field, kernel time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := board.Tap(card.Name); err != nil {
		b.Fatal(err)
	}
	got, err := reader.ReadCardIn(ctx, []risk.EntryMode{risk.EntryMode(entry.Tap)})
	if err != nil {
		b.Fatal(err)
	}
	tc := &timedCard{card: got.Chip.Card}
	kstart := time.Now()
	s, err := k.Start(ctx, tc, got.Chip.Interface, emv.Txn{Amount: 1234, Currency: "156", HostReachable: true}, &deckUI{pin: card.PIN})
	end := time.Now()
	if s == nil {
		b.Fatalf("%s: %v", card.Name, err)
	}
	s.Wipe()
	board.RemoveCard()
	_ = got.Chip.Release(context.Background())
	return end.Sub(start), end.Sub(kstart) - tc.in
}
