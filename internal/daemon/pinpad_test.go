package daemon

import (
	"context"
	"errors"
	"testing"
	"time"

	"posd/board"
	"posd/board/sim"
	"posd/crypto/dukpt"
	"posd/drivers/keypad"
	"posd/internal/testhex"
	"posd/terminal/pin"
	"posd/terminal/wiresec"
)

func TestPINKeyMapping(t *testing.T) {
	want := map[keypad.Key]pin.Key{
		keypad.KeyEnter: pin.KeyEnter, keypad.KeyClear: pin.KeyClear, keypad.KeyCancel: pin.KeyCancel,
		keypad.KeyFunc: pin.KeyOther, '*': pin.KeyOther, '#': pin.KeyOther, 'A': pin.KeyOther, 'B': pin.KeyOther, 'C': pin.KeyOther,
		'D': pin.KeyOther, keypad.KeyNone: pin.KeyOther,
	}
	for d := keypad.Key('0'); d <= '9'; d++ {
		want[d] = pin.Key(d)
	}
	for _, l := range []keypad.Layout{keypad.LayoutPINPad, keypad.Layout4x4, keypad.Layout3x4} {
		for _, row := range l {
			for _, k := range row {
				if _, ok := want[k]; !ok {
					t.Errorf("key %q of a layout not in the test", rune(k))
				}
			}
		}
	}
	for k, w := range want {
		if got := pinKey(k); got != w {
			t.Errorf("%s: %v, want %v", k, got, w)
		}
	}
}

// Published test keys of ANSI X9.24 (never production keys).
var testBDKs = map[wiresec.Mode]struct{ bdk, iksn []byte }{
	wiresec.ModeAES:  {testhex.Must("FEDCBA9876543210F1F1F1F1F1F1F1F1"), testhex.Must("123456789012345600000000")},
	wiresec.ModeTDES: {testhex.Must("0123456789ABCDEFFEDCBA9876543210"), testhex.Must("FFFF9876543210E00000")},
}

// testSession is the terminal's session of the mode's first KSN.
func testSession(t *testing.T, mode wiresec.Mode) (*wiresec.Session, []byte) {
	t.Helper()
	k := testBDKs[mode]
	var (
		o   dukpt.Originator
		ik  []byte
		err error
	)
	if mode == wiresec.ModeAES {
		if ik, err = dukpt.AESDeriveIK(k.bdk, k.iksn); err == nil {
			o, err = dukpt.NewAESOriginator(ik, k.iksn)
		}
	} else if ik, err = dukpt.TDESDeriveIK(k.bdk, k.iksn); err == nil {
		o, err = dukpt.NewTDESOriginator(ik, k.iksn)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer o.Wipe()
	ksn, key, err := o.Next()
	if err != nil {
		t.Fatal(err)
	}
	s, err := wiresec.ForTerminal(mode, ksn, key)
	if err != nil {
		t.Fatal(err)
	}
	return s, ksn
}

// On the simulated board, keys typed on the matrix simulator go through
// the real keypad driver and this adapter into a PIN entry, whose PIN
// block the host opens with the BDK; keys typed before the prompt do not
// count, and Cancel cancels.
func TestPINPadOnSimBoard(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sb, err := sim.Open(ctx, sim.Opts{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Halt()
	d := &Daemon{Board: sb.Board, Sim: sb}
	pad := d.PINPad()
	if pad == nil {
		t.Fatal("no PIN pad on the sim board")
	}
	e, err := pin.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	const pan = "4761739001010010"

	// read runs an entry, typing keys once the prompt is up.
	read := func(keys string, build pin.Builder) ([]byte, []pin.Progress, error) {
		var steps []pin.Progress
		typed := make(chan error, 1)
		out, err := e.Read(ctx, pad, func(p pin.Progress) {
			steps = append(steps, p)
			if p.State == pin.StateStart {
				go func() { typed <- sb.Keys(ctx, keys) }()
			}
		}, build)
		if terr := <-typed; terr != nil {
			t.Fatalf("typing: %v", terr)
		}
		return out, steps, err
	}

	if err := sb.Keys(ctx, "99"); err != nil { // before any prompt
		t.Fatal(err)
	}
	for _, c := range []struct {
		mode  wiresec.Mode
		keys  string
		steps int
	}{{wiresec.ModeTDES, "2468E", 6}, {wiresec.ModeAES, "5C2468E", 8}} {
		mode := c.mode
		sess, ksn := testSession(t, mode)
		blk, steps, err := read(c.keys, pin.OnlinePIN(sess, pan))
		if err != nil || len(blk) != mode.PINBlockLen() {
			t.Fatalf("%s: %d bytes, %v (%v)", mode, len(blk), err, steps)
		}
		host, err := wiresec.ForHost(mode, testBDKs[mode].bdk, ksn)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := host.DecryptPIN(blk, pan); err != nil || got != "2468" {
			t.Fatalf("%s: the host does not find the typed PIN: %v", mode, err)
		}
		if last := steps[len(steps)-1]; last != (pin.Progress{Digits: 4, State: pin.StateDone}) || len(steps) != c.steps {
			t.Fatalf("%s: progress %v", mode, steps)
		}
	}
	if _, _, err := read("12X", pin.OfflinePlaintextPIN()); !errors.Is(err, pin.ErrCancelled) {
		t.Fatalf("cancel: %v", err)
	}

	// A halted keypad fails the entry at once.
	if err := sb.Devices.Keypad.Halt(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Read(ctx, pad, nil, pin.OfflinePlaintextPIN()); !errors.Is(err, pin.ErrKeypad) || !errors.Is(err, keypad.ErrHalted) {
		t.Fatalf("halted keypad: %v", err)
	}
}

func TestNoPINPad(t *testing.T) {
	if p := (&Daemon{Board: board.New("test", nil)}).PINPad(); p != nil {
		t.Fatalf("a board without a keypad has a PIN pad: %v", p)
	}
}
