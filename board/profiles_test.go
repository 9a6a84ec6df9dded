package board

import (
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
