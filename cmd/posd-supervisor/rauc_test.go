package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"path/filepath"
	"testing"

	"posd/board/rauc"
	"posd/board/rauc/rauctest"
	"posd/terminal/slots"
)

// The A/B state machine of terminal/slots over the RAUC backend, against
// the fake RAUC service on a peer-to-peer D-Bus connection: what a real
// board's wiring does (the supervisor itself is for the simulated board).
func TestSlotsOverRAUC(t *testing.T) {
	ctx := context.Background()
	client, server := rauctest.Pipe(t)
	svc := rauctest.NewService(t, server)
	m, err := slots.Open(filepath.Join(t.TempDir(), "state.db"), slots.Options{
		Updater: rauc.New(client, rauc.Options{Spool: t.TempDir()}),
		Slots:   [2]string{"rootfs.0", "rootfs.1"}, BootVersion: "2026.01", MaxTrialBoots: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	boot := func() slots.Boot {
		t.Helper()
		b, err := m.Booted(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	update := func(version string) []byte {
		t.Helper()
		bundle := []byte(version + " bundle")
		sum := sha256.Sum256(bundle)
		slot, err := m.Install(ctx, slots.Image{Version: version, SHA256: hex.EncodeToString(sum[:])}, bytes.NewReader(bundle))
		if err != nil || slot != "rootfs.1" && slot != "rootfs.0" {
			t.Fatalf("install %s: %q %v", version, slot, err)
		}
		if err := m.TryNext(ctx); err != nil {
			t.Fatal(err)
		}
		return bundle
	}

	if b := boot(); b.Slot != "rootfs.0" || b.Version != "2026.01" || b.Reboot {
		t.Fatalf("first boot %+v", b)
	}
	svc.TakeMarks()
	bundle := update("2026.02")
	if got := svc.Bundles(); !bytes.Equal(got[len(got)-1], bundle) {
		t.Fatal("RAUC did not get the bundle")
	}
	if marks := svc.TakeMarks(); marks != "active rootfs.0, active rootfs.1" || svc.Primary() != "rootfs.1" {
		t.Fatalf("marks %q", marks)
	}
	if b := boot(); !b.Reboot || b.Next != "rootfs.1" {
		t.Fatalf("before the reboot %+v", b)
	}
	svc.Reboot()
	if b := boot(); !b.Trial || b.Slot != "rootfs.1" || b.Reboot {
		t.Fatalf("trial boot %+v", b)
	}
	if err := m.Commit(ctx, "rootfs.1"); err != nil {
		t.Fatal(err)
	}
	if svc.TakeMarks() != "good rootfs.1" {
		t.Fatal("commit did not mark the slot good")
	}

	// A bundle that fails its hash never reaches RAUC.
	n := len(svc.Bundles())
	if _, err := m.Install(ctx, slots.Image{Version: "x", SHA256: hex.EncodeToString(make([]byte, 32))}, bytes.NewReader([]byte("x"))); !errors.Is(err, slots.ErrHash) {
		t.Fatalf("bad hash: %v", err)
	}
	if len(svc.Bundles()) != n {
		t.Fatal("RAUC got a bundle that failed its hash")
	}
	// RAUC fails the installation: the slot is bad, nothing switches.
	svc.FailNext("Installation error: signature verification failed")
	ysum := sha256.Sum256([]byte("y"))
	if _, err := m.Install(ctx, slots.Image{Version: "y", SHA256: hex.EncodeToString(ysum[:])}, bytes.NewReader([]byte("y"))); !errors.Is(err, slots.ErrUpdater) || !errors.Is(err, rauc.ErrInstall) {
		t.Fatalf("install with a failing RAUC: %v", err)
	}
	if err := m.TryNext(ctx); !errors.Is(err, slots.ErrNotInstalled) {
		t.Fatalf("TryNext after a failed install: %v", err)
	}

	// A trial that never commits: after 2 boots it is rolled back and the
	// board must reboot into the committed slot.
	update("2026.03")
	svc.Reboot()
	boot()
	boot()
	svc.TakeMarks()
	b := boot()
	if !b.RolledBack || !b.Reboot || b.Slot != "rootfs.1" {
		t.Fatalf("after 2 trial boots %+v", b)
	}
	if marks := svc.TakeMarks(); marks != "bad rootfs.0, active rootfs.1" {
		t.Fatalf("marks %q", marks)
	}
	svc.Reboot()
	if b := boot(); b.Slot != "rootfs.1" || b.Reboot || b.Version != "2026.02" {
		t.Fatalf("after the reboot %+v", b)
	}
}
