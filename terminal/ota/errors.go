package ota

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"

	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// Errors of the package. Callers decide on them with errors.Is.
//
// Refusals: the repository (or someone between it and the terminal)
// offered something that must not be used. Check returns no targets and
// Fetch no bytes; nothing was trusted or installed. They come as a
// *RefusedError naming the file.
//
//   - ErrBadSignature: metadata signed by no key the trusted root names for
//     its role (a forged or foreign signature).
//   - ErrThreshold: metadata signed by some of the role's keys, but fewer
//     than the role's threshold.
//   - ErrRollback: metadata older than what is already trusted (a replayed
//     timestamp, a timestamp naming an older snapshot, a snapshot naming
//     older targets).
//   - ErrMixAndMatch: metadata that is not the file its signed parent names
//     (another version, or other bytes than the length and hashes named).
//   - ErrExpired: metadata past its expiry by Opts.Clock, or by the
//     expiry floor when the clock went back (a frozen repository, a replay
//     of metadata that expired, or a terminal clock that is wrong: the
//     message says when the file expired and what the clock says).
//   - ErrHash: a target whose bytes do not match its signed length and
//     hashes (an arbitrary target, or a file the repository serves whole
//     but shorter than signed). A resumed download is first started
//     over whole: the refusal is for the repository's bytes alone.
//   - ErrTooLarge: a download larger than allowed (endless data): metadata
//     beyond MaxMetadata or the length its signed parent names, a target
//     beyond its signed length or MaxTarget. The read stops at the bound.
//   - ErrMalformed: metadata that does not parse as what it should be.
//
// Transient conditions: try later (Poll does).
//
//   - ErrUnreachable: no complete answer (connection refused or cut, an
//     HTTP error status other than 404). A Fetch cut midway resumes.
//   - ErrTimeout: the Check or Fetch took longer than FetchTimeout. A
//     Fetch resumes where it stopped.
//   - ErrTooSlow: an answer brought less than Opts.MinRate over
//     Opts.MinRateWindow (a TMS or a middlebox trickling bytes); it was
//     given up. It matches ErrUnreachable too. A Fetch resumes where it
//     stopped.
//
// Others:
//
//   - ErrNotFound: the repository has no such file (HTTP 404), or the
//     target passed to Fetch is not (or no longer) offered as it was: Check
//     again.
//   - ErrNoSpace: the file system of Opts.Dir has no room for a target
//     while keeping Opts.MinFree free (nothing was downloaded), or it
//     filled up during the download (what was downloaded is removed, to
//     give the room back), or a Check's new metadata did not fit (the
//     metadata trusted before stays). Try again once there is room.
//   - ErrBadBundle: ParseBundle refused a parameter bundle.
//   - ErrConfig: Opts are not usable.
//
// A cancelled context comes back as the context's error, wrapped.
var (
	ErrBadSignature = errors.New("ota: metadata not signed by a key the trusted root names")
	ErrThreshold    = errors.New("ota: metadata signed by fewer keys than its role's threshold")
	ErrRollback     = errors.New("ota: metadata older than already trusted (rollback)")
	ErrMixAndMatch  = errors.New("ota: metadata is not the file its signed parent names (mix-and-match)")
	ErrExpired      = errors.New("ota: metadata expired (freeze)")
	ErrHash         = errors.New("ota: target does not match its signed length and hashes")
	ErrTooLarge     = errors.New("ota: download larger than allowed")
	ErrMalformed    = errors.New("ota: malformed metadata")
	ErrUnreachable  = errors.New("ota: repository unreachable")
	ErrTimeout      = errors.New("ota: download timed out")
	ErrTooSlow      = errors.New("ota: download below the minimum rate")
	ErrNotFound     = errors.New("ota: not found")
	ErrNoSpace      = errors.New("ota: not enough free space for the download")
	ErrBadBundle    = errors.New("ota: bad parameter bundle")
	ErrConfig       = errors.New("ota: bad options")
)

// RefusedError is a refusal of a downloaded file: File is the metadata
// file ("timestamp.json", "3.snapshot.json") or the target name, Reason
// one of the refusal sentinels (it matches with errors.Is), Err the
// verifier's own words (go-tuf's error, which it unwraps to).
type RefusedError struct {
	File   string
	Reason error
	Err    error
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("ota: refused %s: %s: %v", e.File, strings.TrimPrefix(e.Reason.Error(), "ota: "), e.Err)
}

// Is matches the reason.
func (e *RefusedError) Is(target error) bool { return target == e.Reason }

// Unwrap is the verifier's error.
func (e *RefusedError) Unwrap() error { return e.Err }

// Refused reports whether err is a refusal: the repository offered
// something that must not be used (a security event, to be reported), as
// opposed to a transient failure.
func Refused(err error) bool {
	var r *RefusedError
	return errors.As(err, &r)
}

// Transient reports whether err is worth retrying as is (unreachable,
// timed out, too slow).
func Transient(err error) bool {
	return errors.Is(err, ErrUnreachable) || errors.Is(err, ErrTimeout) || errors.Is(err, ErrTooSlow)
}

// roleOf is the role of a metadata file name: "3.snapshot.json" → snapshot.
func roleOf(file string) string {
	s := strings.TrimSuffix(file, ".json")
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// classify turns an error of go-tuf's updater (or of the fetcher under it)
// into the package's errors. file is the file downloaded last: go-tuf
// verifies each file right after downloading it, so a refusal concerns it.
// target tells that file is a target, not metadata.
func classify(file string, target bool, err error) error {
	if err == nil {
		return nil
	}
	// The fetcher's own errors already say what and where.
	if errors.Is(err, ErrTooLarge) {
		var length *metadata.ErrDownloadLengthMismatch
		if errors.As(err, &length) {
			err = length
		}
		return &RefusedError{File: file, Reason: ErrTooLarge, Err: err}
	}
	if errors.Is(err, ErrUnreachable) || errors.Is(err, ErrTimeout) || errors.Is(err, ErrTooSlow) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrNoSpace) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var (
		unsigned   *metadata.ErrUnsignedMetadata
		expired    *metadata.ErrExpiredMetadata
		badVersion *metadata.ErrBadVersionNumber
		equal      *metadata.ErrEqualVersionNumber
		hash       *metadata.ErrLengthOrHashMismatch
		length     *metadata.ErrDownloadLengthMismatch
		pathErr    *fs.PathError
	)
	reason := ErrMalformed
	switch {
	case errors.As(err, &unsigned):
		reason = ErrBadSignature
		if got, _, ok := signatureCount(unsigned.Msg); ok && got > 0 {
			reason = ErrThreshold
		}
	case errors.As(err, &expired):
		reason = ErrExpired
		// go-tuf may refuse a file for the expiry of another it trusted
		// already (a download of the snapshot for an expired timestamp):
		// name the expired one.
		for _, f := range []string{"root.json", "timestamp.json", "snapshot.json"} {
			if strings.Contains(expired.Msg, f) && roleOf(file) != roleOf(f) {
				file = f
			}
		}
	case errors.As(err, &equal):
		reason = ErrRollback
	case errors.As(err, &badVersion):
		reason = versionReason(roleOf(file), badVersion.Msg)
	case errors.As(err, &hash):
		reason = ErrMixAndMatch
		if target {
			reason = ErrHash
		}
	case errors.As(err, &length):
		reason = ErrTooLarge
	case errors.As(err, &pathErr):
		// The local store, not the repository.
		if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
			return fmt.Errorf("%w: local store: %w", ErrNoSpace, err)
		}
		return fmt.Errorf("ota: local store: %w", err)
	}
	return &RefusedError{File: file, Reason: reason, Err: err}
}

// versionReason tells a rollback from a mix-and-match among go-tuf's bad
// version numbers, by the file refused: a timestamp (or root) older than
// trusted, or a snapshot naming an older targets version, is a rollback
// ("expected targets.json version N, got M" from the snapshot's rollback
// check); a snapshot or targets file that is not the version its parent
// names is a mix-and-match.
func versionReason(role, msg string) error {
	switch role {
	case metadata.TIMESTAMP, metadata.ROOT:
		return ErrRollback
	case metadata.SNAPSHOT:
		if strings.Contains(msg, ".json version") {
			return ErrRollback
		}
	}
	return ErrMixAndMatch
}

// signatureCount reads go-tuf's "not enough signatures, got N, want M".
func signatureCount(msg string) (got, want int, ok bool) {
	i := strings.LastIndex(msg, "got ")
	if i < 0 {
		return 0, 0, false
	}
	if n, err := fmt.Sscanf(msg[i:], "got %d, want %d", &got, &want); err != nil || n != 2 {
		return 0, 0, false
	}
	return got, want, true
}
