package pin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDigitsThenEnter(t *testing.T) {
	r := start(t, Opts{}, "", nil)
	r.keys.typ("4096E")
	r.expect(digits(1, StateDigit), digits(2, StateDigit), digits(3, StateDigit), digits(4, StateDigit), digits(4, StateDone))
	r.wantPIN("4096")
}

// Keys pressed before the prompt are flushed, and the release of a key
// held across the prompt does nothing.
func TestKeysBeforePromptDoNotCount(t *testing.T) {
	r := start(t, Opts{}, "99", nil)
	r.keys.ch <- Event{Key: '5'} // released after the prompt
	r.keys.typ("1234E")
	r.expect(digits(1, StateDigit), digits(2, StateDigit), digits(3, StateDigit), digits(4, StateDigit), digits(4, StateDone))
	r.wantPIN("1234")
}

func TestClearErasesEveryDigit(t *testing.T) {
	r := start(t, Opts{}, "", nil)
	r.keys.typ("12C")
	r.expect(digits(1, StateDigit), digits(2, StateDigit), digits(0, StateCleared))
	r.checkBufferHolds(t, "")
	r.keys.typ("C8765E")
	r.expect(digits(0, StateCleared), digits(1, StateDigit), digits(2, StateDigit), digits(3, StateDigit), digits(4, StateDigit), digits(4, StateDone))
	r.wantPIN("8765")
}

// checkBufferHolds looks at the buffer during an entry (Read is waiting
// for a key, so the test may read it after the last progress report).
func (r *run) checkBufferHolds(t *testing.T, want string) {
	t.Helper()
	var w [len(r.e.buf)]byte
	copy(w[:], want)
	if r.e.buf != w {
		t.Fatalf("buffer does not hold the %d digits expected", len(want))
	}
}

func TestCancel(t *testing.T) {
	r := start(t, Opts{}, "", nil)
	r.keys.typ("12")
	r.expect(digits(1, StateDigit), digits(2, StateDigit))
	r.checkBufferHolds(t, "12")
	r.keys.typ("X")
	r.expect(digits(0, StateCancelled))
	r.wantErr(ErrCancelled)
}

func TestEnterNeedsMinDigits(t *testing.T) {
	r := start(t, Opts{}, "", nil)
	r.keys.typ("E123E")
	r.expect(digits(0, StateTooShort), digits(1, StateDigit), digits(2, StateDigit), digits(3, StateDigit), digits(3, StateTooShort))
	r.keys.typ("4E")
	r.expect(digits(4, StateDigit), digits(4, StateDone))
	r.wantPIN("1234")
}

func TestMaxDigits(t *testing.T) {
	r := start(t, Opts{}, "", nil)
	r.keys.typ("1234567890123")
	for i := 1; i <= 12; i++ {
		r.expect(digits(i, StateDigit))
	}
	r.expect(digits(12, StateFull))
	r.keys.typ("E")
	r.expect(digits(12, StateDone))
	r.wantPIN("123456789012")

	// A six-digit payment password: exactly six.
	r = start(t, Opts{Min: 6, Max: 6}, "", nil)
	r.keys.typ("12345E67E")
	r.expect(digits(1, StateDigit), digits(2, StateDigit), digits(3, StateDigit), digits(4, StateDigit), digits(5, StateDigit),
		digits(5, StateTooShort), digits(6, StateDigit), digits(6, StateFull), digits(6, StateDone))
	r.wantPIN("123456")
}

func TestBypass(t *testing.T) {
	// Not allowed (the default): Enter without digits is a short PIN.
	r := start(t, Opts{}, "", nil)
	r.keys.typ("E")
	r.expect(digits(0, StateTooShort))
	r.keys.typ("1111E")
	r.expect(digits(1, StateDigit), digits(2, StateDigit), digits(3, StateDigit), digits(4, StateDigit), digits(4, StateDone))
	r.wantPIN("1111")

	// Allowed: Enter without digits bypasses, and no Builder runs.
	r = start(t, Opts{AllowBypass: true}, "", nil)
	r.keys.typ("E")
	r.expect(digits(0, StateBypassed))
	r.wantErr(ErrBypassed)

	// Allowed, but some digits typed: a short PIN, not a bypass; after
	// Clear there are none again.
	r = start(t, Opts{AllowBypass: true}, "", nil)
	r.keys.typ("12ECE")
	r.expect(digits(1, StateDigit), digits(2, StateDigit), digits(2, StateTooShort), digits(0, StateCleared), digits(0, StateBypassed))
	r.wantErr(ErrBypassed)
}

// Only presses count: a key held down (repeated Down events without an Up,
// as an auto-repeating source would send) is one digit; releases and
// unused keys do nothing.
func TestHeldKeysAndOtherKeys(t *testing.T) {
	r := start(t, Opts{}, "", nil)
	ev := func(k Key, down bool) { r.keys.ch <- Event{Key: k, Down: down} }
	ev('1', true)
	ev('1', true)
	ev('1', true)
	ev('2', true) // rollover: 2 pressed while 1 is held
	ev('1', false)
	ev('2', false)
	ev('3', false) // release of a key never pressed
	ev(KeyOther, true)
	ev(KeyOther, false)
	ev(KeyEnter, true)
	ev(KeyEnter, true) // Enter held
	ev(KeyEnter, false)
	r.expect(digits(1, StateDigit), digits(2, StateDigit), digits(2, StateTooShort))
	r.keys.typ("11E")
	r.expect(digits(3, StateDigit), digits(4, StateDigit), digits(4, StateDone))
	r.wantPIN("1211")
}

func TestOverallTimeout(t *testing.T) {
	r := start(t, Opts{InterKeyTimeout: -1}, "", nil)
	r.keys.typ("12")
	r.expect(digits(1, StateDigit), digits(2, StateDigit))
	if err := r.clk.BlockUntil(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	r.clk.Advance(29 * time.Second)
	r.keys.typ("3") // still reading
	r.expect(digits(3, StateDigit))
	r.clk.Advance(time.Second)
	r.expect(digits(0, StateTimeout))
	o := r.wantErr(ErrTimeout)
	if !strings.Contains(o.err.Error(), "30s") {
		t.Errorf("timeout error: %v", o.err)
	}
	if n := r.clk.Waiters(); n != 0 {
		t.Errorf("%d timers armed without an inter-key timeout", n)
	}
}

// The inter-key timeout runs from the first key press, and every press
// restarts it.
func TestInterKeyTimeout(t *testing.T) {
	r := start(t, Opts{Timeout: 2 * time.Minute}, "", nil)
	if err := r.clk.BlockUntil(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
	r.clk.Advance(20 * time.Second) // longer than 15 s, before the first key
	r.keys.typ("1")
	r.expect(digits(1, StateDigit))
	r.clk.Advance(14 * time.Second)
	r.keys.typ("C") // any key press restarts it
	r.expect(digits(0, StateCleared))
	r.clk.Advance(14 * time.Second)
	r.keys.typ("2")
	r.expect(digits(1, StateDigit))
	r.clk.Advance(15 * time.Second)
	r.expect(digits(0, StateTimeout))
	o := r.wantErr(ErrTimeout)
	if !strings.Contains(o.err.Error(), "no key pressed for 15s") {
		t.Errorf("timeout error: %v", o.err)
	}
}

func TestCallerStops(t *testing.T) {
	r := start(t, Opts{}, "", nil)
	r.keys.typ("12")
	r.expect(digits(1, StateDigit), digits(2, StateDigit))
	r.cancel()
	r.expect(digits(0, StateStopped))
	o := r.wantErr(ErrStopped)
	if !errors.Is(o.err, context.Canceled) {
		t.Errorf("%v does not wrap context.Canceled", o.err)
	}

	// A context that has ended already: no flush, no prompt.
	e, _ := New(nil)
	k := newFakeKeys()
	k.typ("1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Read(ctx, k, func(Progress) { t.Error("prompt") }, OfflinePlaintextPIN()); !errors.Is(err, ErrStopped) {
		t.Fatalf("ended context: %v", err)
	}
	if len(k.ch) != 2 {
		t.Error("an entry that never started flushed the keypad")
	}
}

func TestKeypadFails(t *testing.T) {
	r := start(t, Opts{}, "", nil)
	r.keys.typ("12")
	r.expect(digits(1, StateDigit), digits(2, StateDigit))
	gone := errors.New("keypad halted")
	r.keys.err <- gone
	r.expect(digits(0, StateFailed))
	o := r.wantErr(ErrKeypad)
	if !errors.Is(o.err, gone) {
		t.Errorf("%v does not wrap the keypad's error", o.err)
	}
}

func TestBuilderFails(t *testing.T) {
	var r *run
	bad := errors.New("no session key")
	r = start(t, Opts{}, "", func(d []byte) ([]byte, error) {
		r.calls++
		r.built = d
		return nil, bad
	})
	r.keys.typ("1234E")
	r.expect(digits(1, StateDigit), digits(2, StateDigit), digits(3, StateDigit), digits(4, StateDigit), digits(0, StateFailed))
	o := r.end()
	if !errors.Is(o.err, ErrBuild) || !errors.Is(o.err, bad) || o.out != nil || r.calls != 1 {
		t.Fatalf("got %q, %v after %d calls", o.out, o.err, r.calls)
	}
}

// A panicking callback still leaves the buffer wiped and the Entry usable.
func TestPanicWipes(t *testing.T) {
	e, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	k := newFakeKeys()
	var seen []byte
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("no panic")
			}
		}()
		k.typ("1234E")
		e.Read(context.Background(), k, func(p Progress) {
			if p.State == StateStart {
				k.typ("1234E")
			}
		}, func(d []byte) ([]byte, error) { seen = d; panic("builder bug") })
	}()
	if e.buf != [len(e.buf)]byte{} || !bytes.Equal(seen, make([]byte, 4)) {
		t.Fatal("digits left after a panic")
	}
	var pin string
	typeAtPrompt := func(p Progress) {
		if p.State == StateStart {
			k.typ("9876E")
		}
	}
	if _, err := e.Read(context.Background(), k, typeAtPrompt, func(d []byte) ([]byte, error) { pin = string(d); return nil, nil }); err != nil || pin != "9876" {
		t.Fatalf("after the panic: %v", err)
	}
}

func TestOneEntryAtATime(t *testing.T) {
	r := start(t, Opts{}, "", nil)
	if _, err := r.e.Read(context.Background(), newFakeKeys(), nil, OfflinePlaintextPIN()); !errors.Is(err, ErrBusy) {
		t.Fatalf("second Read: %v", err)
	}
	r.keys.typ("X")
	r.expect(digits(0, StateCancelled))
	r.wantErr(ErrCancelled)
}

func TestConfig(t *testing.T) {
	for _, o := range []Opts{{Min: 3}, {Max: 13}, {Min: 8, Max: 6}, {Min: -1}, {Timeout: -time.Second}} {
		if _, err := New(&o); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v", o, err)
		}
	}
	e, err := New(&Opts{Min: 6})
	if err != nil {
		t.Fatal(err)
	}
	if o := e.Opts(); o.Min != 6 || o.Max != 12 || o.Timeout != 30*time.Second || o.InterKeyTimeout != 15*time.Second || o.AllowBypass {
		t.Errorf("defaults: %+v", o)
	}
	if _, err := e.Read(context.Background(), nil, nil, OfflinePlaintextPIN()); !errors.Is(err, ErrConfig) {
		t.Errorf("nil keys: %v", err)
	}
	if _, err := e.Read(context.Background(), newFakeKeys(), nil, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("nil builder: %v", err)
	}
}

// Progress carries a count and a state, nothing else.
func TestProgressHoldsNoDigit(t *testing.T) {
	typ := reflect.TypeOf(Progress{})
	if typ.NumField() != 2 || typ.Field(0).Type.Kind() != reflect.Int || typ.Field(1).Type != reflect.TypeOf(State("")) {
		t.Fatalf("Progress has changed shape: %v", typ)
	}
	b, _ := json.Marshal(Progress{Digits: 3, State: StateDigit})
	if string(b) != `{"digits":3,"state":"digit"}` {
		t.Fatalf("JSON %s", b)
	}
}

// No formatting of a key or an event shows a digit.
func TestKeysNeverPrintDigits(t *testing.T) {
	var logs bytes.Buffer
	jl := slog.New(slog.NewJSONHandler(&logs, nil))
	tl := slog.New(slog.NewTextHandler(&logs, nil))
	for k := Key('0'); k <= '9'; k++ {
		ev := Event{Key: k, Down: true}
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%X", "%c", "%q", "%U", "%o", "%b", "%5d"} {
			for _, s := range []string{fmt.Sprintf(verb, k), fmt.Sprintf(verb, ev), fmt.Sprintf(verb, &ev)} {
				if strings.ContainsRune(strings.ReplaceAll(s, fmt.Sprintf("%p", &ev), ""), rune(k)) {
					t.Fatalf("%s shows the digit: %q", verb, s)
				}
			}
		}
		b, err := json.Marshal(ev)
		if err != nil || string(b) != `{"Key":"digit","Down":true}` {
			t.Fatalf("JSON %s, %v", b, err)
		}
		logs.Reset()
		jl.Info("key", "key", k, "event", ev)
		tl.Info("key", "key", k, "event", ev)
		out := logs.String()
		out = out[strings.Index(out, `"msg"`):] // past the JSON time
		out = out[:strings.Index(out, "\n")]
		if strings.ContainsRune(out, rune(k)) {
			t.Fatalf("slog shows the digit: %s", out)
		}
	}
	for k, name := range map[Key]string{KeyEnter: "Enter", KeyClear: "Clear", KeyCancel: "Cancel", KeyOther: "other", 'A': "other"} {
		if got := fmt.Sprint(k); got != name {
			t.Errorf("%q: %s", byte(k), got)
		}
	}
}

// What the Entry logs never holds the PIN, and its errors never do.
func TestLogsAndErrorsHoldNoPIN(t *testing.T) {
	var logs bytes.Buffer
	lg := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}}))
	const pin = "7391"
	for _, c := range []struct {
		keys  string
		build Builder
	}{
		{pin + "E", OfflinePlaintextPIN()},
		{pin + "X", OfflinePlaintextPIN()},
		{pin + "E", func([]byte) ([]byte, error) { return nil, errors.New("refused") }},
		{pin + "E", OnlinePIN(nil, "4761739001010010")},
	} {
		e, _ := New(&Opts{Logger: lg})
		k := newFakeKeys()
		_, err := e.Read(context.Background(), k, func(p Progress) {
			if p.State == StateStart {
				k.typ(c.keys)
			}
		}, c.build)
		if err != nil && strings.Contains(err.Error(), pin) {
			t.Errorf("error shows the PIN: %v", err)
		}
	}
	if !strings.Contains(logs.String(), "state=cancelled") || strings.Contains(logs.String(), pin) {
		t.Fatalf("log:\n%s", logs.String())
	}
}
