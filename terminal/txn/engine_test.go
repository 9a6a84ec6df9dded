package txn

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"posd/crypto/dukpt"
	"posd/terminal/host"
	"posd/terminal/risk"
	"posd/terminal/store"
	"posd/terminal/wiresec"
)

type fakeReader struct {
	cards chan *Card
	errs  chan error
	// readAgain counts ReadAgain calls (the sale asking for a card still
	// in the field to be read again).
	readAgain atomic.Int32
}

func (r *fakeReader) ReadAgain() { r.readAgain.Add(1) }

func newReader() *fakeReader {
	return &fakeReader{cards: make(chan *Card, 4), errs: make(chan error, 4)}
}

func (r *fakeReader) Flush() {}
func (r *fakeReader) ReadCard(ctx context.Context) (*Card, error) {
	select {
	case c := <-r.cards:
		return c, nil
	case err := <-r.errs:
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func card(expiry string) *Card {
	return &Card{PAN: "4761739001010010", Track2: []byte("4761739001010010=" + expiry + "1010000000000000"),
		Expiry: expiry, EntryMode: "901", Mode: risk.EntrySwipe, Wipe: func() {}}
}

type fakeHost struct {
	mu        sync.Mutex
	purchase  func(host.Purchase) (host.Result, error)
	reversals []host.Reversal
	revErr    error
	// advice answers advices (nil: "00"); advices are those sent.
	advice  func(host.Advice) (host.Result, error)
	advices []host.Advice
	// followUp answers voids and completions (nil: "00"); followUps are
	// those sent. settle answers settlements (nil: "00"); uploads are the
	// batch upload's items.
	followUp    func(host.Reference) (host.Result, error)
	followUps   []host.Reference
	settle      func(host.Settlement) (host.Result, error)
	settlements []host.Settlement
	uploads     []host.UploadItem
}

func (h *fakeHost) FollowUp(ctx context.Context, r host.Reference, s *wiresec.Session) (host.Result, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(s.KSN()) == 0 {
		return host.Result{}, errors.New("no KSN")
	}
	h.followUps = append(h.followUps, r)
	if h.followUp != nil {
		return h.followUp(r)
	}
	return host.Result{ResponseCode: "00", AuthCode: "F00001", RRN: "000000009999"}, nil
}

func (h *fakeHost) Settle(ctx context.Context, st host.Settlement, s *wiresec.Session) (host.Result, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(s.KSN()) == 0 {
		return host.Result{}, errors.New("no KSN")
	}
	h.settlements = append(h.settlements, st)
	if h.settle != nil {
		return h.settle(st)
	}
	return host.Result{ResponseCode: host.SettlementBalanced}, nil
}

func (h *fakeHost) Upload(ctx context.Context, u host.UploadItem, s *wiresec.Session) (host.Result, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(s.KSN()) == 0 {
		return host.Result{}, errors.New("no KSN")
	}
	h.uploads = append(h.uploads, u)
	return host.Result{ResponseCode: "00"}, nil
}

func (h *fakeHost) Advice(ctx context.Context, a host.Advice, s *wiresec.Session) (host.Result, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(s.KSN()) == 0 {
		return host.Result{}, errors.New("no KSN")
	}
	a.Track2 = bytes.Clone(a.Track2) // the engine wipes its copy
	h.advices = append(h.advices, a)
	if h.advice != nil {
		return h.advice(a)
	}
	return host.Result{ResponseCode: host.AdviceAccepted}, nil
}

func (h *fakeHost) Purchase(ctx context.Context, p host.Purchase, s *wiresec.Session) (host.Result, error) {
	if len(s.KSN()) == 0 {
		return host.Result{}, errors.New("no KSN")
	}
	return h.purchase(p)
}

func (h *fakeHost) Reverse(ctx context.Context, r host.Reversal, s *wiresec.Session) (host.Result, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.revErr != nil {
		return host.Result{}, h.revErr
	}
	h.reversals = append(h.reversals, r)
	return host.Result{ResponseCode: "00"}, nil
}

type testKeys struct {
	mu sync.Mutex
	o  dukpt.Originator
}

// testBDK is the published AES DUKPT test BDK (X9.24-3 supplement).
var testBDK = []byte{0xFE, 0xDC, 0xBA, 0x98, 0x76, 0x54, 0x32, 0x10, 0xF1, 0xF1, 0xF1, 0xF1, 0xF1, 0xF1, 0xF1, 0xF1}

func newKeys(t *testing.T) *testKeys {
	bdk := testBDK
	iksn := []byte{0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0, 0, 0, 0}
	ik, err := dukpt.AESDeriveIK(bdk, iksn)
	if err != nil {
		t.Fatal(err)
	}
	o, err := dukpt.NewAESOriginator(ik, iksn)
	if err != nil {
		t.Fatal(err)
	}
	return &testKeys{o: o}
}

func (k *testKeys) Next() (*wiresec.Session, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	ksn, key, err := k.o.Next()
	if err != nil {
		return nil, err
	}
	return wiresec.ForTerminal(wiresec.ModeAES, ksn, key)
}

func setup(t *testing.T, h *fakeHost) (*Engine, *fakeReader, *store.DB, string) {
	t.Helper()
	return setupHost(t, h)
}

// setupHost is setup with any host.
func setupHost(t *testing.T, h Host) (*Engine, *fakeReader, *store.DB, string) {
	t.Helper()
	return setupStore(t, h, nil)
}

// setupStore is setupHost with the store's options.
func setupStore(t *testing.T, h Host, so *store.Opts) (*Engine, *fakeReader, *store.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "posd.db")
	db, err := store.Open(path, so)
	if err != nil {
		t.Fatal(err)
	}
	r := newReader()
	e, err := New(Opts{Store: db, Host: h, Keys: newKeys(t), Reader: r, CardTimeout: 5 * time.Second,
		HostTimeout: 5 * time.Second, ReversalRetry: 20 * time.Millisecond, MaxAmount: 100000, Currencies: []string{"156"},
		Clock: newOffsetClock(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Halt(); db.Close() })
	return e, r, db, path
}

// offsetClock runs like the wall clock from a chosen date.
type offsetClock struct {
	base  time.Time
	start time.Time
}

func newOffsetClock(base time.Time) offsetClock { return offsetClock{base: base, start: time.Now()} }

func (c offsetClock) Now() time.Time                         { return c.base.Add(time.Since(c.start)) }
func (c offsetClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

func wait(t *testing.T, e *Engine, id string) store.Txn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tx, err := e.Wait(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

func TestApproveAndDecline(t *testing.T) {
	h := &fakeHost{purchase: func(p host.Purchase) (host.Result, error) {
		if string(p.Track2[:16]) != "4761739001010010" || p.Currency != "156" || p.STAN == 0 {
			return host.Result{}, errors.New("bad request")
		}
		if p.Amount == 1051 {
			return host.Result{ResponseCode: "51"}, nil
		}
		return host.Result{ResponseCode: "00", AuthCode: "ABC123", RRN: "000000000001"}, nil
	}}
	e, r, _, _ := setup(t, h)
	tx, err := e.StartSale(1234, "156")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.StartSale(100, "156"); !errors.Is(err, ErrBusy) {
		t.Fatalf("second sale: %v", err)
	}
	r.cards <- card("3012")
	got := wait(t, e, tx.ID)
	if got.State != store.StateApproved || got.AuthCode != "ABC123" || got.MaskedPAN != "476173******0010" || got.KSN == "" {
		t.Fatalf("approve: %+v", got)
	}
	tx, _ = e.StartSale(1051, "156")
	r.cards <- card("3012")
	if got := wait(t, e, tx.ID); got.State != store.StateDeclined || got.ResponseCode != "51" {
		t.Fatalf("decline: %+v", got)
	}
}

func TestRejectedBeforeSending(t *testing.T) {
	sent := 0
	h := &fakeHost{purchase: func(host.Purchase) (host.Result, error) { sent++; return host.Result{ResponseCode: "00"}, nil }}
	e, r, _, _ := setup(t, h)
	for _, c := range []struct {
		amount int64
		cur    string
		want   error
	}{{0, "156", ErrAmount}, {100001, "156", ErrAmount}, {100, "840", ErrCurrency}} {
		if _, err := e.StartSale(c.amount, c.cur); !errors.Is(err, c.want) {
			t.Errorf("StartSale(%d, %s) = %v", c.amount, c.cur, err)
		}
	}
	// The cashier reads which currency was refused and which are taken.
	if _, err := e.StartSale(100, "840"); err == nil || !strings.Contains(err.Error(), "USD is not taken here (this terminal takes CNY)") {
		t.Errorf("StartSale in USD: %v", err)
	}
	tx, _ := e.StartSale(100, "156")
	r.cards <- card("2012") // expired
	if got := wait(t, e, tx.ID); got.State != store.StateFailed || got.STAN != 0 {
		t.Fatalf("expired: %+v", got)
	}
	tx, _ = e.StartSale(100, "156")
	r.errs <- errors.New("msr: track 2: malformed track")
	if got := wait(t, e, tx.ID); got.State != store.StateFailed || got.Error == "" {
		t.Fatalf("bad card: %+v", got)
	}
	tx, _ = e.StartSale(100, "156")
	for e.Active() == "" {
		time.Sleep(time.Millisecond)
	}
	if err := e.Cancel(tx.ID); err != nil {
		t.Fatal(err)
	}
	if got := wait(t, e, tx.ID); got.State != store.StateFailed {
		t.Fatalf("cancel: %+v", got)
	}
	if sent != 0 {
		t.Fatalf("%d requests sent for rejected sales", sent)
	}
}

func TestUnreachableIsNotReversed(t *testing.T) {
	h := &fakeHost{purchase: func(host.Purchase) (host.Result, error) {
		return host.Result{}, host.ErrUnreachable
	}}
	e, r, _, _ := setup(t, h)
	tx, _ := e.StartSale(100, "156")
	r.cards <- card("3012")
	got := wait(t, e, tx.ID)
	if got.State != store.StateFailed || got.STAN == 0 {
		t.Fatalf("unreachable: %+v", got)
	}
	time.Sleep(50 * time.Millisecond)
	if len(h.reversals) != 0 {
		t.Fatal("reversal sent for a request that never left")
	}
}

func TestNoResponseIsReversedUntilAcknowledged(t *testing.T) {
	for _, hostErr := range []error{host.ErrNoResponse, host.ErrBadMAC, host.ErrBadResponse} {
		h := &fakeHost{revErr: host.ErrUnreachable, purchase: func(host.Purchase) (host.Result, error) {
			return host.Result{}, hostErr
		}}
		e, r, db, _ := setup(t, h)
		tx, _ := e.StartSale(1091, "156")
		r.cards <- card("3012")
		got := wait(t, e, tx.ID)
		if got.State != store.StateReversalPending {
			t.Fatalf("%v: %+v", hostErr, got)
		}
		// The host is down for a while: the reversal stays pending and is
		// retried.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			got, _ := db.Get(tx.ID)
			if got.State != store.StateReversalPending {
				t.Fatalf("%v: while host down: %+v", hostErr, got)
			}
			if got.Attempts >= 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%v: reversal not retried: %+v", hostErr, got)
			}
		}
		h.mu.Lock()
		h.revErr = nil
		h.mu.Unlock()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, _ = db.Get(tx.ID)
			if got.State == store.StateReversed || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		h.mu.Lock()
		revs := append([]host.Reversal(nil), h.reversals...)
		h.mu.Unlock()
		if got.State != store.StateReversed || len(revs) != 1 || revs[0].OrigSTAN != got.STAN || revs[0].Amount != 1091 || revs[0].STAN == got.STAN {
			t.Fatalf("%v: reversal: %+v %+v", hostErr, got, revs)
		}
	}
}

func TestRecoveryAfterCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "posd.db")
	db, _ := store.Open(path, nil)
	a := store.Txn{Kind: "purchase", Amount: 100, Currency: "156"}
	b := store.Txn{Kind: "purchase", Amount: 200, Currency: "156"}
	db.Create(&a)
	db.Create(&b)
	db.Update(b.ID, func(t *store.Txn) error { t.State, t.STAN = store.StateAuthSent, 9; return nil })
	h := &fakeHost{purchase: func(host.Purchase) (host.Result, error) { return host.Result{ResponseCode: "00"}, nil }}
	e, err := New(Opts{Store: db, Host: h, Keys: newKeys(t), Reader: newReader(), ReversalRetry: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { e.Halt(); db.Close() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		gb, _ := db.Get(b.ID)
		if gb.State == store.StateReversed || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	ga, _ := db.Get(a.ID)
	gb, _ := db.Get(b.ID)
	if ga.State != store.StateFailed || gb.State != store.StateReversed || len(h.reversals) != 1 || h.reversals[0].OrigSTAN != 9 {
		t.Fatalf("after recovery: %+v %+v %+v", ga, gb, h.reversals)
	}
}

func TestExpired(t *testing.T) {
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	for yymm, want := range map[string]bool{"2611": false, "2610": true, "2701": false, "2512": true, "xx": true} {
		if got := expired(yymm, now); got != want {
			t.Errorf("expired(%s) = %v", yymm, got)
		}
	}
}

// The cashier cancels while the request is at the host: the sale runs to
// its answer, and an approval is reversed (cancelled at the terminal),
// once, through the outbox.
func TestCancelAfterTheRequestLeftReversesTheApproval(t *testing.T) {
	release := make(chan struct{})
	inHost := make(chan struct{})
	h := &fakeHost{purchase: func(host.Purchase) (host.Result, error) {
		close(inHost)
		<-release
		return host.Result{ResponseCode: "00", AuthCode: "A1"}, nil
	}}
	e, r, _, _ := setup(t, h)
	tx, _ := e.StartSale(100, "156")
	r.cards <- card("3012")
	<-inHost
	err := e.Cancel(tx.ID)
	close(release)
	if err != nil {
		t.Fatalf("cancel with the request in flight: %v", err)
	}
	got := wait(t, e, tx.ID)
	// The reversal loop (every 20 ms here) may have sent it already.
	if (got.State != store.StateReversalPending && got.State != store.StateReversed) || got.Reason != string(host.ReasonTerminalCancel) || got.AuthCode != "A1" {
		t.Fatalf("approved sale cancelled by the cashier: %+v", got)
	}
	e.SendReversals(context.Background())
	got, _ = e.Get(tx.ID)
	h.mu.Lock()
	defer h.mu.Unlock()
	if got.State != store.StateReversed || len(h.reversals) != 1 || h.reversals[0].Reason != host.ReasonTerminalCancel ||
		h.reversals[0].OrigSTAN != got.STAN {
		t.Fatalf("after the outbox: %+v, reversals %+v", got, h.reversals)
	}
	if err := e.Cancel(tx.ID); !errors.Is(err, store.ErrState) {
		t.Fatalf("cancel of a finished sale: %v", err)
	}
}

// Each transaction the cashier runs ends with exactly one Ended event (its
// slip prints on it); the outbox's later changes to it (its reversal
// acknowledged) are PhaseDone events without Ended.
func TestEndedOncePerTransaction(t *testing.T) {
	h := &fakeHost{purchase: func(p host.Purchase) (host.Result, error) {
		if p.Amount == 1091 {
			return host.Result{}, host.ErrNoResponse
		}
		return host.Result{ResponseCode: "00", AuthCode: "ABC123", RRN: "000000000001"}, nil
	}}
	e, r, db, _ := setup(t, h)
	events, stop := e.Subscribe()
	defer stop()
	ok, _ := e.StartSale(1234, "156")
	r.cards <- card("3012")
	wait(t, e, ok.ID)
	rev, _ := e.StartSale(1091, "156")
	r.cards <- card("3012")
	wait(t, e, rev.ID)
	deadline := time.After(10 * time.Second)
	ended := map[string]int{}
	var background []store.State
	for done := false; !done; {
		select {
		case ev := <-events:
			switch {
			case ev.Ended:
				if ev.Phase != PhaseDone {
					t.Fatalf("Ended on phase %s", ev.Phase)
				}
				ended[ev.Txn.ID]++
			case ev.Phase == PhaseDone:
				background = append(background, ev.Txn.State)
				done = ev.Txn.ID == rev.ID && ev.Txn.State == store.StateReversed
			}
		case <-deadline:
			got, _ := db.Get(rev.ID)
			t.Fatalf("no reversal acknowledged: %+v (ended %v, background %v)", got, ended, background)
		}
	}
	if ended[ok.ID] != 1 || ended[rev.ID] != 1 || len(ended) != 2 {
		t.Fatalf("Ended events per id: %v, want one for %s and one for %s", ended, ok.ID, rev.ID)
	}
}
