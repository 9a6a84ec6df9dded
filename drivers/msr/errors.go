package msr

import (
	"errors"
	"strings"
)

// ErrUnreadable is what a caller decides on: the swipe gave neither a
// usable track 2 nor a usable track 1, so the customer should swipe again.
// Every error the driver reports for a swipe (a *SwipeError) matches it
// with errors.Is; the reader goes on reading after it.
var ErrUnreadable = errors.New("msr: card unreadable")

// Reasons a track (or a whole swipe) could not be used. They are
// sentinels: callers use errors.Is. None of them carries track content.
var (
	// ErrNoTracks: the swipe held no recognisable track.
	ErrNoTracks = errors.New("msr: no track data")
	// ErrSentinel: a track lacks its start or end sentinel.
	ErrSentinel = errors.New("msr: missing start or end sentinel")
	// ErrFormat: a track's fields do not follow ISO 7813 (separators,
	// lengths, character set, format code).
	ErrFormat = errors.New("msr: malformed track")
	// ErrLRC: the LRC character does not match the track.
	ErrLRC = errors.New("msr: LRC mismatch")
	// ErrBadRead: the reader sent its error marker (Opts.ErrorMark, 'E'
	// on MagTek readers) in place of the track: it could not decode it.
	ErrBadRead = errors.New("msr: reader could not decode the track")
	// ErrMismatch: tracks 1 and 2 carry different PANs; neither is
	// trusted.
	ErrMismatch = errors.New("msr: tracks 1 and 2 disagree")
	// ErrTooLong: a swipe exceeded Opts.MaxLine bytes; it was discarded.
	ErrTooLong = errors.New("msr: line too long")
	// ErrOverrun: the byte stream lost characters during the swipe (the
	// keyboard-wedge decoder saw the kernel drop input events and sent
	// CAN); the swipe was discarded.
	ErrOverrun = errors.New("msr: characters lost during the swipe")
)

// ErrHalted: the device was halted.
var ErrHalted = errors.New("msr: halted")

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

// SwipeError is a swipe that could not be used: it matches ErrUnreadable,
// and its Errs (per-track *TrackError values, or ErrNoTracks, ErrTooLong,
// ErrOverrun for the swipe as a whole) match with errors.Is and errors.As.
type SwipeError struct {
	Errs []error
}

func (e *SwipeError) Error() string {
	var b strings.Builder
	b.WriteString(ErrUnreadable.Error())
	for i, err := range e.Errs {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(strings.TrimPrefix(err.Error(), "msr: "))
	}
	return b.String()
}

// Is makes every SwipeError match ErrUnreadable.
func (e *SwipeError) Is(target error) bool { return target == ErrUnreadable }

// Unwrap returns the reasons.
func (e *SwipeError) Unwrap() []error { return e.Errs }

// PortError is an I/O error of the serial port (or input device). It is
// transient: the reader goroutine keeps going after it.
type PortError struct{ Err error }

func (e *PortError) Error() string { return "msr: port: " + e.Err.Error() }
func (e *PortError) Unwrap() error { return e.Err }
