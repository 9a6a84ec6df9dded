package txn

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"posd/terminal/host"
	"posd/terminal/store"
	"posd/terminal/wiresec"
)

// linkHost answers like the acquirer link: one request at a time (a
// request waits for its turn until its context ends, or busyFor when
// set, the link's response timeout: "link busy", nothing sent, an
// unreachable host to the engine), and a request that had its turn waits
// for its answer until its context ends (no response). Purchases are
// answered after answer; reversals when release is closed (or with rerr
// at once).
type linkHost struct {
	fakeHost
	turn    chan struct{}
	busyFor time.Duration
	answer  time.Duration
	release chan struct{}
	onWire  chan host.Reversal // each reversal once it has its turn

	mu2   sync.Mutex
	order []string // "purchase", "reversal <orig STAN>" as each had its turn
	revs  []host.Reversal
	rerr  error // answer to every reversal (nil: wait for release)
}

func newLinkHost() *linkHost {
	return &linkHost{turn: make(chan struct{}, 1), release: make(chan struct{}), onWire: make(chan host.Reversal, 16)}
}

func (h *linkHost) take(ctx context.Context, what string) error {
	var busy <-chan time.Time
	if h.busyFor > 0 {
		busy = time.After(h.busyFor)
	}
	select {
	case h.turn <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("%w: link busy: %w", host.ErrUnreachable, ctx.Err())
	case <-busy:
		return fmt.Errorf("%w: link busy for %v", host.ErrUnreachable, h.busyFor)
	}
	h.mu2.Lock()
	h.order = append(h.order, what)
	h.mu2.Unlock()
	return nil
}

func (h *linkHost) Purchase(ctx context.Context, p host.Purchase, s *wiresec.Session) (host.Result, error) {
	if err := h.take(ctx, "purchase"); err != nil {
		return host.Result{}, err
	}
	defer func() { <-h.turn }()
	select {
	case <-time.After(h.answer):
		return host.Result{ResponseCode: "00", AuthCode: "A00001", RRN: "000000000001"}, nil
	case <-ctx.Done():
		return host.Result{}, fmt.Errorf("%w: %w", host.ErrNoResponse, ctx.Err())
	}
}

func (h *linkHost) Reverse(ctx context.Context, r host.Reversal, s *wiresec.Session) (host.Result, error) {
	if err := h.take(ctx, fmt.Sprint("reversal ", r.OrigSTAN)); err != nil {
		return host.Result{}, err
	}
	defer func() { <-h.turn }()
	h.mu2.Lock()
	h.revs = append(h.revs, r)
	rerr := h.rerr
	h.mu2.Unlock()
	h.onWire <- r
	if rerr != nil {
		return host.Result{}, rerr
	}
	select {
	case <-h.release:
		return host.Result{ResponseCode: "00"}, nil
	case <-ctx.Done():
		return host.Result{}, fmt.Errorf("%w: %w", host.ErrNoResponse, ctx.Err())
	}
}

func (h *linkHost) reversals() []host.Reversal {
	h.mu2.Lock()
	defer h.mu2.Unlock()
	return append([]host.Reversal(nil), h.revs...)
}

// pendingReversalOf stores a sale of stan whose outcome is unknown, as a
// crash leaves it (the engine queues its reversal as it starts).
func pendingReversalOf(t *testing.T, db *store.DB, stan uint32) store.Txn {
	t.Helper()
	x := store.Txn{Kind: "purchase", Amount: 1000 + int64(stan), Currency: "156"}
	if err := db.Create(&x); err != nil {
		t.Fatal(err)
	}
	for _, st := range []store.State{store.StateAuthSent, store.StateReversalPending} {
		var err error
		if x, err = db.Update(x.ID, func(r *store.Txn) error {
			r.State, r.STAN, r.Reason = st, stan, "no response"
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return x
}

func counterEngine(t *testing.T, db *store.DB, h Host, hostTimeout time.Duration) (*Engine, *fakeReader) {
	t.Helper()
	r := newReader()
	e, err := New(Opts{Store: db, Host: h, Keys: newKeys(t), Reader: r, CardTimeout: 10 * time.Second,
		HostTimeout: hostTimeout, ReversalRetry: time.Hour, MaxRetry: time.Hour, Currencies: []string{"156"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Halt)
	return e, r
}

// TestSaleBehindAnOutboxAttemptKeepsItsWindow: a sale whose request is
// ready while a reversal of the outbox is at the host gets its whole
// host timeout once the link is free, not what the reversal left of it.
// The host answers the reversal 1.2 s after the sale's request was
// committed and the sale 1.2 s after it is on the wire, within the 2 s
// host timeout each: the customer's sale is approved, the reversal
// acknowledged.
func TestSaleBehindAnOutboxAttemptKeepsItsWindow(t *testing.T) {
	h := newLinkHost()
	h.answer = 1200 * time.Millisecond
	saleBehindReversal(t, h, 2*time.Second, 1200*time.Millisecond)
}

// TestSaleBehindAnOutboxAttemptIsNotUnreachable: the link bounds a
// request's wait for its turn by its response timeout (1 s here) and
// then says the host is unreachable (nothing was sent), which lets a
// contact chip card approve offline. A sale waiting behind the outbox's
// reversal (answered 1.2 s after the sale's request was committed) must
// not find the link busy: it goes once the reversal is answered and is
// approved online.
func TestSaleBehindAnOutboxAttemptIsNotUnreachable(t *testing.T) {
	h := newLinkHost()
	h.busyFor = time.Second
	saleBehindReversal(t, h, 5*time.Second, 1200*time.Millisecond)
}

// saleBehindReversal runs a sale whose request is committed while the
// outbox's reversal is at h, which answers it hold later.
func saleBehindReversal(t *testing.T, h *linkHost, hostTimeout, hold time.Duration) {
	t.Helper()
	db := openDB(t)
	rev := pendingReversalOf(t, db, 41)
	e, r := counterEngine(t, db, h, hostTimeout)
	<-h.onWire // the outbox's first pass is at the host

	tx, err := e.StartSale(1500, "156")
	if err != nil {
		t.Fatal(err)
	}
	r.cards <- card("3012")
	waitUntil(t, func() bool { got, _ := e.Get(tx.ID); return got.State != store.StateCreated })
	committed := time.Now()
	time.Sleep(hold) // the host is still on the reversal
	close(h.release)
	got := wait(t, e, tx.ID)
	t.Logf("sale ended %s %v after its request was committed behind the reversal: %q", got.State,
		time.Since(committed).Round(10*time.Millisecond), got.Error)
	if got.State != store.StateApproved {
		t.Errorf("sale behind a reversal: %s (%s), want approved", got.State, got.Error)
	}
	// Should a loaded machine have let the reversal's own host timeout
	// end it before the release, a pass asked for sends it again.
	if left := e.SendReversals(context.Background()); left != 0 {
		t.Errorf("reversal of %s not acknowledged: %d left", rev.ID, left)
	}
}

// TestOutboxStopsAtASilentHost: a reversal the host did not answer ends
// the pass; the other reversals wait (the cashier's next sale is not
// queued behind each of them against a dead host), and the next pass
// starts with the one that waited longest, so a reversal the host never
// answers does not hold up the others for good.
func TestOutboxStopsAtASilentHost(t *testing.T) {
	for _, rerr := range []error{
		fmt.Errorf("%w: no reply within 10s", host.ErrNoResponse),
		// A host that garbles every answer is as good as silent: each
		// attempt now fails at once, and the pass still stops.
		fmt.Errorf("%w: %w: bad MTI", host.ErrBadResponse, host.ErrUnreadable),
	} {
		t.Run(rerr.Error(), func(t *testing.T) { outboxStopsAtASilentHost(t, rerr) })
	}
}

func outboxStopsAtASilentHost(t *testing.T, rerr error) {
	h := newLinkHost()
	h.rerr = rerr
	db := openDB(t)
	for _, stan := range []uint32{41, 42, 43} {
		pendingReversalOf(t, db, stan)
	}
	e, _ := counterEngine(t, db, h, 5*time.Second)
	<-h.onWire // the first pass, at start
	if left := e.SendReversals(context.Background()); left != 3 {
		t.Errorf("SendReversals: %d left, want 3", left)
	}
	// The first pass (at start) and the one SendReversals ran.
	revs := h.reversals()
	if len(revs) != 2 {
		t.Fatalf("%d reversals sent to a silent host in two passes, want 2 (one a pass)", len(revs))
	}
	if revs[0].OrigSTAN == revs[1].OrigSTAN {
		t.Errorf("both passes tried the reversal of %d first; the second should try another", revs[0].OrigSTAN)
	}
}

// TestOutboxYieldsToTheCounter: while a sale is in progress the outbox
// starts no attempt (a reversal queued meanwhile waits); once the
// terminal is idle it goes at once.
func TestOutboxYieldsToTheCounter(t *testing.T) {
	h := newLinkHost()
	close(h.release)
	db := openDB(t)
	e, r := counterEngine(t, db, h, 5*time.Second)
	tx, err := e.StartSale(1500, "156")
	if err != nil {
		t.Fatal(err)
	}
	// A reversal queued while the sale waits for its card (as another
	// process, or a restart's recovery, queues one).
	rev := pendingReversalOf(t, db, 41)
	if err := db.Do(func(tx *store.Tx) error { return tx.Enqueue(&store.Job{Kind: store.JobReversal, TxnID: rev.ID}) }); err != nil {
		t.Fatal(err)
	}
	e.wake()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	left := e.SendReversals(ctx)
	cancel()
	if n := len(h.reversals()); n != 0 || left != -1 {
		t.Fatalf("while a sale waits for its card: %d reversals sent, SendReversals %d; want none sent, -1", n, left)
	}
	r.cards <- card("3012")
	if got := wait(t, e, tx.ID); got.State != store.StateApproved {
		t.Fatalf("sale: %s (%s)", got.State, got.Error)
	}
	waitUntil(t, func() bool { x, _ := db.Get(rev.ID); return x.State == store.StateReversed })
	h.mu2.Lock()
	defer h.mu2.Unlock()
	if len(h.order) != 2 || h.order[0] != "purchase" {
		t.Errorf("link turns: %q, want the purchase, then the reversal", h.order)
	}
}

// TestAnsweredSaleEndsTheWaitForASilentHost: a reversal held because
// the host left another unanswered goes as soon as a sale finds the host
// answering, once the counter is free, not when the unanswered one is
// retried an hour later (that one keeps its own retry time).
func TestAnsweredSaleEndsTheWaitForASilentHost(t *testing.T) {
	h := newLinkHost()
	close(h.release)
	h.rerr = fmt.Errorf("%w: no reply within 10s", host.ErrNoResponse)
	db := openDB(t)
	pendingReversalOf(t, db, 41)
	pendingReversalOf(t, db, 42)
	e, r := counterEngine(t, db, h, 5*time.Second)
	first := <-h.onWire // the first pass: no answer
	if left := e.SendReversals(context.Background()); left != 2 {
		// A pass over every job tries the other one, which is not
		// answered either.
		t.Fatalf("SendReversals: %d left, want 2", left)
	}
	second := <-h.onWire
	if second.OrigSTAN == first.OrigSTAN {
		t.Fatalf("the second pass tried the reversal of %d again", first.OrigSTAN)
	}
	// Both wait an hour now. Another one is queued while the host is
	// silent: it waits for the host, not for its own retry.
	held := pendingReversalOf(t, db, 43)
	if err := db.Do(func(tx *store.Tx) error { return tx.Enqueue(&store.Job{Kind: store.JobReversal, TxnID: held.ID}) }); err != nil {
		t.Fatal(err)
	}
	e.wake()
	h.mu2.Lock()
	h.rerr = nil
	h.mu2.Unlock()
	tx, err := e.StartSale(1500, "156")
	if err != nil {
		t.Fatal(err)
	}
	r.cards <- card("3012")
	if got := wait(t, e, tx.ID); got.State != store.StateApproved {
		t.Fatalf("sale: %s (%s)", got.State, got.Error)
	}
	waitUntil(t, func() bool { got, _ := db.Get(held.ID); return got.State == store.StateReversed })
	h.mu2.Lock()
	defer h.mu2.Unlock()
	if want := []string{"purchase", "reversal 43"}; !slices.Equal(h.order[2:], want) {
		t.Errorf("link turns: %q, want two reversals, then %q", h.order, want)
	}
}

// TestDisplayKeepsTheLastSale: a background change to an older record
// (its reversal acknowledged, an advice taken) while the terminal is idle
// does not take over the customer display, which would show the next
// customer that older transaction's amount and card; waiters still learn
// of it.
func TestDisplayKeepsTheLastSale(t *testing.T) {
	h := newLinkHost()
	close(h.release)
	db := openDB(t)
	e, r := counterEngine(t, db, h, 5*time.Second)
	tx, err := e.StartSale(1500, "156")
	if err != nil {
		t.Fatal(err)
	}
	r.cards <- card("3012")
	if got := wait(t, e, tx.ID); got.State != store.StateApproved {
		t.Fatalf("sale: %s", got.State)
	}
	rev := pendingReversalOf(t, db, 41)
	if err := db.Do(func(x *store.Tx) error { return x.Enqueue(&store.Job{Kind: store.JobReversal, TxnID: rev.ID}) }); err != nil {
		t.Fatal(err)
	}
	e.wake()
	waitUntil(t, func() bool { x, _ := db.Get(rev.ID); return x.State == store.StateReversed })
	if last := e.Last(); last.Txn.ID != tx.ID {
		t.Fatalf("the display shows record %s (%s), not the last sale %s", last.Txn.ID, last.Txn.State, tx.ID)
	}
}
