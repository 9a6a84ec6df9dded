package board

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"posd/drivers/kbdwedge"
	"posd/drivers/msr"
)

// Kinds of stripe reader.
const (
	// MSRKindEvdev: a USB reader that types the tracks as a HID keyboard
	// (keyboard wedge), read through its Linux input device. Most USB
	// stripe readers are of this kind.
	MSRKindEvdev = "evdev"
	// MSRKindSerial: a reader module on a UART (or a USB serial adapter).
	MSRKindSerial = "serial"
)

// DefaultMSRDevice is the input device of a keyboard-wedge reader when the
// profile names none: the one USB keyboard udev lists by id. A pattern
// must match exactly one device, so a board with a second USB keyboard
// names the reader's device.
const DefaultMSRDevice = "/dev/input/by-id/*-event-kbd"

// MSR is how a board's magnetic stripe reader is attached and what it
// sends. JSON: {"kind": "evdev", "device": "...", "format": "auto"} or
// {"kind": "serial", "port": "/dev/ttyUSB0", "baud": 9600, "format": "line"}.
type MSR struct {
	// Kind: MSRKindEvdev (default) or MSRKindSerial.
	Kind string `json:"kind"`

	// Device: the evdev reader's input device, a path or a glob pattern
	// matching exactly one device (default DefaultMSRDevice). The device
	// is grabbed (EVIOCGRAB): its keystrokes reach no console.
	Device string `json:"device,omitempty"`
	// Keymap: the keyboard layout the evdev reader types in ("us",
	// default; see kbdwedge.Keymaps).
	Keymap string `json:"keymap,omitempty"`
	// EventLayout: "auto" (default), "64" or "32": the size of the
	// kernel's input events (auto follows this program's word size, as
	// the kernel does).
	EventLayout string `json:"event_layout,omitempty"`

	// Port and Baud of the serial reader.
	Port string `json:"port,omitempty"`
	Baud int    `json:"baud,omitempty"`

	// Format: how the reader delimits a swipe: "auto" (default), "line",
	// "idtech" or "magtek" (see msr.Format).
	Format string `json:"format,omitempty"`
	// LRC: the reader sends the LRC character after each track.
	LRC bool `json:"lrc,omitempty"`
}

// Validate checks m without touching hardware.
func (m MSR) Validate() error {
	switch m.kind() {
	case MSRKindEvdev:
		if _, err := kbdwedge.LookupKeymap(m.Keymap); err != nil {
			return fmt.Errorf("board: msr keymap: %w", err)
		}
		if _, err := kbdwedge.ParseLayout(m.EventLayout); err != nil {
			return fmt.Errorf("board: msr event_layout: %w", err)
		}
	case MSRKindSerial:
		if m.Port == "" {
			return errors.New("board: a serial stripe reader needs a port")
		}
		if m.Baud < 0 {
			return fmt.Errorf("board: msr baud %d", m.Baud)
		}
	default:
		return fmt.Errorf("board: unknown stripe reader kind %q (%s or %s)", m.Kind, MSRKindEvdev, MSRKindSerial)
	}
	if _, err := msr.ParseFormat(m.Format); err != nil {
		return fmt.Errorf("board: msr format: %w", err)
	}
	return nil
}

func (m MSR) kind() string {
	if m.Kind == "" {
		return MSRKindEvdev
	}
	return m.Kind
}

// driverOpts are the msr options m asks for.
func (m MSR) driverOpts(log *slog.Logger) (msr.Opts, error) {
	f, err := msr.ParseFormat(m.Format)
	if err != nil {
		return msr.Opts{}, err
	}
	o := msr.DefaultOpts
	o.Format, o.LRC, o.Logger = f, m.LRC, log
	return o, nil
}

// AddMSR opens the stripe reader m describes and records it.
func (b *Board) AddMSR(m MSR, log *slog.Logger) {
	if err := m.Validate(); err != nil {
		b.Add(Status{Name: "msr", Driver: "msr", Where: m.Port + m.Device, Error: err.Error()}, nil, nil)
		return
	}
	o, _ := m.driverOpts(log)
	if m.kind() == MSRKindSerial {
		baud := m.Baud
		if baud == 0 {
			baud = 9600
		}
		b.AddMSRSerial(Serial{Port: m.Port, Baud: baud}, &o)
		return
	}
	dev := m.Device
	if dev == "" {
		dev = DefaultMSRDevice
	}
	l, _ := kbdwedge.ParseLayout(m.EventLayout)
	km, _ := kbdwedge.LookupKeymap(m.Keymap)
	b.AddMSREvdev(dev, &kbdwedge.Opts{Layout: l, Keymap: km, Logger: log}, &o)
}

// AddMSRSerial opens a stripe reader on its UART and records it.
func (b *Board) AddMSRSerial(s Serial, opts *msr.Opts) {
	st := Status{Name: "msr", Driver: "msr", Where: s.Port}
	port, err := OpenSerial(s)
	if err != nil {
		st.Error = err.Error()
		b.Add(st, nil, nil)
		return
	}
	detail := fmt.Sprintf("%d baud, %s format", s.Baud, formatOf(opts))
	b.addMSR(st, port, detail, opts, port.Close)
}

// AddMSREvdev opens a keyboard-wedge stripe reader's input device (a path
// or a pattern matching one device), grabs it so its keystrokes reach no
// console or other reader, and records it. A device that cannot be
// grabbed is not used.
func (b *Board) AddMSREvdev(device string, wo *kbdwedge.Opts, opts *msr.Opts) {
	st := Status{Name: "msr", Driver: "msr", Where: device}
	path, err := resolveDevice(device)
	if err != nil {
		st.Error = err.Error()
		b.Add(st, nil, nil)
		return
	}
	st.Where = path
	f, err := openInput(path, grabInput)
	if err != nil {
		st.Error = err.Error()
		b.Add(st, nil, nil)
		return
	}
	b.addMSRWedge(st, f, wo, opts)
}

// addMSRWedge starts the keyboard-wedge decoder and the stripe reader
// driver on an opened (and grabbed) input device.
func (b *Board) addMSRWedge(st Status, f *os.File, wo *kbdwedge.Opts, opts *msr.Opts) {
	wedge, err := kbdwedge.New(deadlineReader{f: f, timeout: 100 * time.Millisecond}, wo)
	if err != nil {
		f.Close()
		st.Error = err.Error()
		b.Add(st, nil, nil)
		return
	}
	detail := fmt.Sprintf("USB keyboard wedge (grabbed), %s format", formatOf(opts))
	b.addMSR(st, wedge, detail, opts, func() error { return errors.Join(wedge.Halt(), f.Close()) })
}

func (b *Board) addMSR(st Status, port io.Reader, detail string, opts *msr.Opts, closePort func() error) {
	d, err := msr.New(port, opts)
	if err != nil {
		closePort()
		st.Error = err.Error()
		b.Add(st, nil, nil)
		return
	}
	b.Devices.MSR = d
	st.OK, st.Detail = true, detail
	b.Add(st, func(context.Context) (string, error) {
		return detail + ", listening", nil
	}, func() error {
		d.Halt()
		return closePort()
	})
}

func formatOf(o *msr.Opts) msr.Format {
	if o == nil {
		return msr.DefaultOpts.Format
	}
	return o.Format
}

// resolveDevice returns the one device a path or glob pattern names.
func resolveDevice(pattern string) (string, error) {
	if !strings.ContainsAny(pattern, "*?[") {
		return pattern, nil
	}
	m, err := filepath.Glob(pattern)
	if err != nil {
		return "", fmt.Errorf("board: msr device pattern %q: %w", pattern, err)
	}
	sort.Strings(m)
	switch len(m) {
	case 0:
		return "", fmt.Errorf("board: no input device matches %q (is the USB stripe reader plugged in?)", pattern)
	case 1:
		return m[0], nil
	}
	return "", fmt.Errorf("board: %d input devices match %q (%s): name the stripe reader's device in the profile", len(m), pattern, strings.Join(m, ", "))
}

// openInput opens an input device for reading and grabs it. Its reads
// must support deadlines (the runtime poller), or Halt could wait forever.
func openInput(path string, grab func(*os.File) error) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	if err := grab(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("board: %s: grab (EVIOCGRAB): %w", path, err)
	}
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		f.Close()
		return nil, fmt.Errorf("board: %s: reads cannot time out: %w", path, err)
	}
	return f, nil
}

// deadlineReader gives a file a read timeout: a read that times out
// returns io.EOF, as the serial ports do.
type deadlineReader struct {
	f       *os.File
	timeout time.Duration
}

func (r deadlineReader) Read(p []byte) (int, error) {
	if err := r.f.SetReadDeadline(time.Now().Add(r.timeout)); err != nil {
		return 0, err
	}
	n, err := r.f.Read(p)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return n, io.EOF
	}
	return n, err
}
