package board

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"posd/drivers/barcode/barcodesim"
)

func TestScannerProfile(t *testing.T) {
	var p Profile
	if err := json.Unmarshal([]byte(`{"name":"x","scanner":{"port":"/dev/ttyACM0","baud":9600}}`), &p); err != nil {
		t.Fatal(err)
	}
	if p.Scanner == nil || p.Scanner.Port != "/dev/ttyACM0" {
		t.Fatalf("scanner: %+v", p.Scanner)
	}
	// A scanner on a UART needs the overlay that provides it.
	p.Scanner.Port = "/dev/ttyAMA3"
	p.Overlays = []Overlay{{Line: "enable_uart=1", Pins: []int{14, 15}, Device: "/dev/serial0"}}
	if err := p.CheckPins(); err == nil || !strings.Contains(err.Error(), "/dev/ttyAMA3") {
		t.Fatalf("CheckPins: %v", err)
	}
	if Profiles["rpi4"].Scanner != nil {
		t.Fatal("rpi4 has no scanner")
	}
}

func TestAddScanner(t *testing.T) {
	b := New("test", nil)
	b.AddScanner(Serial{Port: "/nonexistent/ttyACM9", Baud: 9600})
	if st := b.Status(); len(st) != 1 || st[0].Name != "scanner" || st[0].OK || b.Devices.Scanner != nil {
		t.Fatalf("missing port: %+v", st)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sim := barcodesim.New(&barcodesim.Opts{Prefix: "]Q1"})
	sctx, stop := context.WithCancel(ctx)
	path, err := sim.ServePTY(sctx)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer func() { stop(); sim.Wait() }()
	b = New("test", nil)
	b.AddScanner(Serial{Port: path, Baud: 9600})
	defer b.Halt()
	if st := b.Status(); len(st) != 1 || !st[0].OK || b.Devices.Scanner == nil {
		t.Fatalf("scanner: %+v", st)
	}
	if err := sim.Scan("abc"); err != nil {
		t.Fatal(err)
	}
	if sc, err := b.Devices.Scanner.Read(ctx); err != nil || sc.Text != "abc" || sc.Symbology != "]Q1" {
		t.Fatalf("read %v, %v", sc, err)
	}
}
