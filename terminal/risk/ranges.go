package risk

import (
	"fmt"
	"slices"
)

// Card ranges on the hotlist: the issuer identification number (BIN)
// prefixes the acquirer blocks on a whole group of terminals (a parameter
// bundle's hotlist section). Unlike the hotlist file, which holds keyed
// hashes of single cards under this terminal's own key, a range needs no
// key: a prefix is public data (the first digits a masked PAN shows), so
// no more than MaxRangePrefix digits are taken, never a card number. The
// engine keeps no copy on disk: whoever sets the ranges keeps them (the
// daemon stores the bundle they came in) and sets them again at start.
const (
	MinRangePrefix = 6
	MaxRangePrefix = 8
	// MaxRanges bounds the list.
	MaxRanges = 100000
)

// rangeSet is a set of prefixes by length.
type rangeSet struct {
	byLen map[int]map[string]struct{}
	list  []string
}

func (r *rangeSet) contains(pan []byte) bool {
	if r == nil {
		return false
	}
	for n, set := range r.byLen {
		if len(pan) >= n {
			if _, ok := set[string(pan[:n])]; ok {
				return true
			}
		}
	}
	return false
}

// SetBlockedRanges replaces the card ranges on the hotlist, whole: every
// card whose number starts with one of prefixes (MinRangePrefix to
// MaxRangePrefix digits each) is refused (RuleHotlist) while the hotlist
// check is enabled. An empty list clears them. On an error the ranges in
// use stay. Errors match ErrHotlist and name an entry by position.
func (e *Engine) SetBlockedRanges(prefixes []string) error {
	if len(prefixes) > MaxRanges {
		return fmt.Errorf("%w: %d ranges, at most %d", ErrHotlist, len(prefixes), MaxRanges)
	}
	r := &rangeSet{byLen: map[int]map[string]struct{}{}}
	for i, p := range prefixes {
		if len(p) < MinRangePrefix || len(p) > MaxRangePrefix || !digits(p) {
			return fmt.Errorf("%w: range %d is not a prefix of %d to %d digits", ErrHotlist, i, MinRangePrefix, MaxRangePrefix)
		}
		if r.byLen[len(p)] == nil {
			r.byLen[len(p)] = map[string]struct{}{}
		}
		if _, dup := r.byLen[len(p)][p]; !dup {
			r.byLen[len(p)][p] = struct{}{}
			r.list = append(r.list, p)
		}
	}
	slices.Sort(r.list)
	e.ranges.Store(r)
	e.log.Info("risk: card ranges on the hotlist in use", "ranges", len(r.list))
	return nil
}

// BlockedRanges returns the card ranges on the hotlist, sorted.
func (e *Engine) BlockedRanges() []string {
	r := e.ranges.Load()
	if r == nil {
		return nil
	}
	return slices.Clone(r.list)
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
