package risk

import (
	"errors"
	"fmt"
)

// Errors of this package. None of them ever carries a PAN, a part of one,
// a card's keyed hash or the hash key: a PAN that does not parse is
// reported by its length only.
var (
	// ErrRules: the rules do not validate. Returned as *RulesError, which
	// names the key.
	ErrRules = errors.New("risk: invalid rules")
	// ErrHashKey: the per-terminal hash key is missing or shorter than
	// MinHashKeyLen bytes. Fatal: the engine cannot be built.
	ErrHashKey = errors.New("risk: hash key too short")
	// ErrPAN: the card number is not 12 to 19 ASCII digits.
	ErrPAN = errors.New("risk: not a card number")
	// ErrTxn: a transaction that Check or Record cannot judge (unknown type
	// or entry mode, amount out of range, card modes without a card). A
	// caller bug; Check answers it with RuleInvalid.
	ErrTxn = errors.New("risk: invalid transaction")
	// ErrHotlist: a hotlist file that does not parse or breaks the format.
	// The hotlist in use is kept.
	ErrHotlist = errors.New("risk: invalid hotlist file")
	// ErrHotlistKey: the hotlist file was built with another hash key (its
	// key check value differs from this terminal's): none of its entries
	// could ever match. The hotlist in use is kept.
	ErrHotlistKey = errors.New("risk: hotlist built for another hash key")
	// ErrHotlistStale: the hotlist file's version is older than the one in
	// use, or the same version with other entries. The hotlist in use is
	// kept.
	ErrHotlistStale = errors.New("risk: hotlist version not newer than the one in use")
	// ErrSchema: the database holds this package's buckets in a newer (or
	// unknown) schema. Fatal: this build cannot know what they mean.
	ErrSchema = errors.New("risk: unsupported schema version")
	// ErrDamaged: this package's stored state does not decode. Fatal.
	ErrDamaged = errors.New("risk: stored state damaged")
	// ErrStorage: a bbolt transaction failed (closed database, full disk).
	// Check answers it with RuleUnavailable.
	ErrStorage = errors.New("risk: storage failed")
	// ErrOffline: the offline ledger could not say what is pending. Check
	// answers it with RuleUnavailable.
	ErrOffline = errors.New("risk: offline ledger failed")
	// ErrClock: the terminal's clock cannot date an offline approval
	// (before the firmware's build time, or behind the newest offline
	// approval waiting). Check answers it with RuleOfflineClock.
	ErrClock = errors.New("risk: the clock is wrong")
)

// RulesError names the rules key that does not validate, like
// "velocity.window" or "offline.max_count". It matches ErrRules.
type RulesError struct {
	Key     string
	Problem string
}

func (e *RulesError) Error() string {
	return fmt.Sprintf("risk: rules: %s: %s", e.Key, e.Problem)
}

// Is reports whether target is ErrRules.
func (e *RulesError) Is(target error) bool { return target == ErrRules }
