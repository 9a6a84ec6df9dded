package alparsim_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"posd/conn/clock"
	"posd/drivers/alpar"
	"posd/drivers/alpar/alparsim"
)

// recClock records every wait and lets it end at once.
type recClock struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (c *recClock) Now() time.Time { return time.Unix(0, 0) }

func (c *recClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- time.Unix(0, 0)
	return ch
}

func (c *recClock) taken() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.waits
	c.waits = nil
	return w
}

var (
	checkPres = []byte{0x60, 0x00, 0x00, 0x09, 0x69}       // check_pres_card
	absent    = []byte{0x60, 0x00, 0x01, 0x09, 0x00, 0x68} // its answer, slot empty
	inserted  = []byte{0x60, 0x00, 0x01, 0xA0, 0x01, 0xC0} // unsolicited A0h
)

func serve(t *testing.T, o *alparsim.Opts) (*alparsim.Sim, net.Conn) {
	t.Helper()
	host, chip := net.Pipe()
	sim := alparsim.New(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = sim.Serve(ctx, chip); close(done) }()
	t.Cleanup(func() { cancel(); chip.Close(); host.Close(); <-done })
	return sim, host
}

func readN(t *testing.T, r io.Reader, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatal(err)
	}
	return b
}

// On an 8N1 line a byte is 10 bit times. At 9600 baud the 5 bytes of
// check_pres_card take 50/9600 s = 5.208333 ms to arrive and the 6 bytes of
// its answer 60/9600 s = 6.25 ms to leave; at the chip's default 38400
// baud (AN10207) an unsolicited 6-byte frame takes 1.5625 ms.
func TestLineTime(t *testing.T) {
	clk := &recClock{}
	sim, host := serve(t, &alparsim.Opts{Mask: "m", Baud: 9600, Clock: clk})
	go func() { _, _ = host.Write(checkPres) }()
	if got := readN(t, host, len(absent)); !bytes.Equal(got, absent) {
		t.Fatalf("answer % X", got)
	}
	if w := clk.taken(); !slices.Equal(w, []time.Duration{5208333 * time.Nanosecond, 6250 * time.Microsecond}) {
		t.Fatalf("line waits %v", w)
	}
	go sim.Insert(card{})
	if got := readN(t, host, len(inserted)); !bytes.Equal(got, inserted) {
		t.Fatalf("insertion frame % X", got)
	}
	if w := clk.taken(); !slices.Equal(w, []time.Duration{6250 * time.Microsecond}) {
		t.Fatalf("line waits %v", w)
	}
	if d := alparsim.New(nil).LineTime(6); d != 1562500*time.Nanosecond {
		t.Fatalf("default line time of 6 bytes %v", d)
	}
	if d := alparsim.New(&alparsim.Opts{}).LineTime(6); d != 0 {
		t.Fatalf("line time at baud 0: %v", d)
	}
}

// With a fake clock nothing reaches the host before its time: the chip
// acts only once the command's last byte is in, and its answer arrives
// only once its own last byte is out.
func TestNothingBeforeItsTime(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	sim, host := serve(t, &alparsim.Opts{Baud: 9600, Clock: clk})
	// The deadline only keeps a broken simulator from hanging the run.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go func() { _, _ = host.Write(checkPres) }()

	step := func(lineTime time.Duration) {
		t.Helper()
		if err := clk.BlockUntil(ctx, 1); err != nil {
			t.Fatal(err)
		}
		clk.Advance(lineTime - time.Nanosecond)
		if clk.Waiters() != 1 || sim.Sent() != 0 {
			t.Fatalf("1 ns early: %d waiters, %d frames sent", clk.Waiters(), sim.Sent())
		}
		clk.Advance(time.Nanosecond)
	}
	step(5208333 * time.Nanosecond) // the command arriving
	step(6250 * time.Microsecond)   // the answer leaving
	if got := readN(t, host, len(absent)); !bytes.Equal(got, absent) {
		t.Fatalf("answer % X", got)
	}
	if sim.Sent() != 1 {
		t.Fatalf("%d frames sent", sim.Sent())
	}
}

type card struct{}

func (card) ATR() []byte                     { return []byte{0x3B, 0x00} }
func (card) Transmit([]byte) ([]byte, error) { return []byte{0x90, 0x00}, nil }

// get_card_parameters: refused (55h) unless the test supplies the answer,
// which is then sent verbatim; C0h without a card either way.
func TestGetCardParams(t *testing.T) {
	ctx := context.Background()
	for _, answer := range [][]byte{nil, {0x13, 0x01, 0xFE}} {
		sim, host := serve(t, &alparsim.Opts{CardParams: answer})
		d, err := alpar.New(host, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.CardParams(ctx); !errors.Is(err, alpar.ErrCardAbsent) {
			t.Fatalf("empty slot: %v", err)
		}
		sim.Insert(card{})
		p, err := d.CardParams(ctx)
		switch {
		case answer == nil && !errors.Is(err, alpar.ErrUnknownCommand):
			t.Fatalf("no layout: %+v %v", p, err)
		case answer != nil && (err != nil || !bytes.Equal(p.Raw, answer)):
			t.Fatalf("supplied answer: %+v %v", p, err)
		}
		if err := d.Halt(); err != nil {
			t.Fatal(err)
		}
	}
}

// Inserting a card while another is in the slot is a swap: the host sees
// the extraction frame before the new insertion, so it never mistakes the
// second card for the first one still sitting there.
func TestInsertOverACardIsASwap(t *testing.T) {
	sim, host := serve(t, &alparsim.Opts{})
	// One exchange first: the simulator is then serving this link.
	go func() { _, _ = host.Write(checkPres) }()
	if got := readN(t, host, len(absent)); !bytes.Equal(got, absent) {
		t.Fatalf("answer % X", got)
	}
	go sim.Insert(card{})
	if got := readN(t, host, len(inserted)); !bytes.Equal(got, inserted) {
		t.Fatalf("insertion frame % X", got)
	}
	extracted := []byte{0x60, 0x00, 0x01, 0xA0, 0x00, 0xC1}
	// A simulator that sends only the insertion fails the read, not the run.
	_ = host.SetReadDeadline(time.Now().Add(5 * time.Second))
	go sim.Insert(card{})
	if got := readN(t, host, 2*len(inserted)); !bytes.Equal(got, append(slices.Clone(extracted), inserted...)) {
		t.Fatalf("swap frames % X", got)
	}
}
