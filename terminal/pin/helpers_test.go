package pin

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"posd/conn/clock"
)

// fakeKeys is a PIN pad fed by the test through a channel. Closing the
// channel makes Next fail with io.EOF; err injects a failure.
type fakeKeys struct {
	ch  chan Event
	err chan error
}

func newFakeKeys() *fakeKeys {
	return &fakeKeys{ch: make(chan Event, 64), err: make(chan error, 1)}
}

func (f *fakeKeys) Next(ctx context.Context) (Event, error) {
	select {
	case ev, ok := <-f.ch:
		if !ok {
			return Event{}, io.EOF
		}
		return ev, nil
	case err := <-f.err:
		return Event{}, err
	case <-ctx.Done():
		return Event{}, ctx.Err()
	}
}

func (f *fakeKeys) Flush() int {
	n := 0
	for {
		select {
		case _, ok := <-f.ch:
			if !ok {
				return n
			}
			n++
		default:
			return n
		}
	}
}

// keyOf maps the test's key string: digits, E enter, C clear, X cancel,
// anything else KeyOther.
func keyOf(c byte) Key {
	switch {
	case c >= '0' && c <= '9':
		return Key(c)
	case c == 'E':
		return KeyEnter
	case c == 'C':
		return KeyClear
	case c == 'X':
		return KeyCancel
	}
	return KeyOther
}

// typ presses and releases each key of s.
func (f *fakeKeys) typ(s string) {
	for i := 0; i < len(s); i++ {
		k := keyOf(s[i])
		f.ch <- Event{Key: k, Down: true}
		f.ch <- Event{Key: k}
	}
}

type outcome struct {
	out []byte
	err error
}

// run is one Read under test with a fake clock.
type run struct {
	t        *testing.T
	e        *Entry
	keys     *fakeKeys
	clk      *clock.Fake
	progress chan Progress
	done     chan outcome
	cancel   context.CancelFunc
	// built is the slice the Builder got (the Entry's buffer): zero after
	// Read; pin is a copy of the digits taken inside the Builder.
	built []byte
	pin   string
	calls int
	// ended is Read's outcome once it is in, while progress reports
	// may still be unread.
	ended *outcome
}

var epoch = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// start begins a Read with opts (the fake clock is filled in) and waits
// for the prompt. pre is typed before the prompt.
func start(t *testing.T, opts Opts, pre string, build Builder) *run {
	t.Helper()
	r := &run{t: t, keys: newFakeKeys(), clk: clock.NewFake(epoch), progress: make(chan Progress, 256), done: make(chan outcome, 1)}
	opts.Clock = r.clk
	e, err := New(&opts)
	if err != nil {
		t.Fatal(err)
	}
	r.e = e
	if build == nil {
		build = func(d []byte) ([]byte, error) {
			r.calls++
			r.built, r.pin = d, string(d)
			return []byte("block"), nil
		}
	}
	r.keys.typ(pre)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	t.Cleanup(cancel)
	go func() {
		out, err := e.Read(ctx, r.keys, func(p Progress) {
			// The display hears of the end once the digits are gone.
			if p.State.Final() && (e.buf != [len(e.buf)]byte{} || e.held != [256]bool{}) {
				p.State = "digits left at " + p.State
			}
			r.progress <- p
		}, build)
		r.done <- outcome{out, err}
	}()
	r.expect(Progress{0, StateStart})
	return r
}

// expect reads the next progress reports and compares them.
func (r *run) expect(want ...Progress) {
	r.t.Helper()
	for _, w := range want {
		got, ok := r.next()
		if !ok {
			r.t.Fatalf("no progress %+v (entry ended: %v)", w, r.ended != nil)
		}
		if got != w {
			r.t.Fatalf("progress %+v, want %+v", got, w)
		}
	}
}

// next returns the next progress report. Every report of an entry is sent
// before Read returns, so once it has returned the ones left are queued.
func (r *run) next() (Progress, bool) {
	for {
		select {
		case p := <-r.progress:
			return p, true
		default:
		}
		if r.ended != nil {
			return Progress{}, false
		}
		select {
		case p := <-r.progress:
			return p, true
		case o := <-r.done:
			r.ended = &o
		case <-time.After(10 * time.Second):
			return Progress{}, false
		}
	}
}

// end waits for Read to return, checks that nothing in the Entry holds a
// digit any more and that no progress is left unread.
func (r *run) end() outcome {
	r.t.Helper()
	if r.ended == nil {
		select {
		case o := <-r.done:
			r.ended = &o
		case <-time.After(10 * time.Second):
			r.t.Fatal("Read did not return")
		}
	}
	r.checkWiped()
	select {
	case p := <-r.progress:
		r.t.Fatalf("unexpected progress %+v", p)
	default:
	}
	return *r.ended
}

func (r *run) checkWiped() {
	r.t.Helper()
	if r.e.buf != [len(r.e.buf)]byte{} {
		r.t.Fatal("the PIN buffer is not zero after Read")
	}
	if r.e.held != [256]bool{} || r.e.ev != (Event{}) {
		r.t.Fatal("key state left after Read")
	}
	for _, b := range r.built {
		if b != 0 {
			r.t.Fatal("the digits handed to the Builder are not zero after Read")
		}
	}
}

func (r *run) wantErr(target error) outcome {
	r.t.Helper()
	o := r.end()
	if !errors.Is(o.err, target) || o.out != nil {
		r.t.Fatalf("got %q, %v; want %v", o.out, o.err, target)
	}
	if r.calls != 0 {
		r.t.Fatalf("the Builder ran %d times", r.calls)
	}
	return o
}

func (r *run) wantPIN(pin string) {
	r.t.Helper()
	o := r.end()
	if o.err != nil || string(o.out) != "block" {
		r.t.Fatalf("got %q, %v", o.out, o.err)
	}
	if r.calls != 1 || r.pin != pin {
		t := r.t
		t.Fatalf("the Builder ran %d times; PIN as typed: %v (length %d, want %d)", r.calls, r.pin == pin, len(r.pin), len(pin))
	}
}

func digits(n int, st State) Progress { return Progress{Digits: n, State: st} }
