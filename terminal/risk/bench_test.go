package risk

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// benchFixture: a terminal with a hotlist of 100,000 cards and a day of
// velocity history (10,000 other cards, 5 approvals each; the card under
// test has 5 too).
func benchFixture(b *testing.B) *fixture {
	f := newFixture(b, DefaultRules())
	list := make([]string, 100000)
	for i := range list {
		list[i] = fmt.Sprintf("6222029%09d", i)
	}
	f.loadHotlist(1, list...)
	err := f.bolt().Update(func(tx *bolt.Tx) error {
		for i := range 10000 {
			card, _ := f.e.Card(fmt.Appendf(nil, "6212269%09d", i))
			for j := range 5 {
				if err := addVelocity(tx, card, t0.Add(-time.Duration(j)*time.Hour), 100); err != nil {
					return err
				}
			}
		}
		card, _ := f.e.Card([]byte(panA))
		for j := range 5 {
			if err := addVelocity(tx, card, t0.Add(-time.Duration(j)*time.Hour), 100); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	f.ledger.set(OfflineSummary{Count: 2, Amount: 300, Oldest: t0.Add(-time.Hour)}, nil)
	return f
}

// BenchmarkCheck is the cost a sale pays before authorization. Target:
// microseconds (the sale must not notice it).
func BenchmarkCheck(b *testing.B) {
	f := benchFixture(b)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		txn  Txn
		cvm  CVM
	}{
		{"tap-online", sale(5000, EntryTap, panA), CVMNone},
		{"insert-offline", sale(5000, EntryInsert, panA).offline(), CVMOfflinePIN},
		{"qr", sale(5000, EntryQR, ""), CVMNone},
	} {
		b.Run(c.name, func(b *testing.B) {
			if d := f.e.Check(ctx, c.txn); !d.Allow || d.CVM != c.cvm {
				b.Fatalf("%+v", d)
			}
			b.ReportAllocs()
			for b.Loop() {
				f.e.Check(ctx, c.txn)
			}
		})
	}
}

// BenchmarkRecord is the cost after an approval: one bbolt commit (fsync).
func BenchmarkRecord(b *testing.B) {
	f := benchFixture(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := f.e.Record(ctx, sale(100, EntryTap, panB), true); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadHotlist: parsing and committing a list of 100,000 cards,
// as a parameter download does.
func BenchmarkLoadHotlist(b *testing.B) {
	f := newFixture(b, DefaultRules())
	list := make([]string, 100000)
	for i := range list {
		list[i] = fmt.Sprintf("6222029%09d", i)
	}
	file, err := BuildHotlist(f.key, 1, pans(list...))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(file)))
	b.ReportAllocs()
	v := 1
	for b.Loop() {
		v++
		next := bytes.Replace(file, []byte(`"version":1,`), fmt.Appendf(nil, `"version":%d,`, v), 1)
		if err := f.e.LoadHotlist(next); err != nil {
			b.Fatal(err)
		}
	}
}
