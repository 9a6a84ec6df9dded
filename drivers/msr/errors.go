package msr

import (
	"errors"
	"strings"
)

// Errors returned by the track parser. They are sentinels: callers use
// errors.Is. None of them carries track content.
var (
	// ErrNoTracks: the line held no recognisable track.
	ErrNoTracks = errors.New("msr: no track data")
	// ErrSentinel: a track lacks its start or end sentinel.
	ErrSentinel = errors.New("msr: missing start or end sentinel")
	// ErrFormat: a track's fields do not follow ISO 7813 (separators,
	// lengths, character set, format code).
	ErrFormat = errors.New("msr: malformed track")
	// ErrLRC: the LRC character does not match the track.
	ErrLRC = errors.New("msr: LRC mismatch")
	// ErrTooLong: a line exceeded Opts.MaxLine bytes without a terminator.
	ErrTooLong = errors.New("msr: line too long")
	// ErrHalted: the device was halted.
	ErrHalted = errors.New("msr: halted")
)

// TrackError says which track failed and why (wrapping one of the sentinel
// errors above). It never holds track content.
type TrackError struct {
	Track int // 1, 2 or 3
	Err   error
}

func (e *TrackError) Error() string {
	return "msr: track " + string(rune('0'+e.Track)) + ": " + strings.TrimPrefix(e.Err.Error(), "msr: ")
}

func (e *TrackError) Unwrap() error { return e.Err }

// PortError is an I/O error of the serial port. It is transient: the
// reader goroutine keeps going after it.
type PortError struct{ Err error }

func (e *PortError) Error() string { return "msr: port: " + e.Err.Error() }
func (e *PortError) Unwrap() error { return e.Err }
