package slots

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"posd/terminal/durable"
)

// The directory layout of the simulated board, and the contract between
// cmd/posd-supervisor and the posd it starts.
const (
	// StateFile is the state file's name inside the slots directory.
	StateFile = "state.db"
	// BinaryName is the image file inside each slot directory: the image
	// of the simulated board is the posd executable itself.
	BinaryName = "posd"

	// EnvDir names the slots directory in posd's environment; posd opens
	// the Manager with OpenDir(os.Getenv(EnvDir), ...) to Commit or
	// Rollback.
	EnvDir = "POSD_SLOTS_DIR"
	// EnvSlot is the slot posd runs from (Commit's argument).
	EnvSlot = "POSD_SLOT"
	// EnvVersion is the version of that slot.
	EnvVersion = "POSD_SLOT_VERSION"
	// EnvTrial is "1" on a trial boot (then EnvBoot is "attempt/max"),
	// "0" otherwise.
	EnvTrial = "POSD_SLOT_TRIAL"
	EnvBoot  = "POSD_SLOT_BOOT"
)

// DirUpdater keeps the slots of the simulated board as directories:
// <Dir>/<slot>/posd is the executable (the image is that file, byte for
// byte; its SHA-256 is the image hash). The boot marks are no-ops: the
// state file says which slot the supervisor runs.
type DirUpdater struct {
	Dir string
}

// OpenDir opens the Manager of the slots directory dir (state in
// dir/StateFile); o.Updater defaults to a DirUpdater on dir.
func OpenDir(dir string, o Options) (*Manager, error) {
	if o.Updater == nil {
		o.Updater = &DirUpdater{Dir: dir}
	}
	return Open(filepath.Join(dir, StateFile), o)
}

// Path is the executable of slot.
func (d *DirUpdater) Path(slot string) string { return filepath.Join(d.Dir, slot, BinaryName) }

func (d *DirUpdater) slotDir(slot string) (string, error) {
	if slot == "" || slot == "." || slot == ".." || strings.ContainsAny(slot, `/\`) {
		return "", fmt.Errorf("slots: bad slot name %q", slot)
	}
	return filepath.Join(d.Dir, slot), nil
}

// Install writes image to <slot>/.posd.part, syncs it, and renames it to
// <slot>/posd (mode 0755) only when image reached io.EOF; the old binary is
// removed first, so an interrupted install leaves no executable behind.
func (d *DirUpdater) Install(ctx context.Context, slot string, image io.Reader) error {
	dir, err := d.slotDir(slot)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	final := filepath.Join(dir, BinaryName)
	if err := os.Remove(final); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	part := filepath.Join(dir, "."+BinaryName+".part")
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, image)
	if err == nil {
		err = f.Chmod(0o755)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = os.Rename(part, final)
	}
	if err != nil {
		os.Remove(part)
		return err
	}
	return durable.SyncDir(dir)
}

// MarkActive is a no-op: the supervisor asks the Manager which slot to run.
func (d *DirUpdater) MarkActive(context.Context, string) error { return nil }

// MarkGood is a no-op.
func (d *DirUpdater) MarkGood(context.Context, string) error { return nil }

// MarkBad is a no-op: a bad slot is never run, and the next install
// overwrites it.
func (d *DirUpdater) MarkBad(context.Context, string) error { return nil }

// Verify hashes <slot>/posd; an error wraps ErrSlotDamaged when the file
// is missing, of another size, or hashes to something else.
func (d *DirUpdater) Verify(ctx context.Context, slot, sha256Hex string, size int64) error {
	dir, err := d.slotDir(slot)
	if err != nil {
		return err
	}
	want, err := parseSum(sha256Hex)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSlotDamaged, err)
	}
	f, err := os.Open(filepath.Join(dir, BinaryName))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSlotDamaged, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, &ctxReader{ctx, f})
	if err != nil {
		return fmt.Errorf("slots: hashing slot %s: %w", slot, err)
	}
	if size > 0 && n != size {
		return fmt.Errorf("%w: %s has %d bytes, expected %d", ErrSlotDamaged, f.Name(), n, size)
	}
	var got [32]byte
	h.Sum(got[:0])
	if got != want {
		return fmt.Errorf("%w: %s hashes to %s, want %s", ErrSlotDamaged, f.Name(), shortSum(got), shortSum(want))
	}
	return nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
