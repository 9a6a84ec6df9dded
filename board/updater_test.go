package board

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/godbus/dbus/v5"

	"posd/board/rauc/rauctest"
)

// fakeLogin1 is systemd-logind's manager on the fake RAUC's connection.
type fakeLogin1 struct{ reboots atomic.Int32 }

func (f *fakeLogin1) Reboot(interactive bool) *dbus.Error {
	f.reboots.Add(1)
	return nil
}

func TestUpdaterOverRAUC(t *testing.T) {
	ctx := context.Background()
	p, err := Lookup("rpi4")
	if err != nil {
		t.Fatal(err)
	}
	if p.Updater != UpdaterRAUC || p.Slots != [2]string{"rootfs.0", "rootfs.1"} {
		t.Fatalf("rpi4 updater %q %q", p.Updater, p.Slots)
	}
	client, server := rauctest.Pipe(t)
	rauctest.NewService(t, server)
	login := &fakeLogin1{}
	if err := server.Export(login, login1Path, "org.freedesktop.login1.Manager"); err != nil {
		t.Fatal(err)
	}
	u, err := NewUpdater(client, p, UpdaterOptions{Spool: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if booted, primary, err := u.BootState(ctx); err != nil || booted != "rootfs.0" || primary != "rootfs.0" {
		t.Fatalf("boot state %q %q %v", booted, primary, err)
	}
	if err := u.Reboot(ctx); err != nil || login.reboots.Load() != 1 {
		t.Fatalf("reboot: %v, %d calls", err, login.reboots.Load())
	}
}

func TestUpdaterProfiles(t *testing.T) {
	sim, _ := Lookup("sim")
	if u, err := OpenUpdater(sim, UpdaterOptions{}); u != nil || err != nil {
		t.Fatalf("sim board: %v %v", u, err)
	}
	for _, bad := range []Profile{
		{Name: "x", Updater: "swupdate"},
		{Name: "x", Updater: UpdaterRAUC},
		{Name: "x", Updater: UpdaterRAUC, Slots: [2]string{"rootfs.0", "appfs.1"}},
		{Name: "x", Updater: UpdaterRAUC, Slots: [2]string{"rootfs.0", "rootfs.0"}},
	} {
		if _, err := OpenUpdater(bad, UpdaterOptions{}); !errors.Is(err, ErrUpdater) {
			t.Errorf("%q %q: %v", bad.Updater, bad.Slots, err)
		}
	}
}
