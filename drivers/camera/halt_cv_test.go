//go:build !nocv

package camera

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// Halt pauses an image sequence and Start plays it again from its first
// image; frames returned before Halt stay valid, frames queued are closed.
func TestHaltAndStartImages(t *testing.T) {
	dir := t.TempDir()
	writePNGs(t, dir, 3, 16, 16)
	g0 := runtime.NumGoroutine()
	d, err := New(dir, &Opts{Unpaced: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	kept, err := d.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkColour(t, kept, 0, 0)
	// The reader holds frame 2 in the queue and waits to queue frame 3.
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	if n := d.OpenMats(); n != 1 {
		t.Fatalf("open matrices after Halt = %d, want 1 (the kept frame)", n)
	}
	if _, err := d.Next(ctx); !errors.Is(err, ErrHalted) || errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Halt = %v, want ErrHalted", err)
	}
	if err := d.Halt(); err != nil {
		t.Fatalf("second Halt = %v", err)
	}
	if err := d.Start(); err != nil {
		t.Fatalf("Start = %v", err)
	}
	for i := 0; i < 3; i++ {
		f, err := d.Next(ctx)
		if err != nil {
			t.Fatalf("frame %d after Start: %v", i, err)
		}
		if f.Seq <= kept.Seq {
			t.Fatalf("frame %d after Start has Seq %d, not after %d", i, f.Seq, kept.Seq)
		}
		checkColour(t, f, i, 0) // from the first image again
		f.Close()
		if i == 0 {
			// Start on a running Dev does nothing: the sequence goes on.
			if err := d.Start(); err != nil {
				t.Fatalf("Start while running = %v", err)
			}
		}
	}
	if _, err := d.Next(ctx); !errors.Is(err, ErrEndOfStream) {
		t.Fatalf("after the last image: %v, want ErrEndOfStream", err)
	}
	// A sequence that has ended starts over too.
	if err := d.Start(); err != nil {
		t.Fatalf("Start after the end = %v", err)
	}
	f, err := d.Next(ctx)
	if err != nil {
		t.Fatalf("after Start at the end: %v", err)
	}
	checkColour(t, f, 0, 0)
	f.Close()
	if _, err := kept.BGR(); err != nil {
		t.Fatalf("a frame returned before Halt: %v", err)
	}
	kept.Close()
	if st := d.Stats(); st.Frames < 5 || st.Errors != 0 {
		t.Fatalf("stats = %+v: counters do not carry on across Halt and Start", st)
	}
	halt(t, d, g0)
}

// Halt on a camera releases the device after the read in progress, a Next
// waiting meanwhile fails with ErrHalted, and Start reopens the device.
func TestHaltAndStartDevice(t *testing.T) {
	g0 := runtime.NumGoroutine()
	op := newFakeOpener(0)
	d, err := newDev("0", &Opts{Clock: newFakeClock()}, op.open)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	op.tok <- struct{}{}
	f1, err := d.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The reader is now inside a read that only a token ends, as OpenCV
	// is inside a native read: Halt waits for it.
	halted := make(chan error, 1)
	go func() { halted <- d.Halt() }()
	// This Next waits for a frame until Halt begins (or starts after).
	if _, err := d.Next(ctx); !errors.Is(err, ErrHalted) || errors.Is(err, ErrClosed) {
		t.Fatalf("Next during Halt = %v, want ErrHalted", err)
	}
	op.release(d) // the read returns; its frame is closed, not queued
	if err := <-halted; err != nil {
		t.Fatalf("Halt = %v", err)
	}
	if n := op.Live(); n != 0 {
		t.Fatalf("%d captures open after Halt, want 0 (the device released)", n)
	}
	if n := d.OpenMats(); n != 1 {
		t.Fatalf("open matrices after Halt = %d, want 1 (f1)", n)
	}
	if st := d.Stats(); st.Connected || st.Stalled {
		t.Fatalf("stats after Halt = %+v", st)
	}
	if _, err := d.Next(ctx); !errors.Is(err, ErrHalted) {
		t.Fatalf("Next after Halt = %v, want ErrHalted", err)
	}
	if err := d.Start(); err != nil {
		t.Fatalf("Start = %v", err)
	}
	if op.Opens() != 2 || op.Live() != 1 || !d.Stats().Connected {
		t.Fatalf("after Start: opens %d, live %d, stats %+v; want the device opened again", op.Opens(), op.Live(), d.Stats())
	}
	op.tok <- struct{}{}
	f2, err := d.Next(ctx)
	if err != nil {
		t.Fatalf("Next after Start = %v", err)
	}
	if f2.Seq <= f1.Seq {
		t.Fatalf("Seq %d after Start, %d before", f2.Seq, f1.Seq)
	}
	checkColour(t, f2, 0, 0) // the first frame of the new capture
	checkColour(t, f1, 0, 0) // still valid
	f1.Close()
	f2.Close()
	close(op.quit)
	halt(t, d, g0)
	if n := op.Live(); n != 0 {
		t.Fatalf("%d captures open after Close", n)
	}
}

// A Start that cannot open the device fails like New and leaves the Dev
// halted; the next Start may succeed.
func TestStartThatFailsToOpen(t *testing.T) {
	op := newFakeOpener(0, 2) // the second opening fails
	blocking := &blockingClock{fakeClock: newFakeClock(), waiting: make(chan struct{}, 1)}
	d, err := newDev("0", &Opts{Clock: blocking}, op.open)
	if err != nil {
		t.Fatal(err)
	}
	close(op.quit) // the read fails; the reader waits in its backoff
	<-blocking.waiting
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	op.renew()
	err = d.Start()
	var de *DeviceError
	if !errors.As(err, &de) || de.Op != "open" || !errors.Is(err, ErrOpen) {
		t.Fatalf("Start = %v, want an open *DeviceError", err)
	}
	if _, err := d.Next(context.Background()); !errors.Is(err, ErrHalted) {
		t.Fatalf("Next after a failed Start = %v, want ErrHalted", err)
	}
	if err := d.Start(); err != nil {
		t.Fatalf("second Start = %v", err)
	}
	op.tok <- struct{}{}
	f, err := d.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	close(op.quit)
	halt(t, d, 0x7fffffff)
	if n := op.Live(); n != 0 {
		t.Fatalf("%d captures open after Close", n)
	}
}

// Close is final: a Next waiting when it begins, and every call after it,
// gets ErrClosed, and Start does not bring the Dev back.
func TestCloseWhileNextWaits(t *testing.T) {
	op := newFakeOpener(0)
	d, err := newDev("0", &Opts{Clock: newFakeClock()}, op.open)
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- d.Close() }()
	if _, err := d.Next(context.Background()); !errors.Is(err, ErrClosed) || !IsFatal(err) {
		t.Fatalf("Next during Close = %v, want ErrClosed", err)
	}
	op.release(d) // the read in progress returns
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if err := d.Start(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close = %v, want ErrClosed", err)
	}
	if err := d.Check(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Check after Close = %v, want ErrClosed", err)
	}
	if op.Live() != 0 || d.OpenMats() != 0 {
		t.Fatalf("after Close: %d captures, %d matrices open", op.Live(), d.OpenMats())
	}
}

// Halt and Start repeatedly while a consumer reads: every Next returns a
// frame or ErrHalted until Close, and nothing leaks. Run with -race.
func TestHaltStartWhileReading(t *testing.T) {
	dir := t.TempDir()
	writePNGs(t, dir, 2, 8, 8)
	d, err := New(filepath.Join(dir, "f*.png"), &Opts{Loop: true, Unpaced: true})
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg     sync.WaitGroup
		frames int
		bad    error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			f, err := d.Next(context.Background())
			switch {
			case err == nil:
				frames++
				f.Close()
			case errors.Is(err, ErrHalted):
				runtime.Gosched()
			case errors.Is(err, ErrClosed):
				return
			default:
				bad = err
				return
			}
		}
	}()
	for i := 0; i < 20; i++ {
		if err := d.Halt(); err != nil {
			t.Fatal(err)
		}
		if err := d.Start(); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if bad != nil {
		t.Fatalf("Next during Halt and Start: %v", bad)
	}
	if n := d.OpenMats(); n != 0 {
		t.Fatalf("%d native matrices open after Close (%d frames read)", n, frames)
	}
}
