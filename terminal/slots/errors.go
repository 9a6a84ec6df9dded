package slots

import "errors"

// Errors returned by this package, wrapped with %w; decide with errors.Is.
// Errors of the Updater are wrapped twice: with ErrUpdater and with the
// updater's own error, so callers can test for both.
var (
	// ErrSchema: the state file was written by a newer (or unknown) schema
	// version; this build refuses to touch it. Fatal.
	ErrSchema = errors.New("slots: unsupported state schema version")

	// ErrDamaged: the state file is not a bbolt file, lacks its buckets, or
	// holds a state that does not decode or breaks an invariant (two slots,
	// the committed one good, a trial only on the other, installed slot...).
	// The file is left as it was. Fatal: the caller must not guess which
	// slot to run.
	ErrDamaged = errors.New("slots: state file damaged")

	// ErrSlotNames: the state file names other slots than Options.Slots
	// (the board profile changed under an existing state file). Fatal.
	ErrSlotNames = errors.New("slots: state file names other slots")

	// ErrLocked: another process held the state file longer than
	// Options.LockTimeout. Transient: try again.
	ErrLocked = errors.New("slots: state file locked by another process")

	// ErrNotProvisioned: no slot is committed yet (a fresh sim board:
	// Provision first).
	ErrNotProvisioned = errors.New("slots: no committed slot")

	// ErrProvisioned: Provision on a state that already has a committed
	// slot.
	ErrProvisioned = errors.New("slots: already provisioned")

	// ErrBusy: another Install or Provision of this Manager is running.
	// Transient.
	ErrBusy = errors.New("slots: an install is already running")

	// ErrTrialPending: Install or TryNext while a trial is pending; commit
	// or roll it back first.
	ErrTrialPending = errors.New("slots: a trial is pending")

	// ErrNoTrial: Commit or Rollback without a pending trial, or Commit by a
	// process that does not run the trial slot, or before the trial slot
	// has booted.
	ErrNoTrial = errors.New("slots: no trial to commit or roll back")

	// ErrNotInstalled: TryNext, but the inactive slot holds no complete,
	// verified image (never installed, install failed or interrupted, or
	// rolled back).
	ErrNotInstalled = errors.New("slots: inactive slot holds no installed image")

	// ErrImage: the Image description is unusable (empty or overlong
	// version, hash not 64 hex digits, negative size). Nothing was written.
	ErrImage = errors.New("slots: bad image description")

	// ErrHash: the image bytes do not hash to Image.SHA256. The slot is
	// marked bad; the active slot is untouched.
	ErrHash = errors.New("slots: image hash mismatch")

	// ErrSize: the image is longer than Image.Size or Options.MaxImageSize,
	// or shorter than Image.Size. The slot is marked bad.
	ErrSize = errors.New("slots: image size mismatch")

	// ErrIncomplete: the Updater returned without reading the image to its
	// end, so its hash was never checked. The slot is marked bad.
	ErrIncomplete = errors.New("slots: updater did not read the whole image")

	// ErrSlotDamaged: a slot's content no longer matches the hash recorded
	// when it was installed (Verifier backends). Booted rolls a damaged
	// trial back, and falls back from a damaged committed slot to the other
	// one when that one is good; otherwise this error is fatal.
	ErrSlotDamaged = errors.New("slots: slot content does not match its hash")

	// ErrUpdater: the backend failed (write error, RAUC refused, D-Bus
	// down). After Install the slot is marked bad; after TryNext the trial
	// is withdrawn. Usually transient.
	ErrUpdater = errors.New("slots: updater failed")

	// ErrMislabelled: the image's own manifest (a RAUC bundle's version,
	// or its compatible when Options.Compatible names one) is not what its
	// description says; refused before the slot is written
	// (ManifestInstaller).
	ErrMislabelled = errors.New("slots: image manifest does not match its description")
)
