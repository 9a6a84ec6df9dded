package board

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"posd/drivers/kbdwedge"
	"posd/drivers/kbdwedge/kbdwedgesim"
	"posd/drivers/msr"
)

func TestMSRConfig(t *testing.T) {
	p, _ := Lookup("rpi4")
	if p.MSR == nil || p.MSR.Kind != MSRKindEvdev || p.MSR.Validate() != nil {
		t.Fatalf("rpi4 stripe reader: %+v", p.MSR)
	}
	var m MSR
	if err := json.Unmarshal([]byte(`{"kind":"serial","port":"/dev/ttyUSB0","baud":9600,"format":"magtek","lrc":true}`), &m); err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	o, err := m.driverOpts(nil)
	if err != nil || o.Format != msr.FormatMagTek || !o.LRC {
		t.Fatalf("driver options: %+v %v", o, err)
	}
	for _, bad := range []MSR{
		{Kind: "bluetooth"},
		{Kind: MSRKindSerial},
		{Kind: MSRKindSerial, Port: "/dev/ttyS0", Format: "uic"},
		{Kind: MSRKindEvdev, Keymap: "azerty"},
		{Kind: MSRKindEvdev, EventLayout: "48"},
	} {
		if bad.Validate() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if (MSR{}).Validate() != nil {
		t.Error("the zero MSR (evdev, default device) rejected")
	}
}

func TestResolveDevice(t *testing.T) {
	dir := t.TempDir()
	pat := filepath.Join(dir, "*-event-kbd")
	if _, err := resolveDevice(pat); err == nil || !strings.Contains(err.Error(), "no input device") {
		t.Fatalf("none: %v", err)
	}
	one := filepath.Join(dir, "usb-Reader_1-event-kbd")
	os.WriteFile(one, nil, 0o600)
	os.WriteFile(filepath.Join(dir, "usb-Reader_1-event-mouse"), nil, 0o600)
	if got, err := resolveDevice(pat); err != nil || got != one {
		t.Fatalf("one: %q %v", got, err)
	}
	os.WriteFile(filepath.Join(dir, "usb-Keyboard-event-kbd"), nil, 0o600)
	if _, err := resolveDevice(pat); err == nil || !strings.Contains(err.Error(), "2 input devices") {
		t.Fatalf("two: %v", err)
	}
	if got, err := resolveDevice("/dev/input/event3"); err != nil || got != "/dev/input/event3" {
		t.Fatalf("path: %q %v", got, err)
	}
}

// A device that cannot be grabbed is not used: its keystrokes could reach
// a console. /dev/null refuses EVIOCGRAB (it is no input device).
func TestGrabRefused(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("evdev is Linux")
	}
	b := New("test", nil)
	b.AddMSREvdev("/dev/null", nil, nil)
	st := b.Status()
	if len(st) != 1 || st[0].OK || !strings.Contains(st[0].Error, "EVIOCGRAB") || b.Devices.MSR != nil {
		t.Fatalf("status %+v", st)
	}
	b.AddMSR(MSR{Kind: MSRKindEvdev, Device: filepath.Join(t.TempDir(), "none-event-kbd")}, nil)
	if st := b.Status(); len(st) != 2 || st[1].OK || st[1].Error == "" {
		t.Fatalf("missing device: %+v", st)
	}
}

// The keyboard-wedge path of the board, on a pipe standing in for the
// input device: events typed by the simulator come out of the board's
// stripe reader as a swipe; Halt stops it and closes the device.
func TestWedgeOnPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	f, err := openInput("pipe", func(*os.File) error { return nil }) // a path that does not exist
	if err == nil {
		f.Close()
		t.Fatal("opened a missing device")
	}
	b := New("test", nil)
	o := msr.DefaultOpts
	o.SwipeGap = 50 * time.Millisecond
	b.addMSRWedge(Status{Name: "msr", Driver: "msr", Where: "pipe"}, r, &kbdwedge.Opts{}, &o)
	if b.Devices.MSR == nil {
		t.Fatalf("status %+v", b.Status())
	}
	sim := kbdwedgesim.New(w, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t2 := "4761739001010010=29121010000000000000"
	if err := sim.Type("%E?\r;" + t2 + "?\r"); err != nil {
		t.Fatal(err)
	}
	sw, err := b.Devices.MSR.Read(ctx)
	if err != nil || sw.Track2 == nil || string(sw.Track2.Raw) != t2 || !errors.Is(sw.Err(1), msr.ErrBadRead) {
		t.Fatalf("swipe: %v, %v", sw, err)
	}
	if s := b.SelfTest(ctx); len(s) != 1 || !s[0].OK || !strings.Contains(s[0].Detail, "keyboard wedge") {
		t.Fatalf("self test: %+v", s)
	}
	if err := b.Halt(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(make([]byte, 1)); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("device not closed by Halt: %v", err)
	}
}
