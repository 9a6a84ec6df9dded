package board

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"posd/drivers/camera"
)

// Every profile's cameras are sources camera.New accepts, checked without
// opening anything (so in the nocv build too), and an IR camera is
// another device than the colour camera it stands beside.
func TestProfileCameras(t *testing.T) {
	for name, p := range Profiles {
		for _, c := range []struct{ field, src string }{{"camera", p.Camera}, {"ir_camera", p.IRCamera}} {
			if c.src == "" {
				continue
			}
			if err := camera.CheckSource(c.src); err != nil {
				t.Errorf("%s: %s: %v", name, c.field, err)
			}
		}
		if p.IRCamera != "" && (p.Camera == "" || p.IRCamera == p.Camera) {
			t.Errorf("%s: IR camera %q beside colour camera %q", name, p.IRCamera, p.Camera)
		}
	}
}

// cm4-ir is rpi4's devices on a CM4 IO board with two named CSI cameras:
// the colour one on CAM1 and the IR one on CAM0, matching the overlays
// that declare the sensors; GPIO0/1 go from "reserved" to the CAM0
// overlay.
func TestCM4IRProfile(t *testing.T) {
	p, base := Profiles["cm4-ir"], Profiles["rpi4"]
	if p.Name != "cm4-ir" {
		t.Fatalf("name %q", p.Name)
	}
	if !reflect.DeepEqual(p.MSR, base.MSR) || !reflect.DeepEqual(p.NFC, base.NFC) || !reflect.DeepEqual(p.Contact, base.Contact) ||
		!reflect.DeepEqual(p.Console, base.Console) || !reflect.DeepEqual(p.Keypad, base.Keypad) ||
		p.KEK != base.KEK || p.Updater != base.Updater || p.Slots != base.Slots {
		t.Errorf("cm4-ir's devices differ from rpi4's:\n%+v\n%+v", p, base)
	}
	if p.NFC == base.NFC || p.MSR == base.MSR {
		t.Error("cm4-ir shares device settings with rpi4")
	}
	for _, c := range []struct{ src, id string }{{p.Camera, "i2c@1/imx219@10"}, {p.IRCamera, "i2c@0/imx219@10"}} {
		want := camera.SchemeGStreamer + `libcamerasrc camera-name="/base/soc/i2c0mux/` + c.id + `" ! `
		if !strings.HasPrefix(c.src, want) || !strings.HasSuffix(c.src, "appsink drop=true") {
			t.Errorf("camera %q, want a libcamerasrc pipeline starting %q", c.src, want)
		}
	}
	lines := map[string]Overlay{}
	for _, o := range p.Overlays {
		lines[o.Line] = o
	}
	for _, o := range base.Overlays {
		if !reflect.DeepEqual(lines[o.Line], o) {
			t.Errorf("rpi4 overlay %q missing or changed", o.Line)
		}
	}
	for _, l := range []string{"camera_auto_detect=0", "dtoverlay=imx219", "dtoverlay=dwc2,dr_mode=host"} {
		if _, ok := lines[l]; !ok {
			t.Errorf("no %q", l)
		}
	}
	if o := lines["dtoverlay=imx219,cam0"]; !slices.Equal(o.Pins, []int{0, 1}) {
		t.Errorf("CAM0 overlay %+v, want it on GPIO0/1", o)
	}
	if !strings.Contains(lines["dtoverlay=imx219"].Why, "i2c@1/imx219@10") || !strings.Contains(lines["dtoverlay=imx219,cam0"].Why, "i2c@0/imx219@10") {
		t.Error("the overlays do not name the cameras' libcamera ids")
	}
	for _, r := range p.Reserved {
		if slices.Contains(r.Pins, 0) || slices.Contains(r.Pins, 1) {
			t.Errorf("GPIO0/1 still reserved: %+v", r)
		}
	}
}
