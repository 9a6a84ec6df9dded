package board

import (
	"context"
	"errors"
	"strings"
	"testing"

	"posd/board/rauc/rauctest"
)

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
	svc := rauctest.NewService(t, server)
	u, err := NewUpdater(client, p, UpdaterOptions{Spool: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if booted, primary, err := u.BootState(ctx); err != nil || booted != "rootfs.0" || primary != "rootfs.0" {
		t.Fatalf("boot state %q %q %v", booted, primary, err)
	}
	if err := u.Install(ctx, "rootfs.1", strings.NewReader("2026.02 bundle")); err != nil {
		t.Fatal(err)
	}
	if err := u.MarkActive(ctx, "rootfs.1"); err != nil {
		t.Fatal(err)
	}
	if err := u.Reboot(ctx); err != nil || svc.Reboots() != 1 || svc.Booted() != "rootfs.1" {
		t.Fatalf("reboot: %v, %d calls, booted %s", err, svc.Reboots(), svc.Booted())
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
