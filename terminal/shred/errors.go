package shred

import "errors"

// Errors of the package, wrapped with %w; decide with errors.Is.
var (
	// ErrFull: every slot holds a live key. Transient: a slot frees as
	// soon as a record is erased; the caller keeps nothing that needs
	// one meanwhile (the engine approves nothing offline).
	ErrFull = errors.New("shred: no free key slot")

	// ErrErased: the record's key is gone (erased, or its slot now holds
	// another record's key). Fatal for that record: nothing can open it
	// again, which is the point.
	ErrErased = errors.New("shred: record erased")

	// ErrRecord: the bytes are not a record of this package (too short,
	// unknown version, a slot outside the file).
	ErrRecord = errors.New("shred: not a sealed record")

	// ErrFile: the slot file is not one (bad magic, wrong size, a slot
	// whose key does not unwrap, a link or not a regular file). Fatal:
	// the caller must not overwrite what it cannot read.
	ErrFile = errors.New("shred: slot file damaged")
)
