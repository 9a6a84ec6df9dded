package rauc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"posd/board/rauc/rauctest"
)

func setup(t *testing.T) (*Backend, *rauctest.Service, string) {
	t.Helper()
	client, server := rauctest.Pipe(t)
	f := rauctest.NewService(t, server)
	spool := t.TempDir()
	return New(client, Options{Spool: spool}), f, spool
}

func spoolEmpty(t *testing.T, dir string) {
	t.Helper()
	if es, _ := os.ReadDir(dir); len(es) != 0 {
		t.Fatalf("spool keeps %d files", len(es))
	}
}

func TestInstallIntoInactiveSlot(t *testing.T) {
	ctx := context.Background()
	b, f, spool := setup(t)
	booted, primary, err := b.BootState(ctx)
	if err != nil || booted != "rootfs.0" || primary != "rootfs.0" {
		t.Fatalf("boot state %q %q %v", booted, primary, err)
	}
	bundle := []byte("2026.02 bundle bytes")
	if err := b.Install(ctx, "rootfs.1", bytes.NewReader(bundle)); err != nil {
		t.Fatal(err)
	}
	if got := f.Bundles(); len(got) != 1 || !bytes.Equal(got[0], bundle) {
		t.Fatalf("RAUC got %q", got)
	}
	// RAUC activated what it installed; the booted slot is primary again.
	if m := f.TakeMarks(); m != "active rootfs.0" || f.Primary() != "rootfs.0" {
		t.Fatalf("marks %q primary %s", m, f.Primary())
	}
	ss, err := b.SlotStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s := ss[1]; s.Name != "rootfs.1" || s.BundleVersion != "2026.02" || s.Status != "ok" || s.InstalledCount != 1 || s.State != "inactive" || len(s.SHA256) != 64 {
		t.Fatalf("slot after install %+v", s)
	}
	if s := ss[0]; s.State != "booted" || s.Bootname != "A" || s.BootStatus != "good" || s.Device != "/dev/mmcblk0p2" {
		t.Fatalf("booted slot %+v", s)
	}
	ms := f.Matches()
	if len(ms) != 2 || !strings.HasPrefix(ms[0], "+") || !strings.Contains(ms[0], "member='Completed'") ||
		!strings.Contains(ms[0], "interface='de.pengutronix.rauc.Installer'") || ms[1] != "-"+ms[0][1:] {
		t.Fatalf("match rules %q", ms)
	}
	spoolEmpty(t, spool)
}

func TestTrialMarksAndBootState(t *testing.T) {
	ctx := context.Background()
	b, f, _ := setup(t)
	if err := b.MarkActive(ctx, "rootfs.1"); err != nil {
		t.Fatal(err)
	}
	f.Reboot()
	booted, primary, err := b.BootState(ctx)
	if err != nil || booted != "rootfs.1" || primary != "rootfs.1" {
		t.Fatalf("after reboot %q %q %v", booted, primary, err)
	}
	if err := b.MarkGood(ctx, "rootfs.1"); err != nil {
		t.Fatal(err)
	}
	if err := b.MarkBad(ctx, "rootfs.0"); err != nil {
		t.Fatal(err)
	}
	if m := f.TakeMarks(); m != "active rootfs.1, good rootfs.1, bad rootfs.0" || f.BootStatus("rootfs.0") != "bad" {
		t.Fatalf("marks %q", m)
	}
	if err := b.MarkGood(ctx, "nope"); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "No slot") {
		t.Fatalf("unknown slot: %v", err)
	}
	f.SetBusy(true)
	if err := b.MarkGood(ctx, "rootfs.1"); !errors.Is(err, ErrBusy) {
		t.Fatalf("busy: %v", err)
	}
	if _, _, err := b.BootState(ctx); !errors.Is(err, ErrBusy) {
		t.Fatalf("busy: %v", err)
	}
	if op, err := b.Operation(ctx); err != nil || op != "installing" {
		t.Fatalf("operation %q %v", op, err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestInstallRefusals(t *testing.T) {
	ctx := context.Background()
	b, f, spool := setup(t)
	ok := func() io.Reader { return strings.NewReader("bundle") }
	for _, c := range []struct {
		slot string
		want error
	}{{"rootfs.0", ErrSlot}, {"appfs.0", ErrSlot}, {"rootfs.7", ErrSlot}} {
		if err := b.Install(ctx, c.slot, ok()); !errors.Is(err, c.want) {
			t.Fatalf("install into %s: %v", c.slot, err)
		}
	}
	// The image fails its check at the end: RAUC never sees it.
	bad := errors.New("slots: image hash mismatch")
	if err := b.Install(ctx, "rootfs.1", io.MultiReader(strings.NewReader("half"), errReader{bad})); !errors.Is(err, bad) {
		t.Fatalf("bad image: %v", err)
	}
	if n := len(f.Bundles()); n != 0 {
		t.Fatalf("RAUC got %d bundles", n)
	}
	f.FailNext("Installation error: Failed updating slot rootfs.1: No space left on device")
	if err := b.Install(ctx, "rootfs.1", ok()); !errors.Is(err, ErrInstall) || !strings.Contains(err.Error(), "No space left") {
		t.Fatalf("failed install: %v", err)
	}
	f.SkipNext()
	if err := b.Install(ctx, "rootfs.1", ok()); !errors.Is(err, ErrSlot) {
		t.Fatalf("install that wrote no slot: %v", err)
	}
	f.SetDelay(time.Second)
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	err := b.Install(tctx, "rootfs.1", ok())
	cancel()
	if !errors.Is(err, ErrDBus) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "may still be installing") {
		t.Fatalf("timeout: %v", err)
	}
	f.SetDelay(0)
	time.Sleep(1100 * time.Millisecond) // the fake finishes the abandoned install
	f.SetBusy(true)
	if err := b.Install(ctx, "rootfs.1", ok()); !errors.Is(err, ErrBusy) {
		t.Fatalf("busy: %v", err)
	}
	f.SetBusy(false)
	if err := b.Install(ctx, "rootfs.1", ok()); err != nil {
		t.Fatal(err)
	}
	spoolEmpty(t, spool)
}

func TestConnectionLost(t *testing.T) {
	b, _, _ := setup(t)
	b.Close()
	if _, err := b.Primary(context.Background()); !errors.Is(err, ErrDBus) {
		t.Fatalf("closed connection: %v", err)
	}
}

// InstallChecked hands the bundle's manifest (InspectBundle) to check
// before RAUC installs it: a bundle check refuses never reaches
// InstallBundle, no slot is written and the spool is emptied.
func TestInstallCheckedRefusesManifest(t *testing.T) {
	ctx := context.Background()
	b, f, spool := setup(t)
	bundle := []byte("[update]\ncompatible=other-board\nversion=7\n")
	var gotC, gotV string
	refuse := errors.New("not the version wanted")
	err := b.InstallChecked(ctx, "rootfs.1", bytes.NewReader(bundle), func(c, v string) error {
		gotC, gotV = c, v
		return refuse
	})
	if !errors.Is(err, ErrManifest) || !errors.Is(err, refuse) {
		t.Fatalf("InstallChecked: %v", err)
	}
	if gotC != "other-board" || gotV != "7" {
		t.Errorf("check got compatible %q version %q", gotC, gotV)
	}
	if n := len(f.Bundles()); n != 0 {
		t.Errorf("RAUC installed %d bundles", n)
	}
	if n := len(f.Inspected()); n != 1 {
		t.Errorf("RAUC inspected %d bundles", n)
	}
	spoolEmpty(t, spool)

	// Accepted: installed as Install does.
	if err := b.InstallChecked(ctx, "rootfs.1", bytes.NewReader(bundle), func(c, v string) error { return nil }); err != nil {
		t.Fatal(err)
	}
	ss, err := b.SlotStatus(ctx)
	if err != nil || ss[1].BundleVersion != "7" {
		t.Fatalf("slot after the install: %+v %v", ss, err)
	}
	m, err := b.Inspect(ctx, filepath.Join(t.TempDir(), "missing.raucb"))
	if !errors.Is(err, ErrRefused) {
		t.Errorf("Inspect of a missing bundle: %+v %v", m, err)
	}
}
