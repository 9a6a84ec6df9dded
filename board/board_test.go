package board

import (
	"context"
	"strings"
	"testing"
)

// TestMissingHardwareReported opens the rpi4 profile on a machine without
// its devices (CI, a laptop): every device must be listed with an error,
// and Open must still succeed so the daemon starts with what it has.
func TestMissingHardwareReported(t *testing.T) {
	p, err := Lookup("rpi4")
	if err != nil {
		t.Fatal(err)
	}
	// Point the UARTs and the camera at paths that cannot exist here.
	p.MSR = &MSR{Kind: MSRKindSerial, Port: "/nonexistent/ttyMSR", Baud: 9600}
	p.Contact = &Serial{Port: "/nonexistent/ttyTDA", Baud: 38400}
	p.Camera = "/nonexistent/video0"
	p.IRCamera = "/nonexistent/video2"
	p.NFC = &NFC{Interface: "i2c", I2CBus: "posd-no-such-bus"}
	p.Keypad = &Keypad{Rows: []string{"NO_SUCH_PIN_A"}, Cols: []string{"NO_SUCH_PIN_B"}}
	b, err := Open(context.Background(), p, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer b.Halt()
	got := statusByName(b)
	for _, name := range []string{"msr", "nfc", "contact", "keypad", "camera", "ir-camera"} {
		s, ok := got[name]
		if !ok {
			t.Errorf("%s not reported", name)
			continue
		}
		if s.OK || s.Error == "" {
			t.Errorf("%s: %+v, want an error", name, s)
		}
	}
	if !strings.Contains(got["keypad"].Error, "NO_SUCH_PIN_A") {
		t.Errorf("keypad error does not name the pin: %q", got["keypad"].Error)
	}
	if b.Devices.MSR != nil || b.Devices.NFC != nil || b.Devices.Contact != nil || b.Devices.Keypad != nil || b.Devices.Camera != nil ||
		b.Devices.IRCamera != nil {
		t.Error("a missing device has a driver")
	}
	// A self test of a board with nothing keeps reporting the errors.
	for _, s := range b.SelfTest(context.Background()) {
		if s.OK {
			t.Errorf("%s OK after self test", s.Name)
		}
	}
}

// A profile whose IR camera is its colour camera is refused that IR
// camera (the colour picture would pass the IR check); the board still
// opens, with the colour camera tried as usual.
func TestIRCameraMustNotBeTheColourCamera(t *testing.T) {
	p := Profile{Name: "test", Camera: "/nonexistent/video0", IRCamera: "/nonexistent/video0"}
	b, err := Open(context.Background(), p, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer b.Halt()
	got := statusByName(b)
	if s, ok := got["camera"]; !ok || s.OK {
		t.Errorf("camera: %+v, want tried and failed", s)
	}
	if s := got["ir-camera"]; s.OK || !strings.Contains(s.Error, "colour camera") {
		t.Errorf("ir-camera: %+v, want refused as the colour camera", s)
	}
	if b.Devices.IRCamera != nil {
		t.Error("the refused IR camera has a driver")
	}
	if _, ok := b.IRCameraState(); ok {
		t.Error("the refused IR camera has a gate")
	}
}

func TestLookup(t *testing.T) {
	if _, err := Lookup("nope"); err == nil || !strings.Contains(err.Error(), "rpi4") {
		t.Fatalf("unknown board: %v", err)
	}
	if _, err := Open(context.Background(), Profiles["sim"], nil); err == nil {
		t.Fatal("the sim profile opened as hardware")
	}
}

// statusByName is b's device list by device name.
func statusByName(b *Board) map[string]Status {
	got := map[string]Status{}
	for _, s := range b.Status() {
		got[s.Name] = s
	}
	return got
}
