package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"posd/board"
	"posd/board/rauc/rauctest"
	"posd/cmd/acquirer-sim/acquirer"
	"posd/internal/config"
	"posd/terminal/slots"
)

// fakeUpdater is a board's firmware updater in memory: a boot loader with
// two slots that starts the active one at Reboot.
type fakeUpdater struct {
	mu              sync.Mutex
	booted, primary string
	images          map[string][]byte
	calls           []string
}

func newFakeUpdater() *fakeUpdater {
	return &fakeUpdater{booted: "a", primary: "a", images: map[string][]byte{}}
}

func (f *fakeUpdater) log(format string, a ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, a...))
}

func (f *fakeUpdater) Install(ctx context.Context, slot string, image io.Reader) error {
	b, err := io.ReadAll(image)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.images[slot] = b
	f.mu.Unlock()
	f.log("install %s", slot)
	return nil
}

func (f *fakeUpdater) MarkActive(ctx context.Context, slot string) error {
	f.mu.Lock()
	f.primary = slot
	f.mu.Unlock()
	f.log("active %s", slot)
	return nil
}

func (f *fakeUpdater) MarkGood(ctx context.Context, slot string) error {
	f.log("good %s", slot)
	return nil
}

func (f *fakeUpdater) MarkBad(ctx context.Context, slot string) error {
	f.log("bad %s", slot)
	return nil
}

func (f *fakeUpdater) BootState(ctx context.Context) (string, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.booted, f.primary, nil
}

func (f *fakeUpdater) Reboot(ctx context.Context) error {
	f.mu.Lock()
	f.booted = f.primary
	f.mu.Unlock()
	f.log("reboot")
	return nil
}

// take returns the calls so far and forgets them.
func (f *fakeUpdater) take() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := strings.Join(f.calls, ", ")
	f.calls = nil
	return s
}

// openFW opens posd on the sim board in dir with the firmware updater u,
// talking to the acquirer at hostAddr.
func openFW(t *testing.T, dir, hostAddr string, u FirmwareUpdater, names [2]string) *Daemon {
	t.Helper()
	cfg, err := config.Parse([]byte(`{"data_dir":"` + dir + `","host":{"addr":"` + hostAddr + `"}}`))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(context.Background(), cfg, "1", nil, WithFirmwareUpdater(u, names))
	if err != nil {
		t.Fatal(err)
	}
	d.healthTries, d.healthPause = 1, time.Millisecond
	return d
}

func closeFW(t *testing.T, d *Daemon) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func fwImage(version string) (slots.Image, []byte) {
	b := []byte(version + " firmware") // a fake RAUC bundle of that version (rauctest.Manifest)
	sum := sha256.Sum256(b)
	return slots.Image{Version: version, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(b))}, b
}

// tryFirmware installs version as posd's OTA round does and starts its
// trial (a reboot through the updater).
func tryFirmware(t *testing.T, d *Daemon, version string) string {
	t.Helper()
	ctx := context.Background()
	img, b := fwImage(version)
	if err := d.recordHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	slot, err := d.installImage(ctx, img, b)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.startTrial(ctx); err != nil {
		t.Fatal(err)
	}
	return slot
}

// A trial whose health check fails is rolled back by posd itself: the
// slot state records the rollback with the reason, the trial slot is
// marked bad, the committed one active, and the board reboots into it.
// (Before, posd only exited and the trial kept its remaining boots.)
func TestUnhealthyTrialRollsBack(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	u := newFakeUpdater()
	names := [2]string{"a", "b"}

	d := openFW(t, dir, "127.0.0.1:1", u, names)
	if st := d.Status().Firmware; st == nil || st.Slot != "a" || st.Trial || st.Updater != "option" {
		t.Fatalf("first boot: %+v", st)
	}
	u.take()
	if slot := tryFirmware(t, d, "2"); slot != "b" {
		t.Fatalf("installed into %s", slot)
	}
	if got := u.take(); got != "install b, active b, reboot" {
		t.Fatalf("install: %q", got)
	}
	closeFW(t, d)

	d = openFW(t, dir, "127.0.0.1:1", u, names) // no acquirer: the echo fails
	defer closeFW(t, d)
	if st := d.Status().Firmware; st == nil || st.Slot != "b" || !st.Trial {
		t.Fatalf("trial boot: %+v", st)
	}
	u.take()
	err := d.CheckTrial(ctx)
	if !errors.Is(err, ErrUnhealthy) {
		t.Fatalf("CheckTrial: %v", err)
	}
	if got := u.take(); got != "bad b, active a, reboot" {
		t.Fatalf("rollback at the updater: %q", got)
	}
	st, err := d.fw.m.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Trial != nil || st.Committed != "a" || st.Last == nil || st.Last.Kind != slots.EventRollback ||
		st.Last.From != "2" || !strings.Contains(st.Last.Reason, "health check failed") {
		t.Fatalf("slots after the failed health check: %+v last %+v", st, st.Last)
	}
	if fw := d.Status().Firmware; fw.Trial {
		t.Fatal("still on trial after the rollback")
	}
	// Rolled back on the host echo alone (no acquirer): remembered as a
	// host-link failure, tried again later, not blocked.
	if !strings.HasPrefix(st.Last.Reason, hostLinkReason) {
		t.Fatalf("reason %q does not say host link only", st.Last.Reason)
	}
	if v := d.firmwareVerdict(ctx, "2"); v.Blocked || v.HostFailures != 1 || v.RetryAfter.IsZero() {
		t.Fatalf("version 2 after a host-link rollback: %+v", v)
	}
}

// startAcquirer runs acquirer-sim on a free port until the test ends.
func startAcquirer(t *testing.T) string {
	t.Helper()
	return startAcquirerWith(t, nil)
}

// startAcquirerWith is startAcquirer with acquirer-sim's options o.
func startAcquirerWith(t *testing.T, o *acquirer.Opts) string {
	t.Helper()
	srv, err := acquirer.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
		srv.Close()
	})
	return ln.Addr().String()
}

// posd over RAUC (board.Updater against the fake RAUC service and
// systemd-logind on D-Bus): it adopts the booted slot, installs a bundle,
// reboots into it, commits it once healthy; a later bundle that fails its
// health check is marked bad and the board reboots into the committed
// slot.
func TestFirmwareOverRAUC(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	client, server := rauctest.Pipe(t)
	svc := rauctest.NewService(t, server)
	p, err := board.Lookup("rpi4")
	if err != nil {
		t.Fatal(err)
	}
	u, err := board.NewUpdater(client, p, board.UpdaterOptions{Spool: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	acq := startAcquirer(t)

	d := openFW(t, dir, acq, u, u.Slots)
	if st := d.Status().Firmware; st == nil || st.Slot != "rootfs.0" || st.Trial {
		t.Fatalf("first boot: %+v", st)
	}
	if d.firmwareVersion() != 1 {
		t.Fatalf("running firmware %d, want the build's 1", d.firmwareVersion())
	}
	if err := d.CheckTrial(ctx); err != nil || svc.Reboots() != 0 {
		t.Fatalf("CheckTrial on the committed slot: %v, %d reboots", err, svc.Reboots())
	}
	svc.TakeMarks()
	if slot := tryFirmware(t, d, "2"); slot != "rootfs.1" {
		t.Fatalf("installed into %s", slot)
	}
	if b := svc.Bundles(); len(b) != 1 || string(b[0]) != "2 firmware" {
		t.Fatalf("RAUC got %q", b)
	}
	if svc.Reboots() != 1 || svc.Booted() != "rootfs.1" {
		t.Fatalf("%d reboots, booted %s", svc.Reboots(), svc.Booted())
	}
	closeFW(t, d)

	// The trial boot: healthy (devices and the acquirer's echo), committed.
	d = openFW(t, dir, acq, u, u.Slots)
	if st := d.Status().Firmware; st == nil || st.Slot != "rootfs.1" || !st.Trial || d.firmwareVersion() != 2 {
		t.Fatalf("trial boot: %+v version %d", st, d.firmwareVersion())
	}
	svc.TakeMarks()
	if err := d.CheckTrial(ctx); err != nil {
		t.Fatal(err)
	}
	if m := svc.TakeMarks(); m != "good rootfs.1" || svc.BootStatus("rootfs.1") != "good" {
		t.Fatalf("commit marks %q", m)
	}
	if st := d.Status().Firmware; st.Trial || st.Slots.Committed != "rootfs.1" || st.Slots.CommittedVersion != "2" {
		t.Fatalf("after the commit: %+v %+v", st, st.Slots)
	}
	tryFirmware(t, d, "3")
	closeFW(t, d)

	// Version 3 boots but cannot reach the acquirer: rolled back.
	d = openFW(t, dir, "127.0.0.1:1", u, u.Slots)
	if st := d.Status().Firmware; st.Slot != "rootfs.0" || !st.Trial {
		t.Fatalf("trial boot of 3: %+v", st)
	}
	svc.TakeMarks()
	if err := d.CheckTrial(ctx); !errors.Is(err, ErrUnhealthy) {
		t.Fatalf("CheckTrial: %v", err)
	}
	if m := svc.TakeMarks(); m != "bad rootfs.0, active rootfs.1" || svc.Reboots() != 3 || svc.Booted() != "rootfs.1" {
		t.Fatalf("rollback marks %q, %d reboots, booted %s", m, svc.Reboots(), svc.Booted())
	}
	closeFW(t, d)

	// Back on version 2, committed; nothing more to do.
	d = openFW(t, dir, acq, u, u.Slots)
	defer closeFW(t, d)
	if st := d.Status().Firmware; st.Slot != "rootfs.1" || st.Trial || d.firmwareVersion() != 2 {
		t.Fatalf("after the rollback: %+v", st)
	}
	if err := d.CheckTrial(ctx); err != nil || svc.Reboots() != 3 {
		t.Fatalf("CheckTrial after the rollback: %v, %d reboots", err, svc.Reboots())
	}
}
