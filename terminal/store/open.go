package store

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"posd/conn/clock"
	"posd/terminal/durable"
)

// Opts configure Open.
type Opts struct {
	// Timeout waits for the file lock held by another process.
	Timeout time.Duration
	// Clock stamps the records; nil is the wall clock.
	Clock clock.Clock
	// Rand makes the database's instance id; nil is crypto/rand.
	Rand io.Reader
	// Check checks an existing file before Open uses it (nil: Check,
	// in this process). bbolt's consistency check runs in a goroutine of
	// its own, where a panic or a memory fault, which some damaged files
	// cause, cannot be recovered and ends the process; some damaged files
	// make it loop. A daemon passes CheckInChild, so that such a file is
	// refused (ErrDamaged) and not fatal.
	Check func(path string) error
	// KeepReadable: this is a trial firmware, and the firmware it would
	// be rolled back to must still be able to use the file. A migration
	// that would prevent it is refused (ErrTrialMigration, the file
	// untouched): the trial then fails to start and is rolled back.
	KeepReadable bool
	// Reserve is the free space (bytes) the data partition keeps for the
	// transactions in progress (CheckRoom); 0 is DefaultReserve.
	Reserve uint64
	// Statfs measures the data partition; nil is the running system's.
	Statfs Statfs
	// Fault, when set, is asked before each write transaction of Do
	// commits: an error fails the commit (nothing of it is written), as a
	// full or failing disk would. The seam for tests of what the callers
	// do when the disk fails in the middle of their work; nil in use.
	Fault func() error
	// Logger says what Open changed on its own (a file's mode made the
	// owner's alone, counters moved past their mark); nil discards.
	Logger *slog.Logger
	// Mark is the file of the counters' high-water mark (mark.go;
	// MarkFile in the data directory), kept outside the database so that
	// an older copy of it cannot hand out again a STAN, an invoice
	// number, a record id or a batch number. Empty: none (tests).
	Mark string
}

// MarkerSuffix names the marker kept next to the database file: it says
// that this data directory has had a database, and which one.
const MarkerSuffix = ".instance"

// marker is the content of the marker file.
type marker struct {
	Instance string    `json:"instance"`
	Created  time.Time `json:"created"`
}

// Open opens the database at path (mode 0600), after checking that it is
// whole. What it does depends on what it finds:
//
//   - neither the file nor its marker (path + MarkerSuffix): a fresh data
//     directory; the database is created whole at path + ".new" and
//     renamed into place (a creation cut short leaves no posd.db), then
//     the marker is written.
//   - the marker but no file: ErrMissing. The database vanished; posd must
//     not start again from nothing (ids, STANs and pending reversals would
//     be lost).
//   - a file that is empty, truncated, or fails bbolt's consistency check
//     (or makes bbolt panic or fault while it is read): ErrDamaged, and the
//     file is left exactly as it was.
//   - a file whose instance id differs from the marker's: ErrForeign.
//   - a file without a marker (written before markers existed): the marker
//     is written.
//
// Each error says how an engineer recovers.
func Open(path string, opts *Opts) (*DB, error) {
	o := Opts{Timeout: 2 * time.Second}
	if opts != nil {
		o = *opts
	}
	o.Clock = clock.Or(o.Clock)
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	mk, err := readMarker(path + MarkerSuffix)
	if err != nil {
		return nil, err
	}
	var cm *counterMark
	if o.Mark != "" {
		if cm, err = loadMark(o.Mark); err != nil {
			return nil, err
		}
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && mk != nil:
		return nil, fmt.Errorf("%w: %s is missing, but this data directory has had a database since %s (instance %s). "+
			"Restore posd.db from a backup; or, to start this terminal again with an empty database (its transactions, "+
			"counters and keys are lost, and the DUKPT key must be loaded again), remove %s",
			ErrMissing, path, mk.Created.Format(time.RFC3339), mk.Instance, filepath.Base(path)+MarkerSuffix)
	case errors.Is(err, fs.ErrNotExist):
		// Fresh data directory: the database is made whole aside and
		// renamed into place, so that a start cut short (power lost on
		// the production line) leaves no half-made posd.db that the next
		// start would have to refuse as damaged.
		if err := create(path, o); err != nil {
			return nil, storageError(path, err)
		}
	case err != nil:
		return nil, fmt.Errorf("store: %w", err)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrDamaged, path)
	case fi.Size() == 0:
		return nil, damaged(path, errors.New("the file is empty"))
	default:
		check := o.Check
		if check == nil {
			check = func(path string) error { return Check(path, o.Timeout) }
		}
		if err := check(path); err != nil {
			return nil, err
		}
		if err := ownerOnly(path, o.Logger); err != nil {
			return nil, storageError(path, err)
		}
	}
	if mk != nil {
		if err := ownerOnly(path+MarkerSuffix, o.Logger); err != nil {
			return nil, storageError(path, err)
		}
	}

	b, err := protect(func() (*bolt.DB, error) {
		return bolt.Open(path, 0o600, &bolt.Options{Timeout: o.Timeout})
	})
	if err != nil {
		if errors.Is(err, ErrDamaged) {
			return nil, damaged(path, cause(err))
		}
		return nil, storageError(path, fmt.Errorf("store: open: %w", err))
	}
	d, err := handle(b, o)
	if err != nil {
		b.Close()
		return nil, err
	}
	// init reads and writes pages the check passed; a fault or a bbolt
	// panic here still refuses the file rather than ending posd.
	if _, err := protect(func() (struct{}, error) { return struct{}{}, d.init(o.KeepReadable) }); err != nil {
		b.Close()
		if errors.Is(err, ErrDamaged) {
			return nil, damaged(path, cause(err))
		}
		return nil, storageError(path, err)
	}
	switch {
	case mk == nil:
		if err := writeMarker(path+MarkerSuffix, marker{Instance: d.instance, Created: o.Clock.Now().UTC()}); err != nil {
			b.Close()
			return nil, storageError(path, err)
		}
	case mk.Instance != d.instance:
		b.Close()
		return nil, fmt.Errorf("%w: %s has instance %s but this data directory's marker names %s: the file comes from "+
			"another terminal or another data directory. Restore this terminal's own posd.db from a backup",
			ErrForeign, path, d.instance, mk.Instance)
	}
	d.log = o.Logger
	if cm != nil {
		d.mark = cm
		if err := d.reconcile(o.Logger); err != nil {
			b.Close()
			return nil, storageError(path, err)
		}
	}
	// No transaction is open yet: the free pages can be zeroed.
	if _, err := scrub(b); err != nil {
		b.Close()
		return nil, storageError(path, fmt.Errorf("store: erasing the free pages of %s: %w", path, err))
	}
	return d, nil
}

// ownerOnly takes the group's and others' permissions away from the file
// at path: the database holds the key store and sealed card data, and a
// copy restored by hand from a backup gets the umask's mode, often 0644.
// A link is left alone: what it names is not posd's to change.
func ownerOnly(path string, log *slog.Logger) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if m := fi.Mode().Perm(); fi.Mode().IsRegular() && m&0o077 != 0 {
		if err := os.Chmod(path, m&0o700); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		if log != nil {
			log.Warn("database file was open to other users; restricting it to posd", "file", path,
				"mode", m.String(), "now", (m & 0o700).String())
		}
	}
	return nil
}

// storageError adds to err, an error writing the database at path or the
// files next to it, what the engineer does about it: a file system that
// cannot be written is ErrReadOnly, a full one ErrNoSpace. Other errors
// are returned as they are.
func storageError(path string, err error) error {
	dir := filepath.Dir(path)
	switch {
	case errors.Is(err, ErrReadOnly), errors.Is(err, ErrNoSpace):
		return err
	case errors.Is(err, syscall.EROFS), errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Errorf("%w: %s cannot be written (%w). Nothing was changed. Make the data directory writable "+
			"for posd: mount its file system read-write (one the kernel remounted read-only after an error needs "+
			"a file system check first), and check that posd's user owns %s and the files in it",
			ErrReadOnly, dir, err, dir)
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("%w: no room left in %s (%w). Nothing of this step was saved and no counter moved. "+
			"Free space on that partition (old logs, downloaded firmware images); posd goes on where it stopped",
			ErrNoSpace, dir, err)
	}
	return err
}

// newSuffix names the database being made in a fresh data directory
// (Open), before it is renamed into place; one left by a start cut short
// is removed by the next.
const newSuffix = ".new"

// create makes a new, initialised database at path through path+newSuffix.
func create(path string, o Opts) error {
	tmp := path + newSuffix
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store: %w", err)
	}
	b, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: o.Timeout})
	if err != nil {
		return fmt.Errorf("store: create: %w", err)
	}
	d, err := handle(b, o)
	if err != nil {
		b.Close()
		return err
	}
	err = d.init(o.KeepReadable)
	if cerr := b.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = durable.SyncDir(filepath.Dir(path))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("store: create: %w", err)
	}
	return nil
}

// handle is the DB over b, with a new random instance id that init keeps
// only for a database that has none yet.
func handle(b *bolt.DB, o Opts) (*DB, error) {
	id := make([]byte, 16)
	if _, err := io.ReadFull(o.Rand, id); err != nil {
		return nil, fmt.Errorf("store: instance id: %w", err)
	}
	d := &DB{bolt: b, now: o.Clock.Now, instance: hex.EncodeToString(id), reserve: o.Reserve, statfs: o.Statfs, fault: o.Fault}
	if d.reserve == 0 {
		d.reserve = DefaultReserve
	}
	if d.statfs == nil {
		d.statfs = statfs
	}
	return d, nil
}

func damaged(path string, cause error) error {
	return fmt.Errorf("%w: %s is damaged (%v); posd left it untouched. Restore posd.db from a backup. "+
		"Without one: move the damaged file aside (keep it for analysis) and remove %s to start with an empty "+
		"database; its transactions, counters and keys are lost, the DUKPT key must be loaded again, and "+
		"pending reversals must be settled with the acquirer by hand",
		ErrDamaged, path, cause, filepath.Base(path)+MarkerSuffix)
}

// protect runs fn with memory faults turned into panics and recovers any
// panic as ErrDamaged: bbolt reads the file through mmap, so a truncated
// file faults (SIGBUS) and a corrupted page makes bbolt panic.
func protect[T any](fn func() (T, error)) (v T, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			var zero T
			v = zero
			if f, ok := r.(interface{ Addr() uintptr }); ok && f.Addr() != 0 {
				err = fmt.Errorf("%w: reading the file faulted: it is shorter than its pages say (truncated) or unreadable", ErrDamaged)
			} else {
				err = fmt.Errorf("%w: bbolt: %v", ErrDamaged, r)
			}
		}
	}()
	return fn()
}

// Check opens the database file at path read-only and checks it: the
// pages its meta page counts must be in the file, every bucket, key and
// value must be readable, and bbolt's own consistency check must pass.
// A damaged file is ErrDamaged, with how to recover; a file another
// process holds is ErrInUse after timeout. Check runs bbolt's check in
// this process: see Opts.Check and CheckInChild.
func Check(path string, timeout time.Duration) error {
	err := checkFile(path, timeout)
	if err == nil || errors.Is(err, ErrInUse) {
		return err
	}
	return damaged(path, cause(err))
}

// checkFile is Check's work; a damaged file's error is the cause alone.
func checkFile(path string, timeout time.Duration) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	size := fi.Size()
	if size == 0 {
		return fmt.Errorf("%w: the file is empty", ErrDamaged)
	}
	b, err := protect(func() (*bolt.DB, error) {
		return bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true, Timeout: timeout})
	})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return fmt.Errorf("%w: %s: %w", ErrInUse, path, err)
		}
		return fmt.Errorf("%w: %w", ErrDamaged, err)
	}
	defer b.Close()
	_, err = protect(func() (struct{}, error) {
		return struct{}{}, b.View(func(tx *bolt.Tx) error {
			if need := tx.Size(); need > size {
				return fmt.Errorf("truncated: the file has %d bytes, its pages need %d", size, need)
			}
			var sum byte
			if err := tx.ForEach(func(_ []byte, bk *bolt.Bucket) error { return walk(bk, &sum) }); err != nil {
				return err
			}
			// bbolt keeps no checksum of values: a changed byte in a
			// record passes its check, but not the record's decoding.
			if txns := tx.Bucket(bucketTxns); txns != nil {
				if err := txns.ForEach(func(k, v []byte) error {
					var r Txn
					if len(k) != 8 || v == nil {
						return fmt.Errorf("record key %.8x... is not a record id", k)
					}
					if err := json.Unmarshal(v, &r); err != nil {
						return fmt.Errorf("record %.8x: %w", k, err)
					}
					return nil
				}); err != nil {
					return err
				}
			}
			// A counter that is not 8 bytes would start again from 1.
			if counters := tx.Bucket(bucketCounters); counters != nil {
				if err := counters.ForEach(func(k, v []byte) error {
					if len(v) != 8 {
						return fmt.Errorf("counter %q holds %d bytes", k, len(v))
					}
					return nil
				}); err != nil {
					return err
				}
			}
			// Drain the channel: Check's goroutine sends every error it
			// finds and must finish before the transaction ends.
			var first error
			for err := range tx.Check() {
				if first == nil {
					first = err
				}
			}
			return first
		})
	})
	if err != nil && !errors.Is(err, ErrDamaged) {
		err = fmt.Errorf("%w: %w", ErrDamaged, err)
	}
	return err
}

// cause strips ErrDamaged's own text from err for the message.
func cause(err error) error {
	msg, found := strings.CutPrefix(err.Error(), ErrDamaged.Error()+": ")
	if !found {
		return err
	}
	return errors.New(msg)
}

// walk reads every key and value of bk and its nested buckets, so a page
// that faults or fails bbolt's page checks does so here, under protect.
func walk(bk *bolt.Bucket, sum *byte) error {
	return bk.ForEach(func(k, v []byte) error {
		if v == nil {
			if child := bk.Bucket(k); child != nil {
				return walk(child, sum)
			}
			return nil
		}
		for _, c := range k {
			*sum ^= c
		}
		for _, c := range v {
			*sum ^= c
		}
		return nil
	})
}

func readMarker(path string) (*marker, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: marker: %w", err)
	}
	var m marker
	if err := json.Unmarshal(raw, &m); err != nil || m.Instance == "" {
		return nil, fmt.Errorf("%w: the marker %s is unreadable; restore it from a backup with posd.db", ErrDamaged, path)
	}
	return &m, nil
}

// writeMarker writes the marker durably: temporary file, fsync, rename,
// fsync of the directory.
func writeMarker(path string, m marker) error {
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := durable.WriteFile(path, append(raw, '\n'), 0o600); err != nil {
		return fmt.Errorf("store: marker: %w", err)
	}
	return nil
}
