package store

import "errors"

var (
	// ErrNotFound: no transaction has that id.
	ErrNotFound = errors.New("store: not found")
	// ErrSchema: the database file was written by a newer (or unknown)
	// schema version; posd refuses to touch it.
	ErrSchema = errors.New("store: unsupported schema version")
	// ErrState: a state transition the transaction model forbids.
	ErrState = errors.New("store: invalid state transition")
)
