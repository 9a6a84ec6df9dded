package clock

import (
	"context"
	"testing"
	"time"
)

func TestFakeFiresInOrderOnlyWhenDue(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f := NewFake(t0)
	a := f.After(2 * time.Second)
	b := f.After(time.Second)
	f.Advance(999 * time.Millisecond)
	select {
	case <-a:
		t.Fatal("2s timer fired after 999ms")
	case <-b:
		t.Fatal("1s timer fired after 999ms")
	default:
	}
	f.Advance(time.Millisecond)
	if got := <-b; !got.Equal(t0.Add(time.Second)) {
		t.Fatalf("1s timer fired at %v", got)
	}
	if f.Waiters() != 1 || f.Fired() != 1 {
		t.Fatalf("waiters %d, fired %d", f.Waiters(), f.Fired())
	}
	f.Advance(time.Second)
	<-a
	if f.Fired() != 2 {
		t.Fatalf("fired %d", f.Fired())
	}
	if !f.Now().Equal(t0.Add(2 * time.Second)) {
		t.Fatalf("now %v", f.Now())
	}
}

func TestSleepFakeAndCancel(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	done := make(chan error, 1)
	go func() { done <- Sleep(context.Background(), f, time.Minute) }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	f.Advance(time.Minute)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithCancel(context.Background())
	ccancel()
	if err := Sleep(cctx, f, time.Hour); err == nil {
		t.Fatal("Sleep ignored a cancelled context")
	}
	if err := Sleep(context.Background(), nil, time.Millisecond); err != nil {
		t.Fatal(err)
	}
}
