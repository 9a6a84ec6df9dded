package emv

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// benchReplay runs the kernel on a recorded trace: a zero-latency card
// that spends no CPU of its own, so the figure is the kernel's.
func benchReplay(b *testing.B, tr *Trace, cfg Config) {
	iface, _ := tr.iface()
	over, err := tr.terminalValues()
	if err != nil {
		b.Fatal(err)
	}
	keys, _ := tr.capks()
	if err := cfg.AddCAPKs(keys...); err != nil {
		b.Fatal(err)
	}
	txn := Txn{Amount: 0, Currency: "156", HostReachable: true}
	txn.Amount, _ = bcdValue(over[0x9F02])
	txn.Date = traceDate(over[0x9A], over[0x9F21])
	k := New(cfg, Opts{})
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		card := tr.Card()
		s, err := k.start(ctx, card, iface, txn, &replayUI{card: card}, over)
		if err != nil || card.Remaining() != 0 {
			b.Fatalf("%v, %d exchanges left", err, card.Remaining())
		}
		s.Wipe()
	}
}

// BenchmarkContactlessQVSDC is a whole kernel 3 offline approval: PPSE,
// SELECT, GPO, three records, issuer and ICC certificate recovery and
// fDDA (target: at most 2 ms).
func BenchmarkContactlessQVSDC(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("testdata", "contactless_qvsdc_offline.json"))
	if err != nil {
		b.Fatal(err)
	}
	tr, err := ParseTrace(data)
	if err != nil {
		b.Fatal(err)
	}
	benchReplay(b, tr, simConfig(b))
}

// BenchmarkContactlessMChip is a whole kernel 2 offline approval with
// CDA: PPSE, SELECT, GPO, records, certificate recovery, CVM list,
// GENERATE AC and the CDA signature's check.
func BenchmarkContactlessMChip(b *testing.B) {
	card, _ := newM2Card(b, false)
	rec := NewRecorder(card, Contactless)
	txn := tap(1000)
	txn.Date = testDate
	s, err := testKernel(b, simConfigWithTestCA(b), nil).Start(context.Background(), rec, Contactless, txn, nil)
	if err != nil || s.Outcome() != OutcomeApprovedOffline {
		b.Fatalf("recording: %v %v", s.Outcome(), err)
	}
	benchReplay(b, rec.Trace(), simConfig(b))
}
