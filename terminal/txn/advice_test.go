package txn

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"posd/crypto/sealbox"
	"posd/terminal/host"
	"posd/terminal/shred"
	"posd/terminal/store"
)

// adviceRig is an engine with a sealer and offline approvals made the way
// the chip path makes them: record, STAN and sealed card data in one
// commit with the advice job.
type adviceRig struct {
	t    *testing.T
	e    *Engine
	db   *store.DB
	box  *shred.Ring
	h    *fakeHost
	rate float64
}

// newAdviceRig opens the database; start starts the engine, whose first
// pass then finds what the test stored before.
func newAdviceRig(t *testing.T, h *fakeHost, rate float64) *adviceRig {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "posd.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &adviceRig{t: t, db: db, box: newRing(t, filepath.Join(dir, "advice.slots"), 0), h: h, rate: rate}
}

// newRing opens a slot file of n slots (the default when 0) for sealing
// advices' card data.
func newRing(t testing.TB, path string, n int) *shred.Ring {
	t.Helper()
	wrap, err := sealbox.New(bytes.Repeat([]byte{7}, sealbox.KeySize), nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := shred.Open(path, wrap, &shred.Opts{Slots: n})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func (r *adviceRig) start() *Engine {
	r.t.Helper()
	e, err := New(Opts{Store: r.db, Host: r.h, Keys: newKeys(r.t), Reader: newReader(), CardTimeout: time.Second,
		HostTimeout: time.Second, ReversalRetry: time.Hour, MaxRetry: time.Hour, Sealer: r.box, AdviceRate: r.rate,
		Currencies: []string{"156"}})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(e.Halt)
	r.e = e
	return e
}

// approveOffline stores an offline approval of amount as runChip does.
func (r *adviceRig) approveOffline(t *testing.T, amount int64, track2 string) string {
	t.Helper()
	var id string
	err := r.db.Do(func(tx *store.Tx) error {
		first, err := tx.ReserveIDs(1)
		if err != nil {
			return err
		}
		id = strconv.FormatUint(first, 10)
		plain, _ := json.Marshal(advicePayload{Track2: []byte(track2), ICC: []byte{0x9F, 0x27, 0x01, 0x40}})
		sealed, err := r.box.Seal(plain, adviceAD(id))
		if err != nil {
			return err
		}
		stan, err := tx.NextSTAN()
		if err != nil {
			return err
		}
		rec := store.Txn{ID: id, Kind: "purchase", State: store.StateOfflineApproved, Amount: amount, Currency: "156",
			STAN: stan, MaskedPAN: "476173******0029", EntryMode: "051", ResponseCode: host.OfflineApproved}
		if err := tx.Insert(&rec); err != nil {
			return err
		}
		return tx.Enqueue(&store.Job{Kind: store.JobAdvice, TxnID: id, Data: sealed})
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Advices leave in the order the cards approved, each once, with the
// card data the sealed job kept; once acknowledged the record says when
// and the job, its sealed data with it, is gone.
func TestAdvicesForwardedInOrderOnce(t *testing.T) {
	h := &fakeHost{}
	r := newAdviceRig(t, h, 0)
	var ids []string
	for i := range 3 {
		ids = append(ids, r.approveOffline(t, int64(100+i), "4761730000000029D30122011000000000000"))
	}
	r.start()
	if left := r.e.Sync(context.Background()); left != 0 {
		t.Fatalf("%d advices left", left)
	}
	if len(h.advices) != 3 {
		t.Fatalf("%d advices sent", len(h.advices))
	}
	for i, a := range h.advices {
		rec, _ := r.db.Get(ids[i])
		if a.Ref != ids[i] || a.STAN != rec.STAN || a.Amount != int64(100+i) || string(a.Track2) != "4761730000000029D30122011000000000000" ||
			a.ResponseCode != "Y1" || !bytes.Equal(a.ICC, []byte{0x9F, 0x27, 0x01, 0x40}) {
			t.Errorf("advice %d: %+v", i, a)
		}
		if rec.AdviceSent.IsZero() || rec.State != store.StateOfflineApproved {
			t.Errorf("record %s after its advice: %+v", ids[i], rec)
		}
	}
	if jobs, _ := r.db.Jobs(); len(jobs) != 0 {
		t.Fatalf("jobs left: %+v", jobs)
	}
	// Another pass sends nothing again.
	r.e.Sync(context.Background())
	if len(h.advices) != 3 {
		t.Fatalf("%d advices after a second pass", len(h.advices))
	}
}

// busyHost answers advices busy until free is called, then accepts them.
func busyHost() (h *fakeHost, free func()) {
	var mu sync.Mutex
	busy := true
	h = &fakeHost{advice: func(host.Advice) (host.Result, error) {
		mu.Lock()
		defer mu.Unlock()
		if busy {
			return host.Result{ResponseCode: host.AdviceBusy}, nil
		}
		return host.Result{ResponseCode: host.AdviceAccepted}, nil
	}}
	return h, func() { mu.Lock(); busy = false; mu.Unlock() }
}

// A busy host holds the advice and every one after it; the attempt was
// committed with a backoff, and a later pass sends them in order.
func TestAdviceBusyHoldsTheRest(t *testing.T) {
	h, free := busyHost()
	r := newAdviceRig(t, h, 0)
	a, b := r.approveOffline(t, 100, "4761730000000029D3012"), r.approveOffline(t, 200, "4761730000000029D3012")
	r.start()
	if left := r.e.Sync(context.Background()); left != 2 {
		t.Fatalf("%d left after a busy host", left)
	}
	sentBusy := len(h.advices)
	for _, x := range h.advices {
		if x.Ref != a {
			t.Fatalf("advice %s sent while the one before it was held: %+v", x.Ref, h.advices)
		}
	}
	jobs, _ := r.db.Jobs()
	if len(jobs) != 2 || jobs[0].Attempts != sentBusy || !jobs[0].NextAt.After(time.Now()) || jobs[0].LastError != "host busy" {
		t.Fatalf("jobs after busy: %+v", jobs)
	}
	free()
	if left := r.e.Sync(context.Background()); left != 0 {
		t.Fatalf("%d left", left)
	}
	if len(h.advices) != sentBusy+2 || h.advices[sentBusy].Ref != a || h.advices[sentBusy+1].Ref != b || h.advices[sentBusy].STAN != h.advices[0].STAN {
		t.Fatalf("advices: %+v", h.advices)
	}
}

// A refusal for good (not busy) drops the advice and keeps the code.
func TestAdviceRefused(t *testing.T) {
	h := &fakeHost{advice: func(host.Advice) (host.Result, error) { return host.Result{ResponseCode: "Q1"}, nil }}
	r := newAdviceRig(t, h, 0)
	id := r.approveOffline(t, 100, "4761730000000029D3012")
	r.start()
	if left := r.e.Sync(context.Background()); left != 0 {
		t.Fatalf("%d left", left)
	}
	if rec, _ := r.db.Get(id); rec.AdviceCode != "Q1" || rec.AdviceSent.IsZero() {
		t.Fatalf("record %+v", rec)
	}
	wantAside(t, r.e, id, AsideAdviceRefused)
}

// Sealed data that does not open (another key, a damaged page) is never
// sent; the advice stays queued and says why.
func TestAdviceDataDoesNotOpen(t *testing.T) {
	h := &fakeHost{}
	r := newAdviceRig(t, h, 0)
	id := r.approveOffline(t, 100, "4761730000000029D3012")
	err := r.db.Do(func(tx *store.Tx) error {
		jobs, _ := tx.Jobs()
		jobs[0].Data[len(jobs[0].Data)-1] ^= 1
		return tx.PutJob(&jobs[0])
	})
	if err != nil {
		t.Fatal(err)
	}
	r.start()
	if left := r.e.Sync(context.Background()); left != 1 || len(h.advices) != 0 {
		t.Fatalf("left %d, sent %d", left, len(h.advices))
	}
	if jobs, _ := r.db.Jobs(); len(jobs) != 1 || jobs[0].TxnID != id || jobs[0].LastError == "" {
		t.Fatalf("jobs %+v", jobs)
	}
}

// The rate cap spaces advices: 5 at 20 per second take at least 200 ms
// (four gaps of 50 ms). (A lower bound, not a timing target.)
func TestAdviceRate(t *testing.T) {
	h := &fakeHost{}
	r := newAdviceRig(t, h, 20)
	for range 5 {
		r.approveOffline(t, 100, "4761730000000029D3012")
	}
	start := time.Now()
	r.start()
	if left := r.e.Sync(context.Background()); left != 0 {
		t.Fatalf("%d left", left)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("5 advices at 20/s took %v", d)
	}
}

// The offline ledger counts what waits: count, sum, oldest and newest
// (the risk rules' clock check compares the clock with the newest).
func TestOfflineLedger(t *testing.T) {
	h := &fakeHost{advice: func(host.Advice) (host.Result, error) { return host.Result{}, host.ErrUnreachable }}
	r := newAdviceRig(t, h, 0)
	first := r.approveOffline(t, 100, "4761730000000029D3012")
	second := r.approveOffline(t, 250, "4761730000000029D3012")
	r.start()
	r.e.Sync(context.Background())
	s, err := OfflineLedger{Store: r.db}.OfflinePending(context.Background())
	if err != nil || s.Count != 2 || s.Amount != 350 {
		t.Fatalf("%+v %v", s, err)
	}
	a, _ := r.db.Get(first)
	b, _ := r.db.Get(second)
	if !s.Oldest.Equal(a.Created) || !s.Newest.Equal(b.Created) || !b.Created.After(a.Created) {
		t.Fatalf("oldest %v newest %v, records made %v and %v", s.Oldest, s.Newest, a.Created, b.Created)
	}
}

// While the first advice waits for its retry, the advices behind it (never
// tried, so due at once) must not wake the outbox: they go after the
// first. Counting them made the outbox loop spin without pause as long as
// the host was away.
func TestUntilDueWaitsForTheFirstAdvice(t *testing.T) {
	h := &fakeHost{advice: func(host.Advice) (host.Result, error) { return host.Result{}, host.ErrUnreachable }}
	r := newAdviceRig(t, h, 0)
	r.approveOffline(t, 100, "4761730000000029D3012")
	r.approveOffline(t, 200, "4761730000000029D3012")
	r.start()
	if left := r.e.Sync(context.Background()); left != 2 {
		t.Fatalf("%d left", left)
	}
	if d := r.e.untilDue(); d <= 0 {
		t.Fatalf("the outbox would run again in %v with the host away", d)
	}
}

// sealedInFile finds every advice job's sealed card data in the raw
// bytes of the database file: the live jobs and the copies bbolt left in
// freed pages when the jobs were rewritten or deleted.
func sealedInFile(t *testing.T, path string) [][]byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	const field = `"data":"`
	for rest := raw; ; {
		i := bytes.Index(rest, []byte(field))
		if i < 0 {
			return out
		}
		rest = rest[i+len(field):]
		j := bytes.IndexByte(rest, '"')
		if j < 0 {
			return out
		}
		if b, err := base64.StdEncoding.DecodeString(string(rest[:j])); err == nil {
			out = append(out, b)
		}
	}
}

// Once the host has an advice, its card data is gone for good: bbolt
// keeps old copies of the job in freed pages, and none of them opens
// with the terminal's keys any more.
func TestAcknowledgedAdviceDataUnrecoverable(t *testing.T) {
	h, free := busyHost()
	r := newAdviceRig(t, h, 0)
	var ids []string
	for i := range 3 {
		ids = append(ids, r.approveOffline(t, int64(100+i), "4761730000000029D30122011000000000000"))
	}
	// A busy answer first: the job is rewritten (attempts, last error),
	// leaving a copy behind.
	r.start()
	r.e.Sync(context.Background())
	free()
	if left := r.e.Sync(context.Background()); left != 0 {
		t.Fatalf("%d left", left)
	}
	found := sealedInFile(t, r.db.Path())
	if len(found) == 0 {
		t.Fatal("no copy of the sealed card data in the file: the premise of this test no longer holds")
	}
	for _, b := range found {
		for _, id := range ids {
			if plain, err := r.box.Open(b, adviceAD(id)); err == nil {
				t.Fatalf("a freed copy of advice %s's card data still opens: %d bytes", id, len(plain))
			}
		}
	}
}

// The engine starts by erasing the card data no queued advice holds (an
// approval a crash kept from being committed after its data was sealed)
// and keeps that of the advices still queued.
func TestStartErasesUncommittedCardData(t *testing.T) {
	h := &fakeHost{}
	r := newAdviceRig(t, h, 0)
	queued := r.approveOffline(t, 100, "4761730000000029D3012")
	orphan, err := r.box.Seal([]byte(`{"t2":"NDc2MTczMDAwMDAwMDAyOUQzMDEy"}`), adviceAD("99"))
	if err != nil {
		t.Fatal(err)
	}
	if r.box.Used() != 2 {
		t.Fatalf("%d keys before the start", r.box.Used())
	}
	r.start()
	if r.box.Used() != 1 {
		t.Fatalf("%d keys after the start, want the queued advice's only", r.box.Used())
	}
	if _, err := r.box.Open(orphan, adviceAD("99")); !errors.Is(err, shred.ErrErased) {
		t.Fatalf("the uncommitted approval's data: %v", err)
	}
	if left := r.e.Sync(context.Background()); left != 0 || len(h.advices) != 1 || h.advices[0].Ref != queued {
		t.Fatalf("left %d, sent %+v", left, h.advices)
	}
	if r.box.Used() != 0 {
		t.Fatalf("%d keys after the advice", r.box.Used())
	}
}

// With every key slot taken the engine keeps nothing more offline: the
// card is sent online.
func TestNoOfflineWithoutRoomForTheCardData(t *testing.T) {
	dir := t.TempDir()
	ring := newRing(t, filepath.Join(dir, "full.slots"), 1)
	if _, err := ring.Seal([]byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(dir, "posd.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e, err := New(Opts{Store: db, Host: &fakeHost{}, Keys: newKeys(t), Reader: newReader(), CardTimeout: time.Second,
		HostTimeout: time.Second, Sealer: ring, Currencies: []string{"156"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Halt)
	// The start erased the slot no queued advice names: room again.
	if !e.canSeal() {
		t.Fatal("no room after the start erased the stray key")
	}
	if _, err := ring.Seal([]byte("y"), nil); err != nil {
		t.Fatal(err)
	}
	if e.canSeal() || e.offlineAllowed(context.Background(), &sale{}) {
		t.Fatal("offline allowed with every key slot taken")
	}
}

// An advice whose card data can never be opened again (its key gone: the
// slot file lost or replaced) is not sent, not retried and does not hold
// the advices behind it: its record says the card data is lost (for the
// acquirer, by hand) and the batch's totals leave it out.
func TestAdviceWithLostCardDataSetAside(t *testing.T) {
	h := &fakeHost{}
	r := newAdviceRig(t, h, 0)
	lost := r.approveOffline(t, 100, "4761730000000029D30122011000000000000")
	sent := r.approveOffline(t, 200, "4761730000000029D30122011000000000000")
	jobs, err := r.db.Jobs()
	if err != nil || len(jobs) != 2 {
		t.Fatalf("jobs %v, %v", jobs, err)
	}
	if err := r.box.Erase(jobs[0].Data); err != nil {
		t.Fatal(err)
	}
	r.start()
	if left := r.e.Sync(context.Background()); left != 0 {
		t.Fatalf("%d advices left", left)
	}
	h.mu.Lock()
	advices := append([]host.Advice(nil), h.advices...)
	h.mu.Unlock()
	if len(advices) != 1 || advices[0].Ref != sent {
		t.Fatalf("advices sent %+v, want only %s", advices, sent)
	}
	rec, err := r.db.Get(lost)
	if err != nil || rec.AdviceCode != AdviceLost || !rec.AdviceSent.IsZero() || rec.State != store.StateOfflineApproved {
		t.Fatalf("the lost one: %+v, %v", rec, err)
	}
	if jobs, err := r.db.Jobs(); err != nil || len(jobs) != 0 {
		t.Fatalf("jobs left %+v, %v", jobs, err)
	}
	wantAside(t, r.e, lost, AsideAdviceLost)
	if _, err := r.e.Start(Request{Kind: host.KindRefund, Amount: 100, Currency: "156", OrigID: lost}); !errors.Is(err, ErrOriginal) ||
		!strings.Contains(err.Error(), "card data was lost") {
		t.Fatalf("a refund of the lost one: %v", err)
	}
	other, err := r.db.Get(sent)
	if err != nil || counts(rec, true) || !counts(other, false) {
		t.Fatalf("the totals count the lost one %v, the sent one %v (%v)", counts(rec, true), counts(other, false), err)
	}
}

// An offline approval is voided once the host accepted its advice, as an
// online sale is: the void names it as the host has it (the advice's
// STAN, the card's approval time, its batch; no RRN or auth code, the
// host gave none), and the original leaves the batch's totals. While its
// advice waits the void is refused before anything is recorded, with
// what to do.
func TestVoidOfAnOfflineApproval(t *testing.T) {
	h := &fakeHost{}
	accept := false
	h.advice = func(host.Advice) (host.Result, error) { // under h.mu
		if !accept {
			return host.Result{}, host.ErrUnreachable
		}
		return host.Result{ResponseCode: host.AdviceAccepted}, nil
	}
	r := newAdviceRig(t, h, 0)
	id := r.approveOffline(t, 2300, "4761730000000029D30122011000000000000")
	approvedAt := time.Date(2026, 11, 22, 9, 30, 0, 0, time.UTC)
	if _, err := r.db.Update(id, func(x *store.Txn) error { x.Batch, x.Created = r.db.OpenBatch(), approvedAt; return nil }); err != nil {
		t.Fatal(err)
	}
	e := r.start()
	e.Sync(context.Background())
	_, err := e.Start(Request{Kind: host.KindVoid, OrigID: id})
	var waiting *AdviceWaitingError
	if !errors.Is(err, ErrAdviceWaiting) || !errors.Is(err, ErrOriginal) || !errors.As(err, &waiting) || waiting.ID != id ||
		!strings.Contains(err.Error(), "posctl sync") || !strings.Contains(err.Error(), "refund it") {
		t.Fatalf("void while the advice waits: %v", err)
	}
	if n, _ := r.db.Jobs(); len(n) != 1 {
		t.Fatalf("jobs %+v", n)
	}
	h.mu.Lock()
	accept = true
	h.mu.Unlock()
	if left := e.Sync(context.Background()); left != 0 {
		t.Fatalf("%d advices left", left)
	}
	if _, totals, _ := e.OpenBatch(); len(totals) != 1 || totals[0].DebitCount != 1 || totals[0].DebitAmount != 2300 {
		t.Fatalf("totals before the void: %+v", totals)
	}
	v, err := e.Start(Request{Kind: host.KindVoid, OrigID: id})
	if err != nil {
		t.Fatal(err)
	}
	v = wait(t, e, v.ID)
	orig, _ := r.db.Get(id)
	if v.State != store.StateApproved || v.Amount != 2300 || orig.VoidedBy != v.ID || orig.State != store.StateOfflineApproved {
		t.Fatalf("void %+v of %+v", v, orig)
	}
	h.mu.Lock()
	if len(h.followUps) != 1 {
		t.Fatalf("%d follow-ups sent", len(h.followUps))
	}
	got := h.followUps[0]
	h.mu.Unlock()
	want := host.Original{Kind: host.KindPurchase, STAN: orig.STAN, Time: approvedAt, Batch: orig.Batch}
	if got.Kind != host.KindVoid || got.Amount != 2300 || !got.Orig.Time.Equal(want.Time) || got.Orig.Kind != want.Kind ||
		got.Orig.STAN != want.STAN || got.Orig.Batch != want.Batch || got.Orig.RRN != "" || got.Orig.AuthCode != "" {
		t.Fatalf("void sent %+v, want original %+v", got, want)
	}
	if _, totals, _ := e.OpenBatch(); len(totals) != 0 {
		t.Fatalf("the voided offline approval still counts: %+v", totals)
	}
	if _, err := e.Start(Request{Kind: host.KindVoid, OrigID: id}); !errors.Is(err, ErrOriginal) || errors.Is(err, ErrAdviceWaiting) {
		t.Fatalf("a second void: %v", err)
	}
}
