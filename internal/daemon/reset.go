package daemon

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"posd/board/kek"
	"posd/terminal/console"
	"posd/terminal/durable"
	"posd/terminal/ota"
	"posd/terminal/shred"
	"posd/terminal/store"
)

// A factory reset, as the next start carries it out (eraseIfReset, then
// finishReset once the new database is open):
//
//  1. the console's audit trail is read out of posd.db and saved, durably,
//     in resetAuditFile (or, when posd.db cannot be read safely, the reason
//     it is lost);
//  2. the advice key slots are overwritten; posd.db, its marker and the
//     KEK are removed, and the updates' downloads and polling schedule
//     (ota.Forget: their trusted roots and metadata stay), the directory
//     synced;
//  3. the new, empty posd.db is made (store.Open);
//  4. the marker resetMarker is removed, the directory synced;
//  5. the saved trail is imported into the new database with an entry
//     saying the reset was carried out, in one transaction that also
//     records the trail's id;
//  6. resetAuditFile is removed (a copy left behind imports nothing
//     again, and a later reset, with another marker, replaces it).
//
// posd may die at any point. Until step 4 the marker is there, so the next
// start erases again (it keeps a saved trail that belongs to this marker;
// the old posd.db may be half gone, the new one half made: a database
// file cut short while bbolt made it would fail its check, and the
// terminal would not start); nothing opens the old database or KEK after
// step 1. After step 4 the saved trail waits for step 5, which changes
// nothing when the database already has that id, so the trail is neither
// lost nor listed twice.

// resetMarker is the file a factory reset leaves in the data directory:
// the next start erases the database (keys, records, parameters) and the
// KEK before opening anything. The DUKPT mark file stays, so no KSN is
// ever used twice; so does the counters' mark (store.MarkFile): the new
// database's STANs, invoice numbers, ids and batches continue past it.
const resetMarker = "factory-reset"

// otaDir is the update client's directory in the data directory.
const otaDir = "ota"

// resetAuditFile holds the console's audit trail across a factory reset
// (resetAudit as JSON, 0600): from before posd.db is removed until the new
// database has it.
const resetAuditFile = "console-audit.reset"

// maxResetAudit bounds what importResetAudit reads of resetAuditFile:
// MaxAudit entries of a few hundred bytes are a few megabytes.
const maxResetAudit = 32 << 20

// resetErases are the files a factory reset removes from the data
// directory: the database and its marker, and the device KEK as the board
// keeps it (the file, or the TPM-sealed blob; kek.key is where builds
// before board/kek kept the file).
var resetErases = []string{"posd.db", "posd.db" + store.MarkerSuffix, kek.FileName, kek.SealedName, "kek.key"}

// resetAudit is resetAuditFile's content. Its entries are the console's
// audit entries: engineer ids, roles, command names, KCVs and KSNs, never
// a token, a key, a component or card data (see console.AuditEntry).
type resetAudit struct {
	V int `json:"v"`
	// ID names this trail: the import records it in the new database.
	ID string `json:"id"`
	// Marker is the reset marker's content (when the console asked for
	// the reset); a saved trail with another one is from an earlier reset.
	Marker string `json:"marker"`
	// Saved is when this start began to carry out the reset.
	Saved time.Time `json:"saved"`
	// Erased are the files that were there to erase.
	Erased []string `json:"erased"`
	// Lost says why the trail of before the reset could not be read
	// ("" when it was); LostErr is the error, for the log only.
	Lost    string `json:"lost,omitempty"`
	LostErr string `json:"lost_err,omitempty"`
	// Unreadable entries of the old trail were left out.
	Unreadable int          `json:"unreadable,omitempty"`
	Entries    []savedEntry `json:"entries"`
}

type savedEntry struct {
	Seq  uint64 `json:"seq"`
	T    int64  `json:"t"`
	Eng  string `json:"eng,omitempty"`
	Role string `json:"role,omitempty"`
	Ev   string `json:"ev"`
	D    string `json:"d,omitempty"`
}

// resetHooks is carried from Open's options into a factory reset. Its
// step, when set, is called as each step completes (the crash test stops
// posd there and kills it): "saved" (trail saved, nothing erased),
// "wiped" (advice key slots overwritten and removed), "erased" (files
// removed, marker still there), "opened" (new database made, marker
// still there), "unmarked" (marker removed, trail not imported),
// "imported" (trail imported, its file still there), "done" (its file
// removed).
type resetHooks struct {
	step func(name string)
}

func (h resetHooks) done(name string) {
	if h.step != nil {
		h.step(name)
	}
}

// eraseIfReset carries out a factory reset left by the console: the
// database and the KEK go before anything opens them, after the console's
// audit trail is saved aside; finishReset completes it once the new
// database is made. check is the check posd.db gets before it is
// opened (store.Opts.Check; nil: in this process): the trail is read only
// from a file that passed it. A database that fails it, or whose trail
// cannot be read, is erased all the same (the terminal must be
// recoverable) and the new trail says the old one is lost. It reports
// whether it erased.
func eraseIfReset(dataDir string, check func(path string) error, hooks resetHooks) (bool, error) {
	marker := filepath.Join(dataDir, resetMarker)
	stamp, err := os.ReadFile(marker)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("factory reset: %w", err)
	}
	side := filepath.Join(dataDir, resetAuditFile)
	if saved, err := readResetAudit(side); err != nil || saved.Marker != string(stamp) {
		// Not saved yet for this reset (or unreadable, or an earlier
		// reset's, whose import committed before its file could go).
		if err := saveResetAudit(dataDir, string(stamp), check); err != nil {
			return false, err
		}
	}
	hooks.done("saved")
	// The keys of offline approvals' card data are overwritten in place
	// before they go: copies of the sealed data may outlive posd.db's
	// removal in the file system's free blocks.
	if err := shred.Wipe(filepath.Join(dataDir, adviceSlotsFile)); err != nil {
		return false, fmt.Errorf("factory reset: %w", err)
	}
	hooks.done("wiped")
	for _, name := range resetErases {
		if err := os.Remove(filepath.Join(dataDir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return false, fmt.Errorf("factory reset: %w", err)
		}
	}
	// The updates' downloads and polling schedule go too (a reset
	// terminal checks at once, with nothing of the old state); their
	// trust stays (ota.Forget): the root of trust is never rolled back.
	if err := ota.Forget(filepath.Join(dataDir, otaDir)); err != nil {
		return false, fmt.Errorf("factory reset: %w", err)
	}
	// The removals are on disk before the marker goes (finishReset): a
	// power cut must not bring back the old database or KEK without the
	// marker that erases them.
	if err := durable.SyncDir(dataDir); err != nil {
		return false, fmt.Errorf("factory reset: %w", err)
	}
	hooks.done("erased")
	return true, nil
}

// finishReset completes a factory reset eraseIfReset carried out, once
// the new database db is open: the marker goes, then the saved audit
// trail is imported (importResetAudit).
func finishReset(db *bolt.DB, dataDir string, log *slog.Logger, hooks resetHooks) error {
	hooks.done("opened")
	if err := os.Remove(filepath.Join(dataDir, resetMarker)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("factory reset: %w", err)
	}
	// The marker's removal is on disk before anything is written to the
	// new database: a marker come back would erase it.
	if err := durable.SyncDir(dataDir); err != nil {
		return fmt.Errorf("factory reset: %w", err)
	}
	hooks.done("unmarked")
	return importResetAudit(db, dataDir, log, hooks)
}

// saveResetAudit reads the audit trail out of posd.db, once check passed
// it, and saves it in resetAuditFile with what the reset erases.
func saveResetAudit(dataDir, stamp string, check func(path string) error) error {
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return fmt.Errorf("factory reset: %w", err)
	}
	sa := resetAudit{V: 1, ID: hex.EncodeToString(id), Marker: stamp, Saved: time.Now().UTC(), Entries: []savedEntry{}}
	for _, name := range resetErases {
		if _, err := os.Stat(filepath.Join(dataDir, name)); err == nil {
			sa.Erased = append(sa.Erased, name)
		}
	}
	db := filepath.Join(dataDir, "posd.db")
	if check == nil {
		check = func(path string) error { return store.Check(path, 2*time.Second) }
	}
	switch _, err := os.Stat(db); {
	case errors.Is(err, os.ErrNotExist):
		sa.Lost = "posd.db was missing"
	case err != nil:
		return fmt.Errorf("factory reset: %w", err)
	default:
		switch err := check(db); {
		case errors.Is(err, store.ErrInUse):
			// Another posd runs on this data directory: erase nothing.
			return fmt.Errorf("factory reset: %w", err)
		case err != nil:
			sa.Lost, sa.LostErr = "posd.db failed its check", err.Error()
		default:
			entries, unreadable, err := console.ReadAuditFile(db, 2*time.Second)
			if err != nil {
				sa.Lost, sa.LostErr = "its audit log could not be read", err.Error()
				break
			}
			sa.Unreadable = unreadable
			for _, e := range entries {
				sa.Entries = append(sa.Entries, savedEntry{Seq: e.Seq, T: e.Time.UnixNano(), Eng: e.Engineer, Role: e.Role, Ev: e.Event, D: e.Detail})
			}
		}
	}
	b, err := json.Marshal(sa)
	if err != nil {
		return fmt.Errorf("factory reset: %w", err)
	}
	if err := durable.WriteFile(filepath.Join(dataDir, resetAuditFile), b, 0o600); err != nil {
		return fmt.Errorf("factory reset: saving the audit trail: %w", err)
	}
	return nil
}

// readResetAudit reads resetAuditFile (os.ErrNotExist when there is none).
func readResetAudit(path string) (resetAudit, error) {
	var sa resetAudit
	f, err := os.Open(path)
	if err != nil {
		return sa, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxResetAudit+1))
	switch {
	case err != nil:
		return sa, err
	case len(b) > maxResetAudit:
		return sa, fmt.Errorf("%s is larger than %d bytes", path, maxResetAudit)
	}
	if err := json.Unmarshal(b, &sa); err != nil {
		return sa, fmt.Errorf("%s: %w", path, err)
	}
	if sa.V != 1 || sa.ID == "" {
		return sa, fmt.Errorf("%s: version %d, id %q", path, sa.V, sa.ID)
	}
	return sa, nil
}

// importResetAudit brings the audit trail a factory reset saved into the
// new database db, with the entry that records the reset, then removes
// the saved copy. An unreadable copy is kept aside (resetAuditFile +
// ".damaged") and the new trail says the old one is lost: the terminal
// starts.
func importResetAudit(db *bolt.DB, dataDir string, log *slog.Logger, hooks resetHooks) error {
	side := filepath.Join(dataDir, resetAuditFile)
	sa, err := readResetAudit(side)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		log.Error("factory reset: the saved audit trail is unreadable; the audit trail of before the reset is lost", "err", err)
		// Named by its content: recorded once even if posd dies before
		// the file is moved aside.
		id, herr := fileID(side)
		if herr != nil {
			return fmt.Errorf("factory reset: the saved audit trail: %w", herr)
		}
		note := console.AuditEntry{Time: time.Now(), Event: "factory_reset",
			Detail: "carried out at start; the audit trail of before the reset is lost: its saved copy was unreadable"}
		if _, err := console.ImportAudit(db, id, nil, note); err != nil {
			return fmt.Errorf("factory reset: recording the lost audit trail: %w", err)
		}
		hooks.done("imported")
		if err := os.Rename(side, side+".damaged"); err != nil {
			return fmt.Errorf("factory reset: %w", err)
		}
		if err := durable.SyncDir(dataDir); err != nil {
			return fmt.Errorf("factory reset: %w", err)
		}
		hooks.done("done")
		return nil
	}
	entries := make([]console.AuditEntry, 0, len(sa.Entries))
	for _, e := range sa.Entries {
		entries = append(entries, console.AuditEntry{Seq: e.Seq, Time: time.Unix(0, e.T), Engineer: e.Eng, Role: e.Role, Event: e.Ev, Detail: e.D})
	}
	requested := strings.TrimSpace(sa.Marker)
	if len(requested) > 48 {
		requested = requested[:48]
	}
	detail := fmt.Sprintf("carried out at start: erased %s; requested %s", orDefault(strings.Join(sa.Erased, ", "), "nothing (no files)"), orDefault(requested, "(no time)"))
	switch {
	case sa.Lost != "":
		detail += "; the audit trail of before the reset is lost: " + sa.Lost
	case sa.Unreadable > 0:
		detail += fmt.Sprintf("; %d audit entries of before kept, %d unreadable ones lost", len(entries), sa.Unreadable)
	default:
		detail += fmt.Sprintf("; %d audit entries of before kept", len(entries))
	}
	imported, err := console.ImportAudit(db, sa.ID, entries, console.AuditEntry{Time: sa.Saved, Event: "factory_reset", Detail: detail})
	if err != nil {
		return fmt.Errorf("factory reset: importing the saved audit trail: %w", err)
	}
	if imported {
		if sa.Lost != "" {
			log.Error("factory reset: the audit trail of before the reset is lost", "why", sa.Lost, "err", sa.LostErr)
		} else {
			log.Info("factory reset: audit trail kept", "entries", len(entries), "unreadable", sa.Unreadable)
		}
	}
	hooks.done("imported")
	// A copy left behind is harmless: the next start imports nothing from
	// it (the database has its id), and a later reset does not take it for
	// its own (another marker).
	if err := os.Remove(side); err != nil {
		log.Warn("factory reset: the imported audit trail's file could not be removed", "err", err)
		return nil
	}
	if err := durable.SyncDir(dataDir); err != nil {
		log.Warn("factory reset: syncing the data directory", "err", err)
	}
	hooks.done("done")
	return nil
}

// fileID names a file by a hash of its content (its first maxResetAudit
// bytes).
func fileID(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, maxResetAudit)); err != nil {
		return "", err
	}
	return "unreadable-" + hex.EncodeToString(h.Sum(nil)[:16]), nil
}
