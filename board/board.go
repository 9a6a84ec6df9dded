// Package board knows the boards posd runs on, as data (Profile), and is the
// only place that opens hardware: periph host drivers, I²C/SPI buses, GPIO
// pins, serial ports and camera devices. It hands drivers their buses and
// the daemon the drivers. Package board/sim builds the simulated board from
// the chip simulators instead.
//
// A device that is missing or fails to start is reported in the board's
// status and left out; the daemon starts with what it has.
package board

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tarm/serial"

	"posd/drivers/alpar"
	"posd/drivers/camera"
	"posd/drivers/keypad"
	"posd/drivers/msr"
	"posd/drivers/pn532"
)

// Serial names a UART and its speed.
type Serial struct {
	Port string `json:"port"`
	Baud int    `json:"baud"`
}

// Profile describes the devices of a board model.
type Profile struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// MSR: the magnetic stripe reader module's UART.
	MSR *Serial `json:"msr,omitempty"`
	// NFC: the PN532 and how it is wired.
	NFC *NFC `json:"nfc,omitempty"`
	// Contact: the TDA8029 contact reader's UART.
	Contact *Serial `json:"contact,omitempty"`
	// Keypad: the PIN pad matrix.
	Keypad *Keypad `json:"keypad,omitempty"`
	// Camera: the camera source for camera.New: "gst:" and a GStreamer
	// pipeline (a libcamera CSI camera), or a V4L2 device ("v4l2:" and a
	// /dev/videoN path or index, or the bare path or index: a USB camera).
	Camera string `json:"camera,omitempty"`
}

// NFC is the wiring of a PN532.
type NFC struct {
	Interface string `json:"interface"` // "i2c", "spi" or "hsu"
	I2CBus    string `json:"i2c_bus,omitempty"`
	I2CAddr   uint16 `json:"i2c_addr,omitempty"`
	SPIPort   string `json:"spi_port,omitempty"`
	Serial    Serial `json:"serial,omitzero"`
}

// Keypad is the wiring of a matrix keypad: GPIO pin names, rows driven,
// columns read with pull-ups.
type Keypad struct {
	Rows []string `json:"rows"`
	Cols []string `json:"cols"`
}

// Profiles are the boards this build knows. "sim" is opened by board/sim.
var Profiles = map[string]Profile{
	"sim": {
		Name:        "sim",
		Description: "simulated board: every chip is a byte-level simulator (default)",
	},
	"rpi4": {
		Name:        "rpi4",
		Description: "Raspberry Pi 4: PN532 on I2C-1 at 0x24, TDA8029 on ttyAMA1, MSR on ttyUSB0, 4x4 keypad on GPIO, CSI camera through libcamera",
		MSR:         &Serial{Port: "/dev/ttyUSB0", Baud: 9600},
		NFC:         &NFC{Interface: "i2c", I2CBus: "1", I2CAddr: 0x24},
		Contact:     &Serial{Port: "/dev/ttyAMA1", Baud: 38400},
		Keypad: &Keypad{
			Rows: []string{"GPIO5", "GPIO6", "GPIO13", "GPIO19"},
			Cols: []string{"GPIO12", "GPIO16", "GPIO20", "GPIO21"},
		},
		Camera: camera.SchemeGStreamer + camera.LibcameraPipeline(640, 480, 15),
	},
}

// Names lists the known profiles.
func Names() []string {
	var n []string
	for k := range Profiles {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Lookup returns the named profile.
func Lookup(name string) (Profile, error) {
	p, ok := Profiles[name]
	if !ok {
		return Profile{}, fmt.Errorf("board: unknown board %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return p, nil
}

// Status is one device as the field engineer sees it.
type Status struct {
	Name   string `json:"name"`   // "msr", "nfc", "contact", "keypad", "camera"
	Driver string `json:"driver"` // "msr", "pn532", "alpar", "keypad", "camera"
	Where  string `json:"where"`  // port, bus address, device
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"` // firmware version, resolution...
	Error  string `json:"error,omitempty"`
}

// Devices are the drivers a board opened. A nil field is a device that is
// absent or failed (see Status).
type Devices struct {
	MSR     *msr.Dev
	NFC     *pn532.Dev
	Contact *alpar.Dev
	Keypad  *keypad.Dev
	Camera  camera.Source
}

// Board is an opened board.
type Board struct {
	Name    string
	Devices Devices

	mu       sync.Mutex
	status   []Status
	selftest map[string]func(ctx context.Context) (string, error)
	halts    []func() error
	log      *slog.Logger
}

// New returns an empty board for profile name; board/sim and Open fill it.
func New(name string, log *slog.Logger) *Board {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Board{Name: name, log: log, selftest: map[string]func(context.Context) (string, error){}}
}

// Add records a device's status, how to test it and how to stop it (halt
// functions run in reverse order of addition).
func (b *Board) Add(s Status, test func(context.Context) (string, error), halt func() error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !s.OK {
		b.log.Warn("device unavailable", "device", s.Name, "where", s.Where, "err", s.Error)
	} else {
		b.log.Info("device ready", "device", s.Name, "driver", s.Driver, "where", s.Where)
	}
	b.status = append(b.status, s)
	if test != nil {
		b.selftest[s.Name] = test
	}
	if halt != nil {
		b.halts = append(b.halts, halt)
	}
}

// Status lists every device of the profile with its state.
func (b *Board) Status() []Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Status(nil), b.status...)
}

// SelfTest exercises every present device and returns the refreshed status.
func (b *Board) SelfTest(ctx context.Context) []Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Status, len(b.status))
	for i, s := range b.status {
		if fn := b.selftest[s.Name]; fn != nil {
			tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			detail, err := fn(tctx)
			cancel()
			s.OK, s.Detail, s.Error = err == nil, detail, ""
			if err != nil {
				s.Error = err.Error()
			}
		}
		out[i] = s
	}
	b.status = out
	return append([]Status(nil), out...)
}

// Halt stops every device and closes what the board opened.
func (b *Board) Halt() error {
	b.mu.Lock()
	halts := b.halts
	b.halts = nil
	b.mu.Unlock()
	var first error
	for i := len(halts) - 1; i >= 0; i-- {
		if err := halts[i](); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// OpenSerial opens a UART in raw mode with a short read timeout, so reader
// goroutines notice Halt. A read that times out returns io.EOF.
func OpenSerial(s Serial) (io.ReadWriteCloser, error) {
	return OpenSerialTimeout(s, 100*time.Millisecond)
}

// OpenSerialTimeout is OpenSerial with another read timeout (rounded up to
// the tty's tenths of a second).
func OpenSerialTimeout(s Serial, readTimeout time.Duration) (io.ReadWriteCloser, error) {
	return serial.OpenPort(&serial.Config{Name: s.Port, Baud: s.Baud, ReadTimeout: readTimeout})
}

// AddMSR opens the stripe reader on its UART and records it.
func (b *Board) AddMSR(s Serial, opts *msr.Opts) {
	st := Status{Name: "msr", Driver: "msr", Where: s.Port}
	port, err := OpenSerial(s)
	if err != nil {
		st.Error = err.Error()
		b.Add(st, nil, nil)
		return
	}
	d, err := msr.New(port, opts)
	if err != nil {
		port.Close()
		st.Error = err.Error()
		b.Add(st, nil, nil)
		return
	}
	b.Devices.MSR = d
	st.OK, st.Detail = true, fmt.Sprintf("%d baud", s.Baud)
	b.Add(st, func(context.Context) (string, error) {
		return fmt.Sprintf("%d baud, listening", s.Baud), nil
	}, func() error {
		d.Halt()
		return port.Close()
	})
}

// Open opens a hardware board from its profile.
func Open(ctx context.Context, p Profile, log *slog.Logger) (*Board, error) {
	if p.Name == "sim" {
		return nil, fmt.Errorf("board: the sim board is opened by board/sim")
	}
	b := New(p.Name, log)
	if p.MSR != nil {
		b.AddMSR(*p.MSR, &msr.Opts{Logger: log})
	}
	openPeriph(ctx, b, p)
	if p.Camera != "" {
		o := camera.DefaultOpts
		o.Logger = log
		b.AddCamera(p.Camera, &o)
	}
	return b, nil
}
