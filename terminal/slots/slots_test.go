package slots

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"posd/conn/clock"
)

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// mkImage is an image of n bytes derived from version.
func mkImage(version string, n int) ([]byte, Image) {
	b := make([]byte, n)
	seed := sha256.Sum256([]byte(version))
	for i := range b {
		b[i] = seed[i%32] ^ byte(i/32)
	}
	sum := sha256.Sum256(b)
	return b, Image{Version: version, SHA256: hex.EncodeToString(sum[:]), Size: int64(n)}
}

func newDir(t testing.TB, o Options) (*Manager, *DirUpdater, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "slots")
	d := &DirUpdater{Dir: dir}
	o.Updater = d
	if o.Clock == nil {
		o.Clock = clock.NewFake(t0)
	}
	m, err := OpenDir(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	return m, d, dir
}

func provision(t testing.TB, m *Manager, version string) []byte {
	t.Helper()
	b, img := mkImage(version, 3000)
	if err := m.Provision(context.Background(), img, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	return b
}

func install(t testing.TB, m *Manager, version string) (string, []byte) {
	t.Helper()
	b, img := mkImage(version, 5000)
	slot, err := m.Install(context.Background(), img, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return slot, b
}

func status(t testing.TB, m *Manager) Status {
	t.Helper()
	s, err := m.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func booted(t testing.TB, m *Manager) Boot {
	t.Helper()
	b, err := m.Booted(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func slotState(s Status, name string) SlotState {
	for _, si := range s.Slots {
		if si.Name == name {
			return si.State
		}
	}
	return ""
}

func kinds(t testing.TB, m *Manager) string {
	t.Helper()
	evs, err := m.History(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var k []string
	for _, e := range evs {
		k = append(k, string(e.Kind))
	}
	return strings.Join(k, " ")
}

func fileIs(t testing.TB, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes, not the image", path, len(got))
	}
}

func TestInstallTrialCommit(t *testing.T) {
	ctx := context.Background()
	m, d, _ := newDir(t, Options{})
	if _, err := m.Booted(ctx); !errors.Is(err, ErrNotProvisioned) {
		t.Fatalf("Booted before provisioning: %v", err)
	}
	v1 := provision(t, m, "1.0.0")
	if err := m.Provision(ctx, Image{Version: "x", SHA256: strings.Repeat("0", 64)}, nil); !errors.Is(err, ErrProvisioned) {
		t.Fatalf("second Provision: %v", err)
	}
	if b := booted(t, m); b.Slot != "a" || b.Version != "1.0.0" || b.Trial {
		t.Fatalf("boot %+v", b)
	}
	slot, v2 := install(t, m, "1.1.0")
	if slot != "b" {
		t.Fatalf("installed into %s", slot)
	}
	fileIs(t, d.Path("a"), v1)
	fileIs(t, d.Path("b"), v2)
	s := status(t, m)
	if s.Active != "a" || s.Committed != "a" || s.Trial != nil || slotState(s, "b") != SlotInstalled {
		t.Fatalf("after install: %+v", s)
	}
	// Installing does not change what boots.
	if b := booted(t, m); b.Slot != "a" || b.Trial {
		t.Fatalf("boot after install %+v", b)
	}
	if err := m.Commit(ctx, "b"); !errors.Is(err, ErrNoTrial) {
		t.Fatalf("Commit without trial: %v", err)
	}
	if err := m.TryNext(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.TryNext(ctx); !errors.Is(err, ErrTrialPending) {
		t.Fatalf("second TryNext: %v", err)
	}
	if err := m.Commit(ctx, "b"); !errors.Is(err, ErrNoTrial) {
		t.Fatalf("Commit before the trial booted: %v", err)
	}
	s = status(t, m)
	if s.Active != "b" || s.ActiveVersion != "1.1.0" || s.Committed != "a" || s.Trial == nil || s.Trial.Max != 3 {
		t.Fatalf("after TryNext: %+v", s)
	}
	b := booted(t, m)
	if b != (Boot{Slot: "b", Version: "1.1.0", Trial: true, Attempt: 1, Max: 3}) {
		t.Fatalf("trial boot %+v", b)
	}
	if err := m.Commit(ctx, "a"); !errors.Is(err, ErrNoTrial) {
		t.Fatalf("Commit by the committed slot's posd: %v", err)
	}
	if err := m.Commit(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	s = status(t, m)
	if s.Active != "b" || s.Committed != "b" || s.CommittedVersion != "1.1.0" || s.Trial != nil ||
		slotState(s, "a") != SlotGood || slotState(s, "b") != SlotGood {
		t.Fatalf("after commit: %+v", s)
	}
	if s.Last == nil || s.Last.Kind != EventCommit || s.Last.Version != "1.1.0" || s.Last.From != "1.0.0" || s.Last.Boot != 1 {
		t.Fatalf("last event %+v", s.Last)
	}
	if b := booted(t, m); b.Slot != "b" || b.Trial {
		t.Fatalf("boot after commit %+v", b)
	}
	// The next update goes into a, the previous version's slot.
	if slot, _ := install(t, m, "1.2.0"); slot != "a" {
		t.Fatalf("third install into %s", slot)
	}
	fileIs(t, d.Path("b"), v2)
	if got, want := kinds(t, m), "install-start provision install-start install trial boot commit install-start install"; got != want {
		t.Fatalf("history\n got %s\nwant %s", got, want)
	}
}

func TestHealthCheckFailsRollback(t *testing.T) {
	ctx := context.Background()
	m, d, _ := newDir(t, Options{})
	v1 := provision(t, m, "1")
	install(t, m, "2")
	if err := m.Rollback(ctx, "no"); !errors.Is(err, ErrNoTrial) {
		t.Fatalf("Rollback without trial: %v", err)
	}
	if err := m.TryNext(ctx); err != nil {
		t.Fatal(err)
	}
	if b := booted(t, m); !b.Trial {
		t.Fatalf("boot %+v", b)
	}
	if err := m.Rollback(ctx, "host echo failed"); err != nil {
		t.Fatal(err)
	}
	s := status(t, m)
	if s.Active != "a" || s.Committed != "a" || s.Trial != nil || slotState(s, "b") != SlotBad {
		t.Fatalf("after rollback %+v", s)
	}
	if e := s.Last; e.Kind != EventRollback || e.Reason != "host echo failed" || e.Version != "1" || e.From != "2" || e.Slot != "a" {
		t.Fatalf("last %+v", e)
	}
	if b := booted(t, m); b.Slot != "a" || b.Trial || b.RolledBack {
		t.Fatalf("boot after rollback %+v", b)
	}
	if err := m.TryNext(ctx); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("TryNext of a rolled back slot: %v", err)
	}
	fileIs(t, d.Path("a"), v1)
	// A new install into the bad slot works.
	install(t, m, "3")
	if err := m.TryNext(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestFailedTrialBootsRollBackByThemselves(t *testing.T) {
	ctx := context.Background()
	m, _, _ := newDir(t, Options{MaxTrialBoots: 2})
	provision(t, m, "1")
	install(t, m, "2")
	if err := m.TryNext(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2; i++ {
		if b := booted(t, m); b != (Boot{Slot: "b", Version: "2", Trial: true, Attempt: i, Max: 2}) {
			t.Fatalf("boot %d: %+v", i, b)
		}
	}
	b := booted(t, m)
	if b.Slot != "a" || b.Version != "1" || b.Trial || !b.RolledBack || !strings.Contains(b.Reason, "2 trial boots") {
		t.Fatalf("boot after 2 failed trial boots: %+v", b)
	}
	s := status(t, m)
	if s.Committed != "a" || s.Trial != nil || slotState(s, "b") != SlotBad || s.Last.Kind != EventRollback || s.Last.Boot != 2 {
		t.Fatalf("status %+v", s)
	}
	if got, want := kinds(t, m), "install-start provision install-start install trial boot boot rollback"; got != want {
		t.Fatalf("history\n got %s\nwant %s", got, want)
	}
}

func TestMaxTrialBootsKeptPerTrial(t *testing.T) {
	ctx := context.Background()
	m, _, dir := newDir(t, Options{MaxTrialBoots: 5})
	provision(t, m, "1")
	install(t, m, "2")
	if err := m.TryNext(ctx); err != nil {
		t.Fatal(err)
	}
	// Another process opens with another limit: stored for the next trial.
	m2, err := OpenDir(dir, Options{MaxTrialBoots: 1})
	if err != nil {
		t.Fatal(err)
	}
	s := status(t, m2)
	if s.MaxTrialBoots != 1 || s.Trial.Max != 5 {
		t.Fatalf("%+v %+v", s, s.Trial)
	}
	// Default options keep the stored value.
	m3, err := OpenDir(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s := status(t, m3); s.MaxTrialBoots != 1 {
		t.Fatalf("max %d", s.MaxTrialBoots)
	}
}

// failingReader gives n bytes of b, then err.
type failingReader struct {
	b   []byte
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	k := min(len(p), f.n, len(f.b))
	copy(p, f.b[:k])
	f.b, f.n = f.b[k:], f.n-k
	return k, nil
}

func TestInterruptedInstallLeavesActiveAlone(t *testing.T) {
	big, bigImg := mkImage("9", 200000)
	other, _ := mkImage("other", 200000)
	cases := []struct {
		name string
		img  Image
		r    func(cancel func()) io.Reader
		want error
	}{
		{"read error", bigImg, func(func()) io.Reader {
			return &failingReader{b: big, n: 70000, err: errors.New("connection reset")}
		}, nil},
		{"cancelled", bigImg, func(cancel func()) io.Reader {
			return io.MultiReader(bytes.NewReader(big[:50000]), readerFunc(func([]byte) (int, error) { cancel(); return 0, nil }), bytes.NewReader(big[50000:]))
		}, context.Canceled},
		{"bad hash", bigImg, func(func()) io.Reader { return bytes.NewReader(other) }, ErrHash},
		{"too long", Image{Version: "9", SHA256: bigImg.SHA256, Size: 1000}, func(func()) io.Reader { return bytes.NewReader(big) }, ErrSize},
		{"too short", bigImg, func(func()) io.Reader { return bytes.NewReader(big[:1000]) }, ErrSize},
		{"endless", Image{Version: "9", SHA256: bigImg.SHA256}, func(func()) io.Reader { return zeros{} }, ErrSize},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, d, _ := newDir(t, Options{MaxImageSize: 1 << 20})
			v1 := provision(t, m, "1")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			slot, err := m.Install(ctx, c.img, c.r(cancel))
			if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
				t.Fatalf("Install: %v, want %v", err, c.want)
			}
			if slot != "b" {
				t.Fatalf("slot %q", slot)
			}
			s := status(t, m)
			if s.Active != "a" || slotState(s, "b") != SlotBad || s.Last.Kind != EventInstallFailed || s.Last.Reason == "" {
				t.Fatalf("status %+v last %+v", s, s.Last)
			}
			noLongHex(t, err.Error())
			noLongHex(t, s.Last.Reason)
			if _, err := os.Stat(d.Path("b")); err == nil {
				t.Fatal("an interrupted install left an executable in slot b")
			}
			if err := m.TryNext(context.Background()); !errors.Is(err, ErrNotInstalled) {
				t.Fatalf("TryNext: %v", err)
			}
			if b := booted(t, m); b.Slot != "a" {
				t.Fatalf("boot %+v", b)
			}
			fileIs(t, d.Path("a"), v1)
		})
	}
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// memUpdater keeps slots in memory; with boot set, it is a BootReporter
// whose boot loader follows the marks like RAUC's does.
type memUpdater struct {
	mu      sync.Mutex
	slots   map[string][]byte
	marks   []string
	booted  string
	primary string
	fail    map[string]error // by operation: install, active, good, bad, boot
	lazy    bool             // Install returns without reading
}

func (u *memUpdater) err(op string) error {
	if u.fail == nil {
		return nil
	}
	return u.fail[op]
}

func (u *memUpdater) Install(_ context.Context, slot string, r io.Reader) error {
	if err := u.err("install"); err != nil {
		return err
	}
	if u.lazy {
		return nil
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.slots == nil {
		u.slots = map[string][]byte{}
	}
	u.slots[slot] = b
	return nil
}

func (u *memUpdater) mark(op, slot string) error {
	if err := u.err(op); err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.marks = append(u.marks, op+" "+slot)
	if op == "active" {
		u.primary = slot
	}
	return nil
}

func (u *memUpdater) MarkActive(_ context.Context, s string) error { return u.mark("active", s) }
func (u *memUpdater) MarkGood(_ context.Context, s string) error   { return u.mark("good", s) }
func (u *memUpdater) MarkBad(_ context.Context, s string) error    { return u.mark("bad", s) }

func (u *memUpdater) takeMarks() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := strings.Join(u.marks, ", ")
	u.marks = nil
	return s
}

// reporter wraps a memUpdater as a BootReporter.
type reporter struct{ *memUpdater }

func (r reporter) BootState(context.Context) (string, string, error) {
	if err := r.err("boot"); err != nil {
		return "", "", err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.booted, r.primary, nil
}

// reboot starts the primary slot, as a boot loader does.
func (u *memUpdater) reboot() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.booted = u.primary
}

func newMem(t testing.TB, up Updater, o Options) *Manager {
	t.Helper()
	o.Updater = up
	o.Clock = clock.NewFake(t0)
	m, err := Open(filepath.Join(t.TempDir(), "state.db"), o)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestBootLoaderBoard(t *testing.T) {
	ctx := context.Background()
	u := &memUpdater{booted: "rootfs.0", primary: "rootfs.0"}
	m := newMem(t, reporter{u}, Options{Slots: [2]string{"rootfs.0", "rootfs.1"}, BootVersion: "2026.01"})
	// A fresh state adopts the booted slot.
	b := booted(t, m)
	if b != (Boot{Slot: "rootfs.0", Version: "2026.01"}) {
		t.Fatalf("first boot %+v", b)
	}
	if got := u.takeMarks(); got != "good rootfs.0" {
		t.Fatalf("marks %q", got)
	}
	install(t, m, "2026.02")
	if err := m.TryNext(ctx); err != nil {
		t.Fatal(err)
	}
	if got := u.takeMarks(); got != "active rootfs.1" {
		t.Fatalf("marks after TryNext %q", got)
	}
	// posd restarts before the reboot: nothing is counted.
	b = booted(t, m)
	if !b.Reboot || b.Next != "rootfs.1" || b.Slot != "rootfs.0" || b.Trial {
		t.Fatalf("boot before reboot %+v", b)
	}
	u.reboot()
	b = booted(t, m)
	if b != (Boot{Slot: "rootfs.1", Version: "2026.02", Trial: true, Attempt: 1, Max: 3}) {
		t.Fatalf("trial boot %+v", b)
	}
	if err := m.Commit(ctx, "rootfs.1"); err != nil {
		t.Fatal(err)
	}
	if got := u.takeMarks(); got != "good rootfs.1" {
		t.Fatalf("marks after commit %q", got)
	}
	if b := booted(t, m); b != (Boot{Slot: "rootfs.1", Version: "2026.02"}) {
		t.Fatalf("boot after commit %+v", b)
	}
	u.takeMarks()

	// The next trial crashes before posd runs; the boot loader falls back.
	install(t, m, "2026.03")
	if err := m.TryNext(ctx); err != nil {
		t.Fatal(err)
	}
	u.reboot()
	if b := booted(t, m); !b.Trial || b.Slot != "rootfs.0" {
		t.Fatalf("trial %+v", b)
	}
	u.mark("active", "rootfs.1") // the boot loader gave up on rootfs.0
	u.reboot()
	u.takeMarks()
	b = booted(t, m)
	if !b.RolledBack || b.Slot != "rootfs.1" || b.Reboot || !strings.Contains(b.Reason, "boot loader") {
		t.Fatalf("boot after fallback %+v", b)
	}
	if got := u.takeMarks(); got != "bad rootfs.0, good rootfs.1, active rootfs.1" {
		t.Fatalf("marks after fallback %q", got)
	}
	s := status(t, m)
	if s.Committed != "rootfs.1" || slotState(s, "rootfs.0") != SlotBad || s.Last.Kind != EventRollback {
		t.Fatalf("status %+v", s)
	}

	// N trial boots without a commit: rolled back, and posd must reboot.
	install(t, m, "2026.04")
	if err := m.TryNext(ctx); err != nil {
		t.Fatal(err)
	}
	u.reboot()
	for i := 1; i <= 3; i++ {
		if b := booted(t, m); !b.Trial || b.Attempt != i {
			t.Fatalf("trial boot %d: %+v", i, b)
		}
	}
	u.takeMarks()
	b = booted(t, m)
	if !b.RolledBack || !b.Reboot || b.Slot != "rootfs.1" {
		t.Fatalf("after 3 trial boots %+v", b)
	}
	if got := u.takeMarks(); got != "bad rootfs.0, active rootfs.1" {
		t.Fatalf("marks %q", got)
	}
	u.reboot()
	if b := booted(t, m); b.Reboot || b.Slot != "rootfs.1" || b.RolledBack {
		t.Fatalf("boot after reboot %+v", b)
	}
}

func TestUpdaterFailures(t *testing.T) {
	ctx := context.Background()
	u := &memUpdater{}
	m := newMem(t, u, Options{})
	b1, i1 := mkImage("1", 100)
	if err := m.Provision(ctx, i1, bytes.NewReader(b1)); err != nil {
		t.Fatal(err)
	}
	u.fail = map[string]error{"install": errors.New("disk full")}
	b2, i2 := mkImage("2", 100)
	if _, err := m.Install(ctx, i2, bytes.NewReader(b2)); !errors.Is(err, ErrUpdater) || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Install: %v", err)
	}
	u.fail = nil
	u.lazy = true
	if _, err := m.Install(ctx, i2, bytes.NewReader(b2)); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("lazy Install: %v", err)
	}
	u.lazy = false
	if _, err := m.Install(ctx, i2, bytes.NewReader(b2)); err != nil {
		t.Fatal(err)
	}
	u.fail = map[string]error{"active": errors.New("dbus down")}
	if err := m.TryNext(ctx); !errors.Is(err, ErrUpdater) {
		t.Fatalf("TryNext: %v", err)
	}
	s := status(t, m)
	if s.Trial != nil || s.Active != "a" || s.Last.Kind != EventRollback {
		t.Fatalf("the failed TryNext left %+v", s)
	}
	u.fail = nil
	if _, err := m.Install(ctx, i2, bytes.NewReader(b2)); err != nil {
		t.Fatal(err)
	}
	if err := m.TryNext(ctx); err != nil {
		t.Fatal(err)
	}
	booted(t, m)
	u.fail = map[string]error{"good": errors.New("dbus down")}
	if err := m.Commit(ctx, "b"); !errors.Is(err, ErrUpdater) {
		t.Fatalf("Commit: %v", err)
	}
	if s := status(t, m); s.Trial == nil {
		t.Fatal("a commit the boot loader refused was recorded")
	}
	u.fail = nil
	if err := m.Commit(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Install(ctx, Image{Version: "", SHA256: i2.SHA256}, nil); !errors.Is(err, ErrImage) {
		t.Fatalf("empty version: %v", err)
	}
	if _, err := m.Install(ctx, Image{Version: "x", SHA256: "abc"}, nil); !errors.Is(err, ErrImage) {
		t.Fatalf("short hash: %v", err)
	}
	if _, err := m.Install(ctx, Image{Version: "x\n", SHA256: i2.SHA256}, nil); !errors.Is(err, ErrImage) {
		t.Fatalf("control character: %v", err)
	}
}

func TestInstallBusyAndDuringTrial(t *testing.T) {
	ctx := context.Background()
	m, _, _ := newDir(t, Options{})
	provision(t, m, "1")
	b, img := mkImage("2", 100)
	release := make(chan struct{})
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := m.Install(ctx, img, io.MultiReader(bytes.NewReader(b[:10]), readerFunc(func([]byte) (int, error) {
			close(started)
			<-release
			return 0, io.EOF
		}), bytes.NewReader(b[10:])))
		done <- err
	}()
	<-started
	if _, err := m.Install(ctx, img, bytes.NewReader(b)); !errors.Is(err, ErrBusy) {
		t.Fatalf("concurrent Install: %v", err)
	}
	// The state file is not held during the copy.
	if s := status(t, m); slotState(s, "b") != SlotInstalling {
		t.Fatalf("status during install %+v", s)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := m.TryNext(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Install(ctx, img, bytes.NewReader(b)); !errors.Is(err, ErrTrialPending) {
		t.Fatalf("Install during trial: %v", err)
	}
}

func TestDamagedSlots(t *testing.T) {
	ctx := context.Background()
	m, d, _ := newDir(t, Options{})
	v1 := provision(t, m, "1")
	install(t, m, "2")
	if err := m.TryNext(ctx); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.Path("b"), []byte("junk"), 0o755); err != nil {
		t.Fatal(err)
	}
	b := booted(t, m)
	if b.Slot != "a" || !b.RolledBack || !strings.Contains(b.Reason, "damaged") {
		t.Fatalf("boot with a damaged trial %+v", b)
	}
	install(t, m, "3")
	if err := m.TryNext(ctx); err != nil {
		t.Fatal(err)
	}
	booted(t, m)
	if err := m.Commit(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	// The committed slot b is damaged; a still holds 1, good.
	os.Remove(d.Path("b"))
	b = booted(t, m)
	if b.Slot != "a" || b.Version != "1" || !b.RolledBack {
		t.Fatalf("boot with a damaged committed slot %+v", b)
	}
	fileIs(t, d.Path("a"), v1)
	s := status(t, m)
	if s.Committed != "a" || slotState(s, "b") != SlotBad {
		t.Fatalf("status %+v", s)
	}
	// Nothing good left: fatal. The error names the digest it found by
	// its head only (it reaches the console, which withholds a line with
	// 16 hex digits in a row).
	os.WriteFile(d.Path("a"), bytes.Repeat([]byte{'j'}, len(v1)), 0o755)
	_, err := m.Booted(ctx)
	if !errors.Is(err, ErrSlotDamaged) || !strings.Contains(err.Error(), "hashes to") {
		t.Fatalf("Booted with no good slot: %v", err)
	}
	noLongHex(t, err.Error())
}

// noLongHex fails when s holds 16 hex digits in a row.
func noLongHex(t *testing.T, s string) {
	t.Helper()
	if m := regexp.MustCompile(`[0-9a-fA-F]{16}`).FindString(s); m != "" {
		t.Errorf("%q holds a 16-hex run %s", s, m)
	}
}

func TestStateFileChecks(t *testing.T) {
	dir := t.TempDir()
	up := &memUpdater{}
	path := filepath.Join(dir, "state.db")
	if _, err := Open(path, Options{Updater: up}); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Options{Updater: up, Slots: [2]string{"rootfs.0", "rootfs.1"}}); !errors.Is(err, ErrSlotNames) {
		t.Fatalf("other slot names: %v", err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchema, []byte("2")) })
	db.Close()
	if _, err := Open(path, Options{Updater: up}); !errors.Is(err, ErrSchema) {
		t.Fatalf("newer schema: %v", err)
	}
	// Newer, but usable by this build by its own word: both firmwares
	// share the state file.
	db, _ = bolt.Open(path, 0o600, nil)
	db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyCompat, []byte("1")) })
	db.Close()
	m, err := Open(path, Options{Updater: up})
	if err == nil {
		_, err = m.Status(context.Background())
	}
	if err != nil {
		t.Fatalf("newer schema, compat 1: %v", err)
	}
	db, _ = bolt.Open(path, 0o600, nil)
	db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(keyCompat) })
	db.Close()
	db, _ = bolt.Open(path, 0o600, nil)
	db.Update(func(tx *bolt.Tx) error {
		tx.Bucket(bucketMeta).Put(keySchema, []byte("1"))
		return tx.Bucket(bucketState).Put(keyState, []byte(`{"slots":[],"max_trial_boots":3}`))
	})
	db.Close()
	if _, err := Open(path, Options{Updater: up}); !errors.Is(err, ErrDamaged) {
		t.Fatalf("bad state: %v", err)
	}
	junk := filepath.Join(dir, "junk.db")
	os.WriteFile(junk, bytes.Repeat([]byte("x"), 40000), 0o600)
	if _, err := Open(junk, Options{Updater: up}); !errors.Is(err, ErrDamaged) {
		t.Fatalf("junk file: %v", err)
	}
}

func TestLockedStateFile(t *testing.T) {
	m, _, dir := newDir(t, Options{LockTimeout: 50 * time.Millisecond})
	db, err := bolt.Open(filepath.Join(dir, StateFile), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := m.Status(context.Background()); !errors.Is(err, ErrLocked) {
		t.Fatalf("Status while another process holds the file: %v", err)
	}
}

// Two managers on one file: the supervisor counts boots, posd commits.
func TestSupervisorAndPosdShareTheFile(t *testing.T) {
	ctx := context.Background()
	sup, _, dir := newDir(t, Options{})
	provision(t, sup, "1")
	install(t, sup, "2")
	if err := sup.TryNext(ctx); err != nil {
		t.Fatal(err)
	}
	b := booted(t, sup)
	posd, err := OpenDir(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := posd.Commit(ctx, b.Slot); err != nil {
		t.Fatal(err)
	}
	if s := status(t, sup); s.Committed != "b" {
		t.Fatalf("%+v", s)
	}
}

func TestHistoryIsBounded(t *testing.T) {
	ctx := context.Background()
	m, _, _ := newDir(t, Options{HistoryLimit: 5})
	provision(t, m, "1")
	for i := 2; i < 6; i++ {
		install(t, m, fmt.Sprint(i))
	}
	evs, err := m.History(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 5 || evs[4].Kind != EventInstall || evs[4].Version != "5" || evs[0].Seq+4 != evs[4].Seq {
		t.Fatalf("history %+v", evs)
	}
	evs, _ = m.History(ctx, 2)
	if len(evs) != 2 || evs[1].Version != "5" {
		t.Fatalf("last 2 %+v", evs)
	}
}

func TestReasonsAreKeptReadable(t *testing.T) {
	ctx := context.Background()
	m, _, _ := newDir(t, Options{})
	provision(t, m, "1")
	install(t, m, "2")
	if err := m.TryNext(ctx); err != nil {
		t.Fatal(err)
	}
	booted(t, m)
	reason := "echo failed:\n\x00" + strings.Repeat("失败", 200) + "\xff"
	if err := m.Rollback(ctx, reason); err != nil {
		t.Fatal(err)
	}
	s := status(t, m)
	if r := s.Last.Reason; len(r) > maxReason || !strings.HasPrefix(r, "echo failed:  失败") || strings.ContainsAny(r, "\n\x00") {
		t.Fatalf("reason %q", r)
	}
	if _, err := m.History(ctx, 0); err != nil {
		t.Fatal(err)
	}
}

// manifestDir is a DirUpdater whose images carry a manifest (as RAUC
// bundles do): compatible and version, set by the test.
type manifestDir struct {
	*DirUpdater
	compatible, version string
}

func (u *manifestDir) InstallChecked(ctx context.Context, slot string, image io.Reader, check func(compatible, version string) error) error {
	b, err := io.ReadAll(image)
	if err != nil {
		return err
	}
	if err := check(u.compatible, u.version); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	return u.Install(ctx, slot, bytes.NewReader(b))
}

// An image whose manifest names another version than its description, or
// another board than Options.Compatible, is refused before its slot is
// written, and cannot be tried.
func TestMislabelledImageRefused(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "slots")
	u := &manifestDir{DirUpdater: &DirUpdater{Dir: dir}, compatible: "posd-board", version: "1"}
	m, err := OpenDir(dir, Options{Updater: u, Compatible: "posd-board", Clock: clock.NewFake(t0)})
	if err != nil {
		t.Fatal(err)
	}
	provision(t, m, "1")
	for _, c := range []struct{ compatible, version, want string }{
		{"posd-board", "3", `says version "3"`},
		{"other-board", "2", `is for "other-board"`},
	} {
		u.compatible, u.version = c.compatible, c.version
		b, img := mkImage("2", 5000)
		slot, err := m.Install(ctx, img, bytes.NewReader(b))
		if !errors.Is(err, ErrMislabelled) || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("manifest %s %s: %v", c.compatible, c.version, err)
		}
		if _, err := os.Stat(u.Path(slot)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("slot %s written: %v", slot, err)
		}
		if err := m.TryNext(ctx); err == nil {
			t.Fatal("a refused image can be tried")
		}
	}
	u.compatible, u.version = "posd-board", "2"
	install(t, m, "2")
	if err := m.TryNext(ctx); err != nil {
		t.Fatal(err)
	}
}
