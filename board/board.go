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
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tarm/serial"

	"posd/board/kek"
	"posd/conn/clock"
	"posd/conn/printer"
	"posd/conn/video"
	"posd/drivers/alpar"
	"posd/drivers/barcode"
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
	// MSR: the magnetic stripe reader (a USB keyboard wedge or a UART
	// module; see MSR).
	MSR *MSR `json:"msr,omitempty"`
	// NFC: the PN532 and how it is wired.
	NFC *NFC `json:"nfc,omitempty"`
	// Contact: the TDA8029 contact reader's UART.
	Contact *Serial `json:"contact,omitempty"`
	// Keypad: the PIN pad matrix.
	Keypad *Keypad `json:"keypad,omitempty"`
	// Console: the debug UART the service console runs on (115200 8N1).
	Console *Serial `json:"console,omitempty"`
	// Scanner: the serial 2D barcode scanner that reads wallet payment
	// codes, when the board has one: its UART, or the virtual COM port of
	// a USB scanner in CDC mode, e.g. {"port": "/dev/ttyACM0", "baud":
	// 9600}. The scanner may end symbols with CR, LF or CR LF and may
	// send AIM identifiers (package barcode). Nil: no scanner (the camera
	// reads codes).
	Scanner *Serial `json:"scanner,omitempty"`
	// Printer: the ESC/POS receipt printer, when the board has one (nil:
	// none; the configuration's printer key names one).
	Printer *Printer `json:"printer,omitempty"`
	// Camera: the camera source for camera.New: "gst:" and a GStreamer
	// pipeline (a libcamera CSI camera), or a V4L2 device ("v4l2:" and a
	// /dev/videoN path or index, or the bare path or index: a USB camera).
	Camera string `json:"camera,omitempty"`
	// IRCamera: a near-infrared camera beside Camera, seeing the same
	// scene, when the board has one (face liveness checks that it shows a
	// face where the colour camera does: a phone screen or a print does
	// not show one in the IR picture). Same syntax as Camera; it must be
	// another device than Camera. Opened, checked and gated like Camera
	// and reported as "ir-camera".
	IRCamera string `json:"ir_camera,omitempty"`
	// IRLight: the GPIO (GPIOn) that switches the IR camera's 850 nm
	// illuminator (high: on; the LEDs through a logic-level MOSFET, not
	// from the pin). posd lights it only while the IR camera is open (a
	// face check, a self-test) and turns it off when the camera halts.
	// Empty: the illuminator is not switched by posd.
	IRLight string `json:"ir_light,omitempty"`
	// Overlays are the firmware configuration lines (Raspberry Pi
	// config.txt) the profile needs, with the header pins they take.
	Overlays []Overlay `json:"overlays,omitempty"`
	// Reserved are header pins no device of the profile may use.
	Reserved []Reserved `json:"reserved,omitempty"`
	// KEK: where the device key-encryption key comes from (package kek).
	KEK kek.Spec `json:"kek"`
	// Updater names the firmware updater that writes and boots the A/B
	// slots: UpdaterRAUC (RAUC over D-Bus, OpenUpdater) on real boards,
	// UpdaterDir on the simulated board (directory slots that
	// posd-supervisor runs posd from, named by POSD_SLOTS_DIR).
	Updater string `json:"updater,omitempty"`
	// Slots are the two A/B slot names as the updater knows them (RAUC's
	// slot names, e.g. "rootfs.0" and "rootfs.1"; the class is the part
	// before the dot). Empty for UpdaterDir ("a" and "b").
	Slots [2]string `json:"slots,omitzero"`
	// Compatible, when set, is the compatible string a firmware bundle's
	// manifest must name (RAUC's system compatible, system.conf) before
	// posd hands it to the updater; empty: not checked by posd (RAUC still
	// checks its own). A bundle's version is checked always.
	Compatible string `json:"compatible,omitempty"`
}

// Firmware updaters of Profile.Updater.
const (
	UpdaterDir  = "dir"
	UpdaterRAUC = "rauc"
)

// Overlay is one config.txt line and what it does to the header.
type Overlay struct {
	Line   string `json:"line"`
	Pins   []int  `json:"pins"`             // BCM GPIO numbers it takes
	Device string `json:"device,omitempty"` // the device node it gives
	Why    string `json:"why"`
}

// Reserved header pins and the reason.
type Reserved struct {
	Pins []int  `json:"pins"`
	Why  string `json:"why"`
}

// NFC is the wiring of a PN532.
type NFC struct {
	Interface string `json:"interface"` // "i2c", "spi" or "hsu"
	I2CBus    string `json:"i2c_bus,omitempty"`
	I2CAddr   uint16 `json:"i2c_addr,omitempty"`
	SPIPort   string `json:"spi_port,omitempty"`
	Serial    Serial `json:"serial,omitzero"`
	// GPIO names of the chip's RSTPDN and H_REQ lines and, for SPI with
	// NSS on a GPIO, its chip select. Empty: not wired.
	Reset string `json:"reset,omitempty"`
	Req   string `json:"req,omitempty"`
	CS    string `json:"cs,omitempty"`
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
		KEK:         kek.Spec{Source: kek.SourceFile},
		Updater:     UpdaterDir,
	},
	"rpi4":   rpi4Profile,
	"cm4-ir": cm4IR(rpi4Profile),
}

var rpi4Profile = Profile{
	Name:        "rpi4",
	Description: "Raspberry Pi 4: PN532 HAT on I2C-3 at 0x24, TDA8029 on ttyAMA1, USB keyboard-wedge stripe reader, 4x4 keypad on GPIO, CSI camera through libcamera",
	MSR:         &MSR{Kind: MSRKindEvdev, Device: DefaultMSRDevice},
	NFC:         &NFC{Interface: "i2c", I2CBus: "3", I2CAddr: 0x24, Reset: "GPIO20", Req: "GPIO16"},
	Contact:     &Serial{Port: "/dev/ttyAMA1", Baud: 38400},
	// The PL011 on GPIO14/15 (enable_uart=1 below); the kernel's
	// serial console must be off it (no "console=serial0,115200" in
	// cmdline.txt, serial-getty@ttyAMA0 disabled).
	Console: &Serial{Port: "/dev/serial0", Baud: 115200},
	Keypad: &Keypad{
		Rows: []string{"GPIO5", "GPIO6", "GPIO26", "GPIO19"},
		Cols: []string{"GPIO17", "GPIO27", "GPIO22", "GPIO21"},
	},
	Camera:   camera.SchemeGStreamer + camera.LibcameraPipeline(640, 480, 15),
	Overlays: rpi4Overlays,
	Reserved: rpi4Reserved,
	KEK:      kek.Spec{Source: kek.SourceTPM, Device: "/dev/tpmrm0", FallbackFile: true},
	// RAUC with its boot loader's A/B rootfs pair (system.conf:
	// [slot.rootfs.0] and [slot.rootfs.1], bootname A and B).
	Updater: UpdaterRAUC,
	Slots:   [2]string{"rootfs.0", "rootfs.1"},
}

// rpi4Overlays: the PN532 HAT (Waveshare PN532 NFC HAT, I2C mode: jumpers
// I0=H, I1=L put SDA/SCL on GPIO2/3; RSTPDN on BCM20 and H_REQ on BCM16,
// per the vendor's README and pn532/i2c.py in soonuse/pn532-nfc-hat:
// "PN532_I2C(debug=False, reset=20, req=16)"), the TDA8029 on a PL011 and
// the service console. Pins and devices from the Raspberry Pi overlays
// README (arch/arm/boot/dts/overlays/README).
var rpi4Overlays = []Overlay{
	{Line: "dtoverlay=i2c-gpio,bus=3,i2c_gpio_sda=2,i2c_gpio_scl=3", Pins: []int{2, 3}, Device: "/dev/i2c-3",
		Why: "PN532 HAT. Software I2C waits out the PN532's clock stretching, which the Pi's I2C controller mishandles; dtparam=i2c_arm must stay off (same pins)"},
	{Line: "dtoverlay=uart5", Pins: []int{12, 13}, Device: "/dev/ttyAMA1",
		Why: "TDA8029 contact reader: TXD5 GPIO12, RXD5 GPIO13 (no ctsrts: GPIO14/15 are the console); the first extra PL011 is ttyAMA1"},
	{Line: "enable_uart=1", Pins: []int{14, 15}, Device: "/dev/serial0",
		Why: "service console on the debug UART"},
}

// rpi4Reserved: pins kept free although nothing of the profile drives them.
var rpi4Reserved = []Reserved{reservedHATID, reservedPN532SPI}

var (
	reservedHATID    = Reserved{Pins: []int{0, 1}, Why: "HAT ID EEPROM (ID_SD, ID_SC)"}
	reservedPN532SPI = Reserved{Pins: []int{4, 8, 9, 10, 11}, Why: "PN532 HAT in SPI mode: SPI0 CE0/MISO/MOSI/SCLK, NSS driven from BCM4 in the vendor's example (cs=4)"}
)

// The libcamera ids of the cm4-ir profile's cameras: a Raspberry Pi
// camera's id is its sensor's device-tree path, as `rpicam-hello
// --list-cameras` prints it. On the CM4 the camera I2C is i2c0mux
// (bcm2711-rpi-cm4.dts includes bcm283x-rpi-i2c0mux_0_44.dtsi): channel 1
// on GPIO44/45 is CAM1's (i2c_csi_dsi), channel 0 on GPIO0/1 CAM0's
// (i2c_csi_dsi0: &i2c0); an IMX219 answers at 0x10.
const (
	cm4CAM1IMX219 = "/base/soc/i2c0mux/i2c@1/imx219@10"
	cm4CAM0IMX219 = "/base/soc/i2c0mux/i2c@0/imx219@10"
)

// cm4IR is a face-pay board with a colour and an IR camera: a Raspberry
// Pi Compute Module 4 on the Compute Module 4 IO Board. Its 40-pin header
// carries the BCM2711's GPIO0-27 as a Pi 4's does, so base's devices (the
// rpi4 profile's) keep their wiring and overlays; unlike a Pi 4 it has two
// CSI-2 camera connectors, and both cameras can run at once:
//
//   - colour camera: Camera Module 2 (IMX219) on CAM1;
//   - IR camera: Camera Module 2 NoIR (an IMX219 without the IR-cut
//     filter) on CAM0, behind an 850 nm long-pass filter and lit by
//     850 nm LEDs, so that it sees the lit face and not a phone screen's
//     visible light. Same sensor and lens as the colour camera and
//     mounted beside it: both frame the scene at the same scale, which
//     the liveness check's IR look assumes (it maps the colour picture's
//     face box onto the IR picture by scale alone). posd does not switch
//     the illuminator. Both cameras get libcamera's imx219 tuning (it is
//     chosen by sensor); the NoIR module's only tints the IR picture,
//     which the IR look reads in grey.
//
// What the profile relies on:
//   - libcamerasrc's camera-name property picks a camera by its libcamera
//     id (CameraManager::get in libcamera's gstlibcamerasrc.cpp), and the
//     libcamerasrc elements of one process share one CameraManager
//     (gst_libcamera_get_camera_manager, gstlibcamera-utils.cpp): both
//     pipelines run inside posd.
//   - The IO board wires CAM1's I2C to GPIO44/45; CAM0's needs the two J6
//     jumpers, which put it on GPIO0/1 (Raspberry Pi's Compute Module
//     camera guide).
//   - config.txt declares the sensors: camera_auto_detect=0 and one
//     dtoverlay per camera, ",cam0" for the second connector (Raspberry
//     Pi's camera configuration guide: auto-detection finds every camera
//     module only on the single-board computers, not on a Compute Module).
//   - The CM4 leaves its USB 2.0 host off unless config.txt turns it on
//     (dtoverlay=dwc2,dr_mode=host); the keyboard-wedge stripe reader is a
//     USB device.
func cm4IR(base Profile) Profile {
	p := base
	p.Name = "cm4-ir"
	p.Description = "Raspberry Pi Compute Module 4 on its IO board: the rpi4 devices on the same header pins, " +
		"colour CSI camera on CAM1 and IR camera (NoIR module, 850 nm filter and illuminator) on CAM0, both through libcamera"
	p.MSR, p.NFC, p.Contact, p.Console, p.Keypad = clone(base.MSR), clone(base.NFC), clone(base.Contact), clone(base.Console), clone(base.Keypad)
	p.Camera = camera.SchemeGStreamer + camera.LibcameraNamedPipeline(cm4CAM1IMX219, 640, 480, 15)
	p.IRCamera = camera.SchemeGStreamer + camera.LibcameraNamedPipeline(cm4CAM0IMX219, 640, 480, 15)
	// GPIO18 (header pin 12) is free on rpi4's map; it drives the gate of
	// the illuminator's MOSFET.
	p.IRLight = "GPIO18"
	p.Overlays = slices.Concat(base.Overlays, []Overlay{
		{Line: "dtoverlay=dwc2,dr_mode=host",
			Why: "USB 2.0 host for the keyboard-wedge stripe reader: the CM4 leaves it off by default"},
		{Line: "camera_auto_detect=0",
			Why: "the two sensors are declared below: the firmware's camera auto-detection is for the single-board computers' connectors, not a Compute Module's"},
		{Line: "dtoverlay=imx219",
			Why: "colour camera, Camera Module 2 on CAM1 (libcamera id " + cm4CAM1IMX219 + "); its I2C is on GPIO44/45, off the header"},
		{Line: "dtoverlay=imx219,cam0", Pins: []int{0, 1},
			Why: "IR camera, Camera Module 2 NoIR on CAM0 (libcamera id " + cm4CAM0IMX219 + "); its I2C is GPIO0/1 through the IO board's J6 jumpers, " +
				"shared with the HAT ID EEPROM (0x50; the sensor is at 0x10)"},
	})
	// GPIO0/1 are the CAM0 overlay's now.
	p.Reserved = []Reserved{reservedPN532SPI}
	return p
}

// clone copies what v points to (nil stays nil), so that a derived
// profile shares no device setting with its base.
func clone[T any](v *T) *T {
	if v == nil {
		return nil
	}
	c := *v
	return &c
}

// CheckPins reports the first header pin the profile uses twice (devices,
// overlays and reserved pins together) and any device node the profile
// opens that no overlay provides. Pin names must be "GPIOn" (BCM).
func (p Profile) CheckPins() error {
	used := map[int]string{}
	claim := func(pin int, who string) error {
		if pin < 0 || pin > 27 {
			return fmt.Errorf("board %s: %s: GPIO%d is not on the 40-pin header", p.Name, who, pin)
		}
		if prev, ok := used[pin]; ok {
			return fmt.Errorf("board %s: GPIO%d used by %s and by %s", p.Name, pin, prev, who)
		}
		used[pin] = who
		return nil
	}
	named := func(name, who string) error {
		if name == "" {
			return nil
		}
		n, err := strconv.Atoi(strings.TrimPrefix(name, "GPIO"))
		if err != nil || !strings.HasPrefix(name, "GPIO") {
			return fmt.Errorf("board %s: %s: pin name %q is not GPIOn", p.Name, who, name)
		}
		return claim(n, who)
	}
	devices := map[string]bool{}
	for _, o := range p.Overlays {
		for _, pin := range o.Pins {
			if err := claim(pin, "overlay "+o.Line); err != nil {
				return err
			}
		}
		if o.Device != "" {
			devices[o.Device] = true
		}
	}
	for _, r := range p.Reserved {
		for _, pin := range r.Pins {
			if err := claim(pin, "reserved ("+r.Why+")"); err != nil {
				return err
			}
		}
	}
	if k := p.Keypad; k != nil {
		for i, n := range k.Rows {
			if err := named(n, fmt.Sprintf("keypad row %d", i)); err != nil {
				return err
			}
		}
		for i, n := range k.Cols {
			if err := named(n, fmt.Sprintf("keypad column %d", i)); err != nil {
				return err
			}
		}
	}
	if err := named(p.IRLight, "IR illuminator"); err != nil {
		return err
	}
	var need []string
	if n := p.NFC; n != nil {
		for _, x := range []struct{ name, who string }{{n.Reset, "nfc RSTPDN"}, {n.Req, "nfc H_REQ"}, {n.CS, "nfc NSS"}} {
			if err := named(x.name, x.who); err != nil {
				return err
			}
		}
		switch n.Interface {
		case "i2c":
			need = append(need, "/dev/i2c-"+n.I2CBus)
		case "spi":
			need = append(need, "/dev/spidev"+strings.TrimPrefix(strings.ToLower(n.SPIPort), "spi"))
		case "hsu":
			need = append(need, n.Serial.Port)
		}
	}
	if p.Contact != nil {
		need = append(need, p.Contact.Port)
	}
	if p.Scanner != nil {
		need = append(need, p.Scanner.Port)
	}
	for _, dev := range need {
		if strings.HasPrefix(dev, "/dev/ttyUSB") || strings.HasPrefix(dev, "/dev/ttyACM") {
			continue // USB, no overlay
		}
		if len(p.Overlays) > 0 && !devices[dev] {
			return fmt.Errorf("board %s: %s is not provided by any overlay of the profile", p.Name, dev)
		}
	}
	return nil
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
	Name   string `json:"name"`   // "msr", "nfc", "contact", "keypad", "camera", "ir-camera"
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
	// IRCamera is a near-infrared camera beside Camera, seeing the same
	// scene (nil when the board has none): face liveness checks that it
	// shows a face where the colour camera does.
	IRCamera video.Source
	// Scanner reads wallet payment codes (nil when the board has none).
	Scanner *barcode.Dev
	// Printer prints receipts (nil when the board has none, or it did
	// not answer at start).
	Printer printer.Printer
	// Console is the field engineer's service console line.
	Console *Console
}

// Console is the line the service console runs on: the board's debug UART
// (115200 8N1), or on the simulated board the master side of a
// pseudo-terminal whose slave the engineer's terminal program opens.
type Console struct {
	RW io.ReadWriter
	// Where the engineer attaches: the UART or the pseudo-terminal's
	// slave device.
	Where string
	Baud  int
}

// Board is an opened board.
type Board struct {
	Name    string
	Devices Devices
	// Clock paces background retries of devices that failed at start-up;
	// nil is the wall clock. Set it before adding devices.
	Clock clock.Clock

	mu       sync.Mutex
	status   []Status
	selftest map[string]func(ctx context.Context) (string, error)
	halts    []func() error
	log      *slog.Logger
	// camGate and irGate open the colour and the IR camera on demand
	// (nil: no such camera).
	camGate *gatedCamera
	irGate  *gatedCamera
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

// setStatus changes the recorded status of the named device.
// OnHalt adds a function Halt runs (in reverse order of addition, with
// the devices' halts) for what is no device: a simulator's files.
func (b *Board) OnHalt(halt func() error) {
	b.mu.Lock()
	b.halts = append(b.halts, halt)
	b.mu.Unlock()
}

func (b *Board) setStatus(name string, f func(*Status)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range b.status {
		if b.status[i].Name == name {
			f(&b.status[i])
			return
		}
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

// Open opens a hardware board from its profile.
func Open(ctx context.Context, p Profile, log *slog.Logger) (*Board, error) {
	if p.Name == "sim" {
		return nil, fmt.Errorf("board: the sim board is opened by board/sim")
	}
	b := New(p.Name, log)
	if err := p.CheckPins(); err != nil {
		b.log.Warn("board profile pin conflict", "err", err)
	}
	if p.MSR != nil {
		b.AddMSR(*p.MSR, log)
	}
	openPeriph(ctx, b, p)
	if p.Scanner != nil {
		b.AddScanner(*p.Scanner)
	}
	if p.Console != nil {
		b.AddConsole(*p.Console)
	}
	if p.Printer != nil {
		b.AddPrinter(*p.Printer)
	}
	o := camera.DefaultOpts
	o.Logger = log
	if p.Camera != "" {
		b.AddCamera(p.Camera, &o)
	}
	switch {
	case p.IRCamera == "":
	case p.IRCamera == p.Camera:
		// The colour picture would pass for the IR one: a face on a
		// phone screen would then show in "IR".
		b.Add(Status{Name: "ir-camera", Driver: "camera", Where: p.IRCamera,
			Error: "board: the IR camera's source is the colour camera's"}, nil, nil)
	default:
		b.AddIRCamera(p.IRCamera, &o)
	}
	if p.IRLight != "" {
		openIRLight(b, p.IRLight)
	}
	return b, nil
}
