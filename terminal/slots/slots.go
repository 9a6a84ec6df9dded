// Package slots is the firmware A/B state machine: two slots, one
// committed (known good), the other receiving updates. An update is
// installed into the inactive slot, started as a trial, and either
// committed after the caller's health check or rolled back: explicitly
// (Rollback), or by Booted itself after MaxTrialBoots trial boots without a
// commit.
//
// The state lives in a bbolt file (schema SchemaVersion) that the Manager
// opens only for each operation, so the supervisor that starts posd and
// posd itself (which commits after its health check) share it. Every
// transition is one bbolt transaction (fsynced); an install is three: the
// slot is marked "installing" before a byte is written and "installed"
// only after the updater has finished and the hash matched, so a crash
// anywhere leaves the committed slot active and the other one unbootable.
//
// How slots are written and booted is the Updater's business: DirUpdater
// keeps each slot as a directory holding the posd binary (the simulated
// board, run by cmd/posd-supervisor); board/rauc drives RAUC over D-Bus on
// real boards.
package slots

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"posd/conn/clock"
	"posd/terminal/durable"
	"posd/terminal/schemaver"
)

// Updater is the backend that writes and boots slots (RAUC-like
// primitives). Slot names are those of Options.Slots.
type Updater interface {
	// Install writes image into slot, which is never the running one. It
	// must read image until io.EOF and fail on any other read error: the
	// reader returns an error instead of io.EOF when the hash or size is
	// wrong, and the updater must then leave the slot unusable.
	Install(ctx context.Context, slot string, image io.Reader) error
	// MarkActive makes slot the one the next boot starts (RAUC "active").
	MarkActive(ctx context.Context, slot string) error
	// MarkGood tells the boot loader that slot works (RAUC "good").
	MarkGood(ctx context.Context, slot string) error
	// MarkBad makes slot unbootable (RAUC "bad").
	MarkBad(ctx context.Context, slot string) error
}

// ManifestInstaller is implemented by updaters whose images carry a
// manifest of their own (a RAUC bundle: its compatible and version).
// InstallChecked is Install, except that once the image is read whole
// (and so hash-checked) and before the slot is written it calls check with
// the manifest's compatible and version; an error of check stops the
// install, the slot untouched, and is returned wrapped. Install uses it
// to refuse an image whose manifest disagrees with Image.Version (and
// Options.Compatible): recorded under the wrong version it could block
// the real one.
type ManifestInstaller interface {
	InstallChecked(ctx context.Context, slot string, image io.Reader, check func(compatible, version string) error) error
}

// BootReporter is implemented by updaters of real boards, where the boot
// loader, not the caller, picks the slot: BootState tells which slot the
// running system started from and which one the next boot starts.
type BootReporter interface {
	BootState(ctx context.Context) (booted, primary string, err error)
}

// Verifier is implemented by updaters that can hash a slot's content
// (DirUpdater). Booted verifies the slot it returns; it returns an error
// wrapping ErrSlotDamaged when the content does not match.
type Verifier interface {
	Verify(ctx context.Context, slot, sha256Hex string, size int64) error
}

// Image describes an image to install.
type Image struct {
	// Version is recorded and shown; 1 to 128 printable characters.
	Version string
	// SHA256 is the hex SHA-256 of the image bytes, from signed metadata.
	SHA256 string
	// Size is the exact length in bytes; 0 when unknown (then only
	// Options.MaxImageSize bounds it).
	Size int64
}

func (im Image) check() (Image, error) {
	if im.Version == "" {
		return im, fmt.Errorf("%w: empty version", ErrImage)
	}
	if err := checkText("version", im.Version, maxVersion); err != nil {
		return im, fmt.Errorf("%w: %v", ErrImage, err)
	}
	if _, err := parseSum(im.SHA256); err != nil {
		return im, fmt.Errorf("%w: %v", ErrImage, err)
	}
	if im.Size < 0 {
		return im, fmt.Errorf("%w: negative size", ErrImage)
	}
	im.SHA256 = strings.ToLower(im.SHA256)
	return im, nil
}

// Options configure Open.
type Options struct {
	// Updater writes and boots the slots. Required.
	Updater Updater
	// Slots are the two slot names, as the Updater knows them; default
	// {"a", "b"}. Provision installs into Slots[0].
	Slots [2]string
	// MaxTrialBoots is the number of trial boots allowed before Booted
	// rolls back (default 3). A non-zero value is stored; pending trials
	// keep the limit they started with.
	MaxTrialBoots int
	// BootVersion names the running firmware when Booted adopts the booted
	// slot of a BootReporter on a fresh state file; default "factory".
	BootVersion string
	// Compatible, when not empty, is the compatible string the manifest of
	// an image must name (ManifestInstaller); the version is checked
	// always.
	Compatible string
	// MaxImageSize bounds an image (default 1 GiB).
	MaxImageSize int64
	// LockTimeout is how long an operation waits for another process
	// holding the state file (default 10 s).
	LockTimeout time.Duration
	// HistoryLimit is the number of events kept (default 200).
	HistoryLimit int
	// Clock stamps events; nil is the wall clock.
	Clock clock.Clock
	// Logger; nil discards.
	Logger *slog.Logger
}

// Manager runs the A/B state machine over a state file. Its methods are
// safe for concurrent use; at most one Install or Provision runs at a time.
type Manager struct {
	path       string
	o          Options
	log        *slog.Logger
	clk        clock.Clock
	mu         sync.Mutex // one open of the state file at a time in this process
	installing atomic.Bool
}

// Bucket and key names of the state file.
var (
	bucketMeta    = []byte("meta")
	bucketState   = []byte("state")
	bucketHistory = []byte("history")
	keySchema     = []byte("schema")
	keyCompat     = []byte("compat") // the oldest schema that can use the file; absent: the schema
	keyState      = []byte("state")
)

// Open checks the state file at path, creating it (atomically, with both
// slots empty) when it does not exist, and returns its Manager. The file
// is closed again: each operation opens it.
func Open(path string, o Options) (*Manager, error) {
	if o.Updater == nil {
		return nil, errors.New("slots: Options.Updater is nil")
	}
	if o.Slots == [2]string{} {
		o.Slots = [2]string{"a", "b"}
	}
	for _, n := range o.Slots {
		if err := checkText("slot name", n, maxName); err != nil || n == "" {
			return nil, fmt.Errorf("slots: bad slot name %q", n)
		}
	}
	if o.Slots[0] == o.Slots[1] {
		return nil, fmt.Errorf("slots: both slots are named %q", o.Slots[0])
	}
	if o.MaxTrialBoots < 0 || o.MaxTrialBoots > maxBootLimit {
		return nil, fmt.Errorf("slots: MaxTrialBoots %d out of 0..%d", o.MaxTrialBoots, maxBootLimit)
	}
	if o.BootVersion == "" {
		o.BootVersion = "factory"
	}
	if o.MaxImageSize <= 0 {
		o.MaxImageSize = 1 << 30
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = 10 * time.Second
	}
	if o.HistoryLimit <= 0 {
		o.HistoryLimit = 200
	}
	m := &Manager{path: path, o: o, clk: clock.Or(o.Clock), log: o.Logger}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if err := m.create(); err != nil {
		return nil, err
	}
	st, err := m.read()
	if err != nil {
		return nil, err
	}
	if o.MaxTrialBoots > 0 && st.MaxTrialBoots != o.MaxTrialBoots {
		err := m.update(func(t *txn) error {
			t.st.MaxTrialBoots = o.MaxTrialBoots
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return m, nil
}

// create makes a fresh state file when there is none: built under a
// temporary name and renamed, so a crash never leaves a half-made file.
func (m *Manager) create() error {
	if _, err := os.Stat(m.path); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("slots: %w", err)
	}
	dir := filepath.Dir(m.path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("slots: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(m.path)+".*")
	if err != nil {
		return fmt.Errorf("slots: %w", err)
	}
	tmp := f.Name()
	f.Close()
	defer os.Remove(tmp)
	db, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: m.o.LockTimeout})
	if err != nil {
		return fmt.Errorf("slots: creating state file: %w", err)
	}
	now := m.clk.Now().UTC()
	st := &state{MaxTrialBoots: 3}
	if m.o.MaxTrialBoots > 0 {
		st.MaxTrialBoots = m.o.MaxTrialBoots
	}
	for _, n := range m.o.Slots {
		st.Slots = append(st.Slots, SlotInfo{Name: n, State: SlotEmpty, Updated: now})
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if err := meta.Put(keySchema, []byte(strconv.Itoa(SchemaVersion))); err != nil {
			return err
		}
		if _, err := tx.CreateBucket(bucketHistory); err != nil {
			return err
		}
		b, err := tx.CreateBucket(bucketState)
		if err != nil {
			return err
		}
		raw, err := encodeState(st)
		if err != nil {
			return err
		}
		return b.Put(keyState, raw)
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// A link, not a rename: a state file another process created
		// meanwhile is kept.
		if err = os.Link(tmp, m.path); errors.Is(err, fs.ErrExist) {
			err = nil
		}
	}
	if err == nil {
		err = durable.SyncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("slots: creating state file: %w", err)
	}
	m.log.Info("slot state created", "path", m.path, "slots", m.o.Slots[:])
	return nil
}

func (m *Manager) open(readOnly bool) (*bolt.DB, error) {
	db, err := bolt.Open(m.path, 0o600, &bolt.Options{Timeout: m.o.LockTimeout, ReadOnly: readOnly})
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("%w: %s: %w", ErrLocked, m.path, err)
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w: %s vanished", ErrDamaged, m.path)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrChecksum):
		return nil, fmt.Errorf("%w: %s: %w", ErrDamaged, m.path, err)
	default:
		return nil, fmt.Errorf("slots: opening %s: %w", m.path, err)
	}
}

// load reads and checks schema and state inside tx.
func (m *Manager) load(tx *bolt.Tx) (*state, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil || tx.Bucket(bucketState) == nil || tx.Bucket(bucketHistory) == nil {
		return nil, fmt.Errorf("%w: buckets missing", ErrDamaged)
	}
	v := meta.Get(keySchema)
	n, err := strconv.Atoi(string(v))
	if err != nil || n < 1 {
		return nil, fmt.Errorf("%w: schema %q", ErrDamaged, v)
	}
	// A newer file is used as it is only when its compat version says
	// this build can: both firmwares share the state file.
	if _, err := schemaver.Compat(n, meta.Get(keyCompat), SchemaVersion); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSchema, err)
	}
	return decodeState(tx.Bucket(bucketState).Get(keyState), m.o.Slots[:])
}

// read returns the current state.
func (m *Manager) read() (*state, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	db, err := m.open(true)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var st *state
	err = db.View(func(tx *bolt.Tx) error {
		var err error
		st, err = m.load(tx)
		return err
	})
	return st, err
}

// txn is one state transition in progress.
type txn struct {
	tx  *bolt.Tx
	st  *state
	m   *Manager
	now time.Time
	evs []Event
}

func (t *txn) event(e Event) {
	t.st.Seq++
	e.Seq, e.At = t.st.Seq, t.now
	e.Reason = cleanText(e.Reason, maxReason)
	t.evs = append(t.evs, e)
}

// update runs fn on the state and writes the result (and its events) in
// one fsynced transaction. When fn fails nothing is written.
func (m *Manager) update(fn func(t *txn) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	db, err := m.open(false)
	if err != nil {
		return err
	}
	var evs []Event
	err = db.Update(func(tx *bolt.Tx) error {
		st, err := m.load(tx)
		if err != nil {
			return err
		}
		t := &txn{tx: tx, st: st, m: m, now: m.clk.Now().UTC()}
		if err := fn(t); err != nil {
			return err
		}
		if err := st.validate(); err != nil {
			// A bug here, not outside bytes: refuse to write it.
			return fmt.Errorf("slots: transition breaks an invariant: %v", err)
		}
		raw, err := encodeState(st)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketState).Put(keyState, raw); err != nil {
			return err
		}
		h := tx.Bucket(bucketHistory)
		for _, e := range t.evs {
			raw, err := jsonEvent(e)
			if err != nil {
				return err
			}
			if err := h.Put(seqKey(e.Seq), raw); err != nil {
				return err
			}
		}
		evs = t.evs
		return prune(h, m.o.HistoryLimit)
	})
	if cerr := db.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("slots: closing state file: %w", cerr)
	}
	if err != nil {
		return err
	}
	for _, e := range evs {
		m.log.Info("slot event", "kind", e.Kind, "slot", e.Slot, "version", e.Version, "from", e.From, "boot", e.Boot, "reason", e.Reason)
	}
	return nil
}

// cleanText makes s printable UTF-8 of at most max bytes, as decodeEvent
// wants it: reasons come from callers and wrapped errors.
func cleanText(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	for len(s) > max {
		_, n := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-n]
	}
	return s
}

func seqKey(n uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], n)
	return k[:]
}

func prune(h *bolt.Bucket, keep int) error {
	var keys [][]byte
	c := h.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		keys = append(keys, k)
	}
	for len(keys) > keep {
		if err := h.Delete(keys[0]); err != nil {
			return err
		}
		keys = keys[1:]
	}
	return nil
}

// Provision installs the first image into Slots[0] and commits it, on a
// state file without a committed slot (a fresh simulated board). An
// interrupted Provision can be run again.
func (m *Manager) Provision(ctx context.Context, img Image, r io.Reader) error {
	img, err := img.check()
	if err != nil {
		return err
	}
	if !m.installing.CompareAndSwap(false, true) {
		return ErrBusy
	}
	defer m.installing.Store(false)
	target := m.o.Slots[0]
	err = m.update(func(t *txn) error {
		if t.st.Committed != "" {
			return fmt.Errorf("%w: slot %s holds %s", ErrProvisioned, t.st.Committed, t.st.slot(t.st.Committed).Version)
		}
		m.begin(t, target, img)
		return nil
	})
	if err != nil {
		return err
	}
	if err := m.write(ctx, target, img, r); err != nil {
		return m.fail(target, img, err)
	}
	err = m.update(func(t *txn) error {
		s := t.st.slot(target)
		if t.st.Committed != "" || s.State != SlotInstalling || s.SHA256 != img.SHA256 {
			return fmt.Errorf("%w: slot %s changed during provisioning", ErrBusy, target)
		}
		s.State, s.Updated = SlotGood, t.now
		t.st.Committed = target
		t.event(Event{Kind: EventProvision, Slot: target, Version: img.Version})
		return nil
	})
	if err != nil {
		return err
	}
	return m.markCommitted(ctx, target)
}

// Install writes img into the inactive slot and returns its name. The
// committed (and running) slot is never touched; a failed, cancelled or
// interrupted install leaves the inactive slot bad (or "installing") and
// TryNext refuses it. Nothing changes which slot boots until TryNext.
func (m *Manager) Install(ctx context.Context, img Image, r io.Reader) (string, error) {
	img, err := img.check()
	if err != nil {
		return "", err
	}
	if !m.installing.CompareAndSwap(false, true) {
		return "", ErrBusy
	}
	defer m.installing.Store(false)
	var target string
	err = m.update(func(t *txn) error {
		if t.st.Committed == "" {
			return ErrNotProvisioned
		}
		if t.st.Trial != nil {
			return fmt.Errorf("%w: slot %s runs %s on trial", ErrTrialPending, t.st.Trial.Slot, t.st.Trial.Version)
		}
		target = t.st.other(t.st.Committed).Name
		m.begin(t, target, img)
		return nil
	})
	if err != nil {
		return "", err
	}
	if err := m.write(ctx, target, img, r); err != nil {
		return target, m.fail(target, img, err)
	}
	err = m.update(func(t *txn) error {
		s := t.st.slot(target)
		if s.State != SlotInstalling || s.SHA256 != img.SHA256 || t.st.Committed == target {
			return fmt.Errorf("%w: slot %s changed during the install", ErrBusy, target)
		}
		s.State, s.Updated = SlotInstalled, t.now
		t.event(Event{Kind: EventInstall, Slot: target, Version: img.Version})
		return nil
	})
	return target, err
}

func (m *Manager) begin(t *txn, target string, img Image) {
	*t.st.slot(target) = SlotInfo{Name: target, State: SlotInstalling, Version: img.Version,
		SHA256: img.SHA256, Size: img.Size, Updated: t.now}
	t.event(Event{Kind: EventInstallStart, Slot: target, Version: img.Version})
}

// write streams r through the hash check into the updater.
func (m *Manager) write(ctx context.Context, target string, img Image, r io.Reader) error {
	want, _ := parseSum(img.SHA256)
	vr := &verifyingReader{ctx: ctx, r: r, h: sha256.New(), want: want, size: img.Size, max: m.o.MaxImageSize}
	var err error
	if mi, ok := m.o.Updater.(ManifestInstaller); ok {
		err = mi.InstallChecked(ctx, target, vr, func(compatible, version string) error {
			return m.checkManifest(img, compatible, version)
		})
	} else {
		err = m.o.Updater.Install(ctx, target, vr)
	}
	switch {
	case errors.Is(err, ErrMislabelled):
		return fmt.Errorf("slots: install into %s: %w", target, err)
	case vr.err != nil && !errors.Is(vr.err, io.EOF):
		// The image (or ctx) was at fault; the updater's error only echoes it.
		return fmt.Errorf("slots: install into %s: %w", target, vr.err)
	case err != nil:
		return fmt.Errorf("%w: install into %s: %w", ErrUpdater, target, err)
	case !vr.ok:
		return fmt.Errorf("%w: install into %s: %d bytes read", ErrIncomplete, target, vr.n)
	}
	return nil
}

// checkManifest compares an image's own manifest with its description.
func (m *Manager) checkManifest(img Image, compatible, version string) error {
	if version != img.Version {
		return fmt.Errorf("%w: the image says version %q, its description %q", ErrMislabelled, cleanText(version, maxVersion), img.Version)
	}
	if m.o.Compatible != "" && compatible != m.o.Compatible {
		return fmt.Errorf("%w: the image is for %q, this board is %q", ErrMislabelled, cleanText(compatible, maxVersion), m.o.Compatible)
	}
	return nil
}

// fail records a failed install (best effort: when the state file cannot
// be written the slot stays "installing", which is just as unbootable).
func (m *Manager) fail(target string, img Image, cause error) error {
	err := m.update(func(t *txn) error {
		s := t.st.slot(target)
		if s.State != SlotInstalling || s.SHA256 != img.SHA256 {
			return nil
		}
		s.State, s.Updated = SlotBad, t.now
		t.event(Event{Kind: EventInstallFailed, Slot: target, Version: img.Version, Reason: cause.Error()})
		return nil
	})
	if err != nil {
		m.log.Warn("recording the failed install", "slot", target, "err", err)
	}
	return cause
}

// TryNext starts a trial: the next boot (Booted) starts the installed
// inactive slot, at most MaxTrialBoots times before it is rolled back
// unless Commit comes first.
func (m *Manager) TryNext(ctx context.Context) error {
	var tr Trial
	err := m.update(func(t *txn) error {
		if t.st.Committed == "" {
			return ErrNotProvisioned
		}
		if t.st.Trial != nil {
			return fmt.Errorf("%w: slot %s runs %s on trial", ErrTrialPending, t.st.Trial.Slot, t.st.Trial.Version)
		}
		s := t.st.other(t.st.Committed)
		if s.State != SlotInstalled {
			return fmt.Errorf("%w: slot %s is %s", ErrNotInstalled, s.Name, s.State)
		}
		tr = Trial{Slot: s.Name, Version: s.Version, Max: t.st.MaxTrialBoots, Since: t.now}
		t.st.Trial = &tr
		t.event(Event{Kind: EventTrial, Slot: s.Name, Version: s.Version, From: t.st.slot(t.st.Committed).Version})
		return nil
	})
	if err != nil {
		return err
	}
	if uerr := m.o.Updater.MarkActive(ctx, tr.Slot); uerr != nil {
		// Withdraw the trial: the boot loader would not start it.
		cause := fmt.Errorf("%w: activating slot %s: %w", ErrUpdater, tr.Slot, uerr)
		if err := m.rollback(ctx, tr.Slot, "the updater did not activate the slot: "+uerr.Error()); err != nil && !errors.Is(err, ErrNoTrial) {
			m.log.Warn("withdrawing the trial", "err", err)
		}
		return cause
	}
	return nil
}

// Boot is what Booted decided.
type Boot struct {
	// Slot is the slot to run (the simulated board: start posd from it;
	// a BootReporter: the slot that should be running).
	Slot    string `json:"slot"`
	Version string `json:"version"`
	// Trial: Slot runs on trial, boot Attempt of Max; Commit after the
	// health check, else it is rolled back.
	Trial   bool `json:"trial,omitempty"`
	Attempt int  `json:"attempt,omitempty"`
	Max     int  `json:"max,omitempty"`
	// RolledBack: this call rolled a trial back; Reason says why.
	RolledBack bool   `json:"rolled_back,omitempty"`
	Reason     string `json:"reason,omitempty"`
	// Reboot (BootReporter only): the system runs another slot than Slot
	// (a trial was rolled back under it, or a trial awaits its first boot:
	// then Slot is the committed slot and Next the trial); reboot to
	// switch.
	Reboot bool   `json:"reboot,omitempty"`
	Next   string `json:"next,omitempty"`
}

// Booted is called at each start of posd (on the simulated board by the
// supervisor, before it starts posd; on real boards by posd itself). With a
// pending trial it counts a trial boot, or rolls back to the committed slot
// when MaxTrialBoots boots passed without a commit. With a BootReporter it
// also reconciles the boot loader: a boot loader that fell back from the
// trial is a rollback; the committed slot is kept good and primary.
// With a Verifier, the returned slot's content is verified first: a
// damaged trial is rolled back; a damaged committed slot falls back to the
// other one if that one is good.
func (m *Manager) Booted(ctx context.Context) (Boot, error) {
	br, hasBR := m.o.Updater.(BootReporter)
	var booted, primary string
	if hasBR {
		var err error
		if booted, primary, err = br.BootState(ctx); err != nil {
			return Boot{}, fmt.Errorf("%w: boot state: %w", ErrUpdater, err)
		}
	}
	vf, hasVF := m.o.Updater.(Verifier)
	var b Boot
	var rolledBack string // trial slot to mark bad at the updater
	err := m.update(func(t *txn) error {
		b, rolledBack = Boot{}, ""
		st := t.st
		if st.Committed == "" {
			if !hasBR {
				return ErrNotProvisioned
			}
			s := st.slot(booted)
			if s == nil {
				return fmt.Errorf("%w: booted slot %q is not one of %q", ErrUpdater, booted, m.o.Slots)
			}
			*s = SlotInfo{Name: booted, State: SlotGood, Version: m.o.BootVersion, Updated: t.now}
			st.Committed = booted
			t.event(Event{Kind: EventProvision, Slot: booted, Version: m.o.BootVersion, Reason: "adopted the booted slot"})
		}
		if tr := st.Trial; tr != nil {
			reason := ""
			switch {
			case hasBR && booted != tr.Slot && tr.Boots == 0 && primary == tr.Slot:
				// Not rebooted into the trial yet.
				b = Boot{Slot: st.Committed, Version: st.slot(st.Committed).Version, Reboot: true, Next: tr.Slot}
				return nil
			case hasBR && booted != tr.Slot:
				reason = fmt.Sprintf("the boot loader started %s instead of the trial slot (boot %d of %d)", booted, tr.Boots, tr.Max)
			case tr.Boots >= tr.Max:
				reason = fmt.Sprintf("%d trial boots without a commit", tr.Boots)
			case hasVF:
				s := st.slot(tr.Slot)
				if err := vf.Verify(ctx, tr.Slot, s.SHA256, s.Size); err != nil {
					reason = "trial image damaged: " + err.Error()
				}
			}
			if reason == "" {
				tr.Boots++
				t.event(Event{Kind: EventBoot, Slot: tr.Slot, Version: tr.Version, Boot: tr.Boots})
				b = Boot{Slot: tr.Slot, Version: tr.Version, Trial: true, Attempt: tr.Boots, Max: tr.Max}
				return nil
			}
			rolledBack = tr.Slot
			m.rollbackTx(t, reason)
			b.RolledBack, b.Reason = true, reason
		}
		c := st.slot(st.Committed)
		if hasVF {
			if err := vf.Verify(ctx, c.Name, c.SHA256, c.Size); err != nil {
				o := st.other(c.Name)
				if o.State != SlotGood || vf.Verify(ctx, o.Name, o.SHA256, o.Size) != nil {
					return fmt.Errorf("slots: committed slot %s: %w", c.Name, err)
				}
				reason := fmt.Sprintf("committed image %s damaged (%v); back to %s", c.Version, err, o.Version)
				c.State, c.Updated = SlotBad, t.now
				st.Committed = o.Name
				t.event(Event{Kind: EventRollback, Slot: o.Name, Version: o.Version, From: c.Version, Reason: reason})
				rolledBack = c.Name
				b.RolledBack, b.Reason = true, reason
				c = o
			}
		}
		b.Slot, b.Version = c.Name, c.Version
		return nil
	})
	if err != nil {
		return Boot{}, err
	}
	if rolledBack != "" {
		if err := m.o.Updater.MarkBad(ctx, rolledBack); err != nil {
			m.log.Warn("marking the rolled back slot bad", "slot", rolledBack, "err", err)
		}
	}
	if hasBR {
		b.Reboot = b.Reboot || booted != b.Slot
		if !b.Trial && b.Next == "" {
			// Keep the boot loader on the committed slot.
			if booted == b.Slot {
				if err := m.o.Updater.MarkGood(ctx, b.Slot); err != nil {
					return b, fmt.Errorf("%w: marking %s good: %w", ErrUpdater, b.Slot, err)
				}
			}
			if primary != b.Slot || rolledBack != "" {
				if err := m.o.Updater.MarkActive(ctx, b.Slot); err != nil {
					return b, fmt.Errorf("%w: activating %s: %w", ErrUpdater, b.Slot, err)
				}
			}
		}
	} else if rolledBack != "" {
		if err := m.o.Updater.MarkActive(ctx, b.Slot); err != nil {
			m.log.Warn("activating the committed slot", "slot", b.Slot, "err", err)
		}
	}
	return b, nil
}

// Commit makes the trial slot the committed one, after the caller's
// health check passed (posd up, devices self-tested, host echo). running
// is the slot the caller runs (the supervisor's EnvSlot, or Boot.Slot): a
// process that does not run the trial slot, or a trial that has not booted
// yet, gets ErrNoTrial.
func (m *Manager) Commit(ctx context.Context, running string) error {
	st, err := m.read()
	if err != nil {
		return err
	}
	if err := canCommit(st, running); err != nil {
		return err
	}
	// Boot loader first: a crash before the state is written only costs a
	// trial boot; the health check commits again.
	if err := m.o.Updater.MarkGood(ctx, running); err != nil {
		return fmt.Errorf("%w: marking %s good: %w", ErrUpdater, running, err)
	}
	return m.update(func(t *txn) error {
		if err := canCommit(t.st, running); err != nil {
			return err
		}
		tr := t.st.Trial
		from := t.st.slot(t.st.Committed).Version
		s := t.st.slot(tr.Slot)
		s.State, s.Updated = SlotGood, t.now
		t.st.Committed, t.st.Trial = tr.Slot, nil
		t.event(Event{Kind: EventCommit, Slot: tr.Slot, Version: tr.Version, From: from, Boot: tr.Boots})
		return nil
	})
}

func canCommit(st *state, running string) error {
	switch tr := st.Trial; {
	case tr == nil:
		return ErrNoTrial
	case tr.Slot != running:
		return fmt.Errorf("%w: slot %s is on trial, the caller runs %q", ErrNoTrial, tr.Slot, running)
	case tr.Boots == 0:
		return fmt.Errorf("%w: slot %s has not booted yet", ErrNoTrial, tr.Slot)
	}
	return nil
}

// Rollback ends the pending trial: its slot is marked bad and the committed
// slot boots next. reason is recorded (a failed health check says which).
func (m *Manager) Rollback(ctx context.Context, reason string) error {
	st, err := m.read()
	if err != nil {
		return err
	}
	if st.Trial == nil {
		return ErrNoTrial
	}
	return m.rollback(ctx, st.Trial.Slot, reason)
}

func (m *Manager) rollback(ctx context.Context, slot, reason string) error {
	var committed string
	err := m.update(func(t *txn) error {
		if t.st.Trial == nil || t.st.Trial.Slot != slot {
			return ErrNoTrial
		}
		m.rollbackTx(t, reason)
		committed = t.st.Committed
		return nil
	})
	if err != nil {
		return err
	}
	var errs []error
	if err := m.o.Updater.MarkBad(ctx, slot); err != nil {
		errs = append(errs, fmt.Errorf("marking %s bad: %w", slot, err))
	}
	if err := m.o.Updater.MarkActive(ctx, committed); err != nil {
		errs = append(errs, fmt.Errorf("activating %s: %w", committed, err))
	}
	if len(errs) > 0 {
		// The state is rolled back; Booted reconciles the boot loader.
		return fmt.Errorf("%w: rolled back, but %w", ErrUpdater, errors.Join(errs...))
	}
	return nil
}

func (m *Manager) rollbackTx(t *txn, reason string) {
	tr := t.st.Trial
	s := t.st.slot(tr.Slot)
	s.State, s.Updated = SlotBad, t.now
	t.st.Trial = nil
	c := t.st.slot(t.st.Committed)
	t.event(Event{Kind: EventRollback, Slot: c.Name, Version: c.Version, From: tr.Version, Boot: tr.Boots, Reason: reason})
}

// markCommitted tells the updater that slot is committed and primary.
func (m *Manager) markCommitted(ctx context.Context, slot string) error {
	if err := m.o.Updater.MarkGood(ctx, slot); err != nil {
		return fmt.Errorf("%w: marking %s good: %w", ErrUpdater, slot, err)
	}
	if err := m.o.Updater.MarkActive(ctx, slot); err != nil {
		return fmt.Errorf("%w: activating %s: %w", ErrUpdater, slot, err)
	}
	return nil
}

// Status is the A/B state for posctl status and the console.
type Status struct {
	// Active is the slot the next start runs: the trial slot while a trial
	// is pending, else the committed one.
	Active           string     `json:"active"`
	ActiveVersion    string     `json:"active_version"`
	Committed        string     `json:"committed"`
	CommittedVersion string     `json:"committed_version"`
	Trial            *Trial     `json:"trial,omitempty"`
	MaxTrialBoots    int        `json:"max_trial_boots"`
	Slots            []SlotInfo `json:"slots"`
	Last             *Event     `json:"last,omitempty"`
}

// Status reads the current state and the last event.
func (m *Manager) Status(ctx context.Context) (Status, error) {
	var s Status
	err := m.view(func(tx *bolt.Tx, st *state) error {
		c := st.clone()
		s = Status{Committed: c.Committed, Trial: c.Trial, MaxTrialBoots: c.MaxTrialBoots, Slots: c.Slots, Active: c.active()}
		if c.Committed != "" {
			s.CommittedVersion = c.slot(c.Committed).Version
		}
		if s.Active != "" {
			s.ActiveVersion = c.slot(s.Active).Version
		}
		if k, v := tx.Bucket(bucketHistory).Cursor().Last(); k != nil {
			e, err := decodeEvent(v)
			if err != nil {
				return err
			}
			s.Last = &e
		}
		return nil
	})
	return s, err
}

// History returns up to n of the latest events, oldest first (n <= 0: all
// kept).
func (m *Manager) History(ctx context.Context, n int) ([]Event, error) {
	var evs []Event
	err := m.view(func(tx *bolt.Tx, _ *state) error {
		c := tx.Bucket(bucketHistory).Cursor()
		for k, v := c.Last(); k != nil && (n <= 0 || len(evs) < n); k, v = c.Prev() {
			e, err := decodeEvent(v)
			if err != nil {
				return err
			}
			evs = append(evs, e)
		}
		return nil
	})
	for i, j := 0, len(evs)-1; i < j; i, j = i+1, j-1 {
		evs[i], evs[j] = evs[j], evs[i]
	}
	return evs, err
}

func (m *Manager) view(fn func(tx *bolt.Tx, st *state) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	db, err := m.open(true)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		st, err := m.load(tx)
		if err != nil {
			return err
		}
		return fn(tx, st)
	})
}

// verifyingReader passes the image through, counting and hashing it; at
// the end it returns io.EOF only when size and hash match, so an updater
// that reads to io.EOF never finishes a wrong image.
type verifyingReader struct {
	ctx       context.Context
	r         io.Reader
	h         hash.Hash
	want      [32]byte
	size, max int64
	n         int64
	ok        bool
	err       error
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if err := v.ctx.Err(); err != nil {
		v.err = err
		return 0, err
	}
	limit := v.max
	if v.size > 0 {
		limit = v.size
	}
	if int64(len(p)) > limit-v.n+1 {
		p = p[:limit-v.n+1]
	}
	n, err := v.r.Read(p)
	v.n += int64(n)
	v.h.Write(p[:n])
	if v.n > limit {
		v.err = fmt.Errorf("%w: more than %d bytes", ErrSize, limit)
		return 0, v.err
	}
	switch {
	case err == io.EOF:
		var got [32]byte
		v.h.Sum(got[:0])
		switch {
		case v.size > 0 && v.n != v.size:
			v.err = fmt.Errorf("%w: %d bytes, expected %d", ErrSize, v.n, v.size)
		case got != v.want:
			v.err = fmt.Errorf("%w: got %s, want %s", ErrHash, shortSum(got), shortSum(v.want))
		default:
			v.ok, v.err = true, io.EOF
		}
		if n > 0 && v.ok {
			return n, nil
		}
		if !v.ok {
			return 0, v.err
		}
		return 0, io.EOF
	case err != nil:
		v.err = fmt.Errorf("slots: reading the image: %w", err)
		return n, v.err
	}
	return n, nil
}

func jsonEvent(e Event) ([]byte, error) {
	b, err := encodeEvent(e)
	if err != nil {
		return nil, fmt.Errorf("slots: encoding event: %w", err)
	}
	return b, nil
}

// ShortDigest is a hex SHA-256 digest (an image's, a parameter bundle's)
// as error texts, the slot history and the service console show it: its
// first 12 hex digits and "...", enough to tell images apart and to find
// them at the TMS (as git shortens commit ids), and short of the 16 in a
// row the console withholds as key material. A shorter h is returned as
// it is.
func ShortDigest(h string) string {
	const shown = 12
	if len(h) <= shown {
		return h
	}
	return h[:shown] + "..."
}

// shortSum is ShortDigest of sum.
func shortSum(sum [32]byte) string { return ShortDigest(hex.EncodeToString(sum[:])) }
