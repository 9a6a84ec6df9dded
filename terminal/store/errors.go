package store

import "errors"

var (
	// ErrNotFound: no transaction has that id.
	ErrNotFound = errors.New("store: not found")
	// ErrNotRecorded: with ErrNotFound, the id is in a block reserved
	// for the engine's transactions: if one was given it, it ended before
	// anything reached a host (nothing was charged), or the retention
	// purge deleted its record.
	ErrNotRecorded = errors.New("no record; if posd gave this id to a transaction, it ended before anything " +
		"reached the host (nothing was charged), or its record was purged after the retention period")
	// ErrSchema: the database file was written by a newer (or unknown)
	// schema version that this build cannot use (its compat version is
	// newer than this build); posd refuses to touch it.
	ErrSchema = errors.New("store: unsupported schema version")
	// ErrTrialMigration: a trial firmware (Opts.KeepReadable) would have
	// to migrate the file beyond what the firmware it replaces can read.
	// The file is untouched. Fatal for the trial: it is rolled back.
	ErrTrialMigration = errors.New("store: migration refused on a trial boot")
	// ErrState: a state transition the transaction model forbids.
	ErrState = errors.New("store: invalid state transition")
	// ErrDamaged: the database file (or its marker) is empty, truncated or
	// inconsistent. The file was left as it was; the message says how to
	// recover. Fatal: posd does not start.
	ErrDamaged = errors.New("store: database damaged")
	// ErrMissing: the data directory had a database (its marker says so)
	// but the file is gone. Fatal: posd does not start from nothing.
	ErrMissing = errors.New("store: database missing")
	// ErrForeign: the database file is not the one this data directory
	// created. Fatal.
	ErrForeign = errors.New("store: database from another data directory")
	// ErrInUse: another process holds the database file's lock (Check,
	// Open's check). Fatal: a second posd must not share the file.
	ErrInUse = errors.New("store: database in use by another process")
	// ErrReadOnly: the data directory or the database file cannot be
	// written (a read-only mount, a file system remounted read-only after
	// an error, wrong ownership). Nothing was changed; the message says
	// what to check. Fatal at Open; a step that fails with it saved
	// nothing.
	ErrReadOnly = errors.New("store: data directory not writable")
	// ErrNoSpace: the data partition is full. The step that failed saved
	// nothing (no counter moved); the database is usable again once space
	// is freed. Transient for the caller; the message says what to do.
	ErrNoSpace = errors.New("store: data partition full")
	// ErrMark: the counters' high-water mark (Opts.Mark) is unreadable.
	// Fatal at Open: without it a database restored from a backup would
	// hand out again STANs, invoice numbers and ids the host has seen.
	// The message says how to recover.
	ErrMark = errors.New("store: counters' mark damaged")
)
