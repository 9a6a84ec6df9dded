//go:build !nocv

package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"posd/board"
	"posd/crypto/faceseal"
	"posd/drivers/camera"
	"posd/internal/config"
	"posd/terminal/pin"
)

// noKeys is a keypad nobody presses.
type noKeys struct{}

func (noKeys) Next(ctx context.Context) (pin.Event, error) {
	<-ctx.Done()
	return pin.Event{}, ctx.Err()
}

func (noKeys) Flush() int { return 0 }

// faceOnBoard prepares face pay on b as a terminal configured for a
// platform does (openFace does not call the platform).
func faceOnBoard(t *testing.T, b *board.Board) *Daemon {
	t.Helper()
	key, err := faceseal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	pem, err := faceseal.MarshalPublicKey(key.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(fmt.Sprintf(`{"data_dir":%q,"host":{"addr":"127.0.0.1:1"},"face":{"url":"http://127.0.0.1:1","platform_key":%q}}`,
		filepath.Join(t.TempDir(), "data"), pem)))
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{Config: cfg, Settings: cfg.Settings(), Log: slog.New(slog.DiscardHandler), Board: b}
	if _, err := d.openFace(noKeys{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.closeFace)
	return d
}

// testCamera is a libcamera pipeline with videotestsrc in its camera's
// place.
func testCamera(w, h int) string {
	return camera.SchemeGStreamer + strings.Replace(camera.LibcameraPipeline(w, h, 30), "libcamerasrc", "videotestsrc", 1)
}

// A board whose profile names an IR camera that did not start runs no
// face pay, and says why: the liveness check would otherwise go on
// without its IR look, on the colour camera alone. Card payments are not
// affected (openFace returns no error).
func TestFacePayOffWithoutItsIRCamera(t *testing.T) {
	b := board.New("test", nil)
	defer b.Halt()
	b.AddCamera(testCamera(64, 48), nil)
	b.AddIRCamera("/nonexistent/video2", nil)
	d := faceOnBoard(t, b)
	st := d.faceStatus()
	if d.FaceEnabled() || !strings.HasPrefix(st.Why, "IR camera unavailable: ") || !strings.Contains(st.Why, "/nonexistent/video2") {
		t.Fatalf("face pay %+v, want off for its IR camera", st)
	}
	if st.IR || st.IRCamera != nil {
		t.Fatalf("status shows an IR camera: %+v", st)
	}
}

// With its IR camera working, face pay runs with it, and the IR camera,
// like the colour one, is not open before a customer's consent.
func TestFacePayWithItsIRCamera(t *testing.T) {
	b := board.New("test", nil)
	defer b.Halt()
	b.AddCamera(testCamera(64, 48), nil)
	b.AddIRCamera(testCamera(32, 24), nil)
	d := faceOnBoard(t, b)
	st := d.faceStatus()
	if !d.FaceEnabled() || !st.IR {
		t.Fatalf("face pay %+v, want on with the IR camera", st)
	}
	if st.IRCamera == nil || st.IRCamera.On || st.IRCamera.Frames != 0 {
		t.Fatalf("IR camera %+v, want off with no frame delivered", st.IRCamera)
	}
}
