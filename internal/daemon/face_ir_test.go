package daemon

import (
	"testing"

	"posd/board"
)

// An IR camera the board's profile names but that did not start is found
// in the board's status with its error; one that works, or none at all,
// is no failure.
func TestIRCameraFailed(t *testing.T) {
	d := &Daemon{}
	if got := d.irCameraFailed(); got != "" {
		t.Fatalf("no board: %q", got)
	}
	d.Board = board.New("test", nil)
	defer d.Board.Halt()
	if got := d.irCameraFailed(); got != "" {
		t.Fatalf("no IR camera: %q", got)
	}
	d.Board.AddIRCamera("/nonexistent/video2", nil)
	st := d.Board.Status()
	if len(st) != 1 || st[0].Name != "ir-camera" || st[0].OK || st[0].Error == "" {
		t.Fatalf("status %+v", st)
	}
	if got := d.irCameraFailed(); got != st[0].Error {
		t.Fatalf("irCameraFailed = %q, want the status's error %q", got, st[0].Error)
	}
}
