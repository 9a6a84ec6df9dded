package kbdwedge

import "errors"

// Errors of the package. Read passes the errors of the underlying reader
// through unchanged (a read timeout as io.EOF, a removed device as its
// I/O error).
var (
	// ErrLayout: an event layout other than LayoutAuto, Layout64 or
	// Layout32.
	ErrLayout = errors.New("kbdwedge: unknown event layout")
	// ErrEventSize: ParseEvent got a record whose length is not the
	// layout's event size.
	ErrEventSize = errors.New("kbdwedge: wrong event size")
	// ErrKeymap: no keymap of that name.
	ErrKeymap = errors.New("kbdwedge: unknown keymap")
)
