package txn

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"posd/terminal/emv"
	"posd/terminal/store"
)

// keyChooser answers ChooseApp as a customer pressing one key would.
type keyChooser struct {
	index int
	ok    bool
	err   error
	n     int // the n it was asked with
}

func (k *keyChooser) ChooseApp(ctx context.Context, n int, asked func()) (int, bool, error) {
	k.n = n
	asked()
	return k.index, k.ok, k.err
}

func selectEngine(t *testing.T, apps AppChooser) *Engine {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "posd.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e, err := New(Opts{Store: db, Host: &fakeHost{}, Keys: newKeys(t), Reader: newReader(), CardTimeout: time.Second,
		HostTimeout: time.Second, Apps: apps})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Halt)
	return e
}

var dualApps = []emv.Candidate{
	{AID: []byte{0xA0, 0, 0, 0x03, 0x33, 0x01, 0x01, 0x01}, Label: "UnionPay Debit", Priority: 1},
	{AID: []byte{0xA0, 0, 0, 0x03, 0x33, 0x01, 0x01, 0x02}, Label: "UnionPay\x1b[2JCredit", Priority: 2},
}

// The customer's key picks the application; the display listed them all,
// by their labels (printable characters only), in the kernel's order.
func TestSelectAppOnTheKeypad(t *testing.T) {
	k := &keyChooser{index: 1, ok: true}
	e := selectEngine(t, k)
	events, stop := e.Subscribe()
	defer stop()
	i, err := chipUI{e: e, s: &sale{}}.Select(context.Background(), dualApps)
	if err != nil || i != 1 || k.n != 2 {
		t.Fatalf("Select: %d %v (asked for %d)", i, err, k.n)
	}
	var got Event
	for got.Phase != PhaseSelectApp {
		select {
		case got = <-events:
		case <-time.After(2 * time.Second):
			t.Fatal("no select_app event")
		}
	}
	if len(got.Apps) != 2 || got.Apps[0] != "UnionPay Debit" || got.Apps[1] != "UnionPay[2JCredi" {
		t.Fatalf("apps shown: %q", got.Apps)
	}
}

// A refusal, a timeout or a broken keypad: no application is chosen and
// the sale ends "card not accepted".
func TestSelectAppRefused(t *testing.T) {
	for name, k := range map[string]*keyChooser{
		"cancel":  {ok: false},
		"timeout": {err: context.DeadlineExceeded},
		"keypad":  {err: errors.New("keypad halted")},
		"range":   {index: 5, ok: true},
	} {
		e := selectEngine(t, k)
		if _, err := (chipUI{e: e, s: &sale{}}).Select(context.Background(), dualApps); !errors.Is(err, errNoAppChosen) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Without a keypad to ask, the terminal takes the first application that
// does not need the cardholder's confirmation, and none when each does.
func TestSelectAppWithoutKeypad(t *testing.T) {
	e := selectEngine(t, nil)
	apps := []emv.Candidate{dualApps[0], dualApps[1]}
	apps[0].ConfirmationRequired = true
	if i, err := (chipUI{e: e, s: &sale{}}).Select(context.Background(), apps); err != nil || i != 1 {
		t.Fatalf("Select: %d %v, want the second (no confirmation needed)", i, err)
	}
	apps[1].ConfirmationRequired = true
	if _, err := (chipUI{e: e, s: &sale{}}).Select(context.Background(), apps); !errors.Is(err, errNoAppChosen) {
		t.Fatalf("every application needs confirmation: %v", err)
	}
}
