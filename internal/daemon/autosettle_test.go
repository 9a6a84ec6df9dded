package daemon

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"posd/conn/clock"
	"posd/internal/config"
	"posd/terminal/store"
	"posd/terminal/txn"
)

// fakeCloser is the engine's batch: empty or not, and what each close
// answers (the last answer repeats).
type fakeCloser struct {
	mu      sync.Mutex
	empty   bool
	since   time.Time // the open batch's oldest counted record
	answers []error   // nil: approved; txn.ErrBusy; other: the host did not take it
	closes  chan time.Time
	clk     clock.Clock
}

func (f *fakeCloser) OpenBatch() (uint32, []store.Totals, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.empty {
		return 7, nil, nil
	}
	return 7, []store.Totals{{Currency: "156", DebitCount: 1, DebitAmount: 100}}, nil
}

func (f *fakeCloser) OpenBatchSince() (time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.since, nil
}

func (f *fakeCloser) CloseBatch(context.Context) (store.Txn, error) {
	f.mu.Lock()
	err := f.answers[0]
	if len(f.answers) > 1 {
		f.answers = f.answers[1:]
	}
	f.mu.Unlock()
	f.closes <- f.clk.Now()
	switch {
	case err == nil:
		return store.Txn{ID: "312", State: store.StateApproved}, nil
	case errors.Is(err, txn.ErrBusy):
		return store.Txn{}, err
	}
	return store.Txn{ID: "313", State: store.StateFailed, Error: err.Error()}, nil
}

// settleRig runs the daily settlement at 23:30 on a fake clock set to
// 10:00 on 29 November.
type settleRig struct {
	t   *testing.T
	clk *clock.Fake
	f   *fakeCloser
	a   *autoSettle
}

var settleDay = time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)

func newSettleRig(t *testing.T, f *fakeCloser) *settleRig {
	clk := clock.NewFake(settleDay)
	f.clk, f.closes = clk, make(chan time.Time, 100)
	r := &settleRig{t: t, clk: clk, f: f, a: newAutoSettle(f, clk, 23*time.Hour+30*time.Minute, slog.New(slog.DiscardHandler))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.a.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// advanceTo waits for the settlement to wait, then moves the clock to t.
func (r *settleRig) advanceTo(t time.Time) {
	r.t.Helper()
	waiting(r.t, r.clk, "the settlement")
	r.clk.Advance(t.Sub(r.clk.Now()))
}

// waiting waits until a loop (who) waits on clk.
func waiting(t *testing.T, clk *clock.Fake, who string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := clk.BlockUntil(ctx, 1); err != nil {
		t.Fatalf("%s is not waiting: %v", who, err)
	}
}

// closed is the time of the next close.
func (r *settleRig) closed() time.Time {
	r.t.Helper()
	select {
	case at := <-r.f.closes:
		return at
	case <-time.After(10 * time.Second):
		r.t.Fatal("no close")
	}
	return time.Time{}
}

// waitStatus waits for the status to satisfy ok.
func (r *settleRig) waitStatus(ok func(AutoSettleStatus) bool) AutoSettleStatus {
	r.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		s := *r.a.Status()
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("status %+v", s)
		}
		time.Sleep(time.Millisecond)
	}
}

func at(h, m int, day int) time.Time { return time.Date(2026, 11, day, h, m, 0, 0, time.UTC) }

func TestAutoSettleDaily(t *testing.T) {
	r := newSettleRig(t, &fakeCloser{answers: []error{nil}})
	s := r.waitStatus(func(s AutoSettleStatus) bool { return s.Next != "" })
	if s.At != "23:30" || s.Next != at(23, 30, 29).Format(time.RFC3339) || s.Last != "" {
		t.Fatalf("before: %+v", s)
	}
	r.advanceTo(at(23, 29, 29))
	r.advanceTo(at(23, 30, 29))
	if got := r.closed(); !got.Equal(at(23, 30, 29)) {
		t.Fatalf("closed at %v", got)
	}
	s = r.waitStatus(func(s AutoSettleStatus) bool { return s.Next == at(23, 30, 30).Format(time.RFC3339) })
	if s.Last != "settled batch 7 (record 312)" {
		t.Fatalf("after: %+v", s)
	}
	r.advanceTo(at(23, 30, 30))
	if got := r.closed(); !got.Equal(at(23, 30, 30)) {
		t.Fatalf("the next day closed at %v", got)
	}
}

func TestAutoSettleWaitsForTheSaleInProgress(t *testing.T) {
	r := newSettleRig(t, &fakeCloser{answers: []error{txn.ErrBusy, txn.ErrBusy, nil}})
	r.advanceTo(at(23, 30, 29))
	r.closed()
	r.advanceTo(at(23, 31, 29))
	r.closed()
	r.advanceTo(at(23, 32, 29))
	if got := r.closed(); !got.Equal(at(23, 32, 29)) {
		t.Fatalf("closed at %v", got)
	}
	r.waitStatus(func(s AutoSettleStatus) bool { return strings.HasPrefix(s.Last, "settled") })
}

// A host that does not take the close: tried every 10 minutes for six
// hours, then left to the cashier (and the next day).
func TestAutoSettleGivesUp(t *testing.T) {
	r := newSettleRig(t, &fakeCloser{answers: []error{errors.New("host unreachable")}})
	r.advanceTo(at(23, 30, 29))
	r.closed()
	r.waitStatus(func(s AutoSettleStatus) bool {
		return strings.HasPrefix(s.Last, "failed, trying again: host unreachable")
	})
	tries := 1
	for next := at(23, 40, 29); !next.After(at(5, 30, 30)); next = next.Add(10 * time.Minute) {
		r.advanceTo(next)
		if got := r.closed(); !got.Equal(next) {
			t.Fatalf("try %d at %v, want %v", tries+1, got, next)
		}
		tries++
	}
	s := r.waitStatus(func(s AutoSettleStatus) bool { return s.Next == at(23, 30, 30).Format(time.RFC3339) })
	if tries != 37 || s.Last != "failed: host unreachable" {
		t.Fatalf("%d tries, status %+v", tries, s)
	}
	select {
	case extra := <-r.f.closes:
		t.Fatalf("tried again at %v", extra)
	default:
	}
}

// A terminal off at the time of day settles at start when its open
// batch holds a record from before that time; one whose oldest record
// came after it waits for the next time of day.
func TestAutoSettleCatchesUpAMissedClose(t *testing.T) {
	r := newSettleRig(t, &fakeCloser{since: at(20, 0, 28), answers: []error{nil}})
	if got := r.closed(); !got.Equal(settleDay) {
		t.Fatalf("caught up at %v, want at start (%v)", got, settleDay)
	}
	s := r.waitStatus(func(s AutoSettleStatus) bool { return s.Next == at(23, 30, 29).Format(time.RFC3339) })
	if s.Last != "settled batch 7 (record 312)" || s.LastAt != settleDay.Format(time.RFC3339) {
		t.Fatalf("after catching up: %+v", s)
	}

	r = newSettleRig(t, &fakeCloser{since: at(23, 31, 28), answers: []error{nil}})
	r.advanceTo(at(23, 30, 29))
	if got := r.closed(); !got.Equal(at(23, 30, 29)) {
		t.Fatalf("a batch opened after the last time of day closed at %v", got)
	}
}

func TestAutoSettleNothingToSettle(t *testing.T) {
	r := newSettleRig(t, &fakeCloser{empty: true, answers: []error{nil}})
	r.advanceTo(at(23, 30, 29))
	s := r.waitStatus(func(s AutoSettleStatus) bool { return s.Last != "" })
	if s.Last != "nothing to settle" {
		t.Fatalf("%+v", s)
	}
	select {
	case c := <-r.f.closes:
		t.Fatalf("closed an empty batch at %v", c)
	default:
	}
}

func TestPrevAt(t *testing.T) {
	for _, c := range []struct{ now, want time.Time }{
		{at(10, 0, 29), at(23, 30, 28)},
		{at(23, 30, 29), at(23, 30, 29)},
		{at(23, 31, 29), at(23, 30, 29)},
		{time.Date(2027, 1, 1, 1, 0, 0, 0, time.UTC), time.Date(2026, 12, 31, 23, 30, 0, 0, time.UTC)},
	} {
		if got := prevAt(c.now, 23*time.Hour+30*time.Minute); !got.Equal(c.want) {
			t.Errorf("prevAt(%v) = %v, want %v", c.now, got, c.want)
		}
	}
}

func TestNextAt(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	for _, c := range []struct{ now, want time.Time }{
		{at(10, 0, 29), at(23, 30, 29)},
		{at(23, 30, 29), at(23, 30, 30)},
		{at(23, 31, 29), at(23, 30, 30)},
		{time.Date(2026, 12, 31, 23, 45, 0, 0, sh), time.Date(2027, 1, 1, 23, 30, 0, 0, sh)},
	} {
		if got := nextAt(c.now, 23*time.Hour+30*time.Minute); !got.Equal(c.want) || got.Location() != c.now.Location() {
			t.Errorf("nextAt(%v) = %v, want %v", c.now, got, c.want)
		}
	}
}

// posd with settlement.auto_at runs the daily settlement on its engine
// and shows it in the status; without, the status says nothing of it.
func TestAutoSettleInStatus(t *testing.T) {
	cfg, err := config.Parse([]byte(`{"data_dir":"` + filepath.Join(t.TempDir(), "data") + `","host":{"addr":"127.0.0.1:1"},"settlement":{"auto_at":"03:00"}}`))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(context.Background(), cfg, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	var s AutoSettleStatus
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if p := d.Status().AutoSettle; p != nil && p.Next != "" {
			s = *p
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status: %+v", d.Status().AutoSettle)
		}
	}
	next, err := time.Parse(time.RFC3339, s.Next)
	if s.At != "03:00" || err != nil || next.Local().Hour() != 3 || next.Before(time.Now()) || next.After(time.Now().Add(24*time.Hour)) {
		t.Fatalf("auto settle %+v", s)
	}
	d2 := openTest(t, filepath.Join(t.TempDir(), "data"))
	defer d2.Close(context.Background())
	if p := d2.Status().AutoSettle; p != nil {
		t.Fatalf("without settlement.auto_at: %+v", p)
	}
}
