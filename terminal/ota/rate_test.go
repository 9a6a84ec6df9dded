package ota

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"posd/cmd/tms-sim/repo"
	"posd/conn/clock"
)

// waitFor waits until cond holds (the terminal's side of a transfer has
// caught up), or fails after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s", what)
		}
	}
}

// blockUntil waits until n timers wait on clk, or fails after 10 s.
func blockUntil(t *testing.T, clk *clock.Fake, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := clk.BlockUntil(ctx, n); err != nil {
		t.Fatalf("nothing waits on the clock: %v", err)
	}
}

// advanceUntilEnded moves clk a rate window at a time until done has a
// result (at most 20 windows), and returns it.
func advanceUntilEnded(t *testing.T, clk *clock.Fake, done <-chan error, what string) error {
	t.Helper()
	for range 20 {
		clk.Advance(DefaultMinRateWindow)
		select {
		case err := <-done:
			return err
		case <-time.After(500 * time.Millisecond):
		}
	}
	return ended(t, done, what)
}

// ended is fn's result, or a failure when it does not come within 10 s.
func ended(t *testing.T, done <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: still running", what)
		return nil
	}
}

// TestSlowDownloadGivenUp: a TMS (or a middlebox) that trickles a target
// at a byte every 5 s would hold the Fetch up to FetchTimeout (10
// minutes by default, and a large image far longer at that rate over
// resumed Fetches). The terminal gives the request up once a
// MinRateWindow brought less than MinRate (ErrTooSlow, transient: Poll
// backs off), keeps what arrived, and resumes from there; a download
// slow but above the floor completes. The repository's pace and the
// terminal's rate window run on two fake clocks, stepped in turn.
func TestSlowDownloadGivenUp(t *testing.T) {
	srvClk := clock.NewFake(time.Now().UTC())
	rateClk := clock.NewFake(time.Now().UTC())
	e := newEnv(t, repo.Opts{Clock: srvClk})
	img := bytes.Repeat([]byte("0123456789abcdef"), 4<<10) // 64 KiB
	e.add("firmware/posd-2.img", img, KindFirmware, 2)
	e.publish()
	c := e.client("T1", func(o *Opts) { o.RateClock = rateClk })
	fw := find(t, mustCheck(t, c), "firmware/posd-2.img")
	tp := e.targetPath(fw.Name)
	partial := filepath.Join(c.partialDir, partialName(fw.SHA256, fw.Length))
	size := func() int64 {
		st, err := os.Stat(partial)
		if err != nil {
			return 0
		}
		return st.Size()
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop() // (a download still running lets the server go)
	var got []byte
	done := make(chan error, 1)
	fetch := func() {
		go func() {
			var err error
			got, err = c.Fetch(ctx, fw)
			done <- err
		}()
	}

	// A byte every 5 s: 7 bytes in the first 30 s.
	e.repo.Slow("/targets/", 1, 5*time.Second)
	fetch()
	for i := range 6 {
		blockUntil(t, srvClk, 1)
		waitFor(t, "the trickled bytes", func() bool { return size() == int64(i+1) })
		srvClk.Advance(5 * time.Second)
	}
	waitFor(t, "the trickled bytes", func() bool { return size() == 7 })
	rateClk.Advance(DefaultMinRateWindow)
	err := ended(t, done, "a download below the floor for a whole window")
	if got != nil || !errors.Is(err, ErrTooSlow) || !Transient(err) || Refused(err) {
		t.Fatalf("trickled fetch: %d bytes, %v", len(got), err)
	}
	t.Logf("given up: %v", err)
	if size() != 7 {
		t.Fatalf("kept %d bytes of the trickle, want 7", size())
	}
	// The trickling answer may still wait on the server's clock for its
	// next byte: woken, it finds the client gone and ends, so that the
	// waits the paced phase sees on that clock are its own.
	srvClk.Advance(5 * time.Second)
	waitFor(t, "the trickle's answer to end", func() bool { return srvClk.Waiters() == 0 })

	// 8 KiB every 5 s (1.6 KiB/s): slow, above the floor; it resumes after
	// what was kept.
	e.repo.Slow("/targets/", 8<<10, 5*time.Second)
	fetch()
	for i := 0; ; i++ {
		want := min(int64(len(img)), 7+int64(i+1)*8<<10)
		waitFor(t, "the paced bytes", func() bool { return size() == want || len(done) > 0 })
		if want == int64(len(img)) || len(done) > 0 {
			break
		}
		blockUntil(t, srvClk, 1)
		rateClk.Advance(5 * time.Second)
		srvClk.Advance(5 * time.Second)
	}
	if err := ended(t, done, "a download above the floor"); err != nil || !bytes.Equal(got, img) {
		t.Fatalf("paced fetch: %d bytes, %v", len(got), err)
	}
	// The server logs an answer once its handler returns, which may be
	// just after the client read the last byte.
	waitFor(t, "the paced answer logged", func() bool { return len(e.requests("T1", tp)) >= 2 })
	if qs := e.requests("T1", tp); len(qs) != 2 || qs[1].Range != "bytes=7-" || qs[1].Status != 206 {
		t.Fatalf("requests %+v", qs)
	}

	t.Run("metadata", func(t *testing.T) {
		e.repo.Slow("/metadata/", 1, 5*time.Second)
		e.publish()
		done := make(chan error, 1)
		waiting := rateClk.Waiters()
		go func() {
			ts, err := c.Check(ctx)
			if ts != nil {
				err = errors.New("targets returned")
			}
			done <- err
		}()
		blockUntil(t, rateClk, waiting+1) // a request is out, watched
		// The waiter seen may be the paced download's watcher, still
		// arming its next window as it ends, and the check's own may
		// come after the advance: advance window by window until the
		// check gives up (it cannot end otherwise: the server holds its
		// answer on a clock nobody moves).
		err := advanceUntilEnded(t, rateClk, done, "a check below the floor for a whole window")
		if !errors.Is(err, ErrTooSlow) || !Transient(err) {
			t.Fatalf("trickled check: %v", err)
		}
		e.repo.Restore("/metadata/")
		mustCheck(t, c)
	})
}
