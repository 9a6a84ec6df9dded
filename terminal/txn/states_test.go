package txn

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"testing"
	"time"

	"posd/terminal/host"
	"posd/terminal/pin"
	"posd/terminal/store"
	"posd/terminal/wiresec"
)

func approveAll() *fakeHost {
	return &fakeHost{purchase: func(host.Purchase) (host.Result, error) {
		return host.Result{ResponseCode: "00", AuthCode: "A1B2C3"}, nil
	}}
}

func TestFailureCodes(t *testing.T) {
	type setupFn func(e *Engine, r *fakeReader, id string)
	for _, c := range []struct {
		name  string
		host  *fakeHost
		card  setupFn
		want  Failure
		state store.State
	}{
		{"cancelled", approveAll(), func(e *Engine, r *fakeReader, id string) { e.Cancel(id) }, FailCancelled, store.StateFailed},
		{"expired", approveAll(), func(e *Engine, r *fakeReader, id string) { r.cards <- card("2001") }, FailCardExpired, store.StateFailed},
		{"reader broke", approveAll(), func(e *Engine, r *fakeReader, id string) { r.errs <- errors.New("port gone") }, FailCardRead, store.StateFailed},
		{"unreachable", &fakeHost{purchase: func(host.Purchase) (host.Result, error) { return host.Result{}, host.ErrUnreachable }},
			func(e *Engine, r *fakeReader, id string) { r.cards <- card("3012") }, FailHostUnreachable, store.StateFailed},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, r, _, _ := setup(t, c.host)
			tx, err := e.StartSale(100, "156")
			if err != nil {
				t.Fatal(err)
			}
			c.card(e, r, tx.ID)
			got := wait(t, e, tx.ID)
			if got.State != c.state || Failure(got.Failure) != c.want || got.Error == "" {
				t.Fatalf("%+v, want %s %s", got, c.state, c.want)
			}
		})
	}
	// No card before the timeout.
	e, _, _ := setupWith(t, approveAll(), func(o *Opts) { o.CardTimeout = 50 * time.Millisecond })
	tx, _ := e.StartSale(100, "156")
	if got := wait(t, e, tx.ID); Failure(got.Failure) != FailNoCard {
		t.Fatalf("no card: %+v", got)
	}
	// No key.
	e, r, _ := setupWith(t, approveAll(), func(o *Opts) { o.Keys = brokenKeys{} })
	tx, _ = e.StartSale(100, "156")
	r.cards <- card("3012")
	if got := wait(t, e, tx.ID); Failure(got.Failure) != FailKeys || got.STAN != 0 {
		t.Fatalf("no key: %+v", got)
	}
	// Set by the flow itself, not classified from an error: recovery's,
	// and face pay's (face.go names each).
	direct := map[Failure]bool{FailInterrupted: true, FailFaceUnavailable: true, FailFaceNoConsent: true,
		FailFaceSpoof: true, FailFaceRetry: true, FailFaceNoMatch: true, FailFacePlatform: true, FailWalletUnknown: true, FailWalletUnreachable: true}
	for _, f := range Failures {
		if failureOf(fmt.Errorf("x: %w", errorOf(f))) != f && !direct[f] {
			t.Errorf("failureOf does not map %s back", f)
		}
	}
}

// errorOf is the error a failure code comes from (FailInterrupted comes from
// recovery, not from an error).
func errorOf(f Failure) error {
	return map[Failure]error{FailNoCard: ErrNoCard, FailCancelled: ErrCancelled, FailCardRead: ErrCardRead,
		FailCardExpired: ErrCardExpired, FailHostUnreachable: host.ErrUnreachable, FailKeys: ErrKeys,
		FailShutdown: ErrShutdown, FailInternal: errors.New("disk"), FailRisk: ErrRisk, FailPINCancelled: pin.ErrCancelled,
		FailPINTimeout: pin.ErrTimeout, FailPINUnavailable: ErrPIN, FailCardRemoved: ErrCardRemoved,
		FailCardNotAccepted: ErrCardNotAccepted, FailOriginal: ErrOriginal, FailWrongCard: ErrWrongCard, FailNoResponse: ErrNoResponse,
		FailSettlement: ErrSettlement, FailNotPaymentCode: ErrNotPaymentCode, FailWallet: ErrWallet, FailSettleAgain: ErrSettleAgain}[f]
}

type brokenKeys struct{}

func (brokenKeys) Next() (*wiresec.Session, error) { return nil, errors.New("not provisioned") }

func setupWith(t *testing.T, h Host, mod func(*Opts)) (*Engine, *fakeReader, *store.DB) {
	t.Helper()
	db := openDB(t)
	r := newReader()
	o := Opts{Store: db, Host: h, Keys: newKeys(t), Reader: r, CardTimeout: 5 * time.Second, HostTimeout: 5 * time.Second,
		ReversalRetry: 20 * time.Millisecond, Clock: newOffsetClock(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC))}
	mod(&o)
	e, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Halt)
	return e, r, db
}

// TestUnreadableCardIsAskedAgain: a damaged stripe does not end the sale;
// the customer is asked again, and a good card then goes through.
func TestUnreadableCardIsAskedAgain(t *testing.T) {
	e, r, _ := setupWith(t, approveAll(), func(*Opts) {})
	events, stop := e.Subscribe()
	defer stop()
	tx, _ := e.StartSale(100, "156")
	r.errs <- fmt.Errorf("msr: %w", ErrUnreadable)
	waitPhase(t, events, PhaseRetryCard)
	r.cards <- card("3012")
	if got := wait(t, e, tx.ID); got.State != store.StateApproved {
		t.Fatalf("after a re-swipe: %+v", got)
	}
	// Unreadable until the card timeout: card read error, not "no card".
	e, r, _ = setupWith(t, approveAll(), func(o *Opts) { o.CardTimeout = 300 * time.Millisecond })
	tx, _ = e.StartSale(100, "156")
	r.errs <- fmt.Errorf("msr: %w", ErrUnreadable)
	if got := wait(t, e, tx.ID); got.State != store.StateFailed || Failure(got.Failure) != FailCardRead {
		t.Fatalf("unreadable until the timeout: %+v", got)
	}
}

func waitPhase(t *testing.T, events <-chan Event, want Phase) Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-events:
			if ev.Phase == want {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s event", want)
		}
	}
}

// TestEventsFollowTheSale: the display learns every phase from events.
func TestEventsFollowTheSale(t *testing.T) {
	e, r, db := setupWith(t, approveAll(), func(*Opts) {})
	e.o.Host = &fakeHost{purchase: func(p host.Purchase) (host.Result, error) {
		// The record is auth_sent on disk before the request leaves.
		list, _ := db.List(1)
		if len(list) != 1 || list[0].State != store.StateAuthSent || list[0].STAN != p.STAN || list[0].KSN == "" {
			return host.Result{}, fmt.Errorf("request sent before auth_sent was committed: %+v", list)
		}
		return host.Result{ResponseCode: "00", AuthCode: "X"}, nil
	}}
	events, stop := e.Subscribe()
	defer stop()
	if e.Last().Phase != PhaseIdle {
		t.Fatalf("first event %+v", e.Last())
	}
	tx, _ := e.StartSale(100, "156")
	if ev := waitPhase(t, events, PhaseWaitCard); ev.Txn.ID != tx.ID || ev.Txn.State != store.StateCreated {
		t.Fatalf("waiting: %+v", ev)
	}
	r.cards <- card("3012")
	if ev := waitPhase(t, events, PhaseProcessing); ev.Txn.State != store.StateAuthSent || ev.Txn.MaskedPAN != "476173******0010" {
		t.Fatalf("processing: %+v", ev)
	}
	ev := waitPhase(t, events, PhaseDone)
	if ev.Txn.State != store.StateApproved {
		t.Fatalf("done: %+v", ev)
	}
	if e.Last().Seq != ev.Seq || e.Active() != "" {
		t.Fatalf("last %+v active %q", e.Last(), e.Active())
	}
	// A slow subscriber loses old events but never stalls the engine.
	slow, stopSlow := e.Subscribe()
	defer stopSlow()
	for i := 0; i < 40; i++ {
		x, err := e.StartSale(100, "156")
		if err != nil {
			t.Fatal(err)
		}
		e.Cancel(x.ID)
		wait(t, e, x.ID)
	}
	if n := len(slow); n != cap(slow) {
		t.Fatalf("slow subscriber holds %d events", n)
	}
}

// TestStoreFailureMidSale: a record that cannot be written stops the sale
// without an approval, and the next start reverses what may have reached
// the host.
func TestStoreFailureMidSale(t *testing.T) {
	path := t.TempDir() + "/posd.db"
	db, err := store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	inHost, release := make(chan struct{}), make(chan struct{})
	h := &fakeHost{purchase: func(host.Purchase) (host.Result, error) {
		close(inHost)
		<-release
		return host.Result{ResponseCode: "00"}, nil
	}}
	r := newReader()
	e, err := New(Opts{Store: db, Host: h, Keys: newKeys(t), Reader: r, ReversalRetry: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tx, _ := e.StartSale(100, "156")
	r.cards <- card("3012")
	<-inHost
	db.Close() // the disk goes away while the host answers
	close(release)
	e.Halt()

	db, err = store.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got, _ := db.Get(tx.ID); got.State != store.StateAuthSent {
		t.Fatalf("record after the store failed: %+v", got)
	}
	e, err = New(Opts{Store: db, Host: h, Keys: newKeys(t), Reader: newReader(), ReversalRetry: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Halt()
	waitUntil(t, func() bool { got, _ := db.Get(tx.ID); return got.State == store.StateReversed })
}

func TestBackoffGrowsWithJitter(t *testing.T) {
	e := &Engine{o: Opts{ReversalRetry: time.Second, MaxRetry: time.Minute}, rng: mrand.New(mrand.NewPCG(1, 2))}
	prevMax := time.Duration(0)
	for n := 1; n <= 10; n++ {
		base := min(time.Second<<(n-1), time.Minute)
		for i := 0; i < 50; i++ {
			d := e.backoff(n)
			if d < base/2 || d > base {
				t.Fatalf("attempt %d: %s outside [%s, %s]", n, d, base/2, base)
			}
		}
		if base < prevMax {
			t.Fatal("backoff shrank")
		}
		prevMax = base
	}
	seen := map[time.Duration]bool{}
	for i := 0; i < 20; i++ {
		seen[e.backoff(5)] = true
	}
	if len(seen) < 10 {
		t.Fatalf("no jitter: %d distinct pauses of 20", len(seen))
	}
}

// TestOutboxDueOnly: the loop sends a job only when it is due; the API
// trigger sends every job at once.
func TestOutboxDueOnly(t *testing.T) {
	h := &slowHost{gate: make(chan struct{}), failures: 1}
	close(h.gate)
	db := openDB(t)
	pendingReversal(t, db)
	e, err := New(Opts{Store: db, Host: h, Keys: newKeys(t), Reader: newReader(), ReversalRetry: time.Hour, HostTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Halt()
	waitUntil(t, func() bool { h.mu2.Lock(); defer h.mu2.Unlock(); return len(h.calls) == 1 }) // the start pass
	jobs, _ := db.Jobs()
	if len(jobs) != 1 || jobs[0].Attempts != 1 || !jobs[0].NextAt.After(time.Now().Add(20*time.Minute)) {
		t.Fatalf("job after a failed attempt: %+v", jobs)
	}
	e.wake()
	time.Sleep(50 * time.Millisecond)
	h.mu2.Lock()
	n := len(h.calls)
	h.mu2.Unlock()
	if n != 1 {
		t.Fatalf("a job not yet due was sent (%d calls)", n)
	}
	if left := e.SendReversals(context.Background()); left != 0 {
		t.Fatalf("forced pass left %d", left)
	}
	if jobs, _ := db.Jobs(); len(jobs) != 0 {
		t.Fatalf("acknowledged job still queued: %+v", jobs)
	}
}
