package board

import (
	"strings"
	"testing"
)

// Every profile keeps each header pin to one user: devices, the overlays
// it names and the pins it reserves; and every device node it opens comes
// from one of its overlays.
func TestProfilePins(t *testing.T) {
	for name, p := range Profiles {
		if err := p.CheckPins(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// The check must catch the conflicts of issue 9: keypad lines on the PN532
// HAT's RSTPDN (BCM20) and H_REQ (BCM16), keypad lines on the contact
// reader's UART overlay, and a UART the overlays do not provide.
func TestProfilePinConflicts(t *testing.T) {
	base := Profiles["rpi4"]
	cases := []struct {
		name string
		edit func(p *Profile)
		want string
	}{
		{"the previous keypad wiring", func(p *Profile) {
			p.Keypad = &Keypad{Rows: []string{"GPIO5", "GPIO6", "GPIO13", "GPIO19"}, Cols: []string{"GPIO12", "GPIO16", "GPIO20", "GPIO21"}}
		}, "GPIO"},
		{"keypad on RSTPDN", func(p *Profile) {
			p.Keypad = &Keypad{Rows: []string{"GPIO5"}, Cols: []string{"GPIO20"}}
		}, "nfc RSTPDN"},
		{"keypad on H_REQ", func(p *Profile) {
			p.Keypad = &Keypad{Rows: []string{"GPIO16"}, Cols: []string{"GPIO17"}}
		}, "nfc H_REQ"},
		{"keypad on the uart5 overlay", func(p *Profile) {
			p.Keypad = &Keypad{Rows: []string{"GPIO13"}, Cols: []string{"GPIO17"}}
		}, "dtoverlay=uart5"},
		{"keypad on the I2C pins", func(p *Profile) {
			p.Keypad = &Keypad{Rows: []string{"GPIO2"}, Cols: []string{"GPIO17"}}
		}, "i2c-gpio"},
		{"keypad on the HAT's SPI pins", func(p *Profile) {
			p.Keypad = &Keypad{Rows: []string{"GPIO4"}, Cols: []string{"GPIO17"}}
		}, "reserved"},
		{"a UART no overlay enables", func(p *Profile) {
			p.Contact = &Serial{Port: "/dev/ttyAMA2", Baud: 38400}
		}, "/dev/ttyAMA2"},
		{"an I2C bus no overlay enables", func(p *Profile) {
			n := *p.NFC
			n.I2CBus = "1"
			p.NFC = &n
		}, "/dev/i2c-1"},
		{"the IR illuminator on a keypad column", func(p *Profile) {
			p.IRLight = "GPIO21"
		}, "IR illuminator"},
		{"a pin not named GPIOn", func(p *Profile) {
			p.Keypad = &Keypad{Rows: []string{"P1_29"}}
		}, "GPIOn"},
	}
	for _, c := range cases {
		p := base
		c.edit(&p)
		err := p.CheckPins()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %q", c.name, err, c.want)
		}
	}
}
