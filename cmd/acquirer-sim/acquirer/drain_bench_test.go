package acquirer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"posd/board/sim/deck"
	"posd/cmd/acquirer-sim/acquirer"
	"posd/crypto/dukpt"
	"posd/crypto/sealbox"
	"posd/terminal/host"
	"posd/terminal/shred"
	"posd/terminal/store"
	"posd/terminal/txn"
	"posd/terminal/wiresec"
)

// drainKeys is the terminal's DUKPT under the simulator's default AES BDK.
type drainKeys struct {
	mu sync.Mutex
	o  *dukpt.AESOriginator
}

func (k *drainKeys) Next() (*wiresec.Session, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	ksn, key, err := k.o.Next()
	if err != nil {
		return nil, err
	}
	return wiresec.ForTerminal(wiresec.ModeAES, ksn, key)
}

type noCards struct{}

func (noCards) ReadCard(ctx context.Context) (*txn.Card, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
func (noCards) Flush() {}

// countWriter counts the journal's busy and duplicate advices.
type countWriter struct {
	mu              sync.Mutex
	busy, duplicate int
}

func (w *countWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, l := range bytes.Split(p, []byte("\n")) {
		var e map[string]any
		if json.Unmarshal(l, &e) != nil || e["kind"] != "advice" || e["direction"] != "in" {
			continue
		}
		if e["busy"] == true {
			w.busy++
		}
		if e["duplicate"] == true {
			w.duplicate++
		}
	}
	return len(p), nil
}

// BenchmarkAdviceDrain: a terminal back online with 10,000 offline
// approvals stored forwards them to acquirer-sim over its ISO 8583 link,
// the terminal's advice rate set to the host's limit (rate-limit). Target:
// at least 90 % of the limit (pct-of-limit), no duplicate at the host.
// Each advice is a DUKPT key, a MAC both ways, the seal opened and two
// bbolt commits (the attempt, then the acknowledgement).
func BenchmarkAdviceDrain(b *testing.B) {
	const n, limit = 10000, 250.0
	card, _ := deck.Lookup("visa-classic")
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		journal := &countWriter{}
		srv, err := acquirer.New(&acquirer.Opts{AdviceRate: limit, Journal: journal})
		if err != nil {
			b.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		go srv.Serve(ctx, ln)
		db, err := store.Open(filepath.Join(dir, "posd.db"), nil)
		if err != nil {
			b.Fatal(err)
		}
		wrap, _ := sealbox.New(bytes.Repeat([]byte{5}, sealbox.KeySize), nil)
		box, err := shred.Open(filepath.Join(dir, "advice.slots"), wrap, &shred.Opts{Slots: n})
		if err != nil {
			b.Fatal(err)
		}
		err = db.Do(func(tx *store.Tx) error {
			first, err := tx.ReserveIDs(n)
			if err != nil {
				return err
			}
			for i := range uint64(n) {
				id := strconv.FormatUint(first+i, 10)
				plain, _ := json.Marshal(struct {
					T2 []byte `json:"t2"`
				}{[]byte(card.Track2)})
				sealed, err := box.Seal(plain, []byte("posd advice "+id))
				if err != nil {
					return err
				}
				stan, _ := tx.NextSTAN()
				rec := store.Txn{ID: id, Kind: "purchase", State: store.StateOfflineApproved, Amount: 1000, Currency: "156",
					STAN: stan, EntryMode: "051", ResponseCode: host.OfflineApproved}
				if err := tx.Insert(&rec); err != nil {
					return err
				}
				if err := tx.Enqueue(&store.Job{Kind: store.JobAdvice, TxnID: id, Data: sealed}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		iksn := []byte{0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0, 0, 0, 0}
		ik, _ := dukpt.AESDeriveIK(acquirer.DefaultBDK(wiresec.ModeAES), iksn)
		o, err := dukpt.NewAESOriginator(ik, iksn)
		if err != nil {
			b.Fatal(err)
		}
		hc, err := host.New(&host.Opts{Addr: ln.Addr().String(), TerminalID: "POS00001", MerchantID: "MERCHANT0000001"})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		e, err := txn.New(txn.Opts{Store: db, Host: hc, Keys: &drainKeys{o: o}, Reader: noCards{}, Sealer: box,
			AdviceRate: limit, CardTimeout: time.Second, HostTimeout: 5 * time.Second, ReversalRetry: time.Second,
			Currencies: []string{"156"}})
		if err != nil {
			b.Fatal(err)
		}
		for {
			if got, _ := srv.AdviceTotal("156"); got == n {
				break
			}
			if time.Since(start) > 10*time.Minute {
				b.Fatal("the drain did not finish in 10 minutes")
			}
			time.Sleep(10 * time.Millisecond)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		e.Halt()
		hc.Close()
		db.Close()
		box.Close()
		cancel()
		srv.Close()
		b.StartTimer()
		rate := float64(n) / elapsed.Seconds()
		b.ReportMetric(rate, "advices/s")
		b.ReportMetric(limit, "rate-limit")
		b.ReportMetric(100*rate/limit, "pct-of-limit")
		journal.mu.Lock()
		b.ReportMetric(float64(journal.duplicate), "duplicates")
		b.ReportMetric(float64(journal.busy), "busy")
		journal.mu.Unlock()
		if rate < 0.9*limit || journal.duplicate != 0 {
			b.Errorf("%d advices at %.0f a second against a limit of %.0f, %d duplicates", n, rate, limit, journal.duplicate)
		}
	}
}
